import Foundation
import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// The oracle: the expressions the compiler builds must be exactly those nft generates from the
/// text the printer writes. nft runs in a fresh network namespace (`unshare -n`), so the host's
/// ruleset is never touched.
@Suite("nft oracle", .enabled(if: NFT.available, "needs root, /usr/sbin/nft and unshare (runs nft in a private network namespace)"))
struct OracleTests {
    static let options = CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64])

    func check(_ routes: [FlowRoute], label: String, merge: Bool = false) throws {
        var options = Self.options
        options.merge = merge
        let result = compile(routes, options: options)
        let text = NftPrinter.render(result.table)
        let (status, out) = try NFT.run(["--debug=netlink"], input: text)
        #expect(status == 0, "nft refused the printed text (\(label)):\n\(out.prefix(3000))\n--- text ---\n\(text.prefix(3000))")
        guard status == 0 else { return }
        if let dir = ProcessInfo.processInfo.environment["FSC_ORACLE_DUMP"] {
            let base = dir + "/" + label.replacingOccurrences(of: " ", with: "-")
            try text.write(toFile: base + ".nft", atomically: true, encoding: .utf8)
            try out.write(toFile: base + ".out", atomically: true, encoding: .utf8)
        }
        let dump = NftDebugDump(out, table: result.table.name, chain: "filter")
        let rules = result.table.chains[0].rules
        #expect(dump.rules.count == rules.count, "\(label): nft made \(dump.rules.count) rules, the IR has \(rules.count)")
        var mismatches = 0
        for (k, (mine, theirs)) in zip(rules, dump.rules).enumerated() {
            let expected = mine.expressions.map(debugLine)
            if expected != theirs {
                mismatches += 1
                if mismatches <= 5 {
                    let route = routes[result.ruleRoutes[k]]
                    Issue.record("""
                        \(label) rule \(k) (\(mine.comment ?? "")) differs.
                        route: \(route.components) \(route.actions)
                        text: \(NftPrinter.ruleText(mine))
                        IR:
                        \(expected.joined(separator: "\n"))
                        nft:
                        \(theirs.joined(separator: "\n"))
                        """)
                }
            }
        }
        #expect(mismatches == 0, "\(label): \(mismatches) of \(rules.count) rules differ")
        for set in result.table.sets {
            #expect(dump.elements[set.name] ?? [] == expectedDebugElements(set),
                    "\(label): elements of \(set.name) differ: nft \(dump.elements[set.name] ?? []) IR \(expectedDebugElements(set))")
        }
        let limits = result.table.objects.compactMap { if case .limit(_, let l) = $0 { expectedDebugLimit(l) } else { nil } }
        #expect(dump.limits == limits, "\(label): limit objects differ")
    }

    @Test func fixtureRoutesCompileToWhatNftGenerates() throws {
        let routes = try FixtureRoutes.load()
        try #require(routes.count >= 50, "fixture routes missing")
        try check(routes, label: "fixtures")
    }

    @Test(arguments: [1, 2, 3, 4])
    func randomRoutesCompileToWhatNftGenerates(seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 0x1234_5678_9abc)
        let routes = (0..<150).map { _ in RandomRoutes.route(&rng) }
        // Odd seeds one rule per route, even seeds merged.
        try check(routes, label: "random seed \(seed)", merge: seed % 2 == 0)
    }

    @Test func atomicReplaceLoadsTwice() throws {
        let routes = try FixtureRoutes.load()
        let text = NftPrinter.render(compile(routes, options: Self.options).table, replace: true)
        let (status, out) = try NFT.run(["-c"], input: text + text)
        #expect(status == 0, "\(out)")
    }
}
