import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecTestSupport
@testable import FlowSpecNetlink

/// Changes made by `IncrementalTable` and sent by `NftConnection.apply(_:over:)`, checked against
/// the kernel: after every change the table reads back exactly as the same table installed whole
/// in another namespace, and the state kept equals the state read back.
@Suite("Incremental changes against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct IncrementalKernelTests {
    let generator = RouteGenerator()

    static func route(_ dst: String, ports: ClosedRange<UInt64>, rate: Float = 0) -> FlowRoute {
        FlowRoute(family: .ipv4,
                  components: [.destinationPrefix(FlowPrefix(address: IPAddress(dst)!, length: 32)!),
                               .numeric(.ipProtocol, [.equal(6)]),
                               .numeric(.destinationPort, [NumericTerm(and: false, lt: false, gt: true, eq: true, value: ports.lowerBound),
                                                           NumericTerm(and: true, lt: true, gt: false, eq: true, value: ports.upperBound)])],
                  actions: [.trafficRateBytes(asn: 0, bytesPerSecond: rate)])
    }

    /// The installed table as a whole install of `table` in a fresh namespace lists it.
    func expectInstalled(_ connection: NftConnection, equal table: NftTable, _ step: String) throws {
        let got = try #require(try connection.listTable(name: table.name, family: .inet)).table
        let reference = try NftConnection.inNewNamespace()
        try reference.apply(table)
        let want = try #require(try reference.listTable(name: table.name, family: .inet)).table
        func norm(_ t: NftTable) -> NftTable {
            var t = normalized(t)
            t.sets.sort { $0.name < $1.name }
            t.objects.sort { $0.name < $1.name }
            for r in t.chains[0].rules.indices {
                t.chains[0].rules[r].expressions = t.chains[0].rules[r].expressions.map {
                    if case .counter = $0 { .counter(packets: 0, bytes: 0) } else { $0 }
                }
            }
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
        let (result, built) = IncrementalTable.build(routes, order: .rfc, options: CompileOptions())
        let table = try #require(built)
        let connection = try NftConnection.inNewNamespace()
        var state = try #require(try connection.applyTracked(ContentSetNames.apply(result.table)).1)
        let novelA = Self.route("203.0.113.7", ports: 1000...2000)
        let novelB = Self.route("203.0.113.8", ports: 3000...4000)
        var limited = routes.first { $0.extendedCommunities.contains { c in
            if case .trafficRateBytes(_, let r) = FlowAction(c) { r > 0 } else { false } } }!
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
            }(), { $0.deletedObjects.map(\.name) == ["rate_" + limitedID.replacingOccurrences(of: ":", with: "_")] && $0.newObjects.isEmpty }),
        ]
        var tiebreak = 10_000
        for (what, removing, adding, expected) in steps {
            let update = try #require(table.update(removing: removing.map(\.identity),
                                                   adding: adding.map { r in tiebreak += 1; return (r, tiebreak) }), "\(what)")
            #expect(expected(update.change), "\(what): \(update.change)")
            let before = state
            let report = try connection.apply(update.change, over: &state)
            try expectInstalled(connection, equal: ContentSetNames.apply(table.table), what)
            let readBack = try #require(try connection.listTable(name: "flowspec", family: .inet))
            #expect(TableState(installed: readBack, generation: state.generation) == state, "\(what): state kept vs read back")
            // Kept rules keep their handles.
            let kept = Set(before.routes.map(\.identity)).subtracting(update.change.deletedRules)
            for r in state.routes where kept.contains(r.identity) {
                #expect(before.routes.first { $0.identity == r.identity }?.handles == r.handles, "\(what): \(r.identity) kept its handles")
            }
            #expect(report.messages < 20, "\(what): \(report.messages) messages")
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
        var (result, built) = IncrementalTable.build(routes, order: .rfc, options: options)
        var table = try #require(built)
        let connection = try NftConnection.inNewNamespace()
        var state = try #require(try connection.applyTracked(ContentSetNames.apply(result.table)).1)
        var applied = 0
        var reasons: [String] = []
        for step in 0..<15 {
            var removing: [String] = []
            for _ in 0..<2 where !routes.isEmpty { removing.append(routes.remove(at: Int.random(in: 0..<routes.count, using: &r)).identity) }
            let adding = fresh(1) + [generator.route(5000 + 2 * step), generator.route(5001 + 2 * step)]
            routes += adding
            guard let update = table.update(removing: removing, adding: adding.enumerated().map { ($1, 1000 + 10 * step + $0) }) else {
                reasons.append(table.givenUp ?? "?")
                (result, built) = IncrementalTable.build(routes, order: .rfc, options: options)
                table = try #require(built)
                state = try #require(try connection.applyTracked(ContentSetNames.apply(result.table)).1)
                continue
            }
            _ = try connection.apply(update.change, over: &state)
            applied += 1
            try expectInstalled(connection, equal: ContentSetNames.apply(table.table), "step \(step)")
            let readBack = try #require(try connection.listTable(name: "flowspec", family: .inet))
            #expect(TableState(installed: readBack, generation: state.generation) == state, "step \(step): state kept vs read back")
        }
        #expect(applied >= 14, "only \(applied) of 15 changes in place; gave up: \(reasons)")
    }

    @Test func aStaleStateIsRefusedAndChangesNothing() throws {
        let routes = generator.routes(count: 100)
        let (result, built) = IncrementalTable.build(routes, order: .rfc, options: CompileOptions())
        let table = try #require(built)
        let connection = try NftConnection.inNewNamespace()
        var state = try #require(try connection.applyTracked(ContentSetNames.apply(result.table)).1)
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
