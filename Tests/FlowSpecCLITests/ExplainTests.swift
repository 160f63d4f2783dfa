import Foundation
import Testing

/// `flowspec-nft explain` against the kernel: what it says of a packet is what the router's
/// table does to real packets (h1 → r → h2, the table on r's forward hook, merged and not).
@Suite("explain", .enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct ExplainTests {
    static let routes = """
    {"routes":[
    {"family":"ipv4","match":{"destination":"203.0.113.0/24","protocol":"==6","destination-port":"==80"},"actions":[{"traffic-rate-bytes":125000}]},
    {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==22"},"actions":["drop"]},
    {"family":"ipv4","match":{"destination":"203.0.113.11/32","protocol":"==6","destination-port":">=20&<=30"},"actions":["drop"]},
    {"family":"ipv6","match":{"destination":"2001:db8:113::10/128","protocol":"==6","destination-port":"==81"},"actions":["drop"]}
    ]}
    """

    /// The verdict line of `explain` for `packet` in the router.
    static func explain(_ lab: RouterLab, _ packet: String) throws -> (verdict: String, text: String) {
        let r = try lab.flowspecNft(["explain", packet])
        let line = r.out.split(separator: "\n").first { $0.hasPrefix("verdict: ") } ?? ""
        return (String(line.dropFirst("verdict: ".count).prefix { $0 != "," }), r.out)
    }

    @Test(arguments: [true, false])
    func explainSaysWhatTheKernelDoes(merge: Bool) throws {
        let lab = try RouterLab()
        defer { lab.close() }
        _ = try lab.flowspecNft(["apply", "--from", "json", "-"] + (merge ? [] : ["--no-merge"]), stdin: Self.routes)
        let server = try PacketServer(namespace: lab.h2, ports: [22, 25, 80, 81])
        defer { _ = server.stop() }
        for (host, port) in [("203.0.113.10", 22), ("203.0.113.10", 25), ("203.0.113.11", 25), ("203.0.113.11", 22),
                             ("203.0.113.10", 80), ("2001:db8:113::10", 81), ("2001:db8:113::10", 22)] {
            let target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            let source = host.contains(":") ? "[2001:db8:5100::10]:40000" : "198.51.100.10:40000"
            let (verdict, text) = try Self.explain(lab, "tcp \(source) -> \(target) flags syn")
            let connects = try lab.tcpConnects(to: host, port: port)
            #expect(["accept", "drop"].contains(verdict), "\(text)")
            #expect((verdict == "accept") == connects, "\(host):\(port): explain says \(verdict), the connection \(connects ? "went through" : "was dropped")\n\(text)")
        }
        // Why: the deciding route by its match, its row in show, and its identity; the rate
        // limit's two outcomes.
        let (_, ssh) = try Self.explain(lab, "tcp 198.51.100.10:40000 -> 203.0.113.10:22")
        #expect(ssh.contains("verdict: drop, by route ") && ssh.contains("ipv4 destination 203.0.113.10/32 protocol ==6 destination-port ==22 (4:"), "\(ssh)")
        let (_, web) = try Self.explain(lab, "tcp 198.51.100.10:40000 to 203.0.113.12:80 length 1500")
        #expect(web.contains("verdict: accept, by route") && web.contains("over the rate (rate_"), "\(web)")
        // JSON: the canonical match of the deciding route.
        let json = try lab.flowspecNft(["explain", "--json", "tcp 198.51.100.10:1 -> 203.0.113.11:25"]).out
        let o = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(o["verdict"] as? String == "drop")
        #expect((o["decidedBy"] as? [String: Any])?["match"] as? [String: String]
                == ["destination": "203.0.113.11/32", "protocol": "==6", "destination-port": ">=20&<=30"], "\(json)")
        // No table: status 1; a packet that cannot be read: the usage error, naming the word.
        let missing = try lab.flowspecNft(["explain", "--table", "absent", "tcp 198.51.100.10 -> 203.0.113.10"], check: false)
        #expect(missing.status == 1 && missing.err.contains("no table inet absent"))
        let bad = try lab.flowspecNft(["explain", "tcp 198.51.100.10 => 203.0.113.10"], check: false)
        #expect(bad.status == 64 && bad.err.contains("'=>': expected -> (or to)"), "\(bad.err)")
    }
}
