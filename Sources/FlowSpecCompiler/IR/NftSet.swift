/// A named set or map (NFTA_SET_*).
public struct NftSet: Sendable, Hashable {
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let anonymous = Flags(rawValue: 0x1)   // NFT_SET_ANONYMOUS
        public static let constant = Flags(rawValue: 0x2)    // NFT_SET_CONSTANT
        public static let interval = Flags(rawValue: 0x4)    // NFT_SET_INTERVAL
        public static let map = Flags(rawValue: 0x8)         // NFT_SET_MAP
        public static let timeout = Flags(rawValue: 0x10)    // NFT_SET_TIMEOUT
        public static let eval = Flags(rawValue: 0x20)       // NFT_SET_EVAL
        public static let object = Flags(rawValue: 0x40)     // NFT_SET_OBJECT
        public static let concat = Flags(rawValue: 0x80)     // NFT_SET_CONCAT
    }

    public var name: String
    public var flags: Flags
    /// The key's fields in order: one for a plain set, several for a concatenation.
    public var keyFields: [NftDataType]
    /// For a map (`.map`): what each element maps to; for an object map (`.object`): nil and
    /// `objectType` set.
    public var dataType: NftDataType?
    public var objectType: NftObjectType?
    /// Every element carries its own counter: nft's `counter` in a set declaration. The set's
    /// expression list (NFTA_SET_EXPR) holds one counter and the kernel gives each element a copy
    /// (NFTA_SET_ELEM_EXPR), counting the packets whose lookup found that element. The merge pass
    /// uses it so that a merged rule still counts per route.
    public var elementCounters: Bool
    public var elements: [NftSetElement]
    /// The key as the expressions it is made of (nft's `typeof`), one per key field; nil for a key
    /// declared by its types. Needed when a part is a plain integer: the key type then says only
    /// "integer", and nft (`nft list`) learns each part's width from these expressions, which it
    /// keeps in the set's userdata (NFTNL_UDATA_SET_KEY_TYPEOF).
    public var typeof: [NftKeyExpression]?

    public init(name: String, flags: Flags, keyFields: [NftDataType], dataType: NftDataType? = nil,
                objectType: NftObjectType? = nil, elementCounters: Bool = false, elements: [NftSetElement] = [],
                typeof: [NftKeyExpression]? = nil) {
        self.name = name; self.flags = flags; self.keyFields = keyFields
        self.dataType = dataType; self.objectType = objectType; self.elementCounters = elementCounters
        self.elements = elements; self.typeof = typeof
    }

    /// Key length in bytes as the kernel sees it: each field padded to 4 bytes (NFT_REG32_SIZE).
    public var keyLength: UInt32 {
        keyFields.count == 1 ? keyFields[0].length : keyFields.reduce(0) { $0 + (($1.length + 3) / 4) * 4 }
    }
}

/// One element: a key, or for interval sets a key and a key end (inclusive, as
/// NFTA_SET_ELEM_KEY_END), for maps the data, and optionally a comment and a counter.
public struct NftSetElement: Sendable, Hashable {
    /// The longest comment: nft 1.0.6 refuses longer ones in its input (NFTNL_UDATA_COMMENT_MAXLEN),
    /// so a longer one could be sent through netlink but never printed back as loadable text.
    public static let maxCommentBytes = 128

    /// Raw key bytes in network order, each concatenated field padded to 4 bytes.
    public var key: [UInt8]
    /// Inclusive end of the interval (only for interval sets); nil for a single value.
    public var keyEnd: [UInt8]?
    /// Map data: a verdict.
    public var verdict: NftVerdict?
    /// Object map data: the name of a stateful object.
    public var objectName: String?
    /// Kept by the kernel as the element's userdata (NFTA_SET_ELEM_USERDATA, one
    /// NFTNL_UDATA_SET_ELEM_COMMENT TLV, as nft writes `elements = { k comment "c" }`); the merge
    /// pass puts the identity of the element's route here, so the kernel itself says which route
    /// an element (and its counter) belongs to. At most `maxCommentBytes` bytes.
    public var comment: String?
    /// The comment of the element's route (`FlowRoute.comment`), stored beside `comment` in the
    /// element's userdata, as a rule's `routeComment` is.
    public var routeComment: String?
    /// The element's own counter (NFTA_SET_ELEM_EXPR): its values when read back from the kernel,
    /// or the initial values to install. Nil in a set with `elementCounters` means "the set's
    /// counter, from zero" (the kernel copies it onto the element). Only in a set with
    /// `elementCounters`: nft refuses an element statement the set does not declare (the kernel
    /// would take it, but the table could not be printed back as nft text).
    public var counter: NftCounter?

