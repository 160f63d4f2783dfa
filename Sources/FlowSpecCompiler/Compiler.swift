import FlowSpec

/// Compiles ordered, validated flowspec routes into one `inet` table with one base chain.
///
/// Each route becomes one rule, or a few when a single rule cannot say it exactly (the `port`
/// component, an IPv6 fragment state that includes "no Fragment header", a rate limit that both
/// drops the excess and acts on the conforming traffic). Rules keep the routes' order; every rule
/// carries the route identity as its comment. The work is linear in the number of routes: value
/// sets are shared through a dictionary, never by comparing sets with each other.
///
/// The form (`TableFigures.form`) follows `options.merge` and `options.dispatch` (`chooseForm`).
public func compile(_ routes: [FlowRoute], options: CompileOptions = CompileOptions()) -> CompileResult {
    if options.dispatch == .always { return compileDispatched(routes, options: options, minRules: 1) ?? compileOne(routes, options) }
    return chooseForm(routes, options: options) { abandonAbove, watch in
        var c = RouteCompiler(options: options)
        c.abandonAboveCost = abandonAbove
        c.costWatch = watch
        c.addAllInHalves(routes)
        return c.abandoned ? nil : (c.finish(), {})
    }.result
}

/// The merged table of `routes` — `merge(limit)` makes it, or gives up (nil) once its chain so
/// far costs more than `limit` (`MergePlanner.cost`), and hands back what else it made, finished
/// by the closure only when the merged table is kept — or, with `options.dispatch == .auto`, a
/// dispatch form: over the merged rules (`MergedDispatch`) when its worst path costs at most
/// 1/`Tuning.mergedDispatchGain` of the merged table's and no more than
/// `Tuning.dispatchConsiderRules`; else over the linear rules when it costs at most
/// 1/`Tuning.dispatchGain` (`TableFigures.worstCaseCost`: rules, a set lookup counting as
/// `Tuning.lookupRuleCost`; considered above `Tuning.dispatchConsiderRules`). Merging gives up
/// past `Tuning.mergeAbandonCost`: the linear dispatch is then built and taken when that is
/// already sure, else everything is merged.
///
/// The linear dispatch is made on another thread as soon as the merged chain's cost passes
/// `Tuning.dispatchConsiderRules` (`watch`, which `merge` hands its compiler): from then on it
/// may be asked for, and on a mixed table it mostly is, while merging goes on to the end or
/// gives up. The choice is the same as without it; only the work overlaps.
func chooseForm<Planner>(_ routes: [FlowRoute], options: CompileOptions,
                         merge: (_ abandonAbove: Int?, _ watch: CostWatch?) -> (CompileResult, () -> Planner)?) -> (result: CompileResult, planner: Planner?) {
    var early: Background<CompileResult?>?
    let watch = CostWatch(above: Tuning.dispatchConsiderRules) {
        early = Background { compileDispatched(routes, options: options, minRules: Tuning.dispatchMinRules) }
    }
    func dispatched(ifWithin worst: Int) -> CompileResult? {
        guard worst > Tuning.dispatchConsiderRules,
              let d = early?.wait() ?? compileDispatched(routes, options: options, minRules: Tuning.dispatchMinRules),
              d.figures.worstCaseCost * Tuning.dispatchGain <= worst else { return nil }
        return d
    }
    func kept(_ merged: (CompileResult, () -> Planner)) -> (result: CompileResult, planner: Planner?) {
        let cost = merged.0.figures.worstCaseCost
        // Dispatch over the merged rules first: it keeps the merged table's sets.
        if cost > Tuning.dispatchConsiderRules, let d = mergedDispatched(merged.0) {
            let dCost = d.figures.worstCaseCost
            if dCost * Tuning.mergedDispatchGain <= cost && dCost <= Tuning.dispatchConsiderRules { return (d, nil) }
        }
        if let d = dispatched(ifWithin: cost) { return (d, nil) }
        return (merged.0, merged.1())
    }
    guard options.merge, options.dispatch == .auto else {
        let merged = merge(nil, nil)!
        return (merged.0, merged.1())
    }
    if let merged = merge(Tuning.mergeAbandonCost, watch) { return kept(merged) }
    if let d = dispatched(ifWithin: Tuning.mergeAbandonCost) { return (d, nil) }
    return kept(merge(nil, nil)!)
}

