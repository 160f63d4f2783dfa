import Foundation
import Testing

/// The edge forms (issue #17) with real packets from h1 through r to h2: the table at r's
/// ingress hook on the device facing h1, at prerouting before connection tracking, and a
/// default-drop table whose allowed flows get their replies back with --accept-established.
@Suite("edge hooks with packets", .enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct EdgeHookTests {
    static let dropPort80 = """
    {"routes":[
    {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==80"},"actions":["drop"]},
    {"family":"ipv6","match":{"destination":"2001:db8:113::10/128","protocol":"==6","destination-port":"==80"},"actions":["drop"]}
    ]}
    """

    /// Drops at ingress on to-h1 only: traffic from h1 is filtered, traffic that arrives on
    /// to-h2 (r's own replies to h2) is not; the device may come and go.
    @Test("--hook ingress --device drops on the named device, merged and not")
    func ingressDropsOnItsDevice() throws {
        for merge in ["--merge", "--no-merge"] {
            let lab = try RouterLab()
            defer { lab.close() }
            let r = try lab.flowspecNft(["apply", "--from", "json", "--hook", "ingress", "--device", "to-h1", "--priority", "-500", merge, "-"],
                                        stdin: Self.dropPort80)
            #expect(r.out.contains("committed"), "\(r.out)\(r.err)")
            let server = try PacketServer(namespace: lab.h2, ports: [22, 80])
            defer { _ = server.stop() }
            #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80))
            #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22))
            #expect(try !lab.tcpConnects(to: "2001:db8:113::10", port: 80))
            #expect(try lab.tcpConnects(to: "2001:db8:113::10", port: 22))
            let show = try lab.flowspecNft(["show"])
            #expect(show.out.contains("hook ingress on to-h1"), "\(show.out)")
            // h2 → r's own port 80 arrives on to-h2: not this table's device.
            let local = try PacketServer(namespace: lab.r, ports: [80])
            defer { _ = local.stop() }
            #expect(try lab.exec(lab.h2, ["nc", "-z", "-w", "1", "203.0.113.1", "80"], check: false).status == 0)
        }
    }

    /// A device named before it exists is hooked when it appears (the kernel keeps the name).
    @Test("an ingress device that appears later is filtered once it is there")
    func ingressDeviceAppearsLater() throws {
        let lab = try RouterLab()
        defer { lab.close() }
        let r = try lab.flowspecNft(["apply", "--from", "json", "--hook", "ingress", "--device", "to-h1", "--device", "later0", "-"],
                                    stdin: Self.dropPort80)
        #expect(r.out.contains("warning: device later0 does not exist (yet)"), "\(r.out)\(r.err)")
        // Move h1's link: to-h1 goes away with a rename, later0 is the same link.
        try lab.exec(lab.r, ["ip", "link", "set", "to-h1", "down"])
        try lab.exec(lab.r, ["ip", "link", "set", "to-h1", "name", "later0"])
        try lab.exec(lab.r, ["ip", "link", "set", "later0", "up"])
        try lab.exec(lab.r, ["ip", "addr", "add", "198.51.100.1/24", "dev", "later0"], check: false)
        let server = try PacketServer(namespace: lab.h2, ports: [22, 80])
        defer { _ = server.stop() }
        #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22))
        #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80))
    }

    @Test("--hook prerouting --priority raw drops before connection tracking")
    func prerouting() throws {
        let lab = try RouterLab()
        defer { lab.close() }
        let r = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "raw", "-"], stdin: Self.dropPort80)
        #expect(r.out.contains("committed"), "\(r.out)\(r.err)")
        let server = try PacketServer(namespace: lab.h2, ports: [22, 80])
        defer { _ = server.stop() }
        #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80))
        #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22))
        let listed = try lab.exec(lab.r, ["nft", "list", "chain", "inet", "flowspec", "filter"])
        #expect(listed.out.contains("hook prerouting priority raw"), "\(listed.out)")
    }

    /// Default drop with one allowed service: without --accept-established the SYN passes and
    /// the SYN-ACK is dropped (and apply warns); with it the connection opens.
    @Test("--accept-established lets the replies of allowed flows back through a default drop")
    func acceptEstablished() throws {
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"0.0.0.0/0","source":"0.0.0.0/0"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==22"},"actions":[]}
        ]}
        """
        let lab = try RouterLab()
        defer { lab.close() }
        let server = try PacketServer(namespace: lab.h2, ports: [22, 80])
        defer { _ = server.stop() }
        let without = try lab.flowspecNft(["apply", "--from", "json", "-"], stdin: routes)
        #expect(without.out.contains("warning: the table drops by default"), "\(without.out)")
        #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 22), "the SYN-ACK has no route")
        let with = try lab.flowspecNft(["apply", "--from", "json", "--accept-established", "-"], stdin: routes)
        #expect(!with.out.contains("warning"), "\(with.out)")
        #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22))
        #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80), "what no route allows stays dropped")
        let show = try lab.flowspecNft(["show"])
        let replies = show.out.split(separator: "\n").first { $0.contains("replies of allowed flows") }
        #expect(replies.map { !$0.contains(" 0 pkts") } == true, "\(show.out)")
        // fetch reads the routes back, not the table's own rule.
        let fetched = try lab.flowspecNft(["fetch", "--from", "nft", "--chain", "inet flowspec filter"])
        #expect(!fetched.out.contains("ct state") && !fetched.err.contains("ct state"), "\(fetched.out)\(fetched.err)")
    }

    /// Interface scoping: routes for both hosts' ports, each scoped to one of r's interfaces.
    /// A route scoped to to-h1 drops what h1 sends and nothing of h2's; one scoped to to-h2 the
    /// reverse; a route with no group's target drops on both. On the forward hook (merged and
    /// not) and at ingress on both devices; show and fetch name the scope.
    @Test("--interface-group: a route scoped to one interface does not touch traffic from the other")
    func interfaceGroups() throws {
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==80"},"actions":["drop",{"route-target":"65309:20"}]},
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==22"},"actions":["drop",{"route-target":"65309:21"}]},
        {"family":"ipv4","match":{"destination":"198.51.100.10/32","protocol":"==6","destination-port":"==80"},"actions":["drop",{"route-target":"65309:21"}]},
        {"family":"ipv4","match":{"destination":"198.51.100.10/32","protocol":"==6","destination-port":"==22"},"actions":["drop",{"route-target":"65309:20"}]},
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==443"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"198.51.100.10/32","protocol":"==6","destination-port":"==443"},"actions":["drop"]}
        ]}
        """
        let groups = ["--interface-group", "65309:20=to-h1", "--interface-group", "65309:21=to-h2"]
        for form in [["--merge"], ["--no-merge"], ["--hook", "ingress", "--device", "to-h1", "--device", "to-h2", "--priority", "-500"]] {
            let lab = try RouterLab()
            defer { lab.close() }
            let r = try lab.flowspecNft(["apply", "--from", "json"] + form + groups + ["-"], stdin: routes)
            #expect(r.out.contains("committed"), "\(form): \(r.out)\(r.err)")
            let atH2 = try PacketServer(namespace: lab.h2, ports: [22, 80, 443])
            defer { _ = atH2.stop() }
            let atH1 = try PacketServer(namespace: lab.h1, ports: [22, 80, 443])
            defer { _ = atH1.stop() }
            func fromH2(_ port: Int) throws -> Bool {
                try lab.exec(lab.h2, ["nc", "-z", "-w", "1", "198.51.100.10", "\(port)"], check: false).status == 0
            }
            // h1 → h2 arrives on to-h1: the to-h1 route and the unscoped one drop.
            #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80), "\(form)")
            #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22), "\(form): a to-h2 route dropped traffic from to-h1")
            #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 443), "\(form)")
            // h2 → h1 arrives on to-h2.
            #expect(try !fromH2(80), "\(form)")
            #expect(try fromH2(22), "\(form): a to-h1 route dropped traffic from to-h2")
            #expect(try !fromH2(443), "\(form)")
            let show = try lab.flowspecNft(["show"])
            #expect(show.out.contains("203.0.113.10/32") && show.out.contains("on to-h1") && show.out.contains("on to-h2"), "\(show.out)")
            let chain = "inet flowspec filter"
            let fetched = try lab.flowspecNft(["fetch", "--from", "nft", "--chain", chain, "--sequence-carrier", "none"] + groups)
            #expect(fetched.out.contains("(generic, 0x0002ff1d, 0x00000014)"), "route target 65309:20 written: \(fetched.out)\(fetched.err)")
            #expect(fetched.out.contains("(generic, 0x0002ff1d, 0x00000015)"), "route target 65309:21 written: \(fetched.out)")
            #expect(!fetched.err.contains("unsupported"), "\(fetched.err)")
            let blind = try lab.flowspecNft(["fetch", "--from", "nft", "--chain", chain], check: false)
            #expect(blind.err.contains("which no --interface-group makes up"), "\(blind.err)")
        }
    }

    /// The daemons take the groups too, from the config file: `watch --source exabgp` fed two
    /// ExaBGP updates on its standard input (rate 0 with rt 65309:20, and with rt 65309:21).
    @Test("watch --config with interface-group lines scopes the routes it installs")
    func watchWithInterfaceGroups() throws {
        let lab = try RouterLab()
        defer { lab.close() }
        func update(_ port: Int, target: UInt64) -> String {
            #"{ "exabgp": "4.0.1", "time": 1795727768.0, "host": "vm", "pid": 1, "ppid": 1, "counter": 1, "type": "update", "neighbor": { "address": { "local": "192.0.2.10", "peer": "192.0.2.9" }, "asn": { "local": 65108, "peer": 65309 }, "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": [ 65309 ], "confederation-path": [], "extended-community": [ { "value": 9225060886715039744, "string": "rate-limit:0" }, { "value": "# + "\(0x0002_ff1d_0000_0000 | target)" + #", "string": "target" } ] }, "announce": { "ipv4 flow": { "no-nexthop": [ { "destination-ipv4": [ "203.0.113.10/32" ], "protocol": [ "=tcp" ], "destination-port": [ "="# + "\(port)" + #"" ], "string": "flow" } ] } } } } } }"#
        }
        let dir = lab.stateDirectory
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let updates = dir.appendingPathComponent("updates.jsonl"), config = dir.appendingPathComponent("watch.conf")
        try (update(80, target: 20) + "\n" + update(22, target: 21) + "\n").write(to: updates, atomically: true, encoding: .utf8)
        try "source = exabgp\ninterface-group = 65309:20=to-h1\ninterface-group = 65309:21=to-h2\n".write(to: config, atomically: true, encoding: .utf8)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        daemon.arguments = ["ip", "netns", "exec", lab.r, "sh", "-c",
                            "(cat \(updates.path); sleep 60) | exec \(flowspecNft) watch --config \(config.path)"]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            // The daemon, the shell and its `sleep` (which holds the pipe open): all of r's processes.
            _ = try? run(["sh", "-c", "ip netns pids \(lab.r) | xargs -r kill"], check: false)
            daemon.waitUntilExit()
        }
        var listed = ""
        for _ in 0..<50 where !listed.contains("iifname") {
            Thread.sleep(forTimeInterval: 0.2)
            listed = try lab.exec(lab.r, ["nft", "list", "ruleset"], check: false).out
        }
        #expect(listed.contains("\"to-h1\"") && listed.contains("\"to-h2\""), "\(listed)")
        let server = try PacketServer(namespace: lab.h2, ports: [22, 80])
        defer { _ = server.stop() }
        #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80))
        #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22), "a route scoped to to-h2 dropped traffic from to-h1")
    }

    @Test("--interface-group refusals: output hook, a bad name, an interface ingress does not hook")
    func interfaceGroupRefusals() throws {
        let lab = try RouterLab()
        defer { lab.close() }
        let output = try lab.flowspecNft(["apply", "--from", "json", "--hook", "output", "--interface-group", "65309:20=to-h1", "-"],
                                         stdin: Self.dropPort80, check: false)
        #expect(output.status == 64 && output.err.contains("no input interface"), "\(output.err)")
        let wildcard = try lab.flowspecNft(["apply", "--from", "json", "--interface-group", "65309:20=eth*", "-"],
                                           stdin: Self.dropPort80, check: false)
        #expect(wildcard.status == 64 && wildcard.err.contains("wildcard"), "\(wildcard.err)")
        let unhooked = try lab.flowspecNft(["apply", "--from", "json", "--hook", "ingress", "--device", "to-h1",
                                            "--interface-group", "65309:20=to-h2", "-"], stdin: Self.dropPort80, check: false)
        #expect(unhooked.status == 64 && unhooked.err.contains("add --device to-h2"), "\(unhooked.err)")
        #expect(try lab.exec(lab.r, ["nft", "list", "tables"]).out.isEmpty)
    }

    @Test("refusals: ingress without a device, offload on veth, accept-established where conntrack has not run")
    func refusals() throws {
        let lab = try RouterLab()
        defer { lab.close() }
        let noDevice = try lab.flowspecNft(["apply", "--from", "json", "--hook", "ingress", "-"], stdin: Self.dropPort80, check: false)
        #expect(noDevice.status == 64 && noDevice.err.contains("--hook ingress needs the devices"), "\(noDevice.err)")
        let offload = try lab.flowspecNft(["apply", "--from", "json", "--hook", "ingress", "--device", "to-h1", "--offload", "-"],
                                          stdin: Self.dropPort80, check: false)
        #expect(offload.status == 1 && offload.err.contains("--offload: the kernel refused to run chain filter in hardware on to-h1"),
                "\(offload.err)")
        // Nothing half-applied: no table.
        #expect(try lab.exec(lab.r, ["nft", "list", "tables"]).out.isEmpty)
        let early = try lab.flowspecNft(["apply", "--from", "json", "--hook", "prerouting", "--priority", "raw", "--accept-established", "-"],
                                        stdin: Self.dropPort80, check: false)
        #expect(early.status == 64 && early.err.contains("before connection tracking"), "\(early.err)")
        let ingress = try lab.flowspecNft(["apply", "--from", "json", "--hook", "ingress", "--device", "to-h1", "--accept-established", "-"],
                                          stdin: Self.dropPort80, check: false)
        #expect(ingress.status == 64 && ingress.err.contains("connection tracking has not run at the ingress hook"), "\(ingress.err)")
    }
}
