/// One `numeric_op` + value pair (RFC 8955 §4.2.1.1).
///
/// The `e` (end-of-list) bit and the length bits are wire details: the codec derives them.
/// `valueLength` keeps the value's octet count (1, 2, 4 or 8) so that re-encoding gives the bytes
/// that were received.
public struct NumericTerm: Hashable, Sendable {
    /// The `a` bit: AND with the previous term (ignored on the first term).
    public var and: Bool
    public var lt: Bool
    public var gt: Bool
    public var eq: Bool
    public var value: UInt64
    public var valueLength: UInt8

    public init(and: Bool = false, lt: Bool = false, gt: Bool = false, eq: Bool = false,
                value: UInt64, valueLength: UInt8? = nil) {
        self.and = and; self.lt = lt; self.gt = gt; self.eq = eq
        self.value = value
        self.valueLength = valueLength ?? NumericTerm.minimalLength(value)
    }

    /// `== v`
    public static func equal(_ v: UInt64, and: Bool = false) -> NumericTerm { NumericTerm(and: and, eq: true, value: v) }

    /// The smallest wire length (1, 2, 4, 8 octets) that holds `v`.
    public static func minimalLength(_ v: UInt64) -> UInt8 {
        v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffff_ffff ? 4 : 8
    }

    /// The comparison bits `lt gt eq` as in the operator byte (0x04, 0x02, 0x01).
    public var comparisonBits: UInt8 { (lt ? 4 : 0) | (gt ? 2 : 0) | (eq ? 1 : 0) }

    /// Whether `x` satisfies this term alone (RFC 8955 Table 1; `false` when no bit is set).
    @inlinable public func matches(_ x: UInt64) -> Bool {
        (lt && x < value) || (gt && x > value) || (eq && x == value)
    }

    /// The symbol used in text: `==`, `<`, `<=`, `>`, `>=`, `!=`, `true`, `false`.
    public var symbol: String {
        switch (lt, gt, eq) {
        case (false, false, false): "false"
        case (false, false, true): "=="
        case (false, true, false): ">"
        case (false, true, true): ">="
        case (true, false, false): "<"
        case (true, false, true): "<="
        case (true, true, false): "!="
        case (true, true, true): "true"
        }
    }

    public init?(symbol: String, value: UInt64, and: Bool = false, valueLength: UInt8? = nil) {
        let bits: (Bool, Bool, Bool)
        switch symbol {
        case "false": bits = (false, false, false)
        case "==", "=": bits = (false, false, true)
        case ">": bits = (false, true, false)
        case ">=": bits = (false, true, true)
        case "<": bits = (true, false, false)
        case "<=": bits = (true, false, true)
        case "!=": bits = (true, true, false)
        case "true": bits = (true, true, true)
        default: return nil
        }
        self.init(and: and, lt: bits.0, gt: bits.1, eq: bits.2, value: value, valueLength: valueLength)
    }
}

/// A term of an operator list: it tests one value and says whether it is AND-ed with the
/// previous term. Numeric and bitmask lists combine their terms the same way.
public protocol OperatorTerm {
    var and: Bool { get }
    func matches(_ x: UInt64) -> Bool
}

extension NumericTerm: OperatorTerm {}

extension Collection where Element: OperatorTerm {
    /// RFC 8955 §4.2.1.1/§4.2.1.2: terms joined by AND bind tighter than OR; evaluated left to
    /// right. (The AND bit of the first term has nothing to join and is ignored.)
    @inlinable public func matches(_ x: UInt64) -> Bool {
        var any = false
        var group = true
        for (i, t) in enumerated() {
            if i > 0 && !t.and { any = any || group; group = true }
            group = group && t.matches(x)
        }
        return !isEmpty && (any || group)
    }
}
