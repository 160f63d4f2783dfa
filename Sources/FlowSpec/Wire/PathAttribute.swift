/// One BGP path attribute (RFC 4271 §4.3), decoded where flowspec needs it and kept raw
/// otherwise. `flags` is kept as received (including the extended-length bit and the unused low
/// bits) so the attribute re-encodes octet for octet.
public struct PathAttribute: Hashable, Sendable {
    public var flags: UInt8
    public var code: UInt8
    public var value: Value

    public enum Value: Hashable, Sendable {
        case mpReach(MPReachNLRI)
        case mpUnreach(MPUnreachNLRI)
        case extendedCommunities([ExtendedCommunity])
        case largeCommunities([LargeCommunity])
        /// IPv6 Address Specific Extended Communities (RFC 5701), 20 octets each.
        case ipv6ExtendedCommunities([IPv6ExtendedCommunity])
        /// Any other attribute (ORIGIN, AS_PATH, ...).
        case raw([UInt8])
    }

    public init(flags: UInt8, code: UInt8, value: Value) {
        self.flags = flags; self.code = code; self.value = value
    }

    // Flag bits.
    public static let optional: UInt8 = 0x80
    public static let transitive: UInt8 = 0x40
    public static let partial: UInt8 = 0x20
    public static let extendedLength: UInt8 = 0x10

    // Type codes this codec decodes or builds.
    public static let origin: UInt8 = 1
    public static let asPath: UInt8 = 2
    public static let mpReachCode: UInt8 = 14
    public static let mpUnreachCode: UInt8 = 15
    public static let extendedCommunitiesCode: UInt8 = 16
    public static let ipv6ExtendedCommunitiesCode: UInt8 = 25
    public static let largeCommunitiesCode: UInt8 = 32

    /// ORIGIN IGP, well-known transitive.
    public static let originIGP = PathAttribute(flags: transitive, code: origin, value: .raw([0]))
    /// An empty AS_PATH (iBGP or a locally originated route).
    public static let emptyASPath = PathAttribute(flags: transitive, code: asPath, value: .raw([]))

    public static func extendedCommunities(_ c: [ExtendedCommunity]) -> PathAttribute {
        PathAttribute(flags: optional | transitive, code: extendedCommunitiesCode, value: .extendedCommunities(c))
    }

    public static func ipv6ExtendedCommunities(_ c: [IPv6ExtendedCommunity]) -> PathAttribute {
        PathAttribute(flags: optional | transitive, code: ipv6ExtendedCommunitiesCode, value: .ipv6ExtendedCommunities(c))
    }

    public static func largeCommunities(_ c: [LargeCommunity]) -> PathAttribute {
        PathAttribute(flags: optional | transitive, code: largeCommunitiesCode, value: .largeCommunities(c))
    }

    public static func mpReach(_ r: MPReachNLRI) -> PathAttribute {
        PathAttribute(flags: optional, code: mpReachCode, value: .mpReach(r))
    }

    public static func mpUnreach(_ u: MPUnreachNLRI) -> PathAttribute {
        PathAttribute(flags: optional, code: mpUnreachCode, value: .mpUnreach(u))
    }

    // MARK: Decoding

    /// Decodes the value of attribute `code` from `c` (which spans exactly the value).
    static func decodeValue(code: UInt8, _ c: inout WireCursor, options: WireOptions) throws(WireError) -> Value {
        switch code {
        case mpReachCode:
            let afi = try c.u16(.afiSafi)
            let safi = try c.u8(.afiSafi)
            let nhLength = Int(try c.u8(.nextHop))
            let nextHop = try c.array(nhLength, .nextHop)
            let reserved = try c.u8(.nextHop)
            let nlri = MPNLRIs.decode(afi: afi, safi: safi, &c, options: options)
            return .mpReach(MPReachNLRI(afi: afi, safi: safi, nextHop: nextHop, reserved: reserved, nlri: nlri))
        case mpUnreachCode:
            let afi = try c.u16(.afiSafi)
            let safi = try c.u8(.afiSafi)
            let nlri = MPNLRIs.decode(afi: afi, safi: safi, &c, options: options)
            return .mpUnreach(MPUnreachNLRI(afi: afi, safi: safi, nlri: nlri))
        case extendedCommunitiesCode:
            guard c.remaining % 8 == 0 else {
                throw .overlong(offset: c.offset + c.remaining - c.remaining % 8, field: .extendedCommunities,
                                extra: c.remaining % 8)
            }
            var out = [ExtendedCommunity]()
            out.reserveCapacity(c.remaining / 8)
            while !c.isAtEnd { out.append(ExtendedCommunity(rawValue: try c.uint(8, .extendedCommunities))) }
            return .extendedCommunities(out)
        case largeCommunitiesCode:
            guard c.remaining % 12 == 0 else {
                throw .overlong(offset: c.offset + c.remaining - c.remaining % 12, field: .largeCommunities,
                                extra: c.remaining % 12)
            }
            var out = [LargeCommunity]()
            out.reserveCapacity(c.remaining / 12)
            while !c.isAtEnd {
                let g = UInt32(truncatingIfNeeded: try c.uint(4, .largeCommunities))
                let l1 = UInt32(truncatingIfNeeded: try c.uint(4, .largeCommunities))
                let l2 = UInt32(truncatingIfNeeded: try c.uint(4, .largeCommunities))
                out.append(LargeCommunity(global: g, local1: l1, local2: l2))
            }
            return .largeCommunities(out)
        case ipv6ExtendedCommunitiesCode:
            let size = IPv6ExtendedCommunity.octets
            guard c.remaining % size == 0 else {
                throw .overlong(offset: c.offset + c.remaining - c.remaining % size, field: .ipv6ExtendedCommunities,
                                extra: c.remaining % size)
            }
            var out = [IPv6ExtendedCommunity]()
            out.reserveCapacity(c.remaining / size)
            while !c.isAtEnd {
                out.append(IPv6ExtendedCommunity(bytes: try c.array(size, .ipv6ExtendedCommunities))!)
            }
            return .ipv6ExtendedCommunities(out)
        default:
            return .raw(c.rest())
        }
    }

