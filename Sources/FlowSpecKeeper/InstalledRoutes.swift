import FlowSpec
import FlowSpecCompiler

/// The installed table seen per route (`flowspec-nft show`), read from the table alone, one entry per route in the order the routes hold in the
/// chain (where each first has a rule), with its packets and bytes summed over everything of it:
///
/// - A rule whose comment is a route identity belongs to that route; rules of one route (its
///   `port` alternatives, the two rules of a rate limit, rules in several places) add up in one
///   entry.
/// - A merged rule (a lookup of a set, or a limit map, whose elements carry route identities as
///   comments) stands for every route with an element in it: each gets an entry, counted by its
///   elements' own counters (the merged rule itself has no counter, docs/merging.md), with the
///   rule's action. Within one merged rule the routes are listed in RFC 8955 order (the chain's
///   order under `--order rfc`; the set itself keeps no order), hashed identities (`4#…`, which
///   cannot be decoded) after them in the order of their elements' keys.
/// - A dispatch rule (`dispatch <map>`) stands for the rules of the chains its map leads to
///   (`NftTable.linearRules(ofChain:)`).
/// - Any other rule (no comment, a merged rule of an older table without element comments) is
///   an entry of its own, joined only with the rule before it when their comments are equal.
public struct InstalledRoutes: Sendable {
    public struct Entry: Sendable, Hashable {
        /// The route identity (`FlowRoute.identity`), or the rule's comment for a rule of no route.
        public var identity: String
        /// The route's match, when the identity decodes (not for hashed `4#…` identities).
        public var route: FlowRoute?
        /// Rules and set elements that make the route.
        public var rules: Int
        public var packets: UInt64
        public var bytes: UInt64
        /// The actions, as nft text (`drop`, `police 125000 bytes/second`, …).
        public var actions: [String]
        /// The sets whose elements stand for this route (merged rules), in chain order.
        public var sets: [String] = []
        /// The input interfaces the route is scoped to (`--interface-group`), sorted; empty:
        /// every interface.
        public var interfaces: [String] = []
        /// The route's comment (`FlowRoute.comment`), as the kernel keeps it beside the identity.
        public var comment: String?
    }

    public var table: String
    public var chain: String
    public var hook: String
    public var policy: String
    /// The devices of an ingress hook, and whether offload was asked for.
    public var devices: [String]
    public var offload: Bool
    /// The counters of the accept-established rule (`--accept-established`), when there is one.
    public var acceptedEstablished: (packets: UInt64, bytes: UInt64)?
    /// The packets and bytes the chain's policy decided (no route did), when the kernel counts
    /// them (`NftChain.Base.counters`; the listing gives them apart from the table).
    public var policyCounted: (packets: UInt64, bytes: UInt64)?
    public var entries: [Entry] = []

