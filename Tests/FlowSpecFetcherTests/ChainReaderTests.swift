import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecNetlink
@testable import FlowSpecFetcher

/// An operator-written chain covering every supported idiom, and some that are not supported.
let operatorRuleset = """
table inet fw {
  set s4 { type ipv4_addr; flags interval; elements = { 192.0.2.0/24, 198.51.100.7 } }
  limit lim { rate over 125000 bytes/second }
  chain other { }
  chain forward_filter {
    type filter hook forward priority 0; policy drop;
    ip saddr 192.0.2.0/24 ip daddr 198.51.100.7 tcp dport 80 counter drop
    ip6 daddr 2001:db8::/32 udp sport 1000-2000 accept
    ip daddr { 203.0.113.0/25, 198.51.100.0/24 } tcp dport { 22, 80-90 } drop
    ip daddr @s4 meta l4proto udp th dport 53 limit rate over 1000 bytes/second drop
    ip daddr @s4 meta l4proto udp th dport 53 accept
    icmp type echo-request icmp code 0 log group 5 accept
    icmpv6 type 128 drop
    meta nfproto ipv4 tcp flags & (syn|ack) == syn drop
    ip length 100-200 ip dscp 46 drop
    ip6 length < 64 ip6 dscp cs1 drop
    ip frag-off & 0x1fff != 0 drop
    ip6 flowlabel 0x8e5 drop
    ip daddr 203.0.113.5 ip dscp set 10 accept
    ip daddr 203.0.113.6 meta mark set 0x7 accept
    ip daddr 203.0.113.7 limit name "lim" drop
    ip saddr 198.51.100.1 iifname "eth0" drop
    ip daddr 203.0.113.8 jump other
    ip daddr != 203.0.113.9 drop
    ip ttl 1 drop
    ip daddr 203.0.113.10 udp dport 123 counter
  }
}
"""

/// What the chain means as flowspec routes (docs/fetcher.md), sequence numbers as traffic-marking.
let operatorRoutes: [FlowRoute] = [
    route([.destinationPrefix(p("198.51.100.7/32")), .sourcePrefix(p("192.0.2.0/24")), .numeric(.ipProtocol, eq(6)),
           .numeric(.destinationPort, eq(80))], [drop, seq(10)]),
    route6([.destinationPrefix(p("2001:db8::/32")), .numeric(.ipProtocol, eq(17)),
                  .numeric(.sourcePort, between(1000, 2000))], [seq(20)]),
    route([.destinationPrefix(p("198.51.100.0/24")), .numeric(.ipProtocol, eq(6)),
           .numeric(.destinationPort, eq(22) + between(80, 90))], [drop, seq(30)]),
    route([.destinationPrefix(p("203.0.113.0/25")), .numeric(.ipProtocol, eq(6)),
           .numeric(.destinationPort, eq(22) + between(80, 90))], [drop, seq(30)]),
    route([.destinationPrefix(p("192.0.2.0/24")), .numeric(.ipProtocol, eq(17)), .numeric(.destinationPort, eq(53))],
          [.trafficRateBytes(asn: 0, bytesPerSecond: 1000), seq(40)]),
    route([.destinationPrefix(p("198.51.100.7/32")), .numeric(.ipProtocol, eq(17)), .numeric(.destinationPort, eq(53))],
          [.trafficRateBytes(asn: 0, bytesPerSecond: 1000), seq(40)]),
    route([.numeric(.ipProtocol, eq(1)), .numeric(.icmpType, eq(8)), .numeric(.icmpCode, eq(0))],
          [.trafficAction(sample: true, terminal: false), seq(60)]),
    route6([.numeric(.ipProtocol, eq(58)), .numeric(.icmpType, eq(128))], [drop, seq(70)]),
    route([.numeric(.ipProtocol, eq(6)), .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02),
                                                             BitmaskTerm(and: true, not: true, value: 0x10)])], [drop, seq(80)]),
    route([.numeric(.packetLength, between(100, 200)), .numeric(.dscp, eq(46))], [drop, seq(90)]),
    route6([.numeric(.packetLength, between(40, 103)), .numeric(.dscp, eq(8))], [drop, seq(100)]),
    route([.bitmask(.fragment, [BitmaskTerm(value: 0x02)])], [drop, seq(110)]),
    route6([.numeric(.flowLabel, eq(0x8e5))], [drop, seq(120)]),
    route([.destinationPrefix(p("203.0.113.5/32"))], [.trafficMarking(dscp: 10, value: 10)]),
    route([.destinationPrefix(p("203.0.113.6/32"))], [.redirect(RouteTarget("65309:100")!), seq(140)]),
    route([.destinationPrefix(p("203.0.113.7/32"))],
          [.trafficRateBytes(asn: 0, bytesPerSecond: 125_000), .trafficAction(sample: false, terminal: true), seq(150)]),
    route([.destinationPrefix(p("203.0.113.10/32")), .numeric(.ipProtocol, eq(17)), .numeric(.destinationPort, eq(123))],
          [.trafficAction(sample: false, terminal: true), seq(200)]),
    route([.destinationPrefix(p("0.0.0.0/0")), .sourcePrefix(p("0.0.0.0/0"))], [drop, seq(210)]),
    route6([.destinationPrefix(p("::/0")), .sourcePrefix(p("::/0"))], [drop, seq(210)]),
]

