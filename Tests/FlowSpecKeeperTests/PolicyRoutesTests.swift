import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import Foundation
import Testing

/// What happened, in order, to the nft table and to the rules and routes.
final class OperationLog { var entries: [String] = [] }

/// Rules and routes in memory, as the kernel keeps them; next hops' paths and VRF tables set by
/// the test. Every write is logged.
final class MemoryRouting: PolicyRoutingWriter {
    var ruleSet: [FibRule] = []
    var routeSet: [FibRoute] = []
    var paths: [IPAddress: NextHopPath] = [:]
    var vrfs: [String: UInt32] = [:]
    let log: OperationLog
    init(log: OperationLog) { self.log = log }

    func rules(family: AddressFamily) throws -> [FibRule] { ruleSet.filter { $0.family == family } }
    func routes(table: UInt32, family: AddressFamily) throws -> [FibRoute] { routeSet.filter { $0.table == table && $0.family == family } }
    func add(_ rule: FibRule) throws {
        guard !ruleSet.contains(rule) else { throw NotThere() }
        ruleSet.append(rule); log.entries.append("add rule 0x\(String(rule.mark, radix: 16)) \(rule.family.name) → \(rule.table)")
    }
    func delete(_ rule: FibRule) throws {
        guard let i = ruleSet.firstIndex(of: rule) else { throw NotThere() }
        ruleSet.remove(at: i); log.entries.append("delete rule 0x\(String(rule.mark, radix: 16)) \(rule.family.name)")
    }
    func replace(_ route: FibRoute) throws {
        routeSet.removeAll { $0.table == route.table && $0.destination == route.destination && $0.prefixLength == route.prefixLength }
        routeSet.append(route); log.entries.append("route \(route)")
    }
    func delete(_ route: FibRoute) throws {
        guard let i = routeSet.firstIndex(of: route) else { throw NotThere() }
        routeSet.remove(at: i); log.entries.append("delete route \(route)")
    }
    func path(to address: IPAddress) throws -> NextHopPath { paths[address] ?? .unreachable }
    func vrfTable(device: String) throws -> UInt32 {
        guard let t = vrfs[device] else { throw NotThere() }
        return t
    }
    func deviceName(_ index: UInt32) -> String? { "if\(index)" }
    struct NotThere: Error {}
}

/// The nft side, logged into the same log.
final class LoggedKernel: TableWriter {
    let kernel = MemoryKernel()
    let log: OperationLog
    init(log: OperationLog) { self.log = log }
    func generation() throws -> UInt32 { try kernel.generation() }
    func stamp(ofTable name: String, family: NftFamily) throws -> UInt64? { try kernel.stamp(ofTable: name, family: family) }
    func replace(_ table: consuming NftTable, shape: TableShape?) throws -> (ApplyReport, TableState?) {
        log.entries.append("nft replace"); return try kernel.replace(table, shape: shape)
    }
    func apply(_ change: TableChange, over state: inout TableState) throws -> ApplyReport {
        log.entries.append("nft change"); return try kernel.apply(change, over: &state)
    }
    func tableExists(name: String, family: NftFamily) throws -> Bool { try kernel.tableExists(name: name, family: family) }
    func deleteTable(name: String, family: NftFamily) throws { log.entries.append("nft delete"); try kernel.deleteTable(name: name, family: family) }
}

/// `PolicyRoutes` and the keeper's order of changes (issue #22; docs/lowering.md, "Redirect").
@Suite struct PolicyRoutesTests {
    static let nh = IPAddress("192.0.2.10")!
    static let rt = RouteTarget("65000:666")!

    static func input(_ actions: [[FlowAction]]) -> ReadResult {
        ReadResult(routes: actions.enumerated().map { i, a in
            ReadRoute(route: FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.\(10 + i)/32")!)], actions: a),
                      position: "route \(i + 1)")
        })
    }

    /// A keeper (unmerged) whose policy routes map `target` to the VRF `device` of table `table`,
    /// over in-memory routing and kernel sharing one log.
    struct VRFSetup {
        let log = OperationLog()
        let routing: MemoryRouting
        let kernel: LoggedKernel
        let policy: PolicyRoutes
        let keeper: TableKeeper

