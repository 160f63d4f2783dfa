import FlowSpec

/// Reads ExaBGP 4.2's JSON API stream (`receive { parsed; update; }`, encoder json): one object
/// per line.
///
/// Routes are under `neighbor.message.update.announce["ipv4 flow"|"ipv6 flow"][<next-hop>]` and
/// `withdraw["ipv4 flow"|"ipv6 flow"]`; End-of-RIB lines carry `message.eor`. Numeric components are
/// string lists whose elements are OR-ed and whose `&` marks AND (`">=1024&<=2048"`), so they are
/// lossless. Bitmask components are NOT lossless in the lists: ExaBGP prints every bit of a term
/// as its own element (`match 0x29` → `"=fin", "=push", "=urg"`, exactly like three OR-ed terms), so
/// they are read from the route's `string` form, which joins one term's bits with `+`. Extended
/// communities are read from the integer `value` (the strings round rates and are empty for 0x8108);
/// so are the IPv6 address-specific ones of `extended-community-ipv6` (attribute 25, RFC 5701),
/// whose `value` is the 20 octets as one decimal integer of up to 160 bits (ExaBGP's
/// `ExtendedCommunityBase.json`; its string for 0x000c is `redirect-to-nexthop-ietf <IPv6>`).
public enum ExaBGPReader {
    /// An End-of-RIB marker for a flowspec family.
    public struct EndOfRIB: Hashable, Sendable {
        public var family: AddressFamily
        public var position: String
        public init(family: AddressFamily, position: String) { self.family = family; self.position = position }
    }

    /// What one line said: routes (announced or withdrawn), errors, and an End-of-RIB if it is one.
    public struct LineResult: Sendable {
        public var result: ReadResult
        public var endOfRIB: EndOfRIB?
        /// `neighbor.state` of a `"type": "state"` line (`up`, `down`, `connected`).
        public var sessionState: String?
        public init(result: ReadResult = ReadResult(), endOfRIB: EndOfRIB? = nil, sessionState: String? = nil) {
            self.result = result; self.endOfRIB = endOfRIB; self.sessionState = sessionState
        }
    }

    /// Reads a captured stream; End-of-RIB lines are dropped (use `readStream` to keep them).
    ///
    /// - Throws: `UnreadableInput` when the last line is cut (see `readStream`).
    public static func read(_ text: String) throws(UnreadableInput) -> ReadResult { try readStream(text).result }

    /// Reads a captured stream, keeping the End-of-RIB markers in order.
    ///
    /// - Throws: `UnreadableInput` when the last non-blank line ends before its object is closed:
    ///   the capture was cut, and its first lines alone would read as a shorter stream. A cut line
    ///   before others is that line's error.
    public static func readStream(_ text: String) throws(UnreadableInput) -> (result: ReadResult, endOfRIB: [EndOfRIB]) {
        var result = ReadResult()
        var eors = [EndOfRIB]()
        for (number, line) in try JSONLine.stream(text) {
            let r = message(line, lineNumber: number)
            result.append(r.result)
            if let e = r.endOfRIB { eors.append(e) }
        }
        return (result, eors)
    }

    /// Reads one line of the API stream (for `watch --source exabgp`).
    public static func readLine(_ line: String, lineNumber: Int = 1) -> ReadResult {
        readMessage(line, lineNumber: lineNumber).result
    }

    /// Reads one line of the API stream, End-of-RIB included. Lines that are not UPDATEs (state,
    /// open, keepalive, notification) and families other than flowspec give an empty result; a
    /// line cut before its closing brace is an error for that line (`incomplete JSON`).
    public static func readMessage(_ line: String, lineNumber: Int = 1) -> LineResult {
        message(JSONLine(line), lineNumber: lineNumber)
    }

