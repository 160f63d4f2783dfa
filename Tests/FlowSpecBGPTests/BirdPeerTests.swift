#if canImport(Glibc)
import Glibc
#endif
import Testing
import FlowSpec
@testable import FlowSpecBGP

/// Runs a shell command; returns its exit status.
@discardableResult
func sh(_ command: String) -> Int32 {
    var pid = pid_t()
    let args = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status >> 8) & 0xff
}

/// setns(2) through dlsym: the Glibc module does not export it.
func enterNetworkNamespace(_ name: String) -> Bool {
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return false }
    let setns = unsafeBitCast(sym, to: SetNS.self)
    let fd = open("/run/netns/\(name)", O_RDONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return setns(fd, 0x4000_0000 /* CLONE_NEWNET */) == 0
}

struct NamespaceError: Error { let name: String }

final class StartBox: @unchecked Sendable { var result: Result<Speaker, any Error>? }

/// Starts `speaker` on a fresh thread that first joins the namespace `name`: the listener and
/// the loop thread (spawned from there) live in that namespace.
func startInNamespace(_ name: String, _ speaker: Speaker) throws {
    let box = StartBox()
    let t = try PThread {
        guard enterNetworkNamespace(name) else { box.result = .failure(NamespaceError(name: name)); return }
        box.result = Result { try speaker.start(); return speaker }
    }
    t.join()
    _ = try box.result!.get()
}

enum BirdLab {
    static func routes(withB: Bool) -> String { """
    protocol static fl4 { flow4 { table ft4; };
      route flow4 { dst 203.0.113.10/32; proto 6; dport 80; } { bgp_ext_community.add((generic, 0x80060000, 0)); };
    \(withB ? "route flow4 { dst 198.51.100.0/24; proto 17; } { bgp_ext_community.add((generic, 0x80060000, 0x47f42400)); };" : "")
    }
    protocol static fl6 { flow6 { table ft6; };
      route flow6 { dst 2001:db8:113::10/128; next header 6; } { bgp_ext_community.add((generic, 0x80060000, 0)); };
    }
    """ }

    static func config(dir: String, routes: String) -> String {
        """
        log "\(dir)/bird.log" all;
        router id 192.0.2.1;
        flow4 table ft4;
        flow6 table ft6;
        protocol device { }
        protocol bgp spk {
          local 192.0.2.1 as 65309;
          neighbor 192.0.2.2 as 65001;
          hold time 9;
          connect retry time 1;
          error wait time 1, 5;
          flow4 { table ft4; import none; export all; };
          flow6 { table ft6; import none; export all; };
        }
        \(routes)
        """
    }
}

@Suite(.serialized) struct BirdPeerTests {
    static let canRun: Bool = getuid() == 0 && sh("command -v bird >/dev/null && command -v ip >/dev/null") == 0

    @Test(.enabled(if: canRun, "needs root, ip(8) and BIRD 2 (apt-get install bird2)"))
    func birdAnnouncesAndWithdrawsFlowRoutes() throws {
        let tag = "\(getpid() % 100000)"
        let nsB = "fsbird\(tag)", nsS = "fsspk\(tag)", dir = "/tmp/fs-bird-\(tag)"
        let cleanup = """
            [ -s \(dir)/bird.pid ] && kill $(cat \(dir)/bird.pid) 2>/dev/null; sleep 0.2;
            ip netns pids \(nsB) 2>/dev/null | xargs -r kill 2>/dev/null;
            ip netns del \(nsB) 2>/dev/null; ip netns del \(nsS) 2>/dev/null; rm -rf \(dir)
            """
        sh(cleanup)
        defer { sh(cleanup) }
        let setup = """
            set -e; mkdir -p \(dir)
            ip netns add \(nsB); ip netns add \(nsS)
            ip -n \(nsB) link set lo up; ip -n \(nsS) link set lo up
            ip link add fsb\(tag) netns \(nsB) type veth peer name fss\(tag) netns \(nsS)
            ip -n \(nsB) addr add 192.0.2.1/30 dev fsb\(tag); ip -n \(nsS) addr add 192.0.2.2/30 dev fss\(tag)
            ip -n \(nsB) link set fsb\(tag) up; ip -n \(nsS) link set fss\(tag) up
            """
        try #require(sh(setup) == 0)
        func writeConfig(_ routes: String) {
            let text = BirdLab.config(dir: dir, routes: routes)
            let f = fopen("\(dir)/bird.conf", "w")!
            fputs(text, f); fclose(f)
        }
        writeConfig(BirdLab.routes(withB: true))
        try #require(sh("ip netns exec \(nsB) bird -c \(dir)/bird.conf -s \(dir)/bird.ctl -P \(dir)/bird.pid") == 0)

        let cfg = SpeakerConfig(localAS: 65001, routerID: 0xc000_0202, listenAddress: IPAddress("192.0.2.2")!,
                                peers: [PeerConfig(address: IPAddress("192.0.2.1")!, peerAS: 65309)],
                                holdTime: 9, connectRetryTime: 1, debounce: 0.2, initialSyncTimeout: 20, staleTime: 5)
        // Listener and loop thread are created inside the speaker's namespace.
        let log = EventLog()
        let speaker = Speaker(config: cfg, onEvent: log.record)
        try startInNamespace(nsS, speaker)
        defer { speaker.stop() }

        #expect(log.wait(30) { !log.snapshots.isEmpty })
        let first = try #require(log.snapshots.first)
        #expect(first.synchronized)
        let expected: [(AddressFamily, String)] = [(.ipv4, nlriB), (.ipv4, nlriA), (.ipv6, nlri6)]
        #expect(first.routes.map { RouteID($0) } == expected.map { RouteID(family: $0.0, nlri: hexBytes($0.1)) })
        let rateA = first.routes.first { $0.nlriBytes == hexBytes(nlriA) }?.extendedCommunities
        let rateB = first.routes.first { $0.nlriBytes == hexBytes(nlriB) }?.extendedCommunities
        #expect(rateA == [drop])
        #expect(rateB == [ExtendedCommunity(rawValue: 0x8006_0000_47f4_2400)])
        let st = speaker.status().peers[0]
        #expect(st.state == .established && st.families == [.ipv4, .ipv6] && st.routeRefresh)

        // Withdraw at BIRD: drop the /24 route and reconfigure.
        writeConfig(BirdLab.routes(withB: false))
        #expect(sh("birdc -s \(dir)/bird.ctl configure >/dev/null") == 0)
        #expect(log.wait(15) { log.snapshots.last?.routes.count == 2 })
        #expect(log.snapshots.last?.routes.map(\.nlriBytes) == [hexBytes(nlriA), hexBytes(nlri6)])

        // ROUTE-REFRESH: BIRD re-sends; the set does not change, so nothing new is delivered.
        let count = log.snapshots.count
        speaker.requestRefresh()
        usleep(1_000_000)
        #expect(log.snapshots.count == count)
        #expect(speaker.status().peers[0].state == .established)
    }
}

