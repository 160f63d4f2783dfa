import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation
import Logging

/// What to do with the installed table once the source has been unreadable for
/// `sourceTimeout`.
public enum SourceLossPolicy: String, Sendable, Hashable, CaseIterable {
    /// Leave the last good table in place (fail-static): the filters keep protecting.
    case keep
    /// Remove the table: stale filters are worse than none for this deployment.
    case flush
}

/// How the agent builds and maintains the table; `reconfigure` swaps it at run time (SIGHUP).
public struct AgentConfiguration: Sendable, Hashable {
    public var order: RouteOrder
    /// Route-target scoping: routes meant for other switches are left out.
    public var scope: RouteScope
    public var options: CompileOptions
    /// Quiet time collected after a change before the table is rebuilt: a burst of UPDATEs
    /// becomes one apply.
    public var debounce: Duration
    /// How long the source may be unreadable (failed polls, a lost stream) before
    /// `onSourceLoss` acts.
    public var sourceTimeout: Duration
    public var onSourceLoss: SourceLossPolicy
    /// What is refused although the kernel would take it; by default nothing (a peer that
    /// withdraws everything means it). A refused change leaves the last good table in place.
    public var guards: InstallGuards

    public init(order: RouteOrder = .rfc, scope: RouteScope = .all, options: CompileOptions = CompileOptions(),
                debounce: Duration = .zero, sourceTimeout: Duration = .seconds(30), onSourceLoss: SourceLossPolicy = .keep,
                guards: InstallGuards = InstallGuards()) {
        self.order = order; self.scope = scope; self.options = options; self.debounce = debounce
        self.sourceTimeout = sourceTimeout; self.onSourceLoss = onSourceLoss; self.guards = guards
    }

    /// What the table keeper builds the table with.
    var keeper: KeeperConfiguration { KeeperConfiguration(order: order, scope: scope, options: options, guards: guards) }
}

