import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats

/// How a `TableKeeper` builds its table.
public struct KeeperConfiguration: Sendable, Hashable {
    public var order: RouteOrder
    /// Route-target scoping: routes meant for other switches are left out.
    public var scope: RouteScope
    public var options: CompileOptions
    public var policy: CostPolicy
    /// What is refused even though the kernel would take it.
    public var guards: InstallGuards

    public init(order: RouteOrder = .rfc, scope: RouteScope = .all, options: CompileOptions = CompileOptions(),
                policy: CostPolicy = CostPolicy(), guards: InstallGuards = InstallGuards()) {
        self.order = order; self.scope = scope; self.options = options; self.policy = policy; self.guards = guards
    }
}

/// The one owner of the installed table: what it holds (the compiled table, or for a merged
/// table its `IncrementalTable` planner), its state in the kernel (`TableState`), and, given a
/// `StateStore`, all of that between processes. Every write goes through it: `install` for a
/// whole route set (one-shot `apply`, a daemon's rebuild), `update` for routes that changed (a
/// daemon's UPDATEs). Either produces one `TableChange` in place when that is possible and worth
/// it (`CostPolicy`), else a whole atomic replace; set naming (`ContentSetNames`) is applied here,
/// so a change is never planned against a table named otherwise.
///
/// Used by one owner at a time (a command, or the agent's actor): it is not thread-safe.
public final class TableKeeper: @unchecked Sendable {
    public private(set) var configuration: KeeperConfiguration
    private let writer: any TableWriter
    private let store: StateStore?
    /// False when told not to trust the stored state (`apply --full`).
    private let trustStored: Bool

    /// The table installed, when known: the merged form's planner, or the compiled table.
    private var incremental: IncrementalTable?
    private var table: NftTable?
    /// The name of the table this keeper installed last (nil: none, or removed).
    private var installedName: String?
    /// The installed table's state in the kernel; nil when unknown (the next write replaces).
    private var state: TableState?
    /// The previous process's files, being read on other CPUs (`store` only, until first used).
    private var loading: Loading?

    private struct Loading {
        var state: Background<TableState?>
        var previous: Background<Restored?>?
    }

    /// A merged table restored from the store: its snapshot with the journal replayed.
    private struct Restored: @unchecked Sendable {
        var table: IncrementalTable
        var snapshotBytes: Int
        var journalBytes: Int
    }

    /// The planner of the installed merged table is in the store, not in memory: the next install
    /// restores it.
    private var plannerStored = false

    /// Sizes of the store's snapshot and journal, to know when the journal is worth folding.
    private var snapshotBytes = 0, journalBytes = 0

    /// The rules and routes of the table's redirects (`PolicyRoutes`), when the tool makes them.
    public let policyRoutes: PolicyRoutes?
    /// Per installed route identity, its redirect that `policyRoutes` carries out.
    private var routeTargets: [String: RedirectTarget] = [:]
    /// The redirects of the routes being installed, pruned to once the table is committed.
    private var pendingTargets: [String: RedirectTarget]?

    /// - Parameters:
    ///   - store: where the state of the installed table is kept between processes. The previous
    ///     process's files start loading now, on other CPUs, while the caller reads its input.
    ///   - trustStored: false ignores the stored state (`apply --full`); it is still replaced.
    ///   - policyRoutes: makes the redirects' rules and routes (redirect-to-IP, `--vrf`) around
    ///     every change: their marks join the compile options.
    public init(configuration: KeeperConfiguration, writer: any TableWriter, store: StateStore? = nil,
                trustStored: Bool = true, policyRoutes: PolicyRoutes? = nil) {
        var configuration = configuration
        if let policyRoutes { Self.addMarks(of: policyRoutes, to: &configuration.options) }
        self.policyRoutes = policyRoutes
        self.configuration = configuration
        self.writer = writer
        self.store = store
        self.trustStored = trustStored
        if let store, trustStored {
            let options = configuration.options, order = configuration.order
            loading = Loading(state: Background { store.loadState() },
                              previous: options.merge ? Background { Self.restore(store, options: options, order: order) } : nil)
        }
    }

