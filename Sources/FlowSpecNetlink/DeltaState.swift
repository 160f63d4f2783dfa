import FlowSpec
import FlowSpecCompiler

/// FNV-1a, 64 bits: a digest that is the same in every process (Swift's `Hasher` is seeded per
/// process), so a table state can be written by one `apply` and trusted by the next.
struct StableDigest {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    mutating func add<S: Sequence>(bytes: S) where S.Element == UInt8 {
        for b in bytes { add(b) }
    }
    mutating func add(_ v: UInt64) {
        var h = value
        for i in 0..<8 { h = (h ^ (v >> UInt64(i * 8) & 0xff)) &* 0x0000_0100_0000_01b3 }
        value = h
    }
    mutating func add(_ v: UInt32) { add(UInt64(v)) }
    mutating func add(_ v: Int32) { add(UInt64(UInt32(bitPattern: v))) }
    mutating func add(_ s: String) {
        add(UInt64(s.utf8.count))
        // Native strings are contiguous UTF-8: one pass over the buffer, not the UTF8View.
        if s.utf8.withContiguousStorageIfAvailable({ add(buffer: $0) }) == nil { add(bytes: s.utf8) }
    }
    mutating func add(_ d: [UInt8]) { add(UInt64(d.count)); d.withUnsafeBufferPointer { add(buffer: $0) } }
    mutating func add(buffer: UnsafeBufferPointer<UInt8>) {
        var v = value
        for b in buffer { v = (v ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        value = v
    }
    mutating func add(_ b: Bool) { add(UInt8(b ? 1 : 0)) }
    mutating func add(_ v: NftVerdict) {
        add(UInt64(UInt32(bitPattern: v.code)))
        if let c = v.chain { add(c) }
    }
    mutating func add(_ l: NftLimit) {
        add(l.rate); add(l.unit.rawValue); add(l.burst); add(l.kind.rawValue); add(l.over)
    }

    /// Every field of the expression, counters' values excepted (they are state, not rule).
    mutating func add(_ e: NftExpression) {
        switch e {
        case .meta(let k, let r): add(UInt8(1)); add(k.rawValue); add(r.rawValue)
        case .metaSet(let k, let r): add(UInt8(2)); add(k.rawValue); add(r.rawValue)
        case .payload(let b, let o, let l, let r): add(UInt8(3)); add(b.rawValue); add(o); add(l); add(r.rawValue)
        case .payloadSet(let b, let o, let l, let r, let ct, let co):
            add(UInt8(4)); add(b.rawValue); add(o); add(l); add(r.rawValue); add(ct); add(co)
        case .exthdr(let x, let r): add(UInt8(5)); add(x.type); add(x.offset); add(x.length); add(x.presence); add(r.rawValue)
        case .cmp(let op, let r, let d): add(UInt8(6)); add(op.rawValue); add(r.rawValue); add(d)
        case .bitwise(let s, let d, let l, let m, let x): add(UInt8(7)); add(s.rawValue); add(d.rawValue); add(l); add(m); add(x)
        case .range(let op, let r, let f, let t): add(UInt8(8)); add(op.rawValue); add(r.rawValue); add(f); add(t)
        case .lookup(let s, let r, let i): add(UInt8(9)); add(s); add(r.rawValue); add(i)
        case .mapLookup(let s, let r, let d): add(UInt8(10)); add(s); add(r.rawValue); add(d.rawValue)
        case .objrefMap(let s, let r): add(UInt8(11)); add(s); add(r.rawValue)
        case .objref(let t, let n): add(UInt8(12)); add(t.rawValue); add(n)
        case .counter: add(UInt8(13))
        case .limit(let l): add(UInt8(14)); add(l)
        case .log(let g, let p): add(UInt8(15)); add(UInt64(g)); add(p ?? "\u{0}")
        case .immediateVerdict(let v): add(UInt8(16)); add(v)
        case .immediateData(let r, let d): add(UInt8(17)); add(r.rawValue); add(d)
        case .unknown(let name): add(UInt8(18)); add(name)
        }
    }

    mutating func add(_ object: NftObject) {
        switch object {
        case .counter(let n): add(UInt8(1)); add(n)
        case .limit(let n, let l): add(UInt8(2)); add(n); add(l)
        }
    }

    mutating func add(_ set: NftSet, includingName: Bool) {
        if includingName { add(set.name) }
        add(set.flags.rawValue)
        add(UInt64(set.keyFields.count))
        for f in set.keyFields { add(f.id); add(f.length) }
        add(set.dataType.map { UInt64($0.id) << 32 | UInt64($0.length) } ?? UInt64.max)
        add(set.objectType?.rawValue ?? UInt32.max)
        add(UInt64(set.elements.count))
        for e in set.elements {
            add(e.key); add(e.keyEnd ?? [0xff, 0xfe]); add(e.objectName ?? "\u{0}")
            if let v = e.verdict { add(v) } else { add(UInt8(0)) }
        }
    }
}

extension NftVerdict {
    /// The chain a jump or goto names.
    fileprivate var chain: String? {
        switch self { case .jump(let c), .goto(let c): c; default: nil }
    }
}

/// Set names that depend only on a set's content.
///
/// The compiler numbers its sets in the order it meets them (`set0`, `set1`, …), so one route
/// inserted near the top renames every later set and every rule using one would look changed.
/// Tables applied through the delta path therefore carry content names (`s` + 16 hex digits of
/// the set's digest): the same values give the same name in every compilation, and a rule's
/// expressions compare equal exactly when the rule does. A digest collision between two sets of
/// one table is resolved with a suffix; between an old and a new table it is as improbable as
/// any 64-bit collision (and would at worst keep an old set of a changed rule; see docs).
public enum ContentSetNames {
    public static func apply(_ table: NftTable) -> NftTable {
        var table = table
        apply(to: &table)
        return table
    }

    /// The same, in place: with the table uniquely held, only the renamed lookups are written
    /// (no copy of the rules; the rules of a million-route table are most of `apply`'s memory).
    public static func apply(to table: inout NftTable) {
        guard !table.sets.isEmpty else { return }
        var rename: [String: String] = [:]
        var used: Set<String> = []
        for i in table.sets.indices {
            var d = StableDigest()
            d.add(table.sets[i], includingName: false)
            var name = "s" + hex(d.value)
            var n = 2
            while used.contains(name) { name = "s" + hex(d.value) + "_\(n)"; n += 1 }
            used.insert(name)
            rename[table.sets[i].name] = name
            table.sets[i].name = name
        }
        for c in table.chains.indices {
            for r in table.chains[c].rules.indices {
                for k in table.chains[c].rules[r].expressions.indices {
                    switch table.chains[c].rules[r].expressions[k] {
                    case .lookup(let s, let reg, let inv):
                        if let n = rename[s] { table.chains[c].rules[r].expressions[k] = .lookup(set: n, sreg: reg, invert: inv) }
                    case .mapLookup(let s, let reg, let d):
                        if let n = rename[s] { table.chains[c].rules[r].expressions[k] = .mapLookup(set: n, sreg: reg, dreg: d) }
                    case .objrefMap(let s, let reg):
                        if let n = rename[s] { table.chains[c].rules[r].expressions[k] = .objrefMap(set: n, sreg: reg) }
                    default: break
                    }
                }
            }
        }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// What delta planning needs to know about an installed table: per route (a run of consecutive
/// rules carrying the same route identity as their comment), a digest of its rules and the
/// kernel handles of those rules; the sets and named objects present. Built from a table this
/// process committed (`NftConnection.applyTracked`, `applyDelta`) or read back (`init(installed:)`).
///
/// Only tables of the compiler's unmerged form qualify: one base chain, no other chains, every
/// rule commented with exactly one route identity. A table with rules covering several routes
/// (the set-merged form) has no state, and delta falls back to a full replace.
public struct TableState: Sendable, Hashable {
    public struct ObjectEntry: Sendable, Hashable {
        public var type: NftObjectType
        public var digest: UInt64
        public init(type: NftObjectType, digest: UInt64) { self.type = type; self.digest = digest }
    }

    public struct Route: Sendable, Hashable {
        public var identity: String
        /// Digest of the route's rules (expressions, comment; counter values ignored) and of the
        /// named objects they use, so a changed rate limit changes the route.
        public var digest: UInt64
        public var handles: [UInt64]
        public init(identity: String, digest: UInt64, handles: [UInt64]) {
            self.identity = identity; self.digest = digest; self.handles = handles
        }
    }

    public var table: String
    public var family: NftFamily
    public var chain: String
    /// Digest of the base chain's definition (type, hook, priority, policy).
    public var chainDigest: UInt64
    public var routes: [Route]
    /// Names of the sets present (content names: the name implies the content).
    public var sets: Set<String>
    /// Named objects present: type and digest.
    public var objects: [String: ObjectEntry]
    /// The ruleset generation right after this state was committed or read; 0 if unknown.
    public var generation: UInt32

    public init(table: String, family: NftFamily, chain: String, chainDigest: UInt64, routes: [Route],
                sets: Set<String>, objects: [String: ObjectEntry], generation: UInt32) {
        self.table = table; self.family = family; self.chain = chain; self.chainDigest = chainDigest
        self.routes = routes; self.sets = sets; self.objects = objects; self.generation = generation
    }

    /// The state of an installed table read back through netlink; nil if it is not of the form
    /// delta handles (see the type's documentation).
    public init?(installed: InstalledTable, generation: UInt32 = 0) {
        let t = installed.table
        guard t.chains.count == 1, let handles = installed.ruleHandles[t.chains[0].name] ?? (t.chains[0].rules.isEmpty ? [] : nil),
              handles.count == t.chains[0].rules.count,
              let shape = TableShape(t) else { return nil }
        self.init(shape: shape, handles: { handles[$0] }, generation: generation)
    }

    /// The state of `shape`'s table once committed, its rule `i` having handle `handle(i)`.
    init(shape: TableShape, handles: (Int) -> UInt64, generation: UInt32) {
        var routes: [Route] = []
        routes.reserveCapacity(shape.routes.count)
        for r in shape.routes {
            routes.append(Route(identity: r.identity, digest: r.digest, handles: r.rules.map(handles)))
        }
        self.init(table: shape.tableName, family: shape.family, chain: shape.chainName, chainDigest: shape.chainDigest,
                  routes: routes, sets: Set(shape.setNames), objects: shape.objectEntries, generation: generation)
    }

    public var ruleCount: Int { routes.reduce(0) { $0 + $1.handles.count } }
}

/// A table cut into routes: runs of consecutive rules with one route identity as comment.
struct TableShape {
    struct Route {
        var identity: String
        var rules: Range<Int>
        var digest: UInt64
    }
    // What the state needs of the table itself (not the table: a caller may release its rules
    // once this is made).
    let tableName: String
    let family: NftFamily
    let chainName: String
    let setNames: [String]
    var routes: [Route] = []
    var chainDigest: UInt64
    var objectEntries: [String: TableState.ObjectEntry] = [:]

    /// Nil when the table is not one base chain of rules each carrying one route identity.
    init?(_ table: NftTable) {
        guard table.chains.count == 1, let base = table.chains[0].base else { return nil }
        tableName = table.name
        family = table.family
        chainName = table.chains[0].name
        setNames = table.sets.map(\.name)
        var c = StableDigest()
        c.add(table.chains[0].name); c.add(base.type); c.add(base.hook.rawValue); c.add(base.priority)
        c.add(base.policy.rawValue)
        chainDigest = c.value
        for o in table.objects {
            var d = StableDigest(); d.add(o); objectEntries[o.name] = .init(type: o.type, digest: d.value)
        }
        let rules = table.chains[0].rules
        var seen: Set<String> = []
        seen.reserveCapacity(rules.count)
        routes.reserveCapacity(rules.count)
        objectEntries.reserveCapacity(table.objects.count)
        var i = 0
        while i < rules.count {
            guard let id = rules[i].comment, Self.isRouteIdentity(id), seen.insert(id).inserted else { return nil }
            var j = i
            var d = StableDigest()
            d.add(id)
            while j < rules.count && rules[j].comment == id {
                d.add(UInt8(0xee))
                // By index: the expressions are read in place (iterating would copy each one).
                for k in rules[j].expressions.indices {
                    d.add(rules[j].expressions[k])
                    if case .objref(_, let name) = rules[j].expressions[k] { d.add(objectEntries[name]?.digest ?? 0) }
                }
                j += 1
            }
            routes.append(Route(identity: id, rules: i..<j, digest: d.value))
            i = j
        }
    }

    /// `4:<hex>`, `6:<hex>` (the NLRI) or the hashed `4#…`/`6#…` form: one route, not a merge.
    static func isRouteIdentity(_ s: String) -> Bool {
        let u = s.utf8
        guard u.count > 2, let f = u.first, f == UInt8(ascii: "4") || f == UInt8(ascii: "6") else { return false }
        let sep = u[u.index(after: u.startIndex)]
        guard sep == UInt8(ascii: ":") || sep == UInt8(ascii: "#") else { return false }
        return u.dropFirst(2).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
