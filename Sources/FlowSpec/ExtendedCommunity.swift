/// An 8-octet extended community (RFC 4360), kept as received so nothing is lost.
/// `action` decodes the ones flowspec defines.
public struct ExtendedCommunity: Hashable, Sendable {
    /// The 8 octets as a big-endian integer: type, sub-type, then 6 value octets.
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(type: UInt8, subtype: UInt8, value: UInt64) {
        rawValue = UInt64(type) << 56 | UInt64(subtype) << 48 | (value & 0xffff_ffff_ffff)
    }

    public var type: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 56) }
    public var subtype: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 48) }
    /// The 6 value octets.
    public var value: UInt64 { rawValue & 0xffff_ffff_ffff }

    public var bytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: rawValue >> UInt64(56 - 8 * $0)) } }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 8 else { return nil }
        rawValue = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public var action: FlowAction { FlowAction(self) }
}

/// What an extended community asks of the traffic filter (RFC 8955 §7, RFC 8956 §6), or a
/// route target used for scoping.
public enum FlowAction: Hashable, Sendable {
    /// 0x8006: IEEE float bytes per second; 0 means drop. The AS is informational.
    case trafficRateBytes(asn: UInt16, bytesPerSecond: Float)
    /// 0x800c (RFC 8955 §7.2): IEEE float packets per second; 0 means drop.
    case trafficRatePackets(asn: UInt16, packetsPerSecond: Float)
    /// 0x8007 (RFC 8955 §7.3). `terminal` is the T bit (bit 47, 0x01): when SET, evaluation
    /// CONTINUES with later routes; when clear, it stops at this route. `sample` is bit 46 (0x02).
    case trafficAction(sample: Bool, terminal: Bool)
    /// 0x8008 / 0x8108 / 0x8208: redirect to the VRF whose import route target this is. Never
    /// an IPv6 global (that redirect is `IPv6FlowAction.rtRedirect`).
    case redirect(RouteTarget)
    /// 0x010c (draft-ietf-idr-flowspec-redirect-ip): redirect to an IPv4 next hop, with the copy bit.
    case redirectToIP(IPAddress, copy: Bool)
    /// 0x8009: set DSCP to the low 6 bits. `value` keeps the whole 6-octet field, which the
    /// historical sequence-number convention uses.
    case trafficMarking(dscp: UInt8, value: UInt64)
    /// 0x0002 / 0x0102 / 0x0202: a route target (scoping, not an action). Never an IPv6 global.
    case routeTarget(RouteTarget)
    /// Anything else: kept and reported, never dropped silently.
    case unknown(ExtendedCommunity)

    public init(_ c: ExtendedCommunity) {
        let v = c.value
        func float(_ v: UInt64) -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: v)) }
        switch (c.type, c.subtype) {
        case (0x80, 0x06): self = .trafficRateBytes(asn: UInt16(truncatingIfNeeded: v >> 32), bytesPerSecond: float(v))
        case (0x80, 0x0c): self = .trafficRatePackets(asn: UInt16(truncatingIfNeeded: v >> 32), packetsPerSecond: float(v))
        case (0x80, 0x07): self = .trafficAction(sample: v & 0x02 != 0, terminal: v & 0x01 != 0)
        case (0x80, 0x08): self = .redirect(RouteTarget(global: .as2(UInt16(truncatingIfNeeded: v >> 32)), local: UInt32(truncatingIfNeeded: v)))
        case (0x81, 0x08): self = .redirect(RouteTarget(global: .ipv4(UInt32(truncatingIfNeeded: v >> 16)), local: UInt32(v & 0xffff)))
        case (0x82, 0x08): self = .redirect(RouteTarget(global: .as4(UInt32(truncatingIfNeeded: v >> 16)), local: UInt32(v & 0xffff)))
        case (0x80, 0x09): self = .trafficMarking(dscp: UInt8(v & 0x3f), value: v)
        case (0x01, 0x0c): self = .redirectToIP(IPAddress(ipv4: UInt32(truncatingIfNeeded: v >> 16)), copy: v & 0x01 != 0)
        case (0x00, 0x02): self = .routeTarget(RouteTarget(global: .as2(UInt16(truncatingIfNeeded: v >> 32)), local: UInt32(truncatingIfNeeded: v)))
        case (0x01, 0x02): self = .routeTarget(RouteTarget(global: .ipv4(UInt32(truncatingIfNeeded: v >> 16)), local: UInt32(v & 0xffff)))
        case (0x02, 0x02): self = .routeTarget(RouteTarget(global: .as4(UInt32(truncatingIfNeeded: v >> 16)), local: UInt32(v & 0xffff)))
        default: self = .unknown(c)
        }
    }

    /// The extended community that carries this action.
    public var community: ExtendedCommunity {
        func rt(_ t: RouteTarget, _ sub: UInt8) -> ExtendedCommunity {
            switch t.global {
            case .as2(let a): ExtendedCommunity(type: sub == 0x08 ? 0x80 : 0x00, subtype: sub, value: UInt64(a) << 32 | UInt64(t.local))
            case .ipv4(let a): ExtendedCommunity(type: sub == 0x08 ? 0x81 : 0x01, subtype: sub, value: UInt64(a) << 16 | UInt64(t.local & 0xffff))
            case .as4(let a): ExtendedCommunity(type: sub == 0x08 ? 0x82 : 0x02, subtype: sub, value: UInt64(a) << 16 | UInt64(t.local & 0xffff))
            case .ipv6: preconditionFailure("route target \(t) has an IPv6 global: it travels in attribute 25 (IPv6FlowAction.rtRedirect), not in an 8-octet community")
            }
        }
        switch self {
        case .trafficRateBytes(let asn, let r):
            return ExtendedCommunity(type: 0x80, subtype: 0x06, value: UInt64(asn) << 32 | UInt64(r.bitPattern))
        case .trafficRatePackets(let asn, let r):
            return ExtendedCommunity(type: 0x80, subtype: 0x0c, value: UInt64(asn) << 32 | UInt64(r.bitPattern))
        case .trafficAction(let s, let t):
            return ExtendedCommunity(type: 0x80, subtype: 0x07, value: (s ? 2 : 0) | (t ? 1 : 0))
        case .redirect(let t): return rt(t, 0x08)
        case .routeTarget(let t): return rt(t, 0x02)
        case .redirectToIP(let a, let copy):
            return ExtendedCommunity(type: 0x01, subtype: 0x0c, value: UInt64(a.ipv4Value) << 16 | (copy ? 1 : 0))
        case .trafficMarking(_, let v): return ExtendedCommunity(type: 0x80, subtype: 0x09, value: v)
        case .unknown(let c): return c
        }
    }
}