    /// The table in the kernel as this keeper installed it (nil before the first install, after
    /// `remove`, and while only the stored state of another process's table is known).
    public var installed: NftTable? { incremental?.table ?? table }

    /// The size of the table in the kernel as this keeper installed it (`installed`'s), for a
    /// daemon's metrics after every change: kept as commits are made (with the ruleset
    /// generation it is true for), and counted from `installed` only when that is not known.
    public var installedSize: TableSize? {
        if let state, state.generation != 0, let size, size.generation == state.generation { return size.size }
        guard let table = installed else { return nil }
        let counted = TableSize(table)
        if let state, state.generation != 0 { size = (state.generation, counted) }
        return counted
    }
    private var size: (generation: UInt32, size: TableSize)?

    /// Sends `change` over `current` (the state it was planned on, then the state after it),
    /// and carries the kept size over the commit.
    private func send(_ change: TableChange, over current: inout TableState) throws -> ApplyReport {
        let before = current.generation
        let report = try writer.apply(change, over: &current)
        if var kept = size, kept.generation == before, before != 0, current.generation != 0 {
            kept.size.apply(change, rules: current.ruleCount)
            size = (current.generation, kept.size)
        } else {
            size = nil
        }
        return report
    }

    /// Whether this keeper has a table in the kernel (it may no longer know its content, after
    /// an update the planner gave up on).
    public var isInstalled: Bool { installedName != nil }

    /// Whether `update` can place changed routes: a merged table is installed and its state known.
    public var followsChanges: Bool { incremental != nil && state != nil }

    /// Why the last `update` could not be made in place (the planner's reason).
    public private(set) var givenUp: String?

    /// Whether what this keeper does reaches the kernel or its store (`check` needs neither).
    var writesAnything: Bool { writer.commits || store.map { !$0.readOnly } == true || policyRoutes?.commits == true }

    /// The table named `name` as the kernel holds it, through the writer (nil when absent).
    func installedTable(name: String) throws -> NftTable? { try writer.installedTable(name: name, family: .inet) }

    /// Whether a change of `changedRoutes` routes of `totalRoutes` is one `update` would place
    /// (`CostPolicy.worthPlacing`). A caller asks before it gathers the change (validating and
    /// sorting 100k changed routes only to hear "too many" cost ~0.4 s of a flood); when it is
    /// not, the planner is let go of at once (the whole table is compiled next) and `givenUp`
    /// says why, as `update` would.
    public func placesChange(of changedRoutes: Int, in totalRoutes: Int) -> Bool {
        guard followsChanges else { return false }
        guard configuration.policy.worthPlacing(changedRoutes, of: totalRoutes) else {
            givenUp = "\(changedRoutes) routes changed: rebuilding the whole table"
            incremental = nil
            return false
        }
        return true
    }

    // MARK: - A whole route set

    /// Brings the kernel to the table of `input`'s current routes: in place when the installed
    /// table is known (this process's, or the stored one of the previous process) and the change
    /// is worth it, else by a whole replace. Throws, with the old table untouched, when the
    /// kernel refuses; then nothing is stored (no later run trusts a state the kernel may not hold).
    ///
    /// The input is consumed: its routes are freed once admitted (validated and scoped), not
    /// held through the commit (13 MB at 100k unmerged routes).
    ///
    /// With `policyRoutes`, the redirects' rules and routes are made before the table that sets
    /// their marks is committed, and those no route needs any more are removed after it.
    public func install(_ input: consuming ReadResult) throws -> KeeperOutcome {
        guard let policyRoutes else { return try installRoutes(input) }
        pendingTargets = nil
        let outcome = try installRoutes(input)
        if let next = pendingTargets {
            routeTargets = next
            pendingTargets = nil
            try policyRoutes.prune(keeping: Set(next.values))
        }
        return outcome
    }

    /// The marks `policyRoutes` gives next hops and VRFs, in `options` (an explicit
    /// `redirectMarks` entry for a route target wins).
    private static func addMarks(of policyRoutes: PolicyRoutes, to options: inout CompileOptions) {
        options.nextHopMarks = policyRoutes.nextHopMarks
        options.redirectMarks.merge(policyRoutes.vrfMarks) { explicit, _ in explicit }
    }

