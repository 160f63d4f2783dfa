import Testing
@testable import FlowSpec

/// A direct transcription of RFC 8955 §5.1 `flow_rule_cmp` (with RFC 8956 §4's offset rule for
/// IPv6): -1 when `a` has precedence, 1 when `b` has, 0 when equal. Used as the oracle for the
/// key-based comparator.
func referenceFlowRuleCmp(_ a: FlowRoute, _ b: FlowRoute) -> Int {
    if a.family != b.family { return a.family < b.family ? -1 : 1 }
    for i in 0..<max(a.components.count, b.components.count) {
        // "If a component type does not exist in one rule this rule has lower precedence."
        guard i < a.components.count else { return 1 }
        guard i < b.components.count else { return -1 }
        let ca = a.components[i], cb = b.components[i]
        // "Higher precedence for lower component type."
        if ca.type != cb.type { return ca.type < cb.type ? -1 : 1 }
        if let pa = ca.prefix, let pb = cb.prefix {
            // RFC 8956: the lower offset first.
            if pa.offset != pb.offset { return pa.offset < pb.offset ? -1 : 1 }
            // Lowest IP value of the common prefix length first, then the longer prefix.
            let common = Int(min(pa.length, pb.length))
            let ma = pa.address.keepingBits(from: 0, to: common), mb = pb.address.keepingBits(from: 0, to: common)
            if ma != mb { return ma < mb ? -1 : 1 }
            if pa.length != pb.length { return pa.length > pb.length ? -1 : 1 }
            continue
        }
        var ea = [UInt8](), eb = [UInt8]()
        ca.encode(family: a.family, into: &ea); cb.encode(family: b.family, into: &eb)
        let sa = Array(ea.dropFirst()), sb = Array(eb.dropFirst())
        if sa.count == sb.count {
            if sa != sb { return sa.lexicographicallyPrecedes(sb) ? -1 : 1 }
            continue
        }
        let n = min(sa.count, sb.count)
        if sa[..<n] != sb[..<n] { return sa[..<n].lexicographicallyPrecedes(sb[..<n]) ? -1 : 1 }
        return sa.count > sb.count ? -1 : 1
    }
    return 0
}

/// Random routes built from a small pool of values, so ties at every level happen often.
func randomRoute(_ r: inout SemanticsRandom, family: AddressFamily? = nil) -> FlowRoute {
    let fam = family ?? (r.chance(70) ? .ipv4 : .ipv6)
    var comps = [Component]()
    func prefix() -> FlowPrefix {
        if fam == .ipv4 {
            let bases: [UInt32] = [0xcb00_7100, 0xcb00_710a, 0xc633_6400, 0xc000_0280, 0]
            let len = [0, 8, 16, 24, 25, 31, 32][r.int(0...6)]
            return FlowPrefix(address: IPAddress(ipv4: bases[r.int(0...4)]), length: len)!
        }
        let highs: [UInt64] = [0x2001_0db8_0113_0000, 0x2001_0db8_0000_0000, 0]
        let len = [0, 32, 48, 64, 96, 128][r.int(0...5)]
        let offset = r.chance(25) ? min(len, [8, 64][r.int(0...1)]) : 0
        return FlowPrefix(address: IPAddress(family: .ipv6, high: highs[r.int(0...2)], low: r.chance(50) ? 0x10 : 0),
                          length: len, offset: offset)!
    }
    if r.chance(85) { comps.append(.destinationPrefix(prefix())) }
    if r.chance(35) { comps.append(.sourcePrefix(prefix())) }
    let numericTypes: [ComponentType] = [.ipProtocol, .port, .destinationPort, .sourcePort, .icmpType, .icmpCode, .packetLength, .dscp]
    for t in ComponentType.allCases where t.rawValue >= 3 {
        guard r.chance(t == .ipProtocol ? 50 : 15) else { continue }
        if t == .flowLabel && fam == .ipv4 { continue }
        if t.kind == .bitmask {
            let width = t == .fragment ? 4 : 8
            var terms = randomBitmaskTerms(&r, width: width, count: 1...2)
            if t == .fragment && fam == .ipv6 { for i in terms.indices { terms[i].value &= 0x0e } }
            comps.append(.bitmask(t, terms))
        } else if numericTypes.contains(t) || t == .flowLabel {
            let pool: [UInt64] = [6, 17, 80, 443, 1024, 65535]
            let terms = (0..<r.int(1...2)).map { _ in
                NumericTerm(and: r.bool(), lt: r.chance(30), gt: r.chance(30), eq: r.chance(70), value: pool[r.int(0...5)])
            }
            comps.append(.numeric(t, terms))
        }
    }
    if comps.isEmpty { comps.append(.numeric(.ipProtocol, [.equal(17)])) }
    return FlowRoute(family: fam, components: comps)
}

