import FlowSpec

/// The form of a compiled table (docs/merging.md, "Forms").
public enum TableForm: String, Sendable, Hashable {
    /// One rule (or a few) per route, in order, in the base chain (`--no-merge`).
    case linear
    /// Rules of one shape merged into set lookups, in the base chain.
    case merged
    /// The base chain jumps on the packet's destination address, through an interval verdict
    /// map, to a chain per destination prefix holding the routes that can match it.
    case dispatch
}

/// Whether the compiler may dispatch on the destination (`CompileOptions.dispatch`).
public enum DispatchMode: String, Sendable, Hashable, CaseIterable {
    /// Dispatch when the merged form leaves many rules and dispatch makes a packet meet far
    /// fewer (`Tuning.dispatchConsiderRules`, `Tuning.dispatchGain`).
    case auto
    /// Never: the merged form (or the linear one without merging).
    case never
    /// Whenever some routes can be dispatched (tests, and operators who measured).
    case always
}

/// What a compiled table costs: its size, and the most rules a packet can meet in it.
public struct TableFigures: Sendable, Hashable, CustomStringConvertible {
    public var form: TableForm
    public var rules: Int
    public var sets: Int
    public var chains: Int
    /// The most rules a packet that matches no route can meet: the base chain's rules, plus,
    /// in a dispatch table, for every verdict map the longest path through its chains (the
    /// chain of the most specific prefix and the chains of the prefixes containing it).
    public var worstCaseRules: Int
    /// The same path with a rule that looks a set up (a merged rule) counted as
    /// `Tuning.lookupRuleCost` rules: measured on the mixed workload, a packet crosses a merged
    /// rule (concatenated loads and a set lookup) about four times slower than a rule whose
    /// first comparisons fail. The form decision (`chooseForm`) compares these.
    public var worstCaseCost: Int

    public init(form: TableForm, rules: Int, sets: Int, chains: Int, worstCaseRules: Int, worstCaseCost: Int? = nil) {
        self.form = form; self.rules = rules; self.sets = sets; self.chains = chains; self.worstCaseRules = worstCaseRules
        self.worstCaseCost = worstCaseCost ?? worstCaseRules
    }

    /// The figures of `table`, read from the table alone: the form from its base chain's rules
    /// (a `dispatch <map>` rule, a `merge <set>` rule, or neither).
    public init(_ table: NftTable) {
        let base = table.chains.first { $0.base != nil } ?? table.chains.first
        let comments = base?.rules.lazy.compactMap(\.comment) ?? []
        let form: TableForm = comments.contains { DispatchRule.map(inComment: $0) != nil } ? .dispatch
            : comments.contains { MergedRule.set(inComment: $0) != nil } ? .merged : .linear
        let worst = base.map { table.worstCasePath(fromChain: $0.name, lookupCost: Tuning.lookupRuleCost) } ?? (rules: 0, cost: 0)
        self.init(form: form, rules: table.ruleCount, sets: table.sets.count, chains: table.chains.count,
                  worstCaseRules: worst.rules, worstCaseCost: worst.cost)
    }

    public var description: String {
        "\(form.rawValue) form: \(rules) rules, \(sets) sets, \(chains) chains; a packet meets at most \(worstCaseRules) rules"
    }
}

/// What a dispatch map looks up: the destination address of one family (level 1), then, inside
/// a chain of many rules, the transport protocol, then the source or destination port.
struct DispatchField: Hashable {
    enum Kind: Hashable, CaseIterable { case destination, transportProtocol, sourcePort, destinationPort }
    var kind: Kind
    var v6: Bool

    static func destination(v6: Bool) -> Self { Self(kind: .destination, v6: v6) }

