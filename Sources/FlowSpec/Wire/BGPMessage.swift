/// A BGP message (RFC 4271 §4). UPDATE is decoded in full; OPEN, NOTIFICATION and KEEPALIVE are
/// recognised; anything else (ROUTE-REFRESH, unknown types) is kept as type + body.
public enum BGPMessage: Hashable, Sendable {
    case open(body: [UInt8])
    case update(BGPUpdate)
    case notification(code: UInt8, subcode: UInt8, data: [UInt8])
    case keepalive
    case other(type: UInt8, body: [UInt8])

    public static let headerLength = 19
    /// RFC 4271 limit; RFC 8654 extended messages raise it to 65535.
    public static let maxLength = 4096
    public static let maxExtendedLength = 65535

    public enum MessageType: UInt8, Sendable {
        case open = 1, update = 2, notification = 3, keepalive = 4, routeRefresh = 5
    }

    /// The type code.
    public var type: UInt8 {
        switch self {
        case .open: 1
        case .update: 2
        case .notification: 3
        case .keepalive: 4
        case .other(let t, _): t
        }
    }

    /// For stream framing: the length of the message starting at `bytes[0]`, or nil when fewer
    /// than 19 octets have arrived. Throws on a bad marker or a length below 19 or above
    /// `maxLength`, after which the stream cannot be resynchronised.
    public static func frameLength(_ bytes: some Collection<UInt8>, maxLength: Int = maxExtendedLength) throws(WireError) -> Int? {
        try withRawBytes(bytes) { (p) throws(WireError) -> Int? in
            guard p.count >= headerLength else { return nil }
            for i in 0..<16 where p[i] != 0xff { throw .badMarker(offset: i) }
            let length = Int(p[16]) << 8 | Int(p[17])
            guard length >= headerLength, length <= maxLength else { throw .badMessageLength(offset: 16, length: length) }
            return length
        }
    }

    /// Decodes exactly one whole message (marker included); extra octets are an error.
    public static func decode(_ bytes: some Collection<UInt8>, options: WireOptions = .standard) throws(WireError) -> BGPMessage {
        try withRawBytes(bytes) { (p) throws(WireError) in try decode(p, options: options) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, options: WireOptions = .standard) throws(WireError) -> BGPMessage {
        var c = WireCursor(bytes)
        guard c.remaining >= headerLength else { throw .truncated(offset: 0, field: .messageHeader) }
        for i in 0..<16 where bytes[i] != 0xff { throw .badMarker(offset: i) }
        c.index = 16
        let length = Int(try c.u16(.messageHeader))
        let type = try c.u8(.messageHeader)
        guard length >= headerLength else { throw .badMessageLength(offset: 16, length: length) }
        if length > bytes.count { throw .truncated(offset: bytes.count, field: .message) }
        if length < bytes.count { throw .overlong(offset: length, field: .message, extra: bytes.count - length) }
        switch type {
        case MessageType.open.rawValue:
            return .open(body: c.rest())
        case MessageType.update.rawValue:
            return .update(try BGPUpdate.decodeBody(&c, options: options))
        case MessageType.notification.rawValue:
            let code = try c.u8(.notification)
            let sub = try c.u8(.notification)
            return .notification(code: code, subcode: sub, data: c.rest())
        case MessageType.keepalive.rawValue:
            guard length == headerLength else { throw .badMessageLength(offset: 16, length: length) }
            return .keepalive
        default:
            return .other(type: type, body: c.rest())
        }
    }

    /// Encodes the whole message, marker included. Throws when it would exceed `maxLength`
    /// (4096 unless the peers negotiated extended messages) or a part exceeds its length field.
    public func encode(maxLength: Int = BGPMessage.maxLength) throws(WireError) -> [UInt8] {
        var out = [UInt8](repeating: 0xff, count: 16)
        out += [0, 0, type]
        switch self {
        case .open(let b), .other(_, let b): out += b
        case .update(let u): try u.encodeBody(into: &out)
        case .notification(let code, let sub, let data): out.append(code); out.append(sub); out += data
        case .keepalive: break
        }
        guard out.count <= min(maxLength, BGPMessage.maxExtendedLength) else {
            throw .badMessageLength(offset: 16, length: out.count)
        }
        out[16] = UInt8(truncatingIfNeeded: out.count >> 8)
        out[17] = UInt8(truncatingIfNeeded: out.count)
        return out
    }
}

/// An UPDATE message body (RFC 4271 §4.3) with the multiprotocol attributes of RFC 4760.
///
/// Decoding is tolerant where RFC 7606 allows: a malformed flowspec NLRI becomes a
/// `NLRIEntry.Content.malformed` entry next to the good ones instead of failing the message.
/// Faults that make the attribute list unreadable (lengths running past the end, broken
/// MP_REACH headers, community lists of the wrong length) throw.
public struct BGPUpdate: Hashable, Sendable {
    /// IPv4 unicast withdrawn routes, kept raw (flowspec never uses them).
    public var withdrawnRoutes: [UInt8]
    /// Path attributes in the order received.
    public var attributes: [PathAttribute]
    /// IPv4 unicast NLRI after the attributes, kept raw.
    public var nlri: [UInt8]

