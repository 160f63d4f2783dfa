import FlowSpec
import FlowSpecFormats

/// What a route source tells the agent. Every event but `failed`/`lost` is a good read: it
/// proves the speaker is there and its output parsed.
public enum SourceEvent: Sendable {
    /// The speaker's whole flowspec RIB (a poll, or a full re-read): replaces every route held.
    /// Its reader errors are kept and reported with the table until the next snapshot.
    case snapshot(ReadResult)
    /// Announcements and withdrawals (a stream line): applied on top of the routes held.
    case update(ReadResult)
    /// Announcements and withdrawals of a change still arriving (a flood, mid-way): taken
    /// into the routes held at once, applied with the `update` that completes the change (which
    /// may hold nothing more). The agent's part of a flood is then done while the speaker reads
    /// the rest and debounces.
    case partialUpdate(ReadResult)
    /// The speaker will send its whole RIB again (a BGP session came up): the routes held become
    /// stale; they stay installed until the End-of-RIB of their family, which drops those that
    /// were not announced again (as in BGP graceful restart, RFC 4724).
    case resync
    /// The speaker finished sending a family after `resync`: stale routes of it are dropped.
    case endOfRIB(AddressFamily)
    /// One read failed (command failed, output did not parse): the last good table stays.
    case failed(String)
    /// The source is gone for good (the stream ended): the last good table stays until
    /// `--source-timeout`, then `--on-source-loss` decides.
    case lost(String)
}

/// The agent as a source sees it: where events go, and the route counts a source may check
/// against the speaker's own (GoBGP's cheap `summary`).
public protocol SourceSink: Sendable {
    func deliver(_ event: SourceEvent) async
    func routeCount(_ family: AddressFamily) async -> Int
}

/// A BGP speaker the agent follows. `run` returns when the source can deliver nothing more (a
/// stream at its end) or when its task is cancelled; it reports problems as events, never throws.
public protocol RouteSource: Sendable {
    /// For logs: `frr`, `gobgp`, `exabgp`.
    var name: String { get }
    /// The debounce that suits the source when none is configured: none for a poll (a poll is
    /// already one batch), 0.2 s for streams (an UPDATE burst becomes one apply).
    var defaultDebounce: Duration { get }
    func run(_ sink: any SourceSink) async
}

/// Errors of the sources and their configuration.
public struct SourceError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}