    /// The row of the field table (`PacketField`) this level loads: where it lies, its width and
    /// its key type come from there.
    var packetField: PacketField {
        switch kind {
        case .destination: v6 ? .destination6 : .destination4
        case .transportProtocol: .l4proto
        case .sourcePort: .sourcePort
        case .destinationPort: .destinationPort
        }
    }
    var width: Int { packetField.row.width * 8 }
    var keyType: NftDataType { packetField.row.keyType }
    /// The load into register 1 (no mask: every row here has none).
    var load: NftExpression { Self.loads[packetField.rawValue] }
    /// Every row's load, made once: dispatch asks for it per rule.
    private static let loads: [NftExpression] = PacketField.allCases.map { Field($0).load[0] }
    /// What the chains and maps of this level are named after, inside their parent chain.
    var tag: String {
        switch kind { case .destination: "d"; case .transportProtocol: "p"; case .sourcePort: "sp"; case .destinationPort: "dp" }
    }
    /// The fields a chain of this level's keys is dispatched on next, in order of preference.
    var next: [DispatchField] {
        switch kind {
        case .destination: [DispatchField(kind: .transportProtocol, v6: v6)]
        case .transportProtocol: [DispatchField(kind: .sourcePort, v6: v6), DispatchField(kind: .destinationPort, v6: v6)]
        case .sourcePort, .destinationPort: []
        }
    }
}

extension DispatchField {
    /// The field dispatch rule `rule` looks up in map `map` (`meta nfproto …` then the field's
    /// load and the lookup, as `DispatchBuilder.level` makes it); nil for any other rule.
    init?(dispatchRule rule: NftRule, map: String) {
        let e = rule.expressions
        guard e.count >= 4, case .mapLookup(map, _, .verdict) = e[e.count - 1],
              case .meta(.nfproto, _) = e[0], case .cmp(.eq, _, let family) = e[1] else { return nil }
        let v6 = family == [10]
        guard let kind = Kind.allCases.first(where: { DispatchField(kind: $0, v6: v6).load == e[e.count - 2] }) else { return nil }
        self.init(kind: kind, v6: v6)
    }
}

/// A key a rule can be dispatched on: a destination prefix (offset 0, not /0), or one protocol
/// value (a "prefix" of all 8 bits).
struct DispatchKey: Hashable, Comparable {
    var field: DispatchField
    /// The value as a `width`-bit number, bits past `length` zero.
    var value: UInt128
    var length: Int

    var v6: Bool { field.v6 }
    var width: Int { field.width }
    var hostMask: UInt128 { length == width ? 0 : (UInt128(1) << UInt128(width - length)) &- 1 }
    var start: UInt128 { value }
    var end: UInt128 { value | hostMask }
    /// The largest value of the field.
    var lastValue: UInt128 { width == 128 ? .max : (UInt128(1) << UInt128(width)) - 1 }

    init(field: DispatchField, value: UInt128, length: Int) {
        self.field = field; self.length = length; self.value = value
        self.value = value & ~hostMask
    }

    /// The route's destination prefix, when it can be dispatched on.
    init?(destinationOf route: FlowRoute) {
        guard let p = route.component(.destinationPrefix)?.prefix, p.offset == 0, p.length > 0 else { return nil }
        let v6 = p.family == .ipv6
        let full = UInt128(p.address.high) << 64 | UInt128(p.address.low)
        self.init(field: .destination(v6: v6), value: v6 ? full : full >> 96, length: Int(p.length))
    }

    /// The value rule `rule` matches in `field` exactly (`meta l4proto == 17`, `th sport == 53`:
    /// its load into a register and an equality on it); nil when it matches none, or a list, a
    /// range, or the field merged with another into one load.
    init?(_ field: DispatchField, of rule: NftRule) {
        let e = rule.expressions
        let load = field.load
        for i in e.indices.dropLast() {
            let r: NftRegister
            switch (e[i], load) {
            case (.meta(let k, let reg), .meta(let want, _)) where k == want: r = reg
            case (.payload(let b, let o, let l, let reg), .payload(let wb, let wo, let wl, _)) where b == wb && o == wo && l == wl: r = reg
            default: continue
            }
            guard case .cmp(.eq, r, let d) = e[i + 1], d.count == field.width / 8 else { return nil }
            self.init(field: field, value: d.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }, length: field.width)
            return
        }
        return nil
    }

    func truncated(to l: Int) -> DispatchKey { DispatchKey(field: field, value: value, length: l) }

    func contains(_ o: DispatchKey) -> Bool { o.length >= length && o.truncated(to: length).value == value }

    /// Network-order bytes of a `width`-bit value.
    func bytes(_ v: UInt128) -> [UInt8] { bigEndianBytes(v, width: width / 8) }

    /// RFC 8955 §5.1's order of destination prefixes: a prefix inside another comes first, else
    /// the lower address. Chains are listed in this order (so `show` lists routes in it).
    static func < (a: Self, b: Self) -> Bool {
        if a.contains(b) || b.contains(a) { return a.length > b.length }
        return a.value < b.value
    }

    /// The chain of the rules for this key: `d4_c0000200_32` for a destination (named after what
    /// it is for), `<chain>_p17` for a protocol inside chain `<chain>`.
    func chainName(in parent: String) -> String {
        switch field.kind {
        case .destination:
            let digits = String(value, radix: 16)
            return "d\(v6 ? 6 : 4)_" + String(repeating: "0", count: max(0, width / 4 - digits.count)) + digits + "_\(length)"
        default: return parent + "_" + field.tag + "\(value)"
        }
    }
}

