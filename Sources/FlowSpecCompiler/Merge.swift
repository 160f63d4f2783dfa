import FlowSpec

// The merge pass: turns the ordered list of compiled rules into as few rules as possible
// without changing which packet gets which action. docs/merging.md has the proof.

/// A packet field that can be one part of a (concatenated) set key, or — `l4proto` — that only
/// narrows the box the merge pass reasons with: a row of the field table with a box dimension
/// (`PacketField.Row.boxDim`), with the mask it is read under when the row's mask is chosen per
/// match (TCP flags, IPv4 fragment bits): the mask is part of the shape, the value the key.
struct KeyField: Hashable {
    let field: PacketField
    /// The chosen mask (nil: the row's own, or none); for an IPv6 offset prefix, the mask over
    /// its octets (nil when it covers them whole).
    let mask: [UInt8]?
    /// The field's range in a `Box`, its width, shift and whether it is in a set key: kept here,
    /// read from the row once, because the planner and the set encoder ask for them per unit and
    /// per element (a row is a struct with strings: each read of it retains and releases them).
    let dim: Int
    let width: Int
    let shift: Int
    let inKey: Bool
    /// `Box.masks` bits for this field's mask (0: a dimension without a chosen mask).
    let maskSignature: UInt64
    /// For an IPv6 offset prefix (RFC 8956): bits [offset, length) of the address, as
    /// `offset << 8 | length`; 0 for a whole field. The key part is then the octets holding
    /// those bits (`octetStart`, `width`) under `mask`, its value their masked big-endian
    /// integer, held in the address's box dimension under a mask signature of its own (so it
    /// is compared only with values of the same bits, `Box.overlaps`).
    let prefixBits: UInt16
    let octetStart: Int

    init?(_ f: PacketField, mask: [UInt8]? = nil) {
        let row = f.row
        guard let dim = row.boxDim else { return nil }
        field = f
        self.dim = dim
        width = row.width
        shift = row.shift
        inKey = row.inKey
        prefixBits = 0
        octetStart = 0
        if row.mask == .chosen && !row.partial {
            self.mask = mask
            let value = mask.map { $0.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } } ?? (UInt32(1) << UInt32(8 * width)) - 1
            maskSignature = Box.signature(dim: dim, mask: value, wide: width > 1 && dim == Box.tcpFlagsDim)
        } else {
            self.mask = nil
            maskSignature = 0
        }
        needsTypeof = type.name == "integer"
    }

    init?(_ f: Field) { self.init(f.packetField, mask: f.mask) }

    /// The key part of an IPv6 prefix that starts past the first bit: the octets `load` reads,
    /// masked as it masks them.
    init(offsetPrefix p: FlowPrefix, source: Bool, load: PrefixLoad) {
        precondition(p.family == .ipv6 && p.offset > 0, "offset prefixes are IPv6 only")
        field = source ? .source6 : .destination6
        mask = load.mask
        dim = source ? 0 : 1
        width = load.octets.count
        shift = 0
        inKey = true
        prefixBits = UInt16(p.offset) << 8 | UInt16(p.length)
        octetStart = load.octets.lowerBound
        maskSignature = Box.signature(dim: dim, mask: UInt32(prefixBits), wide: false)
        needsTypeof = true
    }

    static func == (a: KeyField, b: KeyField) -> Bool { a.field == b.field && a.mask == b.mask && a.prefixBits == b.prefixBits }
    func hash(into h: inout Hasher) { h.combine(field); h.combine(mask); h.combine(prefixBits) }

    static let dport = KeyField(.destinationPort)!
    static let inputInterface = KeyField(.inputInterface)!

    /// The number of box dimensions (`BoxRanges`: two addresses, nine smaller fields and the
    /// input interface): one more than the largest `PacketField.Row.boxDim` (a test checks it).
    /// A literal, not derived: the planner's overlap tests read it hundreds of millions of
    /// times, and a derived static is a lazy global with a check on every read.
    static let dims = 12
    /// The input interface's dimension (`PacketField.inputInterface`).
    static let interfaceDim = 11

    /// The key part's type in the set: a plain integer for a field nft's `typeof` names raw.
    var type: NftDataType {
        if prefixBits != 0 { return .integer(bytes: UInt32(width)) }
        if case .raw? = field.row.typeof { return .integer(bytes: UInt32(width)) }
        return field.row.keyType
    }

    /// How the set's `typeof` names the part: an offset prefix's octets are a raw network-header
    /// payload (`@nh,192,64`), as nft names that load.
    var typeof: NftKeyExpression {
        guard prefixBits != 0, case .payload(_, let start, _) = field.row.load else { return field.row.typeof! }
        return .raw(base: 2, offset: 8 * (start + UInt32(octetStart)), bits: UInt32(8 * width))
    }

    /// Whether the set must be declared by `typeof` (and carry it): a plain-integer part.
    /// Stored: the planner asks for every unit, and `type` reads the field's row (strings).
    private(set) var needsTypeof = false

    /// The key part's load into `dreg`, and its mask: the row's fixed mask (DSCP) or the chosen
    /// one. Values stay shifted in the register (`@nh,8,8 & 0xfc`): nft's `ip dscp` in a
    /// lookup would shift them (docs/lowering.md).
    func load(_ dreg: NftRegister) -> [NftExpression] {
        var out: [NftExpression] = switch field.row.load {
        case .meta(let k): [.meta(key: k, dreg: dreg)]
        case .payload(let b, let o, _) where prefixBits != 0:
            [.payload(base: b, offset: o + UInt32(octetStart), length: UInt32(width), dreg: dreg)]
        case .payload(let b, let o, let l): [.payload(base: b, offset: o, length: l, dreg: dreg)]
        case .exthdr(let x): [.exthdr(x, dreg: dreg)]
        }
        var m = mask
        if m == nil, case .fixed(let fixed) = field.row.mask { m = fixed }
        if let m {
            out.append(.bitwise(sreg: dreg, dreg: dreg, length: UInt32(m.count), mask: m, xor: [UInt8](repeating: 0, count: m.count)))
        }
        return out
    }

    /// The top of each box dimension's domain, IPv4 (0) and IPv6 (1); 0 for a dimension the
    /// family has no field of.
    private static let tops: [[UInt128]] = [false, true].map { v6 -> [UInt128] in
        let rows = PacketField.allCases.map(\.row).filter { r in r.family == nil || (r.family == .ipv6) == v6 }
        return (0..<dims).map { (dim: Int) -> UInt128 in rows.filter { $0.boxDim == dim }.map(\.maxValue).max() ?? 0 }
    }

    static func top(dim: Int, v6: Bool) -> UInt128 { tops[v6 ? 1 : 0][dim] }
}

/// The values a match accepts in one key field, as disjoint ascending ranges.
struct KeyPart: Hashable {
    var field: KeyField
    var ranges: [ClosedRange<UInt128>]
}

