import FlowSpec

/// One match statement of a rule: its expressions and, when nft could merge it with an adjacent
/// payload match, what it compares.
struct Match {
    struct Merge {
        var base: NftPayloadBase
        var offset: UInt32
        var length: UInt32
        var op: NftCmpOp
        var data: [UInt8]
        var field: Field
    }
    var exprs: [NftExpression]
    var merge: Merge?
    /// What the match accepts, when the merge pass can put it into a set key (docs/merging.md).
    var key: KeyPart? = nil
}

/// The values of a field as alternating runs of accepted and rejected values that together
/// cover every value the field can take. Values the field can never hold (holes of a mask) lie
/// inside runs, where they do not matter; this keeps lookups and sets as small as possible.
struct Runs {
    var accepted: [ClosedRange<UInt64>] = []
    var rejected: [ClosedRange<UInt64>] = []

    /// From a numeric operator list's exact interval set over `0...max`.
    init(accepted set: IntervalSet, max: UInt64) {
        accepted = set.intervals
        rejected = set.complement(max: max).intervals
    }

    /// From labelled value ranges (ascending, disjoint): consecutive ranges with the same label
    /// merge into one run.
    init(labelled: [(ClosedRange<UInt64>, Bool)]) {
        var cur: (ClosedRange<UInt64>, Bool)? = nil
        func flush() {
            guard let c = cur else { return }
            if c.1 { accepted.append(c.0) } else { rejected.append(c.0) }
        }
        for (r, ok) in labelled {
            if let c = cur, c.1 == ok { cur = (c.0.lowerBound...r.upperBound, ok) }
            else { flush(); cur = (r, ok) }
        }
        flush()
    }
}

/// The named sets of a table, shared by content: two lookups of the same values in fields of
/// the same key type use one set. Keyed by a dictionary, so sharing costs O(1) per lookup.
struct SetPool {
    struct Key: Hashable {
        var scope: Field?
        var type: NftDataType
        var width: Int
        var bounds: [UInt64]
    }
    private var index: [Key: Int] = [:]
    private(set) var sets: [NftSet] = []

    init() {}

    /// A pool holding `sets` (read back from an `IncrementalTable` snapshot). They are not
    /// found by content again: a new lookup makes a set of its own, named after them.
    init(restoring sets: [NftSet]) { self.sets = sets }

    mutating func name(for field: Field, _ ranges: [ClosedRange<UInt64>]) -> String {
        // nft 1.0.6 crashes listing an interval set of type tcp_flag (`nft list` segfaults in its
        // element sort), so TCP flag sets hold single values (at most 256 of them).
        let ranges = field.keyType == .tcpFlag && ranges.contains(where: { $0.lowerBound != $0.upperBound })
            ? ranges.flatMap { r in (r.lowerBound...r.upperBound).map { $0...$0 } } : ranges
        var bounds = [UInt64]()
        bounds.reserveCapacity(ranges.count * 2)
        for r in ranges { bounds.append(r.lowerBound); bounds.append(r.upperBound) }
        let key = Key(scope: field.setScope, type: field.keyType, width: field.width, bounds: bounds)
        if let i = index[key] { return sets[i].name }
        // A new set (most lookups find one already made).
        let interval = ranges.contains { $0.lowerBound != $0.upperBound }
        let topOfKey = [UInt8](repeating: 0xff, count: field.width)
        let elements = ranges.map { r in
            NftSetElement(key: field.encode(r.lowerBound),
                          keyEnd: r.lowerBound == r.upperBound ? nil
                              : field.nftBits != nil && r.upperBound == field.maxValue ? topOfKey
                              : field.encode(r.upperBound))
        }
        var type = field.keyType
        type.length = UInt32(field.width)
        let set = NftSet(name: "set\(sets.count)", flags: interval ? [.interval] : [], keyFields: [type],
                         elements: elements)
        index[key] = sets.count
        sets.append(set)
        return set.name
    }

    /// The set of interface names `names` (16 bytes each, ascending): `iifname @set`.
    mutating func name(forInterfaces names: [[UInt8]]) -> String {
        var bounds = [UInt64]()
        bounds.reserveCapacity(names.count * 2)
        for n in names { bounds.append(beValue(n[0..<8])); bounds.append(beValue(n[8..<16])) }
        let key = Key(scope: nil, type: .ifname, width: 16, bounds: bounds)
        if let i = index[key] { return sets[i].name }
        let set = NftSet(name: "set\(sets.count)", flags: [], keyFields: [.ifname], elements: names.map { NftSetElement(key: $0) })
        index[key] = sets.count
        sets.append(set)
        return set.name
    }

