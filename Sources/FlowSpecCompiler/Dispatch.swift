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

    public init(form: TableForm, rules: Int, sets: Int, chains: Int, worstCaseRules: Int) {
        self.form = form; self.rules = rules; self.sets = sets; self.chains = chains; self.worstCaseRules = worstCaseRules
    }

    public var description: String {
        "\(form.rawValue) form: \(rules) rules, \(sets) sets, \(chains) chains; a packet meets at most \(worstCaseRules) rules"
    }
}

/// A destination prefix a rule can be dispatched on: offset 0, not /0.
struct DestinationPrefix: Hashable, Comparable {
    var v6: Bool
    /// The address as a `width`-bit number, host bits zero.
    var value: UInt128
    var length: Int

    var width: Int { v6 ? 128 : 32 }
    var hostMask: UInt128 { length == width ? 0 : (UInt128(1) << UInt128(width - length)) &- 1 }
    var start: UInt128 { value }
    var end: UInt128 { value | hostMask }
    /// The largest address of the family.
    var lastAddress: UInt128 { v6 ? .max : 0xffff_ffff }

    init(v6: Bool, value: UInt128, length: Int) {
        self.v6 = v6; self.length = length
        let w = v6 ? 128 : 32
        let host: UInt128 = length == w ? 0 : (UInt128(1) << UInt128(w - length)) &- 1
        self.value = value & ~host
    }

    /// The route's destination prefix, when it can be dispatched on.
    init?(_ route: FlowRoute) {
        guard let p = route.component(.destinationPrefix)?.prefix, p.offset == 0, p.length > 0 else { return nil }
        let v6 = p.family == .ipv6
        let full = UInt128(p.address.high) << 64 | UInt128(p.address.low)
        self.init(v6: v6, value: v6 ? full : full >> 96, length: Int(p.length))
    }

    func truncated(to l: Int) -> DestinationPrefix { DestinationPrefix(v6: v6, value: value, length: l) }

    func contains(_ o: DestinationPrefix) -> Bool { o.length >= length && o.truncated(to: length).value == value }

    /// Network-order bytes of a `width`-bit value.
    func bytes(_ v: UInt128) -> [UInt8] { bigEndianBytes(v, width: width / 8) }

    /// RFC 8955 §5.1's order of destination prefixes: a prefix inside another comes first, else
    /// the lower address. Chains are listed in this order (so `show` lists routes in it).
    static func < (a: Self, b: Self) -> Bool {
        if a.contains(b) || b.contains(a) { return a.length > b.length }
        return a.value < b.value
    }

    /// `d4_c0000200_32`: the chain of the routes for this destination (named after what it is for).
    var chainName: String {
        let digits = String(value, radix: 16)
        return "d\(v6 ? 6 : 4)_" + String(repeating: "0", count: max(0, width / 4 - digits.count)) + digits + "_\(length)"
    }
}

/// Builds the dispatch form from an ordered rule list (`RouteCompiler`'s unmerged rules).
///
/// Per family, consecutive rules with a dispatchable destination form a *segment*: one verdict
/// map (`ip daddr vmap @dispatch4`) stands at the segment's first rule, and maps every address
/// to the chain of the most specific destination prefix of the segment containing it. That
/// chain holds, in order, the segment's rules for exactly that prefix, and ends with a `goto`
/// the chain of the next larger prefix of the segment containing it; at the end of that path
/// evaluation returns to the base chain after the map. A packet whose destination is in no
/// prefix of the segment skips it in one lookup.
///
/// Why it means what the list means: a packet matches only rules whose prefix contains its
/// destination, and meets the segment's such rules ordered by prefix, most specific first, and
/// by list order within a prefix. That is list order for every pair of such rules: a rule never
/// joins a segment holding an earlier rule for a strictly larger prefix (the segment is closed
/// and a new one begins), so an earlier rule is for the same or a smaller prefix. Rules of the
/// other family never match the same packet, so segments of one family ignore the other's rules;
/// a rule without a dispatchable destination closes its family's segment.
struct DispatchBuilder {
    struct Segment {
        var v6: Bool
        var firstRule: Int
        var rules: [DestinationPrefix: [Int]] = [:]
        /// Prefix lengths present (bit l set for a prefix of length l, 0...128).
        var lengths: [Bool] = Array(repeating: false, count: 129)
        var ruleCount = 0

        func hasLarger(than d: DestinationPrefix) -> Bool {
            for l in 1..<d.length where lengths[l] {
                if rules[d.truncated(to: l)] != nil { return true }
            }
            return false
        }
    }

