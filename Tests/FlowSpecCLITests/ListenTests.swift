import Foundation
import Testing

/// `flowspec-nft listen` peering with a real BIRD 2 controller in a private namespace pair: the
/// table must hold exactly the routes BIRD sends — including those FRR 8.4 refuses (IPv6 offsets,
/// `!=`, six-value lists) and operator lists FRR's JSON renders ambiguously.
@Suite("listen: BIRD → flowspec-nft", .enabled(if: canUseNamespaces && hasBird, "needs root, network namespaces and BIRD 2 (bird2)"), .serialized)
struct ListenTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// The route identities that BIRD's own UPDATEs (captured towards GoBGP) produce, compiled
    /// one rule per route.
    static func expectedIdentities(marks: [String]) throws -> Set<String> {
        var hex = [String]()
        for file in ["ctl-gobgp.jsonl", "frr-reject-ctl-gobgp.jsonl"] {
            let text = try String(contentsOf: here.appendingPathComponent("../FlowSpecFormatsTests/Fixtures/pcap/" + file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                if (o?["src"] as? String)?.hasPrefix("192.0.2.5:") == true, o?["type"] as? Int == 2, let h = o?["hex"] as? String { hex.append(h) }
            }
        }
        // Applied as the listener applies them, in a namespace of its own: the redirect-to-IP route
        // too, whose rules and routes are made in the kernel (#22; `compile` alone, without them,
        // rejects it).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-expected-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let apply = ([flowspecNft, "apply", "--from", "bgp", "--no-merge", "--state-dir", dir, "-"] + marks).joined(separator: " ")
        let applied = try run(["unshare", "-n", "sh", "-c", "ip link set lo up && \(apply) > /dev/null && \(flowspecNft) show --json"],
                              stdin: hex.joined(separator: "\n"), check: false)
        #expect(applied.status == 0, "\(applied.err)")
        let routes = (try? JSONSerialization.jsonObject(with: Data(applied.out.utf8)) as? [String: Any])?["routes"] as? [[String: Any]] ?? []
        return Set(routes.compactMap { $0["identity"] as? String })
    }

    static func identities(inNftText text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: "comment \"") else { return nil }
            return String(line[r.upperBound...].dropLast())
        })
    }

    /// BIRD as the controller: 192.0.2.1, AS 65309, announcing both flowspec families to
    /// 192.0.2.2 (AS 65105); the route set follows.
    static func birdHeader(dir: String) -> String {
        """
        log "\(dir)/bird.log" all;
        router id 192.0.2.1;
        flow4 table flowtab4;
        flow6 table flowtab6;
        protocol device { }
        protocol bgp sw {
          local 192.0.2.1 as 65309;
          neighbor 192.0.2.2 as 65105;
          hold time 9; connect retry time 1; error wait time 1, 5;
          flow4 { table flowtab4; import none; export all; };
          flow6 { table flowtab6; import none; export all; };
        }

        """
    }

    /// Whether `show` in `namespace` lists `line` within 6 s (the listener rewrites its status
    /// file every second).
    static func showLists(_ line: String, namespace: String, statusFile: String) throws -> Bool {
        for _ in 0..<30 {
            if try run(["ip", "netns", "exec", namespace, flowspecNft, "show", "--status-file", statusFile]).out.contains(line) { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    static func birdConfig(dir: String, withFirstRoute: Bool) throws -> String {
        var routes = try String(contentsOf: here.appendingPathComponent("bird/flowspec-routes.conf"), encoding: .utf8)
        if !withFirstRoute {
            routes = routes.replacingOccurrences(of: "route flow4 { dst 203.0.113.10/32; proto 6; dport 80; }", with: "route flow4 { dst 203.0.113.10/32; proto 6; dport 8; }")
        }
        let quirks = try String(contentsOf: here.appendingPathComponent("bird/flowspec-routes-frr-reject.conf"), encoding: .utf8)
        return birdHeader(dir: dir) + """
        \(routes)
        \(quirks)
        """
    }

    @Test("the kernel table holds exactly what BIRD announced; a withdrawal at BIRD removes it")
    func listenerInstallsWhatBirdSends() throws {
        let tag = "fsl\(getpid() % 100_000)"
        let ctl = tag + "c", sw = tag + "s", dir = "/tmp/\(tag)"
        let marks = ["--redirect-mark", "65309:100=1", "--redirect-mark", "192.0.2.1:100=2",
                     "--redirect-mark", "65309:200=3", "--redirect-mark", "65309:300=4"]
        var listener: Process?
        func cleanup() {
            listener?.terminate(); listener?.waitUntilExit()
            sh("[ -s \(dir)/bird.pid ] && kill $(cat \(dir)/bird.pid); sleep 0.2; ip netns pids \(ctl) | xargs -r kill; ip netns del \(ctl); ip netns del \(sw); rm -rf \(dir)")
        }
        defer { cleanup() }
        try run(["sh", "-c", """
            set -e; mkdir -p \(dir)
            ip netns add \(ctl); ip netns add \(sw)
            ip -n \(ctl) link set lo up; ip -n \(sw) link set lo up
            ip link add eth0 netns \(ctl) type veth peer name eth0 netns \(sw)
            ip -n \(ctl) addr add 192.0.2.1/30 dev eth0; ip -n \(sw) addr add 192.0.2.2/30 dev eth0
            ip -n \(ctl) link set eth0 up; ip -n \(sw) link set eth0 up
            """])
        try Self.birdConfig(dir: dir, withFirstRoute: true).write(toFile: dir + "/bird.conf", atomically: true, encoding: .utf8)
        try #require(sh("ip netns exec \(ctl) bird -c \(dir)/bird.conf -s \(dir)/bird.ctl -P \(dir)/bird.pid </dev/null >/dev/null 2>&1") == 0)

        // Least privilege, as scripts/flowspec-nft-listen.service runs it: an unprivileged user
        // with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE and no other capability.
        try run(["chmod", "0777", dir])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", sw, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--bounding-set=-all,+net_admin,+net_bind_service", "--inh-caps=-all,+net_admin,+net_bind_service",
                       "--ambient-caps=+net_admin,+net_bind_service",
                       flowspecNft, "listen", "--local-as", "65105", "--router-id", "192.0.2.2",
                       "--peer", "192.0.2.1", "--peer-as", "65309", "--listen", "192.0.2.2:179", "--hold-time", "9",
                       "--status-file", dir + "/listen.json", "--no-merge", "--log-level", "notice"] + marks
        p.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: dir + "/listen.log", contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/listen.log"))
        try p.run()
        listener = p

        func installed() -> Set<String>? {
            guard let r = try? run(["ip", "netns", "exec", sw, flowspecNft, "show", "--json"], check: false), r.status == 0,
                  let o = try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any],
                  let routes = o["routes"] as? [[String: Any]], !routes.isEmpty else { return nil }
            return Set(routes.compactMap { $0["identity"] as? String })
        }
        func waitFor(_ seconds: Double, _ ok: (Set<String>) -> Bool) -> Set<String>? {
            let end = Date().addingTimeInterval(seconds)
            var last: Set<String>?
            while Date() < end {
                last = installed()
                if let l = last, ok(l) { return l }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return last
        }
        let expected = try Self.expectedIdentities(marks: marks)
        #expect(expected.count > 50)
        // `ip netns exec` and setpriv exec the listener in place: the process is the listener.
        Thread.sleep(forTimeInterval: 0.5)
        let status = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8)) ?? ""
        #expect(status.contains("CapEff:\t0000000000001400") && status.contains("Uid:\t65534"), "\(status)")
        let first = waitFor(30) { $0 == expected }
        if first != expected { print((try? String(contentsOfFile: dir + "/listen.log", encoding: .utf8)) ?? "") }
        #expect(first == expected, "missing \(expected.subtracting(first ?? [])), extra \((first ?? []).subtracting(expected))")
        #expect(try Self.showLists("peer 192.0.2.1 AS 65309: Established", namespace: sw, statusFile: dir + "/listen.json"))

        // Change one route at BIRD (dport 80 → 8): the old one goes, the new one comes.
        let old = "4:0120cb00710a038106058150"
        try Self.birdConfig(dir: dir, withFirstRoute: false).write(toFile: dir + "/bird.conf", atomically: true, encoding: .utf8)
        #expect(sh("ip netns exec \(ctl) birdc -s \(dir)/bird.ctl configure >/dev/null") == 0)
        let after = waitFor(15) { !$0.contains(old) }
        #expect(after.map { !$0.contains(old) && $0.contains("4:0120cb00710a038106058108") } == true)

        // The listener stops: the table stays (fail-static).
        listener?.terminate(); listener?.waitUntilExit(); listener = nil
        #expect(installed()?.isEmpty == false)
    }
}

let hasBird: Bool = (try? run(["sh", "-c", "command -v bird && command -v birdc"], check: false).status) == 0
