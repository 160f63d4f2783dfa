import FlowSpec

/// A rule's match, reduced to flowspec terms: what both readers build, expression by expression
/// (nft) or option by option (iptables), before it becomes routes.
///
/// Each field keeps its exact meaning as a set so that several tests of one field in a rule
/// (`tcp dport >= 80 tcp dport <= 90`) combine by intersection, and so that two rules can be
/// compared (a `limit … drop` rule and the `accept` rule after it with the same match merge).
struct RuleMatch: Hashable, Sendable {
    /// nil: every family the table carries.
    var families: Set<AddressFamily>?
    /// nil: any; otherwise OR-ed prefixes (a set lookup gives several).
    var destinations: [FlowPrefix]?
    var sources: [FlowPrefix]?
    /// Numeric components as the exact set of accepted values.
    var numeric: [ComponentType: IntervalSet] = [:]
    /// Bitmask components in disjunctive normal form: OR of AND-groups of terms (each term's
    /// `and` bit is set when routes are built).
    var bitmask: [ComponentType: [[BitmaskTerm]]] = [:]
    var warnings: [String] = []
    /// The protocol came from `ip6 nexthdr` (the first next header), not the upper-layer protocol:
    /// it cannot show that two rules match different packets.
    var protocolIsFirstHeader = false
    /// nil: any input interface; otherwise the interfaces the rule is scoped to (`iifname`),
    /// which become route targets through `FetchOptions.interfaceGroups`.
    var interfaces: Set<String>?

    static func == (a: Self, b: Self) -> Bool {
        a.families == b.families && a.destinations == b.destinations && a.sources == b.sources
            && a.numeric == b.numeric && a.bitmask == b.bitmask && a.interfaces == b.interfaces
    }

    /// ANDs an input-interface constraint.
    mutating func and(interfaces names: Set<String>) {
        interfaces = interfaces.map { $0.intersection(names) } ?? names
    }
    func hash(into h: inout Hasher) { h.combine(families); h.combine(numeric) }

    /// Restricts to `family`; false when that leaves none.
    mutating func restrict(to family: AddressFamily) -> Bool {
        if let f = families {
            guard f.contains(family) else { families = []; return false }
        }
        families = [family]
        return true
    }

    /// ANDs a numeric constraint; the set is clipped to the field's domain.
    mutating func and(_ type: ComponentType, _ values: IntervalSet) {
        let clipped = values.intersection(.all(Self.domainMax(type)))
        numeric[type] = numeric[type].map { $0.intersection(clipped) } ?? clipped
    }

    /// The largest value a numeric component can meet: an IPv6 packet (40-byte header plus a
    /// payload length of up to 65535) is up to 65575 bytes long, beyond the 2-byte field.
    static func domainMax(_ type: ComponentType) -> UInt64 {
        type == .packetLength ? 0xffff + 40 : type.maxValue
    }

    /// ANDs a bitmask constraint given in DNF.
    mutating func and(_ type: ComponentType, dnf: [[BitmaskTerm]]) {
        guard let old = bitmask[type] else { bitmask[type] = dnf; return }
        var product: [[BitmaskTerm]] = []
        for a in old { for b in dnf { product.append(a + b) } }
        bitmask[type] = product
    }

    /// ANDs a prefix constraint (OR of `prefixes`); nil reason on success.
    mutating func and(destination: Bool, _ prefixes: [FlowPrefix]) -> String? {
        let old = destination ? destinations : sources
        var combined = prefixes
        if let old {
            combined = []
            for p in old {
                for q in prefixes {
                    if p.offset == 0 && q.offset == 0 {
                        if p.contains(q.address) && p.length <= q.length { combined.append(q) }
                        else if q.contains(p.address) && q.length <= p.length { combined.append(p) }
                    } else if p == q {
                        combined.append(p)
                    } else {
                        return "two \(destination ? "destination" : "source") matches that flowspec cannot intersect"
                    }
                }
            }
        }
        if destination { destinations = combined } else { sources = combined }
        return nil
    }

    /// True when no packet can match both `self` and `other`, shown on fields no rule rewrites
    /// (family, addresses, protocol, ports, ICMP type and code: never DSCP, which a rule between
    /// may set). False means "maybe".
    func isDisjoint(from other: RuleMatch) -> Bool {
        if let f = families, let g = other.families, f.isDisjoint(with: g) { return true }
        if Self.disjoint(destinations, other.destinations) || Self.disjoint(sources, other.sources) { return true }
        for type in [ComponentType.ipProtocol, .sourcePort, .destinationPort, .icmpType, .icmpCode] {
            if type == .ipProtocol && (protocolIsFirstHeader || other.protocolIsFirstHeader) { continue }
            if let a = numeric[type], let b = other.numeric[type], a.intersection(b).isEmpty { return true }
        }
        return false
    }

    /// Two OR-lists of prefixes that share no address (nil: any address).
    static func disjoint(_ a: [FlowPrefix]?, _ b: [FlowPrefix]?) -> Bool {
        guard let a, let b else { return false }
        return !a.contains { p in b.contains { p.overlaps($0) } }
    }