/// One rule of the unmerged table, as the compiler made it for route `route`.
struct MergeUnit {
    var route: Int
    var v6: Bool
    var identity: String
    /// The rule's match statements (before nft's payload merging).
    var matches: [Match]
    /// Statements after the matches (counter, log, limit, modifications, verdict).
    var tail: [NftExpression]
    /// The rule's match expressions as installed when it stays on its own (nft's payload
    /// merging applied); `single` adds the tail. Nil when the merging names no value set
    /// (`needsPool`): `single` then makes them, so that the rules of units that join a group,
    /// most of them, are never built.
    var singleMatches: [NftExpression]?
    /// One of the rules of a rate-limited route (its limit map, or the rule for what conforms):
    /// both keep the same key parts, so the route reads back as one (`fetch`, `show`).
    var rateLimited = false

    /// The rule as it is installed when it stays on its own.
    var single: [NftExpression] {
        if let s = singleMatches { return s + tail }
        var out = [NftExpression]()
        out.reserveCapacity(matches.reduce(0) { $0 + $1.exprs.count } + tail.count)
        var untouched = SetPool()   // `needsPool` is false: the merging asks no set of it
        appendMergedPayloadMatches(matches, to: &out, pool: &untouched)
        out += tail
        return out
    }

    /// Whether nft's payload merging of `matches` may name a value set (merging two adjacent
    /// `!=` matches makes a lookup of a set of the values): then it must run when the route is
    /// compiled, so that sets are named in the same order whichever units end up single.
    static func needsPool(_ matches: [Match]) -> Bool {
        matches.contains { $0.merge?.op == .neq }
    }
}

/// The ranges of a box, stored as small as their fields allow: addresses and the input
/// interface's name need 128 bits (dimensions 0, 1 and 11), the other fields 32 at most. A
/// million routes make over a million boxes.
struct BoxRanges {
    private var wide: InlineArray<3, ClosedRange<UInt128>> = InlineArray(repeating: 0...0)
    private var low: InlineArray<9, UInt32> = InlineArray(repeating: 0)
    private var high: InlineArray<9, UInt32> = InlineArray(repeating: 0)

    /// Widens every range to cover `o`'s too (a group's hull).
    mutating func widen(_ o: BoxRanges) {
        for k in 0..<3 {
            let a = wide[k], b = o.wide[k]
            if b.lowerBound < a.lowerBound || b.upperBound > a.upperBound {
                wide[k] = min(a.lowerBound, b.lowerBound)...max(a.upperBound, b.upperBound)
            }
        }
        for k in 0..<9 {
            low[k] = min(low[k], o.low[k])
            high[k] = max(high[k], o.high[k])
        }
    }

    subscript(k: Int) -> ClosedRange<UInt128> {
        get { k < 2 ? wide[k] : k < 11 ? UInt128(low[k - 2])...UInt128(high[k - 2]) : wide[2] }
        set {
            if k < 2 {
                wide[k] = newValue
            } else if k < 11 {
                low[k - 2] = UInt32(newValue.lowerBound); high[k - 2] = UInt32(newValue.upperBound)
            } else {
                wide[2] = newValue
            }
        }
    }
}

/// A product of one range per field: the packets a set element (or, over-approximated, a rule)
/// can match. Fields a rule does not look at span their whole domain.
///
/// A field read under a mask chosen per match (TCP flags, IPv4 fragment bits) holds the masked
/// value's range: two boxes compare in that dimension only when they were read under the same
/// mask (`masks`); otherwise the dimension is taken to overlap, which only ever keeps rules apart.
struct Box {
    /// One range per `KeyField.dim`, stored inline: the planner makes a box per set element
    /// and compares many, and an array per box made allocation its main cost.
    var r: BoxRanges
    /// The masks of the masked dimensions (`signature`): 0 where the box does not narrow them.
    var masks: UInt64 = 0
    var v6: Bool

    init(v6: Bool, r: BoxRanges) { self.v6 = v6; self.r = r }

    static let tcpFlagsDim = 9
    static let fragmentDim = 10
    /// Bits of `masks` per masked dimension: TCP flags 17 (the mask, and whether it is the
    /// 16-bit form), IPv4 fragment bits 15, and for each address an IPv6 offset prefix's offset
    /// and length, 15: the dimension then holds not the address but the masked octets that
    /// hold the prefix's bits, as one integer (`KeyField.init(offsetPrefix:source:load:)`).
    /// Whatever reads a box's destination as an address reads `destination`.
    private static let tcpBits: UInt64 = 0x1ffff
    private static let fragmentBits: UInt64 = 0x7fff << 17
    private static let sourceOffsetBits: UInt64 = 0x7fff << 32
    private static let destinationOffsetBits: UInt64 = 0x7fff << 47

    static func signature(dim: Int, mask: UInt32, wide: Bool) -> UInt64 {
        switch dim {
        case tcpFlagsDim: UInt64(mask & 0xffff) | (wide ? 0x10000 : 0)
        case fragmentDim: UInt64(mask & 0x7fff) << 17
        case 0: UInt64(mask & 0x7fff) << 32
        case 1: UInt64(mask & 0x7fff) << 47
        default: 0
        }
    }

    static func full(v6: Bool) -> Box {
        var r = BoxRanges()
        for k in 0..<KeyField.dims { r[k] = 0...KeyField.top(dim: k, v6: v6) }
        return Box(v6: v6, r: r)
    }

    func overlaps(_ o: Box) -> Bool {
        guard v6 == o.v6 else { return false }
        if masks == o.masks {
            for k in 0..<KeyField.dims where r[k].upperBound < o.r[k].lowerBound || o.r[k].upperBound < r[k].lowerBound { return false }
            return true
        }
        let tcp = masks & Self.tcpBits == o.masks & Self.tcpBits
        let fragment = masks & Self.fragmentBits == o.masks & Self.fragmentBits
        let source = masks & Self.sourceOffsetBits == o.masks & Self.sourceOffsetBits
        let destination = masks & Self.destinationOffsetBits == o.masks & Self.destinationOffsetBits
        for k in 0..<KeyField.dims where r[k].upperBound < o.r[k].lowerBound || o.r[k].upperBound < r[k].lowerBound {
            if k == Self.tcpFlagsDim && !tcp || k == Self.fragmentDim && !fragment
                || k == 0 && !source || k == 1 && !destination { continue }
            return false
        }
        return true
    }

    /// `self` minus `o` as disjoint boxes (at most two per field); boxes of one group.
    func subtracting(_ o: Box) -> [Box] {
        precondition(masks == o.masks, "boxes read under different masks are never subtracted")
        guard overlaps(o) else { return [self] }
        var out = [Box]()
        var rest = self
        for k in 0..<KeyField.dims {
            let a = rest.r[k], b = o.r[k]
            if a.lowerBound < b.lowerBound {
                var piece = rest; piece.r[k] = a.lowerBound...(b.lowerBound - 1); out.append(piece)
            }
            if a.upperBound > b.upperBound {
                var piece = rest; piece.r[k] = (b.upperBound + 1)...a.upperBound; out.append(piece)
            }
            rest.r[k] = max(a.lowerBound, b.lowerBound)...min(a.upperBound, b.upperBound)
        }
        return out
    }

