import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecTestSupport
import Foundation
import Logging
import Testing
@testable import FlowSpecAgent

/// Records the tables the agent's keeper asked the kernel to replace; can be told to refuse. It
/// keeps no state of them, so every write is a whole table.
final class FakeApplier: TableWriter, @unchecked Sendable {
    private let lock = NSLock()
    private var _applied = [NftTable]()
    private var _removed = [String]()
    private var _failures = 0

    var applied: [NftTable] { lock.withLock { _applied } }
    var removed: [String] { lock.withLock { _removed } }
    func failNext(_ n: Int) { lock.withLock { _failures = n } }

    func generation() throws -> UInt32 { 1 }
    func stamp(ofTable name: String, family: NftFamily) throws -> UInt64? { nil }

    func replace(_ table: consuming NftTable, shape: TableShape?) throws -> (ApplyReport, TableState?) {
        let table = copy table
        try lock.withLock {
            if _failures > 0 { _failures -= 1; throw SourceError("fake kernel refusal") }
            _applied.append(table)
        }
        return (.nothing(generation: 1), nil)
    }

    func apply(_ change: TableChange, over state: inout TableState) throws -> ApplyReport {
        throw SourceError("this writer replaces whole tables only")
    }

    func tableExists(name: String, family: NftFamily) throws -> Bool { lock.withLock { !_applied.isEmpty } }
    func deleteTable(name: String, family: NftFamily) throws { lock.withLock { _removed.append(name) } }
}

/// Also takes changes, keeps the table they make, as the kernel would (`applyingChange`), and
/// the state of it the keeper plans with (made-up handles); can be told to refuse changes.
final class ChangeApplier: TableWriter, @unchecked Sendable {
    private let lock = NSLock()
    private var _tables = 0
    private var _changes = [TableChange]()
    private var _current: NftTable?
    private var _refuseChanges = false
    private var nextHandle: UInt64 = 1

    /// Read by the agent's task while a test sets it: under the lock like the rest.
    var refuseChanges: Bool {
        get { lock.withLock { _refuseChanges } }
        set { lock.withLock { _refuseChanges = newValue } }
    }
    var tables: Int { lock.withLock { _tables } }
    var changes: [TableChange] { lock.withLock { _changes } }
    var current: NftTable? { lock.withLock { _current } }

    func generation() throws -> UInt32 { 1 }
    func stamp(ofTable name: String, family: NftFamily) throws -> UInt64? { lock.withLock { _current == nil ? nil : UInt64(_tables) } }

    func replace(_ table: consuming NftTable, shape: TableShape?) throws -> (ApplyReport, TableState?) {
        let table = copy table
        return lock.withLock {
            _tables += 1; _current = table
            let first = nextHandle
            nextHandle += UInt64(table.ruleCount)
            let stamp = UInt64(_tables)
            let state = TableShape(table).map { TableState(shape: $0, handles: { first + UInt64($0) }, generation: 1, stamp: stamp) }
            return (.nothing(generation: 1), state)
        }
    }

    func apply(_ change: TableChange, over state: inout TableState) throws -> ApplyReport {
        try lock.withLock {
            if _refuseChanges { throw SourceError("refused") }
            _changes.append(change)
            _current = _current.map { applyingChange(change, to: $0) }
            let handles = change.insertedRules.indices.map { nextHandle + UInt64($0) }
            nextHandle += UInt64(handles.count)
            state.update(by: change, handles: handles)
        }
        return .nothing(generation: 1)
    }

    func tableExists(name: String, family: NftFamily) throws -> Bool { lock.withLock { _current != nil } }
    func deleteTable(name: String, family: NftFamily) throws { lock.withLock { _current = nil } }
}

/// Every route identity a table holds: rule comments and set element comments.
func heldIdentities(_ t: NftTable?) -> Set<String> {
    guard let t else { return [] }
    var out = Set(t.chains.flatMap { $0.rules.compactMap(\.comment) }.filter(RouteIdentity.isIdentity))
    for s in t.sets { out.formUnion(s.elements.compactMap(\.comment)) }
    return out
}

/// A source that delivers what the test pushes, and ends when the test finishes it.
struct FakeSource: RouteSource {
    let name = "fake"
    let defaultDebounce: Duration = .zero
    let events: AsyncStream<SourceEvent>
    let push: AsyncStream<SourceEvent>.Continuation

    init() { (events, push) = AsyncStream.makeStream(of: SourceEvent.self) }

    func run(_ sink: any SourceSink) async {
        for await e in events { await sink.deliver(e) }
    }
}

func route(_ dst: String, proto: UInt64? = nil, rate: Float = 0) -> FlowRoute {
    var components: [Component] = [.destinationPrefix(FlowPrefix(dst)!)]
    if let proto { components.append(.numeric(.ipProtocol, [NumericTerm(and: false, lt: false, gt: false, eq: true, value: proto, valueLength: 1)])) }
    return FlowRoute(family: dst.contains(":") ? .ipv6 : .ipv4, components: components,
                     actions: [.trafficRateBytes(asn: 0, bytesPerSecond: rate)])
}

