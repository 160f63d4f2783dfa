import Testing
import FlowSpec
import FlowSpecTestSupport

/// `PacketOverlap` (whether some packet matches two flowspec matches) and `ImportFilter`.
@Suite struct PacketOverlapTests {
    func route(_ c: [Component], _ family: AddressFamily = .ipv4) -> [Component] { c }
    static func p(_ s: String) -> FlowPrefix { FlowPrefix(s)! }
    static func n(_ t: ComponentType, _ terms: NumericTerm...) -> Component { .numeric(t, terms) }
    static func eq(_ v: UInt64, and: Bool = false) -> NumericTerm { .equal(v, and: and) }

    @Test func namedCases() {
        typealias T = Self
        let bgpToSwitch: [Component] = [.destinationPrefix(T.p("192.0.2.2/32")), T.n(.ipProtocol, T.eq(6)), T.n(.port, T.eq(179))]
        let cases: [([Component], [Component], Bool, String)] = [
            ([.destinationPrefix(T.p("203.0.113.0/24"))], [.destinationPrefix(T.p("192.0.2.2/32"))], false, "disjoint destinations"),
            ([.destinationPrefix(T.p("192.0.2.0/24"))], [.destinationPrefix(T.p("192.0.2.2/32"))], true, "a /24 holds the /32"),
            ([.sourcePrefix(T.p("198.51.100.0/24"))], [.destinationPrefix(T.p("192.0.2.2/32"))], true, "no destination: any"),
            ([T.n(.ipProtocol, T.eq(17))], bgpToSwitch, false, "UDP against TCP"),
            ([T.n(.destinationPort, T.eq(80))], bgpToSwitch, true, "dport 80, sport 179: a packet of both"),
            ([T.n(.destinationPort, T.eq(80)), T.n(.sourcePort, T.eq(80))], bgpToSwitch, false, "both ports 80: port 179 impossible"),
            ([T.n(.icmpType, T.eq(8))], bgpToSwitch, false, "ICMP type implies ICMP"),
            ([.bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02)])], [T.n(.ipProtocol, T.eq(17))], false, "TCP flags imply TCP"),
            ([T.n(.port, T.eq(80))], [T.n(.icmpType, T.eq(0))], false, "ports imply TCP or UDP"),
            ([T.n(.packetLength, NumericTerm(lt: true, value: 100))], [T.n(.packetLength, NumericTerm(gt: true, value: 1000))], false, "lengths"),
        ]
        for (a, b, want, name) in cases {
            #expect(PacketOverlap.exists(a, b, family: .ipv4) == want, "\(name)")
            #expect(PacketOverlap.exists(b, a, family: .ipv4) == want, "\(name), swapped")
        }
        // IPv6 offsets: ::10/128 offset 64 against 2001:db8::/32 (the bits do not meet) and ::/0.
        let offset: [Component] = [.destinationPrefix(FlowPrefix(address: IPAddress("::10")!, length: 128, offset: 64)!)]
        #expect(PacketOverlap.exists(offset, [.destinationPrefix(T.p("2001:db8::/32"))], family: .ipv6))
        #expect(!PacketOverlap.exists(offset, [.destinationPrefix(T.p("::20/128"))], family: .ipv6))
    }

    /// Exactness against the RFC packet model (`TestPacket.matches`) over a small universe: the
    /// routes' values all lie in it, and the packets cover every region those values cut (below,
    /// at, between and above each), so a packet of both exists exactly when one of the universe
    /// does. Unfragmented packets only (the fragment state is the one approximation).
    @Test func exactAgainstThePacketModel() {
        var rng = SplitMix(state: 0x5eed_20)
        let dsts = ["10.1.0.1", "10.2.0.1", "10.3.0.1", "11.0.0.1"].map { IPAddress($0)! }
        let prefixes = ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16"].map(Self.p)
        let portValues: [UInt64] = [80, 179], portWitnesses: [UInt16] = [79, 80, 81, 179, 1000]
        func numeric(_ values: [UInt64]) -> [NumericTerm] {
            (0..<Int.random(in: 1...2, using: &rng)).map { i in
                let v = values.randomElement(using: &rng)!
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: return NumericTerm(and: i > 0 && Bool.random(using: &rng), eq: true, value: v)
                case 1: return NumericTerm(and: i > 0 && Bool.random(using: &rng), lt: true, value: v)
                case 2: return NumericTerm(and: i > 0 && Bool.random(using: &rng), gt: true, value: v)
                default: return NumericTerm(and: i > 0 && Bool.random(using: &rng), lt: true, gt: true, value: v)
                }
            }
        }
        func randomMatch() -> [Component] {
            var c: [Component] = []
            if Bool.random(using: &rng) { c.append(.destinationPrefix(prefixes.randomElement(using: &rng)!)) }
            if Int.random(in: 0..<3, using: &rng) == 0 { c.append(.sourcePrefix(prefixes.randomElement(using: &rng)!)) }
            if Bool.random(using: &rng) { c.append(.numeric(.ipProtocol, numeric([1, 6, 17]))) }
            for t in [ComponentType.port, .destinationPort, .sourcePort] where Int.random(in: 0..<3, using: &rng) == 0 {
                c.append(.numeric(t, numeric(portValues)))
            }
            if Int.random(in: 0..<5, using: &rng) == 0 { c.append(.numeric(.icmpType, numeric([8]))) }
            if Int.random(in: 0..<5, using: &rng) == 0 {
                c.append(.bitmask(.tcpFlags, [BitmaskTerm(not: Bool.random(using: &rng), match: Bool.random(using: &rng),
                                                          value: [0x02, 0x10, 0x12].randomElement(using: &rng)!)]))
            }
            if c.isEmpty { c.append(.destinationPrefix(prefixes[0])) }
            return c.sorted { $0.type < $1.type }
        }
        var packets: [TestPacket] = []
        for dst in dsts {
            for src in dsts {
                for proto: UInt8 in [1, 6, 17, 50] {
                    for sport in proto == 1 || proto == 50 ? [UInt16(0)] : portWitnesses {
                        for dport in proto == 1 || proto == 50 ? [UInt16(0)] : portWitnesses {
                            for icmp: UInt8 in proto == 1 ? [0, 7, 8, 9] : [0] {
                                for flags: UInt16 in proto == 6 ? [0, 0x02, 0x10, 0x12] : [0] {
                                    var p = TestPacket(family: .ipv4, src: src, dst: dst, proto: proto)
                                    p.sport = sport; p.dport = dport; p.icmpType = icmp; p.tcpFlags = flags
                                    packets.append(p)
                                }
                            }
                        }
                    }
                }
            }
        }
        var overlapping = 0
        for _ in 0..<400 {
            let a = randomMatch(), b = randomMatch()
            let ra = FlowRoute(family: .ipv4, components: a), rb = FlowRoute(family: .ipv4, components: b)
            let brute = packets.contains { $0.matches(ra) && $0.matches(rb) }
            if brute { overlapping += 1 }
            #expect(PacketOverlap.exists(a, b, family: .ipv4) == brute, "\(ra.identity) vs \(rb.identity): model says \(brute)")
        }
        // Both outcomes are exercised.
        #expect(overlapping > 40 && overlapping < 360)
    }

    @Test func filterNamesTheFirstEntryOfTheRoutesFamily() {
        let filter = ImportFilter(entries: [
            .init(name: "switch", family: .ipv4, components: [.destinationPrefix(Self.p("192.0.2.2/32"))]),
            .init(name: "bgp", family: .ipv6, components: [Self.n(.ipProtocol, Self.eq(6)), Self.n(.port, Self.eq(179))]),
        ])
        #expect(filter.refusal(for: FlowRoute(family: .ipv4, components: [Self.n(.ipProtocol, Self.eq(6))])) == "switch")
        #expect(filter.refusal(for: FlowRoute(family: .ipv4, components: [.destinationPrefix(Self.p("203.0.113.0/24"))])) == nil)
        #expect(filter.refusal(for: FlowRoute(family: .ipv6, components: [.destinationPrefix(Self.p("2001:db8::/32"))])) == "bgp")
        #expect(filter.refusal(for: FlowRoute(family: .ipv6, components: [Self.n(.ipProtocol, Self.eq(17))])) == nil)
    }
}
