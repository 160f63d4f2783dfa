import FlowSpec
import FlowSpecBGP
import FlowSpecFormats
import Logging

/// Routes straight from BGP peerings: flowspec-nft's own receive-only speaker (`FlowSpecBGP`).
///
/// The speaker keeps an Adj-RIB-In per peer and delivers the merged set, debounced, after the
/// initial End-of-RIBs (a snapshot for the agent) and after every later UPDATE (only the routes
/// that changed, an update for the agent).
/// A lost peer's routes stay for the speaker's `staleTime` (graceful-restart style) and are then
/// dropped by a new snapshot; with an infinite stale time they stay until the peer is back and
/// sends its End-of-RIB.
public final class BGPListenerSource: RouteSource, @unchecked Sendable {
    public let name = "bgp"
    /// The speaker debounces already.
    public let defaultDebounce: Duration = .zero
    public let speaker: Speaker
    private let logger: Logger

    public init(config: SpeakerConfig, logger: Logger) {
        speaker = Speaker(config: config)
        self.logger = logger
    }

    public func run(_ sink: any SourceSink) async {
        do {
            // A caller may start it first, to bind its socket in another network namespace.
            if !speaker.isStarted { try speaker.start() }
        } catch {
            await sink.deliver(.lost("cannot listen on port \(speaker.config.listenPort): \(error)"))
            return
        }
        logger.info("BGP listener up: AS \(speaker.config.localAS), port \(speaker.boundPort), peers \(speaker.config.peers.map { "\($0.name) AS \($0.peerAS)" }.joined(separator: ", "))")
        await withTaskCancellationHandler {
            for await event in speaker.events {
                switch event {
                case .peerState(let peer, let from, let to, let reason):
                    logger.notice("peer \(peer): \(from.rawValue) → \(to.rawValue)\(reason.isEmpty ? "" : " (\(reason))")")
                case .updateFaults(let peer, let faults):
                    for f in faults { logger.warning("peer \(peer): \(f)") }
                case .routeLimit(let peer, let family, let limit, let action, let refused):
                    switch action {
                    case .refuse:
                        logger.warning("peer \(peer): \(refused) new \(family.name) routes refused: route limit \(limit) reached (--max-routes)")
                    case .restart:
                        logger.error("peer \(peer): over its route limit (\(limit), \(family.name)): session closed with Cease 6/1, restarting after the delay (--max-routes-action restart)")
                    }
                case .importRefused(let peer, let counts):
                    for (entry, n) in counts.sorted(by: { $0.key < $1.key }) {
                        logger.warning("peer \(peer): \(n) routes refused by the import filter: they touch \"\(entry)\" (--import)")
                    }
                case .connectionsRefused(let counts):
                    for (cause, n) in counts.sorted(by: { $0.key < $1.key }) {
                        logger.warning("connections refused: \(cause) (\(n)×)")
                    }
                case .routesChanging(let changes):
                    await sink.deliver(.partialUpdate(ReadResult(routes: Self.readRoutes(changes))))
                case .routes(let snapshot):
                    for s in snapshot.stalePeers {
                        logger.notice("peer \(s.peer) is down: keeping its \(s.routeCount) routes \(Self.keepingFor(s.expiresIn))")
                    }
                    if let changes = snapshot.changes {
                        // Only what changed: the agent's RIB follows, at the cost of the change.
                        await sink.deliver(.update(ReadResult(routes: Self.readRoutes(changes))))
                    } else {
                        let routes = snapshot.routes.map { ReadRoute(route: $0, position: "BGP") }
                        await sink.deliver(.snapshot(ReadResult(routes: routes)))
                    }
                }
            }
        } onCancel: {
            speaker.stop()
        }
    }
}

extension BGPListenerSource {
    /// A change as the agent takes it: the routes announced, then those withdrawn.
    static func readRoutes(_ changes: RouteChanges) -> [ReadRoute] {
        var routes = [ReadRoute]()
        routes.reserveCapacity(changes.announced.count + changes.withdrawn.count)
        for r in changes.announced { routes.append(ReadRoute(route: r, position: "BGP")) }
        for r in changes.withdrawn { routes.append(ReadRoute(route: r, withdrawn: true, position: "BGP")) }
        return routes
    }

    /// How long a lost peer's routes are kept, for the log: `--on-peer-loss keep` makes the time
    /// infinite, and `Int(.infinity)` traps (every listener of the fabric lab crashed on it).
    static func keepingFor(_ seconds: Double) -> String {
        seconds.isFinite ? "for \(Int(seconds.rounded())) s" : "until it is back"
    }
}
