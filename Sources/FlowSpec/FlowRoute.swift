/// One flowspec route: an ordered list of match components (the NLRI) and the extended
/// communities that came with it.
public struct FlowRoute: Hashable, Sendable {
    public var family: AddressFamily
    /// Components in strictly increasing type order (RFC 8955 §4.2); `validate()` checks it.
    public var components: [Component]
    public var extendedCommunities: [ExtendedCommunity]
    /// What few routes carry (large communities, IPv6 address-specific extended communities, a
    /// comment), in a box of its own: a route stays 32 bytes, and routes are held in several
    /// copies (each peer's RIB, the merged set, the agent's). A comment stored in the route
    /// itself made a 100k-route listener 39 MB larger.
    private var extras: Extras?

    public var largeCommunities: [LargeCommunity] {
        get { extras?.value.largeCommunities ?? [] }
        set { changeExtras { $0.largeCommunities = newValue } }
    }

    /// IPv6 Address Specific Extended Communities (RFC 5701, attribute 25), in the order received.
    public var ipv6ExtendedCommunities: [IPv6ExtendedCommunity] {
        get { extras?.value.ipv6ExtendedCommunities ?? [] }
        set { changeExtras { $0.ipv6ExtendedCommunities = newValue } }
    }

    /// The operator's note on the route (the canonical format's `comment`); not part of the BGP
    /// route. The compiler keeps it beside the route identity in the kernel (the rules' and set
    /// elements' userdata, at most `FlowRoute.maxCommentBytes` of it), so `show` can print it.
    public var comment: String? {
        get { extras?.value.comment }
        set { changeExtras { $0.comment = newValue } }
    }

    /// The most of a comment the kernel keeps: with the identity (at most 120 bytes) it stays
    /// within the 256 bytes of userdata a rule or set element may carry (NFT_USERDATA_MAXLEN).
    public static let maxCommentBytes = 128

    public init(family: AddressFamily, components: [Component],
                extendedCommunities: [ExtendedCommunity] = [], largeCommunities: [LargeCommunity] = [],
                ipv6ExtendedCommunities: [IPv6ExtendedCommunity] = []) {
        self.family = family
        self.components = components
        self.extendedCommunities = extendedCommunities
        if !largeCommunities.isEmpty || !ipv6ExtendedCommunities.isEmpty {
            extras = Extras(Extras.Value(largeCommunities: largeCommunities, ipv6ExtendedCommunities: ipv6ExtendedCommunities))
        }
    }

    private mutating func changeExtras(_ change: (inout Extras.Value) -> Void) {
        var value = extras?.value ?? Extras.Value()
        change(&value)
        extras = value.isEmpty ? nil : Extras(value)
    }

    public init(family: AddressFamily, components: [Component], actions: [FlowAction]) {
        self.init(family: family, components: components, extendedCommunities: actions.map(\.community))
    }

    /// The decoded extended communities, in the order received.
    public var actions: [FlowAction] { extendedCommunities.map(FlowAction.init) }

    /// The decoded IPv6 Address Specific Extended Communities, in the order received. They come
    /// after `actions` wherever order matters (attribute 25 follows attribute 16).
    public var ipv6Actions: [IPv6FlowAction] { ipv6ExtendedCommunities.map(IPv6FlowAction.init) }

    public func component(_ type: ComponentType) -> Component? {
        components.first { $0.type == type }
    }

    public var destination: FlowPrefix? { component(.destinationPrefix)?.prefix }
    public var source: FlowPrefix? { component(.sourcePrefix)?.prefix }

    /// The default-policy route: nothing but 0/0 prefixes (RFC 8955 leaves it to ordering; we
    /// make it the chain policy). A route with no component at all is not one: it is invalid.
    public var isDefaultPolicy: Bool {
        !components.isEmpty && components.allSatisfy { $0.prefix?.isAny == true }
    }

    /// The route targets it carries (for scoping).
    public var routeTargets: [RouteTarget] {
        actions.compactMap { if case .routeTarget(let t) = $0 { t } else { nil } }
    }
}