    /// The protocols the rule can match, when it says (used to read transport fields).
    var protocols: IntervalSet? { numeric[.ipProtocol] }

    /// The single protocol, if exactly one.
    var singleProtocol: UInt64? {
        guard let p = protocols, p.intervals.count == 1, p.intervals[0].count == 1 else { return nil }
        return p.intervals[0].lowerBound
    }
}

/// Renders an exact value set as RFC 8955 numeric terms: one OR-ed group per interval
/// (`== v`, `<= b`, `>= a`, or `>= a && <= b`; two neighbours as `== a || == b`).
func numericTerms(_ set: IntervalSet, max: UInt64) -> [NumericTerm] {
    var out: [NumericTerm] = []
    for r in set.intervals {
        if r.lowerBound == r.upperBound { out.append(.equal(r.lowerBound)) }
        else if r.upperBound - r.lowerBound == 1 && r.lowerBound != 0 && r.upperBound < max {
            // Two neighbours read better as a list (`22, 23`) than as a range.
            out.append(.equal(r.lowerBound)); out.append(.equal(r.upperBound))
        }
        else if r.lowerBound == 0 { out.append(NumericTerm(lt: true, eq: true, value: r.upperBound)) }
        else if r.upperBound >= max { out.append(NumericTerm(gt: true, eq: true, value: r.lowerBound)) }
        else {
            out.append(NumericTerm(gt: true, eq: true, value: r.lowerBound))
            out.append(NumericTerm(and: true, lt: true, eq: true, value: r.upperBound))
        }
    }
    return out
}

/// The value set a `cmp` of `op` against `v` accepts within `0...max`.
func intervals(_ op: ComparisonOp, _ v: UInt64, max: UInt64) -> IntervalSet {
    switch op {
    case .eq: return v <= max ? IntervalSet([v...v]) : IntervalSet()
    case .neq: return (v <= max ? IntervalSet([v...v]) : IntervalSet()).complement(max: max)
    case .lt: return v == 0 ? IntervalSet() : IntervalSet([0...Swift.min(v - 1, max)])
    case .lte: return IntervalSet([0...Swift.min(v, max)])
    case .gt: return v >= max ? IntervalSet() : IntervalSet([(v + 1)...max])
    case .gte: return v > max ? IntervalSet() : IntervalSet([v...max])
    }
}

/// The six comparisons of nft's `cmp` and of iptables' options.
enum ComparisonOp: Sendable { case eq, neq, lt, lte, gt, gte }

/// Bitmask DNF for `(field & mask) == value` (nft `tcp flags & m == v`; iptables `--tcp-flags`).
func bitmaskEqual(mask: UInt64, value: UInt64) -> [[BitmaskTerm]] {
    var group: [BitmaskTerm] = []
    let set = value & mask, clear = mask & ~value
    if set != 0 { group.append(BitmaskTerm(match: true, value: set)) }
    if clear != 0 { group.append(BitmaskTerm(not: true, value: clear)) }
    return [group]
}

/// Bitmask DNF for `(field & mask) != value`.
func bitmaskNotEqual(mask: UInt64, value: UInt64) -> [[BitmaskTerm]] {
    let set = value & mask, clear = mask & ~value
    var out: [[BitmaskTerm]] = []
    if set != 0 { out.append([BitmaskTerm(not: true, match: true, value: set)]) }
    if clear != 0 { out.append([BitmaskTerm(value: clear)]) }
    return out
}

/// Splits an inclusive address range into the fewest prefixes covering exactly it
/// (a set element `192.0.2.0-192.0.2.255` is one /24; `192.0.2.1-192.0.2.6` is four prefixes).
func prefixes(from first: IPAddress, to last: IPAddress) -> [FlowPrefix] {
    let width = first.family.bitWidth
    func value(_ a: IPAddress) -> UInt128 {
        width == 32 ? UInt128(a.high >> 32) : UInt128(a.high) << 64 | UInt128(a.low)
    }
    func address(_ v: UInt128) -> IPAddress {
        width == 32 ? IPAddress(ipv4: UInt32(truncatingIfNeeded: v))
                    : IPAddress(family: .ipv6, high: UInt64(truncatingIfNeeded: v >> 64), low: UInt64(truncatingIfNeeded: v))
    }
    let top: UInt128 = width == 128 ? .max : (UInt128(1) << width) - 1
    var lo = value(first)
    let hi = value(last)
    var out: [FlowPrefix] = []
    while lo <= hi {
        var size = lo == 0 ? width : min(lo.trailingZeroBitCount, width)
        // Shrink until the block [lo, lo + 2^size - 1] ends within hi.
        while size > 0 {
            let span: UInt128 = size == 128 ? .max : (UInt128(1) << size) - 1
            if hi - lo >= span { break }
            size -= 1
        }
        out.append(FlowPrefix(address: address(lo), length: width - size)!)
        let span: UInt128 = size == 128 ? .max : (UInt128(1) << size) - 1
        let end = lo + span
        if end >= top { break }
        lo = end + 1
    }
    return out
}