/// Keeps the kernel table in step with a route source.
///
/// Holds the desired route set as an Adj-RIB-In-like map keyed by family and NLRI (a later
/// announcement replaces, a withdrawal removes). After each debounced change it hands its
/// `TableKeeper` only the routes that changed (`update`: compiled alone, a few set elements in
/// the kernel); when that cannot be done in place — the first apply, a configuration change, a
/// change the planner gives up on, a kernel that refuses — it gives the keeper the whole route
/// set (`install`), which sends the difference or replaces the table. Fail-static: read failures never touch the
/// table; only a source silent for `sourceTimeout` triggers the loss policy, once.
public actor Agent: SourceSink {
    struct Entry {
        var route: ReadRoute
        /// First-announcement order: input positions and ties follow it, as in a file.
        var sequence: Int
        var stale = false
    }

    /// One apply, as the agent logged it (for tests and status); the table is `installed`.
    public struct Applied: Sendable, Hashable {
        public var added: Int
        public var removed: Int
        public var changed: Int
        public var installed: Int
        public var rejected: Int
    }

    public private(set) var configuration: AgentConfiguration
    private let keeper: TableKeeper
    private let logger: Logger
    private let clock = ContinuousClock()

    private var rib = [RouteID: Entry]()
    private var snapshotErrors = [ReadError]()
    private var nextSequence = 0
    /// The table this agent last put in the kernel; nil before the first apply and after a flush.
    public var installed: NftTable? { keeper.installed }
    /// Keys whose route changed since the last apply (the incremental path sends only these).
    private var dirty = Set<RouteID>()
    private var installedRoutes = [RouteID: FlowRoute]()
    private var reportedRejections = Set<Rejection>()
    /// The compiler notes logged already, by message (`noteOnce`).
    private var notedMessages = Set<String>()
    private var pending: Task<Void, Never>?
    /// Routes of a change still arriving were taken in (`partialUpdate`): the `update` that
    /// completes it applies them, even if it brings nothing more.
    private var changeInProgress = false
    private var retry: Task<Void, Never>?
    /// Since when the source has given no good read (nil while healthy). Starts at creation: a
    /// source that never answers is a lost source too.
    private var unhealthySince: ContinuousClock.Instant?
    private var lossHandled = false
    /// The last apply that reached the kernel (a daemon runs for months: no history is kept).
    public private(set) var lastApplied: Applied?
    /// Times the table was removed by the loss policy.
    public private(set) var flushCount = 0
    /// Times a guard refused the routes held (`AgentConfiguration.guards`).
    public private(set) var refusedCount = 0
    /// The last commit: when, and how (`TableMetrics.kind`: delta or full).
    private var lastCommit: (at: Date, kind: String)?
    /// Called with the status after every commit, flush and change of the source's health.
    private var observer: (@Sendable (AgentStatus) -> Void)?

    /// - Parameter policyRoutes: makes the redirects' rules and routes (redirect-to-IP, VRFs)
    ///   around every change (`TableKeeper`); `NextHopFollower` keeps their next hops current.
    public init(configuration: AgentConfiguration, writer: sending any TableWriter, logger: Logger,
                policyRoutes: sending PolicyRoutes? = nil) {
        self.configuration = configuration
        keeper = TableKeeper(configuration: configuration.keeper, writer: writer, policyRoutes: policyRoutes)
        self.logger = logger
        unhealthySince = ContinuousClock.now
    }

    /// Resolves the redirect next hops again and changes the routes of those whose path changed
    /// (`NextHopFollower` calls it after rtnetlink notifications); logs each change.
    public func followNextHops() {
        do {
            for change in try keeper.followNextHops() { logger.notice("redirect \(change)") }
        } catch {
            logger.error("redirect next hops could not be followed (the routes stay as they were): \(error)")
        }
    }

    // MARK: - Running

    /// Runs the source and the source-loss watchdog until the task is cancelled or the source
    /// ends; when it ends, the loss policy is applied at once (a finished stream cannot come back).
    public func run(_ source: any RouteSource) async {
        logger.info("following \(source.name); table inet \(configuration.options.tableName), debounce \(seconds(configuration.debounce)) s, source timeout \(seconds(configuration.sourceTimeout)) s, on source loss: \(configuration.onSourceLoss.rawValue)")
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await source.run(self); return true }
            group.addTask {
                while !Task.isCancelled {
                    let tick = await self.watchdogTick()
                    try? await Task.sleep(for: tick)
                    await self.checkSource()
                }
                return false
            }
            if let first = await group.next(), first { sourceEnded(source.name) }
            group.cancelAll()
        }
    }

    private func watchdogTick() -> Duration {
        min(max(configuration.sourceTimeout / 10, .milliseconds(20)), .seconds(1))
    }

    private func sourceEnded(_ name: String) {
        if !lossHandled {
            logger.warning("\(name) source ended")
            unhealthySince = unhealthySince ?? clock.now
            sourceLost(after: clock.now - (unhealthySince ?? clock.now))
        }
    }

    // MARK: - Status

    /// What the agent holds and did last, for status files.
    public var status: AgentStatus {
        AgentStatus(table: configuration.options.tableName, sourceHealthy: unhealthySince == nil,
                    unhealthyFor: unhealthySince.map { clock.now - $0 }, routesReceived: rib.count,
                    installed: isInstalled ? lastApplied?.installed : nil, lastApplied: lastApplied,
                    lastCommit: lastCommit?.at, lastCommitKind: lastCommit?.kind, refusals: refusedCount, flushes: flushCount)
    }

    /// Calls `observer` with the status after every commit, table removal and change of the
    /// source's health (a status file is written then, never behind the table).
    public func observe(_ observer: @escaping @Sendable (AgentStatus) -> Void) {
        self.observer = observer
        observer(status)
    }

    private func notify() { observer?(status) }

    // MARK: - Events

    public func deliver(_ event: SourceEvent) async {
        defer { TableMetrics.recordReceived(rib.count) }
        TableMetrics.recordSourceEvent(event.metricKind, healthy: event.isGoodRead)
        switch event {
        case .snapshot(let result):
            healthy()
            // Every route of a poll unreadable is a speaker or reader gone wrong, not a
            // withdrawal of everything: the routes held (and the table) stay.
            if result.nothingUsable && !configuration.guards.acceptUnusableInput {
                refused(.unusable(result.errors.map(Rejection.init)))
                return
            }
            var next = [RouteID: Entry]()
            var routesChanged = false
            for r in result.currentRoutes() {
                let key = r.route.id
                let old = rib[key]
                if old?.route.route != r.route { dirty.insert(key); routesChanged = true }
                next[key] = Entry(route: r, sequence: old?.sequence ?? newSequence())
            }
            for key in rib.keys where next[key] == nil { dirty.insert(key); routesChanged = true }
            let changed = routesChanged || snapshotErrors != result.errors
            rib = next
            snapshotErrors = result.errors
            if changed || !isInstalled { scheduleApply() }
        case .update(let result):
            healthy()
            let changed = take(result)
            if changed || changeInProgress || !isInstalled {
                changeInProgress = false
                scheduleApply()
            }
        case .partialUpdate(let result):
            healthy()
            if take(result) { changeInProgress = true }
        case .resync:
            healthy()
            for k in rib.keys { rib[k]?.stale = true }
            logger.info("source resynchronising: \(rib.count) routes held until End-of-RIB")
        case .endOfRIB(let family):
            healthy()
            let stale = rib.filter { $0.key.family == family && $0.value.stale }.map(\.key)
            for k in stale { rib.removeValue(forKey: k) }
            dirty.formUnion(stale)
            if !stale.isEmpty { logger.info("End-of-RIB \(family.name): \(stale.count) stale routes dropped") }
            if !stale.isEmpty || !isInstalled { scheduleApply() }
        case .failed(let reason):
            unhealthy(reason)
        case .lost(let reason):
            unhealthy(reason)
        }
    }

    /// Takes an update's announcements and withdrawals into the RIB; returns whether a route changed.
    private func take(_ result: ReadResult) -> Bool {
        for e in result.errors { logger.warning("unreadable \(e.position): \(e.reason)") }
        var changed = false, shrink = false
        defer { if shrink { rib.shrinkIfSparse() } }
        // Room made once for a flood's routes: grown by doublings, the RIB and the dirty keys
        // rehashed every key each time (a fifth of the agent's part of a 100k flood).
        if result.routes.count > 1024 {
            let announced = result.routes.count { !$0.withdrawn }
            rib.reserveCapacity(rib.count + announced)
            dirty.reserveCapacity(dirty.count + result.routes.count)
        }
        for r in result.routes {
            let key = r.route.id
            if r.withdrawn {
                if rib.removeValue(forKey: key) != nil { changed = true; dirty.insert(key); shrink = true }
            } else if var old = rib[key] {
                if old.route.route != r.route { changed = true; dirty.insert(key) }
                old.route = r
                old.stale = false
                rib[key] = old
            } else {
                rib[key] = Entry(route: r, sequence: newSequence())
                changed = true
                dirty.insert(key)
            }
        }
        return changed
    }

    public func routeCount(_ family: AddressFamily) -> Int {
        rib.keys.reduce(0) { $0 + ($1.family == family ? 1 : 0) }
    }

    /// Routes currently held, in first-announcement order.
    public var routes: [FlowRoute] {
        rib.values.sorted { $0.sequence < $1.sequence }.map(\.route.route)
    }

    private var isInstalled: Bool { keeper.isInstalled }

    private func newSequence() -> Int {
        nextSequence += 1
        return nextSequence
    }


    private func healthy() {
        let flipped = unhealthySince != nil
        defer { if flipped { notify() } }
        if lossHandled {
            logger.notice("source readable again")
        } else if let since = unhealthySince, isInstalled {
            logger.notice("source readable again after \(seconds(clock.now - since)) s")
        }
        unhealthySince = nil
        lossHandled = false
    }

    private func unhealthy(_ reason: String) {
        if unhealthySince == nil { unhealthySince = clock.now; notify() }
        logger.error("source unreadable, table left as it is: \(reason)")
    }

    /// Called by the watchdog: applies the loss policy once the source has been unreadable for
    /// `sourceTimeout`.
    public func checkSource() {
        guard let since = unhealthySince, !lossHandled else { return }
        let silent = clock.now - since
        if silent >= configuration.sourceTimeout { sourceLost(after: silent) }
    }

    private func sourceLost(after silent: Duration) {
        lossHandled = true
        switch configuration.onSourceLoss {
        case .keep:
            logger.warning("no good read for \(seconds(silent)) s: keeping table inet \(configuration.options.tableName) (--on-source-loss keep)")
        case .flush:
            pending?.cancel(); pending = nil
            retry?.cancel(); retry = nil
            do {
                try keeper.remove()
                flushCount += 1
                installedRoutes = [:]
                reportedRejections = []
                TableMetrics.recordFlush()
                TableMetrics.recordTable(nil)
                notify()
                logger.warning("no good read for \(seconds(silent)) s: table inet \(configuration.options.tableName) removed (--on-source-loss flush)")
            } catch {
                logger.error("no good read for \(seconds(silent)) s: removing table inet \(configuration.options.tableName) failed: \(error)")
            }
        }
    }

    // MARK: - Applying

    /// Routes removed by one apply past which the freed memory is given back to the system
    /// (`FreedMemory.release`, ~1 ms): a flood withdrawn leaves hundreds of MB free in the heap.
    static let releaseAfterRemoved = 1_000

    private func scheduleApply() {
        guard pending == nil else { return }
        let delay = configuration.debounce
        pending = Task {
            if delay > .zero { try? await Task.sleep(for: delay) }
            if Task.isCancelled { return }
            self.applyPending()
        }
    }

    private func applyPending() {
        pending = nil
        applyNow()
    }

    /// Installs the routes held: only the changed ones when the installed table can follow
    /// them in place (`applyChanges`), else the whole table, rebuilt, if it differs from the
    /// installed one. Returns what was applied, nil when nothing changed or the kernel refused.
    @discardableResult
    public func applyNow() -> Applied? {
        retry?.cancel(); retry = nil
        if keeper.followsChanges {
            switch applyChanges() {
            case .applied(let applied): return applied
            case .nothing, .refused: return nil
            case .notInPlace: break
            }
        }
        return applyWhole()
    }

    /// What sending the changed routes in place came to.
    private enum InPlace {
        case applied(Applied)
        /// No route changed.
        case nothing
        /// A guard refused the change: the whole route set would be refused too.
        case refused
        /// It cannot be done in place (the keeper says why): the whole route set goes in next.
        case notInPlace
    }

    /// Sends the changed routes (`dirty`) through the keeper.
    private func applyChanges() -> InPlace {
        guard !dirty.isEmpty else { return .nothing }
        guard keeper.placesChange(of: dirty.count, in: rib.count) else {
            logger.info("\(keeper.givenUp ?? "the change cannot be made in place"); installing the whole table")
            return .notInPlace
        }
        let start = clock.now
        var removing: [RouteID] = [], adding: [(route: FlowRoute, tiebreak: Int)] = []
        var added = 0, removed = 0, changed = 0
        var rejected: [Rejection] = []
        for key in dirty {
            let old = installedRoutes[key], new = rib[key]
            if old == new?.route.route { continue }
            if let old { removing.append(old.id) }
            switch (old, new) {
            case (nil, _?): added += 1
            case (_?, nil): removed += 1
            default: changed += 1
            }
            guard let new, configuration.scope.admits(new.route.route) else { continue }
            do {
                try new.route.route.validate()
                adding.append((new.route.route, new.sequence))
            } catch {
                rejected.append(Rejection(position: new.route.position, route: new.route.route, cause: .invalid(error)))
            }
        }
        // Routes in input order, as a whole rebuild would meet them.
        adding.sort { $0.tiebreak < $1.tiebreak }
        let placed: TableKeeper.Update?
        do {
            placed = try keeper.update(removing: removing, adding: adding, changedRoutes: dirty.count, totalRoutes: rib.count)
        } catch {
            refused(error)
            return .refused
        }
        guard let update = placed else {
            logger.info("\(keeper.givenUp ?? "the change cannot be made in place"); installing the whole table")
            return .notInPlace
        }
        let kind: String? = update.change.isEmpty ? nil : "delta"
        TableMetrics.recordCommit(kind: kind, duration: clock.now - start)
        TableMetrics.recordRoutes(installed: update.installed, rejected: rejected + update.rejected.map {
            Rejection(position: $0.route.identity, route: $0.route, cause: .inexpressible($0.reason))
        }, outOfScope: nil)
        TableMetrics.recordTable(keeper.installedSize)
        if let kind { lastCommit = (Date(), kind) }
        if let problem = keeper.routingProblem { logger.warning("redirect rules and routes no longer needed stay until the next change: \(problem)") }
        for key in dirty { installedRoutes[key] = rib[key]?.route.route }
        dirty = []
        if removed > 0 { installedRoutes.shrinkIfSparse() }
        if removed >= Self.releaseAfterRemoved { FreedMemory.release() }
        let applied = Applied(added: added, removed: removed, changed: changed, installed: update.installed,
                              rejected: rejected.count + update.rejected.count)
        lastApplied = applied
        let c = update.change
        logger.info("table inet \(configuration.options.tableName): +\(added) -\(removed) ~\(changed) routes in place (\(c.insertedRules.count) rules in, \(c.deletedRules.count) out, \(c.addedElementCount) set elements in, \(c.removedElementCount) out); installed \(update.installed); applied in \(seconds(clock.now - start)) s")
        for e in rejected { logger.warning("rejected \(e)") }
        for r in update.rejected { logger.warning("rejected \(r.route.identity): \(r.reason)") }
        noteOnce(update.notes)
        notify()
        return .applied(applied)
    }

    /// Gives the keeper the whole route set: it sends the difference, or replaces the table, or
    /// leaves the kernel alone when the table did not change.
    private func applyWhole() -> Applied? {
        let start = clock.now
        let entries = rib.sorted { $0.value.sequence < $1.value.sequence }
        let input = ReadResult(routes: entries.map(\.value.route), errors: snapshotErrors)
        let outcome: KeeperOutcome
        do {
            outcome = try keeper.install(input)
        } catch let refusal as KeeperRefusal {
            refused(refusal)
            return nil
        } catch {
            TableMetrics.recordFailedCommit()
            logger.error("kernel refused table inet \(configuration.options.tableName), previous table unchanged: \(error); retrying in 1 s")
            retry = Task {
                try? await Task.sleep(for: .seconds(1))
                if !Task.isCancelled { self.applyNow() }
            }
            return nil
        }
        var now = [RouteID: FlowRoute]()
        for (k, e) in entries { now[k] = e.route.route }
        dirty = []
        let kind = TableMetrics.kind(outcome.method)
        TableMetrics.recordCommit(kind: kind, duration: clock.now - start)
        TableMetrics.recordRoutes(installed: outcome.installed, rejected: outcome.rejected, outOfScope: outcome.outOfScope)
        TableMetrics.recordTable(keeper.installedSize)
        if let kind { lastCommit = (Date(), kind) }
        if case .unchanged = outcome.method {
            logger.debug("routes changed, table did not: kernel left alone")
            installedRoutes = now
            return nil
        }
        let added = now.keys.filter { installedRoutes[$0] == nil }.count
        let removed = installedRoutes.keys.filter { now[$0] == nil }.count
        let changed = now.filter { k, r in installedRoutes[k].map { $0 != r } ?? false }.count
        let applied = Applied(added: added, removed: removed, changed: changed,
                              installed: outcome.installed, rejected: outcome.rejectedRoutes)
        installedRoutes = now
        lastApplied = applied
        if removed >= Self.releaseAfterRemoved { FreedMemory.release() }
        logger.info("table inet \(configuration.options.tableName): +\(added) -\(removed) ~\(changed) routes; installed \(outcome.installed), rejected \(outcome.rejectedRoutes), \(outcome.rules ?? 0) rules; \(outcome.method); applied in \(seconds(clock.now - start)) s")
        let rejections = Set(outcome.rejected)
        for e in outcome.rejected where !reportedRejections.contains(e) {
            logger.warning("\(e.isRoute ? "rejected" : "unreadable") \(e)")
        }
        reportedRejections = rejections
        noteOnce(outcome.notes)
        notify()
        return applied
    }

    /// Logs each kind of compiler note once for the daemon's life: a note's text without the
    /// route it is about (a redirect ignored by `--unmapped-redirect ignore` is logged once per
    /// route target, not per route and commit), with the first route that had it.
    private func noteOnce(_ notes: [String]) {
        for n in notes {
            // "POSITION: route I (IDENTITY): MESSAGE" or "IDENTITY: MESSAGE": the message is
            // what follows the last "): " or, without one, the first ": ".
            let message = n.range(of: "): ", options: .backwards).map { String(n[$0.upperBound...]) }
                ?? n.range(of: ": ").map { String(n[$0.upperBound...]) } ?? n
            guard notedMessages.insert(message).inserted else { continue }
            logger.notice("note (said once): \(n)")
        }
    }

    /// A guard refused the routes held: the last good table stays, loudly, until the routes
    /// change again (or the configuration does).
    private func refused(_ refusal: KeeperRefusal) {
        refusedCount += 1
        TableMetrics.recordRefusal()
        notify()
        logger.critical("table inet \(configuration.options.tableName) left as it is, the routes held are refused: \(refusal)")
    }

    /// New table options, order, debounce, timeout or policy (SIGHUP): rebuilds and re-applies.
    public func reconfigure(_ new: AgentConfiguration) {
        configuration = new
        // The planner was made with the old options: the next apply rebuilds (and compares
        // with, or removes, the table installed now).
        keeper.reconfigure(new.keeper)
        logger.info("configuration reloaded: table inet \(new.options.tableName), debounce \(seconds(new.debounce)) s, source timeout \(seconds(new.sourceTimeout)) s, on source loss: \(new.onSourceLoss.rawValue)")
        if unhealthySince == nil || isInstalled || !rib.isEmpty { applyNow() }
    }

    /// Stops pending work; with `flush`, removes the table (`--flush-on-exit`).
    public func shutdown(flush: Bool) {
        pending?.cancel(); pending = nil
        retry?.cancel(); retry = nil
        let name = configuration.options.tableName
        if flush {
            do {
                try keeper.remove()
                TableMetrics.recordTable(nil)
                logger.notice("table inet \(name) removed on exit")
            } catch {
                logger.error("removing table inet \(name) on exit failed: \(error)")
            }
        } else {
            logger.notice("exiting; table inet \(name) left in place")
        }
    }
}

func seconds(_ d: Duration) -> String { d.secondsText }
