/// A set of unsigned values kept as sorted, disjoint, non-adjacent closed intervals.
///
/// This is the exact meaning of a numeric operator list over a field's domain: the minimal
/// interval list, which the compiler lowers to one compare, one range, or a set.
public struct IntervalSet: Hashable, Sendable {
    public private(set) var intervals: [ClosedRange<UInt64>]

    public init() { intervals = [] }

    /// Normalises any list of intervals (sorts, merges overlaps and neighbours).
    public init(_ ranges: some Sequence<ClosedRange<UInt64>>) {
        self.init(normalizing: Array(ranges))
    }

    /// Sorts and merges in place: the result is the union, whatever the order of the input, so
    /// the (unstable) in-place sort gives the same set as any other.
    init(normalizing ranges: [ClosedRange<UInt64>]) {
        var out = ranges
        if out.count > 1 { out.sort { $0.lowerBound < $1.lowerBound } }
        var n = 0
        for k in out.indices {
            let r = out[k]
            if n > 0, out[n - 1].upperBound == .max || r.lowerBound <= out[n - 1].upperBound + 1 {
                if r.upperBound > out[n - 1].upperBound { out[n - 1] = out[n - 1].lowerBound...r.upperBound }
            } else {
                out[n] = r
                n += 1
            }
        }
        out.removeLast(out.count - n)
        intervals = out
    }

    public static func all(_ max: UInt64) -> IntervalSet { IntervalSet([0...max]) }

    public var isEmpty: Bool { intervals.isEmpty }

    /// The number of values in the set (saturating).
    public var count: UInt64 {
        intervals.reduce(0) { acc, r in
            let (n, o) = (r.upperBound - r.lowerBound).addingReportingOverflow(1)
            return o ? .max : acc.addingReportingOverflow(n).overflow ? .max : acc + n
        }
    }

    public func contains(_ x: UInt64) -> Bool {
        var lo = 0, hi = intervals.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if intervals[mid].upperBound < x { lo = mid + 1 } else { hi = mid }
        }
        return lo < intervals.count && intervals[lo].contains(x)
    }

    public func union(_ other: IntervalSet) -> IntervalSet { IntervalSet(intervals + other.intervals) }

    public func intersection(_ other: IntervalSet) -> IntervalSet {
        var out = [ClosedRange<UInt64>]()
        var i = 0, j = 0
        let a = intervals, b = other.intervals
        while i < a.count && j < b.count {
            let lo = Swift.max(a[i].lowerBound, b[j].lowerBound)
            let hi = Swift.min(a[i].upperBound, b[j].upperBound)
            if lo <= hi { out.append(lo...hi) }
            if a[i].upperBound < b[j].upperBound { i += 1 } else { j += 1 }
        }
        var s = IntervalSet(); s.intervals = out
        return s
    }

    /// The complement within `0...max`.
    public func complement(max: UInt64) -> IntervalSet {
        var out = [ClosedRange<UInt64>]()
        var next: UInt64 = 0
        var done = false
        for r in intervals where !done {
            if r.lowerBound > max { break }
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            if r.upperBound >= max { done = true } else { next = r.upperBound + 1 }
        }
        if !done && next <= max { out.append(next...max) }
        var s = IntervalSet(); s.intervals = out
        return s
    }
}

extension NumericTerm {
    /// The values of `0...max` this term alone accepts.
    public func intervals(max: UInt64) -> IntervalSet {
        var r = [ClosedRange<UInt64>]()
        appendRanges(max: max, to: &r)
        return IntervalSet(normalizing: r)
    }

    /// The term's ranges within `0...max`, not normalised (they may overlap or touch).
    func appendRanges(max: UInt64, to r: inout [ClosedRange<UInt64>]) {
        if eq && value <= max { r.append(value...value) }
        if lt && value > 0 { r.append(0...Swift.min(value - 1, max)) }
        if gt && value < max { r.append((value + 1)...max) }
    }
}

extension Collection where Element == NumericTerm {
    /// The exact, minimal interval list of the values in `0...max` that the operator list accepts
    /// (RFC 8955 §4.2.1.1: AND binds tighter than OR, left to right).
    public func intervals(max: UInt64) -> IntervalSet {
        numericIntervals(Array(self), max: max)
    }
}

extension Array where Element == NumericTerm {
    /// `Collection.intervals(max:)` for the array every component holds; non-generic, so a
    /// caller in another module does not go through the unspecialised generic code (the
    /// compiler calls this for every numeric component of every route).
    public func intervals(max: UInt64) -> IntervalSet {
        numericIntervals(self, max: max)
    }
}

/// OR of the AND groups: every group's ranges collected, normalised once (linear in the list
/// length plus one sort). A group of one term adds its ranges as they are, since the final
/// normalisation takes the union anyway; only AND groups need an intersection.
private func numericIntervals(_ terms: [NumericTerm], max: UInt64) -> IntervalSet {
    var all = [ClosedRange<UInt64>]()
    all.reserveCapacity(terms.count)
    var i = 0
    while i < terms.count {
        var j = i + 1
        while j < terms.count && terms[j].and { j += 1 }
        if j == i + 1 {
            terms[i].appendRanges(max: max, to: &all)
        } else {
            var group = terms[i].intervals(max: max)
            for k in (i + 1)..<j { group = group.intersection(terms[k].intervals(max: max)) }
            all += group.intervals
        }
        i = j
    }
    return IntervalSet(normalizing: all)
}

extension Collection where Element == BitmaskTerm {
    /// The exact set of values in `0...max` the bitmask list accepts (by enumeration; for the
    /// small fields flowspec has — fragment bits, TCP flags — this is cheap).
    public func intervals(max: UInt64) -> IntervalSet {
        precondition(max <= 0xfffff, "bitmask fields wider than 20 bits are not enumerated")
        var out = [ClosedRange<UInt64>]()
        var start: UInt64? = nil
        for x in 0...max {
            if matches(x) { if start == nil { start = x } }
            else if let s = start { out.append(s...(x - 1)); start = nil }
        }
        if let s = start { out.append(s...max) }
        return IntervalSet(out)
    }
}
