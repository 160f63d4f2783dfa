/// A set of unsigned values kept as sorted, disjoint, non-adjacent closed intervals.
///
/// This is the exact meaning of a numeric operator list over a field's domain: the minimal
/// interval list, which the compiler lowers to one compare, one range, or a set.
public struct IntervalSet: Hashable, Sendable {
    public private(set) var intervals: [ClosedRange<UInt64>]

    public init() { intervals = [] }

    /// Normalises any list of intervals (sorts, merges overlaps and neighbours).
    public init(_ ranges: some Sequence<ClosedRange<UInt64>>) {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var out = [ClosedRange<UInt64>]()
        for r in sorted {
            if let last = out.last, last.upperBound == .max || r.lowerBound <= last.upperBound + 1 {
                if r.upperBound > last.upperBound { out[out.count - 1] = last.lowerBound...r.upperBound }
            } else {
                out.append(r)
            }
        }
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
        if eq && value <= max { r.append(value...value) }
        if lt && value > 0 { r.append(0...Swift.min(value - 1, max)) }
        if gt && value < max { r.append((value + 1)...max) }
        return IntervalSet(r)
    }
}

extension Collection where Element == NumericTerm {
    /// The exact, minimal interval list of the values in `0...max` that the operator list accepts
    /// (RFC 8955 §4.2.1.1: AND binds tighter than OR, left to right).
    public func intervals(max: UInt64) -> IntervalSet {
        // OR of the AND groups: collect every group's intervals, normalise once (linear in the
        // list length plus one sort).
        var all = [ClosedRange<UInt64>]()
        var group: IntervalSet? = nil
        for (i, t) in enumerated() {
            let s = t.intervals(max: max)
            if i == 0 || !t.and {
                if let g = group { all += g.intervals }
                group = s
            } else {
                group = group!.intersection(s)
            }
        }
        if let g = group { all += g.intervals }
        return IntervalSet(all)
    }
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
