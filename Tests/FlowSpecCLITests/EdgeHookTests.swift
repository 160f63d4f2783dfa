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
