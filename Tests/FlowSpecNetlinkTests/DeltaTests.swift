import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
@testable import FlowSpecNetlink

/// The table the CLI would install for these routes: RFC order, compiled, content set names.
private func table(_ routes: [FlowRoute], merge: Bool = false) -> NftTable {
    ContentSetNames.apply(compile(routes.ordered(.rfc), options: CompileOptions(merge: merge)).table)
}

/// The merge set elements of `table` that carry one of `identities` as their comment.
private func elementCount(of identities: Set<String>, in table: NftTable) -> Int {
    table.sets.reduce(0) { n, set in n + set.elements.count { $0.comment.map(identities.contains) ?? false } }
}

/// The change planned from `state` to `table`, or nil (recorded as an issue) when a replace was.
private func planned(_ state: TableState, _ table: NftTable, _ what: String,
                     sourceLocation: SourceLocation = #_sourceLocation) -> TableChange? {
    switch TableChange.plan(from: state, to: table) {
    case .inPlace(let change): return change
    case .replace(let why): Issue.record("\(what) was planned as a replace: \(why)", sourceLocation: sourceLocation); return nil
    }
}

/// Routes (runs of rules with one comment) a change inserts.
private func insertedRoutes(_ change: TableChange) -> Int {
    var count = 0, last: String?
    for insert in change.insertedRules where insert.rule.comment != last { count += 1; last = insert.rule.comment }
    return count
}

/// Records which parts of two states differ (the states themselves are too long to print).
private func expectEqualStates(_ a: TableState?, _ b: TableState, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let a else { Issue.record("no state", sourceLocation: sourceLocation); return }
    guard a != b else { return }
    var parts: [String] = []
    if a.routes != b.routes { parts.append("routes") }
    if a.sets != b.sets { parts.append("sets") }
    if a.objects != b.objects { parts.append("objects") }
    if a.generation != b.generation { parts.append("generation") }
    if a.chainDigest != b.chainDigest { parts.append("chain") }
    for (name, m) in a.mergeSets where b.mergeSets[name] != m {
        let other = b.mergeSets[name]
        let sample = other.map { o in Set(m.elements).subtracting(o.elements).prefix(1).map { "\($0)" } } ?? []
        parts.append("merge set \(name) (\(m.elements.count) vs \(other?.elements.count ?? -1) elements, definitions \(m.definition == other?.definition ? "equal" : "differ"); \(sample))")
    }
    Issue.record("states differ in: \(parts.joined(separator: ", "))", sourceLocation: sourceLocation)
}