func result(_ routes: [FlowRoute], withdrawn: Bool = false) -> ReadResult {
    ReadResult(routes: routes.enumerated().map { ReadRoute(route: $0.element, withdrawn: withdrawn, position: "route \($0.offset + 1)") })
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Duration = .seconds(120), _ condition: () async -> Bool) async -> Bool {
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

func makeAgent(_ applier: sending any TableWriter, merge: Bool = false, debounce: Duration = .zero, timeout: Duration = .seconds(30),
               policy: SourceLossPolicy = .keep, guards: InstallGuards = InstallGuards()) -> Agent {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return Agent(configuration: AgentConfiguration(options: CompileOptions(merge: merge), debounce: debounce, sourceTimeout: timeout,
                                                   onSourceLoss: policy, guards: guards),
                 writer: applier, logger: logger)
}

/// The route identities (rule comments) of a table.
func identities(_ t: NftTable?) -> Set<String> {
    Set(t?.chains.flatMap { $0.rules.compactMap(\.comment) } ?? [])
}

@Suite struct AgentTests {
    let a = route("203.0.113.1/32"), b = route("203.0.113.2/32", proto: 6), c = route("2001:db8::1/128")

    @Test func changesAreAppliedOnceAndSameTableTouchesNothing() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier)
        await agent.deliver(.snapshot(result([a, b])))
        #expect(await eventually { applier.applied.count == 1 })
        #expect(identities(applier.applied.last) == [a.identity, b.identity])
        // The same routes again, a re-announcement, a withdrawal of an unknown route: nothing sent.
        await agent.deliver(.snapshot(result([a, b])))
        await agent.deliver(.update(result([b])))
        await agent.deliver(.update(result([c], withdrawn: true)))
        try? await Task.sleep(for: .milliseconds(100))
        #expect(applier.applied.count == 1)
        // One more route: one more apply, logged as one addition.
        await agent.deliver(.snapshot(result([a, b, c])))
        #expect(await eventually { applier.applied.count == 2 })
        #expect(identities(applier.applied.last) == [a.identity, b.identity, c.identity])
        let last = await agent.lastApplied
        #expect(last?.added == 1 && last?.removed == 0 && last?.installed == 3)
        // A changed action on the same NLRI is a change, and a withdrawal removes.
        await agent.deliver(.update(result([route("203.0.113.1/32", rate: 12500)])))
        #expect(await eventually { await agent.lastApplied?.changed == 1 })
        await agent.deliver(.update(result([b], withdrawn: true)))
        #expect(await eventually { identities(applier.applied.last) == [a.identity, c.identity] })
        #expect(applier.removed.isEmpty)
    }

    @Test func debounceMakesABurstOneApply() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier, debounce: .milliseconds(300))
        let routes = (1...5).map { route("203.0.113.\($0)/32") }
        let start = ContinuousClock.now
        for r in routes { await agent.deliver(.update(result([r]))) }
        try? await Task.sleep(for: .milliseconds(100))
        // Checked only when this task really ran within the debounce time (a loaded machine can
        // wake it later, when the apply is due).
        let nothingYet = applier.applied.isEmpty
        if ContinuousClock.now - start < .milliseconds(250) {
            #expect(nothingYet, "applied before the debounce time was over")
        }
        #expect(await eventually { applier.applied.count == 1 })
        try? await Task.sleep(for: .milliseconds(400))
        #expect(applier.applied.count == 1)
        #expect(identities(applier.applied.first) == Set(routes.map(\.identity)))
    }

    /// Parts of a change still arriving are taken in but not applied; the update that completes
    /// the change applies them with its own routes, and does so when it brings nothing more.
    @Test func partialUpdatesWaitForTheUpdateThatCompletesThem() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier)
        await agent.deliver(.snapshot(result([a])))
        #expect(await eventually { applier.applied.count == 1 })
        let more = (2...5).map { route("203.0.113.\($0)/32") }
        await agent.deliver(.partialUpdate(result(Array(more[..<2]))))
        await agent.deliver(.partialUpdate(result([a], withdrawn: true)))
        try? await Task.sleep(for: .milliseconds(200))
        #expect(applier.applied.count == 1, "a partial update was applied on its own")
        #expect(await agent.routes.count == 2)
        await agent.deliver(.update(result(Array(more[2...]))))
        #expect(await eventually { applier.applied.count == 2 })
        #expect(identities(applier.applied.last) == Set(more.map(\.identity)))
        // Completed by an update with nothing in it.
        await agent.deliver(.partialUpdate(result([more[0]], withdrawn: true)))
        try? await Task.sleep(for: .milliseconds(200))
        #expect(applier.applied.count == 2)
        await agent.deliver(.update(result([])))
        #expect(await eventually { applier.applied.count == 3 })
        #expect(identities(applier.applied.last) == Set(more[1...].map(\.identity)))
        // An empty update with no change in progress applies nothing.
        await agent.deliver(.update(result([])))
        try? await Task.sleep(for: .milliseconds(200))
        #expect(applier.applied.count == 3)
    }

    @Test func failedReadsKeepTheTable() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier, timeout: .milliseconds(200), policy: .keep)
        let source = FakeSource()
        let run = Task { await agent.run(source) }
        source.push.yield(.snapshot(result([a, b])))
        #expect(await eventually { applier.applied.count == 1 })
        source.push.yield(.failed("vtysh exited with status 1"))
        try? await Task.sleep(for: .milliseconds(500))
        #expect(applier.applied.count == 1)
        #expect(applier.removed.isEmpty)
        #expect(await agent.installed == applier.applied.last)
        run.cancel()
        source.push.finish()
        await run.value
    }

    @Test func sourceLossFlushesAfterTheTimeoutAndRecovers() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier, timeout: .milliseconds(300), policy: .flush)
        let source = FakeSource()
        let run = Task { await agent.run(source) }
        source.push.yield(.snapshot(result([a])))
        #expect(await eventually { applier.applied.count == 1 })
        let failedAt = ContinuousClock.now
        source.push.yield(.failed("bgpd not running"))
        source.push.yield(.failed("bgpd not running"))
        #expect(await eventually { applier.removed == ["flowspec"] })
        #expect(ContinuousClock.now - failedAt >= .milliseconds(300), "flushed before --source-timeout")
        #expect(await agent.installed == nil)
        try? await Task.sleep(for: .milliseconds(400))
        #expect(applier.removed.count == 1, "the policy acts once per loss")
        // The source comes back with the same routes: the table is installed again.
        source.push.yield(.snapshot(result([a])))
        #expect(await eventually { applier.applied.count == 2 })
        run.cancel()
        source.push.finish()
        await run.value
    }

    @Test func endOfStreamAppliesThePolicyAtOnce() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier, timeout: .seconds(30), policy: .flush)
        let source = FakeSource()
        let run = Task { await agent.run(source) }
        source.push.yield(.update(result([a])))
        #expect(await eventually { applier.applied.count == 1 })
        source.push.finish()
        await run.value
        #expect(applier.removed == ["flowspec"])
    }

    @Test func resyncDropsRoutesNotAnnouncedAgainAtEndOfRIB() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier)
        await agent.deliver(.update(result([a, b, c])))
        #expect(await eventually { applier.applied.count == 1 })
        await agent.deliver(.resync)
        await agent.deliver(.update(result([a])))
        await agent.deliver(.endOfRIB(.ipv6))
        #expect(await eventually { identities(applier.applied.last) == [a.identity, b.identity] })
        await agent.deliver(.endOfRIB(.ipv4))
        #expect(await eventually { identities(applier.applied.last) == [a.identity] })
        #expect(await agent.routes == [a])
    }

    @Test func kernelRefusalKeepsTheOldTableAndRetries() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier)
        applier.failNext(1)
        await agent.deliver(.snapshot(result([a])))
        try? await Task.sleep(for: .milliseconds(200))
        #expect(applier.applied.isEmpty)
        #expect(await agent.installed == nil)
        #expect(await eventually(.seconds(120)) { applier.applied.count == 1 })
    }

    @Test func reconfigureRenamesTheTable() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier)
        await agent.deliver(.snapshot(result([a])))
        #expect(await eventually { applier.applied.count == 1 })
        var config = await agent.configuration
        config.options.tableName = "fs2"
        await agent.reconfigure(config)
        #expect(applier.removed == ["flowspec"])
        #expect(applier.applied.last?.name == "fs2")
        // The same configuration again: nothing to do.
        await agent.reconfigure(config)
        #expect(applier.applied.count == 2)
    }

    @Test func snapshotReaderErrorsDoNotHideGoodRoutes() async {
        let applier = FakeApplier()
        let agent = makeAgent(applier)
        var r = result([a])
        r.errors = [ReadError(position: "ipv4 route 2", reason: "truncated JSON")]
        await agent.deliver(.snapshot(r))
        #expect(await eventually { applier.applied.count == 1 })
        #expect(await agent.lastApplied?.installed == 1)
        #expect(identities(applier.applied.last) == [a.identity])
    }
}