    public init(withdrawnRoutes: [UInt8] = [], attributes: [PathAttribute] = [], nlri: [UInt8] = []) {
        self.withdrawnRoutes = withdrawnRoutes; self.attributes = attributes; self.nlri = nlri
    }

    /// An UPDATE announcing and/or withdrawing flowspec routes of one family. Attributes are
    /// written in type-code order: `baseAttributes` (ORIGIN, AS_PATH, ...), MP_REACH_NLRI,
    /// MP_UNREACH_NLRI, then the communities (16, 25, 32). Without anything to announce only MP_UNREACH_NLRI
    /// is sent; with nothing at all, the result is the End-of-RIB marker of the family.
    public static func flowspec(
        family: AddressFamily, announce: [[Component]] = [], withdraw: [[Component]] = [],
        extendedCommunities: [ExtendedCommunity] = [], largeCommunities: [LargeCommunity] = [],
        baseAttributes: [PathAttribute] = [.originIGP, .emptyASPath],
        ipv6ExtendedCommunities: [IPv6ExtendedCommunity] = []
    ) -> BGPUpdate {
        var attrs = [PathAttribute]()
        if !announce.isEmpty {
            attrs += baseAttributes
            attrs.append(.mpReach(MPReachNLRI(family: family, nlris: announce)))
        }
        if !withdraw.isEmpty || announce.isEmpty {
            attrs.append(.mpUnreach(MPUnreachNLRI(family: family, nlris: withdraw)))
        }
        if !announce.isEmpty {
            if !extendedCommunities.isEmpty { attrs.append(.extendedCommunities(extendedCommunities)) }
            if !largeCommunities.isEmpty { attrs.append(.largeCommunities(largeCommunities)) }
            if !ipv6ExtendedCommunities.isEmpty { attrs.append(.ipv6ExtendedCommunities(ipv6ExtendedCommunities)) }
        }
        attrs.sort { $0.code < $1.code }
        return BGPUpdate(attributes: attrs)
    }

    // MARK: Accessors

    public func attribute(_ code: UInt8) -> PathAttribute? { attributes.first { $0.code == code } }

    public var mpReach: MPReachNLRI? {
        for a in attributes { if case .mpReach(let r) = a.value { return r } }
        return nil
    }

    public var mpUnreach: MPUnreachNLRI? {
        for a in attributes { if case .mpUnreach(let u) = a.value { return u } }
        return nil
    }

    /// The extended communities (RFC 4360), from the first EXTENDED_COMMUNITIES attribute.
    public var extendedCommunities: [ExtendedCommunity] {
        for a in attributes { if case .extendedCommunities(let c) = a.value { return c } }
        return []
    }

    public var largeCommunities: [LargeCommunity] {
        for a in attributes { if case .largeCommunities(let c) = a.value { return c } }
        return []
    }

    /// The IPv6 Address Specific Extended Communities (RFC 5701), from the first attribute 25.
    public var ipv6ExtendedCommunities: [IPv6ExtendedCommunity] {
        for a in attributes { if case .ipv6ExtendedCommunities(let c) = a.value { return c } }
        return []
    }

    /// True for an End-of-RIB marker: nothing but an empty MP_UNREACH_NLRI (RFC 4724 §2), or
    /// an empty UPDATE (IPv4 unicast).
    public var isEndOfRIB: Bool {
        if attributes.isEmpty { return withdrawnRoutes.isEmpty && nlri.isEmpty }
        guard attributes.count == 1, let u = mpUnreach else { return false }
        switch u.nlri {
        case .flowspec(_, let l): return l.entries.isEmpty && l.unframed.isEmpty
        case .other(let b): return b.isEmpty
        }
    }

