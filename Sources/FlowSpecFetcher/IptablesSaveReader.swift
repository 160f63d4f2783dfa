import FlowSpec

/// Reads `iptables-save` / `ip6tables-save` text: the rules of one chain of the `filter` table
/// (FORWARD by default) and its policy, as flowspec routes. The same action mapping as
/// `ChainReader` (docs/fetcher.md); every option outside the supported set is a problem naming
/// the line.
public enum IptablesSaveReader {
    public static func read(_ text: String, chain: String = "FORWARD", family: AddressFamily? = nil,
                            options: FetchOptions = FetchOptions()) -> FetchResult {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // ip6tables-save says so in its header; otherwise the addresses decide.
        let fam: AddressFamily = family ?? (lines.contains { $0.hasPrefix("#") && $0.contains("ip6tables") }
            || lines.contains { ($0.hasPrefix("-A ") && ($0.contains(" -s ") || $0.contains(" -d ")) && $0.split(separator: " ").contains { $0.contains(":") && $0.contains("/") && !$0.hasPrefix("--") }) }
            ? .ipv6 : .ipv4)
        var inFilter = false
        var policy: RuleEffect.Verdict?
        var policyLine: Int?
        var rules: [ReadRule] = []
        var problems: [FetchProblem] = []
        var index = 0
        for (n, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.hasPrefix("*") { inFilter = line == "*filter"; continue }
            guard inFilter, !line.isEmpty, !line.hasPrefix("#") else { continue }
            if line == "COMMIT" { inFilter = false; continue }
            if line.hasPrefix(":") {
                let parts = line.dropFirst().split(separator: " ")
                if parts.count >= 2, parts[0] == chain {
                    policyLine = n + 1
                    switch parts[1] { case "DROP": policy = .drop; case "ACCEPT": policy = .accept; default: policy = nil }
                }
                continue
            }
            var tokens = tokenize(line)
            if let first = tokens.first, first.hasPrefix("[") { tokens.removeFirst() }   // -c counters
            guard tokens.count >= 2, tokens[0] == "-A" else { continue }
            guard tokens[1] == chain else { continue }
            index += 1
            var parser = RuleParser(tokens: Array(tokens.dropFirst(2)), family: fam,
                                    position: RulePosition(index: index, line: n + 1))
            do throws(FetchProblem) {
                try parser.parse()
                var position = parser.position
                position.comment = parser.comment
                rules.append(ReadRule(position: position, match: parser.match, effect: parser.effect))
            } catch { problems.append(error) }
        }
        var assembler = RouteAssembler(options: options, tableFamilies: [fam])
        assembler.assemble(rules, policy: policy, policyPosition: RulePosition(index: index + 1, line: policyLine, isPolicy: true))
        var result = FetchResult(routes: assembler.routes, problems: problems + assembler.problems)
        result.problems.sort { $0.position.index < $1.position.index }
        return result
    }

    /// Splits on blanks, keeping double-quoted words (comments, log prefixes) whole.
    static func tokenize(_ line: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false, escaped = false, any = false
        for ch in line {
            if escaped { cur.append(ch); escaped = false; continue }
            if ch == "\\" && quoted { escaped = true; continue }
            if ch == "\"" { quoted.toggle(); any = true; continue }
            if (ch == " " || ch == "\t") && !quoted {
                if any || !cur.isEmpty { out.append(cur) }
                cur = ""; any = false
            } else { cur.append(ch) }
        }
        if any || !cur.isEmpty { out.append(cur) }
        return out
    }
}

