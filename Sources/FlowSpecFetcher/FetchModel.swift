import FlowSpec
import FlowSpecFormats

/// Where a fetched route or a problem comes from: a rule of an nft chain (1-based position,
/// kernel handle and comment when known) or a line of `iptables-save` text, or the chain policy.
public struct RulePosition: Hashable, Sendable, CustomStringConvertible {
    /// 1-based position of the rule in its chain (the policy gets rule count + 1).
    public var index: Int
    public var handle: UInt64?
    public var comment: String?
    /// 1-based line in `iptables-save` input.
    public var line: Int?
    /// True for the chain's default policy.
    public var isPolicy: Bool
    /// For a route read from one element of a set the rule looks up (a merged rule,
    /// docs/merging.md): that element's comment — for our compiler's sets, the identity of the
    /// route the element came from. Nil otherwise, and for elements without a comment.
    public var element: String?

    public init(index: Int, handle: UInt64? = nil, comment: String? = nil, line: Int? = nil, isPolicy: Bool = false,
                element: String? = nil) {
        self.index = index; self.handle = handle; self.comment = comment; self.line = line; self.isPolicy = isPolicy
        self.element = element
    }

    /// The route identity the position names: the element's comment, else the rule's.
    public var identity: String? { element ?? comment }

    /// `rule 3 (handle 7, comment "web")`, `rule 4 (comment "merge m1f…", element "4:…")`,
    /// `line 12 (rule 3)`, `policy`.
    public var description: String {
        if isPolicy { return line.map { "line \($0) (chain policy)" } ?? "chain policy" }
        var details: [String] = []
        if let handle { details.append("handle \(handle)") }
        if let comment { details.append("comment \"\(comment)\"") }
        if let element { details.append("element \"\(element)\"") }
        let head = line.map { "line \($0) (rule \(index))" } ?? "rule \(index)"
        return details.isEmpty ? head : "\(head) (\(details.joined(separator: ", ")))"
    }
}

/// A rule (or part of one) that has no flowspec equivalent. The rule is left out; because a
/// chain is evaluated in order, leaving a rule out can change what later routes see, so the
/// caller decides whether a partial result may be used (`--strict`, `--skip-unsupported`).
public struct FetchProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public var position: RulePosition
    public var reason: String
    public init(position: RulePosition, reason: String) { self.position = position; self.reason = reason }
    public var description: String { "\(position): \(reason)" }
}

/// One route made from a rule. A rule can give several routes (prefix sets are expanded, an
/// `inet` rule without a family match gives one per family, a lookup in a merged set gives one
/// per element); they share the rule's index and the sequence number.
public struct FetchedRoute: Hashable, Sendable {
    public var route: FlowRoute
    public var position: RulePosition
    /// The rule's sequence number (position × step), also carried in the route's communities
    /// as `FetchOptions.sequenceCarrier` says; nil when not carried.
    public var sequence: UInt64?
    /// Approximations worth knowing (e.g. `ip6 nexthdr` read as the upper-layer protocol).
    public var warnings: [String]

    public init(route: FlowRoute, position: RulePosition, sequence: UInt64? = nil, warnings: [String] = []) {
        self.route = route; self.position = position; self.sequence = sequence; self.warnings = warnings
    }
}

/// What a fetch gives back: the routes, in chain order (the default-policy routes last), and
/// the rules that could not be expressed.
public struct FetchResult: Sendable {
    public var routes: [FetchedRoute]
    public var problems: [FetchProblem]

    public init(routes: [FetchedRoute] = [], problems: [FetchProblem] = []) {
        self.routes = routes; self.problems = problems
    }

    /// True when every rule became routes: the routes then mean what the chain means.
    public var isComplete: Bool { problems.isEmpty }

    /// The plain routes.
    public var flowRoutes: [FlowRoute] { routes.map(\.route) }

    /// The same content as the readers' `ReadResult`, for code that handles both.
    public var readResult: ReadResult {
        ReadResult(routes: routes.map { ReadRoute(route: $0.route, position: $0.position.description, warnings: $0.warnings) },
                   errors: problems.map { ReadError(position: $0.position.description, reason: $0.reason) })
    }
}

/// Choices for both readers.
public struct FetchOptions: Sendable {
    /// Sequence number of rule *i* (1-based) = i × `sequenceStep`; the policy gets (count + 1) × step.
    public var sequenceStep: UInt64
    /// Where the rule order (sequence number) travels with a route (nil: not carried).
    /// Flowspec receivers order routes by RFC 8955 §5.1, not by arrival; a receiver that wants
    /// the chain order back (`--order sequence`) reads the number from this community.
    public var sequenceCarrier: SequenceCarrier?
    /// `meta mark set M` / `-j MARK --set-mark M` become a redirect to this route target (an
    /// rt-redirect-ipv6 in attribute 25 when its global is IPv6).
    public var markTargets: [UInt32: RouteTarget]
    /// The AS put in traffic-rate communities (informational, RFC 8955 §7.1).
    public var rateASN: UInt16
    /// When a rule's comment is a route identity (`4:…`/`6:…` NLRI hex) that decodes, use the
    /// decoded components instead of the ones read from the expressions (a warning says when
    /// they differ). Off: the identity is only cross-checked.
    public var preferIdentity: Bool
    /// `iifname` tests become the route targets of these groups (`--interface-group`, as the
    /// table was applied with); a rule scoped to interfaces no groups make up is a problem.
    public var interfaceGroups = InterfaceGroups()

    /// `sequenceCarrier` by default is `SequenceCarrier.inert`, which no router acts on.
    public init(sequenceStep: UInt64 = 10, sequenceCarrier: SequenceCarrier? = .inert,
                markTargets: [UInt32: RouteTarget] = [:], rateASN: UInt16 = 0, preferIdentity: Bool = false) {
        self.sequenceStep = sequenceStep; self.sequenceCarrier = sequenceCarrier
        self.markTargets = markTargets; self.rateASN = rateASN; self.preferIdentity = preferIdentity
    }
}
