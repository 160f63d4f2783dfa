/// JSON values read by `JSONTape`, for the speaker readers (FRR, GoBGP, ExaBGP).
///
/// The canonical reader walks the tape by node index inside one call; the speaker readers instead
/// hand values around (FRR keeps a path's match members until the whole dump is read), so a
/// `JSONValue` owns its input through `JSONBuffer` and its nodes through the tape's array.
///
/// What the speaker formats need from it: exact unsigned 64-bit integers (ExaBGP prints extended
/// communities above `Int64.max`, e.g. 9225060886715039744, which must not pass through `Double`);
/// object members in file order (GoBGP positions, FRR's match order); and values parsed one at a
/// time from a longer input (`JSONStream`), so a damaged or truncated value still leaves the ones
/// before it read.

/// A copy of the input that outlives the call that parsed it; the tapes point into it.
final class JSONBuffer: @unchecked Sendable {
    /// Never written after `init` (hence Sendable).
    let bytes: UnsafeBufferPointer<UInt8>
    private let storage: UnsafeMutableBufferPointer<UInt8>

    init(_ text: some StringProtocol) {
        let utf8 = text.utf8
        storage = .allocate(capacity: max(1, utf8.count))
        let written = storage.initialize(fromContentsOf: utf8)
        bytes = UnsafeBufferPointer(rebasing: storage[..<written])
    }

    deinit { storage.deallocate() }

    /// 1-based line number of a byte offset.
    func line(ofOffset offset: Int) -> Int { JSONTape.lineColumn(bytes, offset).line }
}

/// One value of a tape: an object, array, string, number, boolean or null.
struct JSONValue: @unchecked Sendable {
    /// Keeps `tape.bytes` alive; the tape and its nodes are never mutated (hence Sendable).
    let buffer: JSONBuffer
    let tape: JSONTape
    let node: Int

    /// Parses `text`, which must hold exactly one JSON value (RFC 8259) and nothing else but
    /// whitespace.
    static func parse(_ text: some StringProtocol) throws(JSONTape.SyntaxError) -> JSONValue {
        let buffer = JSONBuffer(text)
        return JSONValue(buffer: buffer, tape: try JSONTape(buffer.bytes), node: 0)
    }

    var kind: JSONTape.Kind { tape.kind(node) }

    private func at(_ n: Int) -> JSONValue { JSONValue(buffer: buffer, tape: tape, node: n) }

    /// The first member named `key` of an object; nil for a missing key or a non-object.
    subscript(key: String) -> JSONValue? {
        guard kind == .object else { return nil }
        var key = key
        return key.withUTF8 { want in
            for (k, v) in tape.members(node) where tape.withStringBytes(k, { $0.elementsEqual(want) }) {
                return at(v)
            }
            return nil
        }
    }

    /// An object's members in file order (duplicates kept).
    var members: [(key: String, value: JSONValue)]? {
        guard kind == .object else { return nil }
        return tape.members(node).map { (tape.string($0.key), at($0.value)) }
    }

    var isObject: Bool { kind == .object }

    var array: [JSONValue]? {
        guard kind == .array else { return nil }
        return tape.elements(node).map(at)
    }

    var string: String? { kind == .string ? tape.string(node) : nil }

    var bool: Bool? {
        switch kind {
        case .trueValue: true
        case .falseValue: false
        default: nil
        }
    }

    /// A non-negative integer that fits 64 bits, read from the exact digits.
    var uint64: UInt64? { tape.unsignedInteger(node) }

    /// A number exactly as written (for `Float(_:)` without a detour through `Double`).
    var numberText: String? { kind == .number ? tape.numberText(node) : nil }

    /// The value's text for messages (numbers and strings as written, containers abbreviated).
    var brief: String {
        switch kind {
        case .object: "{…}"
        case .array: "[…]"
        case .string: "\"\(tape.string(node))\""
        case .number: tape.numberText(node)
        case .trueValue: "true"
        case .falseValue: "false"
        case .null: "null"
        }
    }
}

/// Parses JSON values one after another from one input, for the readers that must keep what came
/// before a damaged value: GoBGP's top-level object member by member, FRR's back-to-back arrays.
/// The caller drives the punctuation between values; `value` parses one value at `offset`.
struct JSONStream {
    let buffer: JSONBuffer
    /// Byte offset of the next unread byte.
    var offset = 0

    init(_ text: some StringProtocol) { buffer = JSONBuffer(text) }

    var bytes: UnsafeBufferPointer<UInt8> { buffer.bytes }
    var atEnd: Bool { offset >= bytes.count }
    var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    mutating func skipWhitespace() {
        while offset < bytes.count {
            let c = bytes[offset]
            guard c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 else { return }
            offset += 1
        }
    }

    /// True when nothing but whitespace follows `offset`.
    func onlyWhitespace(from offset: Int) -> Bool {
        var rest = self
        rest.offset = offset
        rest.skipWhitespace()
        return rest.atEnd
    }

    /// Consumes `c` after optional whitespace.
    mutating func expect(_ c: UInt8, _ message: String) throws(JSONTape.SyntaxError) {
        skipWhitespace()
        guard let b = current else { throw JSONTape.SyntaxError(offset: offset, message: "unexpected end of input", atEnd: true) }
        guard b == c else { throw JSONTape.SyntaxError(offset: offset, message: message) }
        offset += 1
    }

    /// Parses the value at `offset` (after optional whitespace) and moves past it.
    ///
    /// - Parameter end: where the input is taken to stop for this value (FRR's next route start);
    ///   a value that runs into it fails with `atEnd` set, as a truncated one does.
    mutating func value(depth: Int = 0, end: Int? = nil) throws(JSONTape.SyntaxError) -> JSONValue {
        var p = JSONTape.Parser(b: UnsafeBufferPointer(rebasing: bytes[..<(end ?? bytes.count)]))
        p.i = offset
        try p.value(depth: depth)
        offset = p.i
        return JSONValue(buffer: buffer, tape: JSONTape(bytes: bytes, nodes: p.nodes), node: 0)
    }
}

/// One line of a JSON-lines stream (ExaBGP's API, GoBGP's monitor), parsed.
///
/// A line that ends before its value is closed is told apart from a damaged one: as the last line
/// of a capture it means the capture was cut, which `JSONLine.stream` refuses; inside a stream
/// (the daemon reading line by line) it is that line's error.
enum JSONLine {
    case blank
    case value(JSONValue)
    /// The line ends before its value is closed (the reason says so).
    case incomplete(String)
    case invalid(String)

    init(_ line: some StringProtocol) {
        let text = line.speakerTrim(" \t\r\n")
        if text.isEmpty { self = .blank; return }
        do { self = .value(try JSONValue.parse(text)) } catch {
            self = error.atEnd ? .incomplete("incomplete JSON: the line ends before its value is closed (\(error.message))")
                               : .invalid("invalid JSON: \(error.message)")
        }
    }

    /// The lines of a captured stream, numbered from 1, each parsed.
    ///
    /// - Throws: `UnreadableInput` when the last non-blank line is incomplete: the capture was cut,
    ///   and reading the lines before would silently give a shorter stream.
    static func stream(_ text: String) throws(UnreadableInput) -> [(number: Int, line: JSONLine)] {
        var out = [(number: Int, line: JSONLine)]()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            out.append((i + 1, JSONLine(raw)))
        }
        if let last = out.last(where: { if case .blank = $0.line { false } else { true } }),
           case .incomplete(let reason) = last.line {
            throw UnreadableInput("truncated input: line \(last.number), the last one, is cut: \(reason)")
        }
        return out
    }
}