    /// Gives the redirects of `routes` their marks (a new mark is a new configuration: a planner
    /// made with the old marks is let go of) and makes their rules and routes, before any table
    /// that sets the marks is committed.
    private func prepareRedirects(_ routes: [FlowRoute]) throws {
        guard let policyRoutes else { return }
        var targets: [String: RedirectTarget] = [:]
        for r in routes { if let t = policyRoutes.target(of: r) { targets[r.identity] = t } }
        if policyRoutes.assign(Set(targets.values)) {
            Self.addMarks(of: policyRoutes, to: &configuration.options)
            if let incremental { table = incremental.table; self.incremental = nil }
        }
        try policyRoutes.ensure(Set(targets.values))
        pendingTargets = targets
    }

    /// Re-resolves the redirect next hops and changes their routes where the path changed (a
    /// daemon calls it on rtnetlink notifications); one line per change.
    public func followNextHops() throws -> [String] {
        try policyRoutes?.follow() ?? []
    }

    private func installRoutes(_ input: consuming ReadResult) throws -> KeeperOutcome {
        let clock = ContinuousClock(), start = clock.now
        adoptLoaded()
        let guards = configuration.guards
        if input.nothingUsable && !guards.acceptUnusableInput {
            throw KeeperRefusal.unusable(input.errors.map(Rejection.init))
        }
        // What the guards compare with, taken before an attempt in place changes the planner.
        let previousCount = installedRouteCount()
        let previousIDs = guards.maxWithdrawal != nil ? installedIdentities() : nil
        // Validated and scoped once, for whichever path goes on.
        let readerErrors = input.errors
        // Its last use: the input goes to the admitted routes and is freed with them.
        var admitted: AdmittedRoutes? = AdmittedRoutes(input, scope: configuration.scope)
        try prepareRedirects(admitted!.valid)
        if let done = try installInPlace(readerErrors, admitted!, start: start, previousCount: previousCount, previousIDs: previousIDs) {
            return done
        }
        let order = configuration.order, options = configuration.options
        let storing = store != nil
        var incremental: IncrementalTable?
        var compiled: NftTable
        var outcome: KeeperOutcome
        let compiledName = options.tableName
        do {
            // The prepared table goes out of scope before the batch is built (a million routes'
            // batch needs that memory), leaving the compiled table, renamed in place.
            var prepared = PreparedTable(admitting: admitted.take()!, readerErrors: readerErrors, order: order, options: options,
                                         keysUpTo: storing ? Tuning.storedMaxRoutes : .max, build: options.merge ? { routes, keys in
                // Its lookups for updates are made during the commit (below), or never when it
                // is stored.
                let result: CompileResult
                (result, incremental) = IncrementalTable.buildUnindexed(routes, keys: keys, order: order, options: options)
                return result
            } : nil)
            ContentSetNames.apply(to: &prepared.compiled.table)
            compiled = prepared.compiled.table
            outcome = KeeperOutcome(prepared, method: .unchanged, prepareTime: clock.now - start)
            outcome.figures = prepared.compiled.figures
            let installedCount = outcome.installed
            let refusal = try guards.check(previousCount: previousCount, tableExists: {
                try writer.tableExists(name: options.tableName, family: .inet)
            }, nextCount: installedCount, withdrawn: {
                let rejectedAt = Set(prepared.rejected.map(\.position))
                let next = Set(prepared.read.lazy.filter { !rejectedAt.contains($0.position) }.map(\.route.identity))
                return previousIDs?.subtracting(next).count ?? 0
            }, rejected: prepared.rejected)
            if let refusal { throw refusal }
        }
        if let old = installed, old == compiled {
            if !storing { incremental?.prepareForUpdates() }
            self.incremental = incremental ?? self.incremental
            outcome.report = .nothing(generation: state?.generation ?? 0)
            return outcome
        }
        let previousName = installedName
        // This process keeps an unmerged table to compare the next one with; a stored one keeps
        // no copy (a large table's rules are freed as they are encoded).
        let keep = incremental == nil && !storing ? compiled : nil
        store?.remove()
        // The snapshot is serialized and written on another CPU while the batch is built and
        // committed; the state, written last, is what makes a later run trust it.
        let snapshotWritten = store.flatMap { store in
            incremental.map { table in Background { store.saveSnapshot(table.serialized()) } }
        }
        // With a store, the planner lives on disk: the writer's thread holds the last reference
        // and frees it there, during the commit (a 100k-route planner takes ~0.15 s to free).
        if storing, incremental != nil {
            incremental = nil
            plannerStored = true
        }
        // Kept, the planner gets its lookups for updates on another CPU while the kernel takes
        // the table (~40 ms at 100k routes, no longer before the commit).
        let indexed = incremental.map { table in Background { table.prepareForUpdates() } }
        defer { indexed?.wait() }
        do {
            if let previousName, previousName != compiled.name {
                try writer.deleteTable(name: previousName, family: compiled.family)
                state = nil
            }
            (outcome.report, outcome.method) = try write(consume compiled)
        } catch {
            // No state: a snapshot alone is never trusted, but it is not left behind half written.
            if snapshotWritten?.wait() == true { store?.remove() }
            self.incremental = nil; table = nil; state = nil
            throw error
        }
        installedName = compiledName
        if storing {
            // A stored process keeps no copy of its table: the next process restores it.
            let saved = snapshotWritten?.wait() ?? false
            if let state { store?.save(state) } else if saved { store?.remove() }
            store?.pruneDeadNamespaces()
            snapshotBytes = 0; journalBytes = 0
        }
        self.incremental = incremental
        table = keep
        return outcome
    }