    /// `decodingRoutes`: decode each identity into `Entry.route` and list a merged rule's routes
    /// in RFC 8955 order; without it `route` is nil and they come in element order, which is
    /// enough for `digest` and several times cheaper at 50k routes.
    public init(_ t: NftTable, policyCounted: (packets: UInt64, bytes: UInt64)? = nil, decodingRoutes: Bool = true) {
        self.policyCounted = policyCounted
        table = t.name
        let base = t.chains.first { $0.base != nil }
        chain = base?.name ?? "-"
        hook = base?.base?.hook.name ?? "-"
        policy = base?.base.map { $0.policy == .drop ? "drop" : "accept" } ?? "-"
        devices = base?.base?.devices ?? []
        offload = base?.base?.offload ?? false
        if let rule = base?.rules.first, AcceptEstablished.isIt(rule) {
            var counted: (packets: UInt64, bytes: UInt64) = (0, 0)
            for case .counter(let p, let b) in rule.expressions { counted = (counted.packets + p, counted.bytes + b) }
            acceptedEstablished = counted
        }
        var limits = [String: NftLimit]()
        for case .limit(let name, let l) in t.objects { limits[name] = l }
        var sets = [String: NftSet]()
        for s in t.sets { sets[s.name] = s }
        var position = [String: Int]()   // route identity -> its entry

        func police(_ name: String) -> String {
            guard let l = limits[name] else { return "police (\(name))" }
            return "police \(l.rate) \(l.kind == .bytes ? "bytes" : "packets")/\(l.unit)"
        }
        func add(_ id: String, packets: UInt64, bytes: UInt64, actions: [String], set: String?, joinAny: Bool,
                 interfaces: Set<String>, comment: String?) {
            let actions = actions.isEmpty ? ["continue"] : actions
            let at: Int? = joinAny ? position[id] : (entries.last?.identity == id ? entries.count - 1 : nil)
            guard let at else {
                if joinAny { position[id] = entries.count }
                entries.append(Entry(identity: id, route: decodingRoutes ? RouteIdentity.decode(id) : nil, rules: 1, packets: packets, bytes: bytes,
                                     actions: actions, sets: set.map { [$0] } ?? [], interfaces: interfaces.sorted(),
                                     comment: comment))
                return
            }
            var e = entries[at]
            e.rules += 1; e.packets += packets; e.bytes += bytes
            for a in actions where !e.actions.contains(a) { e.actions.append(a) }
            if let set, !e.sets.contains(set) { e.sets.append(set) }
            if !interfaces.isSubset(of: e.interfaces) { e.interfaces = Set(e.interfaces).union(interfaces).sorted() }
            if e.comment == nil { e.comment = comment }
            entries[at] = e
        }

        // A dispatch table is listed in its linear form (its chains' rules in place of the map).
        for rule in base.map({ t.linearRules(ofChain: $0.name) }) ?? [] where !AcceptEstablished.isIt(rule) {
            var packets: UInt64 = 0, bytes: UInt64 = 0
            var actions = [String]()
            var policed = false
            var mergedSet: NftSet?
            var limitMap = false
            var limitObjects: [String: [String]]?
            for e in rule.expressions {
                switch e {
                case .counter(let p, let b): packets += p; bytes += b
                case .lookup(let name, _, false):
                    if mergedSet == nil, let s = sets[name], s.elements.contains(where: { $0.comment != nil }) { mergedSet = s }
                case .objrefMap(let name, _):
                    policed = true
                    if let s = sets[name], s.elements.contains(where: { $0.comment != nil }) {
                        // A split limiter (`KEY @m limit name PART map @m_o`): the routes and their
                        // counts are the set's, their limits the map's, by element comment.
                        if let m = mergedSet, m.name != s.name {
                            limitObjects = Dictionary(Self.routes(of: s, fallback: m.name, ordered: false).map { ($0.identity, $0.objects) }) { a, _ in a }
                        } else {
                            mergedSet = s
                        }
                        limitMap = true
                    } else {
                        actions.append("police (map \(name))")
                    }
                case .objref(_, let name):
                    policed = true
                    actions.append(police(name))
                case .immediateVerdict(let v) where !(policed && v == .drop): actions.append("\(v)")
                case .log(let g, _): actions.append("log group \(g)")
                case .payloadSet: actions.append("set dscp")
                case .metaSet(let k, _): actions.append("set \(k)")
                default: break
                }
            }
            let ruleInterfaces = Self.interfaces(of: rule, sets: sets)
            guard let set = mergedSet else {
                let id = rule.comment ?? "(no comment)"
                add(id, packets: packets, bytes: bytes, actions: actions, set: nil, joinAny: RouteIdentity.isIdentity(id),
                    interfaces: ruleInterfaces, comment: rule.routeComment)
                continue
            }
            for route in Self.routes(of: set, fallback: rule.comment ?? MergedRule.comment(set: set.name), ordered: decodingRoutes) {
                var own = actions
                let objects = limitObjects.map { $0[route.identity] ?? [] } ?? route.objects
                if limitMap { own.insert(contentsOf: objects.map(police), at: 0) }
                add(route.identity, packets: route.packets, bytes: route.bytes, actions: own, set: set.name,
                    joinAny: RouteIdentity.isIdentity(route.identity), interfaces: ruleInterfaces.union(route.interfaces),
                    comment: route.comment)
            }
        }
    }

