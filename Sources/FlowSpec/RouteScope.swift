/// Route-target scoping: which routes a switch installs.
///
/// A controller tags routes with route targets (RFC 4360) to aim them at some switches; a switch
/// installs the routes that carry one of its targets. Routes with no target at all are installed
/// or ignored as configured. No targets configured means no scoping: every route is installed.
public struct RouteScope: Hashable, Sendable {
    public enum Untargeted: String, Hashable, Sendable, CaseIterable {
        /// Routes without any route target apply everywhere.
        case apply
        /// Routes without any route target are ignored.
        case ignore
    }

    public var targets: Set<RouteTarget>
    public var untargeted: Untargeted

    public init(targets: Set<RouteTarget> = [], untargeted: Untargeted = .apply) {
        self.targets = targets
        self.untargeted = untargeted
    }

    /// Every route is installed.
    public static let all = RouteScope()

    public func admits(_ route: FlowRoute) -> Bool {
        if targets.isEmpty { return true }
        let carried = route.routeTargets
        if carried.isEmpty { return untargeted == .apply }
        return carried.contains { targets.contains($0) }
    }
}
