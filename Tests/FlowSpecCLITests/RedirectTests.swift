import Foundation
import Testing

/// Redirects done in the kernel (issue #22), with packets: h1 → r → h2 is the normal path; a
/// scrubber h3 hangs off r at 192.0.2.10 and 2001:db8:2::10 and also answers for 203.0.113.10 and
/// 2001:db8:113::10, so a redirected flow that reaches it is counted there and not at h2.
@Suite("redirect in the kernel with packets", .enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct RedirectTests {
    static let nextHop = "192.0.2.10"

    /// The lab of `RouterLab` plus the scrubber h3 behind r's device to-h3 (192.0.2.0/24,
    /// 2001:db8:2::/64).
    final class ScrubLab {
        let lab: RouterLab
        let h3: String

        init() throws {
            lab = try RouterLab()
            h3 = lab.h2 + "s"
            do {
                try run(["ip", "netns", "add", h3])
                try run(["ip", "link", "add", "eth0", "netns", h3, "type", "veth", "peer", "name", "to-h3", "netns", lab.r])
                try run(["ip", "-n", h3, "addr", "add", "192.0.2.10/24", "dev", "eth0"])
                try run(["ip", "-n", h3, "addr", "add", "203.0.113.10/32", "dev", "lo"])
                try run(["ip", "-n", lab.r, "addr", "add", "192.0.2.1/24", "dev", "to-h3"])
                try run(["ip", "-n", h3, "-6", "addr", "add", "2001:db8:2::10/64", "dev", "eth0", "nodad"])
                try run(["ip", "-n", h3, "-6", "addr", "add", "2001:db8:113::10/128", "dev", "lo"])
                try run(["ip", "-n", lab.r, "-6", "addr", "add", "2001:db8:2::1/64", "dev", "to-h3", "nodad"])
                for (ns, d) in [(h3, "lo"), (h3, "eth0"), (lab.r, "to-h3")] { try run(["ip", "-n", ns, "link", "set", d, "up"]) }
                try run(["ip", "-n", h3, "route", "add", "default", "via", "192.0.2.1"])
                try run(["ip", "-n", h3, "-6", "route", "add", "default", "via", "2001:db8:2::1"])
            } catch {
                close()
                throw error
            }
        }

        func close() {
            _ = try? run(["ip", "netns", "del", h3], check: false)
            lab.close()
        }

        /// UDP datagrams h2 and h3 count on `ports` while `body` sends.
        func count(ports: [Int], _ body: () throws -> Void) throws -> (h2: [Int: Int], h3: [Int: Int]) {
            let s2 = try PacketServer(namespace: lab.h2, ports: ports)
            let s3: PacketServer
            do { s3 = try PacketServer(namespace: h3, ports: ports) } catch { _ = s2.stop(); throw error }
            do { try body() } catch { _ = s2.stop(); _ = s3.stop(); throw error }
            Thread.sleep(forTimeInterval: 0.3)
            return (s2.stop().mapValues(\.packets), s3.stop().mapValues(\.packets))
        }

        /// Waits (up to 10 s) until IPv6 works from h1 to h2 and from r to h3: for a second or two
        /// after an interface comes up the kernel's IPv6 neighbour discovery loses packets (its
        /// link-local address is still tentative), which IPv4 does not.
        func waitForIPv6() throws {
            let ready = try RedirectTests.eventually(10) {
                try lab.exec(lab.h1, ["ping", "-6", "-c", "1", "-W", "1", "2001:db8:113::10"], check: false).status == 0
                    && lab.exec(lab.r, ["ping", "-6", "-c", "1", "-W", "1", "2001:db8:2::10"], check: false).status == 0
            }
            if !ready { throw ShellError(command: "ping -6", status: -1, stderr: "IPv6 in the lab did not come up in 10 s") }
        }

        func rules(_ family: String = "-4") throws -> String { try lab.exec(lab.r, ["ip", family, "rule", "show"]).out }
        /// The routes of `table` ("" while it has never existed: `ip` then fails).
        func routes(table: String, _ family: String = "-4") throws -> String {
            try lab.exec(lab.r, ["ip", family, "route", "show", "table", table], check: false).out
        }
    }

    static func redirectRoute(_ extra: String = "") -> String {
        """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==17","destination-port":"==5353"},"actions":[\(extra){"redirect-to-ip":"\(nextHop)"}]}
        ]}
        """
    }

    static let firstTable = "1179844608"  // 0x46530000

    @Test("redirect-to-IP: the flow arrives at the next hop, other traffic keeps its path; withdrawn, rule and routes go after the marks")
    func redirectToIP() throws {
        let s = try ScrubLab()
        defer { s.close() }
        let lab = s.lab
        let r = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "-"], stdin: Self.redirectRoute())
        #expect(r.status == 0 && r.out.contains("committed"), "\(r.out)\(r.err)")
        let rules = try s.rules()
        #expect(rules.contains("fwmark 0x46530000 lookup \(Self.firstTable) proto 245"), "\(rules)")
        let table = try s.routes(table: Self.firstTable)
        #expect(table.contains("default via 192.0.2.10 dev to-h3"), "\(table)")
        #expect(table.contains("192.0.2.10 dev to-h3"), "\(table)")
        let (h2, h3) = try s.count(ports: [5353, 22]) {
            try sendUDP(lab: lab, to: "203.0.113.10", port: 5353, count: 20, size: 100, interval: 0.002)
            try sendUDP(lab: lab, to: "203.0.113.10", port: 22, count: 20, size: 100, interval: 0.002)
        }
        #expect(h3[5353] == 20 && h2[5353] == nil, "the redirected flow goes to the next hop: h2 \(h2), h3 \(h3)")
        #expect(h2[22] == 20 && h3[22] == nil, "other traffic keeps its path: h2 \(h2), h3 \(h3)")
        let show = try lab.flowspecNft(["show"])
        #expect(show.out.contains("redirect mark 0x46530000") && show.out.contains("default via 192.0.2.10 dev to-h3"), "\(show.out)")
        // A second run reads the mark back from the kernel: nothing changes.
        let again = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "-"], stdin: Self.redirectRoute())
        #expect(again.out.contains("no change"), "\(again.out)\(again.err)")
        // Withdrawn: the table stops marking, then the rule and the routes go.
        let empty = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "--allow-empty", "-"],
                                        stdin: #"{"routes":[]}"#)
        #expect(empty.status == 0, "\(empty.out)\(empty.err)")
        let rulesAfter = try s.rules()
        #expect(!rulesAfter.contains("0x46530000"), "\(rulesAfter)")
        #expect(try s.routes(table: Self.firstTable).isEmpty)
        let (after2, after3) = try s.count(ports: [5353]) {
            try sendUDP(lab: lab, to: "203.0.113.10", port: 5353, count: 10, size: 100, interval: 0.002)
        }
        #expect(after2[5353] == 10 && after3[5353] == nil, "withdrawn, the flow takes its normal path: h2 \(after2), h3 \(after3)")
    }

    @Test("flush removes the redirect rules and routes with the table")
    func flushRemovesThem() throws {
        let s = try ScrubLab()
        defer { s.close() }
        try s.lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "-"], stdin: Self.redirectRoute())
        #expect(try s.rules().contains("0x46530000"))
        let f = try s.lab.flowspecNft(["flush"])
        #expect(f.status == 0, "\(f.out)\(f.err)")
        let rulesAfter = try s.rules()
        #expect(!rulesAfter.contains("0x46530000"), "\(rulesAfter)")
        #expect(try s.routes(table: Self.firstTable).isEmpty)
    }

    @Test("a route with rate and redirect applies both: the next hop gets the flow, policed")
    func rateAndRedirect() throws {
        let s = try ScrubLab()
        defer { s.close() }
        // 10,000 bytes/s, 200 datagrams of 500 bytes in one second: about 2 × 10,000 bytes pass
        // (PacketTests.rateLimit), all of them to the next hop.
        let r = try s.lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "-"],
                                      stdin: Self.redirectRoute(#"{"traffic-rate-bytes":10000},"#))
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let (h2, h3) = try s.count(ports: [5353]) {
            try sendUDP(lab: s.lab, to: "203.0.113.10", port: 5353, count: 200, size: 500, interval: 0.005)
        }
        let passed = h3[5353] ?? 0
        #expect(passed >= 20 && passed <= 60, "got \(passed) of 200 packets through a 10 kB/s limit at the next hop")
        #expect(h2[5353] == nil, "nothing of the flow on the normal path: \(h2)")
    }

    @Test("redirect-to-IP with the copy bit, or of another family, is rejected with the reason")
    func refusedRedirects() throws {
        let s = try ScrubLab()
        defer { s.close() }
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32"},"actions":[{"redirect-to-ip":{"address":"192.0.2.10","copy":true}}]},
        {"family":"ipv6","match":{"destination":"2001:db8:113::10/128"},"actions":[{"redirect-to-ip":"192.0.2.10"}]}
        ]}
        """
        let r = try s.lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "-"], stdin: routes, check: false)
        #expect(r.status == 3, "\(r.out)\(r.err)")
        #expect(r.out.contains("copy bit") && r.out.contains("of the other family"), "\(r.out)")
        let rules = try s.rules()
        #expect(!rules.contains("0x46530000"), "no rule for rejected routes: \(rules)")
    }

    static let vrfRoute = """
    {"routes":[
    {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==17","destination-port":"==5353"},"actions":[{"redirect":"65000:666"}]}
    ]}
    """

    /// Whether this kernel makes VRF devices (the vrf module): tried in a namespace of its own.
    static let vrfAvailable: Bool = {
        guard canUseNamespaces else { return false }
        let ns = "fsnvrf\(getpid())"
        defer { _ = try? run(["ip", "netns", "del", ns], check: false) }
        guard (try? run(["ip", "netns", "add", ns], check: false))?.status == 0 else { return false }
        return (try? run(["ip", "-n", ns, "link", "add", "vrf-x", "type", "vrf", "table", "10"], check: false))?.status == 0
    }()

    @Test("VRF redirect: the flow lands in the VRF (to-h3 is its device, its table routes to h3); other traffic keeps its path",
          .enabled(if: vrfAvailable, "the kernel cannot make VRF devices (no vrf module)"))
    func vrfRedirect() throws {
        let s = try ScrubLab()
        defer { s.close() }
        let lab = s.lab
        try lab.exec(lab.r, ["ip", "link", "add", "scrub", "type", "vrf", "table", "666"])
        try lab.exec(lab.r, ["ip", "link", "set", "scrub", "up"])
        try lab.exec(lab.r, ["ip", "link", "set", "to-h3", "master", "scrub"])
        try lab.exec(lab.r, ["ip", "addr", "add", "192.0.2.1/24", "dev", "to-h3"], check: false)
        try lab.exec(lab.r, ["ip", "route", "add", "default", "via", "192.0.2.10", "vrf", "scrub"])
        let r = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "--vrf", "65000:666=scrub", "-"],
                                    stdin: Self.vrfRoute)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let rules = try s.rules()
        #expect(rules.contains("fwmark 0x465300ff lookup 666 proto 245"), "\(rules)")
        let (h2, h3) = try s.count(ports: [5353, 22]) {
            try sendUDP(lab: lab, to: "203.0.113.10", port: 5353, count: 20, size: 100, interval: 0.002)
            try sendUDP(lab: lab, to: "203.0.113.10", port: 22, count: 20, size: 100, interval: 0.002)
        }
        #expect(h3[5353] == 20 && h2[5353] == nil, "the redirected flow goes through the VRF: h2 \(h2), h3 \(h3)")
        #expect(h2[22] == 20, "other traffic keeps its path: \(h2)")
    }

    @Test("--vrf naming a device that is not a VRF (for an 8-octet or an rt-redirect-ipv6 target): nothing changes, the device is named")
    func vrfNotAVRF() throws {
        let s = try ScrubLab()
        defer { s.close() }
        for (target, routes) in [("65000:666", Self.vrfRoute), ("[2001:db8::1]:100", Self.rtRedirectRoute6)] {
            let r = try s.lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--vrf", "\(target)=to-h3", "-"],
                                          stdin: routes, check: false)
            #expect(r.status == 1 && r.err.contains("to-h3 is not a VRF") && r.err.contains("nothing changed"), "\(target): \(r.out)\(r.err)")
        }
        let table = try s.lab.exec(s.lab.r, ["nft", "list", "tables"]).out
        #expect(!table.contains("flowspec"), "\(table)")
        let bad = try s.lab.flowspecNft(["apply", "--from", "json", "--vrf", "[2001:db8::1]:65536=scrub", "-"], stdin: Self.vrfRoute, check: false)
        #expect(bad.status != 0 && bad.err.contains("--vrf"), "\(bad.err)")
    }

    @Test("--unmapped-redirect: reject leaves the flow alone (route rejected), ignore applies the route's drop")
    func unmappedRedirect() throws {
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==17","destination-port":"==5353"},"actions":[{"redirect":"65000:777"},{"traffic-rate-bytes":0}]}
        ]}
        """
        for (mode, delivered) in [("reject", 10), ("ignore", 0)] {
            let s = try ScrubLab()
            defer { s.close() }
            let r = try s.lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--unmapped-redirect", mode, "-"], stdin: routes, check: false)
            #expect(r.status == (mode == "reject" ? 3 : 0), "\(r.out)\(r.err)")
            if mode == "ignore" { #expect(r.out.contains("redirect is ignored"), "\(r.out)") }
            let (h2, h3) = try s.count(ports: [5353]) {
                try sendUDP(lab: s.lab, to: "203.0.113.10", port: 5353, count: 10, size: 100, interval: 0.002)
            }
            #expect((h2[5353] ?? 0) == delivered && h3[5353] == nil, "\(mode): h2 \(h2), h3 \(h3)")
        }
    }

    /// An ExaBGP API line announcing the redirect-to-IP route (0x010c, next hop 192.0.2.10).
    static let exabgpAnnounce = #"{ "exabgp": "4.0.1", "type": "update", "neighbor": { "address": { "local": "192.0.2.1", "peer": "192.0.2.9" }, "asn": { "local": 65108, "peer": 65309 }, "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "extended-community": [ { "value": 75646400025198592, "string": "redirect-to-nexthop-ietf 192.0.2.10" } ] }, "announce": { "ipv4 flow": { "no-nexthop": [ { "destination-ipv4": [ "203.0.113.10/32" ], "protocol": [ "=udp" ], "destination-port": [ "=5353" ], "string": "flow destination-ipv4 203.0.113.10/32 protocol =udp destination-port =5353" } ] } } } } } }"#

    /// Polls `check` every 50 ms for up to `seconds`.
    static func eventually(_ seconds: Double, _ check: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try check() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try check()
    }

    /// What one family's daemon test varies: the ExaBGP line announcing the redirected flow, its
    /// next hop and destination, `ip`'s family flag.
    struct DaemonCase {
        let announce: String
        let nextHop: String
        let destination: String
        let ipFamily: String
        var v6: Bool { ipFamily == "-6" }
    }

    /// `watch --source exabgp` in r (prerouting, mangle priority, `--flush-on-exit`), fed ExaBGP
    /// lines on standard input, its log in a file.
    final class ExaBGPWatch {
        let process = Process()
        let input = Pipe()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-watch-\(UUID().uuidString)")

        init(in ns: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", ns, FlowSpecCLITests.flowspecNft, "watch", "--source", "exabgp", "--hook", "prerouting",
                                 "--priority", "mangle", "--debounce", "0", "--flush-on-exit", "--log-level", "info"]
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: log)
            try process.run()
        }

        func send(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }
        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// The exabgp source reads standard input until it ends: closed first, then SIGTERM.
        func stop() {
            guard process.isRunning else { return }
            try? input.fileHandleForWriting.close()
            process.terminate()
            process.waitUntilExit()
        }

        deinit {
            stop()
            try? FileManager.default.removeItem(at: log)
        }
    }

    /// The daemon test of either family: redirected, the next hop's link down (unreachable, no
    /// delivery elsewhere) and up again (followed), then `--flush-on-exit`.
    func checkDaemonFollowsNextHop(_ c: DaemonCase) throws {
        let s = try ScrubLab()
        defer { s.close() }
        let lab = s.lab
        if c.v6 {
            // Keep to-h3's IPv6 address while it is down (by default the kernel drops it with the link).
            try lab.exec(lab.r, ["sysctl", "-qw", "net.ipv6.conf.all.keep_addr_on_down=1"])
            try s.waitForIPv6()
        }
        let watch = try ExaBGPWatch(in: lab.r)
        defer { watch.stop() }
        watch.send(c.announce)
        let table = Self.firstTable
        func routes() -> String { (try? s.routes(table: table, c.ipFamily)) ?? "" }
        func send() throws { try sendUDP(lab: lab, to: c.destination, port: 5353, count: 10, size: 100, interval: 0.002) }
        #expect(Self.eventually(10) { routes().contains("default via \(c.nextHop) dev to-h3") }, "\(watch.logText)")
        #expect(try Self.eventually(5) { try lab.exec(lab.r, ["nft", "list", "tables"]).out.contains("flowspec") })
        let (h2a, h3a) = try s.count(ports: [5353], send)
        #expect(h3a[5353] == 10 && h2a[5353] == nil, "redirected by the daemon: h2 \(h2a), h3 \(h3a)")

        // The next hop goes away: its link down, the kernel has no path; the table answers unreachable.
        try lab.exec(lab.r, ["ip", "link", "set", "to-h3", "down"])
        #expect(Self.eventually(5) { routes().contains("unreachable default") }, "\(routes())\n\(watch.logText)")
        let (h2b, h3b) = try s.count(ports: [5353], send)
        #expect(h2b[5353] == nil && h3b[5353] == nil, "next hop gone: the flow is not delivered elsewhere: h2 \(h2b), h3 \(h3b)")

        // It comes back: followed again.
        try lab.exec(lab.r, ["ip", "link", "set", "to-h3", "up"])
        #expect(Self.eventually(5) { routes().contains("default via \(c.nextHop) dev to-h3") }, "\(routes())\n\(watch.logText)")
        if c.v6 { try s.waitForIPv6() }  // the link came up again: neighbour discovery needs its second
        let (h2c, h3c) = try s.count(ports: [5353], send)
        #expect(h3c[5353] == 10 && h2c[5353] == nil, "next hop back: h2 \(h2c), h3 \(h3c)")
        #expect(watch.logText.contains("redirect next hop \(c.nextHop)"), "\(watch.logText)")

        watch.stop()
        let rules = try s.rules(c.ipFamily)
        #expect(!rules.contains("0x46530000"), "--flush-on-exit: \(rules)")
        #expect(routes().isEmpty)
    }

    @Test("watch follows a next hop that goes away and comes back (rtnetlink), and --flush-on-exit removes the rules and routes")
    func daemonFollowsNextHop() throws {
        try checkDaemonFollowsNextHop(DaemonCase(announce: Self.exabgpAnnounce, nextHop: Self.nextHop, destination: "203.0.113.10", ipFamily: "-4"))
    }

    // MARK: IPv6 (attribute 25, 0x000c)

    static let nextHop6 = "2001:db8:2::10"

    /// The UDP 5353 flow to 2001:db8:113::10 with `actions` (JSON array elements).
    static func route6(actions: String) -> String {
        """
        {"routes":[
        {"family":"ipv6","match":{"destination":"2001:db8:113::10/128","next-header":"==17","destination-port":"==5353"},"actions":[\(actions)]}
        ]}
        """
    }

    static func redirectRoute6(_ extra: String = "") -> String { route6(actions: extra + #"{"redirect-to-ip":"\#(nextHop6)"}"#) }

    @Test("IPv6 redirect-to-IP: the flow arrives at the IPv6 next hop, other traffic keeps its path; withdrawn, the -6 rule and routes go")
    func redirectToIPv6() throws {
        let s = try ScrubLab()
        defer { s.close() }
        let lab = s.lab
        try s.waitForIPv6()
        let r = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "-"], stdin: Self.redirectRoute6())
        #expect(r.status == 0 && r.out.contains("committed"), "\(r.out)\(r.err)")
        let rules = try s.rules("-6")
        #expect(rules.contains("fwmark 0x46530000 lookup \(Self.firstTable) proto 245"), "\(rules)")
        #expect(!(try s.rules("-4")).contains("0x46530000"), "no IPv4 rule for an IPv6 next hop")
        let table = try s.routes(table: Self.firstTable, "-6")
        #expect(table.contains("default via 2001:db8:2::10 dev to-h3"), "\(table)")
        #expect(table.contains("2001:db8:2::10 dev to-h3"), "\(table)")
        let (h2, h3) = try s.count(ports: [5353, 22]) {
            try sendUDP(lab: lab, to: "2001:db8:113::10", port: 5353, count: 20, size: 100, interval: 0.002)
            try sendUDP(lab: lab, to: "2001:db8:113::10", port: 22, count: 20, size: 100, interval: 0.002)
            try sendUDP(lab: lab, to: "203.0.113.10", port: 5353, count: 20, size: 100, interval: 0.002)
        }
        #expect(h3[5353] == 20 && h2[5353] == 20, "the IPv6 flow goes to the next hop, the IPv4 one on its path: h2 \(h2), h3 \(h3)")
        #expect(h2[22] == 20 && h3[22] == nil, "other IPv6 traffic keeps its path: h2 \(h2), h3 \(h3)")
        let show = try lab.flowspecNft(["show"])
        #expect(show.out.contains("redirect mark 0x46530000") && show.out.contains("default via 2001:db8:2::10 dev to-h3"), "\(show.out)")
        let again = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "-"], stdin: Self.redirectRoute6())
        #expect(again.out.contains("no change"), "\(again.out)\(again.err)")
        let empty = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle", "--allow-empty", "-"],
                                        stdin: #"{"routes":[]}"#)
        #expect(empty.status == 0, "\(empty.out)\(empty.err)")
        #expect(!(try s.rules("-6")).contains("0x46530000"))
        #expect(try s.routes(table: Self.firstTable, "-6").isEmpty)
        let (after2, after3) = try s.count(ports: [5353]) {
            try sendUDP(lab: lab, to: "2001:db8:113::10", port: 5353, count: 10, size: 100, interval: 0.002)
        }
        #expect(after2[5353] == 10 && after3[5353] == nil, "withdrawn, the flow takes its normal path: h2 \(after2), h3 \(after3)")
    }

    /// rt-redirect-ipv6 (RFC 8956 §6.1, attribute 25's 0x000d) to [2001:db8::1]:100 for the UDP
    /// 5353 flow to 2001:db8:113::10.
    static let rtRedirectRoute6 = route6(actions: #"{"rt-redirect-ipv6":{"address":"2001:db8::1","local":100}}"#)

    @Test("rt-redirect-ipv6 mapped by --redirect-mark [2001:db8::1]:100=0x10: the flow follows the operator's ip -6 rule to h3, other traffic keeps its path")
    func rtRedirectIPv6Mapped() throws {
        let s = try ScrubLab()
        defer { s.close() }
        let lab = s.lab
        try s.waitForIPv6()
        try lab.exec(lab.r, ["ip", "-6", "route", "add", "default", "via", Self.nextHop6, "table", "100"])
        try lab.exec(lab.r, ["ip", "-6", "rule", "add", "fwmark", "0x10", "lookup", "100", "priority", "100"])
        let r = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "mangle",
                                     "--redirect-mark", "[2001:db8::1]:100=0x10", "-"], stdin: Self.rtRedirectRoute6)
        #expect(r.status == 0 && r.out.contains("committed"), "\(r.out)\(r.err)")
        let (h2, h3) = try s.count(ports: [5353, 22]) {
            try sendUDP(lab: lab, to: "2001:db8:113::10", port: 5353, count: 20, size: 100, interval: 0.002)
            try sendUDP(lab: lab, to: "2001:db8:113::10", port: 22, count: 20, size: 100, interval: 0.002)
        }
        #expect(h3[5353] == 20 && h2[5353] == nil, "the flow goes by the marked table to h3: h2 \(h2), h3 \(h3)")
        #expect(h2[22] == 20 && h3[22] == nil, "other traffic keeps its path: h2 \(h2), h3 \(h3)")
        #expect(!(try s.rules("-6")).contains("0x46530000"), "--redirect-mark makes no rule of the tool's")
    }

    @Test("rt-redirect-ipv6 without a mapping and the IPv6 copy bit are rejected with the reason; nothing is marked")
    func refusedIPv6Redirects() throws {
        let s = try ScrubLab()
        defer { s.close() }
        let routes = """
        {"routes":[
        {"family":"ipv6","match":{"destination":"2001:db8:113::10/128"},"actions":[{"redirect-to-ip":{"address":"2001:db8:2::10","copy":true}}]},
        {"family":"ipv6","match":{"destination":"2001:db8:113::11/128"},"actions":[{"rt-redirect-ipv6":{"address":"2001:db8::1","local":100}}]}
        ]}
        """
        let r = try s.lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--redirect-mark", "[2001:db8::1]:101=0x10", "-"],
                                      stdin: routes, check: false)
        #expect(r.status == 3, "\(r.out)\(r.err)")
        #expect(r.out.contains("copy bit") && r.out.contains("rt-redirect-ipv6 (RFC 8956 §6.1) to route target [2001:db8::1]:100 has no VRF or fwmark"), "\(r.out)")
        #expect(!(try s.rules("-6")).contains("0x46530000"))
    }

    /// An ExaBGP API line announcing the IPv6 redirect-to-IP route: attribute 25's 0x000c to
    /// 2001:db8:2::10, as ExaBGP prints it (the 20 octets as one decimal integer).
    static let exabgpAnnounce6 = #"{ "exabgp": "4.0.1", "type": "update", "neighbor": { "address": { "local": "192.0.2.1", "peer": "192.0.2.9" }, "asn": { "local": 65108, "peer": 65309 }, "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "extended-community-ipv6": [ { "value": 270396894049897452160223707358247110338150400, "string": "redirect-to-nexthop-ietf 2001:db8:2::10" } ] }, "announce": { "ipv6 flow": { "no-nexthop": [ { "destination-ipv6": [ "2001:db8:113::10/128/0" ], "next-header": [ "=udp" ], "destination-port": [ "=5353" ], "string": "flow destination-ipv6 2001:db8:113::10/128/0 next-header =udp destination-port =5353" } ] } } } } } }"#

    @Test("watch follows an IPv6 next hop that goes away and comes back (rtnetlink), and --flush-on-exit removes the -6 rule and routes")
    func daemonFollowsIPv6NextHop() throws {
        try checkDaemonFollowsNextHop(DaemonCase(announce: Self.exabgpAnnounce6, nextHop: Self.nextHop6, destination: "2001:db8:113::10", ipFamily: "-6"))
    }
}
