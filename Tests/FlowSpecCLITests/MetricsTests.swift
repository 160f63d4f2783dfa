import Foundation
import Testing

/// The daemons' metrics, status file and JSON log: `watch --source frr` (a vtysh stand-in
/// answering two routes) in a private namespace, scraped over HTTP from inside it; the table on
/// the output hook, so that packets the namespace sends itself are counted per route.
@Suite(.enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct MetricsTests {
    /// A vtysh that answers the summaries with one Established peer and the IPv4 dump with two
    /// routes (203.0.113.10 dropped, 203.0.113.11 policed); IPv6 has none.
    static func vtysh(in dir: String) throws -> String {
        let path = dir + "/vtysh"
        try #"""
            #!/bin/sh
            case "$2" in
            *summary*) printf '{"tableVersion":3,"peers":{"192.0.2.1":{"state":"Established","peerUptimeMsec":60000,"pfxRcd":2}}}' ;;
            *"ipv4 flowspec detail"*) printf '[{"to":"203.0.113.10/32"},{"ecomlist":"FS:rate 0.000000"},{"time":"00:00:09"},{"to":"203.0.113.11/32"},{"ecomlist":"FS:rate 1000.000000"},{"time":"00:00:09"}]' ;;
            *) printf '' ;;
            esac
            """#.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    @Test func watchServesMetricsWritesItsStatusAndLogsJSON() throws {
        let lab = try LoopbackLab(name: "fsm")
        defer { lab.close() }
        try run(["ip", "-n", lab.ns, "route", "add", "203.0.113.0/24", "dev", "lo"])
        let vtysh = try Self.vtysh(in: lab.dir)
        let log = lab.dir + "/watch.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        daemon.arguments = ["ip", "netns", "exec", lab.ns, flowspecNft, "watch", "--source", "frr", "--vtysh", vtysh,
                            "--interval", "0.5", "--table", "fsnmet", "--hook", "output", "--status-file", lab.dir + "/watch.json",
                            "--metrics", "127.0.0.1:9342", "--metrics-top", "1", "--log-format", "json"]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func wait(_ seconds: Double, _ ok: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while !ok() && Date() < end { Thread.sleep(forTimeInterval: 0.1) }
            return ok()
        }
        func status() -> [String: Any]? {
            (try? Data(contentsOf: URL(fileURLWithPath: lab.dir + "/watch.json"))).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
        // The status file is written at the first commit, with what it committed.
        #expect(wait(30) { (status()?["agent"] as? [String: Any])?["installed"] as? Int == 2 }, "\(status() ?? [:])\n\(logText())")
        let agent = status()?["agent"] as? [String: Any] ?? [:]
        #expect(agent["last-commit-kind"] as? String == "full" && agent["source-healthy"] as? Bool == true, "\(agent)")
        #expect(status()?["source"] as? String == "frr")

        // Ten datagrams to the dropped route's address (refused by the output hook), three to the other.
        let send = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            + "for a, n in (('203.0.113.10', 10), ('203.0.113.11', 3)):\n    for _ in range(n):\n        try: s.sendto(b'x' * 100, (a, 5000))\n        except OSError: pass\n"
        try run(["ip", "netns", "exec", lab.ns, "python3", "-c", send])
        Thread.sleep(forTimeInterval: 5.5)  // past the route counters' 5 s cache
        let scrape = "import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:9342/metrics', timeout=20).read().decode())"
        let metrics = try run(["ip", "netns", "exec", lab.ns, "python3", "-c", scrape]).out
        func value(_ prefix: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(value("flowspec_commits_total{kind=\"full\"}") ?? 0 >= 1, "\(metrics)")
        #expect(value("flowspec_commit_duration_seconds_count{kind=\"full\"}") ?? 0 >= 1)
        #expect(value("flowspec_routes_installed ") == 2 && value("flowspec_routes_received ") == 2)
        #expect(value("flowspec_source_up ") == 1 && value("flowspec_table_rules ") ?? 0 >= 2)
        #expect(value("flowspec_last_commit_timestamp_seconds ") ?? 0 > Date().timeIntervalSince1970 - 600)
        #expect(metrics.contains("flowspec_build_info{version="))
        // Per route only the top one (--metrics-top 1): the dropped route, 10 packets.
        let perRoute = metrics.split(separator: "\n").filter { $0.hasPrefix("flowspec_route_packets_total{") }
        #expect(perRoute.count == 1 && perRoute.first?.contains("match=\"ipv4 destination 203.0.113.10/32\"") == true, "\(perRoute)")
        #expect(perRoute.first?.hasSuffix(" 10") == true, "\(perRoute)")
        // The sum of show's rows: the policed route counts its 3 packets before its limit and
        // again as they conform (docs/merging.md), the dropped one its 10.
        #expect(value("flowspec_routes_matched_packets_total{table=\"fsnmet\"}") == 16, "\(metrics)")
        #expect(metrics.contains("# TYPE flowspec_route_packets_total counter"))
        // Anything but /metrics is 404.
        let other = try run(["ip", "netns", "exec", lab.ns, "python3", "-c",
                             "import urllib.request, urllib.error\ntry: urllib.request.urlopen('http://127.0.0.1:9342/')\nexcept urllib.error.HTTPError as e: print(e.code)"]).out
        #expect(other.trimmingCharacters(in: .whitespacesAndNewlines) == "404")

        // show lists watch's status too.
        let show = try run(["ip", "netns", "exec", lab.ns, flowspecNft, "show", "--table", "fsnmet", "--watch-status-file", lab.dir + "/watch.json"]).out
        #expect(show.contains("following frr: source readable, 2 routes received, last commit"), "\(show)")

        kill(daemon.processIdentifier, SIGTERM)
        #expect(wait(10) { !daemon.isRunning })
        // Every log line is one JSON object with a level and a message.
        let lines = logText().split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(o?["level"] is String && o?["message"] is String && o?["time"] is String, "\(line)")
        }
        #expect(lines.contains { $0.contains("\"message\":\"signal SIGTERM: shutting down\"") })
        // The status file goes with the daemon.
        #expect(!FileManager.default.fileExists(atPath: lab.dir + "/watch.json"))
    }
}

/// `apply --metrics-file`: node_exporter's textfile format, written at the end of every run,
/// the failed ones included.
@Suite(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
struct ApplyMetricsFileTests {
    @Test func applyWritesItsMetricsForNodeExporter() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-prom-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"routes":[{"family":"ipv4","match":{"destination":"203.0.113.10/32"},"actions":["drop"]},{"family":"ipv4","match":{"destination":"203.0.113.300/32"},"actions":["drop"]}]}"#
            .write(toFile: dir + "/r.json", atomically: true, encoding: .utf8)
        try #"{"routes":[]}"#.write(toFile: dir + "/empty.json", atomically: true, encoding: .utf8)
        let apply = "\(flowspecNft) apply --from json --state-dir \(dir)/state --metrics-file \(dir)/fsn.prom"
        let r = try run(["unshare", "-n", "sh", "-c", """
            \(apply) \(dir)/r.json > /dev/null; echo "status $?"; cp \(dir)/fsn.prom \(dir)/first.prom; \
            \(apply) \(dir)/empty.json > /dev/null 2>&1; echo "status $?"
            """])
        #expect(r.out == "status 3\nstatus 1\n", "\(r.out)\(r.err)")
        let first = try String(contentsOfFile: dir + "/first.prom", encoding: .utf8)
        let lines = first.split(separator: "\n")
        #expect(lines.contains("flowspec_commits_total{kind=\"full\"} 1"), "\(first)")
        #expect(lines.contains("flowspec_commit_duration_seconds_count{kind=\"full\"} 1"))
        #expect(lines.contains("flowspec_routes_installed 1.0") && lines.contains("flowspec_routes_rejected{reason=\"unreadable\"} 1.0"))
        #expect(lines.contains("flowspec_table_rules 1.0"))
        #expect(lines.contains("flowspec_apply_exit_status{table=\"flowspec\"} 3"))
        #expect(lines.contains { $0.hasPrefix("flowspec_apply_last_run_timestamp_seconds{table=\"flowspec\"} ") })
        // Every sample line is NAME[{labels}] VALUE, after its family's # TYPE.
        var typed = Set<String>()
        for line in lines {
            if line.hasPrefix("# TYPE ") { typed.insert(String(line.split(separator: " ")[2])); continue }
            if line.hasPrefix("#") { continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
            #expect(typed.contains(family), "\(line)")
            #expect(Double(line.split(separator: " ").last ?? "") != nil, "\(line)")
        }
        // The refused run wrote its status too, and nothing of a commit.
        let second = try String(contentsOfFile: dir + "/fsn.prom", encoding: .utf8)
        #expect(second.contains("flowspec_apply_exit_status{table=\"flowspec\"} 1") && !second.contains("flowspec_commits_total"), "\(second)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasSuffix(".tmp") })
    }
}