    static func message(_ line: JSONLine, lineNumber: Int) -> LineResult {
        let where_ = "line \(lineNumber)"
        func failed(_ r: String) -> LineResult { LineResult(result: ReadResult(errors: [ReadError(position: where_, reason: r)])) }
        let object: JSONValue
        switch line {
        case .blank: return LineResult()
        case .incomplete(let reason), .invalid(let reason): return failed(reason)
        case .value(let v): object = v
        }
        guard object.isObject else { return failed("expected a JSON object") }
        if object["type"]?.string == "state" { return LineResult(sessionState: object["neighbor"]?["state"]?.string) }
        guard let message = object["neighbor"]?["message"] else { return LineResult() }
        if let eor = message["eor"] {
            guard eor["safi"]?.string == "flow", let afi = eor["afi"]?.string, let family = AddressFamily(name: afi) else {
                return LineResult()
            }
            return LineResult(endOfRIB: EndOfRIB(family: family, position: where_))
        }
        guard let update = message["update"] else { return LineResult() }

        var result = ReadResult()
        var communities = [ExtendedCommunity]()
        var attributeWarnings = [String]()
        for ec in update["attribute"]?["extended-community"]?.array ?? [] {
            if let v = ec["value"]?.uint64 { communities.append(ExtendedCommunity(rawValue: v)) }
            else { attributeWarnings.append("extended community \(ec["string"]?.brief ?? ec.brief) without an integer value; dropped") }
        }
        var ipv6Communities = [IPv6ExtendedCommunity]()
        for ec in update["attribute"]?["extended-community-ipv6"]?.array ?? [] {
            if let text = ec["value"]?.numberText, let octets = decimalOctets(text, count: IPv6ExtendedCommunity.octets),
               let c = IPv6ExtendedCommunity(bytes: octets) {
                ipv6Communities.append(c)
            } else {
                attributeWarnings.append("IPv6 extended community \(ec["string"]?.brief ?? ec.brief) without a 160-bit integer value; dropped")
            }
        }
        var index = 0
        for (familyKey, byNextHop) in update["announce"]?.members ?? [] {
            guard let family = flowFamily(familyKey) else {
                if familyKey.hasSuffix("flow-vpn") { result.errors.append(ReadError(position: where_, reason: "\(familyKey) is not supported")) }
                continue
            }
            for (_, routes) in byNextHop.members ?? [] {
                for route in routes.array ?? [] {
                    index += 1
                    let pos = "\(where_), route \(index)"
                    switch readRoute(route, family: family) {
                    case .success(let (components, warnings)):
                        let r = FlowRoute(family: family, components: components, extendedCommunities: communities,
                                          ipv6ExtendedCommunities: ipv6Communities)
                        result.routes.append(ReadRoute(route: r, position: pos, warnings: warnings + attributeWarnings))
                    case .failure(let p): result.errors.append(ReadError(position: pos, reason: p.reason))
                    }
                }
            }
        }
        for (familyKey, routes) in update["withdraw"]?.members ?? [] {
            guard let family = flowFamily(familyKey) else { continue }
            for route in routes.array ?? [] {
                index += 1
                let pos = "\(where_), route \(index)"
                switch readRoute(route, family: family) {
                case .success(let (components, warnings)):
                    result.routes.append(ReadRoute(route: FlowRoute(family: family, components: components), withdrawn: true,
                                                   position: pos, warnings: warnings))
                case .failure(let p): result.errors.append(ReadError(position: pos, reason: p.reason))
                }
            }
        }
        return LineResult(result: result)
    }

