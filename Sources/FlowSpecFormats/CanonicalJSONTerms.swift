import FlowSpec

/// The compact text form of flowspec operator lists used by the canonical JSON format
/// (grammar in docs/format.md):
///
///     numeric: ">=1024&<=2048,==80"   "false 0"   "1..1023"   "==80[2]"
///     bitmask: "=0x02&!0x10"   "=is-fragment,=last-fragment"   "=syn&!ack"
///
/// `&` joins a term to the previous one (the RFC 8955 AND bit), `,` starts an OR alternative;
/// a leading `&` sets the AND bit of the first term, which the RFC ignores but the wire can carry.
/// `[N]` gives a value length in octets; the writer emits it only when it is not the smallest
/// length that holds the value, so re-encoding gives the octets that were received.
public enum OperatorText {
    /// A term list that does not follow the grammar; `message` says where and why.
    public struct SyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    // MARK: Writing

    /// The stable compact form of a numeric operator list, e.g. `>=1024&<=2048,==80`.
    public static func format(_ terms: [NumericTerm]) -> String {
        var out = ""
        for (i, t) in terms.enumerated() {
            if t.and { out += "&" } else if i > 0 { out += "," }
            switch t.comparisonBits {
            case 0: out += "false "
            case 7: out += "true "
            default: out += t.symbol
            }
            out += String(t.value)
            if t.valueLength != NumericTerm.minimalLength(t.value) { out += "[\(t.valueLength)]" }
        }
        return out
    }

    /// The stable compact form of a bitmask operator list, e.g. `=0x02&!0x10`. Fragment values
    /// made only of the four RFC 8955 bits are written by name (`=is-fragment`).
    public static func format(_ terms: [BitmaskTerm], type: ComponentType) -> String {
        var out = ""
        for (i, t) in terms.enumerated() {
            if t.and { out += "&" } else if i > 0 { out += "," }
            switch (t.not, t.match) {
            case (false, true): out += "="
            case (true, true): out += "!="
            case (true, false): out += "!"
            case (false, false): break
            }
            let minimal = NumericTerm.minimalLength(t.value)
            if type == .fragment, t.value > 0, t.value <= 0x0f, t.valueLength == 1 {
                out += FragmentBit.allCases.filter { t.value & $0.rawValue != 0 }.map(\.textName).joined(separator: "+")
            } else {
                let digits = String(t.value, radix: 16)
                out += "0x" + String(repeating: "0", count: max(0, 2 * Int(minimal) - digits.count)) + digits
            }
            if t.valueLength != minimal { out += "[\(t.valueLength)]" }
        }
        return out
    }

    // MARK: Reading

    /// Parses the compact form of a numeric operator list for a component of type `type`
    /// (the type decides which value names are allowed, e.g. `tcp` for protocol; ICMP type names
    /// need the route's `family`, for ICMP and ICMPv6 number them apart).
    public static func parseNumeric(_ text: String, type: ComponentType, family: AddressFamily? = nil) throws(SyntaxError) -> [NumericTerm] {
        var t = text
        let r = t.withUTF8 { b in Result { () throws(SyntaxError) in try parseNumeric(bytes: b, type: type, family: family) } }
        return try r.get()
    }

    /// Parses the compact form of a bitmask operator list (tcp-flags or fragment).
    public static func parseBitmask(_ text: String, type: ComponentType) throws(SyntaxError) -> [BitmaskTerm] {
        var t = text
        let r = t.withUTF8 { b in Result { () throws(SyntaxError) in try parseBitmask(bytes: b, type: type) } }
        return try r.get()
    }

