import FlowSpec

/// The one table of the packet fields flowspec matches on: one case per field, one `Row` each.
///
/// Everything that needs to know where a field lies derives from it — the compiler's loads
/// (`Field`), the merge pass's key parts (`KeyField`), the printer's name for a load
/// (`Decompiler.field`) and the fetcher's reading of a load back into a flowspec component
/// (`ChainReader`) — so a field is added by adding a row, and the four can never disagree
/// (docs/lowering.md).
package enum PacketField: Int, CaseIterable, Hashable, Sendable {
    case source4, destination4, source6, destination6
    case l4proto
    /// `ip protocol` / `ip6 nexthdr`: only read back (the compiler matches `meta l4proto`).
    case ipProtocol4, nextHeader6
    case sourcePort, destinationPort
    case icmpType4, icmpCode4, icmpType6, icmpCode6
    /// `tcp flags` (octet 13) and the 16 bits at octet 12, for flowspec values above 0xff.
    case tcpFlags, tcpFlags16
    /// IPv4 total length; IPv6 payload length (flowspec's packet length minus 40).
    case length4, length6
    case dscp4, dscp6
    /// IPv4 `ip frag-off`: the DF and MF flags and the fragment offset.
    case fragOff4
    /// The IPv6 Fragment header: present or not, its offset, its M flag.
    case fragPresent6, fragOffset6, moreFragments6
    case flowLabel
    /// `iifname`: the interface a packet arrived on, for routes scoped to interfaces by their
    /// route target (`CompileOptions.interfaceGroups`). Not a flowspec component.
    case inputInterface

    /// Where a field is loaded from.
    package enum Load: Hashable, Sendable {
        case meta(NftMetaKey)
        case payload(NftPayloadBase, offset: UInt32, length: UInt32)
        case exthdr(NftExthdr)
    }

    /// The `bitwise` mask after the load.
    package enum Mask: Hashable, Sendable {
        case none
        case fixed([UInt8])
        /// Chosen per match from what the terms need (TCP flags, IPv4 fragment bits, an address
        /// prefix): any mask (or none) reads back as the field.
        case chosen
    }

    package struct Row: Sendable {
        package var load: Load
        package var mask: Mask
        /// A field value is shifted left by this many bits in the loaded bytes (DSCP, IPv6
        /// fragment offset).
        package var shift = 0
        /// The largest field value (before the shift).
        package var maxValue: UInt128
        /// The set key type when its values go into a named set.
        package var keyType: NftDataType
        /// nft's own width in bits, when narrower than the loaded bytes (`ip6 flowlabel`).
        package var nftBits: Int? = nil
        /// The field's nft text (`ip daddr`, `th dport`); nil when the printer writes the load
        /// raw (`@th,96,16`: nft has no name; `ip protocol`/`ip6 nexthdr`: never compiled, so
        /// printed as the raw loads they always were).
        package var name: String?
        /// nft's `ip6 dscp @set` inserts a right shift that is wrong on a 2-byte register on
        /// little-endian hosts: lookups of the field are printed raw (docs/lowering.md).
        package var rawInLookups = false
        /// The flowspec component the field stands for (or, fragment bits, is part of); nil for
        /// the input interface, which stands for a route target's interface group.
        package var component: ComponentType?
        /// Component value = field value + addend (IPv6 payload length + 40 is packet length).
        package var addend: UInt64 = 0
        /// The family the field exists in (nil: both). A network-header field is read only
        /// after `meta nfproto` says so (the dependency nft adds in an inet table).
        package var family: AddressFamily? = nil
        /// The transport protocol the field belongs to: read only after `meta l4proto` says so.
        package var l4proto: UInt8? = nil
        /// Loads of part of the field are the field too (an address prefix's octets).
        package var partial = false
        /// Its range in a merge box (`Box`, docs/merging.md); nil when the merge pass does not
        /// reason about it.
        package var boxDim: Int? = nil
        /// Whether it may be a part of a merged set key (`meta l4proto` only narrows the box:
        /// nft wants it as a match of its own before ICMP fields, and in a concatenation nft
        /// 1.0.6 adds a byte-order conversion to it).
        package var inKey = false
        /// How a set key names the field in nft's `typeof` (nft's own numbering, see
        /// `NftKeyExpression`): fields with a plain-integer type, or whose nft name would give the
        /// key a type nft cannot list well (`tcp flags` ranges) or a shift (`ip dscp`), are raw
        /// payloads.
        package var typeof: NftKeyExpression? = nil

        /// Bytes loaded.
        package var width: Int {
            switch load {
            case .meta(let k): k.length
            case .payload(_, _, let l): Int(l)
            case .exthdr(let x): Int(x.length)
            }
        }
    }

    package var row: Row { Self.rows[rawValue] }

    private static let rows: [Row] = allCases.map(\.definition)

    private var definition: Row {
        func network(_ o: UInt32, _ l: UInt32) -> Load { .payload(.network, offset: o, length: l) }
        func transport(_ o: UInt32, _ l: UInt32) -> Load { .payload(.transport, offset: o, length: l) }
        func fragmentHeader(_ o: UInt32, _ l: UInt32, presence: Bool = false) -> Load {
            .exthdr(NftExthdr(type: 44, offset: o, length: l, presence: presence))
        }
        switch self {
        case .source4:
            return Row(load: network(12, 4), mask: .chosen, maxValue: 0xffff_ffff, keyType: .ipv4Address, name: "ip saddr",
                       component: .sourcePrefix, family: .ipv4, partial: true, boxDim: 0, inKey: true,
                       typeof: .field(desc: 12, template: 11, bits: nil))
        case .destination4:
            return Row(load: network(16, 4), mask: .chosen, maxValue: 0xffff_ffff, keyType: .ipv4Address, name: "ip daddr",
                       component: .destinationPrefix, family: .ipv4, partial: true, boxDim: 1, inKey: true,
                       typeof: .field(desc: 12, template: 12, bits: nil))
        case .source6:
            return Row(load: network(8, 16), mask: .chosen, maxValue: .max, keyType: .ipv6Address, name: "ip6 saddr",
                       component: .sourcePrefix, family: .ipv6, partial: true, boxDim: 0, inKey: true,
                       typeof: .field(desc: 13, template: 8, bits: nil))
        case .destination6:
            return Row(load: network(24, 16), mask: .chosen, maxValue: .max, keyType: .ipv6Address, name: "ip6 daddr",
                       component: .destinationPrefix, family: .ipv6, partial: true, boxDim: 1, inKey: true,
                       typeof: .field(desc: 13, template: 9, bits: nil))
        case .l4proto:
            return Row(load: .meta(.l4proto), mask: .none, maxValue: 0xff, keyType: .inetProto, name: "meta l4proto",
                       component: .ipProtocol, boxDim: 6)
        case .ipProtocol4:
            return Row(load: network(9, 1), mask: .none, maxValue: 0xff, keyType: .inetProto, component: .ipProtocol, family: .ipv4)
        case .nextHeader6:
            return Row(load: network(6, 1), mask: .none, maxValue: 0xff, keyType: .inetProto, component: .ipProtocol, family: .ipv6)
        case .sourcePort:
            return Row(load: transport(0, 2), mask: .none, maxValue: 0xffff, keyType: .inetService, name: "th sport",
                       component: .sourcePort, boxDim: 2, inKey: true, typeof: .field(desc: 11, template: 1, bits: nil))
        case .destinationPort:
            return Row(load: transport(2, 2), mask: .none, maxValue: 0xffff, keyType: .inetService, name: "th dport",
                       component: .destinationPort, boxDim: 3, inKey: true, typeof: .field(desc: 11, template: 2, bits: nil))
        case .icmpType4:
            return Row(load: transport(0, 1), mask: .none, maxValue: 0xff, keyType: .icmpType, name: "icmp type",
                       component: .icmpType, family: .ipv4, l4proto: 1, boxDim: 4, inKey: true,
                       typeof: .field(desc: 4, template: 1, bits: nil))
        case .icmpCode4:
            return Row(load: transport(1, 1), mask: .none, maxValue: 0xff, keyType: .icmpCode, name: "icmp code",
                       component: .icmpCode, family: .ipv4, l4proto: 1, boxDim: 5, inKey: true,
                       typeof: .field(desc: 4, template: 2, bits: nil))
        case .icmpType6:
            return Row(load: transport(0, 1), mask: .none, maxValue: 0xff, keyType: .icmpv6Type, name: "icmpv6 type",
                       component: .icmpType, family: .ipv6, l4proto: 58, boxDim: 4, inKey: true,
                       typeof: .field(desc: 14, template: 1, bits: nil))
        case .icmpCode6:
            return Row(load: transport(1, 1), mask: .none, maxValue: 0xff, keyType: .icmpv6Code, name: "icmpv6 code",
                       component: .icmpCode, family: .ipv6, l4proto: 58, boxDim: 5, inKey: true,
                       typeof: .field(desc: 14, template: 2, bits: nil))
        case .tcpFlags:
            return Row(load: transport(13, 1), mask: .chosen, maxValue: 0xff, keyType: .tcpFlag, name: "tcp flags",
                       component: .tcpFlags, l4proto: 6, boxDim: 9, inKey: true, typeof: .raw(base: 3, offset: 104, bits: 8))
        case .tcpFlags16:
            return Row(load: transport(12, 2), mask: .chosen, maxValue: 0xffff, keyType: .integer(bytes: 2),
                       component: .tcpFlags, l4proto: 6, boxDim: 9, inKey: true, typeof: .raw(base: 3, offset: 96, bits: 16))
        case .length4:
            return Row(load: network(2, 2), mask: .none, maxValue: 0xffff, keyType: .integer(bytes: 2), name: "ip length",
                       component: .packetLength, family: .ipv4, boxDim: 7, inKey: true, typeof: .field(desc: 12, template: 5, bits: 16))
        case .length6:
            return Row(load: network(4, 2), mask: .none, maxValue: 0xffff, keyType: .integer(bytes: 2), name: "ip6 length",
                       component: .packetLength, addend: 40, family: .ipv6, boxDim: 7, inKey: true,
                       typeof: .field(desc: 13, template: 5, bits: 16))
        case .dscp4:
            return Row(load: network(1, 1), mask: .fixed([0xfc]), shift: 2, maxValue: 63, keyType: .integer(bytes: 1),
                       name: "ip dscp", rawInLookups: true, component: .dscp, family: .ipv4, boxDim: 8, inKey: true,
                       typeof: .raw(base: 2, offset: 8, bits: 8))
        case .dscp6:
            return Row(load: network(0, 2), mask: .fixed([0x0f, 0xc0]), shift: 6, maxValue: 63, keyType: .integer(bytes: 2),
                       name: "ip6 dscp", rawInLookups: true, component: .dscp, family: .ipv6, boxDim: 8, inKey: true,
                       typeof: .raw(base: 2, offset: 0, bits: 16))
        case .fragOff4:
            return Row(load: network(6, 2), mask: .chosen, maxValue: 0xffff, keyType: .integer(bytes: 2), name: "ip frag-off",
                       component: .fragment, family: .ipv4, boxDim: 10, inKey: true, typeof: .field(desc: 12, template: 7, bits: 16))
        case .fragPresent6:
            return Row(load: fragmentHeader(0, 1, presence: true), mask: .none, maxValue: 1, keyType: .integer(bytes: 1),
                       name: "exthdr frag", component: .fragment, family: .ipv6)
        case .fragOffset6:
            return Row(load: fragmentHeader(2, 2), mask: .fixed([0xff, 0xf8]), shift: 3, maxValue: 0x1fff,
                       keyType: .integer(bytes: 2), name: "frag frag-off", component: .fragment, family: .ipv6)
        case .moreFragments6:
            return Row(load: fragmentHeader(3, 1), mask: .fixed([0x01]), maxValue: 1, keyType: .integer(bytes: 1),
                       name: "frag more-fragments", component: .fragment, family: .ipv6)
        case .flowLabel:
            // Box dimension 10 is shared with IPv4's fragment bits: each exists in one family
            // only, and boxes of two families never overlap.
            return Row(load: network(1, 3), mask: .fixed([0x0f, 0xff, 0xff]), maxValue: 0xfffff, keyType: .integer(bytes: 3),
                       nftBits: 20, name: "ip6 flowlabel", component: .flowLabel, family: .ipv6, boxDim: 10, inKey: true,
                       typeof: .field(desc: 13, template: 4, bits: 20))
        case .inputInterface:
            // The name's 16 bytes as one big-endian integer, in a box dimension of 128 bits
            // (`BoxRanges`): a name is a point, and every other name lies outside it. No
            // `typeof`: a key that needs one leaves the name in the rule (`MergePlanner.analyse`).
            return Row(load: .meta(.iifname), mask: .none, maxValue: .max, keyType: .ifname, name: "iifname",
                       component: nil, boxDim: 11, inKey: true)
        }
    }
}

