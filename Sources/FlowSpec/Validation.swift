/// Why a flowspec route cannot be used. Each case names the component at fault by its 1-based
/// position in the NLRI and its type, so a message can point an operator at the exact spot.
///
/// An invalid route is rejected on its own: the caller drops (and reports) that route and keeps
/// the others. The rules and their RFC references are listed in docs/semantics.md.
public enum RouteError: Error, Hashable, Sendable {
    /// The NLRI has no component at all (RFC 8955 §4: a Flow Specification is a non-empty
    /// list of components; an empty one would match every packet by accident).
    case noComponents
    /// Components must appear in strictly increasing type order (RFC 8955 §4.2).
    case componentOutOfOrder(position: Int, type: ComponentType, after: ComponentType)
    /// A type may appear at most once (RFC 8955 §4.2, "strictly increasing").
    case repeatedComponent(position: Int, type: ComponentType)
    /// The component's form (prefix, numeric or bitmask operators) is not the one its type uses
    /// (RFC 8955 §4.2.2), e.g. TCP flags given as numeric operators.
    case wrongOperatorKind(position: Int, type: ComponentType, expected: ComponentType.Kind)
    /// The type does not exist in the route's family: flow label (13) is IPv6 only (RFC 8956 §3.7).
    case componentNotInFamily(position: Int, type: ComponentType, family: AddressFamily)
    /// A destination/source prefix of the other address family.
    case prefixFamilyMismatch(position: Int, type: ComponentType, prefix: AddressFamily, route: AddressFamily)
    /// An IPv4 prefix with an offset (only IPv6 prefixes carry one, RFC 8956 §3.1).
    case ipv4PrefixWithOffset(position: Int, type: ComponentType)
    /// A numeric or bitmask component without any operator (RFC 8955 §4.2.1: `[op, value]+`).
    case emptyOperatorList(position: Int, type: ComponentType)
    /// The operator's `len` field can only say 1, 2, 4 or 8 octets (RFC 8955 §4.2.1.1).
    case invalidValueLength(position: Int, type: ComponentType, term: Int, length: UInt8)
    /// The value does not fit in the octets the operator declares: it could not be encoded
    /// without silently changing it.
    case valueDoesNotFitLength(position: Int, type: ComponentType, term: Int, value: UInt64, length: UInt8)
    /// TCP flags are a 1- or 2-octet bitmask (RFC 8955 §4.2.2.9).
    case tcpFlagsValueTooLong(position: Int, term: Int, length: UInt8)
    /// Fragment bits other than DF, IsF, FF, LF (0x0f) are reserved (RFC 8955 §4.2.2.12).
    case fragmentReservedBits(position: Int, term: Int, value: UInt64)
    /// IPv6 has no Don't Fragment bit (RFC 8956 §3.6): DF in an IPv6 fragment component.
    case fragmentDontFragmentInIPv6(position: Int, term: Int)
    /// The encoded NLRI is longer than the 12-bit NLRI length field allows (RFC 8955 §4.1: < 4096).
    case nlriTooLong(octets: Int)
}

extension RouteError: CustomStringConvertible {
    public var description: String {
        func at(_ p: Int, _ t: ComponentType) -> String { "component \(p) (\(t.name), type \(t.rawValue))" }
        func kind(_ k: ComponentType.Kind) -> String {
            switch k { case .prefix: "a prefix"; case .numeric: "numeric operators"; case .bitmask: "bitmask operators" }
        }
        switch self {
        case .noComponents:
            return "the route has no match component (RFC 8955 §4)"
        case .componentOutOfOrder(let p, let t, let prev):
            return "\(at(p, t)) comes after \(prev.name) (type \(prev.rawValue)); components must be in strictly increasing type order (RFC 8955 §4.2)"
        case .repeatedComponent(let p, let t):
            return "\(at(p, t)) appears more than once; each type may appear only once (RFC 8955 §4.2)"
        case .wrongOperatorKind(let p, let t, let k):
            return "\(at(p, t)) must be given as \(kind(k)) (RFC 8955 §4.2.2)"
        case .componentNotInFamily(let p, let t, let f):
            return "\(at(p, t)) does not exist in \(f.name) flowspec (RFC 8956 §3.7: flow label is IPv6 only)"
        case .prefixFamilyMismatch(let p, let t, let pf, let rf):
            return "\(at(p, t)) is an \(pf.name) prefix in an \(rf.name) route"
        case .ipv4PrefixWithOffset(let p, let t):
            return "\(at(p, t)) has an offset; only IPv6 prefixes carry one (RFC 8956 §3.1)"
        case .emptyOperatorList(let p, let t):
            return "\(at(p, t)) has no operator (RFC 8955 §4.2.1)"
        case .invalidValueLength(let p, let t, let i, let l):
            return "\(at(p, t)), operator \(i + 1): value length \(l) octets; only 1, 2, 4 or 8 can be encoded (RFC 8955 §4.2.1.1)"
        case .valueDoesNotFitLength(let p, let t, let i, let v, let l):
            return "\(at(p, t)), operator \(i + 1): value \(v) does not fit in \(l) octet\(l == 1 ? "" : "s")"
        case .tcpFlagsValueTooLong(let p, let i, let l):
            return "component \(p) (tcp-flags, type 9), operator \(i + 1): a \(l)-octet value; TCP flags are a 1- or 2-octet bitmask (RFC 8955 §4.2.2.9)"
        case .fragmentReservedBits(let p, let i, let v):
            return "component \(p) (fragment, type 12), operator \(i + 1): value 0x\(String(v, radix: 16)) sets reserved bits; only DF 0x01, IsF 0x02, FF 0x04, LF 0x08 exist (RFC 8955 §4.2.2.12)"
        case .fragmentDontFragmentInIPv6(let p, let i):
            return "component \(p) (fragment, type 12), operator \(i + 1): IPv6 has no Don't Fragment bit (RFC 8956 §3.6)"
        case .nlriTooLong(let n):
            return "the NLRI is \(n) octets; at most 4095 can be encoded (RFC 8955 §4.1)"
        }
    }
}

