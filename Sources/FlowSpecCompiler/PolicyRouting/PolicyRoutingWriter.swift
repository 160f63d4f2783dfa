import FlowSpec

/// What the keeper's `PolicyRoutes` needs of the kernel's routing: FlowSpecNetlink's
/// `RoutingConnection` speaks it over rtnetlink; tests may stand in for it. Verbs as in
/// `TableWriter`: `add` fails when the object exists, `replace` creates or changes, `delete`
/// fails when it is absent.
public protocol PolicyRoutingWriter: AnyObject {
    /// Every rule of `family` (the caller picks its own).
    func rules(family: AddressFamily) throws -> [FibRule]
    /// The routes of `table` in `family`.
    func routes(table: UInt32, family: AddressFamily) throws -> [FibRoute]
    func add(_ rule: FibRule) throws
    func delete(_ rule: FibRule) throws
    func replace(_ route: FibRoute) throws
    func delete(_ route: FibRoute) throws
    /// How the kernel routes to `address` now (RTM_GETROUTE, as `ip route get`).
    func path(to address: IPAddress) throws -> NextHopPath
    /// The routing table of VRF device `device` (IFLA_VRF_TABLE); throws when there is no such
    /// device or it is not a VRF.
    func vrfTable(device: String) throws -> UInt32
    /// The name of interface `index`, for people (nil when it is gone).
    func deviceName(_ index: UInt32) -> String?
    /// Whether its writes reach the kernel (`CheckedPolicyRouting`'s do not).
    var commits: Bool { get }
}

extension PolicyRoutingWriter {
    public var commits: Bool { true }
}

/// The kernel's routing read through `base`, its writes dropped: what `TableKeeper.check` gives
/// `PolicyRoutes`, so that checking a route set with redirects changes no rule or route.
public final class CheckedPolicyRouting: PolicyRoutingWriter {
    private let base: any PolicyRoutingWriter
    /// What would have been written, in order.
    public private(set) var dropped: [String] = []

    public init(_ base: any PolicyRoutingWriter) { self.base = base }

    public var commits: Bool { false }
    public func rules(family: AddressFamily) throws -> [FibRule] { try base.rules(family: family) }
    public func routes(table: UInt32, family: AddressFamily) throws -> [FibRoute] { try base.routes(table: table, family: family) }
    public func add(_ rule: FibRule) throws { dropped.append("add \(rule)") }
    public func delete(_ rule: FibRule) throws { dropped.append("delete \(rule)") }
    public func replace(_ route: FibRoute) throws { dropped.append("replace \(route)") }
    public func delete(_ route: FibRoute) throws { dropped.append("delete \(route)") }
    public func path(to address: IPAddress) throws -> NextHopPath { try base.path(to: address) }
    public func vrfTable(device: String) throws -> UInt32 { try base.vrfTable(device: device) }
    public func deviceName(_ index: UInt32) -> String? { base.deviceName(index) }
}