    /// Takes in the sets of `other` (a pool of a later part of the same table), in the order
    /// `other` made them: one of the same content keeps this pool's set, a new one is numbered
    /// after this pool's — the names one pool would have given them all. Returns the names of
    /// `other` that changed.
    mutating func absorb(_ other: SetPool) -> [String: String] {
        var renamed: [String: String] = [:]
        for (key, i) in other.index.sorted(by: { $0.value < $1.value }) {
            var set = other.sets[i]
            let name: String
            if let j = index[key] {
                name = sets[j].name
            } else {
                name = "set\(sets.count)"
                index[key] = sets.count
                set.name = name
                sets.append(set)
            }
            if name != other.sets[i].name { renamed[other.sets[i].name] = name }
        }
        return renamed
    }
}

/// Constant byte strings (`cmp` and `range` data), one shared array per distinct value. The
/// rules of a large table repeat the same addresses, protocols and ports over and over; an array
/// per use cost ~48 bytes of IR each (a quarter of the IR of the generated 1M-route table). At
/// most `capacity` values are kept, so a table of all-distinct values costs a bounded dictionary
/// and then plain arrays, as before.
struct BytesPool {
    private struct Key: Hashable {
        var high: UInt64
        var low: UInt64
        var count: Int
    }
    private var arrays: [Key: [UInt8]] = [:]
    static let capacity = 1 << 16
    /// One- and two-byte values (protocols, ICMP fields, ports: most of them) by value, with no
    /// hashing; the two-byte table is filled as values come.
    private static let oneByte: [[UInt8]] = (0..<256).map { [UInt8($0)] }
    private var twoBytes: [[UInt8]?] = []

    /// The `count` bytes `byte(0)`, …, `byte(count - 1)` (at most 16), shared when seen before.
    mutating func bytes(count: Int, _ byte: (Int) -> UInt8) -> [UInt8] {
        guard count <= 16 else { return (0..<count).map(byte) }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<count {
            if i < 8 { high = high << 8 | UInt64(byte(i)) } else { low = low << 8 | UInt64(byte(i)) }
        }
        if count == 1 { return Self.oneByte[Int(high)] }
        if count == 2 {
            if twoBytes.isEmpty { twoBytes = Array(repeating: nil, count: 1 << 16) }
            if let shared = twoBytes[Int(high)] { return shared }
            let made = [UInt8(high >> 8), UInt8(high & 0xff)]
            twoBytes[Int(high)] = made
            return made
        }
        let key = Key(high: high, low: low, count: count)
        if let shared = arrays[key] { return shared }
        let made = (0..<count).map(byte)
        if arrays.count < Self.capacity { arrays[key] = made }
        return made
    }

    /// `field.encode(v)`, shared.
    mutating func encode(_ v: UInt64, _ field: Field) -> [UInt8] {
        let x = UInt128(v << UInt64(field.shift)), w = field.width
        return bytes(count: w) { bigEndianByte(x, $0, width: w) }
    }
}

enum Lowered {
    /// Every value matches: no expression.
    case all
    /// No value matches: the rule can never match.
    case none
    case match(Match)
}

/// Lowers "the field's value is accepted" to the fewest expressions nft itself would generate
/// for the text the printer writes: `==`, `!=`, `<=`, `>=`, `a-b` (nft emits gte + lte),
/// `!= a-b` (range neq), or a lookup of a shared named set (inverted when the rejected values
/// are the smaller list).
///
/// `key`: also record what the match accepts as a set key part (`Match.key`); only the merge
/// pass reads it, so the unmerged form skips it.
func lower(_ field: Field, _ runs: Runs, pool: inout SetPool, bytes: inout BytesPool, key: Bool) -> Lowered {
    let A = runs.accepted, R = runs.rejected
    if R.isEmpty { return .all }
    if A.isEmpty { return .none }
    guard case .match(var m) = lowerMatch(field, runs, pool: &pool, bytes: &bytes) else { return .none }
    if key, let k = KeyField(field) { m.key = KeyPart(field: k, ranges: A.map { UInt128($0.lowerBound)...UInt128($0.upperBound) }) }
    return .match(m)
}

