import FlowSpec

/// Writes routes as an ExaBGP 4.2 `flow { route NAME { match { … } then { … } } }` section, to be
/// placed inside a `neighbor` block (or a `template`) of an ExaBGP configuration.
///
/// Numeric lists use ExaBGP's `[ =80 >=1024&<=2048 ]` (space = OR, `&` = AND); bitmask lists
/// use names (`syn`, `is-fragment`) with `=` (match), `!` (not). A route ExaBGP cannot be told
/// exactly is written as a comment saying why.
public enum ExaBGPConfigWriter {
    /// `names[i]` names route *i* (default `route-<i+1>`); characters other than letters,
    /// digits, `-` and `_` become `-`.
    public static func write(_ routes: [FlowRoute], names: [String]? = nil) -> String {
        var out = "flow {\n"
        for (i, route) in routes.enumerated() {
            let raw = names?[safe: i] ?? "route-\(i + 1)"
            let name = String(raw.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
            switch routeText(route, name: name) {
            case .success(let text): out += text
            case .failure(let e):
                out += "    # route \(name) NOT WRITTEN: \(e.reason)\n"
            }
        }
        return out + "}\n"
    }

    public struct Unwritable: Error, Sendable { public var reason: String }

    public static func routeText(_ route: FlowRoute, name: String) -> Result<String, Unwritable> {
        var match: [String] = []
        for c in route.components {
            switch component(c, family: route.family) {
            case .success(let t): match.append(t)
            case .failure(let e): return .failure(e)
            }
        }
        var then: [String] = []
        for a in route.actions {
            switch a {
            case .trafficRateBytes(let asn, let r) where asn == 0 && r == 0: then.append("discard;")
            case .trafficRateBytes(let asn, let r) where asn == 0 && r >= 1 && r == r.rounded() && r <= 1e12:
                then.append("rate-limit \(Int(r));")
            case .trafficAction(let s, let t) where s || t:
                then.append("action \(s && t ? "sample-terminal" : s ? "sample" : "terminal");")
            case .redirect(let rt):
                if case .ipv4 = rt.global { then.append(raw(a.community)) }
                else { then.append("redirect \(rt);") }
            case .trafficMarking(let d, let v) where v == UInt64(d): then.append("mark \(d);")
            default: then.append(raw(a.community))
            }
        }
        // Attribute 25: ExaBGP's configuration has a word for the IPv6 redirect-to-IP without the
        // copy bit only (`redirect-to-nexthop-ietf`, 0x000c); its `extended-community` takes
        // 8-octet communities, so the others cannot be written.
        for c in route.ipv6ExtendedCommunities {
            let a = c.action
            guard case .redirectToIP(let ip, false) = a, a.community == c else {
                return .failure(Unwritable(reason: "\(a): ExaBGP's configuration cannot give this IPv6 address-specific extended community (of those it writes only redirect-to-nexthop-ietf, without the copy bit)"))
            }
            then.append("redirect-to-nexthop-ietf \(ip);")
        }
        if !route.largeCommunities.isEmpty {
            then.append("large-community [ " + route.largeCommunities.map { "\($0.global):\($0.local1):\($0.local2)" }.joined(separator: " ") + " ];")
        }
        if then.isEmpty { then.append("accept;") }
        var text = "    route \(name) {\n        match {\n"
        for m in match { text += "            \(m)\n" }
        text += "        }\n        then {\n"
        for t in then { text += "            \(t)\n" }
        text += "        }\n    }\n"
        return .success(text)
    }

    static func raw(_ c: ExtendedCommunity) -> String {
        let s = String(c.rawValue, radix: 16)
        return "extended-community [ 0x\(String(repeating: "0", count: 16 - s.count))\(s) ];"
    }

    static func component(_ c: Component, family: AddressFamily) -> Result<String, Unwritable> {
        func prefix(_ p: FlowPrefix) -> String { p.offset == 0 ? "\(p.address)/\(p.length)" : "\(p.address)/\(p.length)/\(p.offset)" }
        switch c {
        case .destinationPrefix(let p): return .success("destination \(prefix(p));")
        case .sourcePrefix(let p): return .success("source \(prefix(p));")
        case .numeric(let type, let terms):
            let keyword: String
            switch type {
            case .ipProtocol: keyword = family == .ipv4 ? "protocol" : "next-header"
            case .port: keyword = "port"
            case .destinationPort: keyword = "destination-port"
            case .sourcePort: keyword = "source-port"
            case .icmpType: keyword = "icmp-type"
            case .icmpCode: keyword = "icmp-code"
            case .packetLength: keyword = "packet-length"
            case .dscp: keyword = "dscp"
            case .flowLabel: keyword = "flow-label"
            default: return .failure(Unwritable(reason: "\(type.name) is not numeric"))
            }
            var items: [String] = []
            for t in terms {
                let op = t.symbol == "==" ? "=" : t.symbol
                let item = "\(op)\(t.value)"
                if t.and, !items.isEmpty { items[items.count - 1] += "&" + item } else { items.append(item) }
            }
            return .success("\(keyword) [ \(items.joined(separator: " ")) ];")
        case .bitmask(let type, let terms):
            let names: [UInt64: String] = type == .tcpFlags
                ? [0x01: "fin", 0x02: "syn", 0x04: "rst", 0x08: "push", 0x10: "ack", 0x20: "urgent"]
                : [0x01: "dont-fragment", 0x02: "is-fragment", 0x04: "first-fragment", 0x08: "last-fragment"]
            // Each term becomes single-bit items: `all of` = AND of `=bit`, `none of` = AND of `!bit`,
            // `any of` one bit = the bare name. Other multi-bit forms have no exact spelling.
            var items: [String] = []
            for (i, t) in terms.enumerated() {
                var bits: [String] = []
                for b in 0..<16 where t.value & (1 << UInt64(b)) != 0 {
                    guard let n = names[1 << UInt64(b)] else {
                        return .failure(Unwritable(reason: "\(type.name) bit 0x\(String(1 << b, radix: 16)) has no ExaBGP name"))
                    }
                    bits.append(n)
                }
                let piece: [String]
                switch (t.match, t.not) {
                case (true, false): piece = bits.map { "=" + $0 }
                case (false, true): piece = bits.map { "!" + $0 }
                case (false, false) where bits.count == 1: piece = bits
                case (true, true) where bits.count == 1: piece = ["!=" + bits[0]]
                case (false, false) where !(i > 0 && t.and) && !(i + 1 < terms.count && terms[i + 1].and):
                    // `any of a, b` standing alone in its OR group: the items a OR b.
                    items += bits
                    continue
                default: return .failure(Unwritable(reason: "\(type.name) term over several bits that ExaBGP cannot spell"))
                }
                let joined = piece.joined(separator: "&")
                if i > 0 && t.and, !items.isEmpty { items[items.count - 1] += "&" + joined } else { items.append(joined) }
            }
            return .success("\(type == .tcpFlags ? "tcp-flags" : "fragment") [ \(items.joined(separator: " ")) ];")
        }
    }
}
