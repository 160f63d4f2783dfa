import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// `change` done to `table` the way the kernel does it (`NftConnection.apply(_:over:)`): rules
/// deleted by comment, inserted before the first rule of a comment, sets, elements and objects
/// deleted and added. Elements are matched by key (and key end).
func applying(_ change: TableChange, to table: NftTable) -> NftTable {
    var t = table
    var rules = t.chains[0].rules
    let deleted = Set(change.deletedRules)
    rules.removeAll { deleted.contains($0.comment ?? "") }
    for insert in change.insertedRules {
        if let before = insert.before, let at = rules.firstIndex(where: { $0.comment == before }) {
            rules.insert(insert.rule, at: at)
        } else {
            #expect(insert.before == nil, "insert before \(insert.before!), which is not in the chain")
            rules.append(insert.rule)
        }
    }
    t.chains[0].rules = rules
    for removal in change.removedElements {
        guard let i = t.sets.firstIndex(where: { $0.name == removal.name }) else { Issue.record("no set \(removal.name)"); continue }
        for e in removal.elements {
            guard let k = t.sets[i].elements.firstIndex(where: { $0.key == e.key && $0.keyEnd == e.keyEnd }) else {
                Issue.record("set \(removal.name) has no element \(e.key)"); continue
            }
            t.sets[i].elements.remove(at: k)
        }
    }
    let gone = Set(change.deletedSets)
    t.sets.removeAll { gone.contains($0.name) }
    let goneObjects = Set(change.deletedObjects.map(\.name))
    t.objects.removeAll { goneObjects.contains($0.name) }
    t.objects += change.newObjects
    t.sets += change.newSets
    for addition in change.addedElements {
        guard let i = t.sets.firstIndex(where: { $0.name == addition.name }) else { Issue.record("no set \(addition.name)"); continue }
        t.sets[i].elements += addition.elements
    }
    return t
}

/// Where two tables differ, up to the order of sets, objects and set elements; nil when they
/// do not.
func difference(_ a: NftTable, _ b: NftTable) -> String? {
    func norm(_ t: NftTable) -> NftTable {
        var t = t
        t.sets.sort { $0.name < $1.name }
        for i in t.sets.indices { t.sets[i].elements.sort { $0.key.lexicographicallyPrecedes($1.key) } }
        t.objects.sort { $0.name < $1.name }
        return t
    }
    let x = norm(a), y = norm(b)
    if x == y { return nil }
    let rx = x.chains[0].rules, ry = y.chains[0].rules
    if rx.map(\.comment) != ry.map(\.comment) { return "rule comments \(rx.map { $0.comment ?? "" }) vs \(ry.map { $0.comment ?? "" })" }
    for (i, (p, q)) in zip(rx, ry).enumerated() where p != q { return "rule \(i) (\(p.comment ?? "")): \(p.expressions) vs \(q.expressions)" }
    if x.sets.map(\.name) != y.sets.map(\.name) { return "sets \(x.sets.map(\.name)) vs \(y.sets.map(\.name))" }
    for (p, q) in zip(x.sets, y.sets) where p != q {
        return "set \(p.name): \(p.elements.count) vs \(q.elements.count) elements, definition equal: \(p.flags == q.flags && p.keyFields == q.keyFields)"
    }
    if x.objects.map(\.name) != y.objects.map(\.name) { return "objects \(x.objects.map(\.name)) vs \(y.objects.map(\.name))" }
    return "objects differ"
}

@Suite("incremental table") struct IncrementalTests {
    static let options = MergeTests.options

    /// Unique NLRIs (a route source holds one route per NLRI).
    static func unique(_ routes: [FlowRoute]) -> [FlowRoute] {
        var seen = Set<String>()
        return routes.filter { seen.insert($0.identity).inserted }
    }

