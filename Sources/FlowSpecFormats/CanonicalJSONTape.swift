/// A small byte-level JSON tokenizer for the canonical route format.
///
/// Why not Foundation's JSONSerialization: route sets of 100k–1M routes must load well under a
/// second, and boxing every value into `NSDictionary`/`NSNumber` (then casting back) costs more
/// than the whole route decoding. This tokenizer makes one pass over the bytes and records every
/// value as a node in a flat array (a "tape"): strings and numbers are kept as byte ranges into the
/// input and only decoded when a reader asks for them. Containers record where their subtree ends,
/// so skipping a value is O(1).
///
/// It accepts exactly RFC 8259 JSON (plus a leading UTF-8 byte order mark); duplicate object keys
/// are kept (the route reader reports them).
struct JSONTape {
    enum Kind: UInt8 { case object, array, string, number, trueValue, falseValue, null }

    struct Node {
        var kind: Kind
        /// Strings: the text contains backslash escapes. Numbers: has a sign, fraction or exponent.
        var flag: Bool
        /// Byte range in the input: a string's content without the quotes, a number's text,
        /// a container's opening bracket to just after its closing one.
        var start: Int
        var end: Int
        /// Index of the first node after this value's subtree.
        var next: Int
        /// Objects: members; arrays: elements.
        var count: Int
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var nodes: [Node]

    /// A tape over `bytes` holding already-parsed nodes (the streaming reader's one route).
    init(bytes: UnsafeBufferPointer<UInt8>, nodes: [Node]) {
        self.bytes = bytes
        self.nodes = nodes
    }

    /// A syntax error at a byte offset; the reader turns it into line and column.
    struct SyntaxError: Error {
        var offset: Int
        var message: String
        /// The input ran out before the value was complete (rather than holding a wrong byte):
        /// lets the speaker readers call a cut-off route truncated.
        var atEnd = false
    }

    /// Tokenizes the whole input, which must hold exactly one JSON value.
    init(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) {
        self.bytes = bytes
        var p = Parser(b: bytes)
        p.nodes.reserveCapacity(max(16, bytes.count / 6))
        try p.value(depth: 0)
        p.skipWhitespace()
        if p.i < bytes.count { throw SyntaxError(offset: p.i, message: "unexpected data after the JSON value") }
        nodes = p.nodes
    }

    // MARK: - Access

    func kind(_ n: Int) -> Kind { nodes[n].kind }

    /// The decoded text of a string node.
    func string(_ n: Int) -> String {
        let node = nodes[n]
        let raw = UnsafeBufferPointer(rebasing: bytes[node.start..<node.end])
        if !node.flag { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: JSONTape.unescape(raw), as: UTF8.self)
    }

    /// Calls `body` with the UTF-8 bytes of a string node (decoded when it has escapes).
    func withStringBytes<R>(_ n: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let node = nodes[n]
        let raw = UnsafeBufferPointer(rebasing: bytes[node.start..<node.end])
        if !node.flag { return body(raw) }
        return JSONTape.unescape(raw).withUnsafeBufferPointer(body)
    }