    /// One route's share of a merged set: its elements' counts, the objects they map to and the
    /// input interfaces in their keys.
    struct SetRoute {
        var identity: String
        var packets: UInt64 = 0
        var bytes: UInt64 = 0
        var objects: [String] = []
        var interfaces: Set<String> = []
        var comment: String?
    }

    /// The interfaces a rule tests outside any merged key: `iifname "x"` or `iifname @set` (a
    /// set of names), as the compiler scopes a route (`CompileOptions.interfaceGroups`).
    static func interfaces(of rule: NftRule, sets: [String: NftSet]) -> Set<String> {
        var out: Set<String> = []
        let e = rule.expressions
        for i in e.indices.dropLast() {
            guard case .meta(.iifname, let reg) = e[i] else { continue }
            switch e[i + 1] {
            case .cmp(.eq, reg, let data): out.insert(name(data[...]))
            case .lookup(let s, reg, false) where sets[s]?.keyFields == [.ifname]:
                for element in sets[s]!.elements { out.insert(name(element.key[...])) }
            default: continue
            }
        }
        return out
    }

    /// An interface name from its IFNAMSIZ bytes.
    static func name(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self) }

    /// The routes of a merged set, by element comment (an element without one counts for
    /// `fallback`, the rule), in RFC 8955 order; identities that do not decode follow in element
    /// order. Not `ordered`: all in element order.
    static func routes(of set: NftSet, fallback: String, ordered: Bool = true) -> [SetRoute] {
        var byIdentity = [String: Int]()
        var out = [SetRoute]()
        // Where the interface part of a concatenated key is (each part padded to 4 bytes).
        var interfaceAt: Int?
        if set.keyFields.count > 1, let k = set.keyFields.firstIndex(of: .ifname) {
            interfaceAt = set.keyFields[..<k].reduce(0) { $0 + (Int($1.length) + 3) / 4 * 4 }
        }
        for e in set.elements {
            let id = e.comment ?? fallback
            let k = byIdentity[id] ?? { byIdentity[id] = out.count; out.append(SetRoute(identity: id)); return out.count - 1 }()
            out[k].packets += e.counter?.packets ?? 0
            out[k].bytes += e.counter?.bytes ?? 0
            if let o = e.objectName, !out[k].objects.contains(o) { out[k].objects.append(o) }
            if out[k].comment == nil { out[k].comment = e.routeComment }
            if let at = interfaceAt, e.key.count >= at + 16 { out[k].interfaces.insert(name(e.key[at..<(at + 16)])) }
        }
        if !ordered { return out }
        let keys = out.map { RouteIdentity.decode($0.identity).map(RFC8955SortKey.init) }
        return out.indices.sorted { a, b in
            switch (keys[a], keys[b]) {
            case let (x?, y?): x < y || (x == y && a < b)
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): a < b
            }
        }.map { out[$0] }
    }
}

extension InstalledRoutes {
    /// What the table does, in one line for comparing switches: `routes=N policy=P digest=H`,
    /// where H (16 hex digits) covers the chain policy and, per route, its identity, actions,
    /// interfaces and comment, independent of their order in the listing, of the table's form
    /// (merged or not, dispatched or not, set names) and of the counters. Two tables with the
    /// same line filter the same routes the same way (`show --digest`).
    public var digest: String {
        let lines = entries.map { e in
            var d = StableDigest()
            d.add(e.identity)
            d.add(UInt64(e.actions.count))
            for a in e.actions { d.add(a) }
            d.add(UInt64(e.interfaces.count))
            for i in e.interfaces { d.add(i) }
            d.add(e.comment != nil)
            if let c = e.comment { d.add(c) }
            return d.value
        }.sorted()
        var d = StableDigest()
        d.add(policy)
        d.add(UInt64(lines.count))
        for l in lines { d.add(l) }
        return "routes=\(entries.count) policy=\(policy) digest=\(d.hex)"
    }
}