@Suite("Delta updates against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct DeltaTests {
    let generator = RouteGenerator()

    /// Old: routes 0..<600. New: ten removed here and there, three added (they sort into the
    /// middle and the ends), one kept route with a changed action, and a rate-limited route
    /// turned into a drop (its limit object goes away).
    func scenario() -> (old: [FlowRoute], new: [FlowRoute]) {
        let old = generator.routes(count: 600)
        var new = old.enumerated().filter { ![3, 50, 51, 52, 199, 300, 301, 450, 598, 599].contains($0.offset) }.map(\.element)
        new += [generator.route(1000), generator.route(20_000), generator.route(700)]
        new[10] = FlowRoute(family: .ipv4, components: new[10].components,
                            actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 2_000_000)])
        // Route 27 is rate-limited (27 % 10 == 7); it becomes a drop.
        let limited = new.firstIndex { $0 == old[27] }!
        new[limited] = FlowRoute(family: .ipv4, components: new[limited].components,
                                 actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        return (old, new)
    }

    @Test(arguments: [false, true])
    func aDeltaReadsBackEqualToAFullApplyOfTheNewTable(merge: Bool) throws {
        let (oldRoutes, newRoutes) = scenario()
        let old = table(oldRoutes, merge: merge), new = table(newRoutes, merge: merge)

        let connection = try NftConnection.inNewNamespace()
        let (_, tracked) = try connection.applyTracked(old)
        let state = try #require(tracked)
        // The state kept from the commit equals the one read back through netlink.
        let readBack = try #require(try connection.listTable(name: "flowspec", family: .inet))
        expectEqualStates(TableState(installed: readBack, generation: state.generation), state)

        guard let plan = planned(state, new, "a small change") else { return }
        if merge {
            // The routes live in set elements, which carry their route's identity: exactly the
            // elements of the routes taken out or changed go, those of the routes added or changed come.
            let gone = Set(oldRoutes.filter { !newRoutes.contains($0) }.map(\.identity))
            let came = Set(newRoutes.filter { !oldRoutes.contains($0) }.map(\.identity))
            try #require(gone.count == 12 && came.count == 5)
            #expect(plan.removedElementCount == elementCount(of: gone, in: old))
            #expect(plan.addedElementCount == elementCount(of: came, in: new))
            #expect(plan.deletedRules.count + plan.insertedRules.count < 10)
        } else {
            #expect(plan.deletedRules.count == 12)   // ten removed, one changed action, one limit → drop
            #expect(insertedRoutes(plan) == 5)       // three added, the two changed ones
        }
        var after = state
        try connection.apply(plan, over: &after)
        let installed = try #require(try connection.listTable(name: "flowspec", family: .inet))

        let reference = try NftConnection.inNewNamespace()
        try reference.apply(new)
        let full = try #require(try reference.listTable(name: "flowspec", family: .inet))
        let got = withoutCounterValues(installed.table)
        // Sets are listed in creation order: a delta's new sets come last.
        let gotSets = got.sets.sorted { $0.name < $1.name }, fullSets = full.table.sets.sorted { $0.name < $1.name }
        #expect(gotSets == fullSets)
        for (a, b) in zip(gotSets, fullSets) where a != b {
            Issue.record("set \(a.name) vs \(b.name): \(a.elements.count) vs \(b.elements.count) elements, definitions equal: \(a.keyFields == b.keyFields && a.flags == b.flags)")
        }
        #expect(got.objects.sorted { $0.name < $1.name } == full.table.objects.sorted { $0.name < $1.name })
        #expect(got.chains[0].rules.map(\.comment) == full.table.chains[0].rules.map(\.comment))
        #expect(got.chains[0].rules == full.table.chains[0].rules)
        // The returned state is exactly what a read-back gives (handles included).
        expectEqualStates(TableState(installed: installed, generation: after.generation), after)
        // And a second delta from it back to the old table works too.
        guard let back = planned(after, old, "the change back") else { return }
        try connection.apply(back, over: &after)
        let again = try #require(try connection.listTable(name: "flowspec", family: .inet))
        let reference2 = try NftConnection.inNewNamespace()
        try reference2.apply(old)
        var expected = withoutCounterValues(try #require(try reference2.listTable(name: "flowspec", family: .inet)).table)
        var got2 = withoutCounterValues(again.table)
        // Objects are listed in creation order: the re-created limit comes last.
        expected.objects.sort { $0.name < $1.name }
        got2.objects.sort { $0.name < $1.name }
        expected.sets.sort { $0.name < $1.name }
        got2.sets.sort { $0.name < $1.name }
        #expect(got2 == expected)
    }

    @Test func keptRoutesKeepTheirHandlesAndNothingElseIsSent() throws {
        let routes = generator.routes(count: 200)
        let connection = try NftConnection.inNewNamespace()
        let state = try #require(try connection.applyTracked(table(routes)).1)
        guard let plan = planned(state, table(routes + [generator.route(5000)]), "one added route") else { return }
        #expect(plan.deletedRules.isEmpty && insertedRoutes(plan) == 1)
        var after = state
        let report = try connection.apply(plan, over: &after)
        // Begin, table, the route's two rules, end: its port list (89, 443 + 9: the generator
        // shifts ports by i / 512) is a rule per port (docs/lowering.md, "Value lists").
        #expect(report.messages == 5)
        #expect(plan.newSets.isEmpty)
        let keptHandles = Set(state.routes.flatMap(\.handles))
        #expect(keptHandles.isSubset(of: Set(after.routes.flatMap(\.handles))))
        guard let none = planned(after, table(routes + [generator.route(5000)]), "no change") else { return }
        #expect(none.isEmpty)
    }

    @Test func aOneRouteChangeOfAMergedTableTouchesOneElementEach() throws {
        let routes = generator.routes(count: 2000)
        let connection = try NftConnection.inNewNamespace()
        let state = try #require(try connection.applyTracked(table(routes, merge: true)).1)
        #expect(!state.mergeSets.isEmpty)
        var changed = routes
        changed.remove(at: 1234)
        changed.append(generator.route(9000))
        let new = table(changed, merge: true)
        guard let plan = planned(state, new, "a one-route change of a merged table") else { return }
        #expect(plan.deletedRules.isEmpty && plan.insertedRules.isEmpty)
        // Route 1234 is UDP to one port: one element; route 9000 TCP to two ports: two.
        #expect(plan.removedElementCount == elementCount(of: [routes[1234].identity], in: table(routes, merge: true)))
        #expect(plan.addedElementCount == elementCount(of: [generator.route(9000).identity], in: new))
        #expect(plan.removedElementCount == 1 && plan.addedElementCount == 2)
        var after = state
        let report = try connection.apply(plan, over: &after)
        // Begin, table, one element message per set changed each way, end: nothing else.
        #expect(report.messages == 3 + plan.removedElements.count + plan.addedElements.count)
        let installed = try #require(try connection.listTable(name: "flowspec", family: .inet))
        let reference = try NftConnection.inNewNamespace()
        try reference.apply(new)
        let full = try #require(try reference.listTable(name: "flowspec", family: .inet))
        #expect(withoutCounterValues(installed.table).sets == full.table.sets)
        #expect(withoutCounterValues(installed.table).chains == withoutCounterValues(full.table).chains)
        // The state after the delta survives the state file.
        #expect(TableState(serialized: after.serialized()) == after)
        // A cut or padded file is no state.
        #expect(TableState(serialized: Array(after.serialized().dropLast())) == nil)
        #expect(TableState(serialized: after.serialized() + [0]) == nil)
        expectEqualStates(TableState(installed: installed, generation: after.generation), after)
    }

    /// A value set whose content changes while the compiler's name for it stays (`set0` both
    /// times, in tables given without content set names): a plan that trusted names would keep
    /// the rule and the set, and the kernel would go on matching the old ports.
    @Test func aSetThatKeepsItsNameWithOtherContentIsNotLeftStale() throws {
        func ports(_ values: [UInt64]) -> FlowRoute {
            let terms = values.map { NumericTerm(eq: true, value: $0, valueLength: 2) }
            return FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.7/32")!),
                                                         .numeric(.ipProtocol, [NumericTerm(and: false, lt: false, gt: false, eq: true, value: 6, valueLength: 1)]),
                                                         .numeric(.destinationPort, terms)],
                             actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        }
        let options = CompileOptions(merge: false)
        // As the compiler names them: no `ContentSetNames`.
        // Nine ports: a shorter list is a rule per port, no set (docs/lowering.md, "Value lists").
        let shared: [UInt64] = [22, 80, 443, 500, 600, 700, 800, 900]
        let old = compile([ports(shared + [8080])], options: options).table
        let new = compile([ports(shared + [9090])], options: options).table
        try #require(old.sets.map(\.name) == new.sets.map(\.name) && old.sets.count == 1 && old.sets != new.sets)
        let connection = try NftConnection.inNewNamespace()
        var state = try #require(try connection.applyTracked(old).1)
        guard let change = planned(state, new, "a changed port list") else { return }
        try connection.apply(change, over: &state)
        let installed = try #require(try connection.listTable(name: "flowspec", family: .inet))
        let reference = try NftConnection.inNewNamespace()
        try reference.apply(ContentSetNames.apply(new))
        let full = try #require(try reference.listTable(name: "flowspec", family: .inet))
        #expect(withoutCounterValues(installed.table).sets == full.table.sets)
        #expect(installed.table.sets.flatMap(\.elements).contains { $0.key == [0x23, 0x82] })   // 9090
        #expect(!installed.table.sets.flatMap(\.elements).contains { $0.key == [0x1f, 0x90] })  // 8080
    }

    @Test func aFailingDeltaLeavesTheOldTableExactly() throws {
        let (oldRoutes, newRoutes) = scenario()
        let old = table(oldRoutes)
        let connection = try NftConnection.inNewNamespace()
        var state = try #require(try connection.applyTracked(old).1)
        let before = try #require(try connection.listTable(name: "flowspec", family: .inet))
        // A state that is wrong about one handle: the delete of that rule fails (ENOENT), and
        // with it the whole batch, inserts and deletes before and after it included.
        let victim = try #require(state.routes.firstIndex { $0.identity == oldRoutes[3].identity })
        state.routes[victim].handles[0] = 999_999
        guard let plan = planned(state, table(newRoutes), "the scenario") else { return }
        do {
            _ = try connection.apply(plan, over: &state)
            Issue.record("a delete of a missing handle was committed")
        } catch let error {
            guard case .rejected(let faults) = error else { Issue.record("unexpected \(error)"); return }
            #expect(faults.contains { $0.errno == ENOENT && $0.object == .rule(chain: "filter", index: 0, comment: state.routes[victim].identity) })
        }
        #expect(try connection.listTable(name: "flowspec", family: .inet) == before)
    }

    @Test func aStaleGenerationIsRefusedAndChangesNothing() throws {
        let (oldRoutes, newRoutes) = scenario()
        let connection = try NftConnection.inNewNamespace()
        let state = try #require(try connection.applyTracked(table(oldRoutes)).1)
        let stale = try connection.generation()
        // Someone else changes the ruleset (another table) after the state was taken.
        try connection.apply(NftTable(name: "other", family: .ip, chains: [NftChain(name: "c")]))
        let before = try #require(try connection.listTable(name: "flowspec", family: .inet))
        guard let plan = planned(state, table(newRoutes), "the scenario") else { return }
        #expect(stale == state.generation)
        var current = state
        #expect(throws: NetlinkError.generationChanged(expected: stale)) {
            _ = try connection.apply(plan, over: &current)
        }
        #expect(current == state)
        #expect(try connection.listTable(name: "flowspec", family: .inet) == before)
    }
}