/// Builds the dispatch form from an ordered rule list (`RouteCompiler`'s unmerged rules).
///
/// Per family, consecutive rules with a dispatchable key form a *segment*: one verdict map
/// (`ip daddr vmap @dispatch4`) stands at the segment's first rule, and maps every address to
/// the chain of the most specific destination prefix of the segment containing it. That chain
/// holds, in order, the segment's rules for exactly that prefix, and ends with a `goto` the
/// chain of the next larger prefix of the segment containing it; at the end of that path
/// evaluation returns to the chain after the map. A packet whose destination is in no prefix of
/// the segment skips it in one lookup. Inside a destination's chain of many rules, the same is
/// done again on the transport protocol (`meta l4proto vmap @…`, one chain per protocol
/// value; values do not nest).
///
/// Why it means what the list means: a packet matches only rules whose key contains its value,
/// and meets the segment's such rules ordered by key, most specific first, and by list order
/// within a key. That is list order for every pair of such rules: a rule never joins a segment
/// holding an earlier rule for a strictly larger key (the segment is closed and a new one
/// begins), so an earlier rule is for the same or a smaller key. Rules of the other family never
/// match the same packet, so segments of one family ignore the other's rules; a rule without a
/// key closes its family's segment.
struct DispatchBuilder {
    struct Segment {
        var field: DispatchField
        var firstRule: Int
        var rules: [DispatchKey: [Int]] = [:]
        /// Key lengths present (l for a key of length l, 0...128).
        var lengths: [Bool] = Array(repeating: false, count: 129)
        var ruleCount = 0

        init(field: DispatchField, firstRule: Int) { self.field = field; self.firstRule = firstRule }

        func hasLarger(than d: DispatchKey) -> Bool {
            for l in 1..<d.length where lengths[l] {
                if rules[d.truncated(to: l)] != nil { return true }
            }
            return false
        }
    }

    /// A segment worth a map, with its keys in RFC 8955 order and each key's next larger key.
    struct Layout {
        var segment: Segment
        var order: [DispatchKey]
        var parent: [DispatchKey: DispatchKey]
    }

    enum Item { case rule(Int), segment(Layout) }

    /// The chain's items in order: rules that stay there, and segments at their first rule.
    /// `key(k)` gives rule `k`'s family (0 IPv4, 1 IPv6) and key.
    /// A segment needs `minRules` rules and, on average, `rulesPerKey` rules per key (a chain per
    /// key of one or two rules costs a chain to load and saves a packet nothing).
    static func plan(rules count: Int, key: (Int) -> (family: Int, key: DispatchKey?), minRules: Int, rulesPerKey: Int = 1) -> [(Int, Item)] {
        var items: [(Int, Item)] = []
        var open: [Segment?] = [nil, nil]
        func close(_ f: Int) {
            guard let s = open[f] else { return }
            open[f] = nil
            if s.ruleCount >= minRules && s.ruleCount >= rulesPerKey * s.rules.count {
                let (order, parent) = nesting(s)
                if depth(parent) <= Tuning.dispatchMaxDepth {
                    items.append((s.firstRule, .segment(Layout(segment: s, order: order, parent: parent))))
                    return
                }
            }
            for r in s.rules.values.joined() { items.append((r, .rule(r))) }
        }
        for k in 0..<count {
            let (f, key) = key(k)
            guard let d = key else {
                close(f)
                items.append((k, .rule(k)))
                continue
            }
            if let s = open[f], s.hasLarger(than: d) { close(f) }
            if open[f] == nil { open[f] = Segment(field: d.field, firstRule: k) }
            open[f]!.rules[d, default: []].append(k)
            open[f]!.lengths[d.length] = true
            open[f]!.ruleCount += 1
        }
        close(0); close(1)
        items.sort { $0.0 < $1.0 }
        return items
    }

