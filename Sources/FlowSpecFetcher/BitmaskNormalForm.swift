import FlowSpec

/// Bitmask components as sets of values, and back.
///
/// The readers AND together bitmask tests in disjunctive normal form, which grows with every
/// test (`frag frag-off != 0` and `frag more-fragments 0` of one rule, or the 2^n exact values a
/// `tcp flags & m <= v` accepts). Before a route is built, the DNF is evaluated on every value
/// the field can hold and rewritten from that exact value set with Quine–McCluskey, values the
/// field can never hold counting as "don't care" (a fragment state with both FF and LF, DF in
/// IPv6). The result matches exactly the same packets, with as few terms as the prime
/// implicants allow.
enum BitmaskNormalForm {
    /// The fragment states (RFC 8955 §4.2.2.12 bits) a packet of `family` can be in: offset 0
    /// without MF (0), first fragment (FF), middle (IsF), last (IsF | LF), each with DF for IPv4.
    static func fragmentStates(_ family: AddressFamily) -> [UInt64] {
        let isf = FragmentBit.isFragment.rawValue, ff = FragmentBit.firstFragment.rawValue
        let lf = FragmentBit.lastFragment.rawValue, df = FragmentBit.dontFragment.rawValue
        let base: [UInt64] = [0, ff, isf, isf | lf]
        return family == .ipv4 ? base + base.map { $0 | df } : base
    }

    /// True when `x` satisfies the DNF (OR of AND-groups).
    static func evaluate(_ dnf: [[BitmaskTerm]], _ x: UInt64) -> Bool {
        dnf.contains { group in group.allSatisfy { $0.matches(x) } }
    }

    /// Every value of the bits of `mask` (at most 2^16 of them).
    static func submasks(of mask: UInt64) -> [UInt64] {
        var out: [UInt64] = []
        var sub: UInt64 = 0
        repeat { out.append(sub); sub = (sub &- mask) & mask } while sub != 0
        return out
    }

    /// The DNF of a fragment component for `family`, rewritten from the states it accepts; nil
    /// when it accepts every state (the component says nothing), [] when it accepts none.
    static func fragment(_ dnf: [[BitmaskTerm]], family: AddressFamily) -> [[BitmaskTerm]]? {
        let valid = fragmentStates(family)
        let accepted = Set(valid.filter { evaluate(dnf, $0) })
        if accepted.count == valid.count { return nil }
        let all = submasks(of: 0xf)
        let dontCare = Set(all).subtracting(valid)
        return dnfOf(accepted: accepted, dontCare: dontCare, mask: 0xf, singleBitAsAny: true)
    }

    /// The DNF of a TCP flags component, rewritten over the bits it tests; nil when it accepts
    /// every value.
    static func tcpFlags(_ dnf: [[BitmaskTerm]]) -> [[BitmaskTerm]]? {
        let mask = dnf.joined().reduce(0) { $0 | $1.value }
        guard mask.nonzeroBitCount <= 12 else { return dnf }
        let values = submasks(of: mask)
        let accepted = Set(values.filter { evaluate(dnf, $0) })
        if accepted.count == values.count { return nil }
        return dnfOf(accepted: accepted, dontCare: [], mask: mask, singleBitAsAny: false)
    }

    /// DNF over the bits of `mask` that accepts exactly `accepted` (values outside both sets are
    /// rejected; `dontCare` values may go either way): prime implicants, then a greedy cover.
    /// Fragment bits are written `~bit` (any), TCP flags `=bits` (match), as the operator
    /// idioms read before normalisation.
    static func dnfOf(accepted: Set<UInt64>, dontCare: Set<UInt64>, mask: UInt64, singleBitAsAny: Bool) -> [[BitmaskTerm]] {
        if accepted.isEmpty { return [] }
        struct Implicant: Hashable { var value: UInt64; var care: UInt64 }
        var current = Set(accepted.union(dontCare).map { Implicant(value: $0, care: mask) })
        var primes = Set<Implicant>()
        while !current.isEmpty {
            var merged = Set<Implicant>(), used = Set<Implicant>()
            let byCare = Dictionary(grouping: current, by: \.care)
            for (care, group) in byCare {
                let members = Set(group.map(\.value))
                for v in members {
                    var bits = care
                    while bits != 0 {
                        let b = bits & (~bits &+ 1)
                        bits &= bits - 1
                        let w = v ^ b
                        if members.contains(w) {
                            merged.insert(Implicant(value: v & ~b, care: care & ~b))
                            used.insert(Implicant(value: v, care: care))
                        }
                    }
                }
            }
            primes.formUnion(current.subtracting(used))
            current = merged
        }
        // Greedy cover of the accepted values; ties go to the implicant with fewer cared bits.
        var uncovered = accepted
        var chosen: [Implicant] = []
        let candidates = primes.sorted { ($0.care.nonzeroBitCount, $0.value) < ($1.care.nonzeroBitCount, $1.value) }
        while !uncovered.isEmpty {
            var best: Implicant?, bestCount = 0
            for p in candidates {
                let n = uncovered.count { $0 & p.care == p.value }
                if n > bestCount { best = p; bestCount = n }
            }
            guard let best else { break }
            chosen.append(best)
            uncovered = uncovered.filter { $0 & best.care != best.value }
        }
        return chosen.sorted { $0.value < $1.value }.map { group(care: $0.care, value: $0.value, singleBitAsAny: singleBitAsAny) }
    }

    /// `(x & care) == value` as one AND-group.
    static func group(care: UInt64, value: UInt64, singleBitAsAny: Bool) -> [BitmaskTerm] {
        var out: [BitmaskTerm] = []
        let set = value & care, clear = care & ~value
        if set != 0 { out.append(BitmaskTerm(match: !(singleBitAsAny && set.nonzeroBitCount == 1), value: set)) }
        if clear != 0 { out.append(BitmaskTerm(not: true, value: clear)) }
        return out
    }
}