extension FlowRoute {
    /// The NLRI value octets (without the 1- or 2-octet NLRI length), as RFC 8955 §4 encodes
    /// them. Two routes are the same BGP route exactly when family and these bytes are equal.
    public var nlriBytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for c in components { c.encode(family: family, into: &out) }
        return out
    }

    /// The NLRI with its length prefix (1 octet below 240, else 2 octets `0xfnnn`).
    public var nlriWithLength: [UInt8] {
        let body = nlriBytes
        var out = [UInt8]()
        if body.count < 240 { out.append(UInt8(body.count)) }
        else { out.append(0xf0 | UInt8((body.count >> 8) & 0x0f)); out.append(UInt8(body.count & 0xff)) }
        return out + body
    }
}

/// `0`–`9`, `a`–`f` as ASCII.
private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// Lower-case hex of bytes, two digits each.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    var out = [UInt8]()
    out.reserveCapacity(bytes.underestimatedCount * 2)
    appendHex(bytes, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Appends the lower-case hex of `bytes` (ASCII) to `out`.
func appendHex(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
    for b in bytes { out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 0x0f)]) }
}

extension Component {
    /// Appends the component's wire form (type octet included) to `out`.
    public func encode(family: AddressFamily, into out: inout [UInt8]) {
        out.append(type.rawValue)
        switch self {
        case .destinationPrefix(let p), .sourcePrefix(let p):
            out.append(p.length)
            if family == .ipv6 { out.append(p.offset) }
            // The pattern: bits [offset, length) moved to the start, padded to whole octets.
            let bits = p.patternLength
            let nbytes = (bits + 7) / 8
            let shifted = p.address.shiftedLeft(Int(p.offset))
            for i in 0..<nbytes { out.append(shifted.byte(i)) }
        case .numeric(_, let terms):
            for (i, t) in terms.enumerated() {
                var op = Component.lengthBits(t.valueLength) | t.comparisonBits
                if t.and { op |= 0x40 }
                if i == terms.count - 1 { op |= 0x80 }
                out.append(op)
                Component.appendValue(t.value, length: t.valueLength, to: &out)
            }
        case .bitmask(_, let terms):
            for (i, t) in terms.enumerated() {
                var op = Component.lengthBits(t.valueLength) | (t.not ? 0x02 : 0) | (t.match ? 0x01 : 0)
                if t.and { op |= 0x40 }
                if i == terms.count - 1 { op |= 0x80 }
                out.append(op)
                Component.appendValue(t.value, length: t.valueLength, to: &out)
            }
        }
    }

    static func lengthBits(_ length: UInt8) -> UInt8 {
        switch length { case 1: 0x00; case 2: 0x10; case 4: 0x20; default: 0x30 }
    }

    static func appendValue(_ v: UInt64, length: UInt8, to out: inout [UInt8]) {
        let n = [1, 2, 4, 8].contains(Int(length)) ? Int(length) : 8
        for i in stride(from: n - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * i))) }
    }
}

extension IPAddress {
    /// The 128-bit value shifted left by `n` bits (family kept).
    func shiftedLeft(_ n: Int) -> IPAddress {
        if n == 0 { return self }
        if n >= 128 { return IPAddress(family: family, high: 0, low: 0) }
        if n >= 64 { return IPAddress(family: family, high: low << UInt64(n - 64), low: 0) }
        return IPAddress(family: family, high: high << UInt64(n) | low >> UInt64(64 - n), low: low << UInt64(n))
    }
}

/// `FlowRoute`'s rarely used fields, immutable (a change makes a new box), compared by value.
private final class Extras: Hashable, Sendable {
    struct Value: Hashable, Sendable {
        var largeCommunities: [LargeCommunity] = []
        var ipv6ExtendedCommunities: [IPv6ExtendedCommunity] = []
        var comment: String?
        var isEmpty: Bool { largeCommunities.isEmpty && ipv6ExtendedCommunities.isEmpty && comment == nil }
    }

    let value: Value
    init(_ value: Value) { self.value = value }

    static func == (a: Extras, b: Extras) -> Bool { a === b || a.value == b.value }
    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
