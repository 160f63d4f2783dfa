import FlowSpec

/// How the compiler shapes the table. Defaults give one `inet` table `flowspec` with a base
/// chain `filter` on the forward hook at priority 0.
public struct CompileOptions: Sendable, Hashable {
    public enum Policy: Sendable, Hashable { case accept, drop }

    public var tableName: String
    public var chainName: String
    public var hook: NftHook
    public var priority: Int32
    /// The chain policy when no default-policy route (only 0/0 prefixes) is present.
    public var defaultPolicy: Policy
    /// The nflog group the sample bit (traffic-action S) logs to.
    public var logGroup: UInt16
    /// Route target -> fwmark for redirect (RFC 8955 §7.4); an unmapped target rejects the route.
    public var redirectMarks: [RouteTarget: UInt32]
    /// Next hop -> fwmark for redirect-to-IP (0x010c). A `TableKeeper` with `PolicyRoutes` fills
    /// it, and installs `ip rule fwmark M lookup T` with a route via the next hop in table T
    /// before any rule sets the mark (docs/lowering.md, "Redirect"). An unmapped next hop rejects the route.
    public var nextHopMarks: [IPAddress: UInt32] = [:]
    /// A redirect to a route target with no mark: reject the route, or leave the redirect out
    /// and apply its other actions (`--unmapped-redirect`).
    public var unmappedRedirect: UnmappedRedirect = .reject
    /// An anonymous counter in every rule, so that `show` can report packets and bytes per route;
    /// merged rules count per set element instead (`NftSet.elementCounters`, docs/merging.md).
    public var counters: Bool
    /// Merge rules of the same shape and action into set lookups (docs/merging.md). Off, every
    /// route keeps its own rules (the CLI's `--no-merge`).
    public var merge: Bool
    /// Whether the table may dispatch on the destination address instead (docs/merging.md,
    /// "Destination dispatch"): `.auto` when the merged form leaves a packet many rules to meet
    /// and dispatch far fewer; `.always` whenever some routes can be dispatched, merging or not;
    /// `.never` keeps one chain.
    public var dispatch: DispatchMode
    /// The devices of an ingress hook (`--device`): one base chain hooks them all.
    public var devices: [String] = []
    /// Hardware offload of the base chain (`--offload`, ingress only). The kernel offloads no
    /// set lookup, so an offloaded table keeps one rule per route (no merge, no dispatch).
    public var offload = false
    /// `ct state established,related accept` before every route (`--accept-established`): the
    /// return traffic of the flows a default-drop table allows (docs/semantics.md).
    public var acceptEstablished = false
    /// The host's own BGP sessions, accepted by the first rules of the base chain before any
    /// route (`OwnSessions`; docs/lowering.md). Empty: none.
    public var protectedSessions: [ProtectedSession]
    /// Route targets standing for groups of interfaces (`--interface-group`): a route carrying
    /// one matches only packets that arrived on its groups' interfaces (`iifname`, a key part of
    /// merged sets; docs/lowering.md, "Interface scoping"). Empty: no route is scoped.
    public var interfaceGroups = InterfaceGroups()

    public init(tableName: String = "flowspec", chainName: String = "filter", hook: NftHook = .forward,
                priority: Int32 = 0, defaultPolicy: Policy = .accept, logGroup: UInt16 = 0,
                redirectMarks: [RouteTarget: UInt32] = [:], counters: Bool = true, merge: Bool = true,
                dispatch: DispatchMode = .auto, protectedSessions: [ProtectedSession] = []) {
        self.tableName = tableName; self.chainName = chainName; self.hook = hook
        self.priority = priority; self.defaultPolicy = defaultPolicy; self.logGroup = logGroup
        self.redirectMarks = redirectMarks; self.counters = counters; self.merge = merge
        self.dispatch = dispatch; self.protectedSessions = protectedSessions
    }
}

