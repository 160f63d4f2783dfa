import Foundation
import Testing
import FlowSpec
import FlowSpecFormats
@testable import FlowSpecAgent

/// A sink that holds what it is given, as the agent does, and records every event (shared by the
/// GoBGP sources' tests).
actor HoldingSink: SourceSink {
    var rib: [String: FlowRoute] = [:]
    /// The route count of each snapshot, in order.
    var snapshotSizes: [Int] = []
    var snapshots: Int { snapshotSizes.count }
    var failures: [String] = []

    func deliver(_ event: SourceEvent) async {
        switch event {
        case .snapshot(let r):
            snapshotSizes.append(r.routes.count)
            rib = [:]
            for route in r.routes where !route.withdrawn { rib[route.route.identity] = route.route }
        case .update(let r), .partialUpdate(let r):
            for route in r.routes {
                if route.withdrawn { rib[route.route.identity] = nil } else { rib[route.route.identity] = route.route }
            }
        case .failed(let why), .lost(let why): failures.append(why)
        case .resync, .endOfRIB: break
        }
    }

    func routeCount(_ family: AddressFamily) async -> Int { rib.values.count { $0.family == family } }
    var held: Set<String> { Set(rib.keys) }
}

/// `GoBGPSource` against a stand-in `gobgp` (a shell script) that behaves as gobgp 3.10 does:
/// its monitors ignore `-a` and print every path; `summary` gives the count a test sets.
@Suite("GoBGP source: monitors and count checks", .serialized)
struct GoBGPSourceTests {
    static func path(_ prefix: String, v6: Bool) -> String {
        let offset = v6 ? #","offset":0"# : ""
        let reach = v6 ? #"{"type":14,"nexthop":"::","afi":2,"safi":133"# : #"{"type":14,"nexthop":"0.0.0.0","afi":1,"safi":133"#
        return #"[{"nlri":{"value":[{"type":1,"value":{"prefix":"\#(prefix)"}\#(offset)}]},"age":1,"best":false,"attrs":[{"type":1,"value":2},{"type":16,"value":[{"type":128,"subtype":6,"as":0,"rate":0}]},\#(reach),"value":[]}],"stale":false}]"#
    }

    /// The stand-in: monitors print `lines` (0.1 s apart) and then wait; each start and SIGTERM
    /// is logged in `monitors.log`, each full read in `full.log`.
    static func fakeGobgp(in dir: String, lines: [String]) throws -> String {
        try lines.joined(separator: "\n").appending("\n").write(toFile: dir + "/lines", atomically: false, encoding: .utf8)
        let script = """
        #!/bin/bash
        D=\(dir)
        case "$*" in
          *monitor*)
            fam=$5
            echo "start $fam" >> $D/monitors.log
            trap 'echo "terminated $fam" >> $D/monitors.log; exit 0' TERM
            while IFS= read -r l; do echo "$l"; sleep 0.1; done < $D/lines
            while :; do sleep 0.05; done ;;
          *summary*)
            n=$(cat $D/count-$4 2>/dev/null || echo 0)
            echo "Table $4"; echo "Destination: $n, Path: $n" ;;
          *-j*)
            echo "full $4" >> $D/full.log
            echo '{}' ;;
        esac
        """
        let path = dir + "/gobgp"
        try script.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    @Test("a monitor that prints both families is followed alone; no full read while the count moves; one when it stands still and differs")
    func oneMonitorAndDriftChecks() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-gobgp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines = [Self.path("203.0.113.1/32", v6: false), Self.path("2001:db8::1/128", v6: true)]
        lines += (2...21).map { Self.path("203.0.113.\($0)/32", v6: false) }
        let gobgp = try Self.fakeGobgp(in: dir, lines: lines)
        // gobgpd's counts are the final ones from the start: while the monitors deliver, ours
        // differs but moves. The check interval is twenty times the lines' spacing, so a loaded
        // machine (the agent tests run beside real FRR, BIRD and gobgpd; a line then took up to
        // half a second) still shows the count moving between two checks: a 0.3 s interval read
        // the RIB in full mid-stream under load, and the empty full read replaced what had
        // arrived. The waits below end as soon as their condition holds.
        try "21".write(toFile: dir + "/count-ipv4-flowspec", atomically: false, encoding: .utf8)
        try "1".write(toFile: dir + "/count-ipv6-flowspec", atomically: false, encoding: .utf8)
        let sink = HoldingSink()
        let source = GoBGPSource(gobgp: [gobgp], interval: .seconds(2), commandTimeout: .seconds(5))
        let run = Task { await source.follow(sink) }
        func text(_ name: String) -> String { (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "" }
        func wait(_ seconds: Double, _ ok: () async -> Bool) async -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end { if await ok() { return true }; try? await Task.sleep(for: .milliseconds(50)) }
            return await ok()
        }
        let all = await wait(40) {
            let v4 = await sink.routeCount(.ipv4), v6 = await sink.routeCount(.ipv6)
            return v4 == 21 && v6 == 1
        }
        let counts = (await sink.routeCount(.ipv4), await sink.routeCount(.ipv6), await sink.failures)
        #expect(all, "\(counts)")
        // One monitor was ended at its first line of the other family; the other goes on.
        let log = text("monitors.log").split(separator: "\n")
        #expect(log.filter { $0.hasPrefix("start") }.count == 2)
        #expect(log.filter { $0.hasPrefix("terminated") }.count == 1, "\(log)")
        // The full read at start only, although the counts differed for ~2 s.
        try await Task.sleep(for: .milliseconds(2500))
        #expect(text("full.log").split(separator: "\n").count == 2, "\(text("full.log"))")
        // Now gobgpd says 30 and nothing comes: drift, read in full after two checks.
        try "30".write(toFile: dir + "/count-ipv4-flowspec", atomically: false, encoding: .utf8)
        // The re-read's snapshot is delivered once both families' commands are done.
        let reread = await wait(20) {
            let snapshots = await sink.snapshots
            return text("full.log").split(separator: "\n").count >= 4 && snapshots >= 2
        }
        #expect(reread, "\(text("full.log"))")
        let failures = await sink.failures
        #expect(failures.isEmpty, "\(failures)")
        run.cancel()
        await run.value
    }
}