    @Test("RouteOrderKey sorts exactly as orderedIndices", arguments: [RouteOrder.rfc, .sequence(.trafficMarking)])
    func orderKeys(order: RouteOrder) {
        var r = SplitMix(state: 5)
        var routes = (0..<800).map { _ in RandomRoutes.route(&r) }
        // Some sequence numbers, some equal, some missing; some default-policy routes.
        for i in routes.indices where i % 3 == 0 {
            routes[i].extendedCommunities.append(ExtendedCommunity(type: 0x80, subtype: 0x09, value: UInt64(i % 7)))
        }
        routes.append(FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0), length: 0)!)]))
        let byIndices = routes.orderedIndices(order)
        let keys = routes.enumerated().map { RouteOrderKey($1, order: order, tiebreak: $0) }
        #expect(routes.indices.sorted { keys[$0] < keys[$1] } == byIndices)
        // The keys the sort hands back are the keys made route by route.
        let sorted = routes.orderedIndicesAndKeys(order)
        #expect(sorted.indices == byIndices)
        #expect(sorted.keys == keys)
    }

    /// Random removals, additions and changes of overlapping routes, each checked twice: the
    /// change turns the previous table into the new one, and the new table treats sampled and
    /// boundary packets exactly as an unmerged compile of the new route set (counters, limits
    /// and marks included).
    @Test("updates mean what a fresh compile of the new route set means", arguments: [UInt64(11), 12, 13])
    func randomUpdates(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        var routes = Self.unique(overlappingRoutes(&r, count: 300))
        var (result, built) = IncrementalTable.build(routes, order: .rfc, options: Self.options)
        var table = try #require(built)
        var installed = ContentSetNames.apply(result.table)
        // The size a daemon reports, carried over each change, against the new table counted.
        var size = TableSize(installed)
        var applied = 0, gaveUp = 0
        var next = 10_000
        for step in 0..<25 {
            // Take out a few routes, change one (same NLRI, other actions), add a few.
            var removing: [String] = [], adding: [(route: FlowRoute, tiebreak: Int)] = []
            for _ in 0..<Int.random(in: 0...3, using: &r) where !routes.isEmpty {
                let i = Int.random(in: 0..<routes.count, using: &r)
                removing.append(routes.remove(at: i).identity)
            }
            if step % 2 == 0, !routes.isEmpty {
                let i = Int.random(in: 0..<routes.count, using: &r)
                var changed = routes[i]
                changed.extendedCommunities = RandomRoutes.route(&r).extendedCommunities
                removing.append(changed.identity)
                routes[i] = changed
                adding.append((changed, next)); next += 1
            }
            for new in Self.unique(overlappingRoutes(&r, count: Int.random(in: 1...3, using: &r)))
            where !routes.contains(where: { $0.identity == new.identity }) {
                routes.append(new)
                adding.append((new, next)); next += 1
            }
            if let update = table.update(removing: removing, adding: adding) {
                applied += 1
                let change = update.change
                let now = ContentSetNames.apply(table.table)
                let stepped = applying(change, to: installed)
                let diff = difference(stepped, now)
                #expect(diff == nil, "step \(step): the change does not turn the installed table into the new one: \(diff ?? "")")
                size.apply(change, rules: now.ruleCount)
                #expect(size == TableSize(now), "step \(step): size carried over the change \(size), counted \(TableSize(now))")
                installed = now
            } else {
                gaveUp += 1
                (result, built) = IncrementalTable.build(routes, order: .rfc, options: Self.options)
                table = try #require(built)
                installed = ContentSetNames.apply(result.table)
                size = TableSize(installed)
                continue
            }
            // The meaning: against an unmerged compile of the routes now held, in RFC order.
            var plain = Self.options
            plain.merge = false
            let reference = compile(routes.ordered(.rfc), options: plain).table
            var sample = [TestPacket]()
            for _ in 0..<150 { sample.append(TestPacket.random(&r, like: routes.randomElement(using: &r)!)) }
            for (route, _) in adding { sample += MergeTests.boundaryPackets(route, &r) }
            var differ = 0
            for (k, p) in sample.enumerated() {
                let a = evaluate(installed, p, over: MergeTests.over(k)), b = evaluate(reference, p, over: MergeTests.over(k))
                if a != b {
                    differ += 1
                    if differ <= 3 { Issue.record("step \(step), packet \(p): incremental \(a), fresh \(b)") }
                }
            }
            #expect(differ == 0, "step \(step): \(differ) of \(sample.count) packets differ")
        }
        // Overlapping routes with per-route counters constrain placement a lot; most updates must
        // still go in place.
        #expect(applied >= 22, "only \(applied) of 25 updates applied in place (\(gaveUp) gave up)")
    }

    @Test("a generator route replaced by one of its kind: its elements out, the new one's in, only its limit object else")
    func oneRouteIsTwoElements() throws {
        let generator = RouteGenerator()
        let routes = generator.routes(count: 3000)
        let (result, built) = IncrementalTable.build(routes, order: .rfc, options: Self.options)
        let table = try #require(built)
        var installed = ContentSetNames.apply(result.table)
        for k in 0..<20 {
            // The same kind, source prefix length and destination (the generator's kind is i % 10,
            // the prefix length i % 4, the destination i % 512; 5120 is a multiple of all three):
            // other ports and source, the same group.
            let old = routes[k * 97], new = generator.route(k * 97 + 5120)
            let update = try #require(table.update(removing: [old.identity], adding: [(new, 9000 + k)]))
            let c = update.change
            #expect(c.deletedRules.isEmpty && c.insertedRules.isEmpty && c.newSets.isEmpty && c.deletedSets.isEmpty)
            #expect(c.removedElementCount >= 1 && c.removedElementCount == c.addedElementCount)
            // A rate-limited route's limit object goes and the new one's comes; nothing else.
            #expect(c.deletedObjects.map(\.name) == (RouteCompiler.mayLimit(old) ? [RouteCompiler.limitBaseName(old.identity)] : []))
            #expect(c.newObjects.map(\.name) == (RouteCompiler.mayLimit(new) ? [RouteCompiler.limitBaseName(new.identity)] : []))
            #expect(c.removedElements.allSatisfy { s in s.elements.allSatisfy { $0.comment == old.identity } })
            #expect(c.addedElements.allSatisfy { s in s.elements.allSatisfy { $0.comment == new.identity } })
            let now = ContentSetNames.apply(table.table)
            #expect(difference(applying(c, to: installed), now) == nil)
            installed = now
        }
        #expect(installed.ruleCount == result.table.ruleCount)
    }

    @Test("a rate-limited route brings its limit object and takes it away again")
    func limitObjects() throws {
        let generator = RouteGenerator()
        let routes = generator.routes(count: 200)
        let (result, built) = IncrementalTable.build(routes, order: .rfc, options: Self.options)
        let table = try #require(built)
        let limited = try #require((300..<400).map(generator.route).first { RouteCompiler.mayLimit($0) })
        let add = try #require(table.update(removing: [], adding: [(limited, 1000)]))
        #expect(add.change.newObjects.map(\.name) == [RouteCompiler.limitBaseName(limited.identity)])
        #expect(add.change.addedElements.flatMap(\.elements).compactMap(\.objectName) == [RouteCompiler.limitBaseName(limited.identity)])
        let remove = try #require(table.update(removing: [limited.identity], adding: []))
        #expect(remove.change.deletedObjects.map(\.name) == [RouteCompiler.limitBaseName(limited.identity)])
        #expect(difference(table.table, result.table) == nil)
    }

    @Test("changes it cannot make in place give up: default-policy routes, routes held twice, after giving up")
    func givesUp() throws {
        let routes = RouteGenerator().routes(count: 50)
        let (_, built) = IncrementalTable.build(routes, order: .rfc, options: Self.options)
        let table = try #require(built)
        #expect(table.update(removing: [], adding: [(routes[3], 99)]) == nil, "a route already held")
        #expect(table.update(removing: [], adding: []) == nil, "a table that gave up stays given up")
        let (_, again) = IncrementalTable.build(routes, order: .rfc, options: Self.options)
        let fresh = try #require(again)
        let policy = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0), length: 0)!)],
                               actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        #expect(fresh.update(removing: [], adding: [(policy, 99)]) == nil)
        var plain = Self.options
        plain.merge = false
        #expect(IncrementalTable.build(routes, order: .rfc, options: plain).1 == nil)
    }
}

