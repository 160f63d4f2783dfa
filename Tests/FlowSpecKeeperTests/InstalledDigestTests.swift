import FlowSpec
import FlowSpecCompiler
import FlowSpecKeeper
import Testing

/// `InstalledRoutes.digest` (`show --digest`): one line that two switches share exactly when
/// their tables filter the same routes the same way, whatever form the table took.
@Suite struct InstalledDigestTests {
    static let routes = MixedRouteGenerator().routes(count: 1500).ordered(.rfc)

    static func digest(_ routes: [FlowRoute], _ options: CompileOptions = CompileOptions(), decoding: Bool = false) -> String {
        InstalledRoutes(compile(routes, options: options).table, decodingRoutes: decoding).digest
    }

    @Test("the same routes give the same line merged, unmerged and dispatched, with or without counters, decoded or not")
    func formsAgree() {
        let merged = Self.digest(Self.routes)
        #expect(merged.hasPrefix("routes=\(InstalledRoutes(compile(Self.routes).table).entries.count) policy=accept digest="), "\(merged)")
        #expect(Self.digest(Self.routes, decoding: true) == merged)
        #expect(Self.digest(Self.routes, CompileOptions(merge: false)) == merged)
        #expect(Self.digest(Self.routes, CompileOptions(counters: false)) == merged)
        var dispatched = CompileOptions()
        dispatched.dispatch = .always
        #expect(Self.digest(Self.routes, dispatched) == merged)
    }

    @Test("a route more, an action changed, a comment or the chain policy changed: another line")
    func changesShow() {
        let base = Self.digest(Self.routes)
        #expect(Self.digest(Array(Self.routes.dropLast())) != base)
        var changed = Self.routes
        let i = changed.firstIndex { $0.actions.contains(.trafficRateBytes(asn: 0, bytesPerSecond: 0)) }!
        changed[i].extendedCommunities = [FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 125_000).community]
        #expect(Self.digest(changed) != base)
        var commented = Self.routes
        commented[i].comment = "ticket 4711"
        #expect(Self.digest(commented) != base)
        #expect(Self.digest(Self.routes, CompileOptions(defaultPolicy: .drop)) != base)
    }
}
