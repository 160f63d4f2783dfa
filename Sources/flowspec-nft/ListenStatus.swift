import Dispatch
import FlowSpecAgent
import FlowSpec
import FlowSpecBGP
import Foundation
import Logging

/// The listener's peers, written as JSON every second and with the agent's status at every
/// commit (`Agent.observe`), so `flowspec-nft show` (another process) can list them and the file
/// never lags the table. The file names its writer's pid; a file whose writer is gone is ignored.
final class ListenStatus: @unchecked Sendable {
    static let defaultPath = "/run/flowspec-nft/listen.json"

    private let path: String
    private let speaker: Speaker
    private let logger: Logger
    private var timer: DispatchSourceTimer?
    private let queue = DispatchQueue(label: "flowspec-nft.status")
    private var agent: AgentStatus?

    init(path: String, speaker: Speaker, logger: Logger) {
        self.path = path; self.speaker = speaker; self.logger = logger
    }

    func start() {
        guard !path.isEmpty else { return }
        StatusFile.makeDirectory(for: path)
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + 1, repeating: 1)
        t.setEventHandler { [weak self] in
            self?.started = true
            self?.write()
        }
        t.resume()
        timer = t
    }

    /// Set by the first timed write, a second after the start: the file appears once the
    /// listener is up (tests and scripts wait for it).
    private var started = false

    /// The agent's status after a commit: written at once (once the file exists), with the
    /// peers as they are now.
    func update(_ status: AgentStatus) {
        queue.async { [weak self] in
            guard let self else { return }
            agent = status
            if started { write() }
        }
    }

    func stop() {
        timer?.cancel()
        queue.sync {}
        if !path.isEmpty { try? FileManager.default.removeItem(atPath: path) }
    }

    private func write() {
        guard !path.isEmpty else { return }
        let s = speaker.status()
        let configs = Dictionary(speaker.config.peers.map { ($0.name, $0) }) { a, _ in a }
        let peers: [[String: Any]] = s.peers.map { p in
            [
                "md5": configs[p.name]?.md5Key != nil,
                "ttl-security": configs[p.name]?.ttlSecurityHops.map { Int($0) } ?? NSNull(),
                "peer": p.name, "as": p.peerAS, "state": p.state.rawValue, "last-reason": p.lastReason,
                "uptime": p.uptime.map { Int($0) } ?? NSNull(),
                "families": p.families.map(\.name),
                "routes": Dictionary(uniqueKeysWithValues: p.routes.map { ($0.key.name, $0.value) }),
                "stale-routes": p.staleRoutes,
                "refused-connections": p.refusedConnections,
                "refused-routes": p.refusedRoutes,
                "route-limit-restarts": p.routeLimitRestarts,
                "import-refused": p.importRefused,
                "updates": p.updates,
                "treat-as-withdraw": p.treatAsWithdraw,
                "held-down-for": p.heldDownFor.map { Int($0.rounded(.up)) } ?? NSNull(),
            ]
        }
        let doc: [String: Any] = ["local-as": s.localAS, "port": Int(s.listenPort),
                                  "routes": s.deliveredRoutes ?? NSNull(), "peers": peers,
                                  "unknown-connections": s.unknownConnections, "accept-failures": s.acceptFailures,
                                  "low-descriptor-refusals": s.lowDescriptorRefusals,
                                  "agent": agent?.json ?? NSNull()]
        StatusFile.write(doc, to: path, logger: logger)
    }

    /// The peers section for `show`, from a live listener's status document.
    static func peersText(_ doc: [String: Any]) -> String {
        let pid = doc["pid"] as? Int ?? 0
        let peers = doc["peers"] as? [[String: Any]] ?? []
        var lines = ["BGP listener (pid \(pid)), AS \(doc["local-as"] ?? "?"), port \(doc["port"] ?? "?"):"]
        for p in peers {
            let routes = (p["routes"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let stale = p["stale-routes"] as? Int ?? 0
            let refused = p["refused-routes"] as? Int ?? 0, restarts = p["route-limit-restarts"] as? Int ?? 0
            let protections = ((p["md5"] as? Bool) == true ? ["md5"] : []) + ((p["ttl-security"] as? Int).map { ["ttl-security \($0)"] } ?? [])
            lines.append("  peer \(p["peer"] ?? "?") AS \(p["as"] ?? "?")" + (protections.isEmpty ? "" : " (\(protections.joined(separator: ", ")))") +
                         ": \(p["state"] ?? "?")" +
                         (routes.isEmpty ? "" : ", routes \(routes)") + (stale > 0 ? ", stale \(stale)" : "") +
                         (refused > 0 ? ", \(refused) routes refused by the route limit" : "") +
                         (restarts > 0 ? ", \(restarts) route-limit restarts" : "") +
                         ((p["import-refused"] as? [String: Int]).map { $0.values.reduce(0, +) }.map { $0 > 0 ? ", \($0) routes refused by the import filter" : "" } ?? "") +
                         ((p["held-down-for"] as? Int).map { ", held down \($0) s" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
