import Foundation
import Testing

/// Real packets from h1 through the router namespace r to h2, with flowspec-nft's table on r's
/// forward hook. Each test builds its own namespaces and removes them.
@Suite("packets through the router", .enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct PacketTests {
    func withLab(_ routes: String, _ extra: [String] = [], _ body: (RouterLab) throws -> Void) throws {
        let lab = try RouterLab()
        defer { lab.close() }
        let r = try lab.flowspecNft(["apply", "--from", "json", "-"] + extra, stdin: routes)
        #expect(r.out.contains("committed"), "\(r.out)\(r.err)")
        try body(lab)
    }

    @Test("traffic-rate 0 drops exactly what the route matches")
    func dropMatchesOnlyItsRoute() throws {
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==80"},"actions":["drop"],"comment":"web: closed for INC-42"},
        {"family":"ipv4","match":{"destination":"203.0.113.11/32","protocol":"==1","icmp-type":"==8"},"actions":["drop"]},
        {"family":"ipv6","match":{"destination":"2001:db8:113::10/128","protocol":"==6","destination-port":">=80&<=81"},"actions":["drop"]}
        ]}
        """
        try withLab(routes) { lab in
            let server = try PacketServer(namespace: lab.h2, ports: [22, 80, 81])
            defer { _ = server.stop() }
            #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80))
            #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22))
            #expect(try lab.tcpConnects(to: "203.0.113.11", port: 80), "the port route is for .10 only")
            #expect(try !lab.pings("203.0.113.11"))
            #expect(try lab.pings("203.0.113.10"))
            #expect(try !lab.tcpConnects(to: "2001:db8:113::10", port: 81))
            #expect(try lab.tcpConnects(to: "2001:db8:113::10", port: 22))
            // The drop route's counter saw the attempts.
            let show = try lab.flowspecNft(["show", "--json"])
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(show.out.utf8)) as? [String: Any])
            let entries = try #require(obj["routes"] as? [[String: Any]])
            let port80 = entries.first { ($0["description"] as? String)?.contains("destination-port ==80") == true }
            #expect((port80?["packets"] as? Int ?? 0) > 0)
            // The match as `parse` writes it, with the family beside it.
            #expect(port80?["family"] as? String == "ipv4")
            #expect(port80?["match"] as? [String: String] == ["destination": "203.0.113.10/32", "protocol": "==6", "destination-port": "==80"])
            // The route's comment came back from the kernel; the others have none.
            #expect(port80?["comment"] as? String == "web: closed for INC-42")
            #expect(entries.filter { $0["comment"] is String }.count == 1)
            // What no route decided (the connections to port 22, the pings of .10) the policy
            // took, and the kernel counted it.
            let policy = try #require(obj["policyCounter"] as? [String: Int], "\(obj)")
            #expect((policy["packets"] ?? 0) > 0 && (policy["bytes"] ?? 0) > 0)
            let text = try lab.flowspecNft(["show"]).out
            #expect(text.split(separator: "\n").last?.contains("no route decided: chain policy  → accept") == true, "\(text)")
            #expect(text.split(separator: "\n").contains { $0.contains("destination-port ==80") && $0.hasSuffix("# web: closed for INC-42") }, "\(text)")
            // A missing table is an error of show (status 1), not of flush.
            let missing = try lab.flowspecNft(["show", "--table", "absent"], check: false)
            #expect(missing.status == 1 && missing.err.contains("no table inet absent"))
            let flush = try lab.flowspecNft(["flush", "--table", "absent"])
            #expect(flush.out.contains("no table inet absent; nothing to remove"))
        }
    }

    /// Flowspec is stateless: with a dropping default policy the replies need a route too.
    @Test("the default-policy route is the chain policy; more specific routes come first")
    func defaultPolicyRoute() throws {
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"0.0.0.0/0","source":"0.0.0.0/0"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==22"},"actions":[]},
        {"family":"ipv4","match":{"destination":"198.51.100.0/24","source":"203.0.113.10/32","protocol":"==6","source-port":"==22"},"actions":[]},
        {"family":"ipv6","match":{"destination":"::/0","source":"::/0"},"actions":["drop"]}
        ]}
        """
        try withLab(routes) { lab in
            let server = try PacketServer(namespace: lab.h2, ports: [22, 80])
            defer { _ = server.stop() }
            #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22))
            #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 80))
            #expect(try !lab.pings("203.0.113.10"))
            #expect(try !lab.pings("2001:db8:113::10"))
        }
    }

    @Test("RFC 8955 §7.3: with the T bit set evaluation continues to later routes; clear, it stops")
    func terminalBitContinues() throws {
        func routes(terminal: Bool) -> String {
            """
            {"routes":[
            {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==22"},"actions":[{"traffic-action":{"sample":false,"terminal":\(terminal)}}]},
            {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6"},"actions":["drop"]}
            ]}
            """
        }
        try withLab(routes(terminal: true)) { lab in
            let server = try PacketServer(namespace: lab.h2, ports: [22])
            defer { _ = server.stop() }
            #expect(try !lab.tcpConnects(to: "203.0.113.10", port: 22), "T set: the later drop route applies")
        }
        try withLab(routes(terminal: false)) { lab in
            let server = try PacketServer(namespace: lab.h2, ports: [22])
            defer { _ = server.stop() }
            #expect(try lab.tcpConnects(to: "203.0.113.10", port: 22), "T clear: the first route decides (accept)")
        }
    }

    @Test("traffic-rate above 0 polices the flow near its rate")
    func rateLimit() throws {
        // 10,000 bytes/s; send 100 KB in one second (200 datagrams of 500 bytes, 528 on the wire).
        // The kernel's bucket holds one second of traffic, so about 2 × 10,000 bytes get through.
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.12/32","protocol":"==17","destination-port":"==5000"},"actions":[{"traffic-rate-bytes":10000}]}
        ]}
        """
        try withLab(routes) { lab in
            let server = try PacketServer(namespace: lab.h2, ports: [5000, 5001])
            try sendUDP(lab: lab, to: "203.0.113.12", port: 5000, count: 200, size: 500, interval: 0.005)
            try sendUDP(lab: lab, to: "203.0.113.12", port: 5001, count: 50, size: 500, interval: 0.0)
            Thread.sleep(forTimeInterval: 0.3)
            let counts = server.stop()
            let limited = counts[5000]?.packets ?? 0
            #expect(limited >= 20 && limited <= 60, "got \(limited) of 200 packets through a 10 kB/s limit")
            #expect(counts[5001]?.packets == 50, "another port is not limited")
        }
    }

    /// `show --json` rows: identity, match, packets, bytes, sets.
    struct ShownRoute: Equatable {
        var identity: String, match: String, packets: Int, bytes: Int, merged: Bool
    }

    static func shown(_ lab: RouterLab) throws -> [ShownRoute] {
        let show = try lab.flowspecNft(["show", "--json"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(show.out.utf8)) as? [String: Any])
        return try #require(obj["routes"] as? [[String: Any]]).map {
            ShownRoute(identity: $0["identity"] as? String ?? "", match: $0["description"] as? String ?? "",
                       packets: $0["packets"] as? Int ?? -1, bytes: $0["bytes"] as? Int ?? -1,
                       merged: !(($0["sets"] as? [Any]) ?? []).isEmpty)
        }
    }

    @Test("show of a merged table counts real packets per route, exactly as the unmerged table does")
    func mergedCountersPerRoute() throws {
        // Two drops in a hash set, two rate limits in a limit map (their conforming traffic in a
        // second hash set), two prefix routes in an interval set, and a DSCP-marking route that
        // stays a rule of its own. The rates are far above what is sent: everything conforms.
        let routes = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==17","destination-port":"==5000"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.11/32","protocol":"==17","destination-port":"==5000"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.12/32","protocol":"==17","destination-port":"==5001"},"actions":[{"traffic-rate-bytes":10000000}]},
        {"family":"ipv4","match":{"destination":"203.0.113.13/32","protocol":"==17","destination-port":"==5001"},"actions":[{"traffic-rate-bytes":20000000}]},
        {"family":"ipv4","match":{"destination":"203.0.113.0/24","source":"198.51.100.0/24","protocol":"==17","destination-port":"==5003"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.0/25","source":"198.51.100.0/24","protocol":"==17","destination-port":"==5004"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.11/32","protocol":"==17","destination-port":"==5005"},"actions":[{"traffic-marking":10}]}
        ]}
        """
        // (destination, port, datagrams); 100-byte payloads are 128-byte IPv4 packets.
        let traffic: [(String, Int, Int)] = [("203.0.113.10", 5000, 3), ("203.0.113.11", 5000, 5), ("203.0.113.12", 5001, 7),
                                             ("203.0.113.13", 5001, 4), ("203.0.113.10", 5003, 6), ("203.0.113.12", 5004, 2),
                                             ("203.0.113.11", 5005, 3)]
        func run(_ merge: String...) throws -> [ShownRoute] {
            var rows: [ShownRoute] = []
            try withLab(routes, merge) { lab in
                let server = try PacketServer(namespace: lab.h2, ports: [5000, 5001, 5003, 5004, 5005])
                for (host, port, count) in traffic {
                    try sendUDP(lab: lab, to: host, port: port, count: count, size: 100, interval: 0.0)
                }
                Thread.sleep(forTimeInterval: 0.3)
                let received = server.stop()
                #expect(received[5001]?.packets == 11 && received[5005]?.packets == 3, "\(merge): \(received)")
                #expect(received[5000] == nil && received[5003] == nil && received[5004] == nil, "\(merge): dropped traffic arrived")
                rows = try Self.shown(lab)
            }
            return rows
        }
        let merged = try run("--merge"), unmerged = try run("--no-merge")
        // The dispatch form counts per rule, as the linear one, and `show` lists it as that.
        let dispatched = try run("--dispatch", "always")
        #expect(dispatched == unmerged, "dispatch \(dispatched)\nunmerged \(unmerged)")
        func packets(_ rows: [ShownRoute], _ match: String) -> Int? { rows.first { $0.match.contains(match) }?.packets }
        // Each drop route counts its own datagrams; a rate-limited route counts them twice, in the
        // rule (here: element) before the limit and in the one that accepts what conforms.
        let expected: [(String, Int)] = [("203.0.113.10/32 protocol ==17 destination-port ==5000", 3),
                                         ("203.0.113.11/32 protocol ==17 destination-port ==5000", 5),
                                         ("203.0.113.12/32 protocol ==17 destination-port ==5001", 14),
                                         ("203.0.113.13/32 protocol ==17 destination-port ==5001", 8),
                                         ("203.0.113.0/24 source 198.51.100.0/24 protocol ==17 destination-port ==5003", 6),
                                         ("203.0.113.0/25 source 198.51.100.0/24 protocol ==17 destination-port ==5004", 2),
                                         ("203.0.113.11/32 protocol ==17 destination-port ==5005", 3)]
        #expect(merged.count == 7, "\(merged)")
        for (match, count) in expected {
            #expect(packets(merged, match) == count, "merged, \(match): \(merged)")
            #expect(packets(unmerged, match) == count, "unmerged, \(match): \(unmerged)")
        }
        #expect(merged.allSatisfy { $0.bytes == $0.packets * 128 }, "\(merged)")
        // The same rows in the same (chain) order. Rules of their own: the marking route, and the
        // /24 and /25 routes (each prefix length its own masked hash set, and alone in it).
        #expect(merged.map { ShownRoute(identity: $0.identity, match: $0.match, packets: $0.packets, bytes: $0.bytes, merged: false) }
                == unmerged, "merged \(merged)\nunmerged \(unmerged)")
        #expect(Set(merged.filter { !$0.merged }.map(\.match)) == Set([expected[6].0, expected[5].0, expected[4].0].map { "ipv4 destination " + $0 }))
    }

    @Test("flush removes the table and traffic flows again")
    func flush() throws {
        let routes = """
        {"routes":[{"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==1"},"actions":["drop"]}]}
        """
        try withLab(routes) { lab in
            #expect(try !lab.pings("203.0.113.10"))
            try lab.flowspecNft(["flush"])
            #expect(try lab.pings("203.0.113.10"))
            #expect(try lab.exec(lab.r, ["nft", "list", "ruleset"]).out.isEmpty)
        }
    }
}
