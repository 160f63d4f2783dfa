import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink
@testable import FlowSpecFetcher

/// A dispatch table (docs/merging.md, "Destination dispatch") reads back, as compiled and as the
/// kernel lists it, to exactly the routes of its linear form, in the same order.
@Suite("ChainReader: dispatch tables", .serialized)
struct DispatchReadTests {
    @Test("the mixed workload dispatched over merged rules reads back as its merged form does")
    func mergedDispatch() throws {
        let routes = MixedRouteGenerator().routes(count: 3000).ordered(.rfc)
        let dispatched = compile(routes)
        #expect(dispatched.figures.form == .dispatch && dispatched.table.sets.contains { !$0.flags.contains(.map) })
        let merged = compile(routes, options: CompileOptions(dispatch: .never))
        let expected = try MergedReadTests.read(merged.table)
        #expect(expected.problems.isEmpty, "\(expected.problems.prefix(3))")
        for (source, table) in try MergedReadTests.tables(dispatched) {
            let got = try MergedReadTests.read(table)
            #expect(got.problems.isEmpty, "\(source): \(got.problems.prefix(3))")
            #expect(Dictionary(got.flowRoutes.map { ($0, 1) }, uniquingKeysWith: +) == Dictionary(expected.flowRoutes.map { ($0, 1) }, uniquingKeysWith: +),
                    "\(source)")
        }
    }

    @Test("the mixed workload in the dispatch form reads back as its linear form does")
    func mixedWorkload() throws {
        let routes = MixedRouteGenerator().routes(count: 1200).ordered(.rfc)
        let dispatched = compile(routes, options: CompileOptions(dispatch: .always))
        #expect(dispatched.figures.form == .dispatch)
        let linear = compile(routes, options: CompileOptions(merge: false, dispatch: .never))
        let expected = try MergedReadTests.read(linear.table)
        #expect(expected.problems.isEmpty, "\(expected.problems.prefix(3))")
        // Every route, each of its value-list rules read as a route of its own (the expressions
        // are used, not the identity comment).
        #expect(Set(expected.routes.compactMap(\.position.identity)) == Set(routes.map(\.identity)))
        for (source, table) in try MergedReadTests.tables(dispatched) {
            let got = try MergedReadTests.read(table)
            #expect(got.problems.isEmpty, "\(source): \(got.problems.prefix(3))")
            // The same routes; their order is the linear form's but inside a destination's chain
            // dispatched on the protocol, where it goes by protocol (an order of the same meaning).
            #expect(got.flowRoutes.count == expected.flowRoutes.count, "\(source)")
            #expect(Dictionary(got.flowRoutes.map { ($0, 1) }, uniquingKeysWith: +) == Dictionary(expected.flowRoutes.map { ($0, 1) }, uniquingKeysWith: +),
                    "\(source)")
        }
        // With the identity preferred, a route's value-list rules read back as the route once.
        let preferred = try ChainReader.read(table: linear.table, chain: "filter", options: FetchOptions(sequenceCarrier: .none, preferIdentity: true))
        let ids = preferred.routes.filter { !$0.position.isPolicy }.map(\.route.identity), want = routes.map(\.identity)
        #expect(ids == want, "\(ids.count) routes read, \(want.count) compiled; last \(preferred.routes.suffix(2))")
    }
}
