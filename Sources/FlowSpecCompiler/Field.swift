import FlowSpec

/// A packet field as the compiler loads it: where it comes from, the mask nft applies, and how a
/// field value becomes the bytes that `cmp`, `range` and set elements compare with.
///
/// Every field here is loaded exactly as `nft` itself loads the matching text (see
/// docs/lowering.md), so that the IR equals what `nft -f` makes of the printed rules.
struct Field: Hashable {
    typealias Source = PacketField.Load

    /// The row of the field table (`PacketField`) this is a load of.
    var packetField: PacketField
    var source: Source
    /// The `bitwise` mask after the load (network-order bytes), nil for none.
    var mask: [UInt8]?
    /// Values are shifted left by this many bits before encoding (DSCP inside its octet).
    var shift: Int
    /// The largest field value (in field units, before the shift).
    var maxValue: UInt64
    /// The set key type when the values go into a named set.
    var keyType: NftDataType
    /// nft's own width of the field in bits, when it is narrower than the loaded bytes (the
    /// 20-bit `ip6 flowlabel` in 3 bytes). nft ends an interval that reaches the top of that width
    /// at the top of the key instead (no end element), so the compiler does the same.
    var nftBits: Int?

    /// The field of row `f`; a row whose mask is chosen per match takes `mask` (nil: none) and
    /// the largest value it leaves, `maxValue`.
    init(_ f: PacketField, mask chosen: [UInt8]? = nil, maxValue: UInt64? = nil) {
        let r = f.row
        packetField = f
        source = r.load
        switch r.mask {
        case .none: mask = nil
        case .fixed(let m): mask = m
        case .chosen: mask = chosen
        }
        shift = r.shift
        self.maxValue = maxValue ?? UInt64(clamping: r.maxValue)
        keyType = r.keyType
        nftBits = r.nftBits
    }

    var width: Int {
        switch source {
        case .meta(let k): k.length
        case .payload(_, _, let l): Int(l)
        case .exthdr(let e): Int(e.length)
        }
    }

    /// Big-endian bytes of `v << shift` over the field width.
    func encode(_ v: UInt64) -> [UInt8] {
        bigEndianBytes(UInt128(v << UInt64(shift)), width: width)
    }

    /// The load (and mask) into register 1.
    var load: [NftExpression] {
        var out = [NftExpression]()
        appendLoad(to: &out)
        return out
    }

    func appendLoad(to out: inout [NftExpression]) {
        switch source {
        case .meta(let k): out.append(.meta(key: k, dreg: .reg1))
        case .payload(let b, let o, let l): out.append(.payload(base: b, offset: o, length: l, dreg: .reg1))
        case .exthdr(let e): out.append(.exthdr(e, dreg: .reg1))
        }
        if let m = mask {
            out.append(.bitwise(sreg: .reg1, dreg: .reg1, length: UInt32(m.count), mask: m,
                                xor: [UInt8](repeating: 0, count: m.count)))
        }
    }

    /// nft merges adjacent unmasked payload equality matches; only those take part.
    var mergeable: Bool {
        if case .payload = source, mask == nil { return true }
        return false
    }

    /// Fields whose key type is a plain integer are shared only between uses of the same field
    /// (so the set's `typeof` fits every lookup); named types are shared across fields.
    var setScope: Field? { keyType.name == "integer" ? self : nil }
}

extension NftDataType {
    /// nft's `icmp_code` (TYPE_ICMP_CODE = 32) and `icmpv6_code` (TYPE_ICMPV6_CODE = 33).
    public static let icmpCode = NftDataType(id: 32, length: 1, name: "icmp_code")
    public static let icmpv6Code = NftDataType(id: 33, length: 1, name: "icmpv6_code")
}

extension Field {
    static let l4proto = Field(.l4proto)
    static let sport = Field(.sourcePort)
    static let dport = Field(.destinationPort)
    static func icmpType(_ f: AddressFamily) -> Field { Field(f == .ipv4 ? .icmpType4 : .icmpType6) }
    static func icmpCode(_ f: AddressFamily) -> Field { Field(f == .ipv4 ? .icmpCode4 : .icmpCode6) }
    /// `tcp flags` (octet 13) or, when a value needs octet 12 too, the 16-bit form at octet 12.
    static func tcpFlags(mask: UInt64) -> Field {
        if mask <= 0xff { return Field(.tcpFlags, mask: mask == 0xff ? nil : [UInt8(mask)], maxValue: mask) }
        return Field(.tcpFlags16, mask: mask == 0xffff ? nil : [UInt8(mask >> 8), UInt8(mask & 0xff)], maxValue: mask)
    }
    /// IPv4 total length / IPv6 payload length.
    static func length(_ f: AddressFamily) -> Field { Field(f == .ipv4 ? .length4 : .length6) }
    static func dscp(_ f: AddressFamily) -> Field { Field(f == .ipv4 ? .dscp4 : .dscp6) }
    static let flowLabel = Field(.flowLabel)
    static let inputInterface = Field(.inputInterface)
    /// IPv4 `ip frag-off` (flags and offset) under `mask`.
    static func fragOff(mask: UInt16) -> Field {
        Field(.fragOff4, mask: mask == 0xffff ? nil : [UInt8(mask >> 8), UInt8(mask & 0xff)], maxValue: UInt64(mask))
    }
    /// IPv6 Fragment header: `exthdr frag exists/missing`, `frag frag-off`, `frag more-fragments`.
    static let fragPresent = Field(.fragPresent6)
    static let fragOffset6 = Field(.fragOffset6)
    static let moreFragments6 = Field(.moreFragments6)
}

/// Byte `i` (0 the most significant) of `v` written big-endian over `width` bytes.
func bigEndianByte(_ v: UInt128, _ i: Int, width: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: v >> UInt128(8 * (width - 1 - i)))
}

/// `v` big-endian over `width` bytes (the low `width` bytes of it).
func bigEndianBytes(_ v: UInt128, width: Int) -> [UInt8] {
    (0..<width).map { bigEndianByte(v, $0, width: width) }
}
