import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

private let dst = Component.destinationPrefix(FlowPrefix("203.0.113.10/32")!)
private let dst6 = Component.destinationPrefix(FlowPrefix("2001:db8::1/128")!)
private func route(_ c: [Component], _ a: [FlowAction] = [], family: AddressFamily = .ipv4) -> FlowRoute {
    FlowRoute(family: family, components: c, actions: a)
}
private func rules(_ r: CompileResult) -> [NftRule] { r.table.chains[0].rules }
private func verdicts(_ rule: NftRule) -> [NftVerdict] {
    rule.expressions.compactMap { if case .immediateVerdict(let v) = $0 { v } else { nil } }
}

@Suite struct CompilerTests {
    // RFC 8955 §7.1: traffic-rate 0 means drop.
    @Test func rfc8955_7_1_trafficRateZeroDrops() {
        let r = compile([route([dst], [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])])
        #expect(rules(r).count == 1)
        #expect(verdicts(rules(r)[0]) == [.drop])
    }

    // RFC 8955 §7.1: a positive rate polices: excess dropped through a named limit, the rest accepted.
    @Test func rfc8955_7_1_trafficRateLimitsWithNamedObject() {
        let r = compile([route([dst], [.trafficRateBytes(asn: 0, bytesPerSecond: 125000)])])
        #expect(r.table.objects.count == 1)
        guard case .limit(let name, let l) = r.table.objects[0] else { Issue.record("no limit"); return }
        #expect(l.rate == 125000 && l.kind == .bytes && l.over && l.unit == .second)
        #expect(rules(r).count == 2)
        #expect(rules(r)[0].expressions.contains(.objref(type: .limit, name: name)))
        #expect(verdicts(rules(r)[0]) == [.drop])
        #expect(verdicts(rules(r)[1]) == [.accept])
    }

    // RFC 8955 §7.2: traffic-rate-packets.
    @Test func rfc8955_7_2_trafficRatePackets() {
        let r = compile([route([dst], [.trafficRatePackets(asn: 0, packetsPerSecond: 0.5)])])
        guard case .limit(_, let l) = r.table.objects.first else { Issue.record("no limit"); return }
        #expect(l.kind == .packets && l.rate == 30 && l.unit == .minute)
    }

    // RFC 8955 §7.3: T bit SET = evaluation continues (no verdict); clear = terminal accept.
    @Test func rfc8955_7_3_terminalBitSetContinues() {
        let cont = compile([route([dst], [.trafficAction(sample: false, terminal: true)])])
        #expect(verdicts(rules(cont)[0]).isEmpty)
        let stop = compile([route([dst], [.trafficAction(sample: false, terminal: false)])])
        #expect(verdicts(rules(stop)[0]) == [.accept])
        let drop = compile([route([dst], [.trafficAction(sample: false, terminal: true), .trafficRateBytes(asn: 0, bytesPerSecond: 0)])])
        #expect(verdicts(rules(drop)[0]) == [.drop])
    }

    // RFC 8955 §7.3: the sample bit logs to the configured nflog group.
    @Test func rfc8955_7_3_sampleLogs() {
        let r = compile([route([dst], [.trafficAction(sample: true, terminal: false)])], options: CompileOptions(logGroup: 7))
        #expect(rules(r)[0].expressions.contains(.log(group: 7, prefix: nil)))
    }

    // RFC 8955 §7.4: redirect becomes a fwmark; unmapped targets and redirect-to-IP are rejected.
    @Test func rfc8955_7_4_redirectSetsMark() {
        let rt = RouteTarget("65309:100")!
        let ok = compile([route([dst], [.redirect(rt)])], options: CompileOptions(redirectMarks: [rt: 0x64]))
        #expect(ok.rejected.isEmpty)
        #expect(ok.table.chains[0].rules[0].expressions.contains(.metaSet(key: .mark, sreg: .reg1)))
        let unmapped = compile([route([dst], [.redirect(rt)])])
        #expect(unmapped.rejected.count == 1 && rules(unmapped).isEmpty)
        let ip = compile([route([dst], [.redirectToIP(IPAddress("192.0.2.1")!, copy: false)])])
        #expect(ip.rejected.count == 1 && ip.rejected[0].reason.contains("redirect to IP"))
    }

