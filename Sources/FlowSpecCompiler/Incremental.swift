import FlowSpec

/// A merged table kept up to date route by route, for a caller that holds the routes and learns
/// of changes (`watch`, `listen`): compiles only the routes that changed and places their rules
/// into the table as it stands, so that one route costs microseconds of compiling and a few set
/// elements in the kernel, however large the table.
///
/// Placement keeps what the merge pass guarantees (docs/merging.md): for any two routes a packet
/// may match both of whose actions differ — with per-route counters, any two — the rule or set
/// element of the one evaluated first comes first in the chain. A new route's units go to a
/// group of their shape that lies strictly between the last such earlier route's slot and the
/// first such later one's, or to a new rule there. Removing a route only drops constraints, so
/// its elements or rules simply go — except when a later route's elements were cut around its
/// own inside a group: then, and whenever no place exists, `update` gives up (nil, `givenUp`
/// says why) and the caller compiles the whole route set again (a new `IncrementalTable`).
/// Value sets (a port list of a rule that did not merge, say) come with their first rule and go
/// with their last, under the content names `ContentSetNames` gives them.
///
/// Placement differs from what a fresh compile of the same routes would give (the merge pass
/// looks back only 64 slots and names sets in chain order), but means the same for every packet;
/// the tests check that against the RFC meaning of the ordered routes.
public final class IncrementalTable {
    public let options: CompileOptions
    public let order: RouteOrder
    var compiler: RouteCompiler

    struct Entry {
        var key: RouteOrderKey
        var units: Range<Int>
        /// Names of the limit objects made for the route.
        var objects: [String]
        var isDefault: Bool
        /// `contentDigest` of the route as compiled: a route whose digest changes is replaced.
        var digest: UInt64
    }

    /// By compile index (the initial routes 0..<n in order, then each added route).
    var entries: [Entry?] = []
    /// The routes held by identity, and by content (`contentDigest`), once `indexRoutes` made them.
    private var held = IdentityIndex()
    private var byContent: [UInt64: Int] = [:]
    private var routesIndexed = false
    /// The routes held that the compiler refused, by identity, with the reason.
    public internal(set) var refusals: [String: String] = [:]
    /// The compiler's notes on the routes held, by identity.
    public internal(set) var notes: [String: [String]] = [:]
    var groupsByShape: [MergeShape: [MergeGroup]] = [:]
    var singleSlot: [Int: Int] = [:]
    var setNames: Set<String> = []
    /// Value sets of the pool (port lists of rules that did not merge, say): the content name
    /// each installed one has in the kernel (`ContentSetNames`), by pool name, and how many of
    /// the table's rules look each up. A change creates a value set when its first rule comes
    /// and deletes it when its last rule goes.
    var valueSetNames: [String: String] = [:]
    var valueSetRefs: [String: Int] = [:]
    /// False once an update gave up half way: the state no longer matches any table.
    var consistent = true
    /// Why the last `update` gave up (nil when it did not).
    public private(set) var givenUp: String?

    /// Why an update cannot be made in place (becomes `givenUp`).
    private struct GiveUp: Error { var reason: String }

    /// What one `update` did.
    public struct Update: Sendable {
        public var change: TableChange
        /// Added routes the compiler refused (index: the route's compile index).
        public var rejected: [RouteRejection]
        public var notes: [CompileNote]
        /// The routes taken out and added (what `update(removing:adding:)` was given; for
        /// `journalRecord`).
        public var removed: [String]
        public var added: [(route: FlowRoute, tiebreak: Int)]
    }

    /// Compiles `routes` (in evaluation order, `keys[i]` the order key of `routes[i]`) as
    /// `compile` does, and keeps what it needs to follow changes. Nil table when `options.merge`
    /// is off (unmerged tables change by whole rules: `TableChange.plan(from:to:)` serves them).
    public static func build(_ routes: [FlowRoute], keys: [RouteOrderKey], order: RouteOrder,
                             options: CompileOptions) -> (CompileResult, IncrementalTable?) {
        let (result, table) = buildUnindexed(routes, keys: keys, order: order, options: options)
        table?.prepareForUpdates()
        return (result, table)
    }

