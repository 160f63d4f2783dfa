import FlowSpecTestSupport
import Testing
@testable import FlowSpec

/// SplitMix64: a tiny deterministic generator so every property test run sees the same cases.
struct SemanticsRandom {
    var base: SplitMix
    init(seed: UInt64) { base = SplitMix(state: seed) }
    mutating func next() -> UInt64 { base.next() }
    /// Uniform in `0...n` (slight modulo bias is irrelevant here).
    mutating func upTo(_ n: UInt64) -> UInt64 { n == .max ? next() : next() % (n + 1) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(upTo(UInt64(range.upperBound - range.lowerBound))) }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func chance(_ percent: UInt64) -> Bool { upTo(99) < percent }
}

/// A value near the interesting places of a domain: 0, 1, max, max ± 1, beyond it, or anywhere.
func interestingValue(_ r: inout SemanticsRandom, max: UInt64) -> UInt64 {
    switch r.upTo(7) {
    case 0: return 0
    case 1: return 1
    case 2: return max
    case 3: return max &- 1
    case 4: return max + 1
    case 5: return max + 1 + r.upTo(1000)
    default: return r.upTo(max)
    }
}

func randomNumericTerms(_ r: inout SemanticsRandom, max: UInt64, count: ClosedRange<Int> = 1...6) -> [NumericTerm] {
    (0..<r.int(count)).map { _ in
        let bits = r.upTo(7)
        return NumericTerm(and: r.bool(), lt: bits & 4 != 0, gt: bits & 2 != 0, eq: bits & 1 != 0,
                           value: interestingValue(&r, max: max))
    }
}

func randomBitmaskTerms(_ r: inout SemanticsRandom, width: Int, count: ClosedRange<Int> = 1...5) -> [BitmaskTerm] {
    let full: UInt64 = (1 << UInt64(width)) - 1
    return (0..<r.int(count)).map { _ in
        // Sparse values (1–3 bits) are the realistic case; sometimes any value, sometimes 0.
        var v: UInt64 = 0
        switch r.upTo(4) {
        case 0: v = r.upTo(full)
        case 1: v = 0
        default: for _ in 0..<r.int(1...3) { v |= 1 << r.upTo(UInt64(width - 1)) }
        }
        return BitmaskTerm(and: r.bool(), not: r.bool(), match: r.bool(), value: v)
    }
}

/// A random subset of `0...max`, as at most 80 intervals of random lengths (some single
/// values, some touching 0 or max, many one-value gaps, some long stretches).
func randomIntervalSet(_ r: inout SemanticsRandom, max: UInt64) -> IntervalSet {
    func span(_ r: inout SemanticsRandom) -> UInt64 {
        switch r.upTo(9) {
        case 0...3: return 0
        case 4...6: return r.upTo(Swift.min(max, 40))
        default: return r.upTo(max / 16)
        }
    }
    var ranges = [ClosedRange<UInt64>]()
    var x: UInt64 = r.chance(30) ? 0 : span(&r)
    while x <= max && ranges.count < 80 {
        let hi = Swift.min(max, x + span(&r))
        ranges.append(x...hi)
        if hi == max { break }
        let gap = r.chance(40) ? 1 : 1 + span(&r)
        if max - hi < gap + 1 { break }
        x = hi + gap + 1
    }
    return IntervalSet(ranges)
}

func bruteForceSet(max: UInt64, _ matches: (UInt64) -> Bool) -> IntervalSet {
    IntervalSet((0...max).filter(matches).map { $0...$0 })
}

@Suite struct OperatorPropertyTests {
    // MARK: numeric operators (RFC 8955 §4.2.1.1) against brute force over the whole domain

    @Test(arguments: [(UInt64(255), 3000), (UInt64(63), 3000), (UInt64(0xffff), 150)])
    func numericIntervalsEqualBruteForce(max: UInt64, cases: Int) {
        var r = SemanticsRandom(seed: 0x5eed_0001 ^ max)
        for _ in 0..<cases {
            let terms = randomNumericTerms(&r, max: max)
            let expected = bruteForceSet(max: max) { terms.matches($0) }
            #expect(terms.intervals(max: max) == expected, "\(terms.map { "\($0.and ? "&&" : "||")\($0.symbol)\($0.value)" })")
        }
    }

