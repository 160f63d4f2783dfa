/// What a compiled table does that its operator may not mean, said before it is installed
/// (`apply` and `compile` print it): flowspec routes are stateless, and a default drop policy
/// drops whatever no route accepts — the replies of the flows the routes allow, and the traffic
/// of routes that only continue (traffic-action T bit set, RFC 8955 §7.3).
public enum TableAdvice {
    public static func warnings(_ table: NftTable) -> [String] {
        guard let base = table.chains.first(where: { $0.base != nil }) else { return [] }
        var out: [String] = []
        // A redirect marks packets for policy routing, which the routing decision reads: on a
        // hook after it the mark changes no route (a filter chain at output does not reroute).
        if let hook = base.base?.hook, hook == .forward || hook == .input || hook == .output,
           table.chains.contains(where: { $0.rules.contains { $0.expressions.contains { if case .metaSet(.mark, _) = $0 { true } else { false } } } }) {
            out.append("redirect routes mark packets at the \(hook.name) hook, after the routing decision: the mark sends none of them "
                       + "elsewhere; redirect needs --hook prerouting (e.g. --priority mangle) or ingress (docs/lowering.md, \"Redirect\")")
        }
        // Dropped by default: the chain policy, or a family's default-policy route as the last
        // rule (one family's 0/0 → 0/0 drop is a rule, the policy serves both families).
        guard base.base?.policy == .drop || base.rules.last.map(Self.isFamilyCatchAllDrop) == true else { return out }
        let rules = table.chains.flatMap(\.rules).filter { $0.comment.map(Self.isRouteComment) ?? false }
        let accepting = Set(rules.filter { $0.expressions.last == .immediateVerdict(.accept) }.compactMap(\.comment))
        if !accepting.isEmpty && base.rules.first.map(AcceptEstablished.isIt) != true {
            out.append("the table drops by default and \(accepting.count) rule(s) accept traffic: the replies of those flows are dropped "
                       + "unless a route accepts them too (routes are stateless); --accept-established lets them back in (docs/semantics.md)")
        }
        // A route whose last rule has no verdict lets its packets go on to the drop policy.
        var endsWithVerdict: [String: Bool] = [:], order: [String] = []
        for rule in rules {
            let c = rule.comment!
            if endsWithVerdict[c] == nil { order.append(c) }
            endsWithVerdict[c] = Self.endsWithVerdict(rule)
        }
        let continuing = order.filter { endsWithVerdict[$0] == false }
        if !continuing.isEmpty {
            let named = continuing.prefix(5).joined(separator: ", ") + (continuing.count > 5 ? " and \(continuing.count - 5) more" : "")
            out.append("\(continuing.count) route(s) only continue (traffic-action terminal bit set) into the drop policy, "
                       + "so their traffic is dropped unless a later route accepts it: \(named)")
        }
        return out
    }

    /// A route's identity (`4:…`, `6:…`) or a merged rule's `merge <set>`.
    static func isRouteComment(_ c: String) -> Bool {
        c.hasPrefix("4:") || c.hasPrefix("6:") || c.hasPrefix("merge ")
    }

    /// `meta nfproto F [counter] drop`: a default-policy route of one family.
    static func isFamilyCatchAllDrop(_ rule: NftRule) -> Bool {
        let e = rule.expressions.filter { if case .counter = $0 { false } else { true } }
        guard e.count == 3, case .meta(.nfproto, _) = e[0], case .cmp(.eq, _, _) = e[1] else { return false }
        return e[2] == .immediateVerdict(.drop)
    }

    static func endsWithVerdict(_ rule: NftRule) -> Bool {
        if case .immediateVerdict = rule.expressions.last { return true }
        return false
    }
}