@Suite("ChainReader: nft chains read back from the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct ChainReaderKernelTests {
    static let options = FetchOptions(sequenceCarrier: .trafficMarking, markTargets: [7: RouteTarget("65309:100")!])

    @Test func operatorChainBecomesTheIntendedRoutes() throws {
        let installed = try loadAndList(operatorRuleset, table: "fw", family: .inet)
        let result = try ChainReader.read(table: installed.table, chain: "forward_filter", ruleHandles: installed.ruleHandles["forward_filter"],
                                          options: Self.options)
        let got = result.flowRoutes
        #expect(got.count == operatorRoutes.count)
        for (g, w) in zip(got, operatorRoutes) where g != w {
            Issue.record("got \(g)\nwant \(w)")
        }
        #expect(result.problems.map(\.position.index) == [16, 17, 18, 19])
        #expect(result.problems[0].reason.contains("input interface"))
        #expect(result.problems[1].reason.contains("jump to chain other"))
        #expect(result.problems[2].reason.contains("cannot be negated"))
        #expect(result.problems[3].reason.contains("IPv4 header bytes 8..<9"))
        #expect(result.problems.allSatisfy { $0.position.handle != nil })
        // Rule 13 sets DSCP: the sequence number cannot ride on traffic-marking too.
        #expect(result.routes.first { $0.position.index == 13 }?.warnings.contains { $0.contains("not carried") } == true)
        #expect(!result.isComplete)
    }

    @Test(.enabled(if: Bird.available, Bird.reason)) func theRoutesAreAcceptedByBIRD() throws {
        let installed = try loadAndList(operatorRuleset, table: "fw", family: .inet)
        let result = try ChainReader.read(table: installed.table, chain: "forward_filter", options: Self.options)
        let config = BIRDWriter.write(result.flowRoutes, comments: result.routes.map { $0.position.description })
        #expect(try Bird.check(config) == nil, "\(config)")
        #expect(!config.contains("NOT WRITTEN"))
    }

    @Test func aMarkWithoutARouteTargetIsAProblem() throws {
        let installed = try loadAndList(operatorRuleset, table: "fw", family: .inet)
        let result = try ChainReader.read(table: installed.table, chain: "forward_filter")
        #expect(result.problems.contains { $0.position.index == 14 && $0.reason.contains("mark 7") })
    }

    @Test func anIPTableGivesIPv4RoutesOnlyAndAnAcceptPolicyNoAction() throws {
        let ruleset = """
        table ip t {
          chain c {
            type filter hook forward priority 0; policy accept;
            tcp dport 22 drop
            ip saddr 192.0.2.1-192.0.2.6 drop
          }
        }
        """
        let installed = try loadAndList(ruleset, table: "t", family: .ip)
        let result = try ChainReader.read(table: installed.table, chain: "c",
                                          options: FetchOptions(sequenceCarrier: .none))
        #expect(result.problems.isEmpty)
        let sources = ["192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"]
        #expect(result.flowRoutes == [route([.numeric(.ipProtocol, eq(6)), .numeric(.destinationPort, eq(22))], [drop])]
            + sources.map { route([.sourcePrefix(p($0))], [drop]) }
            + [route([.destinationPrefix(p("0.0.0.0/0")), .sourcePrefix(p("0.0.0.0/0"))], [])])
    }
}