/// Something to do once, when the merged chain made so far first costs more than `above`
/// (`MergePlanner.cost`).
struct CostWatch {
    var above: Int
    var run: () -> Void
}

private func compileOne(_ routes: [FlowRoute], _ options: CompileOptions) -> CompileResult {
    var c = RouteCompiler(options: options)
    c.addAllInHalves(routes)
    return c.finish()
}

/// The dispatch form of a merged result (`MergedDispatch`), nil when it has no coverage (not
/// merged) or no rule names a destination.
func mergedDispatched(_ merged: CompileResult) -> CompileResult? {
    guard let coverage = merged.coverage, let base = merged.table.chains.first else { return nil }
    let (prologue, rules) = TablePrologue.split(base.rules)
    guard let d = MergedDispatch.build(rules: rules, coverage: coverage, base: base.name) else { return nil }
    var result = merged
    result.table.chains[0].rules = prologue + d.base
    result.table.chains += d.chains
    result.table.sets += d.maps
    result.coverage = nil
    return result
}

/// The dispatch form of `routes` (docs/merging.md, "Destination dispatch"): their linear rules,
/// dispatched on the destination. Nil when no segment of at least `minRules` rules forms.
func compileDispatched(_ routes: [FlowRoute], options: CompileOptions, minRules: Int) -> CompileResult? {
    var linear = options
    linear.merge = false
    var result = compileOne(routes, linear)
    let (prologue, rules) = TablePrologue.split(result.table.chains[0].rules)
    guard let d = DispatchBuilder.build(rules: rules, base: options.chainName, ruleRoutes: result.ruleRoutes,
                                        destination: { i in (routes[i].family == .ipv6, DispatchKey(destinationOf: routes[i])) },
                                        minRules: minRules, protocolMinRules: Tuning.protocolDispatchMinRules) else { return nil }
    result.table.chains[0].rules = prologue + d.base
    result.table.chains += d.chains
    result.table.sets += d.maps
    result.fixFigures()
    return result
}

struct RouteCompiler {
    let options: CompileOptions
    var pool = SetPool()
    var bytes = BytesPool()
    var objects: [NftObject] = []
    var objectNames: Set<String> = []
    var rules: [NftRule] = []
    var ruleRoutes: [Int] = []
    var rejected: [RouteRejection] = []
    var notes: [CompileNote] = []
    var policy: NftChainPolicy?
    /// The merge pass, fed every rule as it is made (only when merging).
    var planner: MergePlanner
    /// When set, merge units are collected here instead of going to the planner (`IncrementalTable`
    /// places them itself).
    var captured: [MergeUnit]?
    /// Per route (by index): its identity, and the base name of its limit object when it may
    /// have one (`mayLimit`).
    var identities: [String] = []
    var limitNames: [String?] = []
    /// The comments of the routes that have one (`finish` puts them on their rules and elements).
    var routeComments = RouteComments()

    init(options: CompileOptions) {
        self.options = options
        planner = MergePlanner(exactCounters: options.counters)
    }

    /// Keep the planner after `finish`, with what `IncrementalTable` needs of it.
    var keepPlanner = false {
        didSet { planner.tracksGroups = keepPlanner }
    }

    /// What a route's extended communities ask for, after RFC 8955 §7 (several combine, §7.7).
    struct ActionPlan {
        var drop = false
        var limit: NftLimit?
        var sample = false
        /// The T bit is SET: evaluation continues after this route (RFC 8955 §7.3).
        var continues = false
        var dscp: UInt8?
        var mark: UInt32?
    }

    struct Rejection: Error { var reason: String }