    func point(_ k: Int) -> UInt128? { r[k].lowerBound == r[k].upperBound ? r[k].lowerBound : nil }

    /// The destination addresses the box spans: every address when its destination dimension
    /// holds an offset prefix's bits.
    var destination: ClosedRange<UInt128> {
        masks & Self.destinationOffsetBits == 0 ? r[1] : 0...KeyField.top(dim: 1, v6: v6)
    }

    /// The one destination address of the box, if it has one.
    var destinationPoint: UInt128? {
        let d = destination
        return d.lowerBound == d.upperBound ? d.lowerBound : nil
    }
}

/// Finds the boxes of a group that may overlap a box, through its destination address and
/// destination port when those are single values. Gives up (nil) past `cap` candidates: the
/// caller then treats it as an overlap, which is always safe.
struct BoxIndex {
    struct DP: WordHashable {
        var d: UInt128?
        var p: UInt128?
        /// One word instead of four (each lookup hashes its key).
        var word: UInt64 { BoxIndex.mix(d.map(BoxIndex.fold) ?? 0x9e37_79b9, p.map(BoxIndex.fold) ?? 0x85eb_ca6b) }
    }
    /// A 128-bit value as one word (its halves, the high one multiplied so that IPv6 addresses
    /// differing only there do not cancel out).
    static func fold(_ v: UInt128) -> UInt64 { UInt64(truncatingIfNeeded: v) ^ UInt64(truncatingIfNeeded: v >> 64) &* 0x9e37_79b9_7f4a_7c15 }
    /// Two words as one, each multiplied by its own odd constant: neighbouring addresses and ports
    /// (`d + 1` with `p − k`) do not give the same word, as a plain `d * 31 + p` did.
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 { a &* 0x9e37_79b9_7f4a_7c15 &+ b &* 0xc2b2_ae3d_27d4_eb4f }

    /// The boxes filed under one key, as a list through `nextDP` or `nextD`, oldest first: the
    /// order `MergePlanner.pieces` subtracts them in. Most keys hold one box; an array per key
    /// was an allocation per box, two per insert.
    struct List { var first: Int32 = -1; var last: Int32 = -1; var count = 0 }

    /// The boxes filed, numbered 0, 1, … in the order they came (a group files its boxes in
    /// order: the numbers are their indexes in the group).
    private(set) var count = 0
    private var byDP = WordTable<DP, List>()
    /// By destination alone (`p` nil), for queries without a single port: made at the first
    /// such query, from `destinations`. The boxes of a group whose shape has a port in its key
    /// all have one, so its queries never need it, and it is never made.
    private var byD: WordTable<DP, List>?
    /// Each box's destination point, until `byD` is made.
    private var destinations: [UInt128?] = []
    private var nextDP: [Int32] = []
    private var nextD: [Int32] = []
    static let cap = 4096

    /// Files box number `count`.
    mutating func insert(_ b: Box) {
        let at = Int32(count)
        count += 1
        nextDP.append(-1)
        let d = b.destinationPoint
        Self.append(at, to: &byDP[DP(d: d, p: b.point(3)), default: List()], next: &nextDP)
        if byD == nil {
            destinations.append(d)
        } else {
            nextD.append(-1)
            Self.append(at, to: &byD![DP(d: d, p: nil), default: List()], next: &nextD)
        }
    }

    /// Files every box by destination alone, in insertion order.
    private mutating func makeByDestination() {
        var lists = WordTable<DP, List>()
        nextD = [Int32](repeating: -1, count: count)
        for (at, d) in destinations.enumerated() {
            Self.append(Int32(at), to: &lists[DP(d: d, p: nil), default: List()], next: &nextD)
        }
        byD = lists
        destinations = []
    }

    private static func append(_ at: Int32, to list: inout List, next: inout [Int32]) {
        if list.count == 0 { list.first = at } else { next[Int(list.last)] = at }
        list.last = at
        list.count += 1
    }

    /// Calls `body` with every box that may overlap `q` (until it returns false); false when
    /// there are more than `cap` candidates (then `body` is not called at all).
    mutating func forEachCandidate(_ q: Box, _ body: (Int) -> Bool) -> Bool {
        guard let d = q.destinationPoint else {
            guard count <= Self.cap else { return false }
            for c in 0..<count where !body(c) { break }
            return true
        }
        if q.point(3) == nil && byD == nil { makeByDestination() }
        let none = List()
        let lists: InlineArray<4, List>
        let byPort: Bool
        if let p = q.point(3) {
            lists = [byDP[DP(d: d, p: p)] ?? none, byDP[DP(d: d, p: nil)] ?? none,
                     byDP[DP(d: nil, p: p)] ?? none, byDP[DP(d: nil, p: nil)] ?? none]
            byPort = true
        } else {
            lists = [byD![DP(d: d, p: nil)] ?? none, byD![DP(d: nil, p: nil)] ?? none, none, none]
            byPort = false
        }
        guard lists[0].count + lists[1].count + lists[2].count + lists[3].count <= Self.cap else { return false }
        let next = byPort ? nextDP : nextD
        for i in 0..<4 {
            var at = lists[i].first
            while at >= 0 {
                if !body(Int(at)) { return true }
                at = next[Int(at)]
            }
        }
        return true
    }
}

/// What makes rules mergeable into one: the same family, the same statements outside the key,
/// the same key fields, the same action (up to the limit object, for rate limits) and the same
/// kind of set.
struct MergeShape: Hashable {
    let v6: Bool
    let residual: [[NftExpression]]
    let keys: [KeyField]
    let tail: [NftExpression]
    let limiter: Bool
    /// For rules whose key parts are all aligned blocks — an address prefix, or a single value
    /// — of one size per field: the host bits of each key field (0 for a single value). Such
    /// rules share hash sets (no `flags interval`): the rule masks each address to its prefix
    /// (`ip saddr & 255.255.255.0 . ip daddr . th dport @set`) and looks the masked key up, so the
    /// kernel inserts and finds an element in O(1). Nil when some key part is another range
    /// (a port range, a list of prefixes of different lengths): such rules go to interval sets,
    /// whose inserts cost in proportion to the set's size.
    let hostBits: [Int]?

    var hashed: Bool { hostBits != nil }

    init(v6: Bool, residual: [[NftExpression]], keys: [KeyField], tail: [NftExpression], limiter: Bool, hostBits: [Int]?) {
        self.v6 = v6; self.residual = residual; self.keys = keys; self.tail = tail; self.limiter = limiter; self.hostBits = hostBits
        var q: UInt64 = (v6 ? 1 : 0) | (limiter ? 2 : 0) | UInt64(residual.count) << 2 | UInt64(tail.count) << 8
        for k in keys { q = q &* 31 &+ (UInt64(k.dim) | UInt64(k.prefixBits) << 8 | k.maskSignature << 24) }
        if let hostBits { for b in hostBits { q = q &* 31 &+ UInt64(truncatingIfNeeded: b) } } else { q = q &* 31 &+ .max }
        for r in residual { q = q &* 31 &+ UInt64(r.count) }
        quick = q
    }

