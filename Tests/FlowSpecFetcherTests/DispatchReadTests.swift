import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink
@testable import FlowSpecCompiler
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
    /// Rules in a dispatch chain leave out what the chain implies (`ImpliedMatches`), and
    /// `linearRules` gives each back whole: from the compiled table and from the kernel's listing,
    /// whose interval map must then read back exactly (adjacent intervals share a key there).
    @Test("dispatch chains leave out their implied matches and read back whole")
    func impliedMatches() throws {
        let routes = MixedRouteGenerator().routes(count: 1200).ordered(.rfc)
        let dispatched = compile(routes, options: CompileOptions(dispatch: .always))
        let linear = compile(routes, options: CompileOptions(merge: false, dispatch: .never))
        var whole: [String: [NftRule]] = [:]
        for r in linear.table.chains[0].rules { whole[r.comment ?? "", default: []].append(r) }
        let chained = dispatched.table.chains.dropFirst().flatMap(\.rules).filter { $0.comment.map(RouteIdentity.isIdentity) ?? false }
        let keptFamily = chained.filter { if case .meta(.nfproto, _)? = $0.expressions.first { true } else { false } }
        let keptProtocol = chained.filter { $0.expressions.contains { if case .meta(.l4proto, _) = $0 { true } else { false } } }
        // Only rules nft could not print without their family keep it (DSCP rewrites, IPv6
        // extension headers); most leave out their protocol too.
        #expect(chained.count > 1000 && keptFamily.allSatisfy { r in
            r.expressions.contains { switch $0 { case .payloadSet, .exthdr: true; default: false } }
        }, "\(keptFamily.prefix(2))")
        #expect(keptProtocol.count * 4 < chained.count, "\(keptProtocol.count) of \(chained.count) keep their protocol")
        for (source, table) in try MergedReadTests.tables(dispatched) {
            let got = table.linearRules(ofChain: "filter").filter { $0.comment.map(RouteIdentity.isIdentity) ?? false }
            #expect(got.count == linear.table.ruleCount - 1 || got.count == linear.table.ruleCount, "\(source)")
            let wrong = got.filter { !(whole[$0.comment!]?.contains($0) ?? false) }
            #expect(wrong.isEmpty, "\(source): \(wrong.count) rules read back otherwise, first \(wrong.prefix(1))")
            if source == "kernel" {
                let listed = table.sets.first { $0.name == "dispatch4" }?.elements
                #expect(listed == dispatched.table.sets.first { $0.name == "dispatch4" }?.elements)
            }
        }
    }

    @Test("implied matches come back where they were taken from, or stay")
    func impliedMatchesInverse() throws {
        let keys = [DispatchKey(destinationOf: FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("192.0.2.16/28")!)]))!,
                    DispatchKey(destinationOf: FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("2001:db8::/48")!)]))!]
        for key in keys {
            let route = FlowRoute(family: key.v6 ? .ipv6 : .ipv4, components: [
                .destinationPrefix(key.v6 ? FlowPrefix("2001:db8::/48")! : FlowPrefix("192.0.2.16/28")!),
                .sourcePrefix(key.v6 ? FlowPrefix("2001:db8:1::/64")! : FlowPrefix("198.51.100.0/26")!),
                .numeric(.ipProtocol, [.equal(6)]), .numeric(.destinationPort, [.equal(443)])])
            let rule = compile([route], options: CompileOptions(merge: false, dispatch: .never)).table.chains[0].rules[0]
            let s = ImpliedMatches.stripped(rule, of: key)
            #expect(s.expressions.count == rule.expressions.count - ImpliedMatches.expressions(of: key).count)
            #expect(ImpliedMatches.restored(s, of: key) == rule)
            #expect(ImpliedMatches.restored(rule, of: key) == rule)
            let proto = DispatchKey(field: DispatchField(kind: .transportProtocol, v6: key.v6), value: 6, length: 8)
            let p = ImpliedMatches.stripped(s, of: proto)
            #expect(p.expressions.count == s.expressions.count - 2)
            #expect(ImpliedMatches.restored(ImpliedMatches.restored(p, of: proto), of: key) == rule)
            // A port level below: the source port comes after the destination port's match (a
            // range here: two equalities on adjacent ports are one load, and no port key).
            for (kind, value) in [(DispatchField.Kind.sourcePort, UInt128(53)), (.destinationPort, 443)] {
                let ports: [Component] = kind == .sourcePort
                    ? [.numeric(.destinationPort, [NumericTerm(gt: true, eq: true, value: 1000), NumericTerm(and: true, lt: true, eq: true, value: 2000)]),
                       .numeric(.sourcePort, [.equal(53)])]
                    : [.numeric(.destinationPort, [.equal(443)]),
                       .numeric(.sourcePort, [NumericTerm(gt: true, eq: true, value: 1000), NumericTerm(and: true, lt: true, eq: true, value: 2000)])]
                var r = route
                r.components = route.components.filter { $0.type != .destinationPort } + ports
                let whole = compile([r], options: CompileOptions(merge: false, dispatch: .never)).table.chains[0].rules[0]
                let above = ImpliedMatches.stripped(ImpliedMatches.stripped(whole, of: key), of: proto)
                let port = DispatchKey(field: DispatchField(kind: kind, v6: key.v6), value: value, length: 16)
                let q = ImpliedMatches.stripped(above, of: port)
                #expect(q.expressions.count == above.expressions.count - 2, "\(kind)")
                #expect(ImpliedMatches.restored(q, of: port) == above, "\(kind)")
            }
            // A rule of another key is not touched.
            let other = DispatchKey(field: key.field, value: key.value ^ (UInt128(1) << UInt128(key.width - key.length)), length: key.length)
            #expect(ImpliedMatches.stripped(rule, of: other) == rule)
        }
    }
}
