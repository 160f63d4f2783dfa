import CoreMetrics
import FlowSpec
import FlowSpecAgent
import FlowSpecBGP
import FlowSpecCompiler
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation
import Prometheus

/// The metrics of this process in the Prometheus text format: what the agent records through
/// swift-metrics (`TableMetrics`, into a Prometheus registry once `bootstrap` ran), followed by
/// what is read when asked: `collectors`, each adding families of its own (the listener's
/// peers, the top routes' counters from the kernel). docs/metrics.md lists every name.
final class ProcessMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private var collectors: [@Sendable () -> String] = []
    private let lock = NSLock()

    /// Makes this the process's swift-metrics backend (once per process), with commit-duration
    /// buckets from 1 ms (a delta) to 60 s (a million routes replaced).
    func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["flowspec_commit_duration_seconds"] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        MetricsSystem.bootstrap(factory)
        registry.makeGauge(name: "flowspec_build_info", labels: [("version", buildVersion)],
                           help: "The build of flowspec-nft (value 1).").set(to: 1.0)
    }

    func add(_ collector: @escaping @Sendable () -> String) {
        lock.lock(); defer { lock.unlock() }
        collectors.append(collector)
    }

    /// The whole exposition, as a scrape gets it.
    func text() -> String {
        lock.lock()
        let collectors = self.collectors
        lock.unlock()
        return registry.emitToString() + collectors.map { $0() }.joined()
    }

    /// Writes the exposition to `path` as node_exporter's textfile collector reads it: a new file
    /// renamed over the old one, so that a scrape never reads half of it.
    func write(to path: String) throws {
        let temporary = path + ".\(getpid()).tmp"
        do {
            try Data(text().utf8).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw CLIError("--metrics-file \(path): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw CLIError("--metrics-file \(path): \(String(cString: strerror(e)))")
        }
    }
}

/// Prometheus text-format lines written by hand, for values read when scraped (a registry's
/// counters only count up from 0 in this process).
struct PromText {
    var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escaped($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)") + "\n"
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escaped(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "\\": o += "\\\\"
            case "\"": o += "\\\""
            case "\n": o += "\\n"
            default: o.append(c)
            }
        }
        return o
    }
}

/// The packets and bytes of the routes of the installed table, read from the kernel when
/// scraped (at most once per `refresh`: at 100k routes a read costs ~2 s): per route for the
/// `top` routes by packets only — so that 100k routes do not make 100k series — and in all.
final class RouteCounters: @unchecked Sendable {
    /// The table's name, which a reload may change.
    let tableName: Unchecked<String>
    let top: Int
    let refresh: Duration
    private let connection: NftConnection
    private let lock = NSLock()
    private var cached: (at: ContinuousClock.Instant, text: String)?

    init(table: Unchecked<String>, top: Int, refresh: Duration = .seconds(5)) throws {
        self.tableName = table
        self.top = top
        self.refresh = refresh
        do { connection = try NftConnection() } catch { throw CLIError("--metrics: cannot open netlink: \(error)") }
    }

    func text() -> String {
        lock.lock(); defer { lock.unlock() }
        if let cached, ContinuousClock.now - cached.at < refresh { return cached.text }
        let text = read()
        cached = (.now, text)
        return text
    }