    /// `build` without the lookups of its routes by identity and content (~30 ms at 100k) and of
    /// its groups' members, which only updates use: for a table only written as a snapshot
    /// (`serialized`), as `apply` does (a restored snapshot makes them when updated), or whose
    /// caller makes them on another CPU while it commits the table (`prepareForUpdates`).
    package static func buildUnindexed(_ routes: [FlowRoute], keys: [RouteOrderKey], order: RouteOrder,
                                      options: CompileOptions) -> (CompileResult, IncrementalTable?) {
        // Only a merged table is placed route by route; a dispatch table is diffed whole.
        guard options.merge, options.dispatch != .always else { return (compile(routes, options: options), nil) }
        let (result, table) = chooseForm(routes, options: options) { abandonAbove, watch -> (CompileResult, () -> IncrementalTable)? in
            let t = IncrementalTable(options: options, order: order)
            t.compiler.abandonAboveCost = abandonAbove
            t.compiler.costWatch = watch
            var entries: [Entry?] = []
            entries.reserveCapacity(routes.count)
            var units = 0, objects = 0
            t.compiler.addAll(routes) { i, c in
                entries.append(Entry(key: keys[i], units: units..<c.planner.units.count,
                                     objects: c.objects[objects...].map(\.name), isDefault: routes[i].isDefaultPolicy,
                                     digest: contentDigest(routes[i])))
                units = c.planner.units.count
                objects = c.objects.count
            }
            if t.compiler.abandoned { return nil }
            t.entries = entries
            t.routeCount = entries.count { $0 != nil }
            let result = t.compiler.finish()
            return (result, { t.adopt(result); return t })
        }
        return (result, table)
    }

    /// What updates need of the table `result` this planner made, beyond the planner itself.
    private func adopt(_ result: CompileResult) {
        valueSetNames = ContentSetNames.renaming(result.table)
        for rule in result.table.chains[0].rules {
            for name in Set(rule.expressions.compactMap(\.lookedUpSet)) where valueSetNames[name] != nil { valueSetRefs[name, default: 0] += 1 }
        }
        for r in result.rejected { refusals[compiler.identities[r.index]] = r.reason }
        for n in result.notes { notes[n.identity, default: []].append(n.message) }
        compiler.rejected = []
        compiler.notes = []
        // Default-policy routes get their rules in `finish`; updates never touch them.
        index()
    }

    /// `build` for routes in input order: ordered by `order` (as `PreparedTable` does, traffic-
    /// marking sequence numbers taken out), each route's tiebreak its input position.
    public static func build(_ routes: [FlowRoute], order: RouteOrder,
                             options: CompileOptions) -> (CompileResult, IncrementalTable?) {
        let (permutation, keys) = routes.orderedIndicesAndKeys(order)
        return build(permutation.map { order.compiledForm(of: routes[$0]) }, keys: permutation.map { keys[$0] },
                     order: order, options: options)
    }

    /// The lookups derived from the planner's slots (after a build or a restore).
    func index() {
        for s in compiler.planner.slots {
            if case .group(let g) = s {
                groupsByShape[g.shape, default: []].append(g)
                if let n = g.setName { setNames.insert(n) }
            }
        }
        reindex()
    }

    /// Makes now the lookups of the routes held and of the groups' members that an update needs
    /// (otherwise the first update makes them, ~40 ms at 100k routes): for a caller with a CPU to
    /// spare before it knows the change, as `apply` has while it reads its input and a daemon
    /// while the kernel takes the table it built.
    package func prepareForUpdates() {
        indexRoutes()
        for case .group(let g) in compiler.planner.slots { g.indexMembers() }
    }

    /// Makes `held` and `byContent` (at `build`, or on first need after `restore`).
    private func indexRoutes() {
        guard !routesIndexed else { return }
        routesIndexed = true
        held.reserve(entries.count)
        byContent.reserveCapacity(entries.count)
        for (i, id) in compiler.identities.enumerated() {
            guard let e = entries[i] else { continue }
            held.insert(id, i)
            byContent[e.digest] = i
        }
    }

    init(options: CompileOptions, order: RouteOrder) {
        self.options = options
        self.order = order
        compiler = RouteCompiler(options: options)
        compiler.keepPlanner = true
    }

    /// The table as it stands now (what the kernel holds once every update's change is applied).
    public var table: NftTable {
        var pool = compiler.pool
        let (rules, _, _, sets) = compiler.planner.emit(pool: &pool)
        return compiler.makeTable(rules: rules, mergedSets: sets)
    }

    /// Routes held (installed, or refused by the compiler): the entries that are not nil, kept
    /// as they change (each change asks for it).
    public internal(set) var routeCount = 0

