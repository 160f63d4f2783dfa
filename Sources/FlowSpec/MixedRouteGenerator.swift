/// A deterministic generator of the route mix that DDoS-mitigation and micro-segmentation
/// controllers push together: nearly every route of its own shape, interleaved on the same
/// hosts, every component type the tool lowers, per-route rates — the workload `RouteGenerator`'s
/// four uniform shapes are not. Used by `flowspec-nft bench --workload mixed` and the tests.
///
/// Route `i` (the same `i` always gives the same route; every route's NLRI is unique up to
/// 983,040 routes):
/// - host: `(i / 20) % 768`, shared by every kind, so the kinds interleave on the same hosts;
///   IPv6 for one host in four (in 2001:db8::/32), IPv4 otherwise (in 192.0.2.0/24,
///   198.51.100.0/24 and 203.0.113.0/24);
/// - kind, by `i % 20`:
///   - 0–5 (30%) **UDP amplification** to a victim /32 (/128): `protocol ==17`, the amplifier's
///     source port (DNS, NTP, SNMP, LDAP, SSDP, memcached, chargen, QOTD), a packet-length range;
///     dropped (one in three) or policed at a per-victim byte rate;
///   - 6–9 (20%) **SYN flood** to a victim: `protocol ==6`, TCP flags SYN without ACK, a
///     destination-port range; policed at a per-route packet rate;
///   - 10–11 (10%) **ICMP** to a victim: type and code (ICMPv6 for IPv6); dropped or policed;
///   - 12–13 (10%) **fragments** to a victim: fragment bits (is-fragment, or first-fragment)
///     and a DSCP value; dropped;
///   - 14–17 (20%) **segmentation allow**: a tenant subnet (/26, /56) to a host /32 (/128),
///     `protocol ==6`, one to five destination ports; no action (accepted);
///   - 18–19 (10%) **prefix pairs**: /28 to /28 (/124), TCP or UDP, source- and
///     destination-port ranges, re-marked to a DSCP value.
public struct MixedRouteGenerator: Sendable {
    public init() {}

    public func routes(count: Int) -> [FlowRoute] {
        (0..<count).map(route)
    }

    /// The share of each kind in a large set, for reports: kind name and percentage.
    public static let proportions: [(kind: String, percent: Int)] = [
        ("UDP amplification (source port, packet length; drop or bytes/s)", 30),
        ("SYN flood (TCP flags, port range; packets/s)", 20),
        ("ICMP type and code (drop or bytes/s)", 10),
        ("fragments with DSCP (drop)", 10),
        ("segmentation allow (tenant subnet to host, 1-5 ports)", 20),
        ("/28 prefix pairs (port ranges, DSCP marking)", 10),
    ]