    // RFC 8955 §7.5: traffic-marking rewrites DSCP (IPv4 with checksum fix).
    @Test func rfc8955_7_5_trafficMarkingSetsDSCP() {
        let r4 = compile([route([dst], [.trafficMarking(dscp: 46, value: 46)])])
        #expect(rules(r4)[0].expressions.contains { if case .payloadSet(.network, 0, 2, _, 1, 10) = $0 { true } else { false } })
        let r6 = compile([route([dst6], [.trafficMarking(dscp: 46, value: 46)], family: .ipv6)])
        #expect(rules(r6)[0].expressions.contains { if case .payloadSet(.network, 0, 2, _, 0, 0) = $0 { true } else { false } })
    }

    // Route targets are scoping, not actions; unknown communities are reported.
    @Test func routeTargetsIgnoredUnknownCommunitiesNoted() {
        let r = compile([route([dst], [.routeTarget(RouteTarget("65000:1")!), .unknown(ExtendedCommunity(rawValue: 0x4300_0000_0000_0001))])])
        #expect(verdicts(rules(r)[0]) == [.accept])
        #expect(r.notes.contains { $0.kind == .ignoredCommunity })
    }

    // A one-family default-policy route is the last rule of its family (see DefaultPolicyTests);
    // without any, the configured policy applies.
    @Test func defaultPolicyRouteOfOneFamilyIsALastRule() {
        let any = Component.destinationPrefix(FlowPrefix("0.0.0.0/0")!)
        let r = compile([route([dst]), route([any], [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])])
        #expect(r.table.chains[0].base?.policy == .accept)
        #expect(rules(r).count == 2 && verdicts(rules(r)[1]) == [.drop])
        #expect(compile([route([dst])], options: CompileOptions(defaultPolicy: .drop)).table.chains[0].base?.policy == .drop)
    }

    // RFC 8955 §4.2.2.4: port = source OR destination, as two disjoint rules sharing one set.
    @Test func rfc8955_4_2_2_4_portIsTwoDisjointRules() {
        let r = compile([route([dst, .numeric(.port, [.equal(80), .equal(443), .equal(8080)])])])
        #expect(rules(r).count == 2)
        #expect(r.table.sets.filter { $0.keyFields[0] == .inetService }.count == 1)
        #expect(rules(r)[1].expressions.contains { if case .lookup(_, _, true) = $0 { true } else { false } })
    }

    // Ports imply TCP or UDP only, never SCTP: protocol 132 with a port matches nothing.
    @Test func portsNeverMatchSCTP() {
        let r = compile([route([dst, .numeric(.ipProtocol, [.equal(132)]), .numeric(.destinationPort, [.equal(80)])])])
        #expect(rules(r).isEmpty)
        #expect(r.notes.contains { $0.kind == .neverMatches })
    }

    // ICMP type implies ICMPv6 (58) for IPv6.
    @Test func rfc8956_icmpImpliesICMPv6() {
        let r = compile([route([dst6, .numeric(.icmpType, [.equal(128)])], family: .ipv6)])
        #expect(rules(r)[0].expressions.contains(.cmp(op: .eq, sreg: .reg1, data: [58])))
    }

    // The false operator matches nothing: no rule.
    @Test func rfc8955_falseOperatorNeverMatches() {
        let r = compile([route([dst, .numeric(.sourcePort, [NumericTerm(value: 0)])])])
        #expect(rules(r).isEmpty)
    }

    // IPv6 packet length is 40 + payload length: `ip6 length` compares value - 40.
    @Test func rfc8956_packetLengthIsTotalLength() {
        let r = compile([route([dst6, .numeric(.packetLength, [NumericTerm(gt: true, value: 1280)])], family: .ipv6)])
        #expect(rules(r)[0].expressions.contains(.cmp(op: .gte, sreg: .reg1, data: [0x04, 0xd9])))  // payload >= 1241
        let small = compile([route([dst6, .numeric(.packetLength, [NumericTerm(lt: true, value: 40)])], family: .ipv6)])
        #expect(rules(small).isEmpty)
    }