extension FlowRoute {
    /// Checks the route against the rules in docs/semantics.md and throws the first violation,
    /// in NLRI order. A route that passes can be encoded, ordered and compiled without surprises.
    public func validate() throws(RouteError) {
        if let e = firstValidationError { throw e }
    }

    /// Whether `validate()` would succeed.
    public var isValid: Bool { firstValidationError == nil }

    /// The first rule the route breaks, or nil when it is valid.
    public var firstValidationError: RouteError? {
        if components.isEmpty { return .noComponents }
        var previous: ComponentType? = nil
        var octets = 0
        for (index, component) in components.enumerated() {
            let position = index + 1
            let type = component.type
            if let prev = previous {
                if prev == type { return .repeatedComponent(position: position, type: type) }
                if prev > type { return .componentOutOfOrder(position: position, type: type, after: prev) }
            }
            previous = type
            if !type.exists(in: family) { return .componentNotInFamily(position: position, type: type, family: family) }
            if let e = Self.check(component, position: position, family: family) { return e }
            octets += Self.encodedLength(component, family: family)
        }
        if octets > 4095 { return .nlriTooLong(octets: octets) }
        return nil
    }

    static func check(_ component: Component, position: Int, family: AddressFamily) -> RouteError? {
        let type = component.type
        switch component {
        case .destinationPrefix(let p), .sourcePrefix(let p):
            // The enum case fixes the type, so the kind always matches here.
            if p.family != family {
                return .prefixFamilyMismatch(position: position, type: type, prefix: p.family, route: family)
            }
            if p.family == .ipv4 && p.offset != 0 { return .ipv4PrefixWithOffset(position: position, type: type) }
            return nil
        case .numeric(_, let terms):
            guard type.kind == .numeric else { return .wrongOperatorKind(position: position, type: type, expected: type.kind) }
            if terms.isEmpty { return .emptyOperatorList(position: position, type: type) }
            for (i, t) in terms.enumerated() {
                if let e = checkLength(t.value, t.valueLength, position: position, type: type, term: i) { return e }
            }
            return nil
        case .bitmask(_, let terms):
            guard type.kind == .bitmask else { return .wrongOperatorKind(position: position, type: type, expected: type.kind) }
            if terms.isEmpty { return .emptyOperatorList(position: position, type: type) }
            for (i, t) in terms.enumerated() {
                if let e = checkLength(t.value, t.valueLength, position: position, type: type, term: i) { return e }
                if type == .tcpFlags && t.valueLength > 2 {
                    return .tcpFlagsValueTooLong(position: position, term: i, length: t.valueLength)
                }
                if type == .fragment {
                    if t.value & ~0x0f != 0 { return .fragmentReservedBits(position: position, term: i, value: t.value) }
                    if family == .ipv6 && t.value & FragmentBit.dontFragment.rawValue != 0 {
                        return .fragmentDontFragmentInIPv6(position: position, term: i)
                    }
                }
            }
            return nil
        }
    }

    static func checkLength(_ value: UInt64, _ length: UInt8, position: Int, type: ComponentType, term: Int) -> RouteError? {
        switch length {
        case 1, 2, 4:
            if value >> UInt64(8 * Int(length)) != 0 {
                return .valueDoesNotFitLength(position: position, type: type, term: term, value: value, length: length)
            }
            return nil
        case 8: return nil
        default: return .invalidValueLength(position: position, type: type, term: term, length: length)
        }
    }

    /// Octets the component takes on the wire (type octet included), without encoding it.
    static func encodedLength(_ component: Component, family: AddressFamily) -> Int {
        switch component {
        case .destinationPrefix(let p), .sourcePrefix(let p):
            return 2 + (family == .ipv6 ? 1 : 0) + (max(p.patternLength, 0) + 7) / 8
        case .numeric(_, let terms):
            return 1 + terms.reduce(0) { $0 + 1 + encodedValueLength($1.valueLength) }
        case .bitmask(_, let terms):
            return 1 + terms.reduce(0) { $0 + 1 + encodedValueLength($1.valueLength) }
        }
    }

    static func encodedValueLength(_ l: UInt8) -> Int { [1, 2, 4].contains(l) ? Int(l) : 8 }
}
