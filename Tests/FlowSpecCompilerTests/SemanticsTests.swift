import Testing
import FlowSpec
@testable import FlowSpecCompiler

/// Compiled rules evaluated on packets must agree with the RFC 8955/8956 meaning of each route,
/// and a packet must match at most one rule per route alternative set (actions run once).
@Suite struct SemanticsTests {
    static func randomPacket(_ r: inout SplitMix, like route: FlowRoute) -> TestPacket {
        let v4 = route.family == .ipv4
        func addr(_ p: FlowPrefix?) -> IPAddress {
            var a = v4 ? IPAddress(ipv4: UInt32.random(in: 0...UInt32.max, using: &r))
                       : IPAddress(family: .ipv6, high: UInt64.random(in: 0...UInt64.max, using: &r), low: UInt64.random(in: 0...UInt64.max, using: &r))
            if let p, Bool.random(using: &r) {
                // Copy the pattern bits in so that the prefix matches about half the time.
                let m = IPAddress.mask(from: Int(p.offset), to: Int(p.length))
                a = IPAddress(family: a.family, high: (a.high & ~m.high) | p.address.high, low: (a.low & ~m.low) | p.address.low)
            }
            return a
        }
        let protos: [UInt8] = [1, 6, 17, 58, 132, 47]
        var pk = TestPacket(family: route.family, src: addr(route.source), dst: addr(route.destination),
                            proto: protos.randomElement(using: &r)!)
        let ports: [UInt16] = [0, 22, 53, 80, 443, 1023, 1024, 8080, 65535]
        pk.sport = Bool.random(using: &r) ? ports.randomElement(using: &r)! : UInt16.random(in: 0...0xffff, using: &r)
        pk.dport = Bool.random(using: &r) ? ports.randomElement(using: &r)! : UInt16.random(in: 0...0xffff, using: &r)
        pk.icmpType = [0, 3, 8, 128, 255, UInt8.random(in: 0...255, using: &r)].randomElement(using: &r)!
        pk.icmpCode = [0, 1, 4, UInt8.random(in: 0...255, using: &r)].randomElement(using: &r)!
        pk.tcpFlags = UInt16.random(in: 0...0x1ff, using: &r) & (Bool.random(using: &r) ? 0x3f : 0xfff)
        pk.totalLength = v4 ? [20, 40, 64, 1500, 65535, UInt32.random(in: 20...65535, using: &r)].randomElement(using: &r)!
                            : [40, 41, 80, 1500, 65575, UInt32.random(in: 40...65575, using: &r)].randomElement(using: &r)!
        pk.dscp = [0, 8, 46, 63, UInt8.random(in: 0...63, using: &r)].randomElement(using: &r)!
        pk.df = Bool.random(using: &r)
        pk.mf = Bool.random(using: &r)
        pk.fragOffset = Int.random(in: 0..<3, using: &r) == 0 ? UInt16.random(in: 1...0x1fff, using: &r) : 0
        pk.fragHeader = !v4 && (pk.fragOffset != 0 || pk.mf || Bool.random(using: &r))
        if !v4 && !pk.fragHeader { pk.mf = false }
        if !v4 { pk.df = false }
        pk.flowLabel = [0, 0x8e5, 0xfffff, UInt32.random(in: 0...0xfffff, using: &r)].randomElement(using: &r)!
        return pk
    }

    @Test(arguments: [11, 12, 13])
    func compiledRulesMatchExactlyThePacketsTheRouteMatches(seed: UInt64) {
        var r = SplitMix(state: seed)
        var checked = 0
        for _ in 0..<300 {
            // No actions: one accept rule per alternative, so matches can be counted.
            var route = RandomRoutes.route(&r)
            route.extendedCommunities = []
            let result = compile([route], options: CompileOptions(counters: false, merge: false))
            let sets = Dictionary(uniqueKeysWithValues: result.table.sets.map { ($0.name, $0) })
            let rules = result.table.chains[0].rules
            for _ in 0..<60 {
                let p = Self.randomPacket(&r, like: route)
                let expected = p.matches(route)
                let hits = rules.filter { ruleMatches($0, p, sets: sets) }.count
                #expect(hits == (expected ? 1 : 0), "route \(route.components) packet \(p): \(hits) rules match, model says \(expected)")
                checked += 1
                if hits != (expected ? 1 : 0) { return }
            }
        }
        #expect(checked == 300 * 60)
    }
}