    /// Adds `routes` (ordered) as the next routes (0, 1, … in a new compiler); `after(i, self)`
    /// runs once route `i` is in.
    mutating func addAll(_ routes: some RandomAccessCollection<FlowRoute>,
                         after: (Int, borrowing RouteCompiler) -> Void = { _, _ in }) {
        if !options.merge {
            rules.reserveCapacity(rules.count + routes.count)
            ruleRoutes.reserveCapacity(ruleRoutes.count + routes.count)
        } else if captured == nil && planner.units.isEmpty {
            // A first pass (a compile, an `IncrementalTable` built): reserved once, not per call.
            planner.reserve(units: routes.count)
        }
        // The route identities (rule comments) and limit object names first, in a pass of their own:
        // each identity is computed once, and these strings, which live as long as the table, lie
        // together in memory instead of between the rules' expression arrays, so the memory of
        // those arrays can be returned whole when `apply` releases them while it encodes the netlink
        // batch (`Tuning.releaseMinRules`).
        let first = identities.count
        identities.reserveCapacity(first + routes.count)
        limitNames.reserveCapacity(first + routes.count)
        for r in routes { addIdentity(r.identity, of: r) }
        for (i, r) in routes.enumerated() {
            add(r, index: first + i)
            after(first + i, self)
            if let w = costWatch, planner.cost > w.above {
                costWatch = nil
                w.run()
            }
            if let m = abandonAboveCost, planner.cost > m {
                abandoned = true
                return
            }
        }
    }

    /// Merging stops (`abandoned`) once the merged chain made so far costs more than this
    /// (`MergePlanner.cost`, at most what the finished chain will cost), so the dispatch form is
    /// known to win when its cost is at most a `Tuning.dispatchGain`-th of that (`compile`).
    var abandonAboveCost: Int?
    private(set) var abandoned = false
    /// Run once when the merged chain made so far first costs more than its bound (`chooseForm`).
    var costWatch: CostWatch?

    /// `addAll`, with the second half of `routes` compiled on another thread while this one
    /// compiles the first, for unmerged route sets whose number is in `sizes`. Without merging,
    /// a route's rules depend on no other route; only the names of the value sets and limit
    /// objects they share do. The halves are joined as one pass would have made them (`join`):
    /// the result, and every `after` call, are those of `addAll`. When they cannot simply be
    /// joined (a default-policy route in the second half, a limit object name both halves gave)
    /// the second half is compiled again here. Returns whether the halves were joined.
    ///
    /// Merged route sets are compiled in one pass: their units must be placed in route order on
    /// one thread, and placing units made on another thread cost more than compiling them here
    /// (at 100k routes no faster, and 140 MiB more memory).
    @discardableResult
    mutating func addAllInHalves(_ routes: [FlowRoute], sizes: ClosedRange<Int> = Tuning.compileHalvesRoutes,
                                 after: (Int, borrowing RouteCompiler) -> Void = { _, _ in }) -> Bool {
        guard !options.merge, sizes.contains(routes.count) else {
            addAll(routes, after: after)
            return false
        }
        let half = routes.count / 2
        let options = options
        let second = Background { () -> (RouteCompiler, [Int]) in
            var c = RouteCompiler(options: options)
            var objectsEnd: [Int] = []
            objectsEnd.reserveCapacity(routes.count - half)
            c.addAll(routes[half...]) { _, c in objectsEnd.append(c.objects.count) }
            return (c, objectsEnd)
        }
        let offset = identities.count + half
        addAll(routes[..<half], after: after)
        let (rest, objectsEnd) = second.wait()
        guard rest.defaults.isEmpty, objectNames.isDisjoint(with: rest.objectNames) else {
            addAll(routes[half...], after: after)
            return false
        }
        join(rest, objectsEnd: objectsEnd, offset: offset, after: after)
        return true
    }