@Suite("incremental table snapshots") struct IncrementalSnapshotTests {
    @Test("a snapshot restores the same table, and the same updates make the same changes")
    func roundTrip() throws {
        var r = SplitMix(state: 21)
        // Generator routes (hash and interval sets, limit maps) and overlapping random ones
        // (single rules, value sets of the pool, groups in single form).
        let routes = IncrementalTests.unique(RouteGenerator().routes(count: 400) + overlappingRoutes(&r, count: 200))
        let (_, built) = IncrementalTable.build(routes, order: .rfc, options: IncrementalTests.options)
        let table = try #require(built)
        let bytes = table.serialized()
        let restored = try #require(IncrementalTable.restore(bytes, options: IncrementalTests.options, order: .rfc))
        #expect(difference(restored.table, table.table) == nil)
        #expect(restored.serialized() == bytes)
        #expect(restored.installedRouteCount == table.installedRouteCount && restored.refusals == table.refusals)
        // The same change on both.
        let removing = [routes[5].identity, routes[450].identity]
        let adding = [(route: RouteGenerator().route(900), tiebreak: 2000), (route: RouteGenerator().route(901), tiebreak: 2001)]
        let a = try #require(table.update(removing: removing, adding: adding))
        let b = try #require(restored.update(removing: removing, adding: adding))
        #expect(a.change.addedElements == b.change.addedElements && a.change.removedElements == b.change.removedElements)
        #expect(a.change.insertedRules.map(\.rule) == b.change.insertedRules.map(\.rule))
        #expect(difference(restored.table, table.table) == nil)
        // Other options, another order, a cut or padded snapshot: none.
        var other = IncrementalTests.options
        other.counters = false
        #expect(IncrementalTable.restore(bytes, options: other, order: .rfc) == nil)
        #expect(IncrementalTable.restore(bytes, options: IncrementalTests.options, order: .sequence(.trafficMarking)) == nil)
        #expect(IncrementalTable.restore(Array(bytes.dropLast()), options: IncrementalTests.options, order: .rfc) == nil)
        #expect(IncrementalTable.restore(bytes + [0], options: IncrementalTests.options, order: .rfc) == nil)
    }