extension String {
    func trimmingCharacters(in chars: String) -> String {
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

private struct RuleParser {
    var tokens: [String]
    let family: AddressFamily
    var position: RulePosition
    var match = RuleMatch()
    var effect = RuleEffect()
    var comment: String?
    var i = 0
    var proto: UInt64?
    var target: String?

    init(tokens: [String], family: AddressFamily, position: RulePosition) {
        self.tokens = tokens; self.family = family; self.position = position
        match.families = [family]
    }

    func fail(_ reason: String) -> FetchProblem { FetchProblem(position: position, reason: reason) }

    mutating func next(_ option: String) throws(FetchProblem) -> String {
        guard i < tokens.count else { throw fail("\(option) needs a value") }
        defer { i += 1 }
        return tokens[i]
    }

    static let modules: Set<String> = ["tcp", "udp", "icmp", "icmp6", "icmpv6", "multiport", "length", "dscp", "limit", "comment"]

    mutating func parse() throws(FetchProblem) {
        while i < tokens.count {
            var negated = false
            var option = tokens[i]; i += 1
            if option == "!" {
                negated = true
                guard i < tokens.count else { throw fail("dangling !") }
                option = tokens[i]; i += 1
            }
            switch option {
            case "-s", "--source", "-d", "--destination":
                let value = try next(option)
                if negated { throw fail("\(negated ? "! " : "")\(option) \(value): flowspec prefixes cannot be negated") }
                guard let p = prefix(value) else { throw fail("bad address \(value)") }
                if let r = match.and(destination: option.hasPrefix("-d"), [p]) { throw fail(r) }
            case "-p", "--protocol":
                let value = try next(option).lowercased()
                let numbers: [String: UInt64] = ["tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58, "esp": 50,
                                                 "ah": 51, "gre": 47, "sctp": 132]
                if value == "all" || value == "0" { if negated { throw fail("! -p all never matches") }; break }
                guard let p = numbers[value] ?? UInt64(value), p <= 255 else { throw fail("unknown protocol \(value)") }
                if !negated { proto = p }
                var set = IntervalSet([p...p])
                if negated { set = set.complement(max: 255) }
                match.and(.ipProtocol, set)
            case "-m", "--match":
                let module = try next(option)
                guard Self.modules.contains(module) else { throw fail("match module \(module) has no flowspec equivalent") }
            case "--dport", "--destination-port", "--sport", "--source-port":
                try requirePorts(option)
                let set = try ports(try next(option), negated: negated)
                match.and(option.contains("d") && !option.contains("source") ? .destinationPort : .sourcePort, set)
            case "--dports", "--destination-ports", "--sports", "--source-ports", "--ports":
                try requirePorts(option)
                let set = try ports(try next(option), negated: negated)
                let type: ComponentType = option == "--ports" ? .port
                    : option.hasPrefix("--d") ? .destinationPort : .sourcePort
                match.and(type, set)
            case "--icmp-type", "--icmpv6-type":
                let value = try next(option)
                // `any` (what iptables-save prints for a rule written with it) constrains nothing;
                // negated it matches nothing.
                if value == "any" {
                    if negated { throw fail("! \(option) any never matches") }
                    break
                }
                guard let (t, c) = icmp(value, v6: option == "--icmpv6-type") else { throw fail("unknown ICMP type \(value)") }
                guard !negated else { throw fail("! \(option): a negated type/code pair has no single flowspec form") }
                match.and(.icmpType, IntervalSet([t...t]))
                if let c { match.and(.icmpCode, IntervalSet([c...c])) }
            case "--tcp-flags":
                guard proto == 6 else { throw fail("--tcp-flags without -p tcp") }
                let m = try flags(try next(option)), v = try flags(try next(option))
                match.and(.tcpFlags, dnf: negated ? bitmaskNotEqual(mask: m, value: v) : bitmaskEqual(mask: m, value: v))
            case "--syn":
                guard proto == 6 else { throw fail("--syn without -p tcp") }
                match.and(.tcpFlags, dnf: negated ? bitmaskNotEqual(mask: 0x17, value: 0x02) : bitmaskEqual(mask: 0x17, value: 0x02))
            case "--length":
                var set = try range(try next(option), max: 0xffff)
                if negated { set = set.complement(max: 0xffff) }
                match.and(.packetLength, set)
            case "--dscp":
                let value = try next(option)
                guard let d = number(value), d <= 63 else { throw fail("bad DSCP \(value)") }
                match.and(.dscp, negated ? IntervalSet([d...d]).complement(max: 63) : IntervalSet([d...d]))
            case "-f", "--fragment":
                guard family == .ipv4 else { throw fail("-f in ip6tables") }
                let isf = FragmentBit.isFragment.rawValue
                match.and(.fragment, dnf: negated ? [[BitmaskTerm(not: true, value: isf)]] : [[BitmaskTerm(value: isf)]])
            case "--comment":
                comment = try next(option)
            case "--limit":
                let value = try next(option)
                guard let r = rate(value) else { throw fail("bad limit \(value)") }
                if negated { throw fail("! --limit has no flowspec equivalent") }
                effect.rate = RuleEffect.Rate(perSecond: r, bytes: false, over: false)
            case "--limit-burst":
                let value = try next(option)
                effect.warnings.append("limit burst \(value) packets is not carried by flowspec")
            case "-j", "--jump":
                let t = try next(option)
                target = t
                try jump(t)
            case "-g", "--goto":
                throw fail("goto chain \(try next(option)): only a single chain is read")
            case "-i", "--in-interface", "-o", "--out-interface":
                throw fail("interface match \(option) \(try next(option)) has no flowspec equivalent")
            default:
                throw fail("option \(negated ? "! " : "")\(option) has no flowspec equivalent")
            }
        }
    }

    mutating func requirePorts(_ option: String) throws(FetchProblem) {
        guard proto == 6 || proto == 17 else { throw fail("\(option) needs -p tcp or -p udp (flowspec ports are TCP/UDP ports)") }
    }

    mutating func jump(_ t: String) throws(FetchProblem) {
        switch t {
        case "ACCEPT": effect.verdict = .accept
        case "DROP": effect.verdict = .drop
        case "REJECT":
            effect.verdict = .drop
            effect.warnings.append("REJECT read as drop: flowspec cannot send the ICMP error/TCP reset")
            if i < tokens.count, tokens[i] == "--reject-with" { i += 2 }
        case "LOG", "NFLOG":
            effect.sample = true
            while i < tokens.count, tokens[i].hasPrefix("--log-") || tokens[i].hasPrefix("--nflog-") {
                i += 2
            }
        case "DSCP":
            guard i + 1 < tokens.count else { throw fail("-j DSCP without --set-dscp") }
            let opt = tokens[i], value = tokens[i + 1]
            i += 2
            if opt == "--set-dscp", let d = number(value), d <= 63 { effect.dscp = UInt8(d) }
            else if opt == "--set-dscp-class", let d = Self.dscpClasses[value.lowercased()] { effect.dscp = d }
            else { throw fail("-j DSCP \(opt) \(value) not understood") }
        case "MARK":
            guard i + 1 < tokens.count else { throw fail("-j MARK without a value") }
            let opt = tokens[i], value = tokens[i + 1]
            i += 2
            let parts = value.split(separator: "/")
            guard opt == "--set-mark" || opt == "--set-xmark", let m = number(String(parts[0])), m <= 0xffff_ffff else {
                throw fail("-j MARK \(opt) \(value) not understood")
            }
            if parts.count == 2, let mask = number(String(parts[1])), mask != 0xffff_ffff {
                throw fail("-j MARK with a partial mask \(value): only whole marks map to route targets")
            }
            effect.mark = UInt32(m)
        case "RETURN": throw fail("-j RETURN: the rule's effect depends on the calling chain")
        default: throw fail("-j \(t): only ACCEPT, DROP, REJECT, LOG, NFLOG, DSCP and MARK have flowspec equivalents")
        }
    }

    static let dscpClasses: [String: UInt8] = [
        "cs0": 0, "cs1": 8, "cs2": 16, "cs3": 24, "cs4": 32, "cs5": 40, "cs6": 48, "cs7": 56, "be": 0, "ef": 46,
        "af11": 10, "af12": 12, "af13": 14, "af21": 18, "af22": 20, "af23": 22, "af31": 26, "af32": 28, "af33": 30,
        "af41": 34, "af42": 36, "af43": 38,
    ]

    func number(_ s: String) -> UInt64? { UInt64(decimalOrHex: s[...]) }

    func prefix(_ text: String) -> FlowPrefix? {
        let parts = text.split(separator: "/")
        guard let a = IPAddress(parts[0]), a.family == family else { return nil }
        if parts.count == 1 { return FlowPrefix(address: a, length: family.bitWidth) }
        if let l = Int(parts[1]) { return FlowPrefix(address: a, length: l) }
        // Dotted mask: must be contiguous.
        guard let m = IPAddress(parts[1]), m.family == .ipv4 else { return nil }
        let v = m.ipv4Value, len = v.leadingZeroBitCount == 0 ? (~v).leadingZeroBitCount : 0
        guard len == 32 || v == ~(UInt32.max >> UInt32(len)) || (len == 0 && v == 0) else { return nil }
        return FlowPrefix(address: a, length: len)
    }

    func range(_ text: String, max: UInt64) throws(FetchProblem) -> IntervalSet {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw fail("bad range \(text)") }
        let a = parts[0].isEmpty ? 0 : number(String(parts[0]))
        let b = parts.count == 2 ? (parts[1].isEmpty ? max : number(String(parts[1]))) : a
        guard let a, let b, a <= b, b <= max else { throw fail("bad range \(text)") }
        return IntervalSet([a...b])
    }

    func ports(_ text: String, negated: Bool) throws(FetchProblem) -> IntervalSet {
        var set = IntervalSet()
        for item in text.split(separator: ",") {
            let name = String(item)
            let services: [String: UInt64] = ["http": 80, "https": 443, "ssh": 22, "domain": 53, "ntp": 123, "smtp": 25, "telnet": 23]
            if let s = services[name] { set = set.union(IntervalSet([s...s])) } else { set = set.union(try range(name, max: 0xffff)) }
        }
        return negated ? set.complement(max: 0xffff) : set
    }

    func flags(_ text: String) throws(FetchProblem) -> UInt64 {
        let names: [String: UInt64] = ["FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20,
                                       "ALL": 0x3f, "NONE": 0]
        var v: UInt64 = 0
        for n in text.split(separator: ",") {
            guard let b = names[n.uppercased()] else { throw fail("unknown TCP flag \(n)") }
            v |= b
        }
        return v
    }

    func rate(_ text: String) -> Double? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let n = Double(parts[0]) else { return nil }
        switch parts[1] {
        case "s", "sec", "second": return n
        case "m", "min", "minute": return n / 60
        case "h", "hour": return n / 3600
        case "d", "day": return n / 86400
        default: return nil
        }
    }

