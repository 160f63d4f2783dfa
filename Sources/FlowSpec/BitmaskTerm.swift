/// One `bitmask_op` + value pair (RFC 8955 §4.2.1.2).
public struct BitmaskTerm: Hashable, Sendable {
    /// The `a` bit: AND with the previous term (ignored on the first term).
    public var and: Bool
    /// The `not` bit: negates the result of the operation.
    public var not: Bool
    /// The `m` bit: set, `(data & value) == value`; clear, `(data & value) != 0`.
    public var match: Bool
    public var value: UInt64
    public var valueLength: UInt8

    public init(and: Bool = false, not: Bool = false, match: Bool = false, value: UInt64, valueLength: UInt8? = nil) {
        self.and = and; self.not = not; self.match = match
        self.value = value
        self.valueLength = valueLength ?? NumericTerm.minimalLength(value)
    }

    @inlinable public func matches(_ x: UInt64) -> Bool {
        let r = match ? (x & value) == value : (x & value) != 0
        return r != not
    }
}

extension BitmaskTerm: OperatorTerm {}

extension Collection where Element == BitmaskTerm {
    /// The union of the terms' value bits: the only bits of the field the list looks at.
    @inlinable public var relevantMask: UInt64 { reduce(0) { $0 | $1.value } }

    /// The exact set of `field & relevantMask` values that match, ascending.
    /// Every value of the field matches exactly when its masked value is in this set.
    @inlinable public func matchingMaskedValues() -> [UInt64] {
        let mask = relevantMask
        var bits = [UInt64]()
        for i in 0..<64 where mask & (1 << UInt64(i)) != 0 { bits.append(1 << UInt64(i)) }
        precondition(bits.count <= 20, "bitmask lists over more than 20 bits are not enumerated")
        var out = [UInt64]()
        for n in 0..<(1 << bits.count) {
            var v: UInt64 = 0
            for (j, b) in bits.enumerated() where n & (1 << j) != 0 { v |= b }
            if matches(v) { out.append(v) }
        }
        return out.sorted()
    }
}