private func lowerMatch(_ field: Field, _ runs: Runs, pool: inout SetPool, bytes: inout BytesPool) -> Lowered {
    let A = runs.accepted, R = runs.rejected
    var e = [NftExpression]()
    e.reserveCapacity(4)
    field.appendLoad(to: &e)
    func cmp(_ op: NftCmpOp, _ v: UInt64) -> Match {
        let d = bytes.encode(v, field)
        e.append(.cmp(op: op, sreg: .reg1, data: d))
        var m: Match.Merge? = nil
        if field.mergeable, op == .eq || op == .neq, case .payload(let b, let o, let l) = field.source {
            m = Match.Merge(base: b, offset: o, length: l, op: op, data: d, field: field)
        }
        return Match(exprs: e, merge: m)
    }
    if A.count == 1 {
        let a = A[0]
        if a.lowerBound == a.upperBound { return .match(cmp(.eq, a.lowerBound)) }
        if R.count == 1, R[0].lowerBound == R[0].upperBound { return .match(cmp(.neq, R[0].lowerBound)) }
        if R.allSatisfy({ $0.lowerBound > a.upperBound }) { return .match(cmp(.lte, a.upperBound)) }
        if R.allSatisfy({ $0.upperBound < a.lowerBound }) { return .match(cmp(.gte, a.lowerBound)) }
        e.append(.cmp(op: .gte, sreg: .reg1, data: bytes.encode(a.lowerBound, field)))
        e.append(.cmp(op: .lte, sreg: .reg1, data: bytes.encode(a.upperBound, field)))
        return .match(Match(exprs: e, merge: nil))
    }
    if R.count == 1 {
        let r = R[0]
        if r.lowerBound == r.upperBound { return .match(cmp(.neq, r.lowerBound)) }
        e.append(.range(op: .neq, sreg: .reg1, from: bytes.encode(r.lowerBound, field), to: bytes.encode(r.upperBound, field)))
        return .match(Match(exprs: e, merge: nil))
    }
    let invert = R.count < A.count
    let name = pool.name(for: field, invert ? R : A)
    e.append(.lookup(set: name, sreg: .reg1, invert: invert))
    return .match(Match(exprs: e, merge: nil))
}

/// nft merges adjacent payload equality (and inequality) matches into one load before it sends
/// a rule (`payload_try_merge`): the matches are sorted by base and offset, and neighbours with
/// the same operator are joined when byte aligned and at most 4 bytes together (or 16, when one
/// part already exceeds 4). The merged match takes the place of the lowest-offset one. This
/// reproduces it so the IR equals what `nft -f` loads.
///
/// nft 1.0.6 also merges two `!=` matches, which changes their meaning (`a != x && b != y`
/// becomes `(a,b) != (x,y)`); such a second `!=` is turned into a lookup of a one-element set
/// (`!= @set`), which nft never merges.
func mergePayloadMatches(_ input: [Match], pool: inout SetPool) -> [NftExpression] {
    var out = [NftExpression]()
    appendMergedPayloadMatches(input, to: &out, pool: &pool)
    return out
}

/// `mergePayloadMatches`, appending to `out` (the compiler appends the rule's tail after it).
func appendMergedPayloadMatches(_ input: [Match], to out: inout [NftExpression], pool: inout SetPool) {
    var candidateCount = 0
    for i in input.indices where input[i].merge != nil { candidateCount += 1 }
    if candidateCount < 2 {
        for i in input.indices { out += input[i].exprs }
        return
    }
    var matches = input
    // Where each candidate loads from, as plain numbers: sorting and the adjacency tests need
    // no copy of the matches (each holds arrays).
    struct Place { var base: UInt32; var offset: UInt32; var length: UInt32; var op: NftCmpOp; var index: Int }
    var places = [Place]()
    places.reserveCapacity(candidateCount)
    for i in matches.indices {
        if let m = matches[i].merge {
            places.append(Place(base: m.base.rawValue, offset: m.offset, length: m.length, op: m.op, index: i))
        }
    }
    places.sort { ($0.base, $0.offset, $0.index) < ($1.base, $1.offset, $1.index) }
    var removed = Set<Int>()
    var changed = Set<Int>()
    var last = places[0]
    for t in places.dropFirst() {
        let l = last
        let total = l.length + t.length
        let adjacent = l.base == t.base && l.offset + l.length == t.offset
        let canMerge = adjacent && total <= 16 && (total <= 4 || l.base == NftPayloadBase.link.rawValue || l.length > 4 || t.length > 4)
        if !canMerge || l.op != t.op { last = t; continue }
        let i = t.index
        if t.op == .neq {
            let t = matches[i].merge!
            let v = t.data.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> UInt64(t.field.shift)
            let name = pool.name(for: t.field, [v...v])
            matches[i] = Match(exprs: t.field.load + [.lookup(set: name, sreg: .reg1, invert: true)], merge: nil)
            continue
        }
        matches[last.index].merge!.length = total
        matches[last.index].merge!.data += matches[i].merge!.data
        last.length = total
        removed.insert(i)
        changed.insert(last.index)
    }
    for i in matches.indices where !removed.contains(i) {
        if changed.contains(i), let g = matches[i].merge {
            out.append(.payload(base: g.base, offset: g.offset, length: g.length, dreg: .reg1))
            out.append(.cmp(op: g.op, sreg: .reg1, data: g.data))
        } else {
            out += matches[i].exprs
        }
    }
}
