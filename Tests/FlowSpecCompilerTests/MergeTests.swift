import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// What a chain does to a packet: the library's interpreter's outcome.
typealias Outcome = PacketOutcome

/// Runs a packet through the base chain as the kernel would (`TableInterpreter`, in the
/// library since `explain` uses it); what it cannot follow is an issue of the test.
func evaluate(_ table: NftTable, _ packet: TestPacket, over: (String) -> Bool) -> Outcome {
    let out = TableInterpreter.evaluate(table, packet, over: over)
    for problem in out.problems { Issue.record("\(problem)") }
    return out
}

/// Routes that overlap a lot: few addresses, few ports, every action kind.
func overlappingRoutes(_ r: inout SplitMix, count: Int) -> [FlowRoute] {
    (0..<count).map { _ in
        var route = RandomRoutes.route(&r)
        if Int.random(in: 0..<3, using: &r) > 0 {
            // A generator-like route, narrowed to a few values so that routes overlap.
            let v4 = route.family == .ipv4
            func prefix(_ len: [Int]) -> FlowPrefix {
                let l = len.randomElement(using: &r)!
                let a = v4 ? IPAddress(ipv4: 0xcb00_7100 | UInt32.random(in: 0...7, using: &r))
                           : IPAddress(family: .ipv6, high: 0x2001_0db8_0000_0000, low: UInt64.random(in: 0...7, using: &r))
                return FlowPrefix(address: a.keepingBits(from: 0, to: l), length: l)!
            }
            var comps: [Component] = [.destinationPrefix(prefix(v4 ? [30, 31, 32, 32] : [126, 127, 128, 128]))]
            if Bool.random(using: &r) { comps.append(.sourcePrefix(prefix(v4 ? [24, 32] : [64, 128]))) }
            let proto: UInt64 = [6, 17, v4 ? 1 : 58].randomElement(using: &r)!
            comps.append(.numeric(.ipProtocol, [.equal(proto)]))
            if proto == 1 || proto == 58 {
                comps.append(.numeric(.icmpType, [.equal(UInt64.random(in: 0...3, using: &r))]))
            } else {
                let a = UInt64.random(in: 78...84, using: &r)
                comps.append(.numeric(.destinationPort, Bool.random(using: &r) ? [.equal(a)] : [NumericTerm(and: false, lt: false, gt: true, eq: true, value: a),
                                                                                              NumericTerm(and: true, lt: true, gt: false, eq: true, value: a + 3)]))
            }
            comps.sort { $0.type < $1.type }
            route.components = comps
        }
        return route
    }
}