    /// Sends `table` (content set names) as a change over the known state when that can be
    /// planned and is worth it, else replaces it whole. Updates `state`.
    private func write(_ compiled: consuming NftTable) throws -> (ApplyReport, InstallMethod) {
        var reason = "no current state of the table"
        var shape: TableShape?
        if var current = state {
            let generation = try writer.generation()
            if let distrust = try distrust(current, generation: generation) {
                reason = distrust
            } else {
                // Made once: the plan and a replace's new state both need it.
                shape = TableShape(copy compiled)
                switch TableChange.plan(from: current, to: copy compiled, shape: shape, policy: configuration.policy) {
                case .replace(let why): reason = why
                case .inPlace(let change):
                    if change.isEmpty { return (.nothing(generation: generation), .unchanged) }
                    // Held once while it changes: a second reference would copy it (100k routes).
                    state = nil
                    do {
                        let report = try send(change, over: &current)
                        state = current
                        return (report, InstallMethod(change))
                    } catch {
                        reason = "the change failed, nothing of it was committed: \(error)"
                    }
                }
            }
        }
        if !trustStored && store != nil { reason = "asked for (--full)" }
        state = nil
        let replacing = TableSize(compiled)
        size = nil
        let (report, next) = try writer.replace(compiled, shape: shape)
        state = next
        if let next, next.generation != 0 { size = (next.generation, replacing) }
        return (report, .replace(reason: reason))
    }