    /// Routes taken out since the table was built: their places (identities, units, set
    /// elements' tombstones) stay until it is built again (`CostPolicy.worthRebuilding`).
    public var retiredRouteCount: Int { entries.count - routeCount }

    /// The identities of the routes in the table (held and not refused by the compiler).
    package var installedIdentities: [String] {
        entries.indices.compactMap { i in
            guard entries[i] != nil else { return nil }
            let id = compiler.identities[i]
            return refusals[id] == nil ? id : nil
        }
    }
    /// Routes held that the compiler did not refuse: in the table as rules, set elements or the
    /// chain policy (or noted as never matching, or as having no effect).
    public var installedRouteCount: Int { routeCount - refusals.count }

    /// Takes out the routes with the given identities (`FlowRoute.identity`; unknown ones are
    /// ignored), then adds `adding` (each with its order key's tiebreak, the input position), and
    /// returns the change that turns the installed table into the new one. A changed route is
    /// removed and added. Nil when the change cannot be made in place: a default-policy route
    /// changes, an added route is already held, a removed route's elements shaped a kept one's,
    /// or no place in the chain is right (`givenUp` says which). Then this table is of no further
    /// use: compile the whole route set again.
    public func update(removing: [String], adding: [(route: FlowRoute, tiebreak: Int)]) -> Update? {
        guard consistent else { return nil }
        consistent = false
        indexRoutes()
        do {
            let update = try make(removing: removing, adding: adding)
            givenUp = nil
            consistent = true
            return update
        } catch {
            givenUp = error.reason
            return nil
        }
    }

    private func make(removing: [String], adding: [(route: FlowRoute, tiebreak: Int)]) throws(GiveUp) -> Update {
        var log = ChangeLog()
        // What the compiler refuses or notes of the routes added.
        compiler.rejected = []
        compiler.notes = []
        var deletedObjects = Set<String>()
        for id in removing {
            guard let i = held.find(id, in: compiler.identities) else { continue }
            guard let e = entries[i], !e.isDefault else { throw GiveUp(reason: "a default-policy route goes") }
            for u in e.units.reversed() { try remove(unit: u, &log) }
            deletedObjects.formUnion(e.objects)
            if byContent[e.digest] == i { byContent[e.digest] = nil }
            entries[i] = nil
            routeCount -= 1
            held.remove(id)
            compiler.routeComments.set(nil, for: id)
            refusals[id] = nil
            notes[id] = nil
        }
        if !deletedObjects.isEmpty {
            log.deletedObjects = compiler.objects.filter { deletedObjects.contains($0.name) }
            compiler.objects.removeAll { deletedObjects.contains($0.name) }
            compiler.objectNames.subtract(deletedObjects)
        }
        for (route, tiebreak) in adding {
            guard !route.isDefaultPolicy else { throw GiveUp(reason: "a default-policy route comes") }
            let id = route.identity
            guard held.find(id, in: compiler.identities) == nil else { throw GiveUp(reason: "a route added is already held") }
            let index = compiler.identities.count
            let key = RouteOrderKey(route, order: order, tiebreak: tiebreak)
            compiler.addIdentity(id, of: route)
            let r = order.compiledForm(of: route)
            let objects0 = compiler.objects.count
            compiler.captured = []
            compiler.add(r, index: index)
            let units = compiler.captured ?? []
            compiler.captured = nil
            let u0 = compiler.planner.units.count
            for unit in units {
                let earlier = { (v: Int) -> Bool in
                    let rv = self.compiler.planner.units[v].route
                    return rv == index || self.entries[rv].map { $0.key < key } ?? false
                }
                try place(unit, earlier: earlier, &log)
            }
            let made = compiler.objects[objects0...]
            log.newObjects += made
            let digest = contentDigest(r)
            routeCount += 1
            entries.append(Entry(key: key, units: u0..<compiler.planner.units.count, objects: made.map(\.name), isDefault: false,
                                 digest: digest))
            held.insert(id, index)
            if byContent[digest] == nil { byContent[digest] = index }
        }
        let rejected = compiler.rejected, noted = compiler.notes
        for r in rejected { refusals[compiler.identities[r.index]] = r.reason }
        for n in noted { notes[n.identity, default: []].append(n.message) }
        var change = try makeChange(&log)
        compiler.routeComments.annotate(&change)
        return Update(change: change, rejected: rejected, notes: noted, removed: removing, added: adding)
    }

