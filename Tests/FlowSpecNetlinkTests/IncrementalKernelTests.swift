import Foundation
import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecNetlink
@testable import FlowSpecCompiler

/// Changes made by `IncrementalTable` and sent by `NftConnection.apply(_:over:)`, checked against
/// the kernel: after every change the table reads back exactly as the same table installed whole
/// in another namespace, and the state kept equals the state read back.
@Suite("Incremental changes against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct IncrementalKernelTests {
    let generator = RouteGenerator()

    static func route(_ dst: String, ports: ClosedRange<UInt64>) -> FlowRoute {
        FlowRoute(family: .ipv4,
                  components: [.destinationPrefix(FlowPrefix(address: IPAddress(dst)!, length: 32)!),
                               .numeric(.ipProtocol, [.equal(6)]),
                               .numeric(.destinationPort, [NumericTerm(and: false, lt: false, gt: true, eq: true, value: ports.lowerBound),
                                                           NumericTerm(and: true, lt: true, gt: false, eq: true, value: ports.upperBound)])],
                  actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
    }

    /// `routes` built into an `IncrementalTable` and installed whole through `connection`, with
    /// the state that install left.
    func installed(_ routes: [FlowRoute], options: CompileOptions = CompileOptions(),
                   on connection: NftConnection) throws -> (IncrementalTable, TableState) {
        let (result, built) = IncrementalTable.build(routes, order: .rfc, options: options)
        let table = try #require(built)
        let state = try #require(try connection.applyTracked(ContentSetNames.apply(result.table)).1)
        return (table, state)
    }

    /// The installed table lists as a whole install of `table` in a fresh namespace lists, and
    /// `state` (kept through the changes) is the state read back.
    func expectInstalled(_ connection: NftConnection, equal table: NftTable, state: TableState, _ step: String) throws {
        let installed = try #require(try connection.listTable(name: table.name, family: .inet))
        #expect(TableState(installed: installed, generation: state.generation) == state, "\(step): state kept vs read back")
        let got = installed.table
        let reference = try NftConnection.inNewNamespace()
        try reference.apply(table)
        let want = try #require(try reference.listTable(name: table.name, family: .inet)).table
        func norm(_ t: NftTable) -> NftTable {
            var t = withoutCounterValues(normalized(t))
            t.sets.sort { $0.name < $1.name }
            t.objects.sort { $0.name < $1.name }
            return t
        }
        let a = norm(got), b = norm(want)
        #expect(a.chains[0].rules.map(\.comment) == b.chains[0].rules.map(\.comment), "\(step): rule order")
        #expect(a.chains == b.chains, "\(step): rules")
        #expect(a.sets.map(\.name) == b.sets.map(\.name), "\(step): sets")
        for (x, y) in zip(a.sets, b.sets) where x != y {
            Issue.record("\(step): set \(x.name): \(x.elements.count) vs \(y.elements.count) elements")
        }
        #expect(a.objects == b.objects, "\(step): objects")
    }

    @Test func changesReadBackAsTheIncrementalTableAndKeepTheState() throws {
        let routes = generator.routes(count: 600)
        let connection = try NftConnection.inNewNamespace()
        var (table, state) = try installed(routes, on: connection)
        let novelA = Self.route("203.0.113.7", ports: 1000...2000)
        let novelB = Self.route("203.0.113.8", ports: 3000...4000)
        var limited = try #require(routes.first(where: RouteCompiler.mayLimit))
        let limitedID = limited.identity
        let steps: [(String, [FlowRoute], [FlowRoute], (TableChange) -> Bool)] = [
            ("three routes replaced", [routes[3], routes[300], routes[599]], [generator.route(1000), generator.route(1001), generator.route(1002)],
             { $0.insertedRules.isEmpty && $0.deletedRules.isEmpty && $0.removedElementCount >= 3 && $0.addedElementCount >= 3 }),
            ("a route of a new shape: a merged rule and set of its own", [], [novelA],
             { $0.insertedRules.count == 1 && $0.newSets.count == 1 && $0.newSets[0].elements.map(\.comment) == [novelA.identity] }),
            ("a second one joins its set", [], [novelB],
             { $0.insertedRules.isEmpty && $0.newSets.isEmpty && $0.addedElements.flatMap(\.elements).map(\.comment) == [novelB.identity] }),
            ("both gone: the set and its rule go", [novelA, novelB], [],
             { $0.deletedSets.count == 1 && $0.deletedRules.count == 1 && $0.insertedRules.isEmpty }),
            ("a rate limit becomes a drop: its object goes", [limited], {
                limited.extendedCommunities = [FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0).community]
                return [limited]
            }(), { $0.deletedObjects.map(\.name) == [RouteCompiler.limitBaseName(limitedID)] && $0.newObjects.isEmpty }),
        ]
        var tiebreak = 10_000
        for (what, removing, adding, expected) in steps {
            let update = try #require(table.update(removing: removing.map(\.identity),
                                                   adding: adding.map { r in tiebreak += 1; return (r, tiebreak) }), "\(what)")
            #expect(expected(update.change), "\(what): \(update.change)")
            let before = state
            let report = try connection.apply(update.change, over: &state)
            try expectInstalled(connection, equal: ContentSetNames.apply(table.table), state: state, what)
            // Kept rules keep their handles.
            let kept = Set(before.routes.map(\.identity)).subtracting(update.change.deletedRules)
            for r in state.routes where kept.contains(r.identity) {
                #expect(before.routes.first { $0.identity == r.identity }?.handles == r.handles, "\(what): \(r.identity) kept its handles")
            }
            // Nothing else is sent: begin, table, end; a DELRULE per rule of a deleted comment;
            // one element message per set changed each way; each set and object deleted or made
            // (a new set with its elements: two); each new rule.
            let c = update.change
            let deletedHandles = before.routes.filter { c.deletedRules.contains($0.identity) }.reduce(0) { $0 + $1.handles.count }
            #expect(report.messages == 3 + deletedHandles + c.removedElements.count + c.deletedSets.count + c.deletedObjects.count
                    + c.newObjects.count + 2 * c.newSets.count + c.addedElements.count + c.insertedRules.count,
                    "\(what): \(report.messages) messages")
        }
    }

    /// Random routes of every kind (so also single rules, several rules per route, limit maps,
    /// groups in founder form turning into sets) and random updates, through netlink: every
    /// change is accepted by the kernel and reads back as the table installed whole.
    @Test func randomChangesReadBackAsTheIncrementalTable() throws {
        var r = SplitMix(state: 7)
        var seen = Set<String>()
        func fresh(_ n: Int) -> [FlowRoute] {
            (0..<n).map { _ in RandomRoutes.route(&r) }.filter { $0.firstValidationError == nil && seen.insert($0.identity).inserted }
        }
        let options = CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64])
        var routes = fresh(200) + generator.routes(count: 200).filter { seen.insert($0.identity).inserted }
        let connection = try NftConnection.inNewNamespace()
        var (table, state) = try installed(routes, options: options, on: connection)
        var applied = 0
        var reasons: [String] = []
        for step in 0..<15 {
            var removing: [String] = []
            for _ in 0..<2 where !routes.isEmpty { removing.append(routes.remove(at: Int.random(in: 0..<routes.count, using: &r)).identity) }
            let adding = fresh(1) + [generator.route(5000 + 2 * step), generator.route(5001 + 2 * step)]
            routes += adding
            guard let update = table.update(removing: removing, adding: adding.enumerated().map { ($1, 1000 + 10 * step + $0) }) else {
                reasons.append(table.givenUp ?? "?")
                (table, state) = try installed(routes, options: options, on: connection)
                continue
            }
            _ = try connection.apply(update.change, over: &state)
            applied += 1
            try expectInstalled(connection, equal: ContentSetNames.apply(table.table), state: state, "step \(step)")
        }
        #expect(applied >= 14, "only \(applied) of 15 changes in place; gave up: \(reasons)")
    }

    @Test func aStaleStateIsRefusedAndChangesNothing() throws {
        let routes = generator.routes(count: 100)
        let connection = try NftConnection.inNewNamespace()
        var (table, state) = try installed(routes, on: connection)
        let stale = state
        try connection.apply(NftTable(name: "other", family: .ip, chains: [NftChain(name: "c")]))
        let before = try #require(try connection.listTable(name: "flowspec", family: .inet))
        let update = try #require(table.update(removing: [routes[5].identity], adding: [(generator.route(500), 1000)]))
        #expect(throws: NetlinkError.generationChanged(expected: state.generation)) {
            _ = try connection.apply(update.change, over: &state)
        }
        #expect(state == stale, "a refused change leaves the state as it was")
        #expect(try connection.listTable(name: "flowspec", family: .inet) == before)
    }
}