@Suite struct OrderingRFC8955Tests {
    func v4(_ components: [Component], marking: UInt64? = nil) -> FlowRoute {
        FlowRoute(family: .ipv4, components: components,
                  actions: marking.map { [.trafficMarking(dscp: UInt8($0 & 0x3f), value: $0)] } ?? [])
    }
    func dst(_ p: String) -> Component { .destinationPrefix(FlowPrefix(p)!) }
    func src(_ p: String) -> Component { .sourcePrefix(FlowPrefix(p)!) }
    let tcp = Component.numeric(.ipProtocol, [.equal(6)])

    // MARK: worked examples (docs/semantics.md "Ordering")

    @Test func example1_commonBitsEqual_longerPrefixFirst() {
        let a = v4([dst("203.0.113.10/32")]), b = v4([dst("203.0.113.0/24")])
        #expect(FlowRoute.rfc8955Order(a, b) && !FlowRoute.rfc8955Order(b, a))
    }

    @Test func example2_lowerCommonBitsFirst() {
        // Common length 24: 198.51.100 < 203.0.113, although the /24 is shorter than the /32.
        let a = v4([dst("198.51.100.0/24")]), b = v4([dst("203.0.113.10/32")])
        #expect(FlowRoute.rfc8955Order(a, b))
    }

    @Test func example3_trap_sourceBeatsProtocolWhenDestinationsTie() {
        let withSource = v4([dst("203.0.113.10/32"), src("198.51.100.0/24")])
        let withProto = v4([dst("203.0.113.10/32"), tcp])
        #expect(FlowRoute.rfc8955Order(withSource, withProto))
        #expect([withProto, withSource].ordered(.rfc) == [withSource, withProto])
    }

    @Test func example4_trap_anyDestinationSortsAfterEveryLongerOne() {
        let any = v4([dst("0.0.0.0/0"), tcp])
        for p in ["192.0.2.1/32", "203.0.113.0/24", "255.0.0.0/8", "0.0.0.0/1"] {
            #expect(FlowRoute.rfc8955Order(v4([dst(p)]), any), "\(p) before 0/0")
        }
        // ... but a route with 0/0 still precedes one without any destination (type 1 < type 3).
        #expect(FlowRoute.rfc8955Order(any, v4([tcp])))
    }

    @Test func example5_moreComponentsFirstWhenPrefixEqual() {
        let a = v4([dst("203.0.113.10/32"), tcp]), b = v4([dst("203.0.113.10/32")])
        #expect(FlowRoute.rfc8955Order(a, b))
    }

    @Test func example6_operatorBytesAsOnTheWire() {
        // dport == 80 is 81 50; dport == 443 is 91 01 bb; dport >= 1024 is 93 04 00.
        let eq80 = v4([dst("203.0.113.10/32"), .numeric(.destinationPort, [.equal(80)])])
        let eq443 = v4([dst("203.0.113.10/32"), .numeric(.destinationPort, [.equal(443)])])
        let ge1024 = v4([dst("203.0.113.10/32"), .numeric(.destinationPort, [NumericTerm(gt: true, eq: true, value: 1024)])])
        #expect([ge1024, eq443, eq80].ordered(.rfc) == [eq80, eq443, ge1024])
        // == 80 || == 443 is 01 50 91 01 bb: its first operator lacks the end bit, so 01 < 81.
        let list = v4([dst("203.0.113.10/32"), .numeric(.destinationPort, [.equal(80), .equal(443)])])
        #expect(FlowRoute.rfc8955Order(list, eq80))
    }