    /// The in-place path for a whole route set, when the installed merged table is known: only
    /// the routes whose content changed are compiled and placed. Nil when it cannot be done
    /// (nothing known, stale state, a change the planner gives up on or that is too large, the
    /// kernel refusing it); nothing was changed then.
    private func installInPlace(_ readerErrors: [ReadError], _ admitted: borrowing AdmittedRoutes, start: ContinuousClock.Instant,
                                previousCount: Int?, previousIDs: Set<String>?) throws -> KeeperOutcome? {
        guard configuration.options.merge else { return nil }
        guard let incremental, var current = state else { return nil }
        let valid = admitted.valid
        guard let generation = try? writer.generation(), case .success(nil) = Result(catching: { try distrust(current, generation: generation) }) else {
            // Another table now, or none: what this one was planned for is of no further use.
            self.incremental = nil
            return nil
        }
        // The guards first with what the input says (the planner stays usable when they refuse),
        // again below once the compiler has had its say.
        let guards = configuration.guards
        if let refusal = guards.check(previousCount: previousCount, tableExists: { true }, nextCount: valid.count, withdrawn: {
            (previousIDs ?? []).subtracting(valid.lazy.map(\.identity)).count
        }, rejected: readerErrors.map(Rejection.init) + admitted.invalid) {
            throw refusal
        }
        guard !configuration.policy.worthRebuilding(retired: incremental.retiredRouteCount, of: incremental.routeCount) else {
            // What withdrawn routes left behind is let go of: compiled whole, and the
            // difference sent.
            self.incremental = nil
            return nil
        }
        guard let update = incremental.update(to: valid) else {
            givenUp = incremental.givenUp
            self.incremental = nil
            return nil
        }
        let change = update.change
        let changed = change.addedElementCount + change.removedElementCount + change.insertedRules.count + change.deletedRules.count
        guard configuration.policy.worthPlacing(changed, of: valid.count) else {
            self.incremental = nil
            return nil
        }
        let prepared = ContinuousClock.now - start
        var outcome = KeeperOutcome(read: admitted.read.count, installed: incremental.installedRouteCount,
                                    rejected: readerErrors.map(Rejection.init) + admitted.invalid, notes: [], outOfScope: admitted.outOfScope.count,
                                    method: change.isEmpty ? .unchanged : InstallMethod(change), prepareTime: prepared,
                                    report: .nothing(generation: current.generation))
        // Reasons and notes by the routes' positions in this input.
        var position: [String: (String, FlowRoute)] = [:]
        if !incremental.refusals.isEmpty || !incremental.notes.isEmpty {
            for (r, k) in zip(valid, admitted.validSource) { position[r.identity] = (admitted.read[k].position, r) }
        }
        for (id, reason) in incremental.refusals.sorted(by: { $0.key < $1.key }) {
            outcome.rejected.append(Rejection(position: position[id]?.0 ?? id, route: position[id]?.1, cause: .inexpressible(reason)))
        }
        for (id, notes) in incremental.notes.sorted(by: { $0.key < $1.key }) {
            for n in notes { outcome.notes.append("\(position[id]?.0 ?? id): \(n)") }
        }
        if !incremental.refusals.isEmpty, let refusal = guards.check(previousCount: previousCount, tableExists: { true },
                                                                    nextCount: outcome.installed, withdrawn: {
            (previousIDs ?? []).subtracting(incremental.installedIdentities).count
        }, rejected: outcome.rejected) {
            // The planner holds the refused routes now: the next install compiles whole.
            self.incremental = nil
            throw refusal
        }
        // Without the state file no later run trusts the snapshot and journal: it is written
        // again only once they describe the table committed.
        store?.removeState()
        var report = ApplyReport.nothing(generation: current.generation)
        state = nil
        if !change.isEmpty {
            do {
                report = try send(change, over: &current)
            } catch {
                // Nothing was committed: the state still describes the kernel.
                store?.save(current)
                state = current
                self.incremental = nil
                return nil
            }
        }
        state = current
        loading = nil
        installedName = configuration.options.tableName
        if let store {
            // A record in the journal; the whole snapshot again once the journal is a quarter of it.
            let record = IncrementalTable.journalRecord(removed: update.removed, added: update.added)
            if journalBytes + record.count > snapshotBytes / 4 {
                let snapshot = incremental.serialized()
                // A state is only ever saved next to the snapshot it was made with.
                if store.saveSnapshot(snapshot) {
                    store.save(current)
                    snapshotBytes = snapshot.count; journalBytes = 0
                }
            } else {
                store.save(current, journal: record)
                journalBytes += record.count
            }
        }
        outcome.report = report
        return outcome
    }

    /// Takes over what the previous process left, once read: its state, and for a merged table
    /// its planner (only with the state it was saved with).
    private func adoptLoaded() {
        if plannerStored, loading == nil, incremental == nil, state != nil, let store {
            plannerStored = false
            adopt(Self.restore(store, options: configuration.options, order: configuration.order))
        }
        guard let loading else { return }
        self.loading = nil
        let loadedState = loading.state.wait()
        if state == nil { state = loadedState }
        if loadedState != nil, incremental == nil { adopt(loading.previous?.wait() ?? nil) }
    }

