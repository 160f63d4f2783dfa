/// A deterministic generator of realistic flowspec route sets, for benchmarks and scale tests.
///
/// Route `i` of a set (the same `i` always gives the same route):
/// - destination: a /32 in 203.0.113.0/24 or 192.0.2.0/24 (512 addresses, cycling);
/// - source: a /32 in 198.51.100.0/24 — one route in four uses the /24 instead — varying once
///   per 512 routes;
/// - the mix, by `i % 10`: 0–3 TCP to a two-port list (80 and 443, both shifted by `i / 512`),
///   4–6 UDP to one port, 7–8 UDP to one port rate-limited at 1 MB/s (traffic-rate-bytes
///   1,000,000), 9 ICMP type + code; ports and ICMP values shift with `i / 512`, so every route's
///   NLRI is unique up to 1,048,576 routes;
/// - every route drops (traffic-rate 0) except the rate-limited ones.
public struct RouteGenerator: Sendable {
    public var family: AddressFamily

    public init(family: AddressFamily = .ipv4) { self.family = family }

    public func routes(count: Int) -> [FlowRoute] {
        (0..<count).map(route)
    }

    public func route(_ i: Int) -> FlowRoute {
        let dstIndex = i % 512
        let srcIndex = (i / 512) % 256
        let shift = UInt64(i / 512)
        let dst: FlowPrefix
        let src: FlowPrefix
        if family == .ipv4 {
            let dstBase: UInt32 = dstIndex < 256 ? 0xcb00_7100 : 0xc000_0200 // 203.0.113.0, 192.0.2.0
            dst = FlowPrefix(address: IPAddress(ipv4: dstBase | UInt32(dstIndex % 256)), length: 32)!
            let s = IPAddress(ipv4: 0xc633_6400 | UInt32(srcIndex)) // 198.51.100.x
            src = FlowPrefix(address: s, length: i % 4 == 3 ? 24 : 32)!
        } else {
            let d = IPAddress(family: .ipv6, high: 0x2001_0db8_0113_0000, low: UInt64(dstIndex))
            dst = FlowPrefix(address: d, length: 128)!
            let s = IPAddress(family: .ipv6, high: 0x2001_0db8_5100_0000, low: UInt64(srcIndex))
            src = FlowPrefix(address: s, length: i % 4 == 3 ? 64 : 128)!
        }
        var components: [Component] = [.destinationPrefix(dst), .sourcePrefix(src)]
        var actions: [FlowAction] = [.trafficRateBytes(asn: 0, bytesPerSecond: 0)]
        let kind = i % 10
        switch kind {
        case 0...3:
            components.append(.numeric(.ipProtocol, [.equal(6)]))
            components.append(.numeric(.destinationPort, [.equal(80 + shift), .equal(443 + shift)]))
        case 4...6:
            components.append(.numeric(.ipProtocol, [.equal(17)]))
            components.append(.numeric(.destinationPort, [.equal(1000 + UInt64(kind) + 10 * shift)]))
        case 7, 8:
            components.append(.numeric(.ipProtocol, [.equal(17)]))
            components.append(.numeric(.destinationPort, [.equal(30000 + UInt64(kind) + 10 * shift)]))
            actions = [.trafficRateBytes(asn: 0, bytesPerSecond: 1_000_000)]
        default:
            let icmp: UInt64 = family == .ipv4 ? 1 : 58
            components.append(.numeric(.ipProtocol, [.equal(icmp)]))
            let types: [UInt64] = family == .ipv4 ? [8, 0, 13, 14, 15, 16, 17, 18] : [128, 129, 130, 131, 132, 133, 134, 135]
            components.append(.numeric(.icmpType, [.equal(types[Int(shift / 256) % 8])]))
            components.append(.numeric(.icmpCode, [.equal(shift % 256)]))
        }
        return FlowRoute(family: family, components: components, actions: actions)
    }
}
