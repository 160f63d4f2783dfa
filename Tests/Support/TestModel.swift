import FlowSpec

// Shared by the test targets: a deterministic generator (SplitMix64), random flowspec routes that
// reach every component and operator, and the RFC 8955/8956 meaning of a route for one packet.

public struct SplitMix: RandomNumberGenerator {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

public enum RandomRoutes {
    public static let redirectTarget = RouteTarget("65309:100")!

    public static func numericTerms(_ r: inout SplitMix, max: UInt64, interesting: [UInt64]) -> [NumericTerm] {
        let n = Int.random(in: 1...4, using: &r)
        return (0..<n).map { i in
            let v: UInt64 = Bool.random(using: &r) ? interesting.randomElement(using: &r)! : UInt64.random(in: 0...max, using: &r)
            let bits = UInt8.random(in: 0...7, using: &r)
            let common = Int.random(in: 0..<10, using: &r) < 6
            let (lt, gt, eq) = common ? [(false, false, true), (false, true, true), (true, false, true), (true, false, false)].randomElement(using: &r)!
                                      : (bits & 4 != 0, bits & 2 != 0, bits & 1 != 0)
            return NumericTerm(and: i > 0 && Bool.random(using: &r), lt: lt, gt: gt, eq: eq, value: v)
        }
    }

    public static func bitmaskTerms(_ r: inout SplitMix, bits: [UInt64]) -> [BitmaskTerm] {
        let n = Int.random(in: 1...3, using: &r)
        return (0..<n).map { i in
            var v: UInt64 = 0
            for b in bits where Int.random(in: 0..<3, using: &r) == 0 { v |= b }
            if v == 0 { v = bits.randomElement(using: &r)! }
            return BitmaskTerm(and: i > 0 && Bool.random(using: &r), not: Bool.random(using: &r), match: Bool.random(using: &r), value: v)
        }
    }

