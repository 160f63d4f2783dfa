import FlowSpec

/// A small JSON reader shared by the FRR, GoBGP and ExaBGP readers.
///
/// Why not only `JSONSerialization`: ExaBGP prints extended communities as 64-bit integers above
/// `Int64.max` (0x8006… is 9225060886715039744), which must not pass through `Double`; GoBGP's
/// top-level object must keep its member order so positions ("route 7") match the file; and a
/// truncated document should still give the members read before the damage. Numbers are kept as
/// their text and converted on demand.
indirect enum SpeakerJSON: Sendable {
    case object([(key: String, value: SpeakerJSON)])
    case array([SpeakerJSON])
    case string(String)
    /// The number exactly as written.
    case number(String)
    case bool(Bool)
    case null

    subscript(key: String) -> SpeakerJSON? {
        if case .object(let members) = self { return members.first { $0.key == key }?.value }
        return nil
    }

    var members: [(key: String, value: SpeakerJSON)]? {
        if case .object(let m) = self { return m }
        return nil
    }

    var array: [SpeakerJSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// A non-negative integer that fits 64 bits, read from the exact digits.
    var uint64: UInt64? {
        if case .number(let t) = self { return UInt64(t) }
        return nil
    }

    var double: Double? {
        if case .number(let t) = self { return Double(t) }
        return nil
    }

    /// The value's text for messages (numbers and strings as written, containers abbreviated).
    var brief: String {
        switch self {
        case .object: "{…}"
        case .array: "[…]"
        case .string(let s): "\"\(s)\""
        case .number(let n): n
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }
}

/// Where and why a JSON text could not be read.
struct SpeakerJSONError: Error, Sendable {
    /// Offset in UTF-8 bytes from the start of the parsed text.
    var offset: Int
    var reason: String
}

/// A cursor over UTF-8 bytes that parses one JSON value at a time.
struct SpeakerJSONParser {
    let bytes: [UInt8]
    var index: Int = 0

    init(_ text: some StringProtocol) { bytes = Array(text.utf8) }
    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses exactly one value and requires nothing but whitespace after it.
    static func parse(_ text: some StringProtocol) throws(SpeakerJSONError) -> SpeakerJSON {
        var p = SpeakerJSONParser(text)
        let v = try p.value()
        p.skipSpace()
        if p.index < p.bytes.count { throw SpeakerJSONError(offset: p.index, reason: "unexpected text after the JSON value") }
        return v
    }

    var atEnd: Bool { index >= bytes.count }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[index]) { index += 1 }
    }

    func fail(_ reason: String) -> SpeakerJSONError { SpeakerJSONError(offset: index, reason: reason) }

    mutating func expect(_ c: UInt8) throws(SpeakerJSONError) {
        skipSpace()
        guard index < bytes.count else { throw fail("unexpected end of input, expected '\(Character(Unicode.Scalar(c)))'") }
        guard bytes[index] == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
        index += 1
    }

    mutating func value() throws(SpeakerJSONError) -> SpeakerJSON {
        skipSpace()
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members = [(key: String, value: SpeakerJSON)]()
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail(atEnd ? "unexpected end of input in an object" : "expected a member name") }
                let key = try stringBody()
                try expect(UInt8(ascii: ":"))
                members.append((key, try value()))
                skipSpace()
                guard index < bytes.count else { throw fail("unexpected end of input in an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            var items = [SpeakerJSON]()
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            while true {
                items.append(try value())
                skipSpace()
                guard index < bytes.count else { throw fail("unexpected end of input in an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try stringBody())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try number()
        }
    }

    private mutating func literal(_ word: String, _ v: SpeakerJSON) throws(SpeakerJSONError) -> SpeakerJSON {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<(index + w.count)]) == w else { throw fail("invalid literal") }
        index += w.count
        return v
    }

    private mutating func number() throws(SpeakerJSONError) -> SpeakerJSON {
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        var digits = 0
        while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1; digits += 1 }
        guard digits > 0 else { index = start; throw fail("invalid value") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var frac = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1; frac += 1 }
            guard frac > 0 else { throw fail("invalid number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            var exp = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1; exp += 1 }
            guard exp > 0 else { throw fail("invalid number") }
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    /// Reads a string starting at its opening quote.
    private mutating func stringBody() throws(SpeakerJSONError) -> String {
        index += 1
        var out = [UInt8]()
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") { index += 1; return String(decoding: out, as: UTF8.self) }
            if c < 0x20 { throw fail("control character in a string") }
            if c == UInt8(ascii: "\\") {
                index += 1
                guard index < bytes.count else { break }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xd800..<0xdc00).contains(scalar), index + 1 < bytes.count,
                       bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try hex4()
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{fffd}").utf8))
                default: throw fail("invalid escape")
                }
                continue
            }
            out.append(c)
            index += 1
        }
        throw fail("unexpected end of input in a string")
    }

    private mutating func hex4() throws(SpeakerJSONError) -> UInt32 {
        guard index + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        index += 4
        return v
    }
}

/// Helpers shared by the speaker readers.
enum SpeakerText {
    /// 1-based line number of a UTF-8 byte offset.
    static func line(ofOffset offset: Int, in bytes: [UInt8]) -> Int {
        var n = 1
        for i in 0..<min(offset, bytes.count) where bytes[i] == 0x0a { n += 1 }
        return n
    }

    /// Components sorted by type, or the duplicated type when one appears twice.
    static func ordered(_ components: [Component]) -> Result<[Component], ReadError> {
        let sorted = components.sorted { $0.type < $1.type }
        for i in sorted.indices.dropFirst() where sorted[i].type == sorted[i - 1].type {
            return .failure(ReadError(position: "", reason: "component \(sorted[i].type.name) appears twice"))
        }
        return .success(sorted)
    }
}

/// A reason a piece of speaker output was rejected; written as a string literal at the call site.
struct SpeakerProblem: Error, Sendable, ExpressibleByStringInterpolation {
    var reason: String
    init(_ reason: String) { self.reason = reason }
    init(stringLiteral value: String) { reason = value }
}