    /// Each key of the segment with the next larger key of the segment containing it, and the
    /// keys in RFC 8955 order (contained ones first).
    static func nesting(_ s: Segment) -> (order: [DispatchKey], parent: [DispatchKey: DispatchKey]) {
        let byStart = s.rules.keys.sorted { ($0.start, $0.length) < ($1.start, $1.length) }
        var parent: [DispatchKey: DispatchKey] = [:]
        var stack: [DispatchKey] = []
        for p in byStart {
            while let top = stack.last, top.end < p.start { stack.removeLast() }
            if let top = stack.last { parent[p] = top }
            stack.append(p)
        }
        return (s.rules.keys.sorted(), parent)
    }

    /// The most keys nested in one another, given each key's next larger one.
    static func depth(_ parent: [DispatchKey: DispatchKey]) -> Int {
        var memo: [DispatchKey: Int] = [:]
        func d(_ p: DispatchKey) -> Int {
            if let m = memo[p] { return m }
            let v = 1 + (parent[p].map(d) ?? 0)
            memo[p] = v
            return v
        }
        return parent.keys.map(d).max() ?? 1
    }

    /// The interval map of a segment: every value of its keys to the chain of the most specific
    /// key containing it (adjacent intervals of one chain never occur).
    static func intervals(_ s: Segment) -> [(lo: UInt128, hi: UInt128, key: DispatchKey)] {
        let byStart = s.rules.keys.sorted { ($0.start, $0.length) < ($1.start, $1.length) }
        var out: [(lo: UInt128, hi: UInt128, key: DispatchKey)] = []
        // Open keys and the first value of each not yet mapped (nil: none left).
        var stack: [(p: DispatchKey, next: UInt128?)] = []
        func pop() {
            let top = stack.removeLast()
            if let n = top.next, n <= top.p.end { out.append((n, top.p.end, top.p)) }
            if !stack.isEmpty { stack[stack.count - 1].next = top.p.end == top.p.lastValue ? nil : top.p.end + 1 }
        }
        for p in byStart {
            while let top = stack.last, top.p.end < p.start { pop() }
            if let top = stack.last, let n = top.next, n < p.start { out.append((n, p.start - 1, top.p)) }
            stack.append((p, p.start))
        }
        while !stack.isEmpty { pop() }
        return out
    }
}