@Suite("Delta planning")
struct DeltaPlanningTests {
    let routes = RouteGenerator().routes(count: 100)

    func state(_ t: NftTable) throws -> TableState {
        let shape = try #require(TableShape(t))
        return TableState(shape: shape, handles: { UInt64($0 + 10) }, generation: 1)
    }

    @Test func foreignCommentsAndChangedChainsFallBackToFullReplace() throws {
        let t = table(routes)
        let s = try state(t)
        var merged = t
        merged.chains[0].rules[5].comment = "merged: 3 routes"
        guard case .replace(let why) = TableChange.plan(from: s, to: merged) else { Issue.record("merged form planned as delta"); return }
        #expect(why.contains("merge set"))
        #expect(TableShape(merged) == nil)
        var policy = t
        policy.chains[0].base?.policy = .drop
        guard case .replace = TableChange.plan(from: s, to: policy) else { Issue.record("policy change planned as delta"); return }
        var renamed = t
        renamed.name = "other"
        guard case .replace = TableChange.plan(from: s, to: renamed) else { Issue.record("other table planned as delta"); return }
    }

    @Test func largeChangesFallBackToFullReplace() throws {
        let big = RouteGenerator().routes(count: 20_000)
        let s = try state(table(big))
        let tenth = big.count / 10
        let changed = Array(big[tenth...]) + RouteGenerator().routes(count: 30_000)[20_000..<(20_000 + tenth)]
        guard case .replace(let why) = TableChange.plan(from: s, to: table(Array(changed))) else {
            Issue.record("a 10% change of 20k routes was planned as a delta"); return
        }
        #expect(why.contains("cheaper"))
        guard case .inPlace = TableChange.plan(from: s, to: table(Array(big.dropFirst()))) else {
            Issue.record("one removed route of 20k was not a delta"); return
        }
    }