/// A route the compiler refused, and why. Nothing of it is installed.
public struct RouteRejection: Sendable, Hashable, CustomStringConvertible {
    /// Position of the route in the input list.
    public var index: Int
    public var route: FlowRoute
    public var reason: String

    public init(index: Int, route: FlowRoute, reason: String) {
        self.index = index; self.route = route; self.reason = reason
    }

    public var description: String { "route \(index) (\(route.identity)): \(reason)" }
}

/// Something worth telling the operator about a route that was compiled (or legitimately
/// produced no rule): a route that can never match, an ignored community, a rounded rate.
public struct CompileNote: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The route matches no packet; no rule was installed for it.
        case neverMatches
        /// An extended community that is not an action was ignored.
        case ignoredCommunity
        /// An action was adapted (rounded rate, several rates, actions of the default route).
        case adjustedAction
        /// The route produced no rule because it has no effect.
        case noEffect
    }

    public var index: Int
    public var identity: String
    public var kind: Kind
    public var message: String

    public init(index: Int, identity: String, kind: Kind, message: String) {
        self.index = index; self.identity = identity; self.kind = kind; self.message = message
    }

    public var description: String { "route \(index) (\(identity)): \(message)" }
}

public struct CompileResult: Sendable {
    public var table: NftTable { didSet { knownFigures = nil } }
    public var rejected: [RouteRejection]
    public var notes: [CompileNote]
    /// For each rule of the base chain, the index of the route it came from (same order; the
    /// accept-established rule, first when asked for, is no route's and has no entry).
    /// For a merged rule, the index of the first route of its group. In the dispatch form, for
    /// each rule of the linear form it was made from.
    public var ruleRoutes: [Int]
    /// The merged rules (set lookups standing for several routes), in chain order (in a dispatch
    /// table, in the merged chain it was made from).
    public var merged: [MergedRule]
    /// For each rule of a merged chain, the destinations it can match (`MergedDispatch`).
    var coverage: [DestinationCoverage]? = nil
    /// The table's form, size and the most rules a packet meets in it.
    public var figures: TableFigures { knownFigures ?? TableFigures(table) }
    /// `figures`, worked out once for a table that is not changed any more (a walk of every
    /// expression: 0.1–0.2 s for a dispatch table of 190k rules); cleared when `table` changes.
    private(set) var knownFigures: TableFigures?

    /// Works `figures` out now, on this thread, for every later use.
    mutating func fixFigures() { knownFigures = TableFigures(table) }

    public init(table: NftTable, rejected: [RouteRejection], notes: [CompileNote], ruleRoutes: [Int],
                merged: [MergedRule] = []) {
        self.table = table; self.rejected = rejected; self.notes = notes; self.ruleRoutes = ruleRoutes
        self.merged = merged
    }
}

/// One rule made by merging the rules of several routes into a lookup of a named set (or, for
/// rate limits, a map from key to each route's limit object). Its comment is `merge <set>`; this
/// says which route each set element came from. The kernel knows it too: every element carries
/// its route's identity as its comment, which is what `show` reads.
public struct MergedRule: Sendable, Hashable {
    /// The comment of the merged rule that looks up set `set`: `merge <set>`.
    public static func comment(set: String) -> String { "merge " + set }

    /// The set a merged rule's comment names; nil for another comment (a route identity).
    public static func set(inComment comment: String) -> String? {
        comment.hasPrefix("merge ") ? String(comment.dropFirst(6)) : nil
    }

    /// Position of the rule in the base chain.
    public var rule: Int
    /// The set (or object map) the rule looks up.
    public var set: String
    /// The routes (input indices, ascending) whose rules the merged rule replaces.
    public var routes: [Int]
    /// For each element of the set, in order, the route (input index) it came from.
    public var elementRoutes: [Int]

    public init(rule: Int, set: String, routes: [Int], elementRoutes: [Int]) {
        self.rule = rule; self.set = set; self.routes = routes; self.elementRoutes = elementRoutes
    }
}