@Suite("ChainReader on hand-built tables")
struct ChainReaderUnitTests {
    /// Every row of the field table, loaded as the compiler loads it after its `meta nfproto`
    /// and `meta l4proto` context, reads back as the row's component (the input interface is
    /// no component: `EdgeHookTests.interfaceGroups` reads it back).
    @Test(arguments: PacketField.allCases.filter { $0.row.component != nil })
    func everyPacketFieldReadsBackAsItsComponent(_ f: PacketField) throws {
        let row = f.row
        var exprs: [NftExpression] = [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [row.family == .ipv6 ? 10 : 2])]
        if let p = row.l4proto { exprs += [.meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [p])] }
        switch row.load {
        case .meta(let k): exprs.append(.meta(key: k, dreg: .reg1))
        case .payload(let b, let o, let l): exprs.append(.payload(base: b, offset: o, length: l, dreg: .reg1))
        case .exthdr(let x): exprs.append(.exthdr(x, dreg: .reg1))
        }
        if case .fixed(let m) = row.mask {
            exprs.append(.bitwise(sreg: .reg1, dreg: .reg1, length: UInt32(m.count), mask: m, xor: [UInt8](repeating: 0, count: m.count)))
        }
        exprs += [.cmp(op: .eq, sreg: .reg1, data: [UInt8](repeating: 0, count: row.width)), .immediateVerdict(.drop)]
        let table = NftTable(name: "t", family: .inet, chains: [NftChain(name: "c", rules: [NftRule(expressions: exprs)])])
        let result = try ChainReader.read(table: table, chain: "c", options: FetchOptions(sequenceCarrier: .none))
        #expect(result.problems.isEmpty, "\(f): \(result.problems)")
        #expect(result.flowRoutes.first?.component(row.component!) != nil, "\(f): \(result.flowRoutes)")
    }

    /// The compiler's order: nfproto, prefixes, l4proto, transport fields; comment = identity.
    @Test func compilerStyleRuleWithIdentityComment() throws {
        let want = route([.destinationPrefix(p("203.0.113.0/24")), .numeric(.ipProtocol, eq(6)),
                          .numeric(.destinationPort, eq(443))], [drop])
        let rule = NftRule(expressions: [
            .meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [2]),
            .payload(base: .network, offset: 16, length: 4, dreg: .reg1),
            .bitwise(sreg: .reg1, dreg: .reg1, length: 4, mask: [255, 255, 255, 0], xor: [0, 0, 0, 0]),
            .cmp(op: .eq, sreg: .reg1, data: [203, 0, 113, 0]),
            .meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [6]),
            .payload(base: .transport, offset: 2, length: 2, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [1, 0xbb]),
            .counter(packets: 0, bytes: 0), .immediateVerdict(.drop),
        ], comment: want.identity)
        let table = NftTable(name: "flowspec", family: .inet, chains: [NftChain(name: "c", rules: [rule])])
        let result = try ChainReader.read(table: table, chain: "c", options: FetchOptions(sequenceCarrier: .none))
        #expect(result.flowRoutes == [want])
        #expect(result.routes[0].warnings.isEmpty)
        // A regular chain has no policy: no default route.
        #expect(result.routes.count == 1)
    }

    @Test func anIdentityThatDisagreesIsReportedOrPreferred() throws {
        let other = route([.destinationPrefix(p("192.0.2.0/24"))], [])
        let rule = NftRule(expressions: [
            .meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [2]),
            .payload(base: .network, offset: 16, length: 4, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [203, 0, 113, 1]),
            .immediateVerdict(.accept),
        ], comment: other.identity)
        let table = NftTable(name: "t", family: .inet, chains: [NftChain(name: "c", rules: [rule])])
        let checked = try ChainReader.read(table: table, chain: "c", options: FetchOptions(sequenceCarrier: .none))
        #expect(checked.flowRoutes == [route([.destinationPrefix(p("203.0.113.1/32"))], [])])
        #expect(checked.routes[0].warnings.contains { $0.contains("different match") })
        let preferred = try ChainReader.read(table: table, chain: "c", options: FetchOptions(sequenceCarrier: .none, preferIdentity: true))
        #expect(preferred.flowRoutes == [other])
    }

    @Test func unknownChainThrows() {
        #expect(throws: ChainNotFound.self) { try ChainReader.read(table: NftTable(name: "t"), chain: "nope") }
    }

    @Test func rangesSplitIntoPrefixes() {
        let a = IPAddress("2001:db8::")!, b = IPAddress("2001:db8::ffff:ffff:ffff:ffff")!
        #expect(prefixes(from: a, to: b) == [p("2001:db8::/64")])
        #expect(prefixes(from: IPAddress("0.0.0.0")!, to: IPAddress("255.255.255.255")!) == [p("0.0.0.0/0")])
        #expect(prefixes(from: IPAddress("192.0.2.255")!, to: IPAddress("192.0.3.0")!) == [p("192.0.2.255/32"), p("192.0.3.0/32")])
    }

    @Test func limitUnderRateFollowedByDropIsOneRoute() throws {
        let match: [NftExpression] = [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [10]),
                                      .meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [17])]
        let table = NftTable(name: "t", family: .inet, chains: [NftChain(name: "c", rules: [
            NftRule(expressions: match + [.limit(NftLimit(rate: 600, unit: .minute, kind: .packets, over: false)), .immediateVerdict(.accept)]),
            NftRule(expressions: match + [.immediateVerdict(.drop)]),
        ])])
        let result = try ChainReader.read(table: table, chain: "c", options: FetchOptions(sequenceCarrier: .largeCommunity(global: 65309)))
        #expect(result.problems.isEmpty)
        #expect(result.flowRoutes == [FlowRoute(family: .ipv6, components: [.numeric(.ipProtocol, eq(17))],
                                                extendedCommunities: [FlowAction.trafficRatePackets(asn: 0, packetsPerSecond: 10).community],
                                                largeCommunities: [LargeCommunity(global: 65309, local1: 10, local2: 0)])])
    }
}

/// The listener's own-session rules (`OwnSessions`) are the table's, not routes: fetch skips them.
@Test func fetchSkipsTheOwnSessionRules() throws {
    var o = CompileOptions(hook: .input, merge: false, dispatch: .never,
                           protectedSessions: [ProtectedSession(peer: IPAddress("192.0.2.1")!, local: IPAddress("192.0.2.2")!)])
    let route = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.0/24")!)],
                          actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
    let protected = compile([route], options: o).table
    o.protectedSessions = []
    let plain = compile([route], options: o).table
    #expect(protected.chains[0].rules.count == plain.chains[0].rules.count + 2)
    // The same routes as the table without them (the route, and the chain policy's).
    let a = try ChainReader.read(table: protected, chain: "filter"), b = try ChainReader.read(table: plain, chain: "filter")
    #expect(a.isComplete && a.flowRoutes.map(\.identity) == b.flowRoutes.map(\.identity), "\(a.problems)")
    #expect(a.flowRoutes.contains { $0.id == FlowRoute(family: .ipv4, components: route.components).id })
}
