import FlowSpec
import Foundation

/// What an `Agent` holds and did last: the daemons write it to their status files at every
/// commit (`Agent.observe`), so a status file never lags the table.
public struct AgentStatus: Sendable {
    /// The table kept (`inet NAME`).
    public var table: String
    /// Whether the source's last read was good.
    public var sourceHealthy: Bool
    /// How long the source has given no good read (nil while healthy).
    public var unhealthyFor: Duration?
    /// Routes held from the source (its Adj-RIB-In), before validation and scoping.
    public var routesReceived: Int
    /// Routes in the table after the last apply; nil when the agent has no table in the kernel.
    public var installed: Int?
    /// The last apply that reached the kernel.
    public var lastApplied: Agent.Applied?
    /// When the last commit was made, and its kind (`delta` or `full`).
    public var lastCommit: Date?
    public var lastCommitKind: String?
    /// Times a guard refused the routes held; times the loss policy removed the table.
    public var refusals: Int
    public var flushes: Int

    /// As a JSON object (the `agent` member of the daemons' status files).
    public var json: [String: Any] {
        var o: [String: Any] = ["table": table, "source-healthy": sourceHealthy, "routes-received": routesReceived,
                                "refusals": refusals, "flushes": flushes]
        o["unhealthy-for"] = unhealthyFor.map { $0.seconds } ?? NSNull()
        o["installed"] = installed ?? NSNull()
        o["last-commit"] = lastCommit.map { $0.timeIntervalSince1970 } ?? NSNull()
        o["last-commit-kind"] = lastCommitKind ?? NSNull()
        if let a = lastApplied {
            o["last-applied"] = ["added": a.added, "removed": a.removed, "changed": a.changed, "installed": a.installed, "rejected": a.rejected]
        } else {
            o["last-applied"] = NSNull()
        }
        return o
    }
}
