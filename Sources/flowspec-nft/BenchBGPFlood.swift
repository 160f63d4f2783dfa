import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink
import Foundation
import Glibc

/// `bench --bgp-flood`: the `listen` daemon itself (this binary, a child process in a private
/// network namespace) flooded by a scripted peer: `routes` routes in UPDATEs of `perUpdate`
/// NLRIs each, sent as fast as the socket takes them after the session is up and the (empty)
/// first table installed; then all of them withdrawn the same way. Measures, for each: the time
/// from the last UPDATE sent to the last kernel commit it causes (the ruleset generation, polled
/// every 2 ms), the daemon's CPU, and its resident memory — before, at the peak (VmHWM), with
/// the routes installed, after the withdrawal. The installed table is counted route by route
/// (rule comments and set element comments) to prove every route is in, and then none.
struct BGPFloodBench {
    var routes: Int
    var perUpdate: Int
    /// Announce-and-withdraw cycles: the resident size after each withdrawal shows whether it
    /// levels off.
    var cycles: Int
    var workload: Workload
    var out: String
    /// The kernel-limit program and its 100k routes' rules (`bench --reference`): timed before
    /// and after the floods, it says how fast the VM was during them (its speed varies by day,
    /// up to twice: docs/benchmarks.md, sessions 17 and 18).
    var reference: (binary: String, rules: String)?

    struct Phase: Codable {
        var name: String
        var updates: Int
        var sendSeconds: Double
        /// Last UPDATE sent → last commit.
        var afterLastUpdateSeconds: Double
        var daemonCPUSeconds: Double
        var installedRoutes: Int
    }

    struct Result: Codable {
        var routes: Int
        var perUpdate: Int
        var phases: [Phase]
        var rssBeforeMB: Double
        var rssInstalledMB: Double
        var rssPeakMB: Double
        var rssAfterWithdrawMB: Double
        var rssAfterWithdrawLaterMB: Double
        /// After the withdrawal of each cycle.
        var rssAfterEachWithdrawMB: [Double]
        /// (installed − before) per 10k routes.
        var rssPer10kMB: Double
        /// The kernel-limit C program's 100k batch (set form, total seconds) before and after the
        /// floods, each in a fresh namespace; nil without `--reference`.
        var referenceSeconds: [Double]?
    }

    /// One run of the kernel-limit program in a fresh namespace: its total time, in seconds.
    func runReference() throws -> Double? {
        guard let reference else { return nil }
        let c = runChild(["/usr/bin/unshare", "-n", reference.binary, "--mode", "set", reference.rules])
        guard c.status == 0, let field = c.output.split(separator: " ").first(where: { $0.hasPrefix("total_ms=") }),
              let ms = Double(field.dropFirst("total_ms=".count)) else {
            throw CLIError("the kernel-limit reference failed: \(c.output.prefix(300))")
        }
        return ms / 1000
    }