    static func parseNumeric(bytes: UnsafeBufferPointer<UInt8>, type: ComponentType, family: AddressFamily? = nil) throws(SyntaxError) -> [NumericTerm] {
        var s = TermScanner(b: bytes, type: type, family: family)
        var terms = [NumericTerm]()
        var and = s.leadingAnd()
        while true {
            s.skipSpaces()
            let termStart = s.i
            let bits = s.numericOperator()
            s.skipSpaces()
            var value: UInt64 = 0
            if let v = try s.value() {
                value = v
            } else if bits == nil || (bits! != 0 && bits! != 7) {
                throw s.error(at: s.i, "expected a value")
            }
            s.skipSpaces()
            if bits == nil, s.consume("..") {
                s.skipSpaces()
                guard let hi = try s.value() else { throw s.error(at: s.i, "expected the upper bound of the range") }
                guard hi >= value else { throw s.error(at: termStart, "range \(value)..\(hi) is empty") }
                terms.append(NumericTerm(and: and, gt: true, eq: true, value: value))
                terms.append(NumericTerm(and: true, lt: true, eq: true, value: hi))
            } else {
                let length = try s.length(for: value)
                let b = bits ?? 1
                terms.append(NumericTerm(and: and, lt: b & 4 != 0, gt: b & 2 != 0, eq: b & 1 != 0,
                                         value: value, valueLength: length))
            }
            guard let next = try s.separator() else { break }
            and = next
        }
        return terms
    }

    static func parseBitmask(bytes: UnsafeBufferPointer<UInt8>, type: ComponentType) throws(SyntaxError) -> [BitmaskTerm] {
        var s = TermScanner(b: bytes, type: type)
        var terms = [BitmaskTerm]()
        var and = s.leadingAnd()
        while true {
            s.skipSpaces()
            let (not, match) = s.bitmaskOperator()
            s.skipSpaces()
            var value: UInt64 = 0
            var first = true
            repeat {
                s.skipSpaces()
                guard let v = try s.value() else {
                    throw s.error(at: s.i, first ? "expected a value" : "expected a value after '+'")
                }
                value |= v
                first = false
                s.skipSpaces()
            } while s.consume("+")
            let length = try s.length(for: value)
            terms.append(BitmaskTerm(and: and, not: not, match: match, value: value, valueLength: length))
            guard let next = try s.separator() else { break }
            and = next
        }
        return terms
    }

    /// The numeric operator named by a symbol or word (as in the array-of-terms form): its
    /// lt/gt/eq bits.
    static func numericBits(_ op: String) -> UInt8? {
        switch op {
        case "false": 0
        case "==", "=": 1
        case ">": 2
        case ">=": 3
        case "<": 4
        case "<=": 5
        case "!=": 6
        case "true": 7
        default: nil
        }
    }

    /// The bitmask operator named by a symbol or word: (not, match).
    static func bitmaskBits(_ op: String) -> (not: Bool, match: Bool)? {
        switch op {
        case "=", "==", "match": (false, true)
        case "!=", "not-match": (true, true)
        case "", "~", "any": (false, false)
        case "!", "!~", "not-any", "none": (true, false)
        default: nil
        }
    }

    /// Parses one value (decimal, `0x` hex, or a name valid for `type`) that fills the whole text.
    static func parseValue(_ text: String, type: ComponentType, family: AddressFamily? = nil) throws(SyntaxError) -> UInt64 {
        var t = text
        let r = t.withUTF8 { b in Result { () throws(SyntaxError) -> UInt64 in
            var s = TermScanner(b: b, type: type, family: family)
            var v: UInt64 = 0
            var first = true
            repeat {
                s.skipSpaces()
                guard let x = try s.value() else { throw s.error(at: s.i, first ? "expected a value" : "expected a value after '+'") }
                v |= x
                first = false
                s.skipSpaces()
            } while type.kind == .bitmask && s.consume("+")
            guard s.i == b.count else { throw s.error(at: s.i, "unexpected text after the value") }
            return v
        } }
        return try r.get()
    }

    /// Checks an explicit value length: 1, 2, 4 or 8 octets, large enough for the value.
    static func checkLength(_ n: UInt64, value: UInt64) throws(SyntaxError) -> UInt8 {
        guard n == 1 || n == 2 || n == 4 || n == 8 else { throw SyntaxError("value length \(n) is not 1, 2, 4 or 8 octets") }
        guard n >= NumericTerm.minimalLength(value) else { throw SyntaxError("value \(value) does not fit \(n) octet\(n == 1 ? "" : "s")") }
        return UInt8(n)
    }
}