    public static func route(_ r: inout SplitMix) -> FlowRoute {
        let v4 = Bool.random(using: &r)
        let family: AddressFamily = v4 ? .ipv4 : .ipv6
        var comps = [Component]()
        func pick(_ p: Int) -> Bool { Int.random(in: 0..<100, using: &r) < p }
        func prefix() -> FlowPrefix {
            if v4 {
                let len = [0, 1, 8, 16, 20, 24, 25, 31, 32].randomElement(using: &r)!
                return FlowPrefix(address: IPAddress(ipv4: 0xcb00_7100 | UInt32.random(in: 0...255, using: &r)), length: len)!
            }
            let len = [0, 1, 16, 32, 33, 48, 64, 100, 127, 128].randomElement(using: &r)!
            let off = pick(30) ? Int.random(in: 0...len, using: &r) : 0
            let a = IPAddress(family: .ipv6, high: 0x2001_0db8_0000_0000 | UInt64.random(in: 0...0xffff_ffff, using: &r),
                              low: UInt64.random(in: 0...UInt64.max, using: &r))
            return FlowPrefix(address: a, length: len, offset: off)!
        }
        if pick(85) { comps.append(.destinationPrefix(prefix())) }
        if pick(40) { comps.append(.sourcePrefix(prefix())) }
        let portish = pick(45), icmpish = !portish && pick(25)
        if pick(50) { comps.append(.numeric(.ipProtocol, numericTerms(&r, max: 255, interesting: [1, 6, 17, 58, 132, 47]))) }
        if portish {
            let ports: [UInt64] = [0, 22, 53, 80, 443, 1023, 1024, 8080, 65535, 70000]
            if pick(40) { comps.append(.numeric(.port, numericTerms(&r, max: 0xffff, interesting: ports))) }
            if pick(50) { comps.append(.numeric(.destinationPort, numericTerms(&r, max: 0xffff, interesting: ports))) }
            if pick(40) { comps.append(.numeric(.sourcePort, numericTerms(&r, max: 0xffff, interesting: ports))) }
        }
        if icmpish {
            if pick(80) { comps.append(.numeric(.icmpType, numericTerms(&r, max: 255, interesting: [0, 3, 8, 128, 255]))) }
            if pick(50) { comps.append(.numeric(.icmpCode, numericTerms(&r, max: 255, interesting: [0, 1, 4, 255]))) }
        }
        if pick(20) {
            let bits: [UInt64] = pick(15) ? [0x01, 0x02, 0x100, 0x800] : [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80]
            comps.append(.bitmask(.tcpFlags, bitmaskTerms(&r, bits: bits)))
        }
        if pick(25) { comps.append(.numeric(.packetLength, numericTerms(&r, max: 0xffff, interesting: [0, 20, 39, 40, 41, 64, 1500, 65535]))) }
        if pick(20) { comps.append(.numeric(.dscp, numericTerms(&r, max: 63, interesting: [0, 8, 46, 63]))) }
        if pick(20) { comps.append(.bitmask(.fragment, bitmaskTerms(&r, bits: [0x01, 0x02, 0x04, 0x08]))) }
        if !v4 && pick(20) { comps.append(.numeric(.flowLabel, numericTerms(&r, max: 0xfffff, interesting: [0, 0x8e5, 0xfffff]))) }
        if comps.isEmpty || comps.allSatisfy({ $0.prefix?.isAny == true }) {
            comps.append(.numeric(.ipProtocol, [.equal(17)]))
        }
        var actions = [FlowAction]()
        switch Int.random(in: 0..<6, using: &r) {
        case 0: actions.append(.trafficRateBytes(asn: 0, bytesPerSecond: 0))
        case 1: actions.append(.trafficRateBytes(asn: 0, bytesPerSecond: 125000))
        case 2: actions.append(.trafficRatePackets(asn: 0, packetsPerSecond: 100))
        case 3: actions.append(.trafficRateBytes(asn: 0, bytesPerSecond: 0.5))
        default: break
        }
        if pick(30) { actions.append(.trafficAction(sample: Bool.random(using: &r), terminal: Bool.random(using: &r))) }
        if pick(20) { actions.append(.trafficMarking(dscp: UInt8.random(in: 0...63, using: &r), value: 0)) }
        if pick(15) { actions.append(.redirect(redirectTarget)) }
        comps.sort { $0.type < $1.type }
        return FlowRoute(family: family, components: comps, actions: actions)
    }
}

/// A packet reduced to what flowspec looks at: the library's `Packet`, with the RFC 8955/8956
/// meaning of routes for it below (the oracle the compiled tables are checked against).
public typealias TestPacket = Packet

extension Packet {
    /// The route's meaning under interface scoping: its RFC 8955/8956 meaning, on the
    /// interfaces of its groups only (every interface when it is not scoped).
    public func matches(_ route: FlowRoute, groups: InterfaceGroups) -> Bool {
        if let names = groups.interfaces(of: route), !names.contains(inputInterface) { return false }
        return matches(route)
    }

    /// RFC 8955/8956 meaning of the route for this packet.
    public func matches(_ route: FlowRoute) -> Bool {
        guard route.family == family else { return false }
        return route.components.allSatisfy { c in
            switch c {
            case .destinationPrefix(let p): return prefixMatch(p, dst)
            case .sourcePrefix(let p): return prefixMatch(p, src)
            case .numeric(let t, let terms):
                let tcpudp = proto == 6 || proto == 17
                let icmp = proto == (family == .ipv4 ? 1 : 58)
                switch t {
                case .ipProtocol: return terms.matches(UInt64(proto))
                case .port: return tcpudp && isTransport && (terms.matches(UInt64(sport)) || terms.matches(UInt64(dport)))
                case .destinationPort: return tcpudp && isTransport && terms.matches(UInt64(dport))
                case .sourcePort: return tcpudp && isTransport && terms.matches(UInt64(sport))
                case .icmpType: return icmp && isTransport && terms.matches(UInt64(icmpType))
                case .icmpCode: return icmp && isTransport && terms.matches(UInt64(icmpCode))
                case .packetLength: return terms.matches(UInt64(totalLength))
                case .dscp: return terms.matches(UInt64(dscp))
                case .flowLabel: return terms.matches(UInt64(flowLabel))
                default: return false
                }
            case .bitmask(let t, let terms):
                if t == .tcpFlags { return proto == 6 && isTransport && terms.matches(UInt64(tcpFlags)) }
                return terms.matches(fragmentState)
            }
        }
    }