    /// `update` to the route set `routes` (valid, in input order, the tiebreak of each its
    /// position): held routes missing from it or changed (`contentDigest`) go, new and changed
    /// ones come. Nil as for `update`, and when `routes` holds an NLRI twice.
    public func update(to routes: [FlowRoute]) -> Update? {
        indexRoutes()
        func twice() -> Update? {
            givenUp = "a route comes twice"
            consistent = false
            return nil
        }
        // Most routes are kept: found by their content digest, without their identity.
        var seen = [Bool](repeating: false, count: entries.count)
        var changedIDs = Set<String>()
        var adding: [(route: FlowRoute, tiebreak: Int)] = []
        var removing: [String] = []
        for (i, r) in routes.enumerated() {
            if let k = byContent[contentDigest(order.compiledForm(of: r))], entries[k] != nil {
                guard !seen[k] else { return twice() }
                seen[k] = true
                continue
            }
            let id = r.identity
            guard changedIDs.insert(id).inserted else { return twice() }
            if let k = held.find(id, in: compiler.identities) {
                guard !seen[k] else { return twice() }
                seen[k] = true
                removing.append(id)
            }
            adding.append((r, i))
        }
        for k in entries.indices where entries[k] != nil && !seen[k] { removing.append(compiler.identities[k]) }
        return update(removing: removing, adding: adding)
    }

    // MARK: - Placing and removing units

    /// What an update did to the slots, for `makeChange`.
    private struct ChangeLog {
        var deletedRules: [String] = []
        var deletedSets: Set<String> = []
        /// Elements taken out of installed merge sets (definition + the elements as they were).
        var removedElements: [String: NftSet] = [:]
        /// Boxes added to installed merged groups.
        var addedBoxes: [ObjectIdentifier: (group: MergeGroup, boxes: [Int])] = [:]
        /// Groups made in this update, and installed single-form groups that now merge.
        var fresh: Set<ObjectIdentifier> = []
        var transitioned: Set<ObjectIdentifier> = []
        var freshSingles: Set<Int> = []
        var newObjects: [NftObject] = []
        var deletedObjects: [NftObject] = []
        /// Rules that look up each value set (pool name), gained minus lost.
        var valueSetDelta: [String: Int] = [:]

        /// A rule that looked up value sets goes (merge sets are not counted).
        mutating func dropValueSets(of rule: [NftExpression]) {
            for name in Set(rule.compactMap(\.lookedUpSet)) { valueSetDelta[name, default: 0] -= 1 }
        }
    }

    /// The planner, borrowed for reading: a copy (`let p = compiler.planner`) held while the
    /// planner changes would copy its arrays.
    private var planner: MergePlanner { _read { yield compiler.planner } }

    private func reindex() {
        singleSlot.removeAll(keepingCapacity: true)
        for (i, s) in compiler.planner.slots.enumerated() {
            switch s {
            case .single(let u): singleSlot[u] = i
            case .group(let g): g.slot = i
            }
        }
    }

    private func removeSlot(_ i: Int) {
        compiler.planner.slots.remove(at: i)
        reindex()
    }

    /// The comment of the rule slot `i` stands for now.
    private func comment(_ i: Int) -> String {
        let p = planner
        switch p.slots[i] {
        case .single(let u): return p.units[u].identity
        case .group(let g): return g.setName.map { MergedRule.comment(set: $0) } ?? p.units[g.units.first ?? 0].identity
        }
    }

    private func remove(unit u: Int, _ log: inout ChangeLog) throws(GiveUp) {
        guard let g = planner.unitGroup[u] else {
            guard let i = singleSlot[u] else { throw GiveUp(reason: "a route's rule is not in the chain") }
            log.dropValueSets(of: planner.singles[u] ?? [])
            log.deletedRules.append(planner.units[u].identity)
            compiler.planner.singles[u] = nil
            compiler.planner.singleBox[u] = nil
            removeSlot(i)
            return
        }
        guard !g.shadowing.contains(u) else { throw GiveUp(reason: "a route that goes shaped another's set elements") }
        let own = g.boxes(of: u)
        if let name = g.setName {
            var sets = [MergePlanner.set(g, elements: own) { self.planner.units[$0].identity }]
            sets[0].name = name
            // A split limiter's limit map loses the route's elements too (no other route's meet them).
            if g.shape.splitLimiter {
                sets.append(MergePlanner.limitMap(g, elements: own) { self.planner.units[$0].identity })
                sets[1].name = name + "_o"
            }
            for set in sets {
                log.removedElements[set.name, default: { var s = set; s.elements = []; return s }()].elements += set.elements
            }
        }
        g.remove(u, boxes: own)
        compiler.planner.unitGroup[u] = nil
        guard g.units.isEmpty else { return }
        log.dropValueSets(of: g.setName == nil ? g.founderSingle : g.residualExprs ?? [])
        if let name = g.setName {
            log.deletedRules.append(MergedRule.comment(set: name))
            log.deletedSets.insert(name)
            setNames.remove(name)
            if g.shape.splitLimiter { log.deletedSets.insert(name + "_o") }
        } else {
            log.deletedRules.append(planner.units[u].identity)
        }
        groupsByShape[g.shape]?.removeAll { $0 === g }
        removeSlot(g.slot)
    }

