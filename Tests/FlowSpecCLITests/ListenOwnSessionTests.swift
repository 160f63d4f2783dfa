import Foundation
import Testing

/// `listen --hook input` receiving a drop-everything route (0/0 → 0/0, rate 0) from BIRD over
/// the very session it filters. By default the table's first rules accept that session's
/// packets: the route drops the host's other traffic (pings fail) but the session stays up past
/// several hold times, and its rule counts the BGP packets it let through. With
/// `--filter-own-sessions` the same route cuts the session: the hold timer expires.
@Suite("listen: its own session on the input hook", .enabled(if: canUseNamespaces && hasBird, "needs root, network namespaces and BIRD 2"),
       .serialized)
struct ListenOwnSessionTests {
    @Test("a received drop-everything route does not cut the listener's own session")
    func ownSessionSurvivesADropEverythingRoute() throws {
        let lab = try DropAllLab(name: "fos")
        defer { lab.close() }
        try lab.start(extra: [])
        try lab.waitForDropAll()
        #expect(!(try lab.pings()), "the drop-everything route is not in force")
        // Hold time 3 s: 9 s is three hold times, the session must still be the same one.
        Thread.sleep(forTimeInterval: 9)
        let peer = try lab.peerStatus()
        #expect(peer["state"] as? String == "Established", "\(peer)\n\(lab.log)")
        #expect((peer["uptime"] as? Int ?? 0) >= 9, "the session was restarted: \(peer)")
        // The own-session rule counts what it let through; the route is installed as any other.
        let show = try lab.show()
        let own = show.first { $0["identity"] as? String == "own-session 192.0.2.1" }
        #expect((own?["packets"] as? Int ?? 0) > 0, "\(show)")
        #expect(show.contains { ($0["identity"] as? String)?.hasPrefix("4:") == true })
    }

    @Test("with --filter-own-sessions the same route cuts the session")
    func filterOwnSessionsLetsTheRouteCutTheSession() throws {
        let lab = try DropAllLab(name: "fof")
        defer { lab.close() }
        try lab.start(extra: ["--filter-own-sessions"])
        try lab.waitForDropAll()
        let end = Date().addingTimeInterval(20)
        var state = ""
        while Date() < end {
            // Only a status actually read counts (the file is rewritten every second).
            if let s = try? lab.peerStatus()["state"] as? String {
                state = s
                if state != "Established" { break }
            }
            Thread.sleep(forTimeInterval: 0.3)
        }
        #expect(state != "Established", "the session survived a route dropping it\n\(lab.log)")
        // Cut by a hold timer: ours (the peer's KEEPALIVEs are dropped), or on a loaded machine
        // sometimes the peer's first (our KEEPALIVEs stall behind the ACKs the route drops).
        #expect(lab.log.contains("hold timer expired") || lab.log.contains("4/0 Hold Timer Expired"), "\(lab.log)")
        #expect(!(try lab.show()).contains { ($0["identity"] as? String)?.hasPrefix("own-session") == true })
    }
}

/// ctl (BIRD, 192.0.2.1, AS 65309) ↔ sw (the listener, 192.0.2.2, AS 65001, `--hook input`),
/// hold time 3 s; BIRD announces 0.0.0.0/0 with traffic-rate 0.
private final class DropAllLab {
    let ctl: String, sw: String, dir: String
    private var listener: Process?

    init(name: String) throws {
        let tag = "\(name)\(getpid() % 100_000)"
        ctl = tag + "c"; sw = tag + "s"; dir = "/tmp/\(tag)"
        do {
            try run(["sh", "-c", """
                set -e; rm -rf \(dir); mkdir -p \(dir)
                ip netns add \(ctl); ip netns add \(sw)
                ip -n \(ctl) link set lo up; ip -n \(sw) link set lo up
                ip link add eth0 netns \(ctl) type veth peer name eth0 netns \(sw)
                ip -n \(ctl) addr add 192.0.2.1/30 dev eth0; ip -n \(sw) addr add 192.0.2.2/30 dev eth0
                ip -n \(ctl) link set eth0 up; ip -n \(sw) link set eth0 up
                """])
        } catch {
            close()
            throw error
        }
    }

    func close() {
        if let l = listener, l.isRunning { l.terminate(); l.waitUntilExit() }
        sh("""
            for n in \(ctl) \(sw); do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null; done
            i=0; while [ $i -lt 20 ] && [ -n "$(ip netns pids \(ctl) 2>/dev/null)" ]; do sleep 0.1; i=$((i+1)); done
            for n in \(ctl) \(sw); do ip netns pids $n 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del $n 2>/dev/null; done
            rm -rf \(dir)
            """)
    }

    var log: String { (try? String(contentsOfFile: dir + "/listen.log", encoding: .utf8)).map { String($0.suffix(4000)) } ?? "" }

    func start(extra: [String]) throws {
        let bird = """
            log "\(dir)/bird.log" all;
            router id 192.0.2.1;
            flow4 table ft4;
            protocol device { }
            protocol bgp sw {
              local 192.0.2.1 as 65309; neighbor 192.0.2.2 as 65001;
              hold time 3; connect retry time 1; error wait time 1, 5;
              flow4 { table ft4; import none; export all; };
            }
            protocol static dropall { flow4 { table ft4; };
              route flow4 { dst 0.0.0.0/0; } { bgp_ext_community.add((generic, 0x80060000, 0)); };
            }
            """
        try bird.write(toFile: dir + "/bird.conf", atomically: true, encoding: .utf8)
        try #require(sh("ip netns exec \(ctl) bird -c \(dir)/bird.conf -s \(dir)/bird.ctl -P \(dir)/bird.pid </dev/null >/dev/null 2>&1") == 0)
        let l = Process()
        l.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        l.arguments = ["ip", "netns", "exec", sw, flowspecNft, "listen", "--local-as", "65001", "--router-id", "192.0.2.2",
                       "--peer", "192.0.2.1", "--peer-as", "65309", "--listen", "192.0.2.2:179", "--hold-time", "3",
                       "--hook", "input", "--status-file", dir + "/listen.json", "--log-level", "info"] + extra
        l.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: dir + "/listen.log", contents: nil)
        l.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/listen.log"))
        try l.run()
        listener = l
    }

    /// `show --json` routes of the listener's table.
    func show() throws -> [[String: Any]] {
        let r = try run(["ip", "netns", "exec", sw, flowspecNft, "show", "--json"], check: false)
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] else { return [] }
        return o["routes"] as? [[String: Any]] ?? []
    }

    /// Waits (up to 40 s: BIRD sends no End-of-RIB to a peer without graceful restart, so the
    /// first table may wait out the 30 s initial sync) until the table holds BIRD's route.
    func waitForDropAll() throws {
        let end = Date().addingTimeInterval(40)
        while Date() < end {
            if try show().contains(where: { ($0["identity"] as? String)?.hasPrefix("4:") == true }) { return }
            Thread.sleep(forTimeInterval: 0.3)
        }
        Issue.record("the drop-everything route was never installed\n\(log)")
    }

    func pings() throws -> Bool {
        try run(["ip", "netns", "exec", ctl, "ping", "-c", "2", "-W", "1", "192.0.2.2"], check: false).status == 0
    }

    /// The peer's entry in the status file (read again a few times while it is being replaced).
    func peerStatus() throws -> [String: Any] {
        for _ in 0..<10 {
            if let data = FileManager.default.contents(atPath: dir + "/listen.json"),
               let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let peer = (o["peers"] as? [[String: Any]])?.first { return peer }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw ShellError(command: "read \(dir)/listen.json", status: -1, stderr: "no status file")
    }
}