    @Test func contentSetNamesDoNotDependOnOrderOfCompilation() throws {
        let a = table(routes)
        let b = table(Array(routes[40...]) + Array(routes[..<40]))
        #expect(a == b)
        let c = ContentSetNames.apply(compile(Array(routes[50...]).ordered(.rfc), options: CompileOptions(merge: false)).table)
        #expect(Set(c.sets.map(\.name)).isSubset(of: Set(a.sets.map(\.name))))
        #expect(!a.sets.contains { $0.name.hasPrefix("set") })
    }
}

/// A large chain's shape is made in two parts on two CPUs (`TableShape.init`); it must be the
/// shape one pass over the chain makes, and refuse what one pass refuses.
@Suite struct TableShapeHalvesTests {
    typealias RouteShape = (identity: String, rules: Range<Int>, digest: UInt64)

    /// The routes of one pass over an unmerged table (merged tables never have `Tuning.shapeHalvesMinRules`
    /// rules, so there are no merge sets here).
    func onePass(_ t: NftTable) -> [RouteShape]? {
        let objects = Dictionary(uniqueKeysWithValues: t.objects.map { ($0.name, TableState.ObjectEntry($0)) })
        let rules = t.chains[0].rules
        return TableShape.routes(of: rules, 0..<rules.count, objects: objects, mergeSets: [:])?.routes
            .map { ($0.identity, $0.rules, $0.digest) }
    }

    @Test func halvesMakeTheShapeOfOnePass() throws {
        // 20% of the generated routes are rate limited: two rules each. Two tables: the middle of
        // the chain falls between two routes in one, inside a route in the other.
        var middles: Set<Bool> = []
        for count in Tuning.shapeHalvesMinRules..<(Tuning.shapeHalvesMinRules + 10) {
            let t = table(RouteGenerator().routes(count: count))
            let rules = t.chains[0].rules, middle = rules.count / 2
            guard middles.insert(rules[middle].comment == rules[middle - 1].comment).inserted else { continue }
            let shape = try #require(TableShape(t))
            let single = try #require(onePass(t))
            #expect(shape.routes.count == single.count)
            #expect(zip(shape.routes, single).allSatisfy { $0.identity == $1.identity && $0.rules == $1.rules && $0.digest == $1.digest })
            #expect(shape.routes.last?.rules.upperBound == t.chains[0].rules.count)
        }
        #expect(middles == [false, true])
    }

    @Test func aRouteInBothHalvesIsRefused() {
        var t = table(RouteGenerator().routes(count: Tuning.shapeHalvesMinRules))
        let rules = t.chains[0].rules
        // The first route's identity again on the last rule: the two halves each see it once.
        t.chains[0].rules[rules.count - 1].comment = rules[0].comment
        #expect(onePass(t) == nil)
        #expect(TableShape(t) == nil)
    }
}
