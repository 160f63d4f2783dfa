/// What part of a BGP message or flowspec NLRI the codec was reading when something went wrong.
public enum WireField: String, Hashable, Sendable {
    case messageHeader = "message header"
    case message = "message"
    case notification = "NOTIFICATION body"
    case withdrawnRoutes = "withdrawn routes"
    case pathAttributes = "path attributes"
    case attributeHeader = "path attribute header"
    case attributeValue = "path attribute value"
    case afiSafi = "AFI/SAFI"
    case nextHop = "next hop"
    case extendedCommunities = "extended communities"
    case largeCommunities = "large communities"
    case ipv6ExtendedCommunities = "IPv6 address-specific extended communities"
    case nlriLength = "NLRI length"
    case nlri = "NLRI"
    case componentType = "component type"
    case prefixLength = "prefix length"
    case prefixOffset = "prefix offset"
    case prefixPattern = "prefix pattern"
    case `operator` = "operator"
    case value = "operator value"
}

/// A malformed BGP message or flowspec NLRI. Every case carries the byte offset of the fault,
/// counted from the start of the buffer given to the decoder (for a whole message: from the
/// first marker octet), so an operator can find the octet in a capture.
public enum WireError: Error, Hashable, Sendable {
    /// The input ends inside `field`, which started at or continues from `offset`.
    case truncated(offset: Int, field: WireField)
    /// `field` holds `extra` octets that its content does not account for.
    case overlong(offset: Int, field: WireField, extra: Int)
    /// An NLRI of length 0: a flowspec NLRI has at least one component.
    case emptyNLRI(offset: Int)
    /// A component type that does not exist in the family (0, 14+, or 13 = flow label in IPv4).
    case unknownComponentType(offset: Int, type: UInt8, family: AddressFamily)
    /// Component types must be strictly increasing (RFC 8955 §4.2).
    case componentOrder(offset: Int, type: UInt8, previous: UInt8)
    /// A prefix length above 32 (IPv4) or 128 (IPv6).
    case prefixTooLong(offset: Int, length: UInt8, family: AddressFamily)
    /// An IPv6 prefix offset above its length (RFC 8956 §3.1).
    case offsetBeyondLength(offset: Int, prefixOffset: UInt8, length: UInt8)
    /// An operator byte with a reserved bit set (0x08 in a numeric_op, 0x0c in a bitmask_op),
    /// reported only when `WireOptions.rejectReservedOperatorBits` is on.
    case reservedOperatorBits(offset: Int, operator: UInt8, type: UInt8)
    /// The NLRI ended after a term whose end-of-list bit was clear.
    case missingEndOfList(offset: Int, type: UInt8)
    /// An NLRI body longer than the 4095 octets its length field can express (encoding only).
    case nlriTooLong(length: Int)
    /// The 16-octet marker is not all ones.
    case badMarker(offset: Int)
    /// A message length below 19, beyond the limit, or not what the type requires.
    case badMessageLength(offset: Int, length: Int)
    /// MP_REACH_NLRI / MP_UNREACH_NLRI appear twice in one UPDATE (RFC 7606 §3 g).
    case duplicateAttribute(offset: Int, code: UInt8)
    /// A path attribute value longer than 65535 octets (encoding only).
    case attributeTooLong(code: UInt8, length: Int)

    /// The byte offset of the fault (0 for the encoding-only errors).
    public var offset: Int {
        switch self {
        case .truncated(let o, _), .overlong(let o, _, _), .emptyNLRI(let o),
             .unknownComponentType(let o, _, _), .componentOrder(let o, _, _),
             .prefixTooLong(let o, _, _), .offsetBeyondLength(let o, _, _),
             .reservedOperatorBits(let o, _, _), .missingEndOfList(let o, _),
             .badMarker(let o), .badMessageLength(let o, _), .duplicateAttribute(let o, _):
            return o
        case .nlriTooLong, .attributeTooLong:
            return 0
        }
    }

