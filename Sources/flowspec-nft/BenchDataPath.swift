import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink
import Foundation
import Glibc

/// One data-path measurement: packets per second forwarded by the router namespace with a
/// table of `rules` rules (for `routes` generated routes, in `form`) on its forward hook.
struct DataPathRow: Codable {
    var n: Int
    /// "empty" (no table), the default form (the cost model's choice), "merged, --dispatch never" or "--no-merge".
    var form: String
    var run: Int
    var rules: Int
    /// Packets the router sent out towards h2 per second of traffic (its egress veth counter).
    var forwardedPerSecond: Double
    /// Packets the iperf3 server in h2 received per second (lower when h2 itself cannot keep up).
    var receivedPerSecond: Double
}

/// Three private network namespaces, h1 → r → h2, joined by veth pairs, documentation
/// addresses only (h1 198.51.100.1/24, r 198.51.100.254 and 203.0.113.254, h2 203.0.113.2/24),
/// r forwarding. The namespaces live as long as this object (they are descriptors held by this
/// process, nothing is named in /run/netns), so they vanish with it, also when the bench fails
/// or is killed; the iperf3 server inside h2 is stopped in `close()`/deinit.
final class DataPathLab {
    let h1: NetworkNamespace
    let r: NetworkNamespace
    let h2: NetworkNamespace
    let router: NftConnection
    private var server: pid_t = 0
    static let port = "5201"

    init() throws {
        h1 = try NetworkNamespace.create()
        r = try NetworkNamespace.create()
        h2 = try NetworkNamespace.create()
        router = try NftConnection.inNamespace(r)
        try run(r, "ip", "link", "add", "r1", "type", "veth", "peer", "name", "h1e", "netns", h1.path)
        try run(r, "ip", "link", "add", "r2", "type", "veth", "peer", "name", "h2e", "netns", h2.path)
        try run(r, "ip", "addr", "add", "198.51.100.254/24", "dev", "r1")
        try run(r, "ip", "addr", "add", "203.0.113.254/24", "dev", "r2")
        for d in ["lo", "r1", "r2"] { try run(r, "ip", "link", "set", d, "up") }
        // /proc/sys/net belongs to the namespace of the process that opens it.
        try run(r, "/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        for (ns, dev, addr, gw) in [(h1, "h1e", "198.51.100.1/24", "198.51.100.254"), (h2, "h2e", "203.0.113.2/24", "203.0.113.254")] {
            try run(ns, "ip", "addr", "add", addr, "dev", dev)
            try run(ns, "ip", "link", "set", dev, "up")
            try run(ns, "ip", "link", "set", "lo", "up")
            try run(ns, "ip", "route", "add", "default", "via", gw)
        }
        server = try spawnBackground(["/usr/bin/nsenter", "--net=\(h2.path)", "/usr/bin/iperf3", "-s", "-B", "203.0.113.2", "-p", Self.port])
    }

    deinit { close() }

    /// Stops the iperf3 server (the namespaces go with this object).
    func close() {
        guard server > 0 else { return }
        kill(server, SIGTERM)
        var status: Int32 = 0
        while waitpid(server, &status, 0) < 0 && errno == EINTR {}
        server = 0
    }

    private func run(_ ns: NetworkNamespace, _ args: String...) throws {
        let c = runChild(["/usr/bin/nsenter", "--net=\(ns.path)"] + args)
        guard c.status == 0 else { throw CLIError("data path setup: \(args.joined(separator: " ")) failed: \(c.output)") }
    }

    /// Packets r has sent out of r2 (towards h2).
    func forwardedPackets() throws -> Int { try deviceCounter("r2", field: 9) }

    /// Packets r has received on r1 (from h1).
    func arrivedPackets() throws -> Int { try deviceCounter("r1", field: 1) }

    /// A counter of r's device `device` in /proc/net/dev ("dev: rx_bytes rx_packets (6 more rx
    /// fields) tx_bytes tx_packets ...": field 1 is rx packets, 9 tx packets).
    private func deviceCounter(_ device: String, field: Int) throws -> Int {
        let c = runChild(["/usr/bin/nsenter", "--net=\(r.path)", "/bin/cat", "/proc/net/dev"])
        guard c.status == 0, let line = c.output.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\(device):") }) else {
            throw CLIError("cannot read \(device)'s counters: \(c.output)")
        }
        let fields = line.split(separator: ":", maxSplits: 1)[1].split(separator: " ")
        guard fields.count > field, let n = Int(fields[field]) else { throw CLIError("unexpected /proc/net/dev line: \(line)") }
        return n
    }

    /// UDP from h1 to h2 as fast as iperf3 sends (64-byte payloads, port 5201: no generated
    /// route matches it) for `seconds`; packets/s forwarded by r and received by the server.
    func measure(seconds: Int) throws -> (forwarded: Double, received: Double) {
        var lastError = ""
        for attempt in 0..<5 {
            if attempt > 0 { usleep(500_000) } // the server may still be starting, or finishing the last test
            let before = try forwardedPackets()
            let c = runChild(["/usr/bin/nsenter", "--net=\(h1.path)", "/usr/bin/iperf3", "-c", "203.0.113.2", "-p", Self.port,
                              "-u", "-b", "0", "-l", "64", "-t", "\(seconds)", "-J"])
            let after = try forwardedPackets()
            guard c.status == 0, let json = try? JSONSerialization.jsonObject(with: Data(c.output.utf8)) as? [String: Any],
                  let end = json["end"] as? [String: Any], let sent = end["sum_sent"] as? [String: Any],
                  let received = end["sum_received"] as? [String: Any],
                  let duration = sent["seconds"] as? Double, duration > 0,
                  let bytes = received["bytes"] as? Double else {
                lastError = String(c.output.prefix(300))
                continue
            }
            return (Double(after - before) / duration, bytes / 64 / duration)
        }
        throw CLIError("iperf3 failed: \(lastError)")
    }
}