    /// A word made of the shape's sizes, key fields and host bits: two shapes that differ in it
    /// differ, so `==` compares it first, and the expression arrays only when it is equal (the
    /// planner looks up every unit's shape among the last few; most of them differ).
    private let quick: UInt64

    static func == (a: MergeShape, b: MergeShape) -> Bool {
        a.quick == b.quick && a.v6 == b.v6 && a.limiter == b.limiter && a.hostBits == b.hostBits && a.keys == b.keys
            && a.tail == b.tail && a.residual == b.residual
    }

    func hash(into h: inout Hasher) {
        h.combine(quick); h.combine(residual); h.combine(tail)
    }

    /// A limit map whose key has a plain-integer part: nft 1.0.6 cannot declare such an object
    /// map, so the rule looks the whole key up in a plain set (declared by `typeof`) and the
    /// limit object up by the key's named parts alone (`limitKeys`), which are disjoint between
    /// the routes of a group (`MergePlanner.pieces`).
    var splitLimiter: Bool { limiter && keys.contains(where: \.needsTypeof) }

    /// The key parts of a split limiter's object map.
    var limitKeys: [KeyField] { keys.filter { !$0.needsTypeof } }

    /// The host bits of `limitKeys` in a hash shape (their addresses masked as in the whole key).
    var limitHostBits: [Int]? { hostBits.map { bits in keys.indices.filter { !keys[$0].needsTypeof }.map { bits[$0] } } }
}

final class MergeGroup {
    let shape: MergeShape
    /// The founding unit's rule on its own (installed when no other unit joins) and its matches
    /// outside the key (the merged rule's residual): kept here, so the planner can let go of
    /// every unit's matches once it is placed.
    let founderSingle: [NftExpression]
    let founderResidual: [Match]
    /// The merged rule's residual match expressions, once made (`MergePlanner.mergedRule`).
    var residualExprs: [NftExpression]?
    var units: [Int] = []
    var boxes: [Box] = []
    var boxUnit: [Int] = []
    /// Holds boxes 0..<index.count: a group read back from a snapshot is indexed only once it is
    /// searched more than a few times (`forEachCandidate`).
    private var index = BoxIndex()
    private var linearSearches = 0
    /// A terminal action (accept or drop, no limit): overlapping elements may be dropped or split.
    let terminal: Bool
    /// For a rate-limit group: unit -> the name of its limit object.
    var limitNames: [Int: String] = [:]
    /// The smallest box holding every element: a box that misses it (another protocol, say)
    /// overlaps no element, without a look at the index.
    var hull: Box?

    // For `IncrementalTable`: a full compile leaves these at their first values.
    /// Units whose elements were cut out of a later unit's (`joinable`): removing one would
    /// leave a hole in the later unit's elements.
    var shadowing: Set<Int> = []
    /// The group's position in `MergePlanner.slots` (kept by `reindex`).
    var slot = -1
    /// Its set's name once emitted as a merged rule (the rule's comment is then `merge <name>`);
    /// nil while it is installed as its founder's own rule, or not yet installed.
    var setName: String?

    init(shape: MergeShape, terminal: Bool, founder: MergeUnit, residual: [Match]) {
        self.shape = shape; self.terminal = terminal
        founderSingle = founder.single
        founderResidual = residual
    }

    /// A group read back from an `IncrementalTable` snapshot (its boxes come with `add`).
    init(shape: MergeShape, terminal: Bool, founderSingle: [NftExpression], residualExprs: [NftExpression]) {
        self.shape = shape; self.terminal = terminal
        self.founderSingle = founderSingle
        founderResidual = []
        self.residualExprs = residualExprs
    }

    /// Adds unit `u`'s elements; returns the indices of its boxes.
    @discardableResult
    func add(_ u: Int, _ bs: [Box], tail: [NftExpression]) -> Range<Int> {
        let first = boxes.count
        if members != nil { members!.position[u] = units.count }
        units.append(u)
        for case .objref(_, let name) in tail { limitNames[u] = name }
        for b in bs {
            if index.count == boxes.count { index.insert(b) }
            boxes.append(b); boxUnit.append(u)
            widenHull(b)
        }
        if members != nil { members!.boxes[u, default: []] += first..<boxes.count }
        return first..<boxes.count
    }

    /// The merged rule's residual match expressions (made once: they may name a value set of
    /// `pool`).
    func residual(pool: inout SetPool) -> [NftExpression] {
        if let r = residualExprs { return r }
        let r = mergePayloadMatches(founderResidual, pool: &pool)
        residualExprs = r
        return r
    }

    func widenHull(_ b: Box) {
        if hull == nil { hull = b } else { hull!.r.widen(b.r) }
    }

    /// Lets the index go (a compile about to emit its sets no longer searches them; at a
    /// million routes the indexes are ~200 MB).
    func dropIndex() {
        index = BoxIndex()
    }

    /// `BoxIndex.forEachCandidate` over the group's boxes; a group not indexed yet is searched
    /// box by box (exhaustively: true) the first few times, then indexed.
    func forEachCandidate(_ q: Box, _ body: (Int) -> Bool) -> Bool {
        if index.count < boxes.count {
            if linearSearches < 64 {
                linearSearches += 1
                for c in boxes.indices where !body(c) { break }
                return true
            }
            for i in index.count..<boxes.count { index.insert(boxes[i]) }
        }
        return index.forEachCandidate(q, body)
    }

    /// Where each unit is in `units` and which boxes are its own: made by `IncrementalTable.build`
    /// or at the 8th removal (a compile never removes), kept up to date after, so that removing a
    /// unit does not scan the group. Until then a removal scans (~50 µs for 80k boxes, where
    /// indexing the group takes ~10 ms: a one-shot `apply` takes out a route or two).
    private var members: (position: [Int: Int], boxes: [Int: [Int]])?
    private var scannedRemovals = 0

    func indexMembers() {
        guard members == nil else { return }
        var position: [Int: Int] = [:], own: [Int: [Int]] = [:]
        position.reserveCapacity(units.count)
        own.reserveCapacity(units.count)
        for (i, u) in units.enumerated() { position[u] = i }
        for (i, u) in boxUnit.enumerated() where u >= 0 { own[u, default: []].append(i) }
        members = (position, own)
    }

    /// The boxes of unit `u`.
    func boxes(of u: Int) -> [Int] {
        members.map { $0.boxes[u] ?? [] } ?? boxUnit.indices.filter { boxUnit[$0] == u }
    }

    /// Removes unit `u`, whose boxes are `own` (`boxes(of:)`), from `units` (the last one takes its
    /// place); its boxes stay, as tombstones (`boxUnit` -1).
    func remove(_ u: Int, boxes own: [Int]) {
        guard let i = members?.position.removeValue(forKey: u) ?? units.firstIndex(of: u) else { return }
        let last = units.removeLast()
        if i < units.count {
            units[i] = last
            members?.position[last] = i
        }
        members?.boxes[u] = nil
        limitNames[u] = nil
        for b in own { boxUnit[b] = -1 }
        scannedRemovals += 1
        if scannedRemovals == 8 { indexMembers() }
    }
}