    // MARK: Encoding

    /// Appends flags, code, length (2 octets when the extended-length flag is set or the value
    /// needs it) and value.
    public func encode(into out: inout [UInt8]) throws(WireError) {
        var value = [UInt8]()
        switch self.value {
        case .raw(let b): value = b
        case .extendedCommunities(let cs):
            value.reserveCapacity(cs.count * 8)
            for c in cs { appendBigEndian(c.rawValue, 8, &value) }
        case .ipv6ExtendedCommunities(let cs):
            value.reserveCapacity(cs.count * IPv6ExtendedCommunity.octets)
            for c in cs { value += c.bytes }
        case .largeCommunities(let cs):
            value.reserveCapacity(cs.count * 12)
            for c in cs {
                appendBigEndian(UInt64(c.global), 4, &value)
                appendBigEndian(UInt64(c.local1), 4, &value)
                appendBigEndian(UInt64(c.local2), 4, &value)
            }
        case .mpReach(let r):
            appendBigEndian(UInt64(r.afi), 2, &value)
            value.append(r.safi)
            guard r.nextHop.count <= 255 else { throw .attributeTooLong(code: code, length: r.nextHop.count) }
            value.append(UInt8(r.nextHop.count))
            value += r.nextHop
            value.append(r.reserved)
            try r.nlri.encode(into: &value)
        case .mpUnreach(let u):
            appendBigEndian(UInt64(u.afi), 2, &value)
            value.append(u.safi)
            try u.nlri.encode(into: &value)
        }
        guard value.count <= 0xffff else { throw .attributeTooLong(code: code, length: value.count) }
        var f = flags
        if value.count > 255 { f |= PathAttribute.extendedLength }
        out.append(f)
        out.append(code)
        if f & PathAttribute.extendedLength != 0 {
            appendBigEndian(UInt64(value.count), 2, &out)
        } else {
            out.append(UInt8(value.count))
        }
        out += value
    }
}

@inline(__always)
func appendBigEndian(_ v: UInt64, _ n: Int, _ out: inout [UInt8]) {
    for i in stride(from: n - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * i))) }
}

/// The NLRIs of an MP_REACH_NLRI / MP_UNREACH_NLRI attribute: decoded for flowspec
/// (AFI 1 or 2, SAFI 133), kept raw for any other AFI/SAFI.
public enum MPNLRIs: Hashable, Sendable {
    case flowspec(AddressFamily, NLRIList)
    /// Not flowspec: skipped, octets kept as received.
    case other([UInt8])

    public static let flowspecSAFI: UInt8 = 133

    /// The flowspec family for an AFI/SAFI pair, or nil when it is something else.
    public static func flowspecFamily(afi: UInt16, safi: UInt8) -> AddressFamily? {
        safi == flowspecSAFI ? AddressFamily(rawValue: afi) : nil
    }

    static func decode(afi: UInt16, safi: UInt8, _ c: inout WireCursor, options: WireOptions) -> MPNLRIs {
        guard let family = flowspecFamily(afi: afi, safi: safi) else { return .other(c.rest()) }
        return .flowspec(family, FlowNLRICodec.decodeList(&c, family: family, options: options))
    }

    func encode(into out: inout [UInt8]) throws(WireError) {
        switch self {
        case .flowspec(let f, let list): try list.encode(family: f, into: &out)
        case .other(let b): out += b
        }
    }

    public var flowspecList: NLRIList? {
        if case .flowspec(_, let l) = self { return l }
        return nil
    }
}

/// MP_REACH_NLRI (RFC 4760 §3). Flowspec carries no next hop (length 0, RFC 8955 §4), but the
/// octets are kept whatever they are.
public struct MPReachNLRI: Hashable, Sendable {
    public var afi: UInt16
    public var safi: UInt8
    public var nextHop: [UInt8]
    /// The octet RFC 4760 reserved (formerly the SNPA count); kept for round trips.
    public var reserved: UInt8
    public var nlri: MPNLRIs

    public init(afi: UInt16, safi: UInt8, nextHop: [UInt8] = [], reserved: UInt8 = 0, nlri: MPNLRIs) {
        self.afi = afi; self.safi = safi; self.nextHop = nextHop; self.reserved = reserved; self.nlri = nlri
    }

    /// Flowspec routes of one family.
    public init(family: AddressFamily, nlris: [[Component]]) {
        self.init(afi: family.rawValue, safi: MPNLRIs.flowspecSAFI, nlri: .flowspec(family, NLRIList(nlris)))
    }
}

/// MP_UNREACH_NLRI (RFC 4760 §4). With no NLRI it is the End-of-RIB marker (RFC 4724 §2).
public struct MPUnreachNLRI: Hashable, Sendable {
    public var afi: UInt16
    public var safi: UInt8
    public var nlri: MPNLRIs

    public init(afi: UInt16, safi: UInt8, nlri: MPNLRIs) {
        self.afi = afi; self.safi = safi; self.nlri = nlri
    }

    public init(family: AddressFamily, nlris: [[Component]]) {
        self.init(afi: family.rawValue, safi: MPNLRIs.flowspecSAFI, nlri: .flowspec(family, NLRIList(nlris)))
    }
}