extension DispatchBuilder {
    /// One level of dispatch over `rules` (keys from `key`) in a chain named `chain`: the chain's
    /// new rules, the chains and the maps it makes. Nil when no segment is worth a map.
    static func level(_ rules: [NftRule], in chain: String, mapName: (DispatchField, Int) -> String,
                      key: (Int) -> (family: Int, key: DispatchKey?), minRules: Int, rulesPerKey: Int = 1)
        -> (rules: [NftRule], chains: [(chain: NftChain, field: DispatchField)], maps: [NftSet])? {
        let items = plan(rules: rules.count, key: key, minRules: minRules, rulesPerKey: rulesPerKey)
        guard items.contains(where: { if case .segment = $0.1 { true } else { false } }) else { return nil }
        var out: [NftRule] = []
        var chains: [(chain: NftChain, field: DispatchField)] = []
        var maps: [NftSet] = []
        var segmentsOf: [DispatchField: Int] = [:]
        for (_, item) in items {
            switch item {
            case .rule(let k): out.append(rules[k])
            case .segment(let layout):
                let s = layout.segment
                segmentsOf[s.field, default: 0] += 1
                let n = segmentsOf[s.field]!
                let suffix = n == 1 ? "" : "_\(n)"
                let map = mapName(s.field, n)
                func chainName(_ p: DispatchKey) -> String { p.chainName(in: chain) + suffix }
                for p in layout.order {
                    let implied = ImpliedMatches.expressions(of: p)
                    var chainRules = s.rules[p]!.map { ImpliedMatches.stripped(rules[$0], of: p, implied: implied) }
                    if let up = layout.parent[p] {
                        chainRules.append(NftRule(expressions: [.immediateVerdict(.goto(chainName(up)))]))
                    }
                    chains.append((NftChain(name: chainName(p), rules: chainRules), p.field))
                }
                let elements = intervals(s).map { iv in
                    NftSetElement(key: iv.key.bytes(iv.lo), keyEnd: iv.lo == iv.hi ? nil : iv.key.bytes(iv.hi),
                                  verdict: .jump(chainName(iv.key)))
                }
                let interval = s.rules.keys.contains { $0.length < $0.width }
                maps.append(NftSet(name: map, flags: interval ? [.map, .interval] : [.map], keyFields: [s.field.keyType],
                                   dataType: .verdict, elements: elements))
                out.append(NftRule(expressions: (s.field.v6 ? RouteCompiler.nfproto6 : RouteCompiler.nfproto4).exprs
                                   + [s.field.load, .mapLookup(set: map, sreg: .reg1, dreg: .verdict)],
                                   comment: DispatchRule.comment(map: map)))
            }
        }
        return (out, chains, maps)
    }

    /// The dispatch form of the base chain `base` (route `ruleRoutes[k]` for rule `k`, whose
    /// destination `destination(i)` gives): the base chain's new rules, the chains and the
    /// verdict maps. Nil when no segment is worth a map.
    static func build(rules: [NftRule], base: String, ruleRoutes: [Int], destination: (Int) -> (v6: Bool, key: DispatchKey?),
                      minRules: Int, protocolMinRules: Int) -> (base: [NftRule], chains: [NftChain], maps: [NftSet])? {
        guard let top = level(rules, in: base, mapName: { f, n in "dispatch\(f.v6 ? 6 : 4)" + (n == 1 ? "" : "_\(n)") }, key: { k in
            let d = destination(ruleRoutes[k])
            return (d.v6 ? 1 : 0, d.key)
        }, minRules: minRules) else { return nil }
        // Further levels inside each destination's chain of many rules: the transport protocol,
        // then the source or the destination port.
        var chains: [NftChain] = []
        var maps = top.maps
        func refine(_ chain: NftChain, field: DispatchField) {
            var c = chain
            let goto = c.rules.last.flatMap { $0.gotoTarget == nil ? nil : $0 }
            let own = goto == nil ? c.rules : Array(c.rules.dropLast())
            if own.count >= protocolMinRules {
                for next in field.next {
                    guard let sub = level(own, in: c.name, mapName: { f, n in c.name + "_" + f.tag + (n == 1 ? "" : "_\(n)") },
                                          key: { k in (next.v6 ? 1 : 0, DispatchKey(next, of: own[k])) },
                                          minRules: Tuning.dispatchMinRules, rulesPerKey: Tuning.refineRulesPerKey) else { continue }
                    c.rules = sub.rules + (goto.map { [$0] } ?? [])
                    chains.append(c)
                    maps += sub.maps
                    for s in sub.chains { refine(s.chain, field: s.field) }
                    return
                }
            }
            chains.append(c)
        }
        for c in top.chains { refine(c.chain, field: c.field) }
        return (top.rules, chains, maps)
    }
}

extension NftRule {
    /// The chain a rule that is only `goto <chain>` goes to (a dispatch chain's last rule); nil
    /// for any other rule.
    var gotoTarget: String? {
        guard expressions.count == 1, case .immediateVerdict(.goto(let c)) = expressions[0] else { return nil }
        return c
    }
}

/// The rule that looks a key up in a dispatch table's verdict map.
public enum DispatchRule {
    /// Its comment: `dispatch <map>`.
    public static func comment(map: String) -> String { "dispatch " + map }

    /// The map a dispatch rule's comment names; nil for another comment.
    public static func map(inComment comment: String) -> String? {
        comment.hasPrefix("dispatch ") ? String(comment.dropFirst(9)) : nil
    }
}