/// Places the compiler's rules (units) one by one, in order, as they are made (`add`), then
/// makes the rules and sets (`emit`). Only what placing and emitting need is kept of a unit
/// (`UnitInfo`, and a single rule's expressions), not its matches: at a million routes the
/// matches of every unit at once were most of the memory of a merged compile.
struct MergePlanner {
    enum Slot { case single(Int), group(MergeGroup) }

    struct UnitInfo {
        var route: Int
        var identity: String
        /// Equal tails (statements after the matches), equal numbers: the planner compares
        /// tails for every group a unit may pass.
        var tailID: Int
    }

    var units: [UnitInfo] = []
    /// The rule of each unit that stays single.
    var singles: [Int: [NftExpression]] = [:]
    var tailIDs = RecentLookup<[NftExpression]>()
    /// The group each unit joined (nil: it stays single); kept only when `tracksGroups`
    /// (`IncrementalTable`): a million units' references are 10 MB a plain compile does not need.
    var unitGroup: [MergeGroup?] = []
    var tracksGroups = false
    var slots: [Slot] = []
    /// The boxes (one hull each) of units that stay single, for the overlap tests.
    var singleBox: [Int: Box] = [:]
    /// What the chain made so far costs a packet that crosses it (`TableFigures.worstCaseCost`):
    /// a rule per slot, a merged rule (a group of two units or more) as `lookupRuleCost`. Rules
    /// that look up a value set count as 1 here: never more than the finished chain's cost.
    var cost = 0
    /// The slots of each shape's groups that may take more units, ascending, by the shape's number.
    var groupSlots: [[Int]] = []
    var shapeIDs = RecentLookup<MergeShape>()
    /// Every placed box by destination: who may block a unit from joining (`BlockerIndex`).
    /// Only `add` keeps it; `IncrementalTable` places by its own scan once built.
    var blockers = BlockerIndex()
    /// How many slots a unit may move back over when the index cannot tell (a destination wider
    /// than a block): a scan, so bounded; not joining is always safe.
    static let scanLimit = 64
    /// How many groups of its shape a unit tries, from the earliest it may reach.
    static let joinTries = 8
    /// The most set elements one rule may turn into (product of its key ranges).
    static let maxElements = 256
    /// The box dimension of DSCP, which traffic-marking rewrites.
    static let dscpDim = KeyField(.dscp4)!.dim
    /// The most parts of a key declared by `typeof` that nft 1.0.6 lists correctly.
    static let maxTypeofParts = 4
    /// The most elements one interval set may hold. The kernel's insertion into a (concatenated)
    /// interval set costs in proportion to the set's size, so a load is quadratic in it: for 100k
    /// generated routes, interval sets of ~8,000 elements load in 5.0 s, capped at 2,000 in 1.1 s,
    /// at 500 in 0.6 s but with 90 rules for a packet to walk instead of 27 (docs/merging.md). A
    /// group that would grow past the cap closes and the next rule of its shape starts a new
    /// group (and set) where it stands: the same as a rule that found no group, so always safe.
    /// Hash sets (`MergeShape.hostBits`) are not capped: their inserts stay O(1).
    static let maxIntervalElements = 2000

    /// Rules count per route: then a unit may not move past an overlapping rule even of the same
    /// action, or the packets both match would be counted on the wrong route.
    let exactCounters: Bool

    init(exactCounters: Bool) {
        self.exactCounters = exactCounters
    }

    struct Analysis {
        var shape: MergeShape?
        var boxes: [Box]
        var residual: [Match]
    }

    static func isTerminal(_ tail: [NftExpression]) -> Bool {
        if tail.contains(where: { if case .objref = $0 { true } else { false } }) { return false }
        if case .immediateVerdict(let v) = tail.last { return v == .accept || v == .drop }
        return false
    }

    func analyse(_ unit: MergeUnit) -> Analysis {
        let v6 = unit.v6
        var hull = Box.full(v6: v6)
        var keys = [KeyPart]()
        var residual = [Match]()
        residual.reserveCapacity(unit.matches.count)
        keys.reserveCapacity(unit.matches.count)
        var seen: UInt64 = 0   // the key dimensions met (bit per `KeyField.dim`)
        var mergeable = true
        var keyMatches = [Match]()
        keyMatches.reserveCapacity(unit.matches.count)
        // A rule that rewrites DSCP moves packets between DSCP values: its box spans them all,
        // and its own DSCP match is no key part (docs/merging.md, "Why it is safe").
        let rewritesDSCP = unit.tail.contains { if case .payloadSet = $0 { true } else { false } }
        for m in unit.matches {
            guard let k = m.key, !(rewritesDSCP && k.field.dim == Self.dscpDim) else { residual.append(m); continue }
            if let lo = k.ranges.first?.lowerBound, let hi = k.ranges.last?.upperBound {
                let h = hull.r[k.field.dim]
                hull.r[k.field.dim] = max(lo, h.lowerBound)...min(hi, h.upperBound)
                hull.masks |= k.field.maskSignature
            }
            if !k.field.inKey { residual.append(m); continue }
            if seen & (1 << UInt64(k.field.dim)) != 0 { mergeable = false }
            seen |= 1 << UInt64(k.field.dim)
            keys.append(k)
            keyMatches.append(m)
        }
        // An interface name has no `typeof` form here (nft records `meta iifname` unlike a
        // payload field): a key declared by `typeof` leaves the name in the residual, where
        // routes of the same interface scope still share a rule.
        if keys.contains(where: \.field.needsTypeof), let i = keys.firstIndex(where: { $0.field.dim == KeyField.interfaceDim }) {
            keys.remove(at: i); residual.append(keyMatches.remove(at: i))
        }
        // nft 1.0.6 cannot declare an object map by `typeof` (nor one typed `integer` in a
        // concatenation): a rate-limited rule's plain-integer parts stay in the residual.
        // A limit map keyed on plain integers needs a named part to hold its objects by
        // (`MergeShape.splitLimiter`); without one, they stay in the residual — for the rule of
        // what conforms to the limit too, which keeps the same key parts as the limit map.
        if unit.rateLimited && !keys.contains(where: { !$0.field.needsTypeof }) {
            for i in keys.indices.reversed() where keys[i].field.needsTypeof {
                keys.remove(at: i); residual.append(keyMatches.remove(at: i))
            }
        }
        // nft 1.0.6 keeps the `typeof` of at most four key parts (a longer one lists wrongly):
        // past four, plain-integer parts go back into the residual, last first.
        if keys.count > Self.maxTypeofParts && keys.contains(where: \.field.needsTypeof) {
            var i = keys.count - 1
            while keys.count > Self.maxTypeofParts && i >= 0 {
                if keys[i].field.needsTypeof { keys.remove(at: i); residual.append(keyMatches.remove(at: i)) }
                i -= 1
            }
            if keys.contains(where: \.field.needsTypeof) && keys.count > Self.maxTypeofParts { mergeable = false }
        }
        // A lone raw key part that nft names by its field in a lookup of one key (`tcp flags`,
        // typed `tcp_flag`) could not be declared as the plain integer it is: not a key alone.
        if keys.count == 1, case .raw? = keys[0].field.field.row.typeof, !keys[0].field.field.row.rawInLookups {
            keys.removeAll()
            residual.append(keyMatches.removeFirst())
        }
        var tail = unit.tail
        var limiter = false
        if tail.contains(where: { if case .objref = $0 { true } else { false } }) {
            // A limit with a log would log only the excess once merged (the map comes first).
            if tail.contains(where: { if case .log = $0 { true } else { false } }) { mergeable = false }
            tail.removeAll { if case .objref = $0 { true } else { false } }
            limiter = true
        }
        let count = keys.reduce(1) { $0 * $1.ranges.count }
        guard mergeable, !keys.isEmpty, count <= Self.maxElements else {
            return Analysis(shape: nil, boxes: [hull], residual: residual)
        }
        keys.sort { $0.field.dim < $1.field.dim }
        var boxes = [hull]
        for k in keys {
            var next = [Box]()
            next.reserveCapacity(boxes.count * k.ranges.count)
            for b in boxes { for r in k.ranges { var c = b; c.r[k.field.dim] = r; next.append(c) } }
            boxes = next
        }
        let shape = MergeShape(v6: v6, residual: residual.map(\.exprs), keys: keys.map(\.field), tail: tail,
                               limiter: limiter, hostBits: Self.hostBits(keys))
        return Analysis(shape: shape, boxes: boxes, residual: residual)
    }