    public init(key: [UInt8], keyEnd: [UInt8]? = nil, verdict: NftVerdict? = nil, objectName: String? = nil,
                comment: String? = nil, counter: NftCounter? = nil) {
        self.key = key; self.keyEnd = keyEnd; self.verdict = verdict; self.objectName = objectName
        self.comment = comment; self.counter = counter
    }
}

/// Packet and byte counts of a counter (a set element's, here; a rule's anonymous counter keeps
/// them in `NftExpression.counter`).
public struct NftCounter: Sendable, Hashable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64 = 0, bytes: UInt64 = 0) { self.packets = packets; self.bytes = bytes }
}

/// An nft data type: the id nft stores in the set's key type (so `nft list` prints values
/// readably) and the value's length in bytes.
public struct NftDataType: Sendable, Hashable {
    public var id: UInt32
    public var length: UInt32
    /// nft's name for it, used by the printer (`ipv4_addr`, `inet_service`, ...).
    public var name: String

    public init(id: UInt32, length: UInt32, name: String) { self.id = id; self.length = length; self.name = name }

    // Ids from nftables' `enum datatypes` (include/datatype.h).
    public static let verdict = NftDataType(id: 1, length: 4, name: "verdict")
    public static let integer = NftDataType(id: 4, length: 4, name: "integer")
    public static let ipv4Address = NftDataType(id: 7, length: 4, name: "ipv4_addr")
    public static let ipv6Address = NftDataType(id: 8, length: 16, name: "ipv6_addr")
    public static let inetProto = NftDataType(id: 12, length: 1, name: "inet_proto")
    public static let inetService = NftDataType(id: 13, length: 2, name: "inet_service")
    public static let icmpType = NftDataType(id: 14, length: 1, name: "icmp_type")
    public static let tcpFlag = NftDataType(id: 15, length: 1, name: "tcp_flag")
    public static let icmpv6Type = NftDataType(id: 29, length: 1, name: "icmpv6_type")
    public static let nfproto = NftDataType(id: 2, length: 1, name: "nf_proto")
    public static let mark = NftDataType(id: 19, length: 4, name: "mark")
    public static let dscp = NftDataType(id: 36, length: 1, name: "dscp")
    /// An interface name: IFNAMSIZ bytes, the name and zeros after it (`meta iifname`).
    public static let ifname = NftDataType(id: 41, length: 16, name: "ifname")

    /// nft's byte order for the type — BYTEORDER_BIG_ENDIAN (2), BYTEORDER_INVALID (0) for
    /// `inet_proto`, which nft leaves unset, or BYTEORDER_HOST_ENDIAN (1) for `ifname`, a
    /// string. nft writes it into a set's userdata and reads it back to decode elements, so sets
    /// made through netlink carry it too.
    public var byteOrder: UInt32 {
        switch id {
        case NftDataType.inetProto.id: 0
        case NftDataType.ifname.id: 1
        default: 2
        }
    }

    /// A plain integer of `bytes` bytes (nft prints it as a number).
    public static func integer(bytes: UInt32) -> NftDataType { NftDataType(id: 4, length: bytes, name: "integer") }
}

/// One part of a set key as nft records it for a `typeof` declaration: a payload field, named by
/// nft's own numbering (nftables 1.0.6, `payload_expr_build_udata`), as nft writes it into the
/// set's userdata so that `nft list` prints the set the same whichever way it was made.
public enum NftKeyExpression: Sendable, Hashable {
    /// A field of one of nft's protocol descriptions (`proto_desc` id, template index); `bits`
    /// only for a plain-integer field (`ip length`), whose width the type does not give.
    case field(desc: UInt32, template: UInt32, bits: UInt32?)
    /// A raw payload `@base,offset,length` (nft's base numbering: 1 link, 2 network, 3 transport;
    /// offset and length in bits).
    case raw(base: UInt32, offset: UInt32, bits: UInt32)
}
