import Testing
import FlowSpec
@testable import FlowSpecCompiler

/// The merge planner's cheaper lookups (tails and shapes numbered through `RecentLookup`,
/// `MergeShape`'s quick word, rules of units built only when they stay single) must give what
/// the plain dictionary and the eager build gave.
@Suite struct PlannerLookupTests {
    @Test("RecentLookup numbers keys in first-seen order, whether found among the recent ones or in the dictionary")
    func numbering() {
        var l = RecentLookup<String>()
        var reference: [String: Int] = [:]
        // More distinct keys than it remembers, in an order that both hits and misses the recent ones.
        let keys = (0..<400).map { i in i % 7 == 0 ? "k\((i * 7919) % 30)" : "k\(i % 13)" }
        for k in keys {
            let expected = reference[k] ?? reference.count
            reference[k] = expected
            #expect(l.id(of: k) == expected, "key \(k)")
        }
        #expect(l.count == reference.count)
        #expect(l.ids == reference)
        #expect(l.find("absent") == nil)
        // A planner read back from a snapshot gives its numbers; they are found as given.
        var restored = RecentLookup<String>()
        restored.set("b", 1); restored.set("a", 0)
        #expect(restored.find("a") == 0 && restored.find("b") == 1)
        #expect(restored.id(of: "c") == 2)
    }

    /// A key whose word is chosen by the test: many keys share a word, so probing has to
    /// compare keys, and words that differ only in their low bits meet the same home slots.
    struct Collider: WordHashable {
        var id: Int
        var word: UInt64 { UInt64(id % 37) << 40 }
    }

    @Test("WordTable gives what a Dictionary gives, through growth, colliding words, defaults and replacements")
    func wordTable() {
        var table = WordTable<Collider, Int>()
        var reference: [Int: Int] = [:]
        var r: UInt64 = 7
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int(r >> 33) % n }
        for step in 0..<20_000 {
            let k = next(3_000)
            switch next(3) {
            case 0:
                #expect(table.updateValue(step, forKey: Collider(id: k)) == reference.updateValue(step, forKey: k))
            case 1:
                table[Collider(id: k), default: -1] += 1
                reference[k, default: -1] += 1
            default:
                #expect(table[Collider(id: k)] == reference[k])
            }
            if step == 5_000 { table.reserveCapacity(4_000) }
        }
        #expect(table.count == reference.count)
        for k in 0..<3_100 { #expect(table[Collider(id: k)] == reference[k]) }
        #expect(WordTable<Collider, Int>()[Collider(id: 1)] == nil)
    }

    static func shape(residual: [[NftExpression]], tail: [NftExpression] = [.immediateVerdict(.drop)],
                      keys: [KeyField] = [KeyField(.destination4)!, KeyField(.destinationPort)!], hostBits: [Int]? = [0, 0]) -> MergeShape {
        MergeShape(v6: false, residual: residual, keys: keys, tail: tail, limiter: false, hostBits: hostBits)
    }

    @Test("shapes are equal exactly when every part is; equal shapes hash alike")
    func shapeEquality() {
        let nfproto = RouteCompiler.nfproto4.exprs
        let tcp: [NftExpression] = [.meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [6])]
        let udp: [NftExpression] = [.meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [17])]
        let a = Self.shape(residual: [nfproto, tcp])
        let b = Self.shape(residual: [nfproto, Array(tcp)])
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        // The same sizes and key fields (the quick word alike), another protocol value.
        #expect(a != Self.shape(residual: [nfproto, udp]))
        #expect(a != Self.shape(residual: [nfproto, tcp], tail: [.immediateVerdict(.accept)]))
        #expect(a != Self.shape(residual: [nfproto, tcp], hostBits: [8, 0]))
        #expect(a != Self.shape(residual: [nfproto, tcp], hostBits: nil))
        #expect(a != Self.shape(residual: [nfproto, tcp], keys: [KeyField(.destination4)!, KeyField(.sourcePort)!]))
        var set: Set<MergeShape> = [a, b, Self.shape(residual: [nfproto, udp])]
        #expect(set.count == 2)
        set.insert(Self.shape(residual: [nfproto]))
        #expect(set.count == 3)
    }

    @Test("a unit's rule made when it stays single equals the one made when the route is compiled")
    func lazySingle() {
        var pool = SetPool()
        var compiler = RouteCompiler(options: CompileOptions())
        let route = FlowRoute(family: .ipv4, components: [
            .destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0xcb00_7105), length: 32)!),
            .sourcePrefix(FlowPrefix(address: IPAddress(ipv4: 0xc633_6400), length: 24)!),
            .numeric(.ipProtocol, [.equal(17)]),
            .numeric(.destinationPort, [.equal(53)]),
            .numeric(.sourcePort, [.equal(1024)]),
        ], actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        guard let slots = try? compiler.matchSlots(route) else { Issue.record("no matches"); return }
        let matches = slots.combinations()[0]
        #expect(!MergeUnit.needsPool(matches))
        let tail: [NftExpression] = [.counter(packets: 0, bytes: 0), .immediateVerdict(.drop)]
        let eager = mergePayloadMatches(matches, pool: &pool)
        let lazy = MergeUnit(route: 0, v6: false, identity: "r", matches: matches, tail: tail, singleMatches: nil)
        #expect(lazy.single == eager + tail)
        // Source and destination address (adjacent), and the two ports, are each one load.
        #expect(eager.filter { if case .payload = $0 { true } else { false } }.count < matches.count)
    }

    @Test("two adjacent inequalities name a value set: such a unit's rule is made when the route is compiled")
    func inequalitiesNeedThePool() {
        let a = Match(exprs: Field.sport.load + [.cmp(op: .neq, sreg: .reg1, data: [0, 80])],
                      merge: .init(base: .transport, offset: 0, length: 2, op: .neq, data: [0, 80], field: .sport))
        let b = Match(exprs: Field.dport.load + [.cmp(op: .neq, sreg: .reg1, data: [0, 90])],
                      merge: .init(base: .transport, offset: 2, length: 2, op: .neq, data: [0, 90], field: .dport))
        #expect(MergeUnit.needsPool([a, b]))
        var pool = SetPool()
        _ = mergePayloadMatches([a, b], pool: &pool)
        #expect(pool.sets.count == 1)
    }
}