    /// The host bits of each key part when every range of the part is an aligned block of one
    /// size (`lo` a multiple of the size, the size a power of two) that the rule can mask to:
    /// any size for addresses (a prefix), size 1 (one value) for the other fields. Nil otherwise.
    static func hostBits(_ keys: [KeyPart]) -> [Int]? {
        var out = [Int]()
        out.reserveCapacity(keys.count)
        for k in keys {
            guard let first = k.ranges.first else { return nil }
            let span = first.upperBound - first.lowerBound
            // span + 1 must be a power of two: span is then all ones (0, 1, 3, 7, …).
            guard span & (span &+ 1) == 0 else { return nil }
            let bits = span == 0 ? 0 : UInt128.bitWidth - span.leadingZeroBitCount
            guard bits == 0 || k.field.dim <= 1 else { return nil }
            for r in k.ranges where r.upperBound - r.lowerBound != span || r.lowerBound & span != 0 { return nil }
            out.append(bits)
        }
        return out
    }

    /// The boxes `u` adds to the group in slot `at`, or nil when moving it there is not provably
    /// safe (docs/merging.md: it may pass a rule only if no packet matches both or, when rules
    /// do not count per route, both have the same action; inside the group it may overlap only
    /// elements of the same terminal action).
    /// Also returns the units of the group whose elements were cut out of `u`'s.
    func joinable(_ u: Int, _ boxes: [Box], at: Int) -> (boxes: [Box], shadowing: [Int])? {
        guard case .group(let g) = slots[at] else { return nil }
        let tail = units[u].tailID
        for s in slots[(at + 1)...] {
            switch s {
            case .single(let v):
                if units[v].tailID != tail || exactCounters, let b = singleBox[v], boxes.contains(where: { $0.overlaps(b) }) { return nil }
            case .group(let h):
                guard h.shape.v6 == g.shape.v6 else { continue }
                if h.terminal && units[h.units[0]].tailID == tail && !exactCounters { continue }
                for b in boxes where h.hull?.overlaps(b) ?? false {
                    var clash = false
                    let searched = h.forEachCandidate(b) { c in
                        clash = h.boxUnit[c] >= 0 && h.boxes[c].overlaps(b) && (units[h.boxUnit[c]].tailID != tail || exactCounters)
                        return !clash
                    }
                    if clash || !searched { return nil }
                }
            }
        }
        return Self.pieces(of: boxes, in: g, exhaustive: false)
    }

    /// `boxes` minus the live elements of `g` they overlap — allowed only in a terminal group,
    /// where an overlap has the same action — and the units those elements belong to. Nil when
    /// not allowed, or past `maxElements` pieces, or (unless `exhaustive`) when the group's index
    /// gives up.
    static func pieces(of boxes: [Box], in g: MergeGroup, exhaustive: Bool) -> (boxes: [Box], shadowing: [Int])? {
        if g.shape.splitLimiter && !limitKeysDisjoint(boxes, in: g, exhaustive: exhaustive) { return nil }
        var out = [Box]()
        var shadowing = [Int]()
        // The group's arrays as locals: read through the class in the closure, every element
        // read was an exclusivity check.
        let boxUnit = g.boxUnit, groupBoxes = g.boxes, terminal = g.terminal
        for b in boxes {
            var pieces = [b]
            var refused = false
            let visit = { (c: Int) -> Bool in
                guard boxUnit[c] >= 0, groupBoxes[c].overlaps(b) else { return true }
                guard terminal else { refused = true; return false }
                pieces = pieces.flatMap { $0.subtracting(groupBoxes[c]) }
                shadowing.append(boxUnit[c])
                if pieces.count > Self.maxElements { refused = true; return false }
                return true
            }
            var searched = g.forEachCandidate(b, visit)
            if !searched && exhaustive {
                searched = true
                for c in groupBoxes.indices where !visit(c) { break }
            }
            if refused || !searched { return nil }
            out += pieces
        }
        return (out, shadowing)
    }

    /// A box with only the limit map's key parts of `shape` narrowed (the others whole).
    static func limitBox(_ b: Box, _ shape: MergeShape) -> Box {
        var p = Box.full(v6: b.v6)
        for k in shape.limitKeys { p.r[k.dim] = b.r[k.dim] }
        return p
    }

    /// Whether `boxes` (one unit's) meet no element of another unit of `g` in the limit map's key
    /// parts: the object map then gives each packet the limit of the one route whose whole key
    /// it matched. Nil-safe: a search the group's index gives up counts as a meeting.
    static func limitKeysDisjoint(_ boxes: [Box], in g: MergeGroup, exhaustive: Bool) -> Bool {
        for b in boxes {
            let q = limitBox(b, g.shape)
            var met = false
            let visit = { (c: Int) -> Bool in
                met = g.boxUnit[c] >= 0 && limitBox(g.boxes[c], g.shape).overlaps(q)
                return !met
            }
            var searched = g.forEachCandidate(q, visit)
            if !searched && exhaustive {
                searched = true
                for c in g.boxes.indices where !visit(c) { break }
            }
            if met || !searched { return false }
        }
        return true
    }