extension FragmentBit {
    /// The name used in the canonical JSON (`dont-fragment`, `is-fragment`, ...).
    public var textName: String {
        switch self {
        case .dontFragment: "dont-fragment"
        case .isFragment: "is-fragment"
        case .firstFragment: "first-fragment"
        case .lastFragment: "last-fragment"
        }
    }
}

/// A cursor over one operator-list text.
private struct TermScanner {
    let b: UnsafeBufferPointer<UInt8>
    let type: ComponentType
    /// The route's family, when known: ICMP type names depend on it.
    let family: AddressFamily?
    var i = 0

    init(b: UnsafeBufferPointer<UInt8>, type: ComponentType, family: AddressFamily? = nil) { self.b = b; self.type = type; self.family = family }

    var text: String { String(decoding: b, as: UTF8.self) }

    func error(at offset: Int, _ message: String) -> OperatorText.SyntaxError {
        let what = offset >= b.count ? "at the end" : "at character \(offset + 1)"
        return OperatorText.SyntaxError("'\(text)': \(message) \(what)")
    }

    func peek(_ k: Int = 0) -> UInt8? { i + k < b.count ? b[i + k] : nil }

    mutating func skipSpaces() {
        while let c = peek(), c == 0x20 || c == 0x09 { i += 1 }
    }

    mutating func consume(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let p = s.utf8Start
        for k in 0..<n where b[i + k] != p[k] { return false }
        i += n
        return true
    }

    /// A leading `&` (or `&&`): the first term carries the AND bit.
    mutating func leadingAnd() -> Bool {
        skipSpaces()
        if consume("&&") || consume("&") { return true }
        return false
    }

    /// After a term: nil at the end, true for `&`/`&&`, false for `,`/`||`.
    mutating func separator() throws(OperatorText.SyntaxError) -> Bool? {
        skipSpaces()
        guard i < b.count else { return nil }
        if consume("&&") || consume("&") { return true }
        if consume("||") || consume(",") { return false }
        throw error(at: i, "expected '&' or ','")
    }

    /// lt/gt/eq bits, or nil when no operator is written (then `==`, or a range).
    mutating func numericOperator() -> UInt8? {
        if consume("==") { return 1 }
        if consume("<=") { return 5 }
        if consume(">=") { return 3 }
        if consume("!=") { return 6 }
        if consume("=") { return 1 }
        if consume("<") { return 4 }
        if consume(">") { return 2 }
        if word("true") { return 7 }
        if word("false") { return 0 }
        return nil
    }

    /// (not, match); no operator means "any of these bits".
    mutating func bitmaskOperator() -> (Bool, Bool) {
        if consume("==") || consume("=") { return (false, true) }
        if consume("!=") { return (true, true) }
        if consume("!~") || consume("!") { return (true, false) }
        _ = consume("~")
        return (false, false)
    }

    /// Consumes `w` only as a whole word.
    mutating func word(_ w: StaticString) -> Bool {
        let save = i
        guard consume(w) else { return false }
        if let c = peek(), isNameByte(c) { i = save; return false }
        return true
    }