    private func read() -> String {
        let table = tableName.value
        var out = PromText()
        let installed: InstalledTable?
        do { installed = try connection.listTable(name: table, family: .inet) } catch {
            out.family("flowspec_route_counters_read_errors", "gauge", "1 when the last read of the table's counters failed.")
            out.sample("flowspec_route_counters_read_errors", [], 1)
            return out.text
        }
        out.family("flowspec_table_present", "gauge", "1 when the table is in the kernel.")
        out.sample("flowspec_table_present", [("table", table)], installed == nil ? 0 : 1)
        guard let installed else { return out.text }
        let base = installed.table.chains.first { $0.base != nil }
        let policy = base.flatMap { installed.policyCounters[$0.name] }.map { (packets: $0.packets, bytes: $0.bytes) }
        let routes = InstalledRoutes(installed.table, policyCounted: policy)
        let packets = routes.entries.reduce(UInt64(0)) { $0 &+ $1.packets }, bytes = routes.entries.reduce(UInt64(0)) { $0 &+ $1.bytes }
        out.family("flowspec_routes_matched_packets_total", "counter", "Packets the table's routes matched, all routes together.")
        out.sample("flowspec_routes_matched_packets_total", [("table", table)], Double(packets))
        out.family("flowspec_routes_matched_bytes_total", "counter", "Bytes the table's routes matched, all routes together.")
        out.sample("flowspec_routes_matched_bytes_total", [("table", table)], Double(bytes))
        if let policy {
            out.family("flowspec_policy_packets_total", "counter", "Packets no route decided: the chain policy took them.")
            out.sample("flowspec_policy_packets_total", [("table", table), ("policy", routes.policy)], Double(policy.packets))
            out.family("flowspec_policy_bytes_total", "counter", "Bytes no route decided.")
            out.sample("flowspec_policy_bytes_total", [("table", table), ("policy", routes.policy)], Double(policy.bytes))
        }
        guard top > 0 else { return out.text }
        let best = routes.entries.sorted { $0.packets != $1.packets ? $0.packets > $1.packets : $0.bytes > $1.bytes }.prefix(top)
        out.family("flowspec_route_packets_total", "counter", "Packets matched by each of the top routes by packets (--metrics-top).")
        for e in best { out.sample("flowspec_route_packets_total", Self.labels(e), Double(e.packets)) }
        out.family("flowspec_route_bytes_total", "counter", "Bytes matched by each of the top routes by packets (--metrics-top).")
        for e in best { out.sample("flowspec_route_bytes_total", Self.labels(e), Double(e.bytes)) }
        return out.text
    }

    static func labels(_ e: InstalledRoutes.Entry) -> [(String, String)] {
        [("route", e.identity), ("match", e.route?.description ?? e.identity), ("action", e.actions.joined(separator: ", "))]
    }
}

/// The listener's peers, from the speaker's status when scraped.
enum PeerMetrics {
    static func text(_ s: SpeakerStatus) -> String {
        var out = PromText()
        out.family("flowspec_bgp_peer_established", "gauge", "1 when the BGP session with the peer is Established.")
        for p in s.peers { out.sample("flowspec_bgp_peer_established", [("peer", p.name)], p.state == .established ? 1 : 0) }
        out.family("flowspec_bgp_peer_state", "gauge", "The peer's BGP state, as a label (value 1).")
        for p in s.peers { out.sample("flowspec_bgp_peer_state", [("peer", p.name), ("state", p.state.rawValue)], 1) }
        out.family("flowspec_bgp_peer_uptime_seconds", "gauge", "Seconds since the session became Established (0 when it is not).")
        for p in s.peers { out.sample("flowspec_bgp_peer_uptime_seconds", [("peer", p.name)], (p.uptime ?? 0).rounded()) }
        out.family("flowspec_bgp_routes_received", "gauge", "Routes the peer holds in our Adj-RIB-In, by family.")
        for p in s.peers {
            for f in AddressFamily.allCases { out.sample("flowspec_bgp_routes_received", [("peer", p.name), ("family", f.name)], Double(p.routes[f] ?? 0)) }
        }
        out.family("flowspec_bgp_updates_received_total", "counter", "UPDATE messages received from the peer.")
        for p in s.peers { out.sample("flowspec_bgp_updates_received_total", [("peer", p.name)], Double(p.updates)) }
        out.family("flowspec_bgp_treat_as_withdraw_total", "counter", "UPDATEs whose routes were treated as withdrawn (RFC 7606).")
        for p in s.peers { out.sample("flowspec_bgp_treat_as_withdraw_total", [("peer", p.name)], Double(p.treatAsWithdraw)) }
        out.family("flowspec_bgp_routes_refused_total", "counter", "Routes refused, by reason: the route limit, or an import-filter entry.")
        for p in s.peers {
            out.sample("flowspec_bgp_routes_refused_total", [("peer", p.name), ("reason", "route-limit")], Double(p.refusedRoutes))
            for (entry, n) in p.importRefused.sorted(by: { $0.key < $1.key }) {
                out.sample("flowspec_bgp_routes_refused_total", [("peer", p.name), ("reason", "import:\(entry)")], Double(n))
            }
        }
        out.family("flowspec_bgp_connections_refused_total", "counter", "Connections refused: of a peer (one already opening), of no peer, or for want of descriptors.")
        for p in s.peers { out.sample("flowspec_bgp_connections_refused_total", [("peer", p.name)], Double(p.refusedConnections)) }
        out.sample("flowspec_bgp_connections_refused_total", [("peer", "unknown")], Double(s.unknownConnections))
        out.sample("flowspec_bgp_connections_refused_total", [("peer", "low-descriptors")], Double(s.lowDescriptorRefusals))
        return out.text
    }
}