    public func route(_ i: Int) -> FlowRoute {
        // Hosts are shared by every kind: the kinds interleave on the same victims.
        let host = (i / 20) % 768
        let v6 = host % 4 == 3
        let family: AddressFamily = v6 ? .ipv6 : .ipv4
        // What makes route i unique among the routes of its kind on its host (encoded in one
        // field of each kind), and a per-route pseudo-random value for the others: the lengths,
        // ports and rates a controller sets per victim differ from route to route.
        let variant = UInt64(i / (20 * 768))
        let r = Self.mix(UInt64(i))
        let kind = i % 20
        var components: [Component]
        var actions: [FlowAction] = []
        switch kind {
        case 0...5:
            let amplifiers: [UInt64] = [53, 123, 161, 389, 1900, 11211, 19, 17]
            let port = amplifiers[(kind + i / 20) % amplifiers.count]
            // The upper bound carries `variant` and the kind: unique; the lower one varies.
            let low = 64 + r % 900, high = 1100 + variant * 6 + UInt64(kind)
            components = [.destinationPrefix(self.host(host, family)),
                          .numeric(.ipProtocol, [.equal(17)]),
                          .numeric(.sourcePort, [.equal(port)]),
                          .numeric(.packetLength, [NumericTerm(gt: true, eq: true, value: low),
                                                   NumericTerm(and: true, lt: true, eq: true, value: high)])]
            actions = [.trafficRateBytes(asn: 0, bytesPerSecond: r % 3 == 0 ? 0 : Float(125_000 * (1 + (r >> 8) % 400)))]
        case 6...9:
            // The range's width carries `variant` and the kind: unique; its start varies.
            let start = 1 + r % 60_000, width = variant * 4 + UInt64(kind - 6)
            components = [.destinationPrefix(self.host(host, family)),
                          .numeric(.ipProtocol, [.equal(6)]),
                          .numeric(.destinationPort, [NumericTerm(gt: true, eq: true, value: start),
                                                      NumericTerm(and: true, lt: true, eq: true, value: start + width)]),
                          .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02), BitmaskTerm(and: true, not: true, match: true, value: 0x10)])]
            actions = [.trafficRatePackets(asn: 0, packetsPerSecond: Float(100 * (1 + (r >> 16) % 500)))]
        case 10, 11:
            let types: [UInt64] = v6 ? [128, 129, 1, 3, 133, 134, 135, 136] : [8, 0, 3, 11, 5, 13, 17, 9]
            // The code carries `variant` and the kind: unique; the type varies.
            let n = variant * 2 + UInt64(kind - 10)
            components = [.destinationPrefix(self.host(host, family)),
                          .numeric(.ipProtocol, [.equal(v6 ? 58 : 1)]),
                          .numeric(.icmpType, [.equal(types[Int(r % 8)])]),
                          .numeric(.icmpCode, [.equal(n % 256)])]
            actions = [.trafficRateBytes(asn: 0, bytesPerSecond: r % 2 == 0 ? 0 : Float(12_500 * (1 + (r >> 8) % 8)))]
        case 12, 13:
            // The fragment bit carries the kind and the DSCP value `variant`: unique.
            components = [.destinationPrefix(self.host(host, family)),
                          .bitmask(.fragment, [BitmaskTerm(match: true, value: kind == 12 ? 0x02 : 0x04)]),
                          .numeric(.dscp, [.equal(variant % 64)])]
            actions = [.trafficRateBytes(asn: 0, bytesPerSecond: 0)]
        case 14...17:
            // The last port carries `variant` and the kind: unique; the others vary.
            let n = variant * 4 + UInt64(kind - 14)
            let others = Int(r % 5)
            let ports = Set((0..<others).map { k in 1024 + (r >> (8 + 8 * k)) % 30_000 }).sorted() + [40_000 + n]
            components = [.destinationPrefix(self.host(host, family)),
                          .sourcePrefix(tenant(r, family)),
                          .numeric(.ipProtocol, [.equal(6)]),
                          .numeric(.destinationPort, ports.map { .equal($0) })]
        default:
            let n = variant * 2 + UInt64(kind - 18)
            // Unique per /28 (16 hosts share one): the host's place in it goes into the ports.
            let m = n * 16 + UInt64(host % 16)
            let sport = 1024 + r % 60_000, dport = 1 + m * 10
            components = [.destinationPrefix(block(host, family, destination: true)),
                          .sourcePrefix(block(host + Int(n % 7), family, destination: false)),
                          .numeric(.ipProtocol, [.equal(n % 2 == 0 ? 6 : 17)]),
                          .numeric(.sourcePort, [NumericTerm(gt: true, eq: true, value: sport),
                                                 NumericTerm(and: true, lt: true, eq: true, value: sport + 63)]),
                          .numeric(.destinationPort, [NumericTerm(gt: true, eq: true, value: dport),
                                                      NumericTerm(and: true, lt: true, eq: true, value: dport + 9)])]
            let dscp = UInt8(10 + r % 30)
            actions = [.trafficMarking(dscp: dscp, value: UInt64(dscp))]
        }
        // In increasing type order, as RFC 8955 §4.2 requires of an NLRI.
        components.sort { $0.type.rawValue < $1.type.rawValue }
        return FlowRoute(family: family, components: components, actions: actions)
    }

    /// Host `h` (0–767): a /32 in the three IPv4 documentation /24s, or a /128 in 2001:db8:0:1::/64.
    private func host(_ h: Int, _ family: AddressFamily) -> FlowPrefix {
        if family == .ipv6 {
            return FlowPrefix(address: IPAddress(family: .ipv6, high: 0x2001_0db8_0000_0001, low: UInt64(h) + 1), length: 128)!
        }
        return FlowPrefix(address: IPAddress(ipv4: Self.ipv4Bases[h / 256] | UInt32(h % 256)), length: 32)!
    }

    /// A tenant subnet: a /26 of 198.51.100.0/24 (four tenants), or a /56 of 2001:db8:100::/40.
    private func tenant(_ r: UInt64, _ family: AddressFamily) -> FlowPrefix {
        let t = (r >> 40) % 4
        if family == .ipv6 {
            return FlowPrefix(address: IPAddress(family: .ipv6, high: 0x2001_0db8_0100_0000 | t << 8, low: 0), length: 56)!
        }
        return FlowPrefix(address: IPAddress(ipv4: 0xc633_6400 | UInt32(t * 64)), length: 26)!
    }

    /// SplitMix64: a fixed pseudo-random value per route number.
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The /28 (IPv6: /124) around host `h`, on the destination or source side.
    private func block(_ h: Int, _ family: AddressFamily, destination: Bool) -> FlowPrefix {
        let h = h % 768
        if family == .ipv6 {
            return FlowPrefix(address: IPAddress(family: .ipv6, high: 0x2001_0db8_0000_0002 | (destination ? 0 : 0x10000),
                                                 low: UInt64(h / 16) << 4), length: 124)!
        }
        return FlowPrefix(address: IPAddress(ipv4: Self.ipv4Bases[h / 256] | UInt32(h % 256 / 16 * 16)), length: 28)!
    }

    /// 192.0.2.0, 198.51.100.0, 203.0.113.0.
    private static let ipv4Bases: [UInt32] = [0xc000_0200, 0xc633_6400, 0xcb00_7100]
}
