import FlowSpec

/// Where a route's redirect sends its packets: the VRF a route target names (RFC 8955 §7.4) or a
/// next hop (0x010c, or 0x000c in attribute 25 for IPv6: draft-ietf-idr-flowspec-redirect-ip).
/// A route's first redirect community, of either kind, is the one that applies, the extended
/// communities (attribute 16) before the IPv6 ones (attribute 25); the compiler notes the others
/// (`actionPlan`). An rt-redirect-ipv6 (RFC 8956 §6.1) is a route target with an IPv6 global.
public enum RedirectTarget: Hashable, Sendable, CustomStringConvertible {
    case routeTarget(RouteTarget)
    /// `copy`: the copy bit, a copy to the next hop while the original goes on.
    case nextHop(IPAddress, copy: Bool)

    /// The first redirect of `route`, or nil.
    public init?(of route: FlowRoute) {
        for c in route.extendedCommunities {
            switch FlowAction(c) {
            case .redirect(let rt): self = .routeTarget(rt); return
            case .redirectToIP(let ip, let copy): self = .nextHop(ip, copy: copy); return
            default: continue
            }
        }
        for c in route.ipv6ExtendedCommunities {
            switch IPv6FlowAction(c) {
            case .redirectToIP(let ip, let copy): self = .nextHop(ip, copy: copy); return
            case .rtRedirect(let address, let local):
                self = .routeTarget(RouteTarget(global: .ipv6(address), local: UInt32(local))); return
            case .unknown: continue
            }
        }
        return nil
    }

    public var description: String {
        switch self {
        case .routeTarget(let rt): "route target \(rt)"
        case .nextHop(let ip, let copy): "next hop \(ip)" + (copy ? " (copy)" : "")
        }
    }
}

/// What the compiler does with a redirect to a route target that has no mark (`--unmapped-redirect`).
public enum UnmappedRedirect: String, Sendable, Hashable, CaseIterable {
    /// The route is rejected, its other actions with it (the redirect cannot be honoured).
    case reject
    /// The redirect is left out and the route's other actions (rate, marking, drop) apply; noted.
    case ignore
}