    /// A non-negative decimal integer as `count` big-endian octets, or nil when it is not one or
    /// does not fit.
    static func decimalOctets(_ text: String, count: Int) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var out = [UInt8](repeating: 0, count: count)
        for digit in text.utf8 {
            var carry = UInt16(digit - 0x30)
            for i in stride(from: count - 1, through: 0, by: -1) {
                let v = UInt16(out[i]) * 10 + carry
                out[i] = UInt8(v & 0xff)
                carry = v >> 8
            }
            guard carry == 0 else { return nil }
        }
        return out
    }

    static func flowFamily(_ key: String) -> AddressFamily? {
        switch key {
        case "ipv4 flow": .ipv4
        case "ipv6 flow": .ipv6
        default: nil
        }
    }

    /// ExaBGP's component keys (`NAME` of the classes in bgp/message/update/nlri/flow.py).
    static func componentType(_ key: String, family: AddressFamily) -> ComponentType? {
        switch (key, family) {
        case ("destination-ipv4", .ipv4), ("destination-ipv6", .ipv6): .destinationPrefix
        case ("source-ipv4", .ipv4), ("source-ipv6", .ipv6): .sourcePrefix
        case ("protocol", .ipv4), ("next-header", .ipv6): .ipProtocol
        case ("port", _): .port
        case ("destination-port", _): .destinationPort
        case ("source-port", _): .sourcePort
        case ("icmp-type", _): .icmpType
        case ("icmp-code", _): .icmpCode
        case ("tcp-flags", _): .tcpFlags
        case ("packet-length", _): .packetLength
        case ("dscp", .ipv4), ("traffic-class", .ipv6): .dscp
        case ("fragment", _): .fragment
        case ("flow-label", .ipv6): .flowLabel
        default: nil
        }
    }

    static func readRoute(_ route: JSONValue, family: AddressFamily) -> Result<([Component], [String]), SpeakerProblem> {
        guard let members = route.members else { return .failure("expected a route object") }
        let string = route["string"]?.string
        var components = [Component]()
        var warnings = [String]()
        for (key, value) in members {
            if key == "string" || key == "next-hop" { continue }
            if key == "rd" { return .failure("flow-vpn routes (with a route distinguisher) are not supported") }
            guard let type = componentType(key, family: family) else { return .failure("unknown component key \"\(key)\"") }
            guard let list = value.array, !list.isEmpty else { return .failure("\(key): expected a list of strings") }
            let texts = list.compactMap(\.string)
            guard texts.count == list.count else { return .failure("\(key): expected a list of strings") }
            switch type.kind {
            case .prefix:
                guard texts.count == 1, let p = FlowPrefix(texts[0]), p.family == family else {
                    return .failure("\(key): bad prefix \(texts)")
                }
                if p.offset != 0 {
                    return .failure("\(key) \(texts[0]): ExaBGP 4.2 decodes IPv6 prefixes with a non-zero offset wrongly (it reads \(p.length) bits of pattern instead of \(Int(p.length) - Int(p.offset))); this route cannot be trusted")
                }
                components.append(type == .destinationPrefix ? .destinationPrefix(p) : .sourcePrefix(p))
            case .numeric:
                switch numeric(texts, type: type) {
                case .success(let (terms, w)): components.append(.numeric(type, terms)); warnings += w
                case .failure(let p): return .failure("\(key): \(p.reason)")
                }
            case .bitmask:
                let r: Result<[BitmaskTerm], SpeakerProblem>
                if let string, let tokens = extensiveTokens(string, name: key) {
                    r = bitmask(fromExtensive: tokens, type: type)
                } else {
                    r = bitmask(fromList: texts, type: type)
                    if case .success(let t) = r, t.count > 1 {
                        warnings.append("\(key) \(texts): read from the JSON list without the `string` form, where ExaBGP prints each bit of a term as its own element; terms with several bits cannot be told from OR-ed single-bit terms")
                    }
                }
                switch r {
                case .success(let terms): components.append(.bitmask(type, terms))
                case .failure(let p): return .failure("\(key): \(p.reason)")
                }
            }
        }
        guard !components.isEmpty else { return .failure("no components") }
        switch SpeakerText.ordered(components) {
        case .failure(let e): return .failure(SpeakerProblem(e.reason))
        case .success(let c): return .success((c, warnings))
        }
    }

    // MARK: numeric lists

    /// Each element is an OR-ed group; inside it, terms after the first start with `&`.
    static func numeric(_ texts: [String], type: ComponentType) -> Result<([NumericTerm], [String]), SpeakerProblem> {
        var terms = [NumericTerm]()
        var warnings = [String]()
        for element in texts {
            var pieces = [Substring]()
            var current = Substring(element)
            // Split before each '&' (values never contain one).
            while let amp = current.dropFirst().firstIndex(of: "&") {
                pieces.append(current[..<amp]); current = current[amp...]
            }
            pieces.append(current)
            for piece in pieces {
                var s = piece
                var and = false
                if s.first == "&" { and = true; s = s.dropFirst() }
                let ops: [(String, (Bool, Bool, Bool))] = [("true", (true, true, true)), ("false", (false, false, false)),
                    ("!=", (true, true, false)), ("<=", (true, false, true)), (">=", (false, true, true)),
                    ("<", (true, false, false)), (">", (false, true, false)), ("=", (false, false, true))]
                guard let (sym, bits) = ops.first(where: { s.hasPrefix($0.0) }) else {
                    return .failure("unknown operator in \"\(element)\"")
                }
                let valueText = s.dropFirst(sym.count)
                var value: UInt64 = 0
                if valueText.isEmpty {
                    guard sym == "true" || sym == "false" else { return .failure("missing value in \"\(element)\"") }
                    warnings.append("\(type.name) \"\(element)\": ExaBGP does not print the value of a \(sym) term; read as 0 (the match is the same whatever the value, the NLRI octets may differ)")
                } else {
                    guard let v = namedValue(String(valueText), type: type) else { return .failure("bad value \"\(valueText)\" in \"\(element)\"") }
                    value = v
                }
                terms.append(NumericTerm(and: and, lt: bits.0, gt: bits.1, eq: bits.2, value: value))
            }
        }
        return .success((terms, warnings))
    }

    /// Digits, ExaBGP's names for protocols and ICMP types, or its `unknown <what> type N`.
    static func namedValue(_ text: String, type: ComponentType) -> UInt64? {
        if let v = UInt64(text) { return v }
        if text.hasPrefix("unknown "), let last = text.split(separator: " ").last, let v = UInt64(last) { return v }
        switch type {
        case .ipProtocol: return protocols[text].map(UInt64.init)
        case .icmpType: return icmpTypes[text].map(UInt64.init)
        default: return nil
        }
    }

    static let protocols: [String: UInt8] = ["icmp": 1, "igmp": 2, "tcp": 6, "egp": 8, "udp": 17, "rsvp": 46, "gre": 47,
                                             "esp": 50, "ah": 51, "ospf": 89, "ipip": 94, "pim": 103, "sctp": 132]
    static let icmpTypes: [String: UInt8] = [
        "echo-reply": 0, "unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
        "router-advertisement": 9, "router-solicit": 10, "time-exceeded": 11, "parameter-problem": 12,
        "timestamp": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16, "mask-request": 17,
        "mask-reply": 18, "traceroute": 30, "experimental-mobility": 41, "extended-echo-request": 42,
        "extended-echo-reply": 43, "experimental-one": 253, "experimental-two": 254,
    ]
    static let tcpFlags: [String: UInt64] = ["fin": 0x01, "syn": 0x02, "rst": 0x04, "push": 0x08, "ack": 0x10,
                                             "urg": 0x20, "urgent": 0x20, "ece": 0x40, "cwr": 0x80, "ns": 0x100]
    static let fragmentBits: [String: UInt64] = ["not-a-fragment": 0, "dont-fragment": 0x01, "is-fragment": 0x02,
                                                 "first-fragment": 0x04, "last-fragment": 0x08]

    // MARK: bitmask lists

    /// The value tokens of component `name` in the `string` form: `tcp-flags [ =syn&!ack =rst ]`
    /// gives `["=syn&!ack", "=rst"]`, `fragment !is-fragment` gives `["!is-fragment"]`.
    static func extensiveTokens(_ string: String, name: String) -> [Substring]? {
        let words = string.split(separator: " ")
        guard let at = words.firstIndex(where: { $0 == name }), at + 1 < words.count else { return nil }
        if words[at + 1] == "[" {
            guard let end = words[(at + 2)...].firstIndex(of: "]") else { return nil }
            return Array(words[(at + 2)..<end])
        }
        return [words[at + 1]]
    }

    /// Tokens are OR-ed; inside a token, `&` starts an AND term; a term is an operator (`!=`, `=`,
    /// `!` or none) and its bits joined by `+`.
    static func bitmask(fromExtensive tokens: [Substring], type: ComponentType) -> Result<[BitmaskTerm], SpeakerProblem> {
        var terms = [BitmaskTerm]()
        for token in tokens {
            let pieces = token.split(separator: "&", omittingEmptySubsequences: false)
            for (i, piece) in pieces.enumerated() {
                if i == 0 && piece.isEmpty && pieces.count > 1 { continue }
                let and = i > 0
                guard let t = bitTerm(piece, and: and, type: type, joiner: "+") else { return .failure("bad term \"\(piece)\" in \"\(token)\"") }
                terms.append(t)
            }
        }
        return terms.isEmpty ? .failure("no terms") : .success(terms)
    }

    /// The JSON-list fallback: every element is one bit, `&` marks AND.
    static func bitmask(fromList texts: [String], type: ComponentType) -> Result<[BitmaskTerm], SpeakerProblem> {
        var terms = [BitmaskTerm]()
        for element in texts {
            let text = element == "not-a-fragment" && type == .fragment ? "!is-fragment" : element
            let pieces = text.split(separator: "&", omittingEmptySubsequences: false)
            for (i, piece) in pieces.enumerated() {
                if i == 0 && piece.isEmpty { continue }
                guard let t = bitTerm(piece, and: i > 0, type: type, joiner: "+") else { return .failure("bad term \"\(piece)\"") }
                terms.append(t)
            }
        }
        return terms.isEmpty ? .failure("no terms") : .success(terms)
    }

    static func bitTerm(_ piece: Substring, and: Bool, type: ComponentType, joiner: Character) -> BitmaskTerm? {
        var s = piece
        var not = false, match = false
        if s.hasPrefix("!=") { not = true; match = true; s = s.dropFirst(2) }
        else if s.hasPrefix("=") { match = true; s = s.dropFirst() }
        else if s.hasPrefix("!") { not = true; s = s.dropFirst() }
        guard !s.isEmpty else { return nil }
        let names = type == .tcpFlags ? tcpFlags : fragmentBits
        var value: UInt64 = 0
        for name in s.split(separator: joiner) {
            if let v = names[String(name)] { value |= v }
            else if let v = UInt64(name) { value |= v }
            else { return nil }
        }
        return BitmaskTerm(and: and, not: not, match: match, value: value)
    }
}