    /// The flowspec content: announced routes (with this UPDATE's extended, IPv6 extended and
    /// large communities), withdrawn routes, per-NLRI errors, and the AFI/SAFI pairs skipped.
    public var flowspec: FlowspecContent {
        var out = FlowspecContent()
        let ext = extendedCommunities, large = largeCommunities, ext6 = ipv6ExtendedCommunities
        func collect(_ nlri: MPNLRIs, afi: UInt16, safi: UInt8, withdrawn: Bool) {
            guard case .flowspec(let family, let list) = nlri else {
                out.skipped.append(FlowspecContent.AFISAFI(afi: afi, safi: safi, withdrawn: withdrawn))
                return
            }
            var index = 0
            for e in list.entries {
                index += 1
                switch e.content {
                case .components(let c):
                    let route = withdrawn
                        ? FlowRoute(family: family, components: c)
                        : FlowRoute(family: family, components: c, extendedCommunities: ext, largeCommunities: large,
                                    ipv6ExtendedCommunities: ext6)
                    out.routes.append(.init(route: route, withdrawn: withdrawn, index: index))
                case .malformed(_, let error):
                    out.errors.append(.init(error: error, withdrawn: withdrawn, index: index))
                }
            }
            if let error = list.framingError {
                out.errors.append(.init(error: error, withdrawn: withdrawn, index: index + 1))
            }
        }
        for a in attributes {
            switch a.value {
            case .mpReach(let r): collect(r.nlri, afi: r.afi, safi: r.safi, withdrawn: false)
            case .mpUnreach(let u): collect(u.nlri, afi: u.afi, safi: u.safi, withdrawn: true)
            default: break
            }
        }
        return out
    }

    // MARK: Codec

    static func decodeBody(_ c: inout WireCursor, options: WireOptions) throws(WireError) -> BGPUpdate {
        let wLength = Int(try c.u16(.withdrawnRoutes))
        let withdrawn = try c.array(wLength, .withdrawnRoutes)
        let aLength = Int(try c.u16(.pathAttributes))
        var ac = try c.sub(aLength, .pathAttributes)
        var attributes = [PathAttribute]()
        var seenMP = (reach: false, unreach: false)
        while !ac.isAtEnd {
            let start = ac.offset
            let flags = try ac.u8(.attributeHeader)
            let code = try ac.u8(.attributeHeader)
            let length = flags & PathAttribute.extendedLength != 0
                ? Int(try ac.u16(.attributeHeader)) : Int(try ac.u8(.attributeHeader))
            var vc = try ac.sub(length, .attributeValue)
            if code == PathAttribute.mpReachCode {
                if seenMP.reach { throw .duplicateAttribute(offset: start, code: code) }
                seenMP.reach = true
            } else if code == PathAttribute.mpUnreachCode {
                if seenMP.unreach { throw .duplicateAttribute(offset: start, code: code) }
                seenMP.unreach = true
            }
            let value = try PathAttribute.decodeValue(code: code, &vc, options: options)
            attributes.append(PathAttribute(flags: flags, code: code, value: value))
        }
        return BGPUpdate(withdrawnRoutes: withdrawn, attributes: attributes, nlri: c.rest())
    }

    func encodeBody(into out: inout [UInt8]) throws(WireError) {
        guard withdrawnRoutes.count <= 0xffff else { throw .attributeTooLong(code: 0, length: withdrawnRoutes.count) }
        appendBigEndian(UInt64(withdrawnRoutes.count), 2, &out)
        out += withdrawnRoutes
        let lengthAt = out.count
        out += [0, 0]
        for a in attributes { try a.encode(into: &out) }
        let aLength = out.count - lengthAt - 2
        guard aLength <= 0xffff else { throw .attributeTooLong(code: 0, length: aLength) }
        out[lengthAt] = UInt8(truncatingIfNeeded: aLength >> 8)
        out[lengthAt + 1] = UInt8(truncatingIfNeeded: aLength)
        out += nlri
    }
}

/// The flowspec routes an UPDATE carries, as `BGPUpdate.flowspec` reports them.
public struct FlowspecContent: Hashable, Sendable {
    public struct Item: Hashable, Sendable {
        public var route: FlowRoute
        public var withdrawn: Bool
        /// 1-based position of the NLRI within its MP_REACH_NLRI or MP_UNREACH_NLRI.
        public var index: Int
    }

    public struct Failure: Hashable, Sendable {
        public var error: WireError
        public var withdrawn: Bool
        public var index: Int
    }

    public struct AFISAFI: Hashable, Sendable {
        public var afi: UInt16
        public var safi: UInt8
        public var withdrawn: Bool
    }

    public var routes: [Item] = []
    public var errors: [Failure] = []
    /// MP_REACH / MP_UNREACH attributes of other AFI/SAFI pairs, not decoded.
    public var skipped: [AFISAFI] = []
}