    @Test func falseAndTrueOperators() {
        // RFC 8955 Table 1: lt = gt = eq = 0 is "false", all three set is "true".
        #expect([NumericTerm.alwaysFalse].intervals(max: 255).isEmpty)
        #expect([NumericTerm.alwaysTrue].intervals(max: 255) == .all(255))
        // `true && false` is false; `false || == 7` is {7}.
        #expect([NumericTerm.alwaysTrue, NumericTerm(and: true, value: 9)].intervals(max: 255).isEmpty)
        #expect([NumericTerm.alwaysFalse, .equal(7)].intervals(max: 255) == IntervalSet([7...7]))
    }

    // MARK: bitmask operators (RFC 8955 §4.2.1.2) against brute force

    @Test(arguments: [(8, 3000), (16, 60), (4, 3000)])
    func bitmaskMatchesEqualBruteForce(width: Int, cases: Int) {
        var r = SemanticsRandom(seed: 0x5eed_0002 ^ UInt64(width))
        let max: UInt64 = (1 << UInt64(width)) - 1
        for _ in 0..<cases {
            let terms = randomBitmaskTerms(&r, width: width)
            let expected = bruteForceSet(max: max) { terms.matches($0) }
            #expect(terms.intervals(max: max) == expected)
            let masked = Set(terms.matchingMaskedValues())
            let mask = terms.relevantMask
            let viaMask = bruteForceSet(max: max) { masked.contains($0 & mask) }
            #expect(viaMask == expected)
        }
    }

    // MARK: synthesis round trips

    @Test(arguments: [(UInt64(255), 2000), (UInt64(63), 2000), (UInt64(0xffff), 300), (UInt64(0xfffff), 200)])
    func numericSynthesisRoundTrip(max: UInt64, cases: Int) {
        var r = SemanticsRandom(seed: 0x5eed_0003 ^ max)
        for _ in 0..<cases {
            let set = randomIntervalSet(&r, max: max)
            let terms = set.numericTerms(max: max)
            #expect(terms.intervals(max: max) == set)
            // Never longer than the plain one-group-per-interval form.
            let naive = set.intervals.reduce(0) { acc, i in
                acc + (i.lowerBound == i.upperBound ? 1 : (i.lowerBound > 0 ? 1 : 0) + (i.upperBound < max ? 1 : 0))
            }
            #expect(terms.count <= Swift.max(1, naive))
        }
    }