    enum Item { case rule(Int), segment(Segment) }

    /// The base chain's items in order: rules that stay there, and segments at their first rule.
    static func plan(rules count: Int, destination: (Int) -> (v6: Bool, prefix: DestinationPrefix?), minRules: Int) -> [(Int, Item)] {
        var items: [(Int, Item)] = []
        var open: [Segment?] = [nil, nil]
        func close(_ f: Int) {
            guard let s = open[f] else { return }
            open[f] = nil
            if s.ruleCount >= minRules && depth(of: s) <= Tuning.dispatchMaxDepth {
                items.append((s.firstRule, .segment(s)))
            } else {
                for r in s.rules.values.joined() { items.append((r, .rule(r))) }
            }
        }
        for k in 0..<count {
            let (v6, prefix) = destination(k)
            let f = v6 ? 1 : 0
            guard let d = prefix else {
                close(f)
                items.append((k, .rule(k)))
                continue
            }
            if let s = open[f], s.hasLarger(than: d) { close(f) }
            if open[f] == nil { open[f] = Segment(v6: v6, firstRule: k) }
            open[f]!.rules[d, default: []].append(k)
            open[f]!.lengths[d.length] = true
            open[f]!.ruleCount += 1
        }
        close(0); close(1)
        items.sort { $0.0 < $1.0 }
        return items
    }

    /// Each prefix of the segment with the next larger prefix of the segment containing it, in
    /// RFC 8955 order (contained ones first), and the most chains a path goes through.
    static func nesting(_ s: Segment) -> (order: [DestinationPrefix], parent: [DestinationPrefix: DestinationPrefix]) {
        let byStart = s.rules.keys.sorted { ($0.start, $0.length) < ($1.start, $1.length) }
        var parent: [DestinationPrefix: DestinationPrefix] = [:]
        var stack: [DestinationPrefix] = []
        for p in byStart {
            while let top = stack.last, top.end < p.start { stack.removeLast() }
            if let top = stack.last { parent[p] = top }
            stack.append(p)
        }
        return (s.rules.keys.sorted(), parent)
    }

    static func depth(of s: Segment) -> Int {
        let (_, parent) = nesting(s)
        var memo: [DestinationPrefix: Int] = [:]
        func d(_ p: DestinationPrefix) -> Int {
            if let m = memo[p] { return m }
            let v = 1 + (parent[p].map(d) ?? 0)
            memo[p] = v
            return v
        }
        return s.rules.keys.map(d).max() ?? 0
    }

