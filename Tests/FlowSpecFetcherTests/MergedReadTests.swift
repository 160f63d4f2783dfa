import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink
@testable import FlowSpecFetcher

/// Merged rules (docs/merging.md) read element by element: one route per element (the elements
/// of one route joined), at the rule's position, with the rule's other matches and action. Each
/// table is read as the compiler made it and, when the kernel is available, as the kernel lists
/// it back (hash keys decoded into fields, rbtree intervals re-paired, pipapo key ends).
@Suite("ChainReader: merged rules (set lookups, limit maps)", .serialized)
struct MergedReadTests {
    static let options = FetchOptions(sequenceCarrier: .none)

    /// The chain as compiled, then as the kernel returns it.
    static func tables(_ compiled: CompileResult) throws -> [(String, NftTable)] {
        var out = [("compiled", compiled.table)]
        if Kernel.available {
            let connection = try NftConnection.inNewNamespace()
            _ = try connection.apply(compiled.table)
            out.append(("kernel", try #require(try connection.listTable(name: compiled.table.name, family: .inet)).table))
        }
        return out
    }

    static func read(_ table: NftTable, _ options: FetchOptions = options) throws -> FetchResult {
        try ChainReader.read(table: table, chain: "filter", options: options)
    }

    /// Reads the compiled table and its kernel listing back; each must give every route of
    /// `routes` exactly, at merged rule `rule`, and nothing else there. Returns the results.
    @discardableResult
    static func expectEachRouteReadBack(_ routes: [FlowRoute], _ compiled: CompileResult, rule: Int,
                                        sourceLocation: SourceLocation = #_sourceLocation) throws -> [FetchResult] {
        var results: [FetchResult] = []
        for (source, table) in try tables(compiled) {
            let result = try read(table)
            #expect(result.problems.isEmpty, "\(source): \(result.problems)", sourceLocation: sourceLocation)
            let got = byIdentity(result, rule: rule)
            #expect(got.count == routes.count, "\(source): \(got)", sourceLocation: sourceLocation)
            for r in routes {
                #expect(got[r.identity] == [r], "\(source): \(r.identity) read back as \(got[r.identity] ?? [])",
                        sourceLocation: sourceLocation)
            }
            results.append(result)
        }
        return results
    }

    static func byIdentity(_ result: FetchResult, rule index: Int) -> [String: [FlowRoute]] {
        var out: [String: [FlowRoute]] = [:]
        for f in result.routes where f.position.index == index { out[f.position.element ?? "", default: []].append(f.route) }
        return out
    }

    static func mergedRule(_ compiled: CompileResult, _ check: (NftSet) -> Bool) throws -> (rule: Int, set: NftSet) {
        for m in compiled.merged {
            let set = try #require(compiled.table.sets.first { $0.name == m.set })
            if check(set) { return (m.rule + 1, set) }
        }
        Issue.record("no merged rule of the kind wanted: \(compiled.table.sets.map { "\($0.name) \($0.keyFields.map(\.name)) \($0.flags)" })")
        throw CancellationError()
    }

    @Test("masked concatenated hash set: ip saddr & /24 . ip daddr . th dport")
    func maskedConcatenatedHashSet() throws {
        let routes = [
            route([.destinationPrefix(p("203.0.113.1/32")), .sourcePrefix(p("198.51.100.0/24")), .numeric(.ipProtocol, eq(6)),
                   .numeric(.destinationPort, eq(80, 443))], [drop]),
            route([.destinationPrefix(p("203.0.113.2/32")), .sourcePrefix(p("198.51.100.0/24")), .numeric(.ipProtocol, eq(6)),
                   .numeric(.destinationPort, eq(22))], [drop]),
            route([.destinationPrefix(p("203.0.113.1/32")), .sourcePrefix(p("192.0.2.0/24")), .numeric(.ipProtocol, eq(6)),
                   .numeric(.destinationPort, eq(80))], [drop]),
        ]
        let compiled = compile(routes)
        let (rule, set) = try Self.mergedRule(compiled) { $0.keyFields.count == 3 && !$0.flags.contains(.interval) }
        #expect(set.elements.count == 4)
        #expect(compiled.table.chains[0].rules[rule - 1].expressions.contains { if case .bitwise = $0 { true } else { false } })
        // The two elements of route 0 (ports 80 and 443) come back as one route.
        for result in try Self.expectEachRouteReadBack(routes, compiled, rule: rule) {
            #expect(result.routes.filter { $0.position.index == rule }.allSatisfy { $0.warnings.isEmpty })
        }
    }

    @Test("IPv6 offset prefixes as key parts: the masked octets read back as the prefix with its offset")
    func offsetPrefixKeys() throws {
        var routes: [FlowRoute] = []
        for i in 1...3 {
            let d = Component.destinationPrefix(p("2001:db8::\(i)/128"))
            routes.append(route6([d, .sourcePrefix(FlowPrefix(address: IPAddress(family: .ipv6, high: 0, low: UInt64(0xab00 + i) << 32), length: 96, offset: 64)!)], [drop]))
            routes.append(route6([d, .sourcePrefix(FlowPrefix(address: IPAddress(family: .ipv6, high: 0x5, low: UInt64(0xcd00 + i) << 28), length: 100, offset: 60)!),
                                 .numeric(.ipProtocol, eq(17)), .numeric(.sourcePort, eq(53))], [drop]))
        }
        routes = routes.ordered(.rfc)
        let compiled = compile(routes, options: CompileOptions(dispatch: .never))
        #expect(compiled.table.ruleCount == 2)
        for offset in [UInt32(128), 120] {
            let (rule, _) = try Self.mergedRule(compiled) { $0.typeof?.first == .raw(base: 2, offset: offset, bits: offset == 128 ? 32 : 48) }
            let ofRule = routes.filter { r in
                r.components.contains { if case .sourcePrefix(let s) = $0 { s.offset == (offset == 128 ? 64 : 60) } else { false } }
            }
            try Self.expectEachRouteReadBack(ofRule, compiled, rule: rule)
        }
    }

    @Test("a masked element with bits outside the mask never matches and is left out")
    func maskedElementWithHostBits() throws {
        let routes = (1...2).map { i in
            route([.destinationPrefix(p("203.0.113.\(i)/32")), .sourcePrefix(p("198.51.100.0/24")), .numeric(.ipProtocol, eq(17)),
                   .numeric(.destinationPort, eq(53))], [drop])
        }
        var compiled = compile(routes)
        let (_, set) = try Self.mergedRule(compiled) { $0.keyFields.count == 3 }
        let s = try #require(compiled.table.sets.firstIndex { $0.name == set.name })
        compiled.table.sets[s].elements[0].key[3] = 7   // 198.51.100.7 & 255.255.255.0 never is 198.51.100.7
        let result = try Self.read(compiled.table)
        #expect(result.problems.isEmpty)
        #expect(result.routes.filter { !$0.position.isPolicy }.count == 1)
        #expect(result.routes[0].warnings.contains { $0.contains("can never match") })
    }

    @Test("pipapo interval set: ip daddr . th dport with prefixes and port ranges")
    func pipapoIntervalSet() throws {
        let routes = [
            route([.destinationPrefix(p("203.0.113.1/32")), .numeric(.ipProtocol, eq(6)), .numeric(.destinationPort, between(1000, 2000))], [drop]),
            route([.destinationPrefix(p("203.0.113.128/25")), .numeric(.ipProtocol, eq(6)), .numeric(.destinationPort, between(3000, 3999))], [drop]),
            route([.destinationPrefix(p("192.0.2.0/24")), .numeric(.ipProtocol, eq(6)),
                   .numeric(.destinationPort, eq(22) + between(8000, 8080))], [drop]),
        ]
        let compiled = compile(routes)
        let (rule, set) = try Self.mergedRule(compiled) { $0.keyFields.count == 2 && $0.flags.contains(.interval) }
        #expect(set.elements.allSatisfy { $0.keyEnd != nil })
        try Self.expectEachRouteReadBack(routes, compiled, rule: rule)
    }

    @Test("rbtree single-field interval set: th dport ranges")
    func rbtreeSingleFieldSet() throws {
        let routes = [
            route([.numeric(.ipProtocol, eq(17)), .numeric(.destinationPort, between(1000, 1999))], [drop]),
            route([.numeric(.ipProtocol, eq(17)), .numeric(.destinationPort, between(3000, 3999))], [drop]),
            // A single value and a range: two elements (the first without a key end), one route.
            route([.numeric(.ipProtocol, eq(17)), .numeric(.destinationPort, eq(5000) + between(6000, 6099))], [drop]),
        ]
        let compiled = compile(routes)
        let (rule, set) = try Self.mergedRule(compiled) { $0.keyFields.count == 1 && $0.flags.contains(.interval) }
        #expect(set.elements.count == 4)
        #expect(set.elements.contains { $0.keyEnd == nil })
        try Self.expectEachRouteReadBack(routes, compiled, rule: rule)
    }

    static let rated: [FlowRoute] = (1...3).map { i in
        route([.destinationPrefix(p("203.0.113.\(i)/32")), .sourcePrefix(p("198.51.100.\(i)/32")), .numeric(.ipProtocol, eq(17)),
               .numeric(.destinationPort, eq(53))], [.trafficRateBytes(asn: 0, bytesPerSecond: Float(125_000 * i))])
    }

    @Test("limit map, counted and not: each element's limit object is its route's rate", arguments: [true, false])
    func limitMap(counters: Bool) throws {
        let compiled = compile(Self.rated, options: CompileOptions(counters: counters))
        let (rule, set) = try Self.mergedRule(compiled) { $0.flags.contains(.object) }
        #expect(set.objectType == .limit)
        let lookups = compiled.table.chains[0].rules[rule - 1].expressions.filter { if case .lookup = $0 { true } else { false } }
        #expect(lookups.count == (counters ? 1 : 0))
        for (source, table) in try Self.tables(compiled) {
            let result = try Self.read(table)
            #expect(result.problems.isEmpty, "\(source): \(result.problems)")
            // One route per rate-limited route, at the limit map's position: its conforming half
            // (the next merged rule, `accept`) is taken with it.
            let routes = result.routes.filter { !$0.position.isPolicy }
            #expect(routes.count == 3, "\(source): \(routes.map(\.route))")
            #expect(routes.allSatisfy { $0.position.index == rule && $0.sequence == nil })
            let got = Self.byIdentity(result, rule: rule)
            for r in Self.rated { #expect(got[r.identity] == [r], "\(source): \(r.identity) read back as \(got[r.identity] ?? [])") }
        }
    }

    @Test("a limit map's conforming half further on: paired when no rule between can take its traffic")
    func limitMapPairedAcrossRules() throws {
        let compiled = compile(Self.rated)
        let (rule, _) = try Self.mergedRule(compiled) { $0.flags.contains(.object) }
        let nfproto4: [NftExpression] = [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [2])]
        // TCP only: no packet of the (UDP) limits.
        let disjoint = NftRule(expressions: nfproto4 + [.meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [6]),
                                                          .immediateVerdict(.drop)])
        // 203.0.113.0/24: takes some of their traffic.
        let overlapping = NftRule(expressions: nfproto4 + [.payload(base: .network, offset: 16, length: 3, dreg: .reg1),
                                                             .cmp(op: .eq, sreg: .reg1, data: [203, 0, 113]), .immediateVerdict(.drop)])
        for (between, paired) in [(disjoint, true), (overlapping, false)] {
            var table = compiled.table
            table.chains[0].rules.insert(between, at: rule)
            let result = try Self.read(table, FetchOptions(sequenceStep: 10, sequenceCarrier: .largeCommunity(global: 65309)))
            #expect(result.problems.isEmpty)
            let routes = result.routes.filter { !$0.position.isPolicy }
            if paired {
                #expect(routes.count == 3 + 1)
                for r in Self.rated {
                    let back = routes.filter { $0.position.identity == r.identity }
                    #expect(back.map(\.route.actions) == [r.actions], "\(back.map(\.route))")
                    #expect(back.map(\.sequence) == [UInt64(rule) * 10])
                }
            } else {
                // Rate with the T bit (conforming traffic goes on), then the accept further on.
                #expect(routes.count == 3 + 1 + 3)
                for r in Self.rated {
                    let back = routes.filter { $0.position.identity == r.identity }
                    #expect(back.count == 2)
                    #expect(back.first?.route.actions == r.actions + [.trafficAction(sample: false, terminal: true)])
                    #expect(back.first?.position.index == rule)
                    #expect(back.last?.route.actions == [])
                    #expect(back.last?.position.index == rule + 2)
                }
            }
        }
    }