    /// Places the next unit: in a group of its shape when that is provably safe (the earliest
    /// after every rule it may not pass, found by `blockers`; or, when the index cannot tell,
    /// the latest group, within `scanLimit` slots, by `joinable`)
    /// (`joinable`), else where it stands, as a new group or a single rule.
    mutating func add(_ unit: MergeUnit) {
        let u = register(unit)
        let a = analyse(unit)
        let tail = units[u].tailID
        guard let shape = a.shape else {
            singleBox[u] = a.boxes[0]
            singles[u] = unit.single
            blockers.insert(a.boxes[0], slot: slots.count, tail: tail)
            slots.append(.single(u))
            cost += 1
            return
        }
        let shapeID = shapeIDs.id(of: shape)
        if shapeID == groupSlots.count { groupSlots.append([]) }
        let gs = groupSlots[shapeID]
        if let last = gs.last {
            func join(_ at: Int, _ pieces: (boxes: [Box], shadowing: [Int])?) -> Bool {
                guard case .group(let g) = slots[at], let (boxes, shadowing) = pieces,
                      shape.hashed || g.boxes.count + boxes.count <= Self.maxIntervalElements else { return false }
                g.add(u, boxes, tail: unit.tail)
                if g.units.count == 2 { cost += Tuning.lookupRuleCost - 1 }
                for b in boxes { blockers.insert(b, slot: at, tail: tail) }
                g.shadowing.formUnion(shadowing)
                if tracksGroups { unitGroup[u] = g }
                // A full interval group takes no more units: no use trying it again.
                if !shape.hashed && g.boxes.count > Self.maxIntervalElements - Self.maxElements {
                    groupSlots[shapeID].removeAll { $0 == at }
                }
                return true
            }
            if let b = blockers.lastBlocker(a.boxes, tail: tail, exactCounters: exactCounters) {
                // Any group of the shape after the last rule the unit may not pass will do — or
                // that rule's own group, where `pieces` decides —, the earliest first, so that
                // overlapping routes of one shape spread over few groups.
                var lo = 0, hi = gs.count
                while lo < hi { let m = (lo + hi) / 2; if gs[m] >= b { hi = m } else { lo = m + 1 } }
                for at in gs[lo..<min(gs.count, lo + Self.joinTries)] {
                    guard case .group(let g) = slots[at], shape.hashed || g.boxes.count + a.boxes.count <= Self.maxIntervalElements else { continue }
                    if join(at, Self.pieces(of: a.boxes, in: g, exhaustive: false)) { return }
                }
            } else if slots.count - last - 1 <= Self.scanLimit, case .group(let g) = slots[last],
                      shape.hashed || g.boxes.count + a.boxes.count <= Self.maxIntervalElements,
                      join(last, joinable(u, a.boxes, at: last)) {
                return
            }
        }
        let g = MergeGroup(shape: shape, terminal: !shape.limiter && Self.isTerminal(unit.tail), founder: unit, residual: a.residual)
        g.add(u, a.boxes, tail: unit.tail)
        for b in a.boxes { blockers.insert(b, slot: slots.count, tail: tail) }
        if tracksGroups { unitGroup[u] = g }
        groupSlots[shapeID].append(slots.count)
        slots.append(.group(g))
        cost += 1
    }

    /// Makes room for about `n` more units (the routes a compile is about to add).
    mutating func reserve(units n: Int) {
        units.reserveCapacity(units.count + n)
        blockers.reserve(n)
    }

    /// Records `unit` as the next unit (its tail numbered, see `UnitInfo`), placed nowhere yet;
    /// returns its number.
    mutating func register(_ unit: MergeUnit) -> Int {
        let tailID = tailIDs.id(of: unit.tail)
        units.append(UnitInfo(route: unit.route, identity: unit.identity, tailID: tailID))
        if tracksGroups { unitGroup.append(nil) }
        return units.count - 1
    }

    /// The destinations each rule `emit` makes can match, in its order (`MergedDispatch`).
    func destinationCoverage() -> [DestinationCoverage] {
        slots.map { s in
            switch s {
            case .single(let u):
                singleBox[u].map { DestinationCoverage(v6: $0.v6, boxes: [$0]) } ?? .everywhere
            case .group(let g):
                DestinationCoverage(v6: g.shape.v6, boxes: g.boxes.indices.lazy.filter { g.boxUnit[$0] >= 0 }.map { g.boxes[$0] })
            }
        }
    }

    /// The rules, their routes, the merged rules and their sets.
    func emit(pool: inout SetPool) -> ([NftRule], [Int], [MergedRule], [NftSet]) {
        var rules = [NftRule](), ruleRoutes = [Int](), merged = [MergedRule](), sets = [NftSet]()
        var shapeCount: [String: Int] = [:]
        rules.reserveCapacity(slots.count)
        for s in slots {
            switch s {
            case .single(let u):
                rules.append(NftRule(expressions: singles[u] ?? [], comment: units[u].identity))
                ruleRoutes.append(units[u].route)
            case .group(let g):
                if g.setName == nil && g.units.count == 1 {
                    let u = g.units[0]
                    rules.append(NftRule(expressions: g.founderSingle, comment: units[u].identity))
                    ruleRoutes.append(units[u].route)
                    continue
                }
                let (rule, groupSets) = mergedRule(g, pool: &pool) { base in
                    shapeCount[base, default: 0] += 1
                    let n = shapeCount[base]!
                    return n > 1 ? base + "_\(n)" : base
                }
                let set = groupSets[0]
                g.setName = set.name
                merged.append(MergedRule(rule: rules.count, set: set.name, routes: Array(Set(g.units.map { units[$0].route })).sorted(),
                                         elementRoutes: g.boxUnit.compactMap { $0 >= 0 ? units[$0].route : nil }))
                rules.append(rule)
                ruleRoutes.append(units[g.units.first ?? 0].route)
                sets += groupSets
            }
        }
        return (rules, ruleRoutes, merged, sets)
    }

