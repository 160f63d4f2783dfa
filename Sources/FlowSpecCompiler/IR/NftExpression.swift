/// nft registers: the four 16-byte registers (NFT_REG_1...4) and the sixteen 4-byte ones
/// (NFT_REG32_00...15 = 8...23) that overlay them. Concatenated keys are loaded into
/// consecutive 4-byte registers.
public struct NftRegister: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let verdict = NftRegister(rawValue: 0)
    public static let reg1 = NftRegister(rawValue: 1)
    public static let reg2 = NftRegister(rawValue: 2)
    /// NFT_REG32_00 + n.
    public static func reg32(_ n: UInt32) -> NftRegister { NftRegister(rawValue: 8 + n) }
}

/// NFT_PAYLOAD_*_HEADER.
public enum NftPayloadBase: UInt32, Sendable, Hashable {
    case link = 0, network = 1, transport = 2, inner = 3
}

/// NFT_META_* keys the compiler uses.
public enum NftMetaKey: UInt32, Sendable, Hashable {
    case length = 0       // NFT_META_LEN
    case nfproto = 15     // NFT_META_NFPROTO
    case l4proto = 16     // NFT_META_L4PROTO
    case mark = 3         // NFT_META_MARK
    case iif = 4          // NFT_META_IIF
    case iifname = 6      // NFT_META_IIFNAME
    case oifname = 7      // NFT_META_OIFNAME

    /// The bytes a load of the key writes into its register.
    public var length: Int {
        switch self {
        case .nfproto, .l4proto: 1
        case .iifname, .oifname: 16    // IFNAMSIZ
        case .length, .mark, .iif: 4
        }
    }
}

/// Connection tracking keys the IR uses (enum nft_ct_keys).
public enum NftCtKey: UInt32, Sendable, Hashable {
    case state = 0        // NFT_CT_STATE: a bitmask of the packet's ctinfo
}

/// `ct state` bits (NF_CT_STATE_BIT and the untracked bit), as the kernel loads them.
public enum NftCtState {
    public static let invalid: UInt32 = 1, established: UInt32 = 2, related: UInt32 = 4, new: UInt32 = 8, untracked: UInt32 = 64
}

/// NFT_CMP_*.
public enum NftCmpOp: UInt32, Sendable, Hashable {
    case eq = 0, neq = 1, lt = 2, lte = 3, gt = 4, gte = 5
}

/// NFT_RANGE_*.
public enum NftRangeOp: UInt32, Sendable, Hashable {
    case eq = 0, neq = 1
}

/// A verdict (NF_DROP / NF_ACCEPT, or an nft verdict code).
public enum NftVerdict: Sendable, Hashable {
    case accept
    case drop
    case `continue`
    case `return`
    case jump(String)
    case goto(String)

    /// The NFTA_VERDICT_CODE value.
    public var code: Int32 {
        switch self {
        case .drop: 0            // NF_DROP
        case .accept: 1          // NF_ACCEPT
        case .continue: -1       // NFT_CONTINUE
        case .return: -5         // NFT_RETURN
        case .jump: -3           // NFT_JUMP
        case .goto: -4           // NFT_GOTO
        }
    }

    public var chain: String? {
        switch self { case .jump(let c), .goto(let c): c; default: nil }
    }
}

/// IPv6 extension header fields read by `exthdr` (NFT_EXTHDR_OP_IPV6).
public struct NftExthdr: Sendable, Hashable {
    /// The extension header type (44 = Fragment).
    public var type: UInt8
    public var offset: UInt32
    public var length: UInt32
    /// NFT_EXTHDR_F_PRESENT: load 1 if the header exists, 0 if not (instead of its bytes).
    public var presence: Bool
    public init(type: UInt8, offset: UInt32, length: UInt32, presence: Bool) {
        self.type = type; self.offset = offset; self.length = length; self.presence = presence
    }
}