    @Test func numericSynthesisShapes() {
        func text(_ t: [NumericTerm]) -> String {
            t.map { ($0.and ? "&& " : "|| ") + $0.symbol + ($0.symbol == "true" || $0.symbol == "false" ? "" : " \($0.value)") }
                .joined(separator: " ")
        }
        #expect(text(IntervalSet([80...80]).numericTerms(max: 0xffff)) == "|| == 80")
        #expect(text(IntervalSet([1024...2047]).numericTerms(max: 0xffff)) == "|| >= 1024 && <= 2047")
        #expect(text(IntervalSet([0...1023]).numericTerms(max: 0xffff)) == "|| <= 1023")
        #expect(text(IntervalSet([1024...0xffff]).numericTerms(max: 0xffff)) == "|| >= 1024")
        #expect(text(IntervalSet([0...5, 7...255]).numericTerms(max: 255)) == "|| != 6")
        #expect(text(IntervalSet.all(63).numericTerms(max: 63)) == "|| true")
        #expect(text(IntervalSet().numericTerms(max: 63)) == "|| false")
        #expect(text(IntervalSet([80...80, 443...443, 8000...8999]).numericTerms(max: 0xffff))
                == "|| == 80 || == 443 || >= 8000 && <= 8999")
        // A range with one hole: one group of three terms beats two groups of four.
        #expect(text(IntervalSet([10...19, 21...30]).numericTerms(max: 255)) == "|| >= 10 && <= 30 && != 20")
        // Values above max are outside the domain and ignored.
        #expect(text(IntervalSet([200...300]).numericTerms(max: 255)) == "|| >= 200")
    }

    /// Every subset of a small domain: the synthesised list is exact and exactly as short as the
    /// shortest list a breadth-first search over all operator lists finds.
    @Test(arguments: [UInt64(7), UInt64(5), UInt64(2)])
    func numericSynthesisIsMinimal(max: UInt64) {
        let n = Int(max) + 1
        let full = (1 << n) - 1
        // The distinct meanings of a single term (all 8 operators, values 0...max+2).
        var termMasks = Set<Int>()
        for bits in 0..<8 {
            for v in 0...(max + 2) {
                let t = NumericTerm(lt: bits & 4 != 0, gt: bits & 2 != 0, eq: bits & 1 != 0, value: v)
                var m = 0
                for x in 0..<n where t.matches(UInt64(x)) { m |= 1 << x }
                termMasks.insert(m)
            }
        }
        let masks = Array(termMasks)
        // States: (result of closed groups, current group). BFS by list length.
        var shortest = [Int](repeating: .max, count: full + 1)
        var seen = [Bool](repeating: false, count: (full + 1) * (full + 1))
        var layer = [(Int, Int)]()
        for m in masks where !seen[m] { seen[m] = true; layer.append((0, m)) }
        var length = 1
        while !layer.isEmpty && shortest.contains(.max) {
            for (any, group) in layer where shortest[any | group] == .max { shortest[any | group] = length }
            var next = [(Int, Int)]()
            for (any, group) in layer {
                for m in masks {
                    for s in [(any, group & m), (any | group, m)] where !seen[s.0 * (full + 1) + s.1] {
                        seen[s.0 * (full + 1) + s.1] = true
                        next.append(s)
                    }
                }
            }
            layer = next
            length += 1
        }
        for subset in 0...full {
            let set = IntervalSet((0..<n).filter { subset & (1 << $0) != 0 }.map { UInt64($0)...UInt64($0) })
            let terms = set.numericTerms(max: max)
            #expect(terms.intervals(max: max) == set)
            #expect(terms.count == shortest[subset], "subset \(String(subset, radix: 2)): \(terms.map(\.symbol))")
        }
    }

    @Test(arguments: [(8, 1500), (12, 40), (4, 1500)])
    func bitmaskSynthesisFromListsIsExact(width: Int, cases: Int) {
        var r = SemanticsRandom(seed: 0x5eed_0004 ^ UInt64(width))
        let max: UInt64 = (1 << UInt64(width)) - 1
        for _ in 0..<cases {
            let terms = randomBitmaskTerms(&r, width: width)
            let synthesised = BitmaskTerm.terms(mask: terms.relevantMask, matchingMaskedValues: terms.matchingMaskedValues())
            #expect(synthesised.intervals(max: max) == terms.intervals(max: max))
        }
    }

    @Test(arguments: [4, 8])
    func bitmaskSynthesisFromRandomSetsIsExact(width: Int) {
        var r = SemanticsRandom(seed: 0x5eed_0005 ^ UInt64(width))
        let max: UInt64 = (1 << UInt64(width)) - 1
        for _ in 0..<500 {
            let density = r.upTo(100)
            let values = (0...max).filter { _ in r.upTo(99) < density }
            let terms = BitmaskTerm.terms(width: width, matching: values)
            #expect(terms.intervals(max: max) == IntervalSet(values.map { $0...$0 }))
        }
    }

    @Test func bitmaskSynthesisShapes() {
        // SYN set, ACK clear (over SYN|ACK): (x & 0x02) == 0x02 && !((x & 0x10) != 0).
        let synNotAck = BitmaskTerm.terms(mask: 0x12, matchingMaskedValues: [0x02])
        #expect(synNotAck == [BitmaskTerm(match: true, value: 0x02), BitmaskTerm(and: true, not: true, value: 0x10)])
        // Any of the fragment bits IsF|FF|LF.
        #expect(BitmaskTerm.terms(mask: 0x0e, matchingMaskedValues: [0x02, 0x04, 0x06, 0x08, 0x0a, 0x0c, 0x0e])
                == [BitmaskTerm(value: 0x0e)])
        // Everything / nothing.
        #expect(BitmaskTerm.terms(width: 4, matching: 0...15).intervals(max: 15) == .all(15))
        #expect(BitmaskTerm.terms(width: 4, matching: []).intervals(max: 15).isEmpty)
    }
}
