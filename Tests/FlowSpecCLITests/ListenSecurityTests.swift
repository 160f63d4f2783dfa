import Foundation
import Testing

/// `listen --password` (TCP-MD5, RFC 2385) and `--ttl-security` (GTSM, RFC 5082) against real
/// BIRD 2 and FRR 8.4 peers. One peer process (namespace p) has two sessions to the listener
/// (namespace s): `near`, over a direct link (192.0.2.1 ↔ 192.0.2.2), and `far`, through a
/// router namespace r (198.51.100.1 → r → 203.0.113.2, one hop more). In each test one session
/// is set up to be refused (a wrong key, a peer one hop too far) and the other to succeed: the
/// listener must establish the good one and never the other, and the kernel counters of the
/// listener's namespace must show that the refused peer's segments did arrive and were dropped
/// (TCPMD5Failure, TCPMinTTLDrop), so the missing session is the protection at work, not a
/// peer that never tried.
@Suite("listen: TCP-MD5 and GTSM with BIRD and FRR", .enabled(if: canUseNamespaces && hasBird, "needs root, network namespaces and BIRD 2"),
       .serialized)
struct ListenSecurityTests {
    static let key = "flowspec-md5-key"

    @Test("TCP-MD5 with BIRD: the right key gets a session, a wrong key none")
    func md5WithBird() throws {
        let lab = try TwoPathLab(name: "fmb")
        defer { lab.close() }
        try lab.startBird(near: "password \"\(Self.key)\";", far: "multihop 2; password \"wrong-key\";")
        try lab.expectMD5()
    }

    @Test("TCP-MD5 with FRR: the right key gets a session, a wrong key none",
          .enabled(if: hasFrrBgpd, "needs FRR bgpd (/usr/lib/frr/bgpd, package frr)"))
    func md5WithFRR() throws {
        let lab = try TwoPathLab(name: "fmf")
        defer { lab.close() }
        try lab.startFRR(near: ["password \(Self.key)"], far: ["ebgp-multihop 2", "password wrong-key"])
        try lab.expectMD5()
    }

    @Test("GTSM with BIRD: a peer one hop too far gets no session, allowed one more hop it does")
    func gtsmWithBird() throws {
        let lab = try TwoPathLab(name: "fgb")
        defer { lab.close() }
        try lab.startBird(near: "ttl security yes;", far: "multihop 2; ttl security yes;")
        try lab.expectGTSM()
    }

    @Test("GTSM with FRR: a peer one hop too far gets no session, allowed one more hop it does",
          .enabled(if: hasFrrBgpd, "needs FRR bgpd (/usr/lib/frr/bgpd, package frr)"))
    func gtsmWithFRR() throws {
        let lab = try TwoPathLab(name: "fgf")
        defer { lab.close() }
        try lab.startFRR(near: ["ttl-security hops 1"], far: ["ttl-security hops 2"])
        try lab.expectGTSM()
    }
}

/// Namespaces p (the peer: BIRD or FRR, AS 65309), r (a router) and s (the listener, AS 65001):
///   near: p 192.0.2.1/30 ↔ s 192.0.2.2/30 (directly connected)
///   far:  p 198.51.100.1/30 ↔ r 198.51.100.2/30, r 203.0.113.1/30 ↔ s 203.0.113.2/30 (two hops)
private final class TwoPathLab {
    let p: String, r: String, s: String, dir: String
    private var listener: Process?
    static let near = "192.0.2.1", far = "198.51.100.1"

