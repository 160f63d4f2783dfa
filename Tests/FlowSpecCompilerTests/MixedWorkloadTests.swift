import FlowSpec
import FlowSpecCompiler
import Testing

/// The mixed workload of the bench (`MixedRouteGenerator`): what it promises about itself, and
/// that the compiler takes every route of it in both forms.
@Suite struct MixedWorkloadTests {
    let generator = MixedRouteGenerator()

    @Test func routesAreValidUniqueAndInTheDocumentedProportions() throws {
        let routes = generator.routes(count: 100_000)
        for (i, r) in routes.enumerated() where i % 97 == 0 { try r.validate() }
        #expect(Set(routes.map(\.id)).count == routes.count)
        // The generator's promise: unique up to 983,040 routes (the last 20 hosts' worth here).
        let tail = (963_040..<983_040).map(generator.route)
        #expect(Set(tail.map(\.id)).count == tail.count)
        #expect(Set(tail.map(\.id)).isDisjoint(with: Set(routes.map(\.id))))
        // Every component type but the bare `port` (4) and flow label (13), in both families.
        var types: [AddressFamily: Set<UInt8>] = [:]
        for r in routes { for c in r.components { types[r.family, default: []].insert(c.type.rawValue) } }
        #expect(types[.ipv4] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12])
        #expect(types[.ipv6] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12])
        let v6 = routes.count { $0.family == .ipv6 }
        #expect(abs(Double(v6) / Double(routes.count) - 0.25) < 0.01)
        #expect(routes.count { $0.actions.isEmpty } == 20_000)
    }

    @Test(arguments: [false, true])
    func everyRouteCompilesInBothForms(merge: Bool) {
        let routes = generator.routes(count: 4000)
        let result = compile(routes.ordered(.rfc), options: CompileOptions(merge: merge))
        #expect(result.rejected.isEmpty, "\(result.rejected.prefix(3))")
        #expect(result.table.ruleCount > 0)
    }
}
