/// Short text for messages, logs and `show`: the components by their canonical names, operator
/// lists as `>=1024&<=2048,==80` (`&` = AND with the previous term, `,` = OR), bitmask terms as
/// `=0x02` (match), `~0x02` (any bit), with `!` for not.
extension FlowRoute: CustomStringConvertible {
    public var description: String {
        var parts = [family.name]
        for c in components { parts.append(c.description) }
        return parts.joined(separator: " ")
    }
}

extension Component: CustomStringConvertible {
    public var description: String {
        switch self {
        case .destinationPrefix(let p), .sourcePrefix(let p): return "\(type.name) \(p)"
        case .numeric(let t, let terms):
            let text = terms.enumerated().map { i, term in
                (i == 0 ? "" : term.and ? "&" : ",") + (term.symbol == "false" || term.symbol == "true" ? term.symbol : term.symbol + "\(term.value)")
            }.joined()
            return "\(t.name) \(text)"
        case .bitmask(let t, let terms):
            let text = terms.enumerated().map { i, term in
                (i == 0 ? "" : term.and ? "&" : ",") + (term.not ? "!" : "") + (term.match ? "=" : "~") + "0x" + String(term.value, radix: 16)
            }.joined()
            return "\(t.name) \(text)"
        }
    }
}

extension FlowAction: CustomStringConvertible {
    public var description: String {
        switch self {
        case .trafficRateBytes(_, let r): r == 0 ? "traffic-rate 0 (drop)" : "traffic-rate \(r) bytes/s"
        case .trafficRatePackets(_, let r): r == 0 ? "traffic-rate-packets 0 (drop)" : "traffic-rate \(r) packets/s"
        case .trafficAction(let s, let t): "traffic-action" + (s ? " sample" : "") + (t ? " terminal(continue)" : "") + (!s && !t ? " none" : "")
        case .redirect(let rt): "redirect \(rt)"
        case .redirectToIP(let a, let copy): "redirect-to-ip \(a)" + (copy ? " copy" : "")
        case .trafficMarking(let d, let v): v == UInt64(d) ? "traffic-marking dscp \(d)" : "traffic-marking dscp \(d) (value \(v))"
        case .routeTarget(let rt): "route-target \(rt)"
        case .unknown(let c): "extended-community 0x" + hexString(c.bytes)
        }
    }
}