    public var fragmentState: UInt64 {
        let isF = fragOffset != 0
        let more = family == .ipv4 ? mf : (fragHeader && mf)
        return (family == .ipv4 && df ? 1 : 0) | (isF ? 2 : 0) | (!isF && more ? 4 : 0) | (isF && !more ? 8 : 0)
    }

    public func prefixMatch(_ p: FlowPrefix, _ a: IPAddress) -> Bool {
        a.keepingBits(from: Int(p.offset), to: Int(p.length)) == p.address
    }

    /// The packet with the route's prefix addresses, protocol, ports and ICMP values (the first
    /// value each accepts), unfragmented or a first fragment: a packet likely to match the route.
    public func aimed(at route: FlowRoute) -> TestPacket {
        var p = self
        p.fragOffset = 0
        for c in route.components {
            switch c {
            case .destinationPrefix(let f) where f.offset == 0: p.dst = f.address
            case .sourcePrefix(let f) where f.offset == 0: p.src = f.address
            case .numeric(let t, let terms):
                guard let v = terms.intervals(max: t.maxValue).intervals.first?.lowerBound else { continue }
                switch t {
                case .ipProtocol: p.proto = UInt8(v)
                case .destinationPort, .port: p.dport = UInt16(v)
                case .sourcePort: p.sport = UInt16(v)
                case .icmpType: p.icmpType = UInt8(v)
                case .icmpCode: p.icmpCode = UInt8(v)
                default: continue
                }
            default: continue
            }
        }
        return p
    }

    public static func random(_ r: inout SplitMix, like route: FlowRoute) -> TestPacket {
        let v4 = route.family == .ipv4
        func addr(_ p: FlowPrefix?) -> IPAddress {
            var a = v4 ? IPAddress(ipv4: UInt32.random(in: 0...UInt32.max, using: &r))
                       : IPAddress(family: .ipv6, high: UInt64.random(in: 0...UInt64.max, using: &r), low: UInt64.random(in: 0...UInt64.max, using: &r))
            if let p, Bool.random(using: &r) {
                let m = IPAddress.mask(from: Int(p.offset), to: Int(p.length))
                a = IPAddress(family: a.family, high: (a.high & ~m.high) | p.address.high, low: (a.low & ~m.low) | p.address.low)
            }
            return a
        }
        let protos: [UInt8] = [1, 6, 17, 58, 132, 47]
        var pk = TestPacket(family: route.family, src: addr(route.source), dst: addr(route.destination),
                            proto: protos.randomElement(using: &r)!)
        let ports: [UInt16] = [0, 22, 53, 80, 443, 1023, 1024, 8080, 65535]
        pk.sport = Bool.random(using: &r) ? ports.randomElement(using: &r)! : UInt16.random(in: 0...0xffff, using: &r)
        pk.dport = Bool.random(using: &r) ? ports.randomElement(using: &r)! : UInt16.random(in: 0...0xffff, using: &r)
        pk.icmpType = [0, 3, 8, 128, 255, UInt8.random(in: 0...255, using: &r)].randomElement(using: &r)!
        pk.icmpCode = [0, 1, 4, UInt8.random(in: 0...255, using: &r)].randomElement(using: &r)!
        pk.tcpFlags = UInt16.random(in: 0...0x1ff, using: &r) & (Bool.random(using: &r) ? 0x3f : 0xfff)
        pk.totalLength = v4 ? [20, 40, 64, 1500, 65535, UInt32.random(in: 20...65535, using: &r)].randomElement(using: &r)!
                            : [40, 41, 80, 1500, 65575, UInt32.random(in: 40...65575, using: &r)].randomElement(using: &r)!
        pk.dscp = [0, 8, 46, 63, UInt8.random(in: 0...63, using: &r)].randomElement(using: &r)!
        pk.df = Bool.random(using: &r)
        pk.mf = Bool.random(using: &r)
        pk.fragOffset = Int.random(in: 0..<3, using: &r) == 0 ? UInt16.random(in: 1...0x1fff, using: &r) : 0
        pk.fragHeader = !v4 && (pk.fragOffset != 0 || pk.mf || Bool.random(using: &r))
        if !v4 && !pk.fragHeader { pk.mf = false }
        if !v4 { pk.df = false }
        pk.flowLabel = [0, 0x8e5, 0xfffff, UInt32.random(in: 0...0xfffff, using: &r)].randomElement(using: &r)!
        return pk
    }
}