    @Test("the routes of one merged rule share its sequence number")
    func elementsShareTheSequenceNumber() throws {
        let routes = (1...5).map { i in
            route([.destinationPrefix(p("203.0.113.\(i)/32")), .numeric(.ipProtocol, eq(6)), .numeric(.destinationPort, eq(443))], [drop])
        }
        let compiled = compile(routes)
        #expect(compiled.table.chains[0].rules.count == 1)
        let result = try Self.read(compiled.table, FetchOptions(sequenceStep: 10, sequenceCarrier: .largeCommunity(global: 65309)))
        let fetched = result.routes.filter { !$0.position.isPolicy }
        #expect(fetched.count == 5)
        #expect(fetched.allSatisfy { $0.sequence == 10 && $0.route.largeCommunities == [LargeCommunity(global: 65309, local1: 10, local2: 0)] })
        #expect(Set(fetched.map { $0.position.element ?? "" }) == Set(routes.map(\.identity)))
        // The policy follows the one rule.
        #expect(result.routes.filter(\.position.isPolicy).allSatisfy { $0.sequence == 20 })
    }

    @Test("identity comments of elements are cross-checked; preferIdentity keeps one route per element identity")
    func elementIdentities() throws {
        let routes = (1...3).map { i in
            route([.destinationPrefix(p("203.0.113.\(i)/32")), .numeric(.ipProtocol, eq(6)), .numeric(.destinationPort, eq(80, 443))], [drop])
        }
        var compiled = compile(routes)
        let (_, set) = try Self.mergedRule(compiled) { $0.keyFields.count == 2 }
        let s = try #require(compiled.table.sets.firstIndex { $0.name == set.name })
        // Element comments swapped between two routes: the expressions win, with a warning.
        let a = compiled.table.sets[s].elements.firstIndex { $0.comment == routes[0].identity }!
        let b = compiled.table.sets[s].elements.firstIndex { $0.comment == routes[1].identity }!
        compiled.table.sets[s].elements[a].comment = routes[1].identity
        compiled.table.sets[s].elements[b].comment = routes[0].identity
        let checked = try Self.read(compiled.table)
        #expect(checked.routes.contains { $0.warnings.contains { $0.contains("different match") } })
        #expect(checked.routes.filter { !$0.position.isPolicy }.count == 5, "the swapped elements no longer join their routes")
        let preferred = try Self.read(compiled.table, FetchOptions(sequenceCarrier: .none, preferIdentity: true))
        #expect(Set(preferred.routes.filter { !$0.position.isPolicy }.map(\.route)) == Set(routes.map { $0 }))
        #expect(preferred.routes.filter { !$0.position.isPolicy }.count == 3)
    }