    /// A group's merged rule and its sets (every live element): the set the rule looks up — it keeps the group's name
    /// once it has one; else `name` turns the name the rule's digest gives into the one used —
    /// and, for a split limiter, its object map (that name + `_o`).
    func mergedRule(_ g: MergeGroup, pool: inout SetPool, name: (String) -> String) -> (NftRule, [NftSet]) {
        var set = Self.set(g, elements: g.boxes.indices.filter { g.boxUnit[$0] >= 0 }) { units[$0].identity }
        var exprs = g.residual(pool: &pool)
        let loads = Self.loads(g.shape.keys, hostBits: g.shape.hostBits)
        // Counters per route (docs/merging.md): the set's elements count, so the rule's
        // own counter, which would only add up the group, goes. An object map does not
        // update its elements' counters, so a counted limit map is first looked up as a
        // plain set (`KEY @m limit name KEY map @m`): every packet of the route is counted
        // on its element before the limit decides, as the unmerged rule's counter does.
        let tail = set.elementCounters ? g.shape.tail.filter { if case .counter = $0 { false } else { true } } : g.shape.tail
        // The set's name says what the set is for, never what it holds: the same rule
        // and set definition give the same name in every compilation (the n-th such
        // group gets `_n`), so a delta update changes elements of the installed set
        // instead of replacing it (docs/merging.md).
        if let known = g.setName {
            set.name = known
        } else {
            var d = StableDigest()
            d.addDefinition(set)
            for e in exprs + loads + tail { d.add(e) }
            d.add(g.shape.limiter)
            set.name = name("m" + d.hex)
        }
        let name = set.name
        if g.shape.splitLimiter {
            // The whole key in the plain set (its elements count), then the limit object by the
            // named parts: `KEY @m limit name NAMED map @m_o`.
            var map = Self.limitMap(g) { units[$0].identity }
            map.name = name + "_o"
            exprs += loads + [.lookup(set: name, sreg: .reg1, invert: false)]
            exprs += Self.loads(g.shape.limitKeys, hostBits: g.shape.limitHostBits) + [.objrefMap(set: map.name, sreg: .reg1)]
            exprs += tail
            return (NftRule(expressions: exprs, comment: MergedRule.comment(set: name)), [set, map])
        }
        if set.elementCounters && g.shape.limiter { exprs += loads + [.lookup(set: name, sreg: .reg1, invert: false)] }
        exprs += loads
        exprs.append(g.shape.limiter ? .objrefMap(set: name, sreg: .reg1) : .lookup(set: name, sreg: .reg1, invert: false))
        exprs += tail
        return (NftRule(expressions: exprs, comment: MergedRule.comment(set: name)), [set])
    }

    /// The loads of key parts into consecutive registers, addresses masked to `hostBits`.
    static func loads(_ keys: [KeyField], hostBits: [Int]?) -> [NftExpression] {
        var loads = [NftExpression]()
        var unit: UInt32 = 0
        for (n, k) in keys.enumerated() {
            let reg = unit % 4 == 0 ? NftRegister(rawValue: 1 + unit / 4) : .reg32(unit)
            loads += k.load(reg)
            if let bits = hostBits?[n], bits > 0 {
                let mask = bigEndianBytes(~(UInt128(1) << UInt128(bits) - 1), width: k.width)
                loads.append(.bitwise(sreg: reg, dreg: reg, length: UInt32(k.width), mask: mask,
                                      xor: [UInt8](repeating: 0, count: k.width)))
            }
            unit += UInt32((k.width + 3) / 4)
        }
        return loads
    }

    /// The key bytes of box `b` over `keys`: each value shifted into place (DSCP), big-endian,
    /// padded to 4 bytes per part in a concatenation; the low ends of the ranges, or the high.
    static func encodeKey(_ b: Box, _ keys: [KeyField], high: Bool) -> [UInt8] {
        var out = [UInt8]()
        for k in keys {
            let v = high ? b.r[k.dim].upperBound : b.r[k.dim].lowerBound
            out += bigEndianBytes(v << UInt128(k.shift), width: k.width)
            if keys.count > 1 { out += [UInt8](repeating: 0, count: (4 - k.width % 4) % 4) }
        }
        return out
    }

    /// A split limiter's object map: each unit's distinct limit-key boxes, mapped to its limit
    /// object, commented with its route.
    static func limitMap(_ g: MergeGroup, elements which: [Int]? = nil, comment: (Int) -> String) -> NftSet {
        let keys = g.shape.limitKeys
        let concat = keys.count > 1
        func encode(_ b: Box, high: Bool) -> [UInt8] { encodeKey(b, keys, high: high) }
        let interval = isLimitMapInterval(g)
        var seen = Set<[UInt8]>()
        var elements = [NftSetElement]()
        for i in which ?? Array(g.boxes.indices) where g.boxUnit[i] >= 0 {
            let b = g.boxes[i], u = g.boxUnit[i]
            let lo = encode(b, high: false), hi = encode(b, high: true)
            guard seen.insert(lo + hi).inserted else { continue }
            var e = NftSetElement(key: lo, comment: comment(u))
            if interval && (concat || lo != hi) { e.keyEnd = hi }
            e.objectName = g.limitNames[u]
            elements.append(e)
        }
        return NftSet(name: "", flags: interval ? [.interval, .object] : [.object], keyFields: keys.map(\.type), objectType: .limit,
                      elements: elements)
    }

    /// The set (or object map) of a group with the elements of boxes `which`, unnamed
    /// (`mergedRule` names it): keys padded to 4 bytes per field when concatenated; interval
    /// flags only when some element spans a range. The element of box `i` carries
    /// `comment(unit)`, the identity of the route it came from (at most 120 characters, see
    /// `FlowRoute.identity`: within nft's 128), and when the group's rules count (their tail has
    /// a counter: `CompileOptions.counters`) every element gets a counter of its own.
    static func set(_ g: MergeGroup, elements which: [Int], comment: (Int) -> String) -> NftSet {
        let keys = g.shape.keys
        let concat = keys.count > 1
        let interval = Self.isInterval(g)
        func encode(_ b: Box, high: Bool) -> [UInt8] { encodeKey(b, keys, high: high) }
        var elements = [NftSetElement]()
        elements.reserveCapacity(which.count)
        for i in which {
            let b = g.boxes[i]
            var e = NftSetElement(key: encode(b, high: false), comment: comment(g.boxUnit[i]))
            if interval && (concat || keys.contains { b.point($0.dim) == nil }) { e.keyEnd = encode(b, high: true) }
            if g.shape.limiter && !g.shape.splitLimiter { e.objectName = g.limitNames[g.boxUnit[i]] }
            elements.append(e)
        }
        var flags: NftSet.Flags = interval ? [.interval] : []
        // A split limiter's set is a plain one: its limits are in a map of their own (`limitMap`).
        let objects = g.shape.limiter && !g.shape.splitLimiter
        if objects { flags.insert(.object) }
        let counted = g.shape.tail.contains { if case .counter = $0 { true } else { false } }
        let typeof = keys.contains(where: \.needsTypeof) ? keys.map(\.typeof) : nil
        return NftSet(name: "", flags: flags, keyFields: keys.map(\.type), objectType: objects ? .limit : nil,
                      elementCounters: counted, elements: elements, typeof: typeof)
    }

    /// Whether a split limiter's limit map has `flags interval`: when some box, tombstones too,
    /// spans a range in a limit key part (so that it never changes while the map is installed).
    static func isLimitMapInterval(_ g: MergeGroup) -> Bool {
        // A hash shape's limit keys are masked to one value each, as the whole key's are.
        !g.shape.hashed && g.boxes.contains { b in g.shape.limitKeys.contains { b.point($0.dim) == nil } }
    }

    /// Whether a group's set has `flags interval`: not for hash keys; else when some element
    /// spans a range. Decided by every box ever added (tombstones too), so that it never changes
    /// while the set is installed.
    static func isInterval(_ g: MergeGroup) -> Bool {
        !g.shape.hashed && g.boxes.contains { b in g.shape.keys.contains { b.point($0.dim) == nil } }
    }
}