        init(_ target: RouteTarget, device: String, table: UInt32) throws {
            routing = MemoryRouting(log: log)
            routing.vrfs[device] = table
            kernel = LoggedKernel(log: log)
            policy = try PolicyRoutes(configuration: .init(vrfs: [target: device]), writer: routing)
            keeper = TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: false)), writer: kernel, policyRoutes: policy)
        }
    }

    static func marks(_ table: NftTable?) -> Set<UInt32> {
        var out = Set<UInt32>()
        for rule in table?.chains.flatMap(\.rules) ?? [] {
            for (a, b) in zip(rule.expressions, rule.expressions.dropFirst()) {
                if case .immediateData(_, let d) = a, case .metaSet(.mark, _) = b, d.count == 4 {
                    out.insert(UInt32(d[0]) | UInt32(d[1]) << 8 | UInt32(d[2]) << 16 | UInt32(d[3]) << 24)
                }
            }
        }
        return out
    }

    @Test("install: the next hop's routes, then its rule, then the nft batch; withdrawn: the batch, then the rule, then the routes")
    func orderOfChanges() throws {
        let log = OperationLog()
        let routing = MemoryRouting(log: log)
        routing.paths[Self.nh] = .via(gateway: nil, device: 3)
        let kernel = LoggedKernel(log: log)
        let keeper = TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: false)), writer: kernel,
                                 policyRoutes: try PolicyRoutes(configuration: .init(), writer: routing))
        let outcome = try keeper.install(Self.input([[.redirectToIP(Self.nh, copy: false)]]))
        #expect(outcome.rejected.isEmpty)
        #expect(Self.marks(kernel.kernel.table) == [0x4653_0000])
        #expect(log.entries == ["route 192.0.2.10/32 dev #3 table 1179844608",
                                "route default via 192.0.2.10 dev #3 table 1179844608",
                                "add rule 0x46530000 ipv4 → 1179844608",
                                "nft replace"], "\(log.entries)")
        log.entries = []
        _ = try keeper.install(Self.input([[.trafficRateBytes(asn: 0, bytesPerSecond: 0)]]))
        #expect(Self.marks(kernel.kernel.table).isEmpty)
        #expect(log.entries.first?.hasPrefix("nft") == true && log.entries.dropFirst().first == "delete rule 0x46530000 ipv4", "\(log.entries)")
        #expect(routing.routeSet.isEmpty && routing.ruleSet.isEmpty)
    }

    @Test("a VRF target: a mark from the top of the range, rules for both families to the VRF's table; remove() takes the table first")
    func vrf() throws {
        let v = try VRFSetup(Self.rt, device: "scrub", table: 666)
        let (log, routing, kernel, keeper) = (v.log, v.routing, v.kernel, v.keeper)
        #expect(v.policy.vrfMarks == [Self.rt: 0x4653_00ff])
        _ = try keeper.install(Self.input([[.redirect(Self.rt), .trafficRateBytes(asn: 0, bytesPerSecond: 1000)]]))
        #expect(Self.marks(kernel.kernel.table) == [0x4653_00ff])
        #expect(Set(routing.ruleSet) == [FibRule(family: .ipv4, priority: 100, mark: 0x4653_00ff, table: 666),
                                        FibRule(family: .ipv6, priority: 100, mark: 0x4653_00ff, table: 666)])
        #expect(routing.routeSet.isEmpty, "the VRF's table is the operator's")
        // The VRF's table changes (the device made again): the next install follows it.
        routing.vrfs["scrub"] = 777
        _ = try keeper.install(Self.input([[.redirect(Self.rt), .trafficRateBytes(asn: 0, bytesPerSecond: 1000)]]))
        #expect(Set(routing.ruleSet.map(\.table)) == [777])
        log.entries = []
        try keeper.remove()
        #expect(log.entries.first == "nft delete" && routing.ruleSet.isEmpty, "\(log.entries)")
    }

    @Test("a VRF that does not exist: nothing is changed and the error says so")
    func missingVRF() throws {
        let log = OperationLog()
        let kernel = LoggedKernel(log: log)
        let keeper = TableKeeper(configuration: KeeperConfiguration(), writer: kernel,
                                 policyRoutes: try PolicyRoutes(configuration: .init(vrfs: [Self.rt: "scrub"]), writer: MemoryRouting(log: log)))
        #expect(throws: (any Error).self) { try keeper.install(Self.input([[.redirect(Self.rt)]])) }
        #expect(kernel.kernel.table == nil && log.entries.isEmpty)
    }

    @Test("next hops: unreachable or normal-path; marks stay per next hop; a full range frees unused slots")
    func nextHops() throws {
        let routing = MemoryRouting(log: OperationLog())
        let a = IPAddress("192.0.2.10")!, b = IPAddress("192.0.2.11")!, c = IPAddress("192.0.2.12")!
        let ranges = RedirectRanges(count: 2)
        for (mode, kind) in [(UnreachableNextHop.unreachable, FibRoute.Kind.unreachable), (.normalPath, .throw)] {
            let p = try PolicyRoutes(configuration: .init(ranges: ranges, unreachableNextHop: mode), writer: routing)
            p.assign([.nextHop(a, copy: false)])
            try p.ensure([.nextHop(a, copy: false)])
            #expect(Set(routing.routeSet.map(\.kind)) == [kind])
            try p.removeAll()
        }
        let p = try PolicyRoutes(configuration: .init(ranges: ranges), writer: routing)
        p.assign([.nextHop(a, copy: false), .nextHop(b, copy: false)])
        #expect(p.nextHopMarks == [a: ranges.mark(0), b: ranges.mark(1)])
        #expect(!p.assign([.nextHop(b, copy: false)]), "kept")
        #expect(p.assign([.nextHop(b, copy: false), .nextHop(c, copy: false)]))
        #expect(p.nextHopMarks == [b: ranges.mark(1), c: ranges.mark(0)], "a's slot given to c, b keeps its mark")
    }

    @Test("an IPv6 next hop (attribute 25, 0x000c): its /128 and default in its table, an ip -6 rule, read back by the next process")
    func ipv6NextHop() throws {
        let log = OperationLog()
        let routing = MemoryRouting(log: log)
        let nh6 = IPAddress("2001:db8:2::10")!
        routing.paths[nh6] = .via(gateway: nil, device: 4)
        let kernel = LoggedKernel(log: log)
        let keeper = TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: false)), writer: kernel,
                                 policyRoutes: try PolicyRoutes(configuration: .init(), writer: routing))
        let route = FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("2001:db8:113::10/128")!)],
                              ipv6ExtendedCommunities: [IPv6FlowAction.redirectToIP(nh6, copy: false).community])
        let outcome = try keeper.install(ReadResult(routes: [ReadRoute(route: route, position: "route 1")]))
        #expect(outcome.rejected.isEmpty, "\(outcome.rejected)")
        #expect(Self.marks(kernel.kernel.table) == [0x4653_0000])
        #expect(log.entries == ["route 2001:db8:2::10/128 dev #4 table 1179844608",
                                "route default via 2001:db8:2::10 dev #4 table 1179844608",
                                "add rule 0x46530000 ipv6 → 1179844608",
                                "nft replace"], "\(log.entries)")
        // A new process finds the next hop's mark in the kernel.
        let again = try PolicyRoutes(configuration: .init(), writer: routing)
        #expect(again.nextHopMarks == [nh6: 0x4653_0000])
        // Gone: an unreachable table.
        routing.paths[nh6] = nil
        #expect(try again.follow().count == 1)
        #expect(routing.routeSet.allSatisfy { $0.kind == .unreachable && $0.family == .ipv6 })
    }

    @Test("a VRF for an rt-redirect-ipv6 target ([2001:db8::1]:666): the keeper marks the route and makes the VRF's rules; an 8-octet 65000:666 is another target")
    func ipv6RouteTargetVRF() throws {
        let rt6 = RouteTarget("[2001:db8::1]:666", allowingIPv6: true)!
        let v = try VRFSetup(rt6, device: "scrub6", table: 667)
        let (routing, kernel, policy, keeper) = (v.routing, v.kernel, v.policy, v.keeper)
        #expect(policy.vrfMarks == [rt6: 0x4653_00ff])
        let route = FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("2001:db8:113::10/128")!)],
                              ipv6ExtendedCommunities: [IPv6FlowAction.rtRedirect(address: IPAddress("2001:db8::1")!, local: 666).community])
        #expect(policy.target(of: route) == .routeTarget(rt6))
        let outcome = try keeper.install(ReadResult(routes: [ReadRoute(route: route, position: "route 1")]))
        #expect(outcome.rejected.isEmpty, "\(outcome.rejected)")
        #expect(Self.marks(kernel.kernel.table) == [0x4653_00ff])
        #expect(Set(routing.ruleSet) == [FibRule(family: .ipv4, priority: 100, mark: 0x4653_00ff, table: 667),
                                        FibRule(family: .ipv6, priority: 100, mark: 0x4653_00ff, table: 667)])
        // The 8-octet redirect 65000:666 is not mapped by the IPv6 target.
        let other = try keeper.install(Self.input([[.redirect(Self.rt)]]))
        #expect(other.rejected.count == 1 && "\(other.rejected[0])".contains("65000:666 has no VRF"), "\(other.rejected)")
    }
}