    func icmp(_ text: String, v6: Bool) -> (UInt64, UInt64?)? {
        let v4names: [String: (UInt64, UInt64?)] = [
            "echo-reply": (0, nil), "pong": (0, nil), "destination-unreachable": (3, nil),
            "network-unreachable": (3, 0), "host-unreachable": (3, 1), "protocol-unreachable": (3, 2),
            "port-unreachable": (3, 3), "fragmentation-needed": (3, 4), "source-quench": (4, nil), "redirect": (5, nil),
            "echo-request": (8, nil), "ping": (8, nil), "time-exceeded": (11, nil), "ttl-exceeded": (11, 0),
            "parameter-problem": (12, nil), "timestamp-request": (13, nil), "timestamp-reply": (14, nil),
        ]
        let v6names: [String: (UInt64, UInt64?)] = [
            "destination-unreachable": (1, nil), "no-route": (1, 0), "communication-prohibited": (1, 1),
            "address-unreachable": (1, 3), "port-unreachable": (1, 4), "packet-too-big": (2, nil),
            "time-exceeded": (3, nil), "ttl-exceeded": (3, 0), "parameter-problem": (4, nil),
            "echo-request": (128, nil), "ping": (128, nil), "echo-reply": (129, nil), "pong": (129, nil),
            "router-solicitation": (133, nil), "router-advertisement": (134, nil),
            "neighbour-solicitation": (135, nil), "neighbor-solicitation": (135, nil),
            "neighbour-advertisement": (136, nil), "neighbor-advertisement": (136, nil),
        ]
        if let n = (v6 ? v6names : v4names)[text] { return n }
        let parts = text.split(separator: "/")
        guard let t = UInt64(parts[0]), t <= 255 else { return nil }
        if parts.count == 2 { guard let c = UInt64(parts[1]), c <= 255 else { return nil }; return (t, c) }
        return (t, nil)
    }
}
