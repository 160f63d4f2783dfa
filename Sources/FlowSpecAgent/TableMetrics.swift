import CoreMetrics
import FlowSpecCompiler
import FlowSpecKeeper
import Foundation

/// What the agent (and `apply`) record about the table they keep, through swift-metrics: a
/// no-op until the program bootstraps `MetricsSystem` (the CLI does, with Prometheus, for
/// `--metrics` and `--metrics-file`). The names, their labels and what they mean are listed in
/// docs/metrics.md; a library user can bootstrap any other swift-metrics backend.
public enum TableMetrics {
    /// The kind of a commit: `delta` (a change in place) or `full` (a whole replace).
    public static func kind(_ method: InstallMethod) -> String? {
        switch method {
        case .unchanged: nil
        case .inPlace(0, 0, 0, 0): nil
        case .inPlace: "delta"
        case .replace: "full"
        }
    }

    /// One install or update: a commit of `kind` (nil: nothing was sent), `duration` from the
    /// change known to the kernel's answer.
    public static func recordCommit(kind: String?, duration: Duration) {
        guard let kind else {
            Counter(label: "flowspec_unchanged_applies_total").increment()
            return
        }
        Counter(label: "flowspec_commits_total", dimensions: [("kind", kind)]).increment()
        Timer(label: "flowspec_commit_duration_seconds", dimensions: [("kind", kind)]).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        Gauge(label: "flowspec_last_commit_timestamp_seconds").record(Date().timeIntervalSince1970)
    }

    /// A commit that failed: the kernel refused it (the old table stays).
    public static func recordFailedCommit() {
        Counter(label: "flowspec_commit_failures_total").increment()
    }

    /// The routes of the table after an install or update: installed, and rejected by cause.
    public static func recordRoutes(installed: Int, rejected: [Rejection], outOfScope: Int?) {
        Gauge(label: "flowspec_routes_installed").record(installed)
        var counts = ["unreadable": 0, "invalid": 0, "inexpressible": 0]
        for r in rejected {
            switch r.cause {
            case .unreadable: counts["unreadable", default: 0] += 1
            case .invalid: counts["invalid", default: 0] += 1
            case .inexpressible: counts["inexpressible", default: 0] += 1
            }
        }
        for (reason, n) in counts { Gauge(label: "flowspec_routes_rejected", dimensions: [("reason", reason)]).record(n) }
        if let outOfScope { Gauge(label: "flowspec_routes_out_of_scope").record(outOfScope) }
    }

    /// The size of the installed table (`TableKeeper.installedSize`: kept per commit, so a
    /// daemon records it after every change at no cost in proportion to the table).
    public static func recordTable(_ size: TableSize?) {
        Gauge(label: "flowspec_table_rules").record(size?.rules ?? 0)
        Gauge(label: "flowspec_table_sets").record(size?.sets ?? 0)
        Gauge(label: "flowspec_table_set_elements").record(size?.setElements ?? 0)
        Gauge(label: "flowspec_table_chains").record(size?.chains ?? 0)
    }

    /// The size of a table compiled whole (`KeeperOutcome.figures`: no set elements).
    public static func recordTable(_ figures: TableFigures) {
        Gauge(label: "flowspec_table_rules").record(figures.rules)
        Gauge(label: "flowspec_table_sets").record(figures.sets)
        Gauge(label: "flowspec_table_chains").record(figures.chains)
    }

    /// Routes the agent holds from its source (its Adj-RIB-In), before validation and scoping.
    static func recordReceived(_ count: Int) {
        Gauge(label: "flowspec_routes_received").record(count)
    }

    /// An event of the source: a good read (`snapshot`, `update`, `resync`, `end-of-rib`) or not
    /// (`failed`, `lost`).
    static func recordSourceEvent(_ kind: String, healthy: Bool) {
        Counter(label: "flowspec_source_events_total", dimensions: [("kind", kind)]).increment()
        Gauge(label: "flowspec_source_up").record(healthy ? 1 : 0)
    }

    /// A guard refused the routes held (the table stays).
    static func recordRefusal() { Counter(label: "flowspec_guard_refusals_total").increment() }

    /// The loss policy removed the table.
    static func recordFlush() { Counter(label: "flowspec_table_flushes_total").increment() }
}

extension SourceEvent {
    /// The event's name in `flowspec_source_events_total`.
    var metricKind: String {
        switch self {
        case .snapshot: "snapshot"
        case .update: "update"
        case .partialUpdate: "partial-update"
        case .resync: "resync"
        case .endOfRIB: "end-of-rib"
        case .failed: "failed"
        case .lost: "lost"
        }
    }

    /// Whether it is a good read (the source is there and its output parsed).
    var isGoodRead: Bool {
        switch self {
        case .failed, .lost: false
        default: true
        }
    }
}