    /// Appends what `other` (unmerged) compiled from the routes after this compiler's: its route
    /// `i` is route `offset + i` here, and its limit objects end at `objectsEnd[i]`. `other` has
    /// no default-policy route and no limit object name of this one. `after` is called for each
    /// route as `addAll` calls it.
    mutating func join(_ other: RouteCompiler, objectsEnd: [Int], offset: Int,
                       after: (Int, borrowing RouteCompiler) -> Void) {
        let renamed = pool.absorb(other.pool)
        let first = rules.count
        rules.append(contentsOf: other.rules)
        if !renamed.isEmpty {
            for r in first..<rules.count { renameSets(in: &rules[r].expressions, renamed) }
        }
        ruleRoutes.append(contentsOf: other.ruleRoutes.lazy.map { $0 + offset })
        rejected.append(contentsOf: other.rejected.lazy.map { RouteRejection(index: $0.index + offset, route: $0.route, reason: $0.reason) })
        notes.append(contentsOf: other.notes.lazy.map {
            CompileNote(index: $0.index + offset, identity: $0.identity, kind: $0.kind, message: $0.message)
        })
        objectNames.formUnion(other.objectNames)
        identities.append(contentsOf: other.identities)
        limitNames.append(contentsOf: other.limitNames)
        routeComments.formUnion(other.routeComments)
        var o = 0
        for (i, end) in objectsEnd.enumerated() {
            objects.append(contentsOf: other.objects[o..<end])
            o = end
            after(offset + i, self)
        }
    }

    /// Records the identity `id` (and limit base name) of route `r`, which gets the next index.
    mutating func addIdentity(_ id: String, of r: FlowRoute) {
        identities.append(id)
        limitNames.append(Self.mayLimit(r) ? Self.limitBaseName(id) : nil)
        if let comment = r.comment { routeComments.set(comment, for: id) }
    }

    mutating func note(_ index: Int, _ id: String, _ kind: CompileNote.Kind, _ message: String) {
        notes.append(CompileNote(index: index, identity: id, kind: kind, message: message))
    }

    mutating func add(_ route: FlowRoute, index: Int) {
        let id = identities[index]
        let plan: ActionPlan
        do { plan = try actionPlan(route, index: index, id: id) } catch {
            rejected.append(RouteRejection(index: index, route: route, reason: error.reason)); return
        }
        // A default-policy route scoped to interfaces is the default of those interfaces only:
        // a rule (last, as ordering puts it), not the chain's policy.
        if route.isDefaultPolicy && !options.interfaceGroups.scopes(route) {
            if defaults[route.family] != nil {
                note(index, id, .noEffect, "a second \(route.family.name) default-policy route (only 0/0 prefixes) has no effect; the first one decides")
                return
            }
            defaults[route.family] = (route, plan, index)
            return
        }
        emit(route, plan: plan, index: index, id: id)
    }

    /// The default-policy routes (only 0/0 prefixes, one per family, kept for `finish`).
    var defaults: [AddressFamily: (route: FlowRoute, plan: ActionPlan, index: Int)] = [:]

    /// The chain policy a default-policy route stands for, if it is a plain drop or accept.
    static func policy(of plan: ActionPlan) -> NftChainPolicy? {
        if plan.drop { return .drop }
        if plan.limit == nil && !plan.sample && plan.dscp == nil && plan.mark == nil && !plan.continues { return .accept }
        return nil
    }