    private func adopt(_ restored: Restored?) {
        guard let restored else { return }
        incremental = restored.table
        snapshotBytes = restored.snapshotBytes
        journalBytes = restored.journalBytes
    }

    /// How many routes the installed table holds, when known: the planner's, this process's
    /// table's, or an unmerged state's (a merged state alone does not say).
    /// Asked before every install (the guards' baseline), so it makes no set of identities: an
    /// unmerged state's routes are all route identities (`TableShape` admits no other comment
    /// without a merge set), one each.
    private func installedRouteCount() -> Int? {
        if let incremental { return incremental.installedRouteCount }
        if let state, state.mergeSets.isEmpty { return state.routes.count }
        return table.map { Self.identities(of: $0).count }
    }

    /// The identities of the routes the installed table holds, when known (as `installedRouteCount`).
    private func installedIdentities() -> Set<String>? {
        if let incremental { return Set(incremental.installedIdentities) }
        if let state, state.mergeSets.isEmpty { return Set(state.routes.map(\.identity)) }
        return table.map(Self.identities(of:))
    }

    private static func identities(of table: NftTable) -> Set<String> {
        Set(table.chains.lazy.flatMap(\.rules).compactMap(\.comment).filter(RouteIdentity.isIdentity))
    }

    /// Why `state` does not describe the table in the kernel now, or nil when it does: the
    /// ruleset is at the generation the state was taken at, and the table carries the state's
    /// stamp (so it is the table the state was made for, not one of another process or namespace
    /// whose counts happen to agree).
    private func distrust(_ state: TableState, generation: UInt32) throws -> String? {
        if state.generation != generation { return "the ruleset changed since the state was taken" }
        if try writer.stamp(ofTable: state.table, family: state.family) != state.stamp || state.stamp == 0 {
            return "the table in the kernel is not the one the state describes"
        }
        return nil
    }

    private static func restore(_ store: StateStore, options: CompileOptions, order: RouteOrder) -> Restored? {
        guard let bytes = store.loadSnapshot(),
              let table = IncrementalTable.restore(bytes, options: options, order: order) else { return nil }
        let journal = store.loadJournal()
        guard table.replay(journal) else { return nil }
        table.prepareForUpdates()
        return Restored(table: table, snapshotBytes: bytes.count, journalBytes: journal.count)
    }

    // MARK: - Routes that changed

    /// What `update` did.
    public struct Update: Sendable {
        public var change: TableChange
        /// Added routes the compiler refused.
        public var rejected: [RouteRejection]
        public var installed: Int
        /// The compiler's notes on the added routes (`CompileNote` text, by route identity).
        public var notes: [String] = []
    }

    /// Takes the routes of `removing` out of the installed merged table and puts
    /// `adding` in (each with its tiebreak: its first-announcement order), compiling only those,
    /// and sends the change in one batch. Nil when it cannot be done in place — no merged table
    /// installed, a change larger than the policy places (`changedRoutes` of `totalRoutes`), the
    /// planner giving up (`givenUp`), the kernel refusing — and then nothing was changed: call
    /// `install` with the whole route set. Throws, with nothing changed, when a guard refuses the
    /// change (`configuration.guards`, as `install` would).
    ///
    /// With `policyRoutes`, a redirect next hop without a mark yet gives nil (`install` gives it
    /// one); the rules and routes of the added routes' redirects are made before the change, and
    /// those no route needs any more removed after it (a failure there is in `routingProblem`).
    public func update(removing: [RouteID], adding: [(route: FlowRoute, tiebreak: Int)],
                       changedRoutes: Int, totalRoutes: Int) throws(KeeperRefusal) -> Update? {
        guard let policyRoutes else {
            return try updateRoutes(removing: removing, adding: adding, changedRoutes: changedRoutes, totalRoutes: totalRoutes)
        }
        routingProblem = nil
        var next = routeTargets
        for id in removing { next[id.description] = nil }
        for (route, _) in adding { next[route.identity] = policyRoutes.target(of: route) }
        let targets = Set(next.values)
        guard policyRoutes.hasMarks(for: targets) else {
            givenUp = "a redirect next hop needs a mark: rebuilding the whole table"
            return nil
        }
        do { try policyRoutes.ensure(targets) } catch {
            givenUp = "the redirects' rules and routes could not be made: \(error)"
            return nil
        }
        guard let done = try updateRoutes(removing: removing, adding: adding, changedRoutes: changedRoutes, totalRoutes: totalRoutes) else {
            return nil
        }
        routeTargets = next
        do { try policyRoutes.prune(keeping: targets) } catch { routingProblem = "\(error)" }
        return done
    }

