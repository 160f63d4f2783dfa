import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats

/// What installing a route set would change, route by route: the rows of `InstalledRoutes` of
/// the table the kernel holds against those of the table the routes compile to. A route is
/// named by its identity (its NLRI); one whose identity stays but whose actions differ is
/// changed.
public struct RouteDiff: Sendable {
    public struct Changed: Sendable, Hashable {
        public var before: InstalledRoutes.Entry
        public var after: InstalledRoutes.Entry
    }

    /// In the new table only, in its order.
    public var added: [InstalledRoutes.Entry] = []
    /// In the installed table only, in its order.
    public var removed: [InstalledRoutes.Entry] = []
    /// In both, with other actions, in the new table's order.
    public var changed: [Changed] = []
    /// Routes in both with the same actions.
    public var kept = 0
    /// The chain policy before and after, when it changes (`accept`, `drop`; `-` without a table).
    public var policy: (before: String, after: String)?

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty && policy == nil }

    /// `before` nil: no table installed, every route is added.
    public init(before: NftTable?, after: NftTable) {
        let old = before.map { InstalledRoutes($0) }, new = InstalledRoutes(after)
        var byIdentity: [String: InstalledRoutes.Entry] = [:]
        for e in old?.entries ?? [] { byIdentity[e.identity] = e }
        var seen = Set<String>()
        for e in new.entries {
            seen.insert(e.identity)
            guard let was = byIdentity[e.identity] else { added.append(e); continue }
            if was.actions == e.actions { kept += 1 } else { changed.append(Changed(before: was, after: e)) }
        }
        removed = (old?.entries ?? []).filter { !seen.contains($0.identity) }
        let policyBefore = old?.policy ?? "-"
        if policyBefore != new.policy { policy = (policyBefore, new.policy) }
    }
}

/// What `TableKeeper.check` found: what would change, and how the keeper would bring it about.
public struct CheckReport: Sendable {
    /// The routes that would be added, removed and changed.
    public var diff: RouteDiff
    /// What `install` would do (method, the batch's size in `report`, rejections, notes), as
    /// the kernel validated it without committing it.
    public var outcome: KeeperOutcome
}

extension TableKeeper {
    /// Everything `install(input)` would do, checked and not committed, like `nft -c` or
    /// `birdc configure check`: the routes compiled, compared with the table the kernel holds
    /// (route by route, `RouteDiff`), the change or replace planned as `install` plans it (the
    /// stored state and, for a merged table, the previous run's planner), its batch built and
    /// sent to the kernel, which validates all of it and then drops it.
    ///
    /// The keeper's writer must be a checking one (`commits` false: `NftConnection` with
    /// `checkOnly`), its store, if any, read-only, and its policy routes, if any, written through
    /// `CheckedPolicyRouting` (a programming error otherwise: it traps before anything is done). Throws what `install` throws: a guard's refusal, the kernel's.
    public func check(_ input: consuming ReadResult) throws -> CheckReport {
        precondition(!writesAnything, "TableKeeper.check needs a checking writer (commits false) and a read-only store")
        let options = configuration.options
        let before = try installedTable(name: options.tableName)
        let copy = input
        let after = PreparedTable(input: copy, order: configuration.order, scope: configuration.scope, options: options).compiled.table
        let diff = RouteDiff(before: before, after: after)
        let outcome = try install(input)
        return CheckReport(diff: diff, outcome: outcome)
    }
}
