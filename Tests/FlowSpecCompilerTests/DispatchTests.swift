import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// The dispatch form (docs/merging.md, "Destination dispatch"): every packet meets the same
/// routes' effects, counters included, as in the linear form, for lists in RFC order and in any
/// other order, and the form is what the cost model says.
@Suite("destination dispatch") struct DispatchTests {
    static let linear = CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64], merge: false, dispatch: .never)

    func check(_ routes: [FlowRoute], _ r: inout SplitMix, packets: Int, boundaryEvery: Int = 1, merge: Bool = true) {
        var options = Self.linear
        options.merge = merge
        options.dispatch = .always
        let dispatched = compile(routes, options: options)
        let plain = compile(routes, options: Self.linear)
        #expect(dispatched.figures.form == .dispatch)
        #expect(dispatched.table.chains.count > 1)
        MergeTests.expectSameOutcomes(("dispatched", dispatched.table), ("linear", plain.table), routes: routes, &r,
                                      packets: packets, boundaryEvery: boundaryEvery)
    }

    @Test("overlapping routes in list order (not RFC order): dispatch means what the list means", arguments: [UInt64(1), 2, 3])
    func anyOrder(seed: UInt64) {
        var r = SplitMix(state: seed)
        check(overlappingRoutes(&r, count: 500), &r, packets: 1500)
    }

    @Test("overlapping routes in RFC order", arguments: [UInt64(4), 5])
    func rfcOrder(seed: UInt64) {
        var r = SplitMix(state: seed)
        check(overlappingRoutes(&r, count: 500).ordered(.rfc), &r, packets: 1500, merge: seed == 4)
    }

    /// Mixed-workload routes picked at random, random routes of every component type and action
    /// (some without a destination), and nested prefixes over the generator's hosts.
    static func mixedRoutes(_ r: inout SplitMix, generated: Int, random: Int, overlapping: Int) -> [FlowRoute] {
        let generator = MixedRouteGenerator()
        var routes = (0..<generated).map { _ in generator.route(Int.random(in: 0..<200_000, using: &r)) }
        for _ in 0..<random { routes.append(RandomRoutes.route(&r)) }
        return routes + overlappingRoutes(&r, count: overlapping)
    }

    @Test("mixed workload with routes of every kind and without a destination interleaved", arguments: [UInt64(6), 7])
    func mixed(seed: UInt64) {
        var r = SplitMix(state: seed)
        var routes = Self.mixedRoutes(&r, generated: 700, random: 150, overlapping: 150)
        routes.shuffle(using: &r)
        check(routes, &r, packets: 1500, boundaryEvery: 2)
        check(routes.ordered(RouteOrder.rfc), &r, packets: 1500, boundaryEvery: 2)
    }

    /// Dispatch over the merged rules (docs/merging.md, "Dispatch over merged rules"): the same
    /// outcomes, counters included, as the unmerged form; read back linear, it is the merged
    /// chain's rules, each once.
    @Test("dispatch over merged rules means what the route list means", arguments: [UInt64(8), 9])
    func overMergedRules(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        var routes = Self.mixedRoutes(&r, generated: 900, random: 100, overlapping: 150)
        routes = seed == 8 ? routes.ordered(.rfc) : routes.shuffled(using: &r)
        var options = Self.linear
        options.merge = true
        options.dispatch = .auto
        // The merged chain itself, with its coverage (whichever form `compile` would pick).
        var compiler = RouteCompiler(options: options)
        compiler.addAllInHalves(routes)
        let merged = compiler.finish()
        let coverage = try #require(merged.coverage)
        #expect(coverage.count == merged.table.chains[0].rules.count)
        let dispatched = try #require(mergedDispatched(merged))
        #expect(dispatched.figures.form == .dispatch && dispatched.table.chains.count > 2)
        // Sets are shared, not copied: the dispatch table has the merged table's sets and its maps.
        #expect(dispatched.table.sets.count == merged.table.sets.count + dispatched.table.sets.filter { $0.flags.contains(.map) }.count)
        let plain = compile(routes, options: Self.linear)
        MergeTests.expectSameOutcomes(("dispatched over merged", dispatched.table), ("linear", plain.table), routes: routes, &r,
                                      packets: 1500, boundaryEvery: 2)
        // Read back as one chain: the merged chain's rules, each once.
        let flat = dispatched.table.linearRules(ofChain: dispatched.table.chains[0].name)
        let original = merged.table.chains[0].rules
        #expect(flat.count == original.count && Set(flat) == Set(original))
        var flatTable = merged.table
        flatTable.chains[0].rules = flat
        MergeTests.expectSameOutcomes(("read back", flatTable), ("linear", plain.table), routes: routes, &r, packets: 500, boundaryEvery: 4)
    }

    @Test("the interval map sends every address to the chain of the most specific prefix")
    func intervals() {
        func p(_ a: UInt32, _ l: Int) -> DispatchKey { DispatchKey(field: .destination(v6: false), value: UInt128(a), length: l) }
        var s = DispatchBuilder.Segment(field: .destination(v6: false), firstRule: 0)
        for q in [p(0xc000_0200, 24), p(0xc000_0210, 28), p(0xc000_0211, 32), p(0xc000_02ff, 32), p(0xcb00_7100, 32), p(0, 1)] {
            s.rules[q] = [0]
        }
        let map = DispatchBuilder.intervals(s)
        // Disjoint, ascending, covering exactly the prefixes' addresses.
        for (a, b) in zip(map, map.dropFirst()) { #expect(a.hi < b.lo) }
        for address: UInt32 in [0, 0x7fff_ffff, 0xc000_0200, 0xc000_020f, 0xc000_0210, 0xc000_0211, 0xc000_0212, 0xc000_021f,
                                0xc000_0220, 0xc000_02fe, 0xc000_02ff, 0xcb00_7100, 0xcb00_7101, 0x8000_0000, 0xffff_ffff] {
            let hit = map.first { $0.lo <= UInt128(address) && UInt128(address) <= $0.hi }?.key
            let expected = s.rules.keys.filter { $0.start <= UInt128(address) && UInt128(address) <= $0.end }.max { $0.length < $1.length }
            #expect(hit == expected, "address \(address)")
        }
        let (_, parent) = DispatchBuilder.nesting(s)
        #expect(parent[p(0xc000_0211, 32)] == p(0xc000_0210, 28))
        #expect(parent[p(0xc000_0210, 28)] == p(0xc000_0200, 24))
        #expect(parent[p(0xc000_0200, 24)] == nil)
        #expect(parent[p(0xcb00_7100, 32)] == nil)
        #expect(DispatchBuilder.depth(parent) == 3)
    }

    @Test("a rule after a rule for a larger prefix starts a new segment (its own map)")
    func segments() {
        let wide = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("192.0.2.0/24")!), .numeric(.ipProtocol, [.equal(6)])],
                             actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let narrow = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("192.0.2.1/32")!), .numeric(.ipProtocol, [.equal(6)])])
        let result = compile([wide, narrow], options: CompileOptions(dispatch: .always))
        #expect(result.table.sets.filter { $0.flags.contains(.map) }.map(\.name) == ["dispatch4", "dispatch4_2"])
        #expect(result.table.chains[0].rules.map(\.comment) == ["dispatch dispatch4", "dispatch dispatch4_2"])
        // RFC order puts the narrow route first: one segment, the /32 chain going on to the /24's.
        let rfc = compile([wide, narrow].ordered(.rfc), options: CompileOptions(dispatch: .always))
        #expect(rfc.table.sets.map(\.name) == ["dispatch4"])
        let chain32 = rfc.table.chains.first { $0.name == "d4_c0000201_32" }
        #expect(chain32?.rules.last?.expressions == [.immediateVerdict(.goto("d4_c0000200_24"))])
    }

    @Test("prefixes nested deeper than the kernel's jump limit stay in the base chain")
    func depthLimit() {
        var routes: [FlowRoute] = []
        for l in stride(from: 32, through: 17, by: -1) {
            for port in 1...3 {
                routes.append(FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0xc000_0201).keepingBits(from: 0, to: l), length: l)!),
                                                                     .numeric(.ipProtocol, [.equal(17)]), .numeric(.destinationPort, [.equal(UInt64(port))])]))
            }
        }
        let result = compile(routes, options: CompileOptions(merge: false, dispatch: .always))
        #expect(result.figures.form == .linear)
        #expect(result.table.chains.count == 1)
    }

    @Test("auto: the mixed workload dispatches, the uniform one stays merged; figures are what the table holds")
    func costModel() {
        let diverse = Self.diverse(3000)
        let mixed = compile(diverse)
        #expect(mixed.figures.form == .dispatch)
        let merged = compile(diverse, options: CompileOptions(dispatch: .never))
        #expect(mixed.figures.worstCaseRules * Tuning.dispatchGain <= merged.figures.worstCaseRules)
        #expect(mixed.figures.rules == mixed.table.ruleCount && mixed.figures.chains == mixed.table.chains.count)
        // The mixed workload merges to few rules now that its matches are key parts, but each is a
        // set lookup, which costs a packet more than a rule that fails early: it dispatches over
        // the merged rules, sharing their sets.
        let mix = MixedRouteGenerator().routes(count: 3000).ordered(.rfc)
        let mixAuto = compile(mix), mixMerged = compile(mix, options: CompileOptions(dispatch: .never))
        #expect(mixAuto.figures.form == .dispatch && mixMerged.figures.rules < 300, "\(mixMerged.figures)")
        #expect(Set(mixMerged.table.sets.map(\.name)).isSubset(of: Set(mixAuto.table.sets.map(\.name))))
        #expect(mixMerged.figures.worstCaseCost > 2 * mixMerged.figures.worstCaseRules
                && mixAuto.figures.worstCaseCost * Tuning.mergedDispatchGain <= mixMerged.figures.worstCaseCost
                && mixAuto.figures.worstCaseCost <= Tuning.dispatchConsiderRules)
        // Every route's rules exactly once, and no named set but the maps (value lists are rules).
        let linear = compile(diverse, options: CompileOptions(merge: false))
        #expect(linear.table.sets.isEmpty)
        let count = { (t: NftTable) in t.chains.flatMap(\.rules).filter { $0.comment.map(RouteIdentity.isIdentity) == true }.count }
        #expect(count(mixed.table) == count(linear.table))
        #expect(mixed.table.sets.allSatisfy { $0.flags.contains(.map) })
        let uniform = compile(RouteGenerator().routes(count: 3000))
        #expect(uniform.figures.form == .merged)
    }

    /// Every route of its own shape, on 300 victims: merging leaves a rule per route, dispatch a
    /// chain of n/300 per victim. Each route's source is an IPv6 offset prefix of its own offset
    /// and length (the bits a prefix covers are part of its key field, so of the shape); n ≤ 8,000.
    static func diverse(_ n: Int) -> [FlowRoute] {
        precondition(n <= 8000)
        return (0..<n).map { i in
            // The i-th (offset, length) with 1 ≤ offset < length ≤ 128.
            var k = i, offset = 1
            while k >= 128 - offset { k -= 128 - offset; offset += 1 }
            return FlowRoute(family: .ipv6, components: [
                .destinationPrefix(FlowPrefix(address: IPAddress(family: .ipv6, high: 0x2001_0db8_0000_0001, low: UInt64(i % 300) + 1), length: 128)!),
                .sourcePrefix(FlowPrefix(address: IPAddress(family: .ipv6, high: 0, low: UInt64(i) + 1), length: offset + 1 + k, offset: offset)!),
                .numeric(.ipProtocol, [.equal(6)]), .numeric(.destinationPort, [.equal(443)])],
                      actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        }.ordered(.rfc)
    }

    @Test("merging abandoned early decides as merging everything would, in compile and in the keeper's build")
    func abandonedMerge() {
        // Routes without a destination, each of its own shape (a rate limit and no address or
        // port: its limit map would have no named key part, so packet length and DSCP stay in
        // the residual — nft cannot declare an object map by `typeof`): more
        // merged rules than the abandon limit, and nothing to dispatch on. Merging goes on whole.
        var undispatchable: [FlowRoute] = []
        for i in 0..<(Tuning.mergeAbandonCost + 400) {
            let components: [Component] = [.numeric(.packetLength, [.equal(UInt64(64 + i))]),
                                           .numeric(.dscp, [.equal(UInt64(i % 64))])]
            undispatchable.append(FlowRoute(family: .ipv4, components: components, actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 125_000)]))
        }
        let auto = compile(undispatchable)
        #expect(auto.figures.form != TableForm.dispatch && auto.figures.rules > Tuning.mergeAbandonCost)
        #expect(auto.table == compile(undispatchable, options: CompileOptions(dispatch: .never)).table)
        let (built, planner) = IncrementalTable.build(undispatchable, order: RouteOrder.rfc, options: CompileOptions())
        let (unabandoned, _) = IncrementalTable.build(undispatchable, order: RouteOrder.rfc, options: CompileOptions(dispatch: .never))
        #expect(built.table == unabandoned.table && planner != nil)
        // Diverse routes past the limit: the dispatch form, as the full comparison gives it.
        let mixed = Self.diverse(7000)
        let chosen = compile(mixed)
        #expect(chosen.figures.form == .dispatch)
        #expect(chosen.table == compileDispatched(mixed, options: CompileOptions(), minRules: Tuning.dispatchMinRules)?.table)
        #expect(compile(mixed, options: CompileOptions(dispatch: .never)).figures.worstCaseRules >= chosen.figures.worstCaseRules * Tuning.dispatchGain)
        let (keeperBuilt, none) = IncrementalTable.build(mixed, order: RouteOrder.rfc, options: CompileOptions())
        #expect(keeperBuilt.figures.form == .dispatch && none == nil)
    }
}
