import FlowSpecAgent
import Foundation
import Logging

/// The JSON status files the daemons write for `show` and for monitoring (/run/flowspec-nft):
/// written whole to a new file renamed over the old one, naming the writer's pid; a file whose
/// writer is gone is not read (`live`).
enum StatusFile {
    static func write(_ doc: [String: Any], to path: String, logger: Logger) {
        guard !path.isEmpty else { return }
        var doc = doc
        doc["pid"] = Int(getpid())
        doc["written"] = Date().timeIntervalSince1970
        do {
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
            try data.write(to: URL(fileURLWithPath: path + ".tmp"))
            _ = rename(path + ".tmp", path)
        } catch {
            logger.debug("status file \(path): \(error)")
        }
    }

    static func makeDirectory(for path: String) {
        guard !path.isEmpty else { return }
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    /// The status a live daemon wrote to `path` (its text and its document); nil when there is
    /// none or its writer is gone.
    static func live(path: String) -> (json: String, document: [String: Any])? {
        guard !path.isEmpty, let data = FileManager.default.contents(atPath: path),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let pid = doc["pid"] as? Int, kill(pid_t(pid), 0) == 0 else { return nil }
        return (String(decoding: data, as: UTF8.self), doc)
    }
}

/// `watch`'s status file: its source and the agent's status (`AgentStatus`), written at every
/// commit, table removal and change of the source's health (`Agent.observe`), so it never lags
/// the table.
final class WatchStatus: @unchecked Sendable {
    static let defaultPath = "/run/flowspec-nft/watch.json"
    private let path: String
    private let source: String
    private let logger: Logger
    private let queue = DispatchQueue(label: "flowspec-nft.watch-status")

    init(path: String, source: String, logger: Logger) {
        self.path = path; self.source = source; self.logger = logger
        StatusFile.makeDirectory(for: path)
    }

    func update(_ status: AgentStatus) {
        queue.async { [path, source, logger] in
            StatusFile.write(["source": source, "agent": status.json], to: path, logger: logger)
        }
    }

    func stop() {
        queue.sync {}
        if !path.isEmpty { try? FileManager.default.removeItem(atPath: path) }
    }

    /// `show`'s lines for a live watch's status document.
    static func text(_ doc: [String: Any]) -> String {
        let agent = doc["agent"] as? [String: Any] ?? [:]
        var line = "watch (pid \(doc["pid"] ?? "?")) following \(doc["source"] ?? "?"): source "
            + ((agent["source-healthy"] as? Bool) == true ? "readable" : "unreadable")
        if let f = agent["unhealthy-for"] as? Double { line += " for \(Int(f)) s" }
        line += ", \(agent["routes-received"] ?? 0) routes received"
        if let at = agent["last-commit"] as? Double {
            line += ", last commit \(Int(Date().timeIntervalSince1970 - at)) s ago (\(agent["last-commit-kind"] ?? "?"))"
        }
        if let r = agent["refusals"] as? Int, r > 0 { line += ", \(r) refused by a guard" }
        if let f = agent["flushes"] as? Int, f > 0 { line += ", table removed \(f) times (source lost)" }
        return line
    }
}