    /// Appends the rules of one route.
    mutating func emit(_ route: FlowRoute, plan: ActionPlan, index: Int, id: String) {
        let slots: RouteMatches
        do {
            guard let s = try matchSlots(route) else {
                note(index, id, .neverMatches, "the route matches no packet; no rule installed")
                return
            }
            slots = s
        } catch {
            rejected.append(RouteRejection(index: index, route: route, reason: error.reason)); return
        }
        // The rule tails, shared by every alternative of the route: [counter] [log] then the
        // verdict or the modifications.
        var head = [NftExpression]()
        head.reserveCapacity(3)
        if options.counters { head.append(.counter(packets: 0, bytes: 0)) }
        if plan.sample { head.append(.log(group: options.logGroup, prefix: nil)) }
        var modify = [NftExpression]()
        if let d = plan.dscp { modify += dscpSet(d, route.family) }
        if let m = plan.mark {
            modify += [.immediateData(dreg: .reg1, data: [UInt8(m & 0xff), UInt8((m >> 8) & 0xff),
                                                          UInt8((m >> 16) & 0xff), UInt8(m >> 24)]),
                       .metaSet(key: .mark, sreg: .reg1)]
        }
        var tails = [[NftExpression]]()
        if plan.drop {
            tails = [head + [.immediateVerdict(.drop)]]
        } else if let limit = plan.limit {
            let name = limitName(limitNames[index] ?? Self.limitBaseName(id))
            objects.append(.limit(name: name, limit))
            tails = [head + [.objref(type: .limit, name: name), .immediateVerdict(.drop)]]
            // The log is in the first rule only.
            var conforming: [NftExpression] = options.counters ? [.counter(packets: 0, bytes: 0)] : []
            conforming += modify
            if !plan.continues { conforming.append(.immediateVerdict(.accept)) }
            if !(modify.isEmpty && plan.continues) { tails.append(conforming) }
        } else {
            var t = head + modify
            if !plan.continues { t.append(.immediateVerdict(.accept)) }
            if t.isEmpty {
                note(index, id, .noEffect, "the route has no effect (evaluation continues and no action applies); no rule installed")
                return
            }
            tails = [t]
        }
        // One rule per combination of the alternatives of every slot. Most routes have no
        // alternatives: one rule.
        let combos = slots.combinations()
        let limited = tails.contains { $0.contains { if case .objref = $0 { true } else { false } } }
        for combo in combos {
            if options.merge {
                // The unit's own rule is made now only when making it names a value set
                // (`MergeUnit.needsPool`); otherwise only if the unit stays single.
                let single = MergeUnit.needsPool(combo) ? mergePayloadMatches(combo, pool: &pool) : nil
                for t in tails {
                    let unit = MergeUnit(route: index, v6: route.family == .ipv6, identity: id, matches: combo, tail: t, singleMatches: single,
                                         rateLimited: limited)
                    if captured != nil { captured!.append(unit) } else { planner.add(unit) }
                }
                continue
            }
            // Exactly the size of the rule (payload merging can only make it shorter): the IR of
            // a million rules is most of `apply`'s memory.
            var matches = [NftExpression]()
            matches.reserveCapacity(combo.reduce(0) { $0 + $1.exprs.count } + tails.last!.count)
            appendMergedPayloadMatches(combo, to: &matches, pool: &pool)
            for (k, t) in tails.enumerated() {
                if k == tails.count - 1 {
                    // The last tail takes the match expressions over (no copy).
                    matches += t
                    rules.append(NftRule(expressions: matches, comment: id))
                    ruleRoutes.append(index)
                } else {
                    rules.append(NftRule(expressions: matches + t, comment: id))
                    ruleRoutes.append(index)
                }
            }
        }
    }

    mutating func finish() -> CompileResult {
        // One inet chain serves both families, so a default-policy route becomes the chain policy
        // only when both families have one with the same plain verdict. Otherwise each family's
        // default-policy route becomes a last rule of its own (`meta nfproto ipvX` + its actions,
        // exact for every action) and the chain policy is the configured one for the rest.
        let v4 = defaults[.ipv4], v6 = defaults[.ipv6]
        if let a = v4, let b = v6, let pa = Self.policy(of: a.plan), pa == Self.policy(of: b.plan) {
            policy = pa
        } else {
            for d in [v4, v6].compactMap({ $0 }) {
                emit(d.route, plan: d.plan, index: d.index, id: identities[d.index])
            }
        }
        var merged: [MergedRule] = []
        var mergedSets: [NftSet] = []
        var coverage: [DestinationCoverage]?
        if options.merge {
            // Only `add` asks the blocker index; `IncrementalTable` places by its own scan.
            planner.blockers = BlockerIndex()
            if !keepPlanner { for case .group(let g) in planner.slots { g.dropIndex() } }
            (rules, ruleRoutes, merged, mergedSets) = planner.emit(pool: &pool)
            // Only a chain that may cost a packet more than `dispatchConsiderRules` is dispatched
            // (a rule counts at most `lookupRuleCost`): the uniform workload's 10 rules never are.
            if options.dispatch != .never && rules.count * Tuning.lookupRuleCost > Tuning.dispatchConsiderRules {
                coverage = planner.destinationCoverage()
            }
            if !keepPlanner { planner = MergePlanner(exactCounters: options.counters) }
        }
        let table = makeTable(rules: rules, mergedSets: mergedSets)
        var result = CompileResult(table: table, rejected: rejected, notes: notes, ruleRoutes: ruleRoutes, merged: merged)
        result.coverage = coverage
        return result
    }