    // Identical value sets are one named set across the whole table (one rule per route); lists
    // of up to 8 runs become rules instead (next test).
    @Test func identicalValueSetsAreShared() {
        let ports = Component.numeric(.destinationPort, [22, 24, 26, 28, 30, 32, 34, 36, 3389].map { NumericTerm.equal($0) })
        let routes = (0..<50).map { i in route([.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0xcb00_7100 + UInt32(i)), length: 32)!), ports]) }
        let r = compile(routes, options: CompileOptions(merge: false))
        #expect(r.table.sets.filter { $0.keyFields[0] == .inetService }.count == 1)
        #expect(rules(r).count == 50)
    }

    // Unmerged, a short value list is one rule per run, never a named set per route
    // (docs/lowering.md, "Value lists"); each rule carries the route identity.
    @Test func shortValueListsBecomeRules() {
        let ports = Component.numeric(.destinationPort, [.equal(22), .equal(23), .equal(3389), NumericTerm(gt: true, eq: true, value: 8000),
                                                         NumericTerm(and: true, lt: true, eq: true, value: 8080)])
        let r = compile([route([dst, .numeric(.ipProtocol, [.equal(6)]), ports])], options: CompileOptions(merge: false))
        #expect(r.table.sets.isEmpty)
        // 22-23 is one run: three rules, 22-23, 3389 and 8000-8080.
        #expect(rules(r).count == 3)
        #expect(Set(rules(r).map(\.comment)).count == 1)
        #expect(rules(r)[1].expressions.contains(.cmp(op: .eq, sreg: .reg1, data: [0x0d, 0x3d])))
        // Merged, the list is a key part: no rule per run.
        #expect(compile([route([dst, .numeric(.ipProtocol, [.equal(6)]), ports])]).table.ruleCount == 1)
    }

    // Every rule carries the route identity as comment; counters are optional.
    @Test func rulesCarryIdentityAndCounters() {
        let rt = route([dst])
        #expect(rules(compile([rt]))[0].comment == rt.identity)
        #expect(rules(compile([rt]))[0].expressions.contains(.counter(packets: 0, bytes: 0)))
        #expect(!rules(compile([rt], options: CompileOptions(counters: false)))[0].expressions.contains(.counter(packets: 0, bytes: 0)))
    }

    // IPv6 fragment: "not a fragment" includes packets without a Fragment header (two rules).
    @Test func rfc8956_fragmentWithoutHeaderIsStateZero() {
        let r = compile([route([dst6, .bitmask(.fragment, [BitmaskTerm(not: true, match: false, value: 0x02)])], family: .ipv6)])
        #expect(rules(r).count == 2)
        #expect(rules(r)[0].expressions.contains(.exthdr(NftExthdr(type: 44, offset: 0, length: 1, presence: true), dreg: .reg1)))
    }

    // nft 1.0.6 quirk: TCP flags equality must print as `==`, never as a one-element set.
    @Test func tcpFlagsPrintAsEquality() throws {
        let r = compile([route([dst, .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02), BitmaskTerm(and: true, not: true, match: true, value: 0x10)])])])
        let text = try NftPrinter.statements(rules(r)[0].expressions).joined(separator: " ")
        #expect(text.contains("tcp flags & 0x12 == 0x2"))
    }

    // The printer decompiles from expressions alone and refuses what it cannot say.
    @Test func printerRejectsUnknownExpressions() {
        #expect(throws: NftDecodeError.self) { try NftPrinter.statements([.meta(key: .iif, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [1, 0, 0, 0])]) }
    }

    @Test("sets print their counter and their elements' counters and comments as nft writes them")
    func printerSetCountersAndComments() {
        let table = NftTable(name: "t", sets: [
            NftSet(name: "pairs", flags: [.interval], keyFields: [.ipv4Address, .inetService], elementCounters: true, elements: [
                NftSetElement(key: [192, 0, 2, 0, 0, 80, 0, 0], keyEnd: [192, 0, 2, 255, 0, 80, 0, 0], comment: "4:01\"x"),
                NftSetElement(key: [198, 51, 100, 7, 0, 22, 0, 0], keyEnd: [198, 51, 100, 7, 0, 22, 0, 0],
                              comment: "4:02", counter: NftCounter(packets: 3, bytes: 180)),
            ]),
            NftSet(name: "ports", flags: [], keyFields: [.inetService], elements: [
                NftSetElement(key: [0, 53], counter: NftCounter()), NftSetElement(key: [0, 80]),
            ]),
            NftSet(name: "limits", flags: [.object], keyFields: [.ipv4Address], objectType: .limit, elementCounters: true,
                   elements: [NftSetElement(key: [203, 0, 113, 1], objectName: "rate_a", comment: "4:03")]),
        ])
        let text = NftPrinter.render(table)
        #expect(text.contains("\t\ttype ipv4_addr . inet_service\n\t\tflags interval\n\t\tcounter\n\t\telements = { "
                              + "192.0.2.0-192.0.2.255 . 80 comment \"4:01'x\", 198.51.100.7 . 22 counter packets 3 bytes 180 comment \"4:02\" }\n"),
                "\(text)")
        // nft refuses an element counter in a set declared without `counter`: left out there.
        #expect(text.contains("elements = { 53, 80 }"), "\(text)")
        #expect(text.contains("\t\ttype ipv4_addr : limit\n\t\tcounter\n\t\telements = { 203.0.113.1 comment \"4:03\" : \"rate_a\" }\n"),
                "\(text)")
        #expect(!NftPrinter.render(NftTable(name: "t", sets: [NftSet(name: "s", flags: [], keyFields: [.inetService])])).contains("counter"))
    }

    @Test func replaceRenderingDeletesFirst() {
        let text = NftPrinter.render(compile([route([dst])]).table, replace: true)
        #expect(text.hasPrefix("table inet flowspec {}\ndelete table inet flowspec\ntable inet flowspec {"))
    }
}