    func run() throws -> Result {
        let referenceBefore = try runReference()
        let connection = try NftConnection.inNewNamespace()
        guard let namespace = connection.namespace else { throw CLIError("no namespace") }
        let up = runChild(["/usr/bin/nsenter", "--net=\(namespace.path)", "ip", "link", "set", "lo", "up"])
        guard up.status == 0 else { throw CLIError("cannot bring up lo in the bench namespace: \(up.output)") }

        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        // nsenter execs the listener in place: the child is the daemon.
        let pid = try spawnBackground(["/usr/bin/nsenter", "--net=\(namespace.path)", me, "listen", "--local-as", "65001",
                                       "--router-id", "192.0.2.2", "--listen", "127.0.0.1:1179", "--peer", "127.0.0.1",
                                       "--peer-as", "65309", "--passive", "--hold-time", "0", "--status-file", "",
                                       "--max-routes", "none", "--log-level", "info"],
                                      stderrPath: out + "/bgp-flood-listen.log")
        defer { stopChild(pid) }

        // A debug build on a loaded machine may take seconds to listen.
        var peer: BenchPeer?
        for _ in 0..<600 where peer == nil {
            guard childRuns(pid) else { throw CLIError("the listener exited (see \(out)/bgp-flood-listen.log)") }
            peer = try? BenchPeer.connect(in: namespace, port: 1179)
            if peer == nil { usleep(100_000) }
        }
        guard let peer else { throw CLIError("the listener never accepted the bench peer") }
        try peer.handshake()
        try peer.endOfRIB()
        let tableUp = ContinuousClock.now + .seconds(60)
        while try !connection.tableExists(name: "flowspec", family: .inet) {
            guard ContinuousClock.now < tableUp else { throw CLIError("the listener installed no first table") }
            usleep(10_000)
        }
        usleep(500_000)
        let rssBefore = try Self.status(pid, "VmRSS")

        let all = workload.routes(count: routes)
        let announce = try BenchPeer.encodedAnnouncements(all, perUpdate: perUpdate)
        let withdraw = try BenchPeer.encodedWithdrawals(all, perUpdate: perUpdate)
        let updates = (routes + perUpdate - 1) / perUpdate
        var phases: [Phase] = []

        func phase(_ name: String, _ bytes: [UInt8], expect: Int) throws -> Phase {
            let cpu0 = try Self.cpu(pid)
            let generation0 = try connection.generation()
            let t0 = ContinuousClock.now
            try peer.sendRaw(bytes)
            let sent = ContinuousClock.now
            // Commits come while the flood is read and after it: follow the generation until
            // the table holds what it should and the generation has not moved for 3 s (more than
            // the speaker's 2 s longest debounce). The table is counted only after a change.
            var generation = generation0, lastChange = sent, counted = generation0
            var installed = -1
            let deadline = sent + .seconds(900)
            while installed != expect || ContinuousClock.now - lastChange < .seconds(3) {
                guard ContinuousClock.now < deadline else {
                    throw CLIError("\(name): \(installed) routes installed after 900 s, \(expect) expected (see \(out)/bgp-flood-listen.log)")
                }
                let g = try connection.generation()
                if g != generation { generation = g; lastChange = .now }
                if generation != counted && ContinuousClock.now - lastChange > .milliseconds(200) {
                    counted = generation
                    installed = try Self.installedRoutes(connection)
                }
                usleep(2_000)
            }
            return Phase(name: name, updates: updates, sendSeconds: (sent - t0).seconds,
                         afterLastUpdateSeconds: max(0, (lastChange - sent).seconds), daemonCPUSeconds: try Self.cpu(pid) - cpu0,
                         installedRoutes: installed)
        }
        var rssInstalled = 0.0, rssAfterEach: [Double] = []
        for cycle in 0..<max(cycles, 1) {
            phases.append(try phase("announce", announce, expect: routes))
            if cycle == 0 { rssInstalled = try Self.status(pid, "VmRSS") }
            phases.append(try phase("withdraw", withdraw, expect: 0))
            rssAfterEach.append(try Self.status(pid, "VmRSS"))
        }
        let rssPeak = try Self.status(pid, "VmHWM")
        let rssAfter = rssAfterEach[0]
        sleep(5)
        let rssLater = try Self.status(pid, "VmRSS")
        let referenceAfter = try runReference()
        return Result(routes: routes, perUpdate: perUpdate, phases: phases, rssBeforeMB: rssBefore, rssInstalledMB: rssInstalled,
                      rssPeakMB: rssPeak, rssAfterWithdrawMB: rssAfter, rssAfterWithdrawLaterMB: rssLater,
                      rssAfterEachWithdrawMB: rssAfterEach,
                      rssPer10kMB: (rssInstalled - rssBefore) / Double(max(routes, 1)) * 10_000,
                      referenceSeconds: referenceBefore.flatMap { b in referenceAfter.map { [b, $0] } })
    }

    /// A `/proc/PID/status` memory line (kB) in MB.
    static func status(_ pid: Int32, _ key: String) throws -> Double {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
            throw CLIError("no \(key) for process \(pid)")
        }
        return kb / 1024
    }

    /// User + system CPU seconds of process `pid`.
    static func cpu(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let rest = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
        return (Double(rest[11])! + Double(rest[12])!) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Routes in table `flowspec`: identities of rules and of merge set elements.
    static func installedRoutes(_ connection: NftConnection) throws -> Int {
        guard let t = try connection.listTable(name: "flowspec", family: .inet)?.table else { return 0 }
        var ids = Set(t.chains.flatMap { $0.rules.compactMap(\.comment) }.filter(RouteIdentity.isIdentity))
        for s in t.sets { ids.formUnion(s.elements.compactMap(\.comment)) }
        return ids.count
    }

    static func render(_ r: Result) -> String {
        var s = "listen daemon flooded: \(r.routes) routes in UPDATEs of \(r.perUpdate) NLRIs\n"
        s += "| phase | UPDATEs | sent in s | last UPDATE → last commit, s | daemon CPU s | routes installed |\n|---|---|---|---|---|---|\n"
        for p in r.phases {
            s += "| \(p.name) | \(p.updates) | \(String(format: "%.2f", p.sendSeconds)) | \(String(format: "%.2f", p.afterLastUpdateSeconds)) | \(String(format: "%.2f", p.daemonCPUSeconds)) | \(p.installedRoutes) |\n"
        }
        s += String(format: "resident MB: before %.0f, routes installed %.0f (%.1f per 10k routes), peak %.0f, after the withdrawal %.0f, 5 s later %.0f\n",
                    r.rssBeforeMB, r.rssInstalledMB, r.rssPer10kMB, r.rssPeakMB, r.rssAfterWithdrawMB, r.rssAfterWithdrawLaterMB)
        if let ref = r.referenceSeconds {
            s += "the VM this run: the kernel-limit C program's 100k batch (set form) took " + ref.map { String(format: "%.2f", $0) }.joined(separator: " s before and ")
                + " s after the floods (in a fresh namespace each)\n"
        }
        if r.rssAfterEachWithdrawMB.count > 1 {
            s += "resident MB after each cycle's withdrawal: " + r.rssAfterEachWithdrawMB.map { String(format: "%.0f", $0) }.joined(separator: " ") + "\n"
        }
        return s
    }
}
