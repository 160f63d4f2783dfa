import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// Compiled rules evaluated on packets must agree with the RFC 8955/8956 meaning of each route,
/// and a packet must match at most one rule per route alternative set (actions run once).
@Suite struct SemanticsTests {

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
                let p = TestPacket.random(&r, like: route)
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
