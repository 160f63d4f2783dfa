/// Route-target scoping: which routes a switch installs.
///
/// A controller tags routes with route targets (RFC 4360) to aim them at some switches; a switch
/// installs the routes that carry one of its targets. Routes with no target at all are installed
/// or ignored as configured. No targets configured means no scoping: every route is installed.
///
/// With interface groups (`InterfaceGroups`), a route carrying a group's target is installed
/// (scoped to the group's interfaces by the compiler); the others follow the rules above, and
/// when only groups are configured, a route carrying none of their targets is "untargeted".
public struct RouteScope: Hashable, Sendable {
    public enum Untargeted: String, Hashable, Sendable, CaseIterable {
        /// Routes without any route target apply everywhere.
        case apply
        /// Routes without any route target are ignored.
        case ignore
    }

    public var targets: Set<RouteTarget>
    public var untargeted: Untargeted
    public var interfaceGroups: InterfaceGroups

    public init(targets: Set<RouteTarget> = [], untargeted: Untargeted = .apply, interfaceGroups: InterfaceGroups = InterfaceGroups()) {
        self.targets = targets
        self.untargeted = untargeted
        self.interfaceGroups = interfaceGroups
    }

    /// Every route is installed.
    public static let all = RouteScope()

    public func admits(_ route: FlowRoute) -> Bool {
        if interfaceGroups.scopes(route) { return true }
        if targets.isEmpty { return interfaceGroups.isEmpty || untargeted == .apply }
        let carried = route.routeTargets
        if carried.isEmpty { return untargeted == .apply }
        return carried.contains { targets.contains($0) }
    }
}
