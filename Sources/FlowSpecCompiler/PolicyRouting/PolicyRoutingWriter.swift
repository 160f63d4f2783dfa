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
}