    /// Why the last `update` could not remove the redirects' rules and routes no route needs any
    /// more (they stay until the next change); nil when it could.
    public private(set) var routingProblem: String?

    private func updateRoutes(removing: [RouteID], adding: [(route: FlowRoute, tiebreak: Int)],
                              changedRoutes: Int, totalRoutes: Int) throws(KeeperRefusal) -> Update? {
        givenUp = nil
        guard let incremental, var current = state else { givenUp = "no merged table installed (a dispatch or unmerged table is compiled whole)"; return nil }
        let before = incremental.installedRouteCount
        let added = Set(adding.map(\.route.id))
        let withdrawn = removing.count { !added.contains($0) }
        if let refusal = configuration.guards.check(previousCount: before, tableExists: { true },
                                                    nextCount: before - removing.count + adding.count,
                                                    withdrawn: { withdrawn }, rejected: []) {
            throw refusal
        }
        guard configuration.policy.worthPlacing(changedRoutes, of: totalRoutes) else {
            givenUp = "\(changedRoutes) routes changed: rebuilding the whole table"
            self.incremental = nil
            return nil
        }
        let retired = incremental.retiredRouteCount
        guard !configuration.policy.worthRebuilding(retired: retired, of: incremental.routeCount) else {
            givenUp = "\(retired) routes withdrawn since the table was built: rebuilding it to let go of them"
            self.incremental = nil
            return nil
        }
        guard let update = incremental.update(removing: removing.map(\.description), adding: adding) else {
            givenUp = "the change cannot be made in place (\(incremental.givenUp ?? ""))"
            self.incremental = nil
            return nil
        }
        state = nil
        if !update.change.isEmpty {
            do {
                _ = try send(update.change, over: &current)
            } catch {
                givenUp = "the change could not be sent (\(error))"
                state = current
                self.incremental = nil
                table = nil
                return nil
            }
        }
        state = current
        var made = Update(change: update.change, rejected: update.rejected, installed: incremental.installedRouteCount)
        for (route, _) in adding { for n in incremental.notes[route.identity] ?? [] { made.notes.append("\(route.identity): \(n)") } }
        return made
    }

    // MARK: - Configuration and removal

    /// New options, order or scope: the next `install` compiles whole (and compares with, or
    /// removes, the table installed now).
    public func reconfigure(_ new: KeeperConfiguration) {
        configuration = new
        if let policyRoutes { Self.addMarks(of: policyRoutes, to: &configuration.options) }
        if let incremental { table = incremental.table; self.incremental = nil }
    }

    /// Removes the table from the kernel and forgets it (and its stored state); then, the
    /// marks gone, the redirects' rules and routes.
    public func remove() throws {
        let name = installedName ?? configuration.options.tableName
        store?.remove()
        incremental = nil; table = nil; state = nil; loading = nil; installedName = nil; plannerStored = false; size = nil
        try writer.deleteTable(name: name, family: .inet)
        routeTargets = [:]
        try policyRoutes?.removeAll()
    }
}

extension KeeperOutcome {
    init(_ p: PreparedTable, method: InstallMethod, prepareTime: Duration) {
        self.init(read: p.read.count, installed: p.installedCount,
                  rejected: p.rejected, notes: p.notes, outOfScope: p.outOfScope.count,
                  method: method, prepareTime: prepareTime, report: .nothing(generation: 0))
        warnings = p.warnings
    }
}