    /// The table of `rules`: the chain with its policy and the table's own rules first
    /// (`TablePrologue`: accept-established, then own sessions), the pool's sets the rules use,
    /// the merge sets and the objects; the routes' comments on their rules and elements.
    func makeTable(rules: [NftRule], mergedSets: [NftSet]) -> NftTable {
        let p: NftChainPolicy = policy ?? (options.defaultPolicy == .drop ? .drop : .accept)
        let own = OwnSessions.rules(options)
        var chain = NftChain(name: options.chainName,
                             base: .init(type: "filter", hook: options.hook, priority: options.priority, policy: p,
                                         devices: options.devices, offload: options.offload,
                                         counters: options.counters && !options.offload),
                             rules: own.isEmpty ? rules : own + rules)
        if options.acceptEstablished { chain.rules.insert(AcceptEstablished.rule(counters: options.counters), at: 0) }
        // A set made for a route that then installed no rule (it never matches, or has no effect)
        // is dropped: the kernel has no use for it, and nft refuses an untyped unused integer set.
        var used = Set<String>()
        for rule in rules {
            for e in rule.expressions { if let s = e.lookedUpSet { used.insert(s) } }
        }
        let sets = pool.sets.filter { used.contains($0.name) } + mergedSets
        var table = NftTable(name: options.tableName, family: .inet, sets: sets, objects: objects, chains: [chain])
        routeComments.annotate(&table)
        return table
    }

    /// A stable object name from the route identity: `rate_` + identity with `:`/`#` as `_`.
    static func limitBaseName(_ id: String) -> String {
        var name = Array("rate_".utf8)
        name.reserveCapacity(5 + id.utf8.count)
        for c in id.utf8 { name.append(c == UInt8(ascii: ":") || c == UInt8(ascii: "#") ? UInt8(ascii: "_") : c) }
        return String(decoding: name, as: UTF8.self)
    }

    /// Whether the route's actions may need a limit object: its first traffic-rate community
    /// asks for a finite rate above 0 (`actionPlan` decides; this only says when to name one
    /// ahead).
    static func mayLimit(_ route: FlowRoute) -> Bool {
        for c in route.extendedCommunities {
            switch FlowAction(c) {
            case .trafficRateBytes(_, let r), .trafficRatePackets(_, let r): return r > 0 && r.isFinite
            default: continue
            }
        }
        return false
    }

    /// `base` (see `limitBaseName`), made unique in the table with a `_2`, `_3`, … suffix.
    mutating func limitName(_ base: String) -> String {
        if objectNames.insert(base).inserted { return base }
        var n = 2
        while objectNames.contains(base + "_\(n)") { n += 1 }
        let name = base + "_\(n)"
        objectNames.insert(name)
        return name
    }

    // MARK: actions

    /// Whether this is the route's first redirect community (of either attribute); a later one
    /// is noted and skipped.
    private mutating func firstRedirect(_ seen: inout Bool, _ index: Int, _ id: String) -> Bool {
        if seen { note(index, id, .adjustedAction, "several redirect communities; only the first applies"); return false }
        seen = true
        return true
    }