extension NftTable {
    /// The most rules a packet can meet in chain `name` and the chains it jumps or goes to: each
    /// rule counts one; a verdict map adds the costliest chain it leads to, a jump or goto its
    /// target's. Assumes no loops (the kernel refuses them).
    public func worstCaseRules(fromChain name: String) -> Int {
        worstCasePath(fromChain: name, lookupCost: 1).rules
    }

    /// The worst paths from chain `name`: the most rules a packet can meet, and the highest cost,
    /// a rule that looks a set up (`lookup`, an object map) counting as `lookupCost`.
    func worstCasePath(fromChain name: String, lookupCost: Int) -> (rules: Int, cost: Int) {
        let byName = Dictionary(chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let setsByName = Dictionary(sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var memo: [String: (rules: Int, cost: Int)] = [:]
        func path(_ c: String) -> (rules: Int, cost: Int) {
            if let m = memo[c] { return m }
            memo[c] = (0, 0)
            var rules = 0, cost = 0
            func add(_ p: (rules: Int, cost: Int)) { rules += p.rules; cost += p.cost }
            for rule in byName[c]?.rules ?? [] {
                rules += 1
                cost += rule.expressions.contains { e in
                    switch e { case .lookup, .objrefMap: true; default: false }
                } ? lookupCost : 1
                for e in rule.expressions {
                    switch e {
                    case .immediateVerdict(let v): if let t = v.chain { add(path(t)) }
                    case .mapLookup(let s, _, .verdict):
                        // The most rules and the highest cost, each over the chains the map leads to.
                        let paths = setsByName[s]?.elements.compactMap { $0.verdict?.chain }.map(path) ?? []
                        add((paths.map(\.rules).max() ?? 0, paths.map(\.cost).max() ?? 0))
                    default: break
                    }
                }
            }
            memo[c] = (rules, cost)
            return (rules, cost)
        }
        return path(name)
    }
}

extension NftTable {
    /// The rules of chain `name` with each dispatch rule (commented `dispatch <map>`, looking up
    /// a verdict map of this table) replaced by the rules of the chains its map leads to, in the
    /// table's chain order, without their gotos: a linear chain of the same meaning (the
    /// compiler lists a map's chains in RFC 8955 order of their prefixes, a more specific one
    /// first, and their rules carry their destination match). `show` and `fetch` read a
    /// dispatch table through it. A rule of any other kind is kept as it is.
    /// Rule lists that are each in the order of one list they were taken from (the chains of a
    /// dispatch over merged rules, where a rule can be in several chains), merged back into one
    /// list in that order, each rule once; the counts of a rule's copies add up. Lists without a
    /// rule in common are concatenated.
    static func mergedInOrder(_ lists: [[NftRule]]) -> [NftRule] {
        func key(_ r: NftRule) -> NftRule {
            var k = r
            k.expressions = r.expressions.map { if case .counter = $0 { .counter(packets: 0, bytes: 0) } else { $0 } }
            return k
        }
        var id: [NftRule: Int] = [:]
        var nodes: [NftRule] = []
        var edges: [[Int]] = []
        var indegree: [Int] = []
        for list in lists {
            var previous: Int?
            for rule in list {
                let k = key(rule)
                let n: Int
                if let known = id[k] {
                    n = known
                    // The copy's counts add to the rule's.
                    nodes[n].expressions = zip(nodes[n].expressions, rule.expressions).map { a, b in
                        if case .counter(let p, let y) = a, case .counter(let q, let z) = b { .counter(packets: p + q, bytes: y + z) } else { a }
                    }
                } else {
                    n = nodes.count
                    id[k] = n
                    nodes.append(rule); edges.append([]); indegree.append(0)
                }
                if let p = previous, p != n { edges[p].append(n); indegree[n] += 1 }
                previous = n
            }
        }
        if nodes.count == lists.reduce(0, { $0 + $1.count }) { return lists.flatMap { $0 } }
        // Kahn's order, the rule first seen first among those ready: a binary heap of node numbers.
        var heap: [Int] = []
        func push(_ x: Int) {
            heap.append(x)
            var i = heap.count - 1
            while i > 0, heap[(i - 1) / 2] > heap[i] { heap.swapAt(i, (i - 1) / 2); i = (i - 1) / 2 }
        }
        func pop() -> Int {
            let top = heap[0]
            heap[0] = heap[heap.count - 1]
            heap.removeLast()
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l] < heap[m] { m = l }
                if r < heap.count && heap[r] < heap[m] { m = r }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
            return top
        }
        for n in nodes.indices where indegree[n] == 0 { push(n) }
        var out: [NftRule] = []
        out.reserveCapacity(nodes.count)
        while !heap.isEmpty {
            let n = pop()
            out.append(nodes[n])
            for m in edges[n] { indegree[m] -= 1; if indegree[m] == 0 { push(m) } }
        }
        return out
    }

    public func linearRules(ofChain name: String) -> [NftRule] {
        guard let chain = chains.first(where: { $0.name == name }) else { return [] }
        guard chain.rules.contains(where: { $0.comment.flatMap(DispatchRule.map(inComment:)) != nil }) else { return chain.rules }
        var chainIndex: [String: Int] = [:]
        for (i, c) in chains.enumerated() where chainIndex[c.name] == nil { chainIndex[c.name] = i }
        var setIndex: [String: Int] = [:]
        for (i, s) in sets.enumerated() where setIndex[s.name] == nil { setIndex[s.name] = i }
        func dispatchMap(_ rule: NftRule) -> NftSet? {
            guard let map = rule.comment.flatMap(DispatchRule.map(inComment:)),
                  rule.expressions.contains(where: { if case .mapLookup(map, _, .verdict) = $0 { true } else { false } }) else { return nil }
            return setIndex[map].map { sets[$0] }
        }
        func linear(_ rules: [NftRule], depth: Int) -> [NftRule] {
            // Dispatch over merged rules (`MergedDispatch`): maps that `goto` chains which each hold
            // every rule a destination meets, the rules without a destination included. Each chain,
            // and the base chain's other rules, is in the merged chain's order: merged back into it.
            let maps = rules.compactMap(dispatchMap)
            if depth < 16, !maps.isEmpty, maps.allSatisfy({ $0.elements.allSatisfy { if case .goto = $0.verdict { true } else { false } } }) {
                var seen = Set<Int>()
                var lists: [[NftRule]] = []
                for map in maps {
                    for e in map.elements {
                        guard let c = e.verdict?.chain, let i = chainIndex[c], seen.insert(i).inserted else { continue }
                        lists.append(linear(chains[i].rules, depth: depth + 1))
                    }
                }
                lists.append(rules.filter { dispatchMap($0) == nil })
                return Self.mergedInOrder(lists)
            }
            var out: [NftRule] = []
            for rule in rules {
                guard depth < 16, let map = rule.comment.flatMap(DispatchRule.map(inComment:)),
                      rule.expressions.contains(where: { if case .mapLookup(map, _, .verdict) = $0 { true } else { false } }),
                      let set = setIndex[map].map({ sets[$0] }) else {
                    out.append(rule)
                    continue
                }
                // The chains the map leads to, and those they go on to, in the table's order, each
                // rule with the matches its chain's key implies (`ImpliedMatches`).
                var reached = Set<Int>()
                var pending = set.elements.compactMap { $0.verdict?.chain }
                while let c = pending.popLast() {
                    guard let i = chainIndex[c], reached.insert(i).inserted else { continue }
                    pending += chains[i].rules.compactMap(\.gotoTarget)
                }
                let keys = DispatchField(dispatchRule: rule, map: map).map { dispatchKeys(of: set, field: $0, chainIndex: chainIndex) } ?? [:]
                out += Self.mergedInOrder(reached.sorted().map { i in
                    let rules = linear(chains[i].rules.filter { $0.gotoTarget == nil }, depth: depth + 1)
                    guard let key = keys[chains[i].name] else { return rules }
                    let implied = ImpliedMatches.expressions(of: key)
                    return rules.map { ImpliedMatches.restored($0, of: key, implied: implied) }
                })
            }
            return out
        }
        return linear(chain.rules, depth: 0)
    }
}