    /// Places a new unit (see the type's documentation); false when no place is right.
    private func place(_ unit: MergeUnit, earlier: (Int) -> Bool, _ log: inout ChangeLog) throws(GiveUp) {
        let u = compiler.planner.register(unit)
        let tailID = planner.units[u].tailID
        let a = planner.analyse(unit)
        // The window: after every slot holding an earlier route this unit must not pass, before
        // every slot holding a later one.
        var lo = -1, hi = planner.slots.count
        func constrain(_ v: Int, _ slot: Int) {
            guard planner.exactCounters || planner.units[v].tailID != tailID else { return }
            if earlier(v) { lo = max(lo, slot) } else { hi = min(hi, slot) }
        }
        for (i, s) in planner.slots.enumerated() {
            switch s {
            case .single(let v):
                if let b = planner.singleBox[v], a.boxes.contains(where: { $0.overlaps(b) }) { constrain(v, i) }
            case .group(let h):
                for b in a.boxes where h.hull?.overlaps(b) ?? false {
                    func visit(_ c: Int) -> Bool {
                        let v = h.boxUnit[c]
                        if v >= 0 && h.boxes[c].overlaps(b) { constrain(v, i) }
                        return true
                    }
                    if !h.forEachCandidate(b, visit) { for c in h.boxes.indices { _ = visit(c) } }
                }
            }
        }
        guard lo < hi else { throw GiveUp(reason: "no place in the chain keeps the order for a route") }
        if let shape = a.shape {
            let candidates = (groupsByShape[shape] ?? []).filter { lo < $0.slot && $0.slot < hi && !$0.units.isEmpty }
            // Installed merged groups first: joining one is a set element, nothing else.
            for g in candidates.sorted(by: { ($0.setName != nil ? 0 : 1, -$0.units.count) < ($1.setName != nil ? 0 : 1, -$1.units.count) }) {
                if !shape.hashed && g.boxes.count + a.boxes.count > MergePlanner.maxIntervalElements { continue }
                // A group still installed as its founder's own rule becomes a merged rule: the
                // founder's rule is deleted by its comment, which must then be its only rule.
                if g.setName == nil && !log.fresh.contains(ObjectIdentifier(g)), let f = g.units.first,
                   let e = entries[planner.units[f].route], e.units.count > 1 { continue }
                guard let (boxes, shadowing) = MergePlanner.pieces(of: a.boxes, in: g, exhaustive: true) else { continue }
                // An installed set's definition cannot change: an interval in a set without
                // `flags interval` needs another group.
                if g.setName != nil && !MergePlanner.isInterval(g)
                    && boxes.contains(where: { b in shape.keys.contains { b.point($0.dim) == nil } }) && !shape.hashed { continue }
                if g.setName != nil && shape.splitLimiter && !shape.hashed && !MergePlanner.isLimitMapInterval(g)
                    && boxes.contains(where: { b in shape.limitKeys.contains { b.point($0.dim) == nil } }) { continue }
                let range = g.add(u, boxes, tail: unit.tail)
                g.shadowing.formUnion(shadowing)
                compiler.planner.unitGroup[u] = g
                let id = ObjectIdentifier(g)
                if g.setName == nil && !log.fresh.contains(id) {
                    log.transitioned.insert(id)
                } else if g.setName != nil && !log.fresh.contains(id) && !log.transitioned.contains(id) {
                    log.addedBoxes[id, default: (g, [])].boxes += Array(range)
                }
                return
            }
        }
        // A new rule: the first place in the window that does not split the rules of one route.
        var at = lo + 1
        while at < hi && at > 0 && comment(at - 1) == comment(at) { at += 1 }
        guard at <= hi, at == 0 || at == planner.slots.count || comment(at - 1) != comment(at) else {
            throw GiveUp(reason: "a new rule would split the rules of a route")
        }
        if let shape = a.shape {
            let g = MergeGroup(shape: shape, terminal: !shape.limiter && MergePlanner.isTerminal(unit.tail), founder: unit, residual: a.residual)
            g.add(u, a.boxes, tail: unit.tail)
            compiler.planner.unitGroup[u] = g
            compiler.planner.slots.insert(.group(g), at: at)
            groupsByShape[shape, default: []].append(g)
            log.fresh.insert(ObjectIdentifier(g))
        } else {
            compiler.planner.singleBox[u] = a.boxes[0]
            compiler.planner.singles[u] = unit.single
            compiler.planner.slots.insert(.single(u), at: at)
            log.freshSingles.insert(u)
        }
        reindex()
        return
    }