    func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x5f
    }

    /// A decimal, `0x` hex or named value; nil when none starts here.
    mutating func value() throws(OperatorText.SyntaxError) -> UInt64? {
        guard let c = peek() else { return nil }
        let start = i
        if c >= 0x30 && c <= 0x39 {
            var v: UInt64 = 0
            if c == 0x30, let x = peek(1), x == 0x78 || x == 0x58 {
                i += 2
                var n = 0
                while let d = peek(), let h = hexDigit(d) {
                    if v >> 60 != 0 { throw error(at: start, "value does not fit 64 bits") }
                    v = v << 4 | UInt64(h); i += 1; n += 1
                }
                if n == 0 { throw error(at: start, "expected hex digits after 0x") }
            } else {
                while let d = peek(), d >= 0x30 && d <= 0x39 {
                    let (m, o1) = v.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(UInt64(d - 0x30))
                    if o1 || o2 { throw error(at: start, "value does not fit 64 bits") }
                    v = a; i += 1
                }
            }
            if let d = peek(), isNameByte(d), d != 0x2d { throw error(at: i, "unexpected character in a number") }
            return v
        }
        guard (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) else { return nil }
        while let d = peek(), isNameByte(d) { i += 1 }
        let name = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        guard let v = ValueNames.value(of: name, for: type, family: family) else {
            if type == .icmpType, family == nil, ValueNames.icmpTypeNamed(name) {
                throw error(at: start, "ICMP type names depend on the family (echo-request is 8 in ICMP, 128 in ICMPv6): give \"family\" or a prefix, or the number")
            }
            throw error(at: start, "unknown value name '\(name)' for \(type.name)" + ValueNames.hint(for: type, family: family))
        }
        return v
    }

    /// An optional `[N]` length suffix; the minimal length when absent.
    mutating func length(for value: UInt64) throws(OperatorText.SyntaxError) -> UInt8 {
        skipSpaces()
        let start = i
        guard consume("[") else { return NumericTerm.minimalLength(value) }
        skipSpaces()
        var n: UInt64 = 0
        var digits = 0
        while let d = peek(), d >= 0x30 && d <= 0x39, digits < 3 { n = n * 10 + UInt64(d - 0x30); i += 1; digits += 1 }
        skipSpaces()
        guard digits > 0, consume("]") else { throw error(at: start, "expected a length like [2]") }
        do { return try OperatorText.checkLength(n, value: value) }
        catch { throw self.error(at: start, error.message) }
    }
}

/// Names accepted in place of numbers, per component type. The writer always emits numbers
/// (fragment bits excepted), so names are a convenience for hand-written input.
enum ValueNames {
    static let tcpFlags: [String: UInt64] = [
        "fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "push": 0x08, "ack": 0x10,
        "urg": 0x20, "urgent": 0x20, "ece": 0x40, "cwr": 0x80,
    ]
    static let fragment: [String: UInt64] = [
        "dont-fragment": 0x01, "df": 0x01, "is-fragment": 0x02, "isf": 0x02,
        "first-fragment": 0x04, "ff": 0x04, "last-fragment": 0x08, "lf": 0x08,
    ]
    static let protocols: [String: UInt64] = [
        "icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
        "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132,
    ]

    /// ICMP types by the names nft gives them (`nft describe icmp type`).
    static let icmpTypes: [String: UInt64] = [
        "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
        "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
        "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
        "address-mask-request": 17, "address-mask-reply": 18,
    ]
    /// ICMPv6 types by the names nft gives them (`nft describe icmpv6 type`).
    static let icmpv6Types: [String: UInt64] = [
        "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
        "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
        "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
        "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
        "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
    ]

    static func normalized(_ name: String) -> String { String(name.lowercased().map { $0 == "_" ? "-" : $0 }) }

    static func value(of name: String, for type: ComponentType, family: AddressFamily? = nil) -> UInt64? {
        let n = normalized(name)
        switch type {
        case .tcpFlags: return tcpFlags[n]
        case .fragment: return fragment[n]
        case .ipProtocol: return protocols[n]
        case .icmpType:
            switch family {
            case .ipv4?: return icmpTypes[n]
            case .ipv6?: return icmpv6Types[n]
            // Without a family only a name both agree on (none do today) could be read.
            default: return icmpTypes[n].flatMap { v in icmpv6Types[n] == v ? v : nil }
            }
        default: return nil
        }
    }

    /// Whether `name` names an ICMP or ICMPv6 type.
    static func icmpTypeNamed(_ name: String) -> Bool {
        let n = normalized(name)
        return icmpTypes[n] != nil || icmpv6Types[n] != nil
    }

    static func hint(for type: ComponentType, family: AddressFamily? = nil) -> String {
        switch type {
        case .tcpFlags: " (fin syn rst psh ack urg ece cwr)"
        case .fragment: " (dont-fragment is-fragment first-fragment last-fragment)"
        case .ipProtocol: " (icmp igmp tcp udp gre esp ah icmpv6 sctp)"
        case .icmpType:
            " (" + (family == .ipv6 ? icmpv6Types : icmpTypes).sorted { $0.value < $1.value }.map(\.key).joined(separator: " ") + ", or a number)"
        default: ": \(type.name) takes numbers"
        }
    }
}