@Suite struct IncrementalAgentTests {

    @Test func afterTheFirstTableOnlyChangesAreSent() async throws {
        let generator = RouteGenerator()
        let routes = generator.routes(count: 300)
        let applier = ChangeApplier()
        let agent = makeAgent(applier, merge: true)
        await agent.deliver(.snapshot(result(routes)))
        #expect(await eventually { applier.tables == 1 })
        // Updates: one route withdrawn, one announced, one changed; each a change, no table.
        await agent.deliver(.update(result([routes[7]], withdrawn: true)))
        #expect(await eventually { applier.changes.count == 1 })
        await agent.deliver(.update(result([generator.route(400)])))
        #expect(await eventually { applier.changes.count == 2 })
        var changed = routes[20]
        changed.extendedCommunities = [FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 2_000_000).community]
        try #require(changed != routes[20])
        await agent.deliver(.update(result([changed])))
        #expect(await eventually { applier.changes.count == 3 })
        #expect(await agent.lastApplied?.changed == 1)
        #expect(applier.tables == 1)
        // The table the changes made holds exactly the routes held, and is the agent's table.
        let held = Set(await agent.routes.map(\.identity))
        #expect(heldIdentities(applier.current) == held)
        func normalized(_ t: NftTable?) -> NftTable? {
            guard var t else { return nil }
            t.sets.sort { $0.name < $1.name }
            for i in t.sets.indices { t.sets[i].elements.sort { $0.key.lexicographicallyPrecedes($1.key) } }
            t.objects.sort { $0.name < $1.name }
            return t
        }
        #expect(normalized(applier.current) == normalized(await agent.installed))
        // A snapshot that differs in one route is one change too.
        var snapshot = await agent.routes
        snapshot.removeLast()
        await agent.deliver(.snapshot(result(snapshot)))
        #expect(await eventually { applier.changes.count == 4 })
        #expect(heldIdentities(applier.current) == Set(snapshot.map(\.identity)))
        #expect(applier.tables == 1)
    }

    @Test func aLargeChangeRebuildsTheWholeTable() async {
        let routes = RouteGenerator().routes(count: 1200)
        let applier = ChangeApplier()
        let agent = makeAgent(applier, merge: true)
        await agent.deliver(.snapshot(result(routes)))
        #expect(await eventually { applier.tables == 1 })
        // More than 1,000 routes and half of them: a whole table, not a change.
        await agent.deliver(.update(result(Array(routes[0..<1100]), withdrawn: true)))
        #expect(await eventually { applier.tables == 2 })
        #expect(applier.changes.isEmpty)
        #expect(heldIdentities(applier.current) == Set(routes[1100...].map(\.identity)))
    }

    /// With --max-withdraw, a change that takes out too many routes is refused, in place or
    /// whole: the last good table stays until the routes come back; a smaller one goes in.
    @Test(arguments: [true, false])
    func tooManyWithdrawnKeepsTheLastGoodTable(merge: Bool) async {
        let routes = RouteGenerator().routes(count: 100)
        let applier = ChangeApplier()
        let agent = makeAgent(applier, merge: merge, guards: InstallGuards(maxWithdrawal: 0.5))
        await agent.deliver(.snapshot(result(routes)))
        #expect(await eventually { applier.tables == 1 })
        let before = applier.current
        await agent.deliver(.update(result(Array(routes[..<60]), withdrawn: true)))
        #expect(await eventually { await agent.refusedCount == 1 })
        #expect(applier.current == before)
        // The routes come back: nothing to do. Then 30 go: allowed.
        await agent.deliver(.update(result(Array(routes[..<60]))))
        await agent.deliver(.update(result(Array(routes[..<30]), withdrawn: true)))
        #expect(await eventually { heldIdentities(applier.current) == Set(routes[30...].map(\.identity)) })
        #expect(await agent.refusedCount == 1)
    }

    /// A poll whose every route is unreadable (a speaker gone wrong) is refused: the last good
    /// table stays, the refusal is counted; a readable poll goes in again.
    @Test func aPollWithNothingUsableKeepsTheLastGoodTable() async {
        let routes = RouteGenerator().routes(count: 20)
        let applier = ChangeApplier()
        let agent = makeAgent(applier, merge: true)
        await agent.deliver(.snapshot(result(routes)))
        #expect(await eventually { applier.tables == 1 })
        let before = applier.current
        await agent.deliver(.snapshot(ReadResult(routes: [], errors: [ReadError(position: "route 1", reason: "not a flowspec route")])))
        #expect(await eventually { await agent.refusedCount == 1 })
        #expect(applier.current == before)
        await agent.deliver(.snapshot(result(Array(routes[..<15]))))
        #expect(await eventually { heldIdentities(applier.current) == Set(routes[..<15].map(\.identity)) })
    }

    @Test func aRefusedChangeFallsBackToTheWholeTable() async {
        let generator = RouteGenerator()
        let applier = ChangeApplier()
        let agent = makeAgent(applier, merge: true)
        await agent.deliver(.snapshot(result(generator.routes(count: 50))))
        #expect(await eventually { applier.tables == 1 })
        applier.refuseChanges = true
        await agent.deliver(.update(result([generator.route(60)])))
        #expect(await eventually { applier.tables == 2 })
        #expect(heldIdentities(applier.current) == Set(await agent.routes.map(\.identity)))
        // And the next change goes in place again.
        applier.refuseChanges = false
        await agent.deliver(.update(result([generator.route(61)])))
        #expect(await eventually { applier.changes.count == 1 })
        #expect(applier.tables == 2)
    }
}