/// One kernel expression, as a plain value. Data fields are raw network-order bytes; scalar
/// fields are host values (libnftnl converts them).
public enum NftExpression: Sendable, Hashable {
    case meta(key: NftMetaKey, dreg: NftRegister)
    /// A connection tracking key loaded into a register (`ct state`).
    case ct(key: NftCtKey, dreg: NftRegister)
    case metaSet(key: NftMetaKey, sreg: NftRegister)
    case payload(base: NftPayloadBase, offset: UInt32, length: UInt32, dreg: NftRegister)
    /// Writes `length` bytes at `offset`, fixing the checksum (type 1 = inet checksum at
    /// `checksumOffset`; 0 = none).
    case payloadSet(base: NftPayloadBase, offset: UInt32, length: UInt32, sreg: NftRegister,
                    checksumType: UInt32, checksumOffset: UInt32)
    case exthdr(NftExthdr, dreg: NftRegister)
    case cmp(op: NftCmpOp, sreg: NftRegister, data: [UInt8])
    /// `dreg = (sreg & mask) ^ xor` over `length` bytes.
    case bitwise(sreg: NftRegister, dreg: NftRegister, length: UInt32, mask: [UInt8], xor: [UInt8])
    case range(op: NftRangeOp, sreg: NftRegister, from: [UInt8], to: [UInt8])
    /// Set membership of the key in `sreg` (a concatenation starts there); `invert` = not in set.
    case lookup(set: String, sreg: NftRegister, invert: Bool)
    /// Map lookup: the key in `sreg`, the result into `dreg` (verdict register for verdict maps).
    case mapLookup(set: String, sreg: NftRegister, dreg: NftRegister)
    /// Object-map lookup: applies the named object the element maps to (NFTA_OBJREF_SET_*).
    case objrefMap(set: String, sreg: NftRegister)
    /// Applies a named stateful object.
    case objref(type: NftObjectType, name: String)
    case counter(packets: UInt64, bytes: UInt64)
    /// Anonymous limit (the compiler uses named limit objects; this is for read-back).
    case limit(NftLimit)
    /// nflog to `group` (NFTA_LOG_GROUP) with an optional prefix.
    case log(group: UInt16, prefix: String?)
    case immediateVerdict(NftVerdict)
    case immediateData(dreg: NftRegister, data: [UInt8])
    /// A kernel expression read back from a foreign table that the IR has no case for (`ct`,
    /// `nat`, `reject`, `byteorder`, ...), or whose attributes the IR cannot hold; `name` is the
    /// kernel's expression name, with the reason when the kind is known but its content is not.
    /// It exists so that listing a table never fails on one rule; it cannot be encoded.
    case unknown(name: String)
}

extension NftExpression {
    /// The set a lookup, map lookup or object map looks up; nil for every other expression.
    var lookedUpSet: String? {
        switch self {
        case .lookup(let s, _, _), .mapLookup(let s, _, _), .objrefMap(let s, _): s
        default: nil
        }
    }

    /// The same lookup of the set `rename` gives for its set; nil when it gives none (or this
    /// looks up no set).
    func renamingSet(_ rename: (String) -> String?) -> NftExpression? {
        switch self {
        case .lookup(let s, let sreg, let invert): rename(s).map { .lookup(set: $0, sreg: sreg, invert: invert) }
        case .mapLookup(let s, let sreg, let dreg): rename(s).map { .mapLookup(set: $0, sreg: sreg, dreg: dreg) }
        case .objrefMap(let s, let sreg): rename(s).map { .objrefMap(set: $0, sreg: sreg) }
        default: nil
        }
    }
}

/// Renames, in place, the sets `expressions` look up that `rename` has a name for.
func renameSets(in expressions: inout [NftExpression], _ rename: [String: String]) {
    for k in expressions.indices {
        if let e = expressions[k].renamingSet({ rename[$0] }) { expressions[k] = e }
    }
}