    init(name: String) throws {
        let tag = "\(name)\(getpid() % 100_000)"
        p = tag + "p"; r = tag + "r"; s = tag + "s"; dir = "/tmp/\(tag)"
        do {
            try run(["sh", "-c", """
                set -e; rm -rf \(dir); mkdir -p \(dir)
                for n in \(p) \(r) \(s); do ip netns add $n; ip -n $n link set lo up; done
                ip link add pa netns \(p) type veth peer name sa netns \(s)
                ip link add pb netns \(p) type veth peer name ra netns \(r)
                ip link add rb netns \(r) type veth peer name sb netns \(s)
                ip -n \(p) addr add 192.0.2.1/30 dev pa; ip -n \(s) addr add 192.0.2.2/30 dev sa
                ip -n \(p) addr add 198.51.100.1/30 dev pb; ip -n \(r) addr add 198.51.100.2/30 dev ra
                ip -n \(r) addr add 203.0.113.1/30 dev rb; ip -n \(s) addr add 203.0.113.2/30 dev sb
                for l in "\(p) pa" "\(p) pb" "\(r) ra" "\(r) rb" "\(s) sa" "\(s) sb"; do set -- $l; ip -n $1 link set $2 up; done
                ip netns exec \(r) sysctl -qw net.ipv4.ip_forward=1
                ip -n \(p) route add 203.0.113.0/30 via 198.51.100.2
                ip -n \(s) route add 198.51.100.0/30 via 203.0.113.1
                """])
        } catch {
            close()
            throw error
        }
    }

    func close() {
        stopListener()
        sh("""
            for n in \(p) \(r) \(s); do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null; done
            i=0; while [ $i -lt 20 ] && [ -n "$(ip netns pids \(p) 2>/dev/null)" ]; do sleep 0.1; i=$((i+1)); done
            for n in \(p) \(r) \(s); do ip netns pids $n 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del $n 2>/dev/null; done
            rm -rf \(dir)
            """)
    }

    /// BIRD in p with the sessions `near` and `far`, each with its extra options.
    func startBird(near: String, far: String) throws {
        let config = """
            log "\(dir)/bird.log" all;
            router id 192.0.2.1;
            flow4 table ft4;
            protocol device { }
            protocol bgp near {
              local 192.0.2.1 as 65309; neighbor 192.0.2.2 as 65001;
              hold time 9; connect retry time 1; error wait time 1, 5;
              \(near)
              flow4 { table ft4; import none; export all; };
            }
            protocol bgp far {
              local 198.51.100.1 as 65309; neighbor 203.0.113.2 as 65001;
              hold time 9; connect retry time 1; error wait time 1, 5;
              \(far)
              flow4 { table ft4; import none; export all; };
            }
            """
        try config.write(toFile: dir + "/bird.conf", atomically: true, encoding: .utf8)
        try #require(sh("ip netns exec \(p) bird -c \(dir)/bird.conf -s \(dir)/bird.ctl -P \(dir)/bird.pid </dev/null >/dev/null 2>&1") == 0)
    }

    /// FRR bgpd in p with the neighbours 192.0.2.2 (`near` options) and 203.0.113.2 (`far`).
    func startFRR(near: [String], far: [String]) throws {
        let config = """
            frr defaults traditional
            hostname peer
            log file \(dir)/bgpd.log informational
            !
            router bgp 65309
             bgp router-id 192.0.2.1
             no bgp ebgp-requires-policy
             no bgp default ipv4-unicast
             neighbor 192.0.2.2 remote-as 65001
             neighbor 192.0.2.2 timers connect 1
            \(near.map { " neighbor 192.0.2.2 \($0)" }.joined(separator: "\n"))
             neighbor 203.0.113.2 remote-as 65001
             neighbor 203.0.113.2 timers connect 1
             neighbor 203.0.113.2 update-source 198.51.100.1
            \(far.map { " neighbor 203.0.113.2 \($0)" }.joined(separator: "\n"))
             !
             address-family ipv4 flowspec
              neighbor 192.0.2.2 activate
              neighbor 203.0.113.2 activate
             exit-address-family
            exit
            !
            line vty
            !
            """
        try config.write(toFile: dir + "/bgpd.conf", atomically: true, encoding: .utf8)
        try #require(sh("chown -R frr:frr \(dir) && ip netns exec \(p) \(frrBgpd) -d -u frr -g frr -P 0 --vty_socket \(dir) -z \(dir)/zserv.api -i \(dir)/bgpd.pid -f \(dir)/bgpd.conf </dev/null >\(dir)/bgpd.out 2>&1") == 0)
    }