@Suite struct DefaultPolicyTests {
    func defaultRoute(_ f: AddressFamily, _ actions: [FlowAction]) -> FlowRoute {
        let any = FlowPrefix(address: .zero(f), length: 0)!
        return FlowRoute(family: f, components: [.destinationPrefix(any), .sourcePrefix(any)], actions: actions)
    }
    let drop = FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0)

    @Test("both families dropping by default: the chain policy is drop")
    func bothFamiliesBecomeThePolicy() {
        let r = compile([defaultRoute(.ipv4, [drop]), defaultRoute(.ipv6, [drop])])
        #expect(r.table.chains[0].base?.policy == .drop)
        #expect(r.table.chains[0].rules.isEmpty)
    }

    @Test("an IPv4-only default drop never drops IPv6: it is a last rule of its family")
    func oneFamilyIsALastRule() {
        let specific = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.10/32")!)], actions: [])
        let r = compile([specific, defaultRoute(.ipv4, [drop])], options: CompileOptions(defaultPolicy: .accept))
        #expect(r.table.chains[0].base?.policy == .accept)
        let last = r.table.chains[0].rules.last!
        #expect(last.expressions.first == .meta(key: .nfproto, dreg: .reg1))
        #expect(last.expressions.contains(.cmp(op: .eq, sreg: .reg1, data: [2])))
        #expect(last.expressions.last == .immediateVerdict(.drop))
        #expect(r.table.chains[0].rules.count == 2)
    }

    @Test("a rate-limited default route keeps its limit as a last rule")
    func limitedDefaultIsExact() {
        let r = compile([defaultRoute(.ipv6, [.trafficRateBytes(asn: 0, bytesPerSecond: 1000)])])
        #expect(r.table.chains[0].rules.contains { $0.expressions.contains { if case .objref = $0 { true } else { false } } })
    }
}

