import FlowSpec

extension CanonicalJSON {
    /// Writes routes as `{"routes":[` + one route per line + `]}`, so a diff of two route sets
    /// shows one line per changed route. Keys come in a fixed order (family, match in component
    /// type order, actions, large-communities, comment); reading the text back gives equal `FlowRoute`s.
    public static func write(_ routes: [FlowRoute]) -> String {
        var out = "{\"routes\":["
        for (i, r) in routes.enumerated() {
            out += i == 0 ? "\n" : ",\n"
            appendRoute(r, to: &out)
            out += "}"
        }
        out += routes.isEmpty ? "]}\n" : "\n]}\n"
        return out
    }

    /// Like `write(_: [FlowRoute])`, keeping `"withdrawn": true` where a reader saw a withdrawal.
    public static func write(_ routes: [ReadRoute]) -> String {
        var out = "{\"routes\":["
        for (i, r) in routes.enumerated() {
            out += i == 0 ? "\n" : ",\n"
            appendRoute(r.route, to: &out)
            if r.withdrawn { out += ",\"withdrawn\":true" }
            out += "}"
        }
        out += routes.isEmpty ? "]}\n" : "\n]}\n"
        return out
    }

    /// One route as a JSON object, in the canonical form.
    public static func json(_ route: FlowRoute) -> String {
        var out = ""
        appendRoute(route, to: &out)
        return out + "}"
    }

    /// One extended community as an action object: the readable form when it re-encodes to the
    /// same 8 octets, otherwise `{"community":"0x…"}` so nothing is lost.
    public static func json(_ community: ExtendedCommunity) -> String {
        let a = community.action
        var readable: String? = nil
        switch a {
        case .trafficRateBytes(let asn, let r):
            if let t = floatText(r) { readable = "{\"traffic-rate-bytes\":\(t)" + (asn != 0 ? ",\"asn\":\(asn)}" : "}") }
        case .trafficRatePackets(let asn, let r):
            if let t = floatText(r) { readable = "{\"traffic-rate-packets\":\(t)" + (asn != 0 ? ",\"asn\":\(asn)}" : "}") }
        case .trafficAction(let s, let t):
            readable = "{\"traffic-action\":{\"sample\":\(s),\"terminal\":\(t)}}"
        case .redirect(let t):
            readable = "{\"redirect\":\"\(RouteTargetText.format(t))\"}"
        case .routeTarget(let t):
            readable = "{\"route-target\":\"\(RouteTargetText.format(t))\"}"
        case .redirectToIP(let address, let copy):
            readable = "{\"redirect-to-ip\":{\"address\":\"\(address)\",\"copy\":\(copy)}}"
        case .trafficMarking(_, let v):
            readable = "{\"traffic-marking\":\(v)}"
        case .unknown:
            break
        }
        if let readable, a.community == community { return readable }
        let digits = String(community.rawValue, radix: 16)
        return "{\"community\":\"0x" + String(repeating: "0", count: 16 - digits.count) + digits + "\"}"
    }

    /// One IPv6 address-specific extended community as an action object: the readable form when
    /// it re-encodes to the same 20 octets, otherwise `{"ipv6-community":"0x…"}` (40 hex digits).
    public static func json(_ community: IPv6ExtendedCommunity) -> String {
        let a = community.action
        var readable: String? = nil
        switch a {
        case .redirectToIP(let address, let copy):
            readable = "{\"redirect-to-ip\":{\"address\":\"\(address)\",\"copy\":\(copy)}}"
        case .rtRedirect(let address, let local):
            readable = "{\"rt-redirect-ipv6\":{\"address\":\"\(address)\",\"local\":\(local)}}"
        case .unknown:
            break
        }
        if let readable, a.community == community { return readable }
        return "{\"ipv6-community\":\"0x" + hexString(community.bytes) + "\"}"
    }

    /// A route's match object, as in the canonical route (`{"destination":"203.0.113.10/32",…}`).
    public static func matchJSON(_ route: FlowRoute) -> String {
        var out = "{"
        appendMatch(route, to: &out)
        return out + "}"
    }

    /// Appends a route object without its closing brace, so callers can add members.
    static func appendRoute(_ r: FlowRoute, to out: inout String) {
        out += "{\"family\":\""
        out += r.family.name
        out += "\",\"match\":{"
        appendMatch(r, to: &out)
        out += "},\"actions\":["
        for (i, c) in r.extendedCommunities.enumerated() {
            if i > 0 { out += "," }
            out += json(c)
        }
        // Attribute 25's after attribute 16's: the reader sorts them back by size.
        for (i, c) in r.ipv6ExtendedCommunities.enumerated() {
            if i > 0 || !r.extendedCommunities.isEmpty { out += "," }
            out += json(c)
        }
        out += "]"
        if !r.largeCommunities.isEmpty {
            out += ",\"large-communities\":["
            out += r.largeCommunities.map { "\"\($0.global):\($0.local1):\($0.local2)\"" }.joined(separator: ",")
            out += "]"
        }
        if let comment = r.comment {
            out += ",\"comment\":"
            out += quoted(comment)
        }
    }

    /// The match object's members.
    static func appendMatch(_ r: FlowRoute, to out: inout String) {
        for (i, c) in r.components.enumerated() {
            if i > 0 { out += "," }
            out += "\""
            out += c.type.name
            out += "\":\""
            switch c {
            case .destinationPrefix(let p), .sourcePrefix(let p): out += p.description
            case .numeric(_, let terms): out += OperatorText.format(terms)
            case .bitmask(let type, let terms): out += OperatorText.format(terms, type: type)
            }
            out += "\""
        }
    }

    /// A JSON number that reads back as exactly `f` (integers without a fraction), or nil when
    /// there is none (NaN, infinities), in which case the raw community is written.
    static func floatText(_ f: Float) -> String? {
        guard f.isFinite else { return nil }
        let t: String
        if f == f.rounded(), abs(f) < 1e15, !(f == 0 && f.sign == .minus) {
            t = String(Int64(f))
        } else {
            t = f.description
        }
        guard let back = Float(t), back.bitPattern == f.bitPattern else { return nil }
        return t
    }

    /// A JSON string literal (quotes included).
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