    mutating func actionPlan(_ route: FlowRoute, index: Int, id: String) throws(Rejection) -> ActionPlan {
        var plan = ActionPlan()
        var rateSeen = false, markingSeen = false, redirectSeen = false
        /// A redirect to a route target: its mark (`--vrf`, `--redirect-mark`), else
        /// `--unmapped-redirect`. `what` names the community in the note or the rejection.
        func redirect(to rt: RouteTarget, _ what: String) throws(Rejection) {
            if let mark = options.redirectMarks[rt] {
                plan.mark = mark
            } else if options.unmappedRedirect == .ignore {
                note(index, id, .adjustedAction, "\(what) has no VRF or mark: the redirect is ignored, the route's other actions apply")
            } else {
                throw Rejection(reason: "\(what) has no VRF or fwmark (map it with --vrf or --redirect-mark, or --unmapped-redirect ignore)")
            }
        }
        for community in route.extendedCommunities {
            let a = FlowAction(community)
            switch a {
            case .trafficRateBytes(_, let r), .trafficRatePackets(_, let r):
                let packets: Bool = if case .trafficRatePackets = a { true } else { false }
                if rateSeen {
                    note(index, id, .adjustedAction, "several traffic-rate communities; only the first applies")
                    continue
                }
                rateSeen = true
                guard !r.isNaN, r >= 0 else {
                    throw Rejection(reason: "traffic-rate \(r) is not a rate (NaN or negative)")
                }
                if r == 0 { plan.drop = true; continue }
                if r.isInfinite {
                    note(index, id, .adjustedAction, "traffic-rate is infinite: no limit applied")
                    continue
                }
                let (limit, exact) = Self.limit(rate: Double(r), packets: packets)
                if !exact {
                    note(index, id, .adjustedAction, "traffic-rate \(r) rounded to \(limit.rate) per \(limit.unit)")
                }
                plan.limit = limit
            case .trafficAction(let sample, let terminal):
                plan.sample = plan.sample || sample
                plan.continues = plan.continues || terminal
            case .redirect(let rt):
                guard firstRedirect(&redirectSeen, index, id) else { continue }
                try redirect(to: rt, "redirect to route target \(rt)")
            case .redirectToIP(let ip, let copy):
                guard firstRedirect(&redirectSeen, index, id) else { continue }
                plan.mark = try Self.nextHopMark(ip, copy: copy, family: route.family, marks: options.nextHopMarks)
            case .trafficMarking(let dscp, let value):
                if markingSeen { note(index, id, .adjustedAction, "several traffic-marking communities; only the first applies"); continue }
                markingSeen = true
                if value > 63 {
                    note(index, id, .adjustedAction, "traffic-marking value \(value) exceeds a DSCP (historical sequence-number use?); DSCP set to its low 6 bits, \(dscp)")
                }
                plan.dscp = dscp
            case .routeTarget:
                continue
            case .unknown(let c):
                note(index, id, .ignoredCommunity, "extended community 0x\(String(c.rawValue, radix: 16)) is not a flowspec action; ignored")
            }
        }
        // Attribute 25 after attribute 16: an 8-octet redirect comes first.
        for community in route.ipv6ExtendedCommunities {
            switch IPv6FlowAction(community) {
            case .redirectToIP(let ip, let copy):
                guard firstRedirect(&redirectSeen, index, id) else { continue }
                plan.mark = try Self.nextHopMark(ip, copy: copy, family: route.family, marks: options.nextHopMarks)
            case .rtRedirect(let address, let local):
                guard firstRedirect(&redirectSeen, index, id) else { continue }
                let rt = RouteTarget(global: .ipv6(address), local: UInt32(local))
                try redirect(to: rt, "rt-redirect-ipv6 (RFC 8956 §6.1) to route target \(rt)")
            case .unknown(let c):
                note(index, id, .ignoredCommunity, "IPv6 address-specific extended community \(c) is not a flowspec action; ignored"
                     + Self.nonStandardIPv6Redirect(c))
            }
        }
        if plan.drop { plan.limit = nil }
        return plan
    }