@Suite struct SourceParsingTests {
    @Test func shellWordsSplitsLikeAShell() throws {
        #expect(try shellWords("vtysh --vty_socket /run/frr") == ["vtysh", "--vty_socket", "/run/frr"])
        #expect(try shellWords(#"vtysh -N 'site a' "x y" a\ b "q\"q" 'it''s'"#) == ["vtysh", "-N", "site a", "x y", "a b", "q\"q", "its"])
        #expect(try shellWords("  gobgp   -p 50051 ") == ["gobgp", "-p", "50051"])
        #expect(throws: SourceError.self) { try shellWords("vtysh 'open") }
        #expect(throws: SourceError.self) { try shellWords("   ") }
    }

    @Test func gobgpSummaryCount() {
        let text = "Table afi:AFI_IP safi:SAFI_FLOW_SPEC_UNICAST\nDestination: 12, Path: 13\n"
        #expect(GoBGPSource.destinations(inSummary: text) == 12)
        #expect(GoBGPSource.destinations(inSummary: "rpc error: connection refused") == nil)
    }

    /// Lines captured from `gobgp monitor global rib -a ipv4-flowspec -j` on gobgpd 3.10: an
    /// ipv6 path shows up on the ipv4 monitor, and a withdrawal carries `"withdrawal": true`.
    @Test func gobgpMonitorLinesFromARealGobgpd() {
        let announce = #"[{"nlri":{"value":[{"type":1,"value":{"prefix":"203.0.113.1/32"}},{"type":3,"value":[{"op":129,"value":6}]},{"type":5,"value":[{"op":129,"value":80}]}]},"age":1795736618,"best":false,"attrs":[{"type":1,"value":2},{"type":16,"value":[{"type":128,"subtype":6,"as":0,"rate":100}]},{"type":14,"nexthop":"0.0.0.0","afi":1,"safi":133,"value":[{"value":[{"type":1,"value":{"prefix":"203.0.113.1/32"}},{"type":3,"value":[{"op":129,"value":6}]},{"type":5,"value":[{"op":129,"value":80}]}]}]}],"stale":false}]"#
        let v6 = #"[{"nlri":{"value":[{"type":1,"value":{"prefix":"2001:db8::1/128"},"offset":0}]},"age":1795736618,"best":false,"attrs":[{"type":1,"value":2},{"type":16,"value":[{"type":128,"subtype":6,"as":0,"rate":1000}]},{"type":14,"nexthop":"::","afi":2,"safi":133,"value":[{"value":[{"type":1,"value":{"prefix":"2001:db8::1/128"},"offset":0}]}]}],"stale":false}]"#
        let withdraw = announce.replacingOccurrences(of: #""stale":false}]"#, with: #""stale":false,"withdrawal":true}]"#)
        let r1 = GoBGPReader.readMonitorLine(announce)
        let r2 = GoBGPReader.readMonitorLine(v6)
        let r3 = GoBGPReader.readMonitorLine(withdraw)
        #expect(r1.errors.isEmpty && r2.errors.isEmpty && r3.errors.isEmpty)
        #expect(r1.routes.count == 1 && r1.routes.first?.withdrawn == false)
        #expect(r1.routes.first?.route.components.count == 3)
        #expect(r1.routes.first?.route.actions == [.trafficRateBytes(asn: 0, bytesPerSecond: 100)])
        #expect(r2.routes.first?.route.family == .ipv6)
        #expect(r3.routes.first?.withdrawn == true)
        #expect(r3.routes.first?.route.nlriBytes == r1.routes.first?.route.nlriBytes)
    }

    @Test func exabgpLinesBecomeEvents() {
        let update = #"{ "exabgp": "4.0.1", "time": 1.0, "counter": 8, "type": "update", "neighbor": { "address": { "local": "192.0.2.10", "peer": "192.0.2.9" }, "asn": { "local": 65108, "peer": 65309 } , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": [ 65309 ], "confederation-path": [], "extended-community": [ { "value": 9225060886715039744, "string": "rate-limit:0" } ] }, "announce": { "ipv4 flow": { "no-nexthop": [ { "destination-ipv4": [ "203.0.113.73/32" ], "protocol": [ "=udp" ], "string": "flow destination-ipv4 203.0.113.73/32 protocol =udp" } ] } } } } } }"#
        let eor = #"{ "exabgp": "4.0.1", "type": "update", "neighbor": { "address": { "local": "192.0.2.10", "peer": "192.0.2.9" }, "direction": "receive", "message": { "eor": { "afi" : "ipv6", "safi" : "flow" } } } }"#
        let up = #"{ "exabgp": "4.0.1", "time": 1.0, "type": "state", "neighbor": { "address": { "local": "192.0.2.10", "peer": "192.0.2.9" }, "asn": { "local": 65108, "peer": 65309 }, "state": "up" } }"#
        let down = up.replacingOccurrences(of: #""state": "up""#, with: #""state": "down""#)
        guard case .update(let r) = ExaBGPSource.events(update, lineNumber: 1).first else { Issue.record("no update"); return }
        #expect(r.routes.count == 1 && r.routes[0].route.family == .ipv4)
        guard case .endOfRIB(let f) = ExaBGPSource.events(eor, lineNumber: 2).first else { Issue.record("no eor"); return }
        #expect(f == .ipv6)
        guard case .resync = ExaBGPSource.events(up, lineNumber: 3).first else { Issue.record("no resync"); return }
        guard case .failed = ExaBGPSource.events(down, lineNumber: 4).first else { Issue.record("no failure"); return }
        #expect(ExaBGPSource.events("", lineNumber: 5).isEmpty)
    }

    /// The stream source on a pipe: lines become routes, EOF loses the source.
    @Test func exabgpSourceReadsAPipeToItsEnd() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let applier = FakeApplier()
        let agent = makeAgent(applier, policy: .flush)
        let readEnd = fds[0]
        let run = Task { await agent.run(ExaBGPSource(fd: readEnd)) }
        let line = #"{ "type": "update", "neighbor": { "direction": "receive", "message": { "update": { "attribute": { "extended-community": [ { "value": 9225060886715039744 } ] }, "announce": { "ipv6 flow": { "no-nexthop": [ { "destination-ipv6": [ "2001:db8:113::20/128/0" ], "string": "flow destination-ipv6 2001:db8:113::20/128/0" } ] } } } } } }"# + "\n"
        _ = line.withCString { write(fds[1], $0, strlen($0)) }
        #expect(await eventually { applier.applied.count == 1 })
        #expect(await agent.routes.first?.family == .ipv6)
        close(fds[1])
        await run.value
        #expect(applier.removed == ["flowspec"])
        close(fds[0])
    }
}

/// `FRRSource.poll` against a scripted vtysh: a session that goes down while the routes are read
/// must not give a table (FRR drops a lost peer's routes family by family).
@Suite struct FRRPollTests {
    /// A vtysh that answers the summaries from `summaries` (one line per call, in order: `up` or
    /// `down`, then the table version, 1 if none; `none`: `{}`, a family no peer is activated in) and the route dumps with one IPv4 route; each
    /// route dump is logged to `details`. With `dumps`, the IPv4 dumps are those, one per call, in order.
    func fakeVtysh(_ summaries: [String], dumps: [String] = []) throws -> (vtysh: [String], dir: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-vtysh-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("dumps"), withIntermediateDirectories: true)
        try (summaries.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("summaries"), atomically: true, encoding: .utf8)
        for (i, d) in dumps.enumerated() {
            try d.write(to: dir.appendingPathComponent("dumps/\(i + 1)"), atomically: true, encoding: .utf8)
        }
        let script = """
            #!/bin/sh
            d=\(dir.path)
            # As vtysh: each -c command answered in turn.
            answer() {
              case "$1" in
              *summary*)
                read state version < "$d/summaries"; sed -i 1d "$d/summaries"
                if [ "$state" = none ]; then printf '{}'; exit 0; fi
                if [ "$state" = up ]; then s=Established; else s=Active; fi
                printf '{"tableVersion":%s,"peers":{"192.0.2.1":{"state":"%s","peerUptimeMsec":60000,"pfxRcd":1}}}' "${version:-1}" "$s" ;;
              *"ipv4 flowspec detail"*)
                echo ipv4 >> "$d/details"
                next=$(ls "$d/dumps" | sort -n | head -1)
                if [ -n "$next" ]; then cat "$d/dumps/$next"; rm "$d/dumps/$next"; exit 0; fi
                printf '[{"to":"203.0.113.96/32","proto":"= 6 "},{"ecomlist":"FS:rate 0.000000"},{"time":"00:00:09"}]' ;;
              *) echo other >> "$d/details"; printf '' ;;
              esac
            }
            while [ $# -gt 0 ]; do
              if [ "$1" = -c ]; then (answer "$2"); echo; shift 2; else shift; fi
            done
            """
        let path = dir.appendingPathComponent("vtysh")
        try script.write(to: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
        return ([path.path], dir)
    }