    /// The source text of a number node.
    func numberText(_ n: Int) -> String {
        let node = nodes[n]
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[node.start..<node.end]), as: UTF8.self)
    }

    /// A number node as an unsigned integer, or nil when it has a sign, fraction or exponent, or
    /// does not fit 64 bits.
    func unsignedInteger(_ n: Int) -> UInt64? {
        let node = nodes[n]
        guard node.kind == .number, !node.flag else { return nil }
        var v: UInt64 = 0
        for i in node.start..<node.end {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] &- 0x30))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }

    /// Iterates an object's members as (key node, value node).
    struct Members: Sequence, IteratorProtocol {
        let tape: JSONTape
        var cursor: Int
        var remaining: Int
        mutating func next() -> (key: Int, value: Int)? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            let k = cursor
            cursor = tape.nodes[k + 1].next
            return (k, k + 1)
        }
    }

    func members(_ n: Int) -> Members { Members(tape: self, cursor: n + 1, remaining: nodes[n].count) }

    /// Iterates an array's element nodes.
    struct Elements: Sequence, IteratorProtocol {
        let tape: JSONTape
        var cursor: Int
        var remaining: Int
        mutating func next() -> Int? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            let e = cursor
            cursor = tape.nodes[e].next
            return e
        }
    }

    func elements(_ n: Int) -> Elements { Elements(tape: self, cursor: n + 1, remaining: nodes[n].count) }

    /// 1-based line and column of a byte offset, for error messages.
    func lineColumn(_ offset: Int) -> (line: Int, column: Int) {
        JSONTape.lineColumn(bytes, offset)
    }

    static func lineColumn(_ bytes: UnsafeBufferPointer<UInt8>, _ offset: Int) -> (line: Int, column: Int) {
        var line = 1, col = 1
        for i in 0..<min(offset, bytes.count) {
            if bytes[i] == 0x0a { line += 1; col = 1 } else if bytes[i] & 0xc0 != 0x80 { col += 1 }
        }
        return (line, col)
    }

    /// Decodes the escapes of a string body already checked by the parser.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for j in at..<(at + 4) { v = v << 4 | UInt32(hexDigit(raw[j]) ?? 0) }
            return v
        }
        func appendScalar(_ c: UInt32) {
            let scalar = Unicode.Scalar(c) ?? "\u{fffd}"
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        while i < raw.count {
            let c = raw[i]
            guard c == 0x5c, i + 1 < raw.count else { out.append(c); i += 1; continue }
            let e = raw[i + 1]
            i += 2
            switch e {
            case 0x22: out.append(0x22)
            case 0x5c: out.append(0x5c)
            case 0x2f: out.append(0x2f)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0c)
            case 0x6e: out.append(0x0a)
            case 0x72: out.append(0x0d)
            case 0x74: out.append(0x09)
            default: // u
                var c1 = hex4(i)
                i += 4
                if (0xd800..<0xdc00).contains(c1), i + 5 < raw.count, raw[i] == 0x5c, raw[i + 1] == 0x75 {
                    let c2 = hex4(i + 2)
                    if (0xdc00..<0xe000).contains(c2) {
                        c1 = 0x10000 + ((c1 - 0xd800) << 10) + (c2 - 0xdc00)
                        i += 6
                    }
                }
                appendScalar(c1)
            }
        }
        return out
    }

    // MARK: - Parser

    /// The tokenizer itself; the streaming reader drives it one array element at a time.
    struct Parser {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0
        var nodes: [Node] = []

        /// Nesting limit: route documents are four levels deep; this only stops stack exhaustion.
        static let maxDepth = 128

        init(b: UnsafeBufferPointer<UInt8>) {
            self.b = b
            if b.count >= 3, b[0] == 0xef, b[1] == 0xbb, b[2] == 0xbf { i = 3 }
        }

        /// The current byte, if any.
        var current: UInt8? { i < b.count ? b[i] : nil }

        /// Consumes `c` after optional whitespace.
        mutating func expect(_ c: UInt8, _ message: @autoclosure () -> String) throws(SyntaxError) {
            skipWhitespace()
            guard i < b.count else { throw SyntaxError(offset: i, message: "unexpected end of input", atEnd: true) }
            guard b[i] == c else { throw SyntaxError(offset: i, message: message()) }
            i += 1
        }

        mutating func skipWhitespace() {
            while i < b.count {
                let c = b[i]
                if c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { i += 1 } else { return }
            }
        }

        mutating func value(depth: Int) throws(SyntaxError) {
            skipWhitespace()
            guard i < b.count else { throw SyntaxError(offset: i, message: "unexpected end of input", atEnd: true) }
            switch b[i] {
            case UInt8(ascii: "{"): try container(object: true, depth: depth)
            case UInt8(ascii: "["): try container(object: false, depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true", .trueValue)
            case UInt8(ascii: "f"): try literal("false", .falseValue)
            case UInt8(ascii: "n"): try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default:
                throw SyntaxError(offset: i, message: "unexpected character '\(printable(b[i]))'")
            }
        }

        mutating func container(object: Bool, depth: Int) throws(SyntaxError) {
            guard depth < Parser.maxDepth else { throw SyntaxError(offset: i, message: "nesting deeper than \(Parser.maxDepth)") }
            let index = nodes.count
            let start = i
            nodes.append(Node(kind: object ? .object : .array, flag: false, start: start, end: start, next: 0, count: 0))
            let close = object ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            skipWhitespace()
            var count = 0
            if i < b.count && b[i] == close {
                i += 1
            } else {
                while true {
                    if object {
                        skipWhitespace()
                        guard i < b.count, b[i] == UInt8(ascii: "\"") else {
                            throw SyntaxError(offset: i, message: i < b.count ? "expected a member name in quotes" : "unexpected end of input", atEnd: i >= b.count)
                        }
                        try string()
                        skipWhitespace()
                        guard i < b.count, b[i] == UInt8(ascii: ":") else {
                            throw SyntaxError(offset: i, message: "expected ':' after a member name", atEnd: i >= b.count)
                        }
                        i += 1
                    }
                    try value(depth: depth + 1)
                    count += 1
                    skipWhitespace()
                    guard i < b.count else { throw SyntaxError(offset: i, message: "unexpected end of input", atEnd: true) }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == close { i += 1; break }
                    throw SyntaxError(offset: i, message: object ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            }
            nodes[index].end = i
            nodes[index].count = count
            nodes[index].next = nodes.count
        }

        /// Parses a string value as a node.
        mutating func string() throws(SyntaxError) {
            let open = i
            i += 1
            let start = i
            var escaped = false
            while true {
                guard i < b.count else { throw SyntaxError(offset: open, message: "unterminated string", atEnd: true) }
                let c = b[i]
                if c == UInt8(ascii: "\"") { break }
                if c == UInt8(ascii: "\\") {
                    escaped = true
                    guard i + 1 < b.count else { throw SyntaxError(offset: open, message: "unterminated string", atEnd: true) }
                    switch b[i + 1] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 2
                    case UInt8(ascii: "u"):
                        guard i + 5 < b.count, (2...5).allSatisfy({ hexDigit(b[i + $0]) != nil }) else {
                            let cut = i + 5 >= b.count && (i + 2..<b.count).allSatisfy { hexDigit(b[$0]) != nil }
                            throw SyntaxError(offset: i, message: "bad \\u escape", atEnd: cut)
                        }
                        i += 6
                    default:
                        throw SyntaxError(offset: i, message: "bad escape '\\\(printable(b[i + 1]))'")
                    }
                    continue
                }
                if c < 0x20 { throw SyntaxError(offset: i, message: "control character in a string") }
                i += 1
            }
            nodes.append(Node(kind: .string, flag: escaped, start: start, end: i, next: nodes.count + 1, count: 0))
            i += 1
        }

        mutating func number() throws(SyntaxError) {
            let start = i
            var plain = true
            func digit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
            if b[i] == UInt8(ascii: "-") { plain = false; i += 1 }
            guard i < b.count, digit(b[i]) else { throw SyntaxError(offset: i, message: "bad number", atEnd: i >= b.count) }
            if b[i] == UInt8(ascii: "0") {
                i += 1
                if i < b.count, digit(b[i]) { throw SyntaxError(offset: start, message: "number with a leading zero") }
            } else {
                while i < b.count, digit(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                plain = false
                i += 1
                guard i < b.count, digit(b[i]) else { throw SyntaxError(offset: i, message: "bad number: digits expected after '.'", atEnd: i >= b.count) }
                while i < b.count, digit(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                plain = false
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard i < b.count, digit(b[i]) else { throw SyntaxError(offset: i, message: "bad number: digits expected in the exponent", atEnd: i >= b.count) }
                while i < b.count, digit(b[i]) { i += 1 }
            }
            nodes.append(Node(kind: .number, flag: !plain, start: start, end: i, next: nodes.count + 1, count: 0))
        }

        mutating func literal(_ word: StaticString, _ kind: Kind) throws(SyntaxError) {
            let n = word.utf8CodeUnitCount
            let w = UnsafeBufferPointer(start: word.utf8Start, count: n)
            guard i + n <= b.count, (0..<n).allSatisfy({ b[i + $0] == w[$0] }) else {
                let cut = i + n > b.count && (0..<(b.count - i)).allSatisfy { b[i + $0] == w[$0] }
                throw SyntaxError(offset: i, message: "unexpected character '\(printable(b[i]))'", atEnd: cut)
            }
            nodes.append(Node(kind: kind, flag: false, start: i, end: i + n, next: nodes.count + 1, count: 0))
            i += n
        }

        func printable(_ c: UInt8) -> String {
            c >= 0x20 && c < 0x7f ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
        }
    }
}

/// The value of an ASCII hex digit.
@inline(__always) func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x41...0x46: c - 0x41 + 10
    case 0x61...0x66: c - 0x61 + 10
    default: nil
    }
}