    @Test("a snapshot with a journal of updates restores the table those updates made")
    func journal() throws {
        let generator = RouteGenerator()
        let routes = generator.routes(count: 300)
        let (_, built) = IncrementalTable.build(routes, order: .rfc, options: IncrementalTests.options)
        let table = try #require(built)
        let base = table.serialized()
        var journal: [UInt8] = []
        var current = routes
        for k in 0..<5 {
            current.remove(at: 7 * k)
            current.append(generator.route(1000 + k))
            current[3].largeCommunities = [LargeCommunity(global: 65000, local1: UInt32(k), local2: 1)]
            let update = try #require(table.update(to: current))
            journal += IncrementalTable.journalRecord(removed: update.removed, added: update.added)
        }
        let restored = try #require(IncrementalTable.restore(base, options: IncrementalTests.options, order: .rfc))
        #expect(restored.replay(journal))
        #expect(difference(restored.table, table.table) == nil)
        #expect(restored.serialized() == table.serialized())
        // A cut record is no journal.
        let again = try #require(IncrementalTable.restore(base, options: IncrementalTests.options, order: .rfc))
        #expect(!again.replay(Array(journal.dropLast())))
    }

    @Test("update(to:) finds removed, added and changed routes by content")
    func updateToRouteSet() throws {
        let generator = RouteGenerator()
        let routes = generator.routes(count: 300)
        let (_, built) = IncrementalTable.build(routes, order: .rfc, options: IncrementalTests.options)
        let table = try #require(built)
        var next = routes
        next[20].extendedCommunities = [FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 5_000_000).community]
        next.remove(at: 10)
        next.append(generator.route(500))
        let update = try #require(table.update(to: next))
        let removed = Set(update.change.removedElements.flatMap(\.elements).compactMap(\.comment))
        let added = Set((update.change.addedElements + update.change.newSets).flatMap(\.elements).compactMap(\.comment))
        #expect(removed == [routes[10].identity, routes[20].identity])
        #expect(added == [generator.route(500).identity, routes[20].identity])
        let same = try #require(table.update(to: next))
        #expect(same.change.isEmpty)
        #expect(table.update(to: next + [next[0]]) == nil, "an NLRI twice")
    }
}