    @Test func aSessionLostDuringThePollIsAFailedRead() async throws {
        // Summaries are read per family: before the routes (ipv4, ipv6), after them (ipv4, ipv6).
        let (vtysh, dir) = try fakeVtysh(["up", "up", "down", "down"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let poll = await FRRSource(vtysh: vtysh, interval: .seconds(1)).poll()
        guard case .failure(let e) = poll else { Issue.record("a poll across a lost session gave routes"); return }
        #expect(e.description.contains("went down while its routes were read"))
    }

    /// A poll whose summaries (table versions, peers) are those of the last full read does not
    /// read the routes; another table version does. Also for an FRR with IPv4 flowspec peers only,
    /// whose IPv6 summary is `{}` (`none`): its polls read the whole RIB every time before (at
    /// 50k routes 0.65 s of CPU per second in watch, and the fabric's FRR leaf took 7.5 s per change).
    @Test(arguments: ["up 3", "none"])
    func unchangedSummariesSkipTheRoutes(ipv6Summary: String) async throws {
        let (vtysh, dir) = try fakeVtysh(["up 7", "up 7", "up 7", "up 8", "up 8"].flatMap { [$0, ipv6Summary] })
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = FRRSource(vtysh: vtysh, interval: .seconds(1))
        let details = { (try? String(contentsOf: dir.appendingPathComponent("details"), encoding: .utf8))?.split(separator: "\n").count ?? 0 }
        guard case .success(.routes(_, let fingerprint?)) = await source.poll(unless: nil) else { Issue.record("no routes, or no fingerprint"); return }
        #expect(details() == 2)
        guard case .success(.unchanged) = await source.poll(unless: fingerprint) else { Issue.record("unchanged summaries read the routes"); return }
        #expect(details() == 2)
        guard case .success(.routes(let r, let next?)) = await source.poll(unless: fingerprint) else { Issue.record("a new table version did not read the routes"); return }
        #expect(details() == 4 && next != fingerprint && r.currentRoutes().count == 1)
    }

    /// A dump of one route array per `(host, rate)`, as bgpd prints its IPv4 flowspec RIB.
    static func dump(_ routes: [(host: Int, rate: Int)]) -> String {
        routes.map { r in
            "[\n{\"to\":\"203.0.113.\(r.host)/32\",\"proto\":\"= 6 \"},\n{\"ecomlist\":\"FS:rate \(r.rate).000000\"},\n{\"time\":\"00:00:09\"}\n]\n"
        }.joined()
    }

    /// Once a poll has given the agent the routes, the next ones give only what changed (one
    /// route of 50,000 changed cost the agent ~0.2 s of CPU as a whole dump); a poll that fails
    /// after reading the routes (a session lost meanwhile) puts the next one back to the whole
    /// dump, since the agent never got what it read. A family whose summary did not change is
    /// not read in step.
    @Test func pollsInStepGiveOnlyWhatChanged() async throws {
        let dumps = [
            Self.dump([(1, 0), (2, 0), (3, 0)]),
            Self.dump([(2, 1000), (3, 0), (4, 0)]),      // 1 gone, 2 changed, 4 new
            Self.dump([(2, 1000), (3, 0), (5, 0)]),      // read, but the session goes down meanwhile
            Self.dump([(2, 1000), (5, 0), (6, 0)]),
            Self.dump([(2, 2000), (5, 0), (6, 0)]),
        ]
        // Summaries per poll: IPv4 before and after the routes (IPv6: no peers); a new table
        // version each poll, so none is skipped; the third poll's session is gone after its read.
        let summaries = (1...5).flatMap { v in ["up \(v)", "none", v == 3 ? "down \(v)" : "up \(v)", "none"] }
        let (vtysh, dir) = try fakeVtysh(summaries, dumps: dumps)
        defer { try? FileManager.default.removeItem(at: dir) }
        let sink = RecordingSink()
        let task = Task { await FRRSource(vtysh: vtysh, interval: .milliseconds(20)).run(sink) }
        let deadline = ContinuousClock.now + .seconds(60)
        while await sink.events.count < 5 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        task.cancel()
        await task.value
        let events = Array(await sink.events.prefix(5))
        #expect(events.map(\.metricKind) == ["snapshot", "update", "failed", "snapshot", "update"], "\(events)")
        var held: [RouteID: FlowRoute] = [:]
        for (i, event) in events.enumerated() {
            switch event {
            case .snapshot(let r): held = Dictionary(r.currentRoutes().map { ($0.route.id, $0.route) }, uniquingKeysWith: { _, b in b })
            case .update(let r):
                #expect(r.routes.count == (i == 1 ? 3 : 1), "poll \(i + 1) gave \(r.routes.count) routes, not only the changes")
                for x in r.routes { held[x.route.id] = x.withdrawn ? nil : x.route }
            default: continue
            }
            let want = try FRRReader.read(dumps[i], family: .ipv4).currentRoutes()
            #expect(held == Dictionary(want.map { ($0.route.id, $0.route) }, uniquingKeysWith: { _, b in b }), "after poll \(i + 1)")
        }
        // IPv6 (no peers: its summary never changes) is read only for the whole routes.
        let details = try String(contentsOf: dir.appendingPathComponent("details"), encoding: .utf8).split(separator: "\n")
        #expect(details.count { $0 == "ipv4" } >= 5 && details.count { $0 == "other" } == 2, "\(details)")
        if case .update(let r) = events[1] {
            #expect(r.routes.allSatisfy { $0.position.hasPrefix("ipv4 read 2 ") }, "\(r.routes.map(\.position))")
            #expect(r.routes.filter(\.withdrawn).map(\.route.identity) == [route("203.0.113.1/32", proto: 6).identity])
        }
    }

    /// The summaries of both families come from one vtysh run; a vtysh (or a wrapper) that
    /// answers only the first `-c` gets them one at a time instead.
    @Test func summariesInOneRunOrOneAtATime() async throws {
        let (vtysh, dir) = try fakeVtysh(["up 4", "none"])
        defer { try? FileManager.default.removeItem(at: dir) }
        guard case .success(let both) = await FRRSource(vtysh: vtysh, interval: .seconds(1)).summaries() else { Issue.record("no summaries"); return }
        #expect(both.established == 1)
        let one = dir.appendingPathComponent("one-command")
        try """
            #!/bin/sh
            echo "$2" >> \(dir.path)/asked
            case "$2" in
            *ipv4*summary*) printf '{"tableVersion":4,"peers":{"192.0.2.1":{"state":"Established","peerUptimeMsec":60000,"pfxRcd":1}}}' ;;
            *) printf '{}' ;;
            esac
            """.write(to: one, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: one.path)
        guard case .success(let apart) = await FRRSource(vtysh: [one.path], interval: .seconds(1)).summaries() else { Issue.record("no summaries"); return }
        #expect(apart.established == 1 && apart.fingerprint == both.fingerprint)
        let asked = try String(contentsOf: dir.appendingPathComponent("asked"), encoding: .utf8).split(separator: "\n")
        #expect(asked.count == 3, "\(asked)")
    }

    @Test func aStableSessionGivesItsRoutes() async throws {
        let (vtysh, dir) = try fakeVtysh(["up", "up", "up", "up"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let poll = await FRRSource(vtysh: vtysh, interval: .seconds(1)).poll()
        guard case .success(let r) = poll else { Issue.record("a stable session gave no routes: \(poll)"); return }
        #expect(r.currentRoutes().map(\.route.identity) == [route("203.0.113.96/32", proto: 6).identity])
    }
}

/// Keeps what is logged, for tests that check what a daemon says.
final class LogRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(Logger.Level, String)] = []
    func append(_ level: Logger.Level, _ message: String) { lock.withLock { lines.append((level, message)) } }
    var messages: [(Logger.Level, String)] { lock.withLock { lines } }
}

struct RecordingLogHandler: LogHandler {
    let record: LogRecord
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        record.append(level, "\(message)")
    }
}

@Suite struct AgentNoteTests {
    /// `--unmapped-redirect ignore`: the routes keep their other actions, and the daemon says
    /// so once per route target, not once per route and commit.
    @Test func anIgnoredRedirectIsLoggedOncePerTarget() async {
        let record = LogRecord()
        let logger = Logger(label: "test") { _ in RecordingLogHandler(record: record) }
        var options = CompileOptions(merge: false)
        options.unmappedRedirect = .ignore
        let applier = FakeApplier()
        let agent = Agent(configuration: AgentConfiguration(options: options, debounce: .zero), writer: applier, logger: logger)
        func redirected(_ dst: String, _ target: String) -> FlowRoute {
            FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix(dst)!)],
                      actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 1000), .redirect(RouteTarget(target)!)])
        }
        let first = [redirected("203.0.113.1/32", "65309:7"), redirected("203.0.113.2/32", "65309:7")]
        await agent.deliver(.snapshot(result(first)))
        #expect(await eventually { applier.applied.count == 1 })
        await agent.deliver(.snapshot(result(first + [redirected("203.0.113.3/32", "65309:7"), redirected("203.0.113.4/32", "65309:8")])))
        #expect(await eventually { applier.applied.count == 2 })
        let notes = record.messages.filter { $0.1.contains("note (said once)") }
        #expect(notes.count == 2, "\(notes)")
        #expect(notes.allSatisfy { $0.0 == .notice })
        #expect(notes.contains { $0.1.contains("65309:7") } && notes.contains { $0.1.contains("65309:8") })
        // The routes are installed with their rate limit.
        #expect(identities(applier.applied.last).count == 4)
    }
}

@Suite struct ListenerSourceLogTests {
    /// `--on-peer-loss keep` keeps a lost peer's routes for ever: the log line says so instead of
    /// converting an infinite time to an integer (which trapped every listener of the fabric lab).
    @Test func aPeerKeptForEverIsLoggedWithoutTrapping() {
        #expect(BGPListenerSource.keepingFor(.infinity) == "until it is back")
        #expect(BGPListenerSource.keepingFor(89.6) == "for 90 s")
    }
}