// MARK: reading a load back

extension PacketField {
    /// What a load (and mask) reads: one field (`start`: the first loaded byte within it, for a
    /// partial load), or — nft's merge of adjacent equality matches — several whole fields in a row.
    package enum Reading: Hashable, Sendable {
        case field(PacketField, start: Int)
        case fields([PacketField])
    }

    /// The field(s) a load reads, in the context of the packet's family (the `meta nfproto`
    /// matched before it) and transport protocol (`meta l4proto`). Fields of the protocol come
    /// before protocol-independent ones: under ICMP, `@th,0,16` is the type and code, not the
    /// source port. Nil when no field fits.
    package static func reading(_ load: Load, mask: [UInt8]?, family: AddressFamily?, l4proto: UInt8?) -> Reading? {
        let tiers: [UInt8?] = l4proto == nil ? [nil] : [l4proto, nil]
        for tier in tiers {
            let candidates = allCases.filter { f in
                let r = f.row
                if case .payload(.network, _, _) = r.load, r.family != family { return false }
                return r.l4proto == tier
            }
            for f in candidates { if let start = f.reads(load, mask: mask) { return .field(f, start: start) } }
            if let parts = split(load, mask: mask, among: candidates) { return .fields(parts) }
        }
        return nil
    }

    /// The byte within the field that `load` starts at, when the load (and mask) reads this field.
    private func reads(_ load: Load, mask: [UInt8]?) -> Int? {
        let r = row
        switch r.mask {
        case .none: guard mask == nil else { return nil }
        case .fixed(let m): guard mask == m else { return nil }
        case .chosen: break
        }
        switch (r.load, load) {
        case (.meta(let a), .meta(let b)):
            return a == b ? 0 : nil
        case (.payload(let b, let o, let l), .payload(let b2, let o2, let l2)) where b == b2:
            if r.partial { return o2 >= o && o2 + l2 <= o + l ? Int(o2 - o) : nil }
            return o == o2 && l == l2 ? 0 : nil
        case (.exthdr(let x), .exthdr(let y)) where x.type == y.type && x.presence == y.presence:
            // A presence test loads one flag, wherever nft says it is.
            return x.presence || (x.offset == y.offset && x.length == y.length) ? 0 : nil
        default:
            return nil
        }
    }

    /// The named, unmasked whole fields that an unmasked payload load of at most 4 bytes covers
    /// exactly, two or more: what nft's payload merge makes of adjacent equality matches.
    private static func split(_ load: Load, mask: [UInt8]?, among candidates: [PacketField]) -> [PacketField]? {
        guard mask == nil, case .payload(let base, let offset, let length) = load, length <= 4 else { return nil }
        var parts: [PacketField] = []
        var at = offset
        while at < offset + length {
            guard let next = candidates.first(where: { f in
                let r = f.row
                guard r.name != nil, r.mask == .none, !r.partial, case .payload(base, at, let l) = r.load else { return false }
                return at + l <= offset + length
            }), case .payload(_, _, let l) = next.row.load else { return nil }
            parts.append(next)
            at += l
        }
        return parts.count > 1 ? parts : nil
    }
}
