import Dispatch
import FlowSpec
import FlowSpecBGP
import Foundation
import Logging

/// The listener's peers, written as JSON every second so `flowspec-nft show` (another process)
/// can list them. The file names its writer's pid; a file whose writer is gone is ignored.
final class ListenStatus: @unchecked Sendable {
    static let defaultPath = "/run/flowspec-nft/listen.json"

    private let path: String
    private let speaker: Speaker
    private let logger: Logger
    private var timer: DispatchSourceTimer?

    init(path: String, speaker: Speaker, logger: Logger) {
        self.path = path; self.speaker = speaker; self.logger = logger
    }

    func start() {
        guard !path.isEmpty else { return }
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "flowspec-nft.status"))
        t.schedule(deadline: .now() + 1, repeating: 1)
        t.setEventHandler { [weak self] in self?.write() }
        t.resume()
        timer = t
    }

    func stop() {
        timer?.cancel()
        if !path.isEmpty { try? FileManager.default.removeItem(atPath: path) }
    }

    private func write() {
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
                "held-down-for": p.heldDownFor.map { Int($0.rounded(.up)) } ?? NSNull(),
            ]
        }
        let doc: [String: Any] = ["pid": Int(getpid()), "local-as": s.localAS, "port": Int(s.listenPort),
                                  "routes": s.deliveredRoutes ?? NSNull(), "peers": peers,
                                  "unknown-connections": s.unknownConnections, "accept-failures": s.acceptFailures,
                                  "low-descriptor-refusals": s.lowDescriptorRefusals]
        do {
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
            try data.write(to: URL(fileURLWithPath: path + ".tmp"))
            _ = rename(path + ".tmp", path)
        } catch {
            logger.debug("status file \(path): \(error)")
        }
    }

    /// The status a live listener wrote to `path` (its text and its document); nil when there is
    /// none or its writer is gone.
    static func live(path: String) -> (json: String, document: [String: Any])? {
        guard let data = FileManager.default.contents(atPath: path),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let pid = doc["pid"] as? Int, kill(pid_t(pid), 0) == 0 else { return nil }
        return (String(decoding: data, as: UTF8.self), doc)
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
