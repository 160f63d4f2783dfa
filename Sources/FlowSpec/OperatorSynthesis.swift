/// Operator synthesis for writers: from the set of values a component must match back to a
/// numeric or bitmask operator list (the inverse of `intervals(max:)` / `matchingMaskedValues()`).

extension NumericTerm {
    /// The `true` operator (lt, gt and eq all set): matches every value.
    public static var alwaysTrue: NumericTerm { NumericTerm(lt: true, gt: true, eq: true, value: 0) }
    /// The `false` operator (no comparison bit set): matches nothing (RFC 8955 Table 1).
    public static var alwaysFalse: NumericTerm { NumericTerm(value: 0) }
}

extension IntervalSet {
    /// The shortest numeric operator list whose meaning over `0...max` is exactly this set
    /// (values above `max` are ignored).
    ///
    /// The list is an OR of AND-groups. Each group covers a run of consecutive intervals of the
    /// set that are separated by single missing values, and is written as
    /// `>= a` (unless a = 0), `<= b` (unless b = max) and one `!= p` per missing value; a
    /// single value is `== v`. So the forms are `== v`, `>= a && <= b`, `<= b`, `>= a`, `!= v`
    /// (everything but one value), `true` (everything) and `false` (the empty set).
    ///
    /// Minimality. A group is an AND of terms, so its meaning is an interval `[L, H]` (from its
    /// `<`/`<=`/`>`/`>=` terms, one term per bound that is not 0 or max) minus the points its
    /// `!=` terms remove (one term each), or a single point (`==`). Take any shortest list and
    /// widen each non-`==` group to the whole intervals of the set it touches: its bounds cost
    /// no more, and every missing value inside needed a `!=` term already, so the length does not
    /// grow; `==` groups inside a wider group then become redundant, and two runs that overlap
    /// merge at no extra cost. So some shortest list consists of groups over disjoint runs of
    /// whole intervals, which is exactly the space the dynamic programme below searches (gaps
    /// wider than one value are never worth bridging: bridging a gap of g values costs g terms,
    /// splitting there costs at most 2). The test suite also checks the length against a
    /// brute-force search of all lists over small domains.
    public func numericTerms(max: UInt64) -> [NumericTerm] {
        let s = intersection(.all(max)).intervals
        if s.isEmpty { return [.alwaysFalse] }
        if s.count == 1 && s[0] == 0...max { return [.alwaysTrue] }
        let k = s.count
        // bl(i): a lower-bound term is needed; br(j): an upper-bound term is needed.
        func bl(_ i: Int) -> Int { s[i].lowerBound > 0 ? 1 : 0 }
        func br(_ j: Int) -> Int { s[j].upperBound < max ? 1 : 0 }
        // dp[j + 1]: shortest list for the first j + 1 intervals; from[j]: start of the last run
        // (-1: the interval alone as `== v`).
        var dp = [Int](repeating: 0, count: k + 1)
        var from = [Int](repeating: 0, count: k)
        var bestStart = 0
        var bestValue = Int.max
        for j in 0..<k {
            // A run may only bridge gaps of exactly one missing value.
            if j > 0 && s[j].lowerBound - s[j - 1].upperBound != 2 {
                bestValue = Int.max
            }
            // Run i..j costs bl(i) + br(j) + (j - i) = [dp[i] + bl(i) - i] + br(j) + j.
            let candidate = dp[j] + bl(j) - j
            if candidate < bestValue { bestValue = candidate; bestStart = j }
            var cost = bestValue + br(j) + j
            var start = bestStart
            if s[j].lowerBound == s[j].upperBound && dp[j] + 1 <= cost {
                cost = dp[j] + 1; start = -1
            }
            dp[j + 1] = cost
            from[j] = start
        }
        var groups = [[NumericTerm]]()
        var j = k - 1
        while j >= 0 {
            let start = from[j]
            if start < 0 {
                groups.append([.equal(s[j].lowerBound)])
                j -= 1
                continue
            }
            var g = [NumericTerm]()
            if s[start].lowerBound > 0 { g.append(NumericTerm(gt: true, eq: true, value: s[start].lowerBound)) }
            if s[j].upperBound < max { g.append(NumericTerm(lt: true, eq: true, value: s[j].upperBound)) }
            if start < j {
                for m in start..<j { g.append(NumericTerm(lt: true, gt: true, value: s[m].upperBound + 1)) }
            }
            for i in g.indices { g[i].and = i > 0 }
            groups.append(g)
            j = start - 1
        }
        return groups.reversed().flatMap { $0 }
    }
}

extension BitmaskTerm {
    /// A bitmask operator list that matches a field value `x` exactly when `x & mask` is one of
    /// `values` (the form `matchingMaskedValues()` returns; value bits outside `mask` are
    /// ignored). Exact, not necessarily shortest.
    ///
    /// Bits that never change the outcome are dropped first; then the common shapes get one
    /// term (everything, nothing, "any of these bits", "none of these bits") and the rest one
    /// group per value: `(x & v) == v && !((x & (mask & ~v)) != 0)`.
    public static func terms(mask: UInt64, matchingMaskedValues values: some Sequence<UInt64>) -> [BitmaskTerm] {
        precondition(mask.nonzeroBitCount <= 20, "bitmask synthesis over more than 20 bits is not supported")
        var mask = mask
        var set = Set(values.map { $0 & mask })
        for b in 0..<64 {
            let bit: UInt64 = 1 << UInt64(b)
            guard mask & bit != 0 else { continue }
            if set.allSatisfy({ set.contains($0 ^ bit) }) {
                mask &= ~bit
                set = Set(set.map { $0 & ~bit })
            }
        }
        if set.isEmpty { return [BitmaskTerm(match: false, value: 0)] }
        if mask == 0 { return [BitmaskTerm(match: true, value: 0)] }
        let total = 1 << mask.nonzeroBitCount
        if set.count == total - 1 && !set.contains(0) { return [BitmaskTerm(match: false, value: mask)] }
        var out = [BitmaskTerm]()
        for v in set.sorted() {
            let rest = mask & ~v
            if v != 0 { out.append(BitmaskTerm(and: false, match: true, value: v)) }
            if rest != 0 { out.append(BitmaskTerm(and: v != 0, not: true, match: false, value: rest)) }
        }
        return out
    }

    /// A bitmask operator list matching exactly the field values in `values`, for a field of
    /// `width` bits (e.g. 8 for the TCP control bits, 4 for the fragment bits).
    public static func terms(width: Int, matching values: some Sequence<UInt64>) -> [BitmaskTerm] {
        precondition(width > 0 && width <= 20)
        let mask: UInt64 = (1 << UInt64(width)) - 1
        return terms(mask: mask, matchingMaskedValues: values.filter { $0 <= mask })
    }
}