/// Large unmerged route sets are compiled in two halves on two threads (`addAllInHalves`); the
/// result must be exactly the one a single pass makes, whether the halves are joined or not.
@Suite struct CompileInHalvesTests {
    static func options(merge: Bool) -> CompileOptions {
        CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64], merge: merge)
    }

    /// The routes compiled in halves and in one pass, and whether the halves were joined; the
    /// `after` calls of the two are compared here.
    func halves(_ routes: [FlowRoute], options: CompileOptions) -> (CompileResult, onePass: CompileResult, joined: Bool) {
        var single = RouteCompiler(options: options)
        var seenBySingle: [(Int, Int, Int)] = []
        single.addAll(routes) { i, c in seenBySingle.append((i, c.planner.units.count, c.objects.count)) }
        var c = RouteCompiler(options: options)
        var seen: [(Int, Int, Int)] = []
        let joined = c.addAllInHalves(routes, sizes: 2...Int.max) { i, c in seen.append((i, c.planner.units.count, c.objects.count)) }
        #expect(seen.elementsEqual(seenBySingle, by: ==))
        return (c.finish(), single.finish(), joined)
    }

    func expectSame(_ a: CompileResult, _ b: CompileResult) {
        #expect(a.table == b.table)
        #expect(a.rejected == b.rejected)
        #expect(a.notes == b.notes)
        #expect(a.ruleRoutes == b.ruleRoutes)
        #expect(a.merged == b.merged)
    }

    @Test(arguments: [UInt64(5), 6, 7])
    func randomRoutesCompileAsInOnePass(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        // A default-policy route in the second half, or an NLRI in both halves (one limit object
        // name), is left to a single pass (tested below); a default-policy route in the first half is not.
        var seen: Set<String> = []
        let routes = [route([.destinationPrefix(FlowPrefix("0.0.0.0/0")!)], [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])]
            + (0..<1500).map { _ in RandomRoutes.route(&r) }.filter { !$0.isDefaultPolicy && seen.insert($0.identity).inserted }
            + [route([dst6], [.redirect(RouteTarget("65309:999")!)], family: .ipv6)]
        let options = Self.options(merge: false)
        let (result, single, joined) = halves(routes, options: options)
        #expect(joined)
        expectSame(result, single)
        // Not a vacuous comparison: the routes made value sets, limit objects, rejections and notes.
        #expect(single.table.sets.count > 10 && single.table.objects.count > 10)
        #expect(!single.rejected.isEmpty && !single.notes.isEmpty)
    }

    @Test func valueSetsOfTheSecondHalfAreRenamedAsOnePassNamesThem() throws {
        func ports(_ p: [UInt64]) -> FlowRoute {
            route([dst, .numeric(.ipProtocol, [.equal(6)]), .numeric(.destinationPort, p.map { NumericTerm.equal($0) })],
                  [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        }
        // Lists of 9 values each (shorter ones become rules, docs/lowering.md): first half
        // {22, …}, {80, …}; second half: {80, …} (the first half's set1), then {25, …}.
        func list(_ first: UInt64) -> [UInt64] { (0..<9).map { first + 2 * $0 } }
        let routes = [ports(list(22)), ports(list(80)), ports(list(80)), ports(list(25))]
        let options = Self.options(merge: false)
        let (result, single, joined) = halves(routes, options: options)
        #expect(joined)
        expectSame(result, single)
        #expect(result.table.sets.map(\.name) == ["set0", "set1", "set2"])
        #expect(rules(result)[2].expressions.contains(.lookup(set: "set1", sreg: .reg1, invert: false)))
    }

    @Test(arguments: [false, true])
    func secondHalfDefaultPolicyOrSharedLimitNameIsLeftToOnePass(merge: Bool) throws {
        // Merged route sets are never split.
        let limited = route([dst], [.trafficRateBytes(asn: 0, bytesPerSecond: 125000)])
        let other = route([.destinationPrefix(FlowPrefix("203.0.113.11/32")!)], [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let defaultRoute = route([.destinationPrefix(FlowPrefix("0.0.0.0/0")!)], [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let options = Self.options(merge: merge)
        // The same route twice: one pass names the second limit object `…_2`.
        for (routes, joins) in [([limited, other, limited, other], false), ([other, other, defaultRoute, other], false),
                                ([defaultRoute, other, other, other], true)] {
            let (result, single, joined) = halves(routes, options: options)
            #expect(joined == (joins && !merge))
            expectSame(result, single)
        }
    }
}
