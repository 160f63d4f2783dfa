import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink
@testable import FlowSpecFetcher

/// A dispatch table (docs/merging.md, "Destination dispatch") reads back, as compiled and as the
/// kernel lists it, to exactly the routes of its linear form, in the same order.
@Suite("ChainReader: dispatch tables", .serialized)
struct DispatchReadTests {
    @Test("the mixed workload in the dispatch form reads back as its linear form does")
    func mixedWorkload() throws {
        let routes = MixedRouteGenerator().routes(count: 1200).ordered(.rfc)
        let dispatched = compile(routes, options: CompileOptions(dispatch: .always))
        #expect(dispatched.figures.form == .dispatch)
        let linear = compile(routes, options: CompileOptions(merge: false, dispatch: .never))
        let expected = try MergedReadTests.read(linear.table)
        #expect(expected.problems.isEmpty, "\(expected.problems.prefix(3))")
        #expect(expected.routes.count == routes.count)
        for (source, table) in try MergedReadTests.tables(dispatched) {
            let got = try MergedReadTests.read(table)
            #expect(got.problems.isEmpty, "\(source): \(got.problems.prefix(3))")
            #expect(got.flowRoutes == expected.flowRoutes, "\(source)")
            #expect(got.routes.map(\.position.index) == expected.routes.map(\.position.index), "\(source)")
        }
    }
}