@Suite("merge pass") struct MergeTests {
    static let options = CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64], merge: true)

    static func over(_ seed: Int) -> (String) -> Bool {
        // A digest that is the same in every run (String.hashValue is seeded per process), so a
        // failure can be replayed.
        { name in
            var d = StableDigest()
            d.add(name)
            return (Int(truncatingIfNeeded: d.value) ^ seed) & 1 == 0
        }
    }

    /// Packets at the ends of every route's intervals (prefix ends, port and ICMP values ±1).
    static func boundaryPackets(_ route: FlowRoute, _ r: inout SplitMix) -> [TestPacket] {
        var out = [TestPacket]()
        let base = TestPacket.random(&r, like: route)
        var ends = [(inout TestPacket) -> Void]()
        for c in route.components {
            switch c {
            case .destinationPrefix(let p), .sourcePrefix(let p):
                guard p.offset == 0 else { continue }
                let lo = p.address.keepingBits(from: 0, to: Int(p.length))
                let m = IPAddress.mask(from: Int(p.length), to: p.family == .ipv4 ? 32 : 128)
                let hi = IPAddress(family: p.family, high: lo.high | m.high, low: lo.low | m.low)
                let dst = c.type == .destinationPrefix
                for a in [lo, hi] { ends.append { if dst { $0.dst = a } else { $0.src = a } } }
            case .numeric(let t, let terms) where [.destinationPort, .sourcePort, .port, .icmpType, .icmpCode].contains(t):
                for iv in terms.intervals(max: t.maxValue).intervals {
                    for v in [iv.lowerBound, iv.upperBound, iv.lowerBound &- 1, iv.upperBound + 1] where v <= t.maxValue {
                        ends.append { pk in
                            switch t {
                            case .destinationPort: pk.dport = UInt16(v)
                            case .sourcePort: pk.sport = UInt16(v)
                            case .port: pk.dport = UInt16(v); pk.sport = UInt16(v)
                            case .icmpType: pk.icmpType = UInt8(v)
                            default: pk.icmpCode = UInt8(v)
                            }
                        }
                    }
                }
            default: continue
            }
        }
        for f in ends { var p = base; f(&p); p.fragOffset = 0; out.append(p) }
        return out
    }

    func check(seed: UInt64, routes count: Int, packets: Int) {
        var r = SplitMix(state: seed)
        let routes = overlappingRoutes(&r, count: count)
        check(routes, &r, packets: packets, boundaryEvery: 1)
    }

    func check(_ routes: [FlowRoute], _ r: inout SplitMix, packets: Int, boundaryEvery: Int, extra: [TestPacket] = []) {
        let merged = compile(routes, options: Self.options)
        var plain = Self.options
        plain.merge = false
        let unmerged = compile(routes, options: plain)
        #expect(merged.table.ruleCount < unmerged.table.ruleCount,
                "merging \(unmerged.table.ruleCount) rules left \(merged.table.ruleCount)")
        Self.expectSameOutcomes(("merged", merged.table), ("unmerged", unmerged.table), routes: routes, &r,
                                packets: packets, boundaryEvery: boundaryEvery, extra: extra)
    }

    /// Runs `packets` random packets (each like a random route of `routes`) and the boundary
    /// packets of every `boundaryEvery`-th route, then `extra`, through both tables: every outcome
    /// (verdict, side effects, counters) must be the same.
    static func expectSameOutcomes(_ a: (String, NftTable), _ b: (String, NftTable), routes: [FlowRoute], _ r: inout SplitMix,
                                   packets: Int, boundaryEvery: Int, extra: [TestPacket] = [],
                                   sourceLocation: SourceLocation = #_sourceLocation) {
        var sample = extra
        for _ in 0..<packets { sample.append(TestPacket.random(&r, like: routes.randomElement(using: &r)!)) }
        for (i, route) in routes.enumerated() where i % boundaryEvery == 0 { sample += boundaryPackets(route, &r) }
        var differ = 0
        for (k, p) in sample.enumerated() {
            let x = evaluate(a.1, p, over: over(k)), y = evaluate(b.1, p, over: over(k))
            if x != y {
                differ += 1
                if differ <= 3 { Issue.record("packet \(p): \(a.0) \(x), \(b.0) \(y)", sourceLocation: sourceLocation) }
            }
        }
        #expect(differ == 0, "\(differ) of \(sample.count) packets differ", sourceLocation: sourceLocation)
    }

    @Test("merged and unmerged tables treat every sampled and boundary packet alike", arguments: [UInt64(1), 2, 3])
    func equivalence(seed: UInt64) { check(seed: seed, routes: 1500, packets: 4000) }

    /// IPv6 offset prefixes as key parts, overlapping: three (offset, length) pairs over the same
    /// octets and a few values each, as source or destination, with victims (offset-0 prefixes)
    /// whose addresses carry such bits, and every action interleaved. Besides random packets
    /// like the routes, packets between every two victims: each matches routes of either kind.
    @Test("offset prefix keys: merged and unmerged tables treat every sampled packet alike")
    func offsetPrefixEquivalence() {
        var r = SplitMix(state: 7)
        let spans = [(64, 96), (60, 100), (64, 80)]
        let victims = (0..<4).map { i in IPAddress(family: .ipv6, high: 0x2001_0db8_0000_0000 | UInt64(i & 1), low: UInt64(i) << 32 | 1) }
        let routes = (0..<500).map { _ -> FlowRoute in
            var route = RandomRoutes.route(&r)
            route.family = .ipv6
            let (o, l) = spans.randomElement(using: &r)!
            let bits = IPAddress(family: .ipv6, high: UInt64.random(in: 0...1, using: &r), low: UInt64.random(in: 0...3, using: &r) << 32)
            let offsetPrefix = FlowPrefix(address: bits.keepingBits(from: o, to: l), length: l, offset: o)!
            let victim = FlowPrefix(address: victims.randomElement(using: &r)!, length: [126, 128].randomElement(using: &r)!)!
            // The offset prefix on either side: a destination one is no address to dispatch on.
            var comps: [Component] = Bool.random(using: &r) ? [.destinationPrefix(victim), .sourcePrefix(offsetPrefix)]
                                                            : [.destinationPrefix(offsetPrefix), .sourcePrefix(victim)]
            if Bool.random(using: &r) {
                comps.append(.numeric(.ipProtocol, [.equal([6, 17].randomElement(using: &r)!)]))
                comps.append(.numeric(.destinationPort, [.equal(UInt64.random(in: 80...82, using: &r))]))
            }
            route.components = comps.sorted { $0.type < $1.type }
            return route
        }
        var between: [TestPacket] = []
        for s in victims { for d in victims { for proto: UInt8 in [6, 17] { for port: UInt16 in 80...82 {
            var p = TestPacket(family: .ipv6, src: s, dst: d, proto: proto)
            p.dport = port
            between.append(p)
        } } } }
        // In list order: RFC order would put every route after the ones it overlaps that are more
        // specific, so few units would ever pass an overlapping rule.
        check(routes, &r, packets: 1500, boundaryEvery: 1, extra: between + between)
    }

    /// Whether some element of a set spans more than one key (a prefix or a range).
    static func hasRange(_ set: NftSet) -> Bool {
        set.elements.contains { $0.keyEnd != nil && $0.keyEnd != $0.key }
    }

    @Test("generated routes merge into a handful of rules; elements map back to routes")
    func generatedRoutes() {
        let routes = RouteGenerator().routes(count: 5000)
        let result = compile(routes, options: CompileOptions(merge: true))
        // Four shapes (TCP, UDP, rate-limited UDP, ICMP) times two source prefix lengths (/32,
        // /24: masked), each a hash set, plus the rate-limited routes' conforming rules.
        #expect(result.table.ruleCount <= 10)
        for m in result.merged {
            let set = result.table.sets.first { $0.name == m.set }
            #expect(set?.elements.count == m.elementRoutes.count)
            #expect(result.table.chains[0].rules[m.rule].comment == "merge \(m.set)")
        }
        #expect(Set(result.merged.flatMap(\.routes)).count == routes.count)
    }

    @Test("prefix and single-value groups get hash sets; only groups with ranges get interval sets")
    func hashSets() {
        let result = compile(RouteGenerator().routes(count: 5000), options: CompileOptions(merge: true))
        let sets = result.merged.compactMap { m in result.table.sets.first { $0.name == m.set } }
        #expect(!sets.isEmpty)
        for set in sets {
            #expect(set.flags.contains(.interval) == Self.hasRange(set), "set \(set.name)")
        }
        // Every generated key part is a prefix or a single value: every element lands in a hash
        // set (masked for the /24 sources), uncapped.
        let hashed = sets.filter { !$0.flags.contains(.interval) }.map(\.elements.count).reduce(0, +)
        #expect(hashed == sets.map(\.elements.count).reduce(0, +))
        #expect(sets.contains { !$0.flags.contains(.interval) && $0.elements.count > MergePlanner.maxIntervalElements })
    }

    /// Routes of one interval shape (a /24 source, TCP, mostly a short destination port range that
    /// reaches the next route's port — a range, not a prefix or a single port, so an interval set
    /// — sometimes one port, a hash set's shape), nearly each its own element, interleaved with rate-limited UDP
    /// routes and, rarely, overlapping routes of any action: more elements than one interval set
    /// may hold.
    static func splitRoutes(_ r: inout SplitMix, count: Int) -> [FlowRoute] {
        (0..<count).map { i in
            if i % 600 == 299 { return overlappingRoutes(&r, count: 1)[0] }
            let base: UInt32 = i % 2 == 0 ? 0xcb00_7100 : 0xc000_0200 // 203.0.113.0, 192.0.2.0
            let dst = FlowPrefix(address: IPAddress(ipv4: base | UInt32((i / 2) % 8)), length: 32)!
            let src = FlowPrefix(address: IPAddress(ipv4: 0xc633_6400), length: 24)! // 198.51.100.0/24
            let port = UInt64(70 + 4 * (i / 16))
            if i % 9 == 4 { // UDP, rate-limited: no packet in common with the TCP group, which it does not block
                return FlowRoute(family: .ipv4,
                                 components: [.destinationPrefix(dst), .sourcePrefix(src), .numeric(.ipProtocol, [.equal(17)]),
                                              .numeric(.destinationPort, [.equal(port)])],
                                 actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 1_000_000)])
            }
            let ports: [NumericTerm] = i % 5 != 0
                ? [NumericTerm(and: false, lt: false, gt: true, eq: true, value: port),
                   NumericTerm(and: true, lt: true, gt: false, eq: true, value: port + 4)]
                : [.equal(port)]
            return FlowRoute(family: .ipv4,
                             components: [.destinationPrefix(dst), .sourcePrefix(src), .numeric(.ipProtocol, [.equal(6)]),
                                          .numeric(.destinationPort, ports)],
                             actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        }
    }

    @Test("a group past the interval-set cap splits into consecutive sets, and the table stays equivalent")
    func intervalCap() {
        var r = SplitMix(state: 7)
        let routes = Self.splitRoutes(&r, count: 3200)
        let result = compile(routes, options: Self.options)
        let interval = result.table.sets.filter { $0.flags.contains(.interval) }
        #expect(interval.allSatisfy { $0.elements.count <= MergePlanner.maxIntervalElements })
        // The TCP routes alone hold more elements than one set may: the same rule, over several sets.
        let rules = result.table.chains[0].rules
        var byShape: [[NftExpression]: Int] = [:]
        for m in result.merged where interval.contains(where: { $0.name == m.set }) {
            let shape = rules[m.rule].expressions.filter { if case .lookup = $0 { false } else { true } }
            byShape[shape, default: 0] += m.elementRoutes.count
        }
        #expect(byShape.values.contains { $0 > MergePlanner.maxIntervalElements })
        check(routes, &r, packets: 500, boundaryEvery: 20)
    }

    @Test("merged elements carry their route's identity; counted sets count per element, merged rules have no counter")
    func elementIdentitiesAndCounters() throws {
        let routes = RouteGenerator().routes(count: 2000)
        for counters in [true, false] {
            let result = compile(routes, options: CompileOptions(counters: counters, merge: true))
            try #require(!result.merged.isEmpty)
            var limitMaps = 0
            for m in result.merged {
                let set = try #require(result.table.sets.first { $0.name == m.set })
                #expect(set.elements.map(\.comment) == m.elementRoutes.map { routes[$0].identity }, "set \(set.name)")
                #expect(set.elementCounters == counters)
                #expect(set.elements.allSatisfy { $0.counter == nil }, "the kernel gives each element the set's counter")
                let rule = result.table.chains[0].rules[m.rule]
                #expect(!rule.expressions.contains { if case .counter = $0 { true } else { false } },
                        "merged rule \(m.rule) counts per element, not per rule")
                if set.objectType == .limit {
                    limitMaps += 1
                    // An object map does not count its elements: a counted one is looked up as a set first.
                    let lookups = rule.expressions.filter { $0 == .lookup(set: m.set, sreg: .reg1, invert: false) }.count
                    #expect(lookups == (counters ? 1 : 0))
                    let lookup = rule.expressions.firstIndex(of: .lookup(set: m.set, sreg: .reg1, invert: false))
                    let map = rule.expressions.firstIndex(of: .objrefMap(set: m.set, sreg: .reg1))
                    #expect(map != nil && (lookup ?? -1) < map!)
                }
            }
            #expect(limitMaps > 0, "the generator's rate-limited routes share limit maps")
            // Rules left single keep their route identity and, with counters, their own counter.
            let mergedRules = Set(result.merged.map(\.rule))
            for (k, rule) in result.table.chains[0].rules.enumerated() where !mergedRules.contains(k) {
                #expect(rule.comment == routes[result.ruleRoutes[k]].identity)
                #expect(rule.expressions.contains { if case .counter = $0 { true } else { false } } == counters)
            }
        }
    }

    @Test("merged and unmerged tables count every sampled packet for the same routes, in the same order")
    func countersPerRouteSurviveMerging() {
        // `equivalence` compares whole outcomes, counters included; this one states it for the
        // generator's shapes (hash sets, interval sets and limit maps) and checks that packets
        // are counted at all.
        var r = SplitMix(state: 99)
        let routes = RouteGenerator().routes(count: 1500)
        let merged = compile(routes, options: Self.options)
        var plain = Self.options
        plain.merge = false
        let unmerged = compile(routes, options: plain)
        var countedPackets = 0, differ = 0
        for k in 0..<3000 {
            // Half the packets aimed at a route (its addresses, protocol and first values), half random.
            let route = routes.randomElement(using: &r)!
            var p = TestPacket.random(&r, like: route)
            if k % 2 == 0 { p = p.aimed(at: route) }
            let a = evaluate(merged.table, p, over: Self.over(k)), b = evaluate(unmerged.table, p, over: Self.over(k))
            if !b.counted.isEmpty { countedPackets += 1 }
            if a.counted != b.counted {
                differ += 1
                if differ <= 3 { Issue.record("packet \(p): merged counts \(a.counted), unmerged \(b.counted)") }
            }
        }
        #expect(differ == 0)
        #expect(countedPackets > 1000, "only \(countedPackets) of 3000 packets were counted by some route")
    }

    @Test("route identities fit an element comment (nft's 128 bytes), the hashed form too")
    func identitiesFitComments() {
        var r = SplitMix(state: 5)
        var routes = (0..<2000).map { _ in RandomRoutes.route(&r) }
        // An NLRI of more than 59 bytes: the identity is hashed.
        let many = (0..<20).map { NumericTerm(and: false, lt: false, gt: false, eq: true, value: UInt64(1000 + $0)) }
        routes.append(FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("2001:db8::/32")!),
                                                             .numeric(.destinationPort, many)], actions: []))
        #expect(routes.last!.identity.hasPrefix("6#"))
        // The boundary: NLRIs of 59 bytes keep their hex (120 characters), of 60 are hashed.
        // Port terms of one and of two value bytes make every length.
        var lengths: Set<Int> = []
        for wide in 0...12 {
            for narrow in 0...12 {
                let terms = (0..<narrow).map { NumericTerm.equal(UInt64(10 + $0)) } + (0..<wide).map { NumericTerm.equal(UInt64(1000 + $0)) }
                guard !terms.isEmpty else { continue }
                let route = FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("2001:db8::/32")!),
                                                                   .numeric(.destinationPort, terms)], actions: [])
                let n = route.nlriBytes.count
                lengths.insert(n)
                if n <= 59 {
                    #expect(route.identity.hasPrefix("6:") && route.identity.utf8.count == 2 + 2 * n)
                } else {
                    // `6#` and the 16 hex digits of a 64-bit hash.
                    #expect(route.identity.hasPrefix("6#") && route.identity.utf8.count == 18)
                }
                routes.append(route)
            }
        }
        #expect(lengths.isSuperset(of: [58, 59, 60, 61]))
        for route in routes { #expect(route.identity.utf8.count <= NftSetElement.maxCommentBytes, "\(route.identity)") }
    }

    @Test("--no-merge keeps one rule per route")
    func mergeOff() {
        let routes = RouteGenerator().routes(count: 100)
        let r = compile(routes, options: CompileOptions(merge: false))
        #expect(r.merged.isEmpty)
        // A rate-limited route has a conforming-traffic rule too.
        let limited = routes.filter { r in
            r.actions.contains { if case .trafficRateBytes(_, let rate) = $0 { rate > 0 } else { false } }
        }
        #expect(!limited.isEmpty)
        // A short port list is one rule per port (docs/lowering.md, "Value lists").
        let alternatives = routes.map { route -> Int in
            guard case .numeric(_, let terms)? = route.component(.destinationPort) else { return 0 }
            return terms.intervals(max: 0xffff).intervals.count - 1
        }
        let extra = zip(routes, alternatives).map { route, a in a * (limited.contains(route) ? 2 : 1) }.reduce(0, +)
        #expect(r.table.ruleCount == routes.count + limited.count + extra)
        #expect(r.table.chains[0].rules.allSatisfy { $0.comment.map(RouteIdentity.isIdentity) == true })
    }
}