    /// The same error with its offset moved by `delta` (used when a sub-buffer is decoded alone).
    public func shifted(by delta: Int) -> WireError {
        switch self {
        case .truncated(let o, let f): .truncated(offset: o + delta, field: f)
        case .overlong(let o, let f, let e): .overlong(offset: o + delta, field: f, extra: e)
        case .emptyNLRI(let o): .emptyNLRI(offset: o + delta)
        case .unknownComponentType(let o, let t, let f): .unknownComponentType(offset: o + delta, type: t, family: f)
        case .componentOrder(let o, let t, let p): .componentOrder(offset: o + delta, type: t, previous: p)
        case .prefixTooLong(let o, let l, let f): .prefixTooLong(offset: o + delta, length: l, family: f)
        case .offsetBeyondLength(let o, let p, let l): .offsetBeyondLength(offset: o + delta, prefixOffset: p, length: l)
        case .reservedOperatorBits(let o, let op, let t): .reservedOperatorBits(offset: o + delta, operator: op, type: t)
        case .missingEndOfList(let o, let t): .missingEndOfList(offset: o + delta, type: t)
        case .badMarker(let o): .badMarker(offset: o + delta)
        case .badMessageLength(let o, let l): .badMessageLength(offset: o + delta, length: l)
        case .duplicateAttribute(let o, let c): .duplicateAttribute(offset: o + delta, code: c)
        case .nlriTooLong, .attributeTooLong: self
        }
    }
}

extension WireError: CustomStringConvertible {
    public var description: String {
        func hex(_ b: UInt8) -> String { "0x" + hexString([b]) }
        switch self {
        case .truncated(let o, let f): return "octet \(o): input ends inside the \(f.rawValue)"
        case .overlong(let o, let f, let e): return "octet \(o): \(e) octet(s) left over in the \(f.rawValue)"
        case .emptyNLRI(let o): return "octet \(o): empty flowspec NLRI"
        case .unknownComponentType(let o, let t, let f):
            return "octet \(o): unknown flowspec component type \(t) for \(f.name)"
        case .componentOrder(let o, let t, let p):
            return "octet \(o): component type \(t) after type \(p) (types must be strictly increasing)"
        case .prefixTooLong(let o, let l, let f): return "octet \(o): prefix length \(l) exceeds \(f.bitWidth) bits"
        case .offsetBeyondLength(let o, let p, let l): return "octet \(o): prefix offset \(p) exceeds prefix length \(l)"
        case .reservedOperatorBits(let o, let op, let t):
            return "octet \(o): operator \(hex(op)) of component type \(t) has a reserved bit set"
        case .missingEndOfList(let o, let t): return "octet \(o): component type \(t) ends without the end-of-list bit"
        case .nlriTooLong(let l): return "NLRI of \(l) octets exceeds the 4095-octet maximum"
        case .badMarker(let o): return "octet \(o): BGP marker is not all ones"
        case .badMessageLength(let o, let l): return "octet \(o): bad BGP message length \(l)"
        case .duplicateAttribute(let o, let c): return "octet \(o): path attribute \(c) appears twice"
        case .attributeTooLong(let c, let l): return "path attribute \(c) of \(l) octets exceeds 65535"
        }
    }
}

/// Decoding choices where the RFCs leave room.
public struct WireOptions: Hashable, Sendable {
    /// RFC 8955 §4.2.1.1/§4.2.1.2 say the reserved operator bits (0x08 numeric, 0x0c bitmask)
    /// "MUST be ignored during decoding", so by default they are: the term is decoded from the
    /// other bits, and re-encoding writes them as 0. Set this to reject such NLRIs instead
    /// (`WireError.reservedOperatorBits`), e.g. to refuse routes from a speaker that may mean
    /// something this codec does not know.
    public var rejectReservedOperatorBits: Bool

    public init(rejectReservedOperatorBits: Bool = false) {
        self.rejectReservedOperatorBits = rejectReservedOperatorBits
    }

    public static let standard = WireOptions()
    public static let strict = WireOptions(rejectReservedOperatorBits: true)
}