    // MARK: - The change

    private func makeChange(_ log: inout ChangeLog) throws(GiveUp) -> TableChange {
        var change = TableChange(table: options.tableName, chain: options.chainName)
        // A comment once: the kernel deletes every rule of it (a route's single rule and its
        // group in founder form carry the same one).
        var deleted = Set<String>()
        change.deletedRules = log.deletedRules.filter { deleted.insert($0).inserted }
        change.deletedSets = log.deletedSets.sorted()
        change.newObjects = log.newObjects
        change.deletedObjects = log.deletedObjects.map(TableChange.ObjectReference.init)
        var pending: [NftRule] = []
        var comments: [String] = []
        let slots = compiler.planner.slots
        for i in slots.indices {
            var rule: NftRule?
            switch slots[i] {
            case .single(let u):
                if log.freshSingles.contains(u) {
                    rule = NftRule(expressions: compiler.planner.singles[u] ?? [], comment: compiler.planner.units[u].identity)
                }
            case .group(let g):
                let id = ObjectIdentifier(g)
                guard log.fresh.contains(id) || log.transitioned.contains(id) else { break }
                if log.transitioned.contains(id) {
                    log.dropValueSets(of: g.founderSingle)
                    if deleted.insert(compiler.planner.units[g.units[0]].identity).inserted {
                        change.deletedRules.append(compiler.planner.units[g.units[0]].identity)
                    }
                }
                // A new group goes in as a merged rule even with one unit: its key lives in its
                // own set, and the rule is the same whether one route or more join later.
                var pool = compiler.pool
                let (merged, sets) = compiler.planner.mergedRule(g, pool: &pool) { base in
                    var name = base, n = 2
                    while setNames.contains(name) { name = base + "_\(n)"; n += 1 }
                    return name
                }
                compiler.pool = pool
                g.setName = sets[0].name
                setNames.insert(sets[0].name)
                change.newSets += sets
                rule = merged
            }
            if var rule {
                // Its value sets, by the names they have (or get) in the kernel.
                for name in Set(rule.expressions.compactMap(\.lookedUpSet)) where !setNames.contains(name) {
                    log.valueSetDelta[name, default: 0] += 1
                    renameSets(in: &rule.expressions, [name: valueSetName(name)])
                }
                pending.append(rule)
            } else {
                let c = comment(i)
                change.insertedRules += pending.map { TableChange.Insert(rule: $0, before: c) }
                pending = []
            }
            comments.append(comment(i))
        }
        change.insertedRules += pending.map { TableChange.Insert(rule: $0, before: nil) }
        // The rules of one route must stay together, and a deleted comment must not name a rule
        // that stays (the kernel deletes every rule of a comment).
        var seen = Set<String>()
        for (i, c) in comments.enumerated() where i == 0 || comments[i - 1] != c {
            guard seen.insert(c).inserted else { throw GiveUp(reason: "the rules of a route would not stay together") }
        }
        let kept = Set(comments.indices.filter { i in
            if case .single(let u) = slots[i] { return !log.freshSingles.contains(u) }
            if case .group(let g) = slots[i] { return !log.fresh.contains(ObjectIdentifier(g)) && !log.transitioned.contains(ObjectIdentifier(g)) }
            return true
        }.map { comments[$0] })
        guard change.deletedRules.allSatisfy({ !kept.contains($0) }) else {
            throw GiveUp(reason: "a rule deleted by its comment shares it with a kept one")
        }
        for (name, set) in log.removedElements.sorted(by: { $0.key < $1.key }) where !log.deletedSets.contains(name) {
            change.removedElements.append(set)
        }
        for (_, added) in log.addedBoxes where added.group.setName.map({ !log.deletedSets.contains($0) }) ?? false {
            let g = added.group
            let live = added.boxes.filter { g.boxUnit[$0] >= 0 }
            guard !live.isEmpty else { continue }
            var set = MergePlanner.set(g, elements: live) { self.compiler.planner.units[$0].identity }
            set.name = g.setName!
            change.addedElements.append(set)
            if g.shape.splitLimiter {
                var map = MergePlanner.limitMap(g, elements: live) { self.compiler.planner.units[$0].identity }
                map.name = g.setName! + "_o"
                change.addedElements.append(map)
            }
        }
        change.addedElements.sort { $0.name < $1.name }
        // Value sets whose first rule came or whose last rule went.
        for (name, delta) in log.valueSetDelta.sorted(by: { $0.key < $1.key }) where delta != 0 {
            let before = valueSetRefs[name] ?? 0, after = before + delta
            valueSetRefs[name] = after > 0 ? after : nil
            if before == 0 && after > 0, var set = compiler.pool.sets.first(where: { $0.name == name }) {
                set.name = valueSetName(name)
                change.newSets.append(set)
            } else if before > 0 && after <= 0, let installed = valueSetNames.removeValue(forKey: name) {
                change.deletedSets.append(installed)
            }
        }
        return change
    }