    @Test func example7_valueLengthBitsTakePart() {
        // TCP flags "SYN set" (m bit) with a 1-octet value is 81 02, with a 2-octet value
        // 91 00 02: the operator octets differ in their length bits, 0x81 < 0x91.
        let one = v4([dst("203.0.113.10/32"), .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02, valueLength: 1)])])
        let two = v4([dst("203.0.113.10/32"), .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02, valueLength: 2)])])
        var bytes = [UInt8](); two.components[1].encode(family: .ipv4, into: &bytes)
        #expect(hexString(bytes) == "09910002")
        #expect(FlowRoute.rfc8955Order(one, two) && !FlowRoute.rfc8955Order(two, one))
    }

    @Test func example8_ipv6LowerOffsetFirst() {
        let off0 = FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("2001:db8:113::/48")!)])
        let off64 = FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("::10/128 offset 64")!)])
        #expect(FlowRoute.rfc8955Order(off0, off64))
        // Same offset: the common pattern bits, then the longer pattern.
        let off64b = FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("::/96 offset 64")!)])
        #expect(FlowRoute.rfc8955Order(off64, off64b))
    }

    @Test func defaultPolicyAlwaysLast() {
        let def = v4([dst("0.0.0.0/0"), src("0.0.0.0/0")])
        let protoOnly = v4([.numeric(.ipProtocol, [.equal(17)])])
        // The RFC order alone would put the default route first (type 1 < type 3).
        #expect(FlowRoute.rfc8955Order(def, protoOnly))
        #expect([def, protoOnly].ordered(.rfc) == [protoOnly, def])
        #expect([def.withMarking(1), protoOnly].ordered(.sequence(.trafficMarking)).last == def.withMarking(1))
    }

    @Test func equalRoutesKeepInputOrder() {
        let a = v4([dst("203.0.113.10/32")], marking: 1)
        let b = v4([dst("203.0.113.10/32")], marking: 2)
        let c = v4([dst("203.0.113.9/32")])
        #expect([a, b, c].ordered(.rfc) == [c, a, b])
        #expect([b, a, c].ordered(.rfc) == [c, b, a])
        #expect(!FlowRoute.rfc8955Order(a, b) && !FlowRoute.rfc8955Order(b, a))
    }

    @Test func ipv4BeforeIPv6() {
        let six = FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("::/0")!), .numeric(.ipProtocol, [.equal(6)])])
        let four = v4([.numeric(.ipProtocol, [.equal(17)])])
        #expect([six, four].ordered(.rfc) == [four, six])
    }

    // MARK: sequence orders

    @Test func sequenceByTrafficMarking() {
        let r10 = v4([dst("203.0.113.80/32")], marking: 10)
        let r20 = v4([dst("203.0.113.1/32")], marking: 20)
        let r30 = v4([dst("192.0.2.1/32")], marking: 30)
        let none1 = v4([dst("203.0.113.0/24")]), none2 = v4([dst("198.51.100.0/24")])
        let def = v4([dst("0.0.0.0/0")], marking: 5)
        let input = [def, none1, r30, r10, none2, r20]
        #expect(input.ordered(.sequence(.trafficMarking)) == [r10, r20, r30, none2, none1, def])
        #expect(SequenceCarrier.default == .trafficMarking)
        #expect(SequenceCarrier.trafficMarking.sequenceNumber(of: r30) == 30)
        #expect(SequenceCarrier.trafficMarking.sequenceNumber(of: none1) == nil)
    }

    @Test func sequenceByExtendedAndLargeCommunity() {
        func route(_ p: String, ext: UInt64? = nil, large: UInt32? = nil) -> FlowRoute {
            FlowRoute(family: .ipv4, components: [dst(p)],
                      extendedCommunities: ext.map { [ExtendedCommunity(type: 0x80, subtype: 0x42, value: 0xffff_0000_0000 | $0)] } ?? [],
                      largeCommunities: large.map { [LargeCommunity(global: 65309, local1: $0, local2: 7)] } ?? [])
        }
        let a = route("192.0.2.1/32", ext: 300, large: 3), b = route("192.0.2.2/32", ext: 100, large: 1)
        let c = route("192.0.2.3/32", ext: 200), d = route("192.0.2.4/32")
        let carrier = SequenceCarrier.extendedCommunity(type: 0x80, subtype: 0x42)
        // Low 32 bits only: the 0xffff in the upper value octets is ignored.
        #expect(carrier.sequenceNumber(of: a) == 300)
        #expect([a, b, c, d].ordered(.sequence(carrier)) == [b, c, a, d])
        #expect([d, c, b, a].ordered(.sequence(.largeCommunity(global: 65309))) == [b, a, c, d])
        #expect(SequenceCarrier.largeCommunity(global: 1).sequenceNumber(of: a) == nil)
    }

    @Test("every carrier reads back the number it stamps (fetch writes what --order sequence reads)")
    func stampedNumbersReadBack() {
        let carriers: [SequenceCarrier] = [.trafficMarking, .extendedCommunity(type: 0x80, subtype: 0x00), .largeCommunity(global: 65309)]
        for carrier in carriers {
            for sequence: UInt64 in [0, 10, 12_340, 0xffff_ffff] {
                var extended: [ExtendedCommunity] = [], large: [LargeCommunity] = []
                carrier.stamp(sequence, extended: &extended, large: &large)
                let route = FlowRoute(family: .ipv4, components: [], extendedCommunities: extended, largeCommunities: large)
                #expect(carrier.sequenceNumber(of: route) == sequence, "\(carrier) \(sequence)")
            }
        }
        #expect(SequenceCarrier(argument: "large:65309") == .largeCommunity(global: 65309))
        #expect(SequenceCarrier(argument: "ext:0x80:0x00") == .extendedCommunity(type: 0x80, subtype: 0))
        #expect(SequenceCarrier(argument: "traffic-marking") == .trafficMarking)
        for bad in ["large:65309:7", "ext:0x100:0", "large:", "none", "marking"] { #expect(SequenceCarrier(argument: bad) == nil, "\(bad)") }
    }

    // MARK: properties on random routes

    @Test func keyComparatorAgreesWithPseudoCode() {
        var r = SemanticsRandom(seed: 0x5eed_0100)
        for _ in 0..<20000 {
            let a = randomRoute(&r), b = r.chance(10) ? a : randomRoute(&r)
            let expected = referenceFlowRuleCmp(a, b)
            let ka = a.rfc8955SortKey, kb = b.rfc8955SortKey
            let got = ka < kb ? -1 : (kb < ka ? 1 : 0)
            #expect(got == expected, "\(a.identity) vs \(b.identity)")
            // Equal exactly when the NLRI is the same.
            #expect((expected == 0) == (a.family == b.family && a.nlriBytes == b.nlriBytes))
        }
    }

    @Test func orderIsAStrictWeakOrder() {
        var r = SemanticsRandom(seed: 0x5eed_0101)
        let routes = (0..<150).map { _ in randomRoute(&r) }
        let keys = routes.map(\.rfc8955SortKey)
        for i in routes.indices {
            #expect(!(keys[i] < keys[i]))
            for j in routes.indices {
                // Antisymmetry.
                #expect(!(keys[i] < keys[j] && keys[j] < keys[i]))
                // Same answer as the oracle.
                #expect((keys[i] < keys[j]) == (referenceFlowRuleCmp(routes[i], routes[j]) < 0))
            }
        }
        // Transitivity on random triples.
        for _ in 0..<20000 {
            let i = r.int(0...149), j = r.int(0...149), k = r.int(0...149)
            if keys[i] < keys[j] && keys[j] < keys[k] { #expect(keys[i] < keys[k]) }
        }
    }

    @Test func orderedIsSortedStableAndAPermutation() {
        var r = SemanticsRandom(seed: 0x5eed_0102)
        var routes = (0..<3000).map { _ in randomRoute(&r) }
        // Duplicate NLRIs, to observe stability.
        for i in 0..<300 { routes.append(routes[i * 7]) }
        // Tag every route with its input position (a large community does not enter the order).
        for i in routes.indices { routes[i].largeCommunities = [LargeCommunity(global: 64496, local1: 0, local2: UInt32(i))] }
        let out = routes.ordered(.rfc)
        #expect(out.count == routes.count)
        #expect(Set(out) == Set(routes))
        func position(_ route: FlowRoute) -> UInt32 { route.largeCommunities[0].local2 }
        for (x, y) in zip(out, out.dropFirst()) {
            if x.isDefaultPolicy != y.isDefaultPolicy { #expect(!x.isDefaultPolicy); continue }
            let c = referenceFlowRuleCmp(x, y)
            #expect(c <= 0)
            if c == 0 { #expect(position(x) < position(y)) }
        }
    }
}

extension FlowRoute {
    func withMarking(_ v: UInt64) -> FlowRoute {
        var r = self
        r.extendedCommunities.append(FlowAction.trafficMarking(dscp: UInt8(v & 0x3f), value: v).community)
        return r
    }
}