    @Test("what a merged rule cannot say is a problem of the rule")
    func unsupportedMergedRules() throws {
        let set = NftSet(name: "s", flags: [], keyFields: [.ipv4Address, .inetService],
                         elements: [NftSetElement(key: [203, 0, 113, 1, 0, 53, 0, 0])])
        let nfproto4: [NftExpression] = [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [2]),
                                         .meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [17])]
        let daddr = NftExpression.payload(base: .network, offset: 16, length: 4, dreg: .reg1)
        let dport = NftExpression.payload(base: .transport, offset: 2, length: 2, dreg: .reg32(1))
        let rules = [
            NftRule(expressions: nfproto4 + [daddr, dport, .lookup(set: "s", sreg: .reg1, invert: false), .immediateVerdict(.drop)]),
            NftRule(expressions: nfproto4 + [daddr, dport, .lookup(set: "s", sreg: .reg1, invert: true), .immediateVerdict(.drop)]),
            // The second key part is not loaded where the key says.
            NftRule(expressions: nfproto4 + [daddr, .payload(base: .transport, offset: 2, length: 2, dreg: .reg32(2)),
                                             .lookup(set: "s", sreg: .reg1, invert: false), .immediateVerdict(.drop)]),
            // The input interface as a key part.
            NftRule(expressions: nfproto4 + [.meta(key: .iif, dreg: .reg1), dport, .lookup(set: "s", sreg: .reg1, invert: false),
                                             .immediateVerdict(.drop)]),
            // Overwritten: the port load into the address's register replaces it.
            NftRule(expressions: nfproto4 + [.payload(base: .network, offset: 16, length: 4, dreg: .reg1),
                                             .payload(base: .transport, offset: 2, length: 2, dreg: .reg32(0)), dport,
                                             .lookup(set: "s", sreg: .reg1, invert: false), .immediateVerdict(.drop)]),
        ]
        let table = NftTable(name: "t", family: .inet, sets: [set], chains: [NftChain(name: "c", rules: rules)])
        let result = try ChainReader.read(table: table, chain: "c", options: Self.options)
        #expect(result.routes.map(\.route) == [route([.destinationPrefix(p("203.0.113.1/32")), .numeric(.ipProtocol, eq(17)),
                                                      .numeric(.destinationPort, eq(53))], [drop])])
        #expect(result.problems.map(\.position.index) == [2, 3, 4, 5])
        #expect(result.problems[0].reason.contains("cannot be negated"))
        #expect(result.problems[1].reason.contains("key part 2"))
        #expect(result.problems[2].reason.contains("input interface"))
        #expect(result.problems[3].reason.contains("key part 1"))
    }
}