    /// What a speaker meant by a non-standard IPv6 redirect code, for the note that ignores it:
    /// FRR 8.4 sends rt-redirect-ipv6 as 0x800d, GoBGP its IPv6 redirect as 0x800b, where RFC 8956
    /// §6.1 has 0x000d. Not read as redirects: the codes are not the RFC's.
    static func nonStandardIPv6Redirect(_ c: IPv6ExtendedCommunity) -> String {
        switch (c.type, c.subtype) {
        case (0x80, 0x0d): " (FRR's code for rt-redirect-ipv6; RFC 8956 §6.1 has 0x000d)"
        case (0x80, 0x0b): " (GoBGP's code for a redirect to an IPv6 route target; RFC 8956 §6.1 has 0x000d)"
        default: ""
        }
    }

    /// The mark of a redirect to next hop `ip` (0x010c, or 0x000c in attribute 25) from a route of `family`, or why there is none.
    static func nextHopMark(_ ip: IPAddress, copy: Bool, family: AddressFamily, marks: [IPAddress: UInt32]) throws(Rejection) -> UInt32 {
        if copy {
            throw Rejection(reason: "redirect to IP \(ip) with the copy bit: nftables copies packets (dup) only in ip, ip6 and netdev tables, not in the inet table this tool installs, and redirecting the original instead would drop its normal path")
        }
        guard ip.family == family else {
            throw Rejection(reason: "redirect to IP \(ip) from an \(family.name) route: the next hop is of the other family")
        }
        guard let mark = marks[ip] else {
            throw Rejection(reason: "redirect to IP \(ip) has no mark: policy routing is not set up for it (compiled without a keeper's policy routes, or the redirect range is full)")
        }
        return mark
    }

    /// A rate in units per second as an nft limit: per second when at least 1, else per the
    /// smallest unit that makes it at least 1. Packet limits get nft's default burst of 5.
    static func limit(rate: Double, packets: Bool) -> (NftLimit, exact: Bool) {
        let units: [NftLimit.Unit] = [.second, .minute, .hour, .day, .week]
        var unit = NftLimit.Unit.week
        var v = rate * Double(NftLimit.Unit.week.rawValue)
        for u in units where rate * Double(u.rawValue) >= 1 {
            unit = u; v = rate * Double(u.rawValue); break
        }
        let capped = min(max(v.rounded(), 1), Double(UInt64(1) << 62))
        let value = UInt64(capped)
        return (NftLimit(rate: value, unit: unit, burst: packets ? 5 : 0, kind: packets ? .packets : .bytes, over: true),
                Double(value) == v)
    }

    /// `ip dscp set V` / `ip6 dscp set V` exactly as nft emits them: read the 16 bits holding
    /// the field, replace it, write back (IPv4 with its header checksum fixed).
    func dscpSet(_ d: UInt8, _ family: AddressFamily) -> [NftExpression] {
        if family == .ipv4 {
            return [.payload(base: .network, offset: 0, length: 2, dreg: .reg1),
                    .bitwise(sreg: .reg1, dreg: .reg1, length: 2, mask: [0xff, 0x03], xor: [0x00, d << 2]),
                    .payloadSet(base: .network, offset: 0, length: 2, sreg: .reg1, checksumType: 1, checksumOffset: 10)]
        }
        return [.payload(base: .network, offset: 0, length: 2, dreg: .reg1),
                .bitwise(sreg: .reg1, dreg: .reg1, length: 2, mask: [0xf0, 0x3f], xor: [(d >> 2) & 0x0f, (d & 0x03) << 6]),
                .payloadSet(base: .network, offset: 0, length: 2, sreg: .reg1, checksumType: 0, checksumOffset: 0)]
    }
}

extension NftLimit.Unit: CustomStringConvertible {
    public var description: String {
        switch self { case .second: "second"; case .minute: "minute"; case .hour: "hour"; case .day: "day"; case .week: "week" }
    }
}