    /// The listener in s peering with both addresses of p (AS 65309), with `options`.
    func startListener(_ options: [String]) throws {
        let l = Process()
        l.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        l.arguments = ["ip", "netns", "exec", s, flowspecNft, "listen", "--local-as", "65001", "--router-id", "192.0.2.2",
                       "--peer", Self.near, "--peer", Self.far, "--peer-as", "65309", "--hold-time", "9",
                       "--status-file", dir + "/listen.json", "--log-level", "info"] + options
        l.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: dir + "/listen.log", contents: nil)
        l.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/listen.log"))
        try l.run()
        listener = l
    }

    func stopListener() {
        if let l = listener, l.isRunning { l.terminate(); l.waitUntilExit() }
        listener = nil
        try? FileManager.default.removeItem(atPath: dir + "/listen.json")
    }

    /// The listener's peer states by address, from its status file (nil before it is written).
    func states() -> [String: String]? {
        guard let data = FileManager.default.contents(atPath: dir + "/listen.json"),
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let peers = o["peers"] as? [[String: Any]] else { return nil }
        return Dictionary(peers.compactMap { p in (p["peer"] as? String).map { ($0, p["state"] as? String ?? "") } }) { a, _ in a }
    }

    /// Waits up to `seconds` for `address` to be Established; with `watching`, fails at once if
    /// that address becomes Established meanwhile. Returns whether `address` got there.
    func waitEstablished(_ address: String, within seconds: Double, watching other: String? = nil) -> (Bool, otherEverUp: Bool) {
        let end = Date().addingTimeInterval(seconds)
        var otherUp = false
        while Date() < end {
            let st = states() ?? [:]
            if let other, st[other] == "Established" { otherUp = true }
            if st[address] == "Established" { return (true, otherUp) }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return (false, otherUp)
    }

    /// Whether `address` stays short of Established for `seconds`.
    func staysDown(_ address: String, for seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if states()?[address] == "Established" { return false }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return true
    }

    /// A TcpExt counter of the listener's namespace (/proc/net/netstat as seen from there).
    func tcpExt(_ name: String) throws -> Int {
        let text = try run(["ip", "netns", "exec", s, "cat", "/proc/net/netstat"]).out
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("TcpExt:") }
        guard lines.count == 2 else { return -1 }
        let keys = lines[0].split(separator: " "), values = lines[1].split(separator: " ")
        return keys.firstIndex { $0 == name }.flatMap { Int(values[$0]) } ?? -1
    }

    var logs: String {
        ["listen.log", "bird.log", "bgpd.log"].map { f in
            "--- \(f)\n" + ((try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)).map { String($0.suffix(3000)) } ?? "")
        }.joined(separator: "\n")
    }

    /// near has the right key, far a wrong one: near up, far never, MD5 failures counted.
    func expectMD5() throws {
        try "\(ListenSecurityTests.key)\n".write(toFile: dir + "/md5.key", atomically: true, encoding: .utf8)
        try run(["chmod", "600", dir + "/md5.key"])
        try startListener(["--password", dir + "/md5.key"])
        let (up, farUp) = waitEstablished(Self.near, within: 30, watching: Self.far)
        #expect(up, "the peer with the right key got no session\n\(logs)")
        #expect(!farUp && staysDown(Self.far, for: 8), "the peer with a wrong key got a session\n\(logs)")
        #expect(try tcpExt("TCPMD5Failure") > 0, "no segment with a wrong signature reached the listener's namespace")
        // The key is not on the listener's command line.
        #expect(!(try String(contentsOfFile: "/proc/\(listener!.processIdentifier)/cmdline", encoding: .utf8)).contains(ListenSecurityTests.key))
        stopListener()
    }

    /// --ttl-security 1 for both: near (1 hop) up, far (2 hops) never, TTL drops counted; then
    /// 2 for far: far up too.
    func expectGTSM() throws {
        try startListener(["--ttl-security", "1"])
        let (up, farUp) = waitEstablished(Self.near, within: 30, watching: Self.far)
        #expect(up, "the directly connected GTSM peer got no session\n\(logs)")
        #expect(!farUp && staysDown(Self.far, for: 8), "the peer one hop too far got a session\n\(logs)")
        #expect(try tcpExt("TCPMinTTLDrop") > 0, "no segment of the far peer was dropped for its TTL")
        stopListener()
        try startListener(["--ttl-security", "1", "--ttl-security", "2"])
        #expect(waitEstablished(Self.far, within: 30).0, "the far peer allowed two hops got no session\n\(logs)")
        #expect(waitEstablished(Self.near, within: 10).0)
        stopListener()
    }
}