extension Bench {
    /// The data path, interleaved per run: the empty router, then for each N the merged and the
    /// unmerged table installed on r's forward hook (chain policy accept; the traffic matches
    /// no route, so every packet walks the whole chain, or misses every set).
    func measureDataPath(sizes: [Int], runs: Int, seconds: Int, progress: Progress) throws -> [DataPathRow] {
        let lab = try DataPathLab()
        defer { lab.close() }
        let generator = workload
        var tables: [(n: Int, form: String, table: NftTable)] = []
        for n in sizes {
            let ordered = generator.routes(count: n).ordered(.rfc)
            // The default (the cost model's choice), the merged form when that is not it, and the linear one.
            let chosen = compile(ordered, options: CompileOptions(merge: true))
            tables.append((n, "default: \(chosen.figures.form.rawValue) (worst case \(chosen.figures.worstCaseRules) rules)", chosen.table))
            if chosen.figures.form != .merged {
                let merged = compile(ordered, options: CompileOptions(merge: true, dispatch: .never))
                tables.append((n, "merged, --dispatch never (worst case \(merged.figures.worstCaseRules) rules)", merged.table))
            }
            tables.append((n, "--no-merge", compile(ordered, options: Self.unmerged).table))
        }
        var rows: [DataPathRow] = []
        for run in 0..<runs {
            progress.step("data path run \(run + 1)/\(runs): empty")
            try? lab.router.deleteTable(name: "flowspec", family: .inet)
            let empty = try lab.measure(seconds: seconds)
            rows.append(DataPathRow(n: 0, form: "empty", run: run, rules: 0, forwardedPerSecond: empty.forwarded, receivedPerSecond: empty.received))
            for t in tables {
                progress.step("data path run \(run + 1)/\(runs): N=\(t.n) \(t.form)")
                try lab.router.apply(t.table)
                let m = try lab.measure(seconds: seconds)
                rows.append(DataPathRow(n: t.n, form: t.form, run: run, rules: t.table.ruleCount, forwardedPerSecond: m.forwarded, receivedPerSecond: m.received))
                try lab.router.deleteTable(name: "flowspec", family: .inet)
            }
        }
        return rows
    }

    func writeDataPath(_ rows: [DataPathRow]) throws {
        var csv = "n,form,run,rules,forwarded_pps,received_pps\n"
        for r in rows { csv += "\(r.n),\"\(r.form)\",\(r.run),\(r.rules),\(String(format: "%.1f", r.forwardedPerSecond)),\(String(format: "%.1f", r.receivedPerSecond))\n" }
        try csv.write(toFile: "\(out)/datapath.csv", atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(rows).write(to: URL(fileURLWithPath: "\(out)/datapath.json"))
    }

    /// Medians over the runs; the ratio is to the empty router's median forwarded rate.
    func renderDataPath(_ rows: [DataPathRow]) -> String {
        var lines = ["| N | table | rules | forwarded pkt/s (median) | min | max | vs empty | received by iperf3 pkt/s (median) |",
                     "|---|---|---|---|---|---|---|---|"]
        let empty = Summary(rows.filter { $0.form == "empty" }.map(\.forwardedPerSecond)).median
        var seen: [String] = []
        for r in rows where !seen.contains("\(r.n)|\(r.form)") { seen.append("\(r.n)|\(r.form)") }
        for key in seen {
            let group = rows.filter { "\($0.n)|\($0.form)" == key }
            let f = Summary(group.map(\.forwardedPerSecond))
            let ratio = empty > 0 ? String(format: "%.1f%%", 100 * f.median / empty) : ""
            lines.append("| \(group[0].n) | \(group[0].form) | \(group[0].rules) | " + String(format: "%.0f | %.0f | %.0f", f.median, f.min, f.max) +
                         " | \(ratio) | " + String(format: "%.0f", Summary(group.map(\.receivedPerSecond)).median) + " |")
        }
        return lines.joined(separator: "\n")
    }
}