    /// The name value set `name` (of the pool) has, or gets, in the kernel.
    private func valueSetName(_ name: String) -> String {
        if let n = valueSetNames[name] { return n }
        guard let set = compiler.pool.sets.first(where: { $0.name == name }) else { return name }
        let n = ContentSetNames.contentName(set, avoiding: setNames.union(valueSetNames.values))
        valueSetNames[name] = n
        return n
    }
}

/// A digest of everything that makes a route (family, NLRI, extended, large and IPv6 extended
/// communities, and the operator's comment, which the kernel keeps beside the identity),
/// the same in every process: an `IncrementalTable` snapshot keeps it per route, and the next
/// `apply` compares it to tell changed routes from kept ones.
func contentDigest(_ route: FlowRoute) -> UInt64 {
    var d = StableDigest()
    d.add(UInt8(route.family == .ipv4 ? 4 : 6))
    d.add(route.nlriBytes)
    d.add(UInt64(route.extendedCommunities.count))
    for c in route.extendedCommunities { d.add(c.rawValue) }
    d.add(UInt64(route.largeCommunities.count))
    for c in route.largeCommunities { d.add(c.global); d.add(c.local1); d.add(c.local2) }
    // Each only when present (tagged), so that the digests of routes without them are as before.
    if !route.ipv6ExtendedCommunities.isEmpty {
        d.add(UInt8(0xc6))
        d.add(UInt64(route.ipv6ExtendedCommunities.count))
        for c in route.ipv6ExtendedCommunities { d.add(c.bytes) }
    }
    if let comment = route.comment { d.add(UInt8(0xc0)); d.add(comment) }
    return d.value
}

/// Routes by identity, keyed by a 64-bit digest of the identity (confirmed against the identity
/// itself): for 100k routes and more, hashing and storing String keys was most of restoring a
/// snapshot. Identities whose digest another identity holds go to `overflow`.
struct IdentityIndex {
    private var byDigest: [UInt64: Int] = [:]
    private var overflow: [String: Int] = [:]

    var count: Int { byDigest.count + overflow.count }

    mutating func reserve(_ n: Int) { byDigest.reserveCapacity(n) }

    static func digest(_ id: String) -> UInt64 {
        var d = StableDigest()
        d.add(id)
        return d.value
    }

    func find(_ id: String, in identities: [String]) -> Int? {
        if let i = byDigest[Self.digest(id)], identities[i] == id { return i }
        return overflow.isEmpty ? nil : overflow[id]
    }

    mutating func insert(_ id: String, _ i: Int) {
        let d = Self.digest(id)
        if byDigest[d] == nil { byDigest[d] = i } else { overflow[id] = i }
    }

    mutating func remove(_ id: String) {
        if overflow.removeValue(forKey: id) == nil { byDigest[Self.digest(id)] = nil }
    }
}