    /// The interval map of a segment: every address of its prefixes to the chain of the most
    /// specific prefix containing it (adjacent intervals of one chain never occur).
    static func intervals(_ s: Segment) -> [(lo: UInt128, hi: UInt128, prefix: DestinationPrefix)] {
        let byStart = s.rules.keys.sorted { ($0.start, $0.length) < ($1.start, $1.length) }
        var out: [(lo: UInt128, hi: UInt128, prefix: DestinationPrefix)] = []
        // Open prefixes and the first address of each not yet mapped (nil: none left).
        var stack: [(p: DestinationPrefix, next: UInt128?)] = []
        func pop() {
            let top = stack.removeLast()
            if let n = top.next, n <= top.p.end { out.append((n, top.p.end, top.p)) }
            if !stack.isEmpty { stack[stack.count - 1].next = top.p.end == top.p.lastAddress ? nil : top.p.end + 1 }
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
    /// The dispatch form of `rules` (route `ruleRoutes[k]` for rule `k`; `route(i)` its family and
    /// destination): the base chain's rules, the chains and the verdict maps. Nil when no segment
    /// is worth a map.
    static func build(rules: [NftRule], ruleRoutes: [Int], route: (Int) -> (v6: Bool, prefix: DestinationPrefix?),
                      minRules: Int) -> (base: [NftRule], chains: [NftChain], maps: [NftSet], worstCase: Int)? {
        let items = plan(rules: rules.count, destination: { route(ruleRoutes[$0]) }, minRules: minRules)
        guard items.contains(where: { if case .segment = $0.1 { true } else { false } }) else { return nil }
        var base: [NftRule] = []
        var chains: [NftChain] = []
        var maps: [NftSet] = []
        var worst = 0
        var segmentsOf = [0, 0]
        var usedNames = Set<String>()
        for (_, item) in items {
            switch item {
            case .rule(let k): base.append(rules[k])
            case .segment(let s):
                segmentsOf[s.v6 ? 1 : 0] += 1
                let n = segmentsOf[s.v6 ? 1 : 0]
                let suffix = n == 1 ? "" : "_\(n)"
                let mapName = "dispatch\(s.v6 ? 6 : 4)" + suffix
                let (order, parent) = nesting(s)
                func chainName(_ p: DestinationPrefix) -> String { p.chainName + suffix }
                // The longest path (rules met, the gotos included) from each prefix.
                var path: [DestinationPrefix: Int] = [:]
                func pathLength(_ p: DestinationPrefix) -> Int {
                    if let v = path[p] { return v }
                    let v = s.rules[p]!.count + (parent[p].map { 1 + pathLength($0) } ?? 0)
                    path[p] = v
                    return v
                }
                for p in order {
                    var chainRules = s.rules[p]!.map { rules[$0] }
                    if let up = parent[p] {
                        chainRules.append(NftRule(expressions: [.immediateVerdict(.goto(chainName(up)))]))
                    }
                    let name = chainName(p)
                    usedNames.insert(name)
                    chains.append(NftChain(name: name, rules: chainRules))
                }
                worst += order.map(pathLength).max() ?? 0
                let elements = intervals(s).map { iv in
                    NftSetElement(key: iv.prefix.bytes(iv.lo), keyEnd: iv.lo == iv.hi ? nil : iv.prefix.bytes(iv.hi),
                                  verdict: .jump(chainName(iv.prefix)))
                }
                maps.append(NftSet(name: mapName, flags: [.map, .interval], keyFields: [s.v6 ? .ipv6Address : .ipv4Address],
                                   dataType: .verdict, elements: elements))
                base.append(dispatchRule(v6: s.v6, map: mapName))
            }
        }
        return (base, chains, maps, worst + base.count)
    }

    /// `meta nfproto ipvX ip[6] daddr vmap @map`, commented `dispatch <map>`.
    static func dispatchRule(v6: Bool, map: String) -> NftRule {
        let load: NftExpression = v6 ? .payload(base: .network, offset: 24, length: 16, dreg: .reg1)
                                     : .payload(base: .network, offset: 16, length: 4, dreg: .reg1)
        return NftRule(expressions: (v6 ? RouteCompiler.nfproto6 : RouteCompiler.nfproto4).exprs
                       + [load, .mapLookup(set: map, sreg: .reg1, dreg: .verdict)],
                       comment: comment(map: map))
    }

    /// The comment of a dispatch rule: `dispatch <map>`.
    static func comment(map: String) -> String { DispatchRule.comment(map: map) }
}

/// The rule of the base chain that looks the destination up in a dispatch table's verdict map.
public enum DispatchRule {
    /// Its comment: `dispatch <map>`.
    public static func comment(map: String) -> String { "dispatch " + map }

    /// The map a dispatch rule's comment names; nil for another comment.
    public static func map(inComment comment: String) -> String? {
        comment.hasPrefix("dispatch ") ? String(comment.dropFirst(9)) : nil
    }
}

extension NftTable {
    /// The rules of chain `name` with each dispatch rule (commented `dispatch <map>`, looking up
    /// a verdict map of this table) replaced by the rules of the chains its map leads to, in the
    /// table's chain order, without their gotos: a linear chain of the same meaning (the
    /// compiler lists a map's chains in RFC 8955 order of their prefixes, a more specific one
    /// first, and their rules carry their destination match). `show` and `fetch` read a
    /// dispatch table through it. A rule of any other kind is kept as it is.
    public func linearRules(ofChain name: String) -> [NftRule] {
        guard let chain = chains.first(where: { $0.name == name }) else { return [] }
        guard chain.rules.contains(where: { $0.comment.flatMap(DispatchRule.map(inComment:)) != nil }) else { return chain.rules }
        var out: [NftRule] = []
        for rule in chain.rules {
            guard let map = rule.comment.flatMap(DispatchRule.map(inComment:)),
                  rule.expressions.contains(where: { if case .mapLookup(map, _, .verdict) = $0 { true } else { false } }),
                  let set = sets.first(where: { $0.name == map }) else {
                out.append(rule)
                continue
            }
            var reached = Set<String>()
            var pending = set.elements.compactMap { $0.verdict?.chain }
            while let c = pending.popLast() {
                guard reached.insert(c).inserted, let target = chains.first(where: { $0.name == c }) else { continue }
                for r in target.rules { if case .immediateVerdict(let v) = r.expressions.last, let next = v.chain { pending.append(next) } }
            }
            for c in chains where reached.contains(c.name) {
                out += c.rules.filter { r in
                    !(r.expressions.count == 1 && { if case .immediateVerdict(.goto) = r.expressions[0] { true } else { false } }())
                }
            }
        }
        return out
    }
}
