import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecTestSupport

/// The merge pass against the kernel with real packets: random, overlapping route lists over a
/// small space the lab's hosts can send in (h2's addresses, 16 UDP ports, two source ports),
/// installed merged (the default) and unmerged; every probe datagram must arrive exactly when the
/// RFC meaning of the ordered route list (the first matching route decides; none: accept) says.
@Suite("merged tables with real packets", .enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct MergedPacketTests {
    static let destinations = ["203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.13", "2001:db8:113::10"]
    static let ports = Array(5000...5015)
    static let sourcePorts = [40000, 40001]

    /// One route: UDP to some of h2's addresses (a host, or a prefix covering several), maybe
    /// from a source prefix that h1 is or is not in, to one port, two ports or a port range,
    /// maybe from one source port; dropped or accepted.
    static func route(_ r: inout SplitMix) -> FlowRoute {
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &r)] }
        let v6 = Int.random(in: 0..<5, using: &r) == 0
        var comps: [Component] = []
        // IPv6 offset prefixes (the bits past the 64th: h2's ::10 and not) are set key parts too.
        let dst = v6 ? pick(["2001:db8:113::10/128", "2001:db8:113::/64", "2001:db8:113::/120", "2001:db8:114::/64",
                             "::10/128 offset 64", "::/96 offset 64", "::11/128 offset 64"])
                     : pick(["203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32", "203.0.113.13/32",
                             "203.0.113.10/31", "203.0.113.12/30", "203.0.113.8/29", "203.0.113.0/24"])
        comps.append(.destinationPrefix(FlowPrefix(dst)!))
        if Bool.random(using: &r) {
            let src = v6 ? pick(["2001:db8:5100::10/128", "2001:db8:5100::/64", "2001:db8:5101::/64", "::10/128 offset 64", "::20/124 offset 64"])
                         : pick(["198.51.100.10/32", "198.51.100.0/24", "198.51.100.0/25", "198.51.100.128/25"])
            comps.append(.sourcePrefix(FlowPrefix(src)!))
        }
        comps.append(.numeric(.ipProtocol, [.equal(17)]))
        let a = UInt64(pick(ports))
        switch Int.random(in: 0..<10, using: &r) {
        case 0..<5: comps.append(.numeric(.destinationPort, [.equal(a)]))
        case 5..<7: comps.append(.numeric(.destinationPort, [.equal(a), .equal(UInt64(pick(ports)))]))
        default:
            let b = min(a + UInt64.random(in: 1...5, using: &r), 5015)
            comps.append(.numeric(.destinationPort, [NumericTerm(gt: true, eq: true, value: a),
                                                     NumericTerm(and: true, lt: true, eq: true, value: b)]))
        }
        if Int.random(in: 0..<5, using: &r) == 0 {
            comps.append(.numeric(.sourcePort, [.equal(UInt64(pick(sourcePorts)))]))
        }
        comps.sort { $0.type < $1.type }
        let drop = Int.random(in: 0..<10, using: &r) < 6
        return FlowRoute(family: v6 ? .ipv6 : .ipv4, components: comps,
                         actions: drop ? [.trafficRateBytes(asn: 0, bytesPerSecond: 0)] : [])
    }

    struct Probe: Hashable { var dst: String; var port: Int; var sport: Int }

    static var probes: [Probe] {
        destinations.flatMap { d in ports.flatMap { p in sourcePorts.map { Probe(dst: d, port: p, sport: $0) } } }
    }

    /// What the ordered route list does with a probe from h1.
    static func delivered(_ p: Probe, routes: [FlowRoute]) -> Bool {
        let v6 = p.dst.contains(":")
        var packet = TestPacket(family: v6 ? .ipv6 : .ipv4,
                                src: FlowPrefix(v6 ? "2001:db8:5100::10/128" : "198.51.100.10/32")!.address,
                                dst: FlowPrefix(p.dst + (v6 ? "/128" : "/32"))!.address, proto: 17)
        packet.dport = UInt16(p.port); packet.sport = UInt16(p.sport)
        guard let first = routes.first(where: packet.matches) else { return true }
        return first.actions.isEmpty
    }

    /// Counts datagrams per (local address, port, peer port) on every probe address and port.
    static let server = PacketServer.prologue + #"""
addrs, ports = sys.argv[1].split(","), [int(p) for p in sys.argv[2].split(",")]
socks, seen = [], {}
for a in addrs:
    for p in ports:
        s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, p))
        socks.append((s, a, p))
def handle(entry):
    s, a, p = entry
    _, peer = s.recvfrom(2048)
    key = "%s %d %d" % (a, p, peer[1])
    seen[key] = seen.get(key, 0) + 1
serve(socks, seen, handle)
"""#

    static let sender = #"""
import socket, sys, time
for probe in sys.argv[1:]:
    dst, port, sport = probe.split(" ")
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if ":" in dst else "0.0.0.0", int(sport)))
    s.sendto(b"probe", (dst, int(port)))
    s.close()
time.sleep(0.3)
"""#

    /// The probes that reached h2 with the table of `routes` installed on r by `apply` (`extra`
    /// flags), each sent once; and apply's output.
    func arrivals(_ routes: [FlowRoute], _ extra: [String], lab: RouterLab) throws -> (Set<Probe>, String) {
        let applied = try lab.flowspecNft(["apply", "--from", "json", "--full", "-"] + extra, stdin: CanonicalJSON.write(routes))
        let server = try PacketServer(namespace: lab.h2, script: Self.server,
                                      arguments: [Self.destinations.joined(separator: ","), Self.ports.map(String.init).joined(separator: ",")])
        try lab.exec(lab.h1, ["python3", "-c", Self.sender] + Self.probes.map { "\($0.dst) \($0.port) \($0.sport)" })
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(server.stopOutput().utf8)) as? [String: Int])
        var out = Set<Probe>()
        for key in seen.keys {
            let f = key.split(separator: " ")
            out.insert(Probe(dst: String(f[0]), port: Int(f[1])!, sport: Int(f[2])!))
        }
        return (out, applied.out + applied.err)
    }

    @Test("random overlapping routes: every probe arrives exactly when the route list says, merged and not", arguments: [1, 2, 3])
    func probesFollowTheRouteList(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        try check((0..<90).map { _ in Self.route(&r) }, seed: seed, forms: [[], ["--no-merge"], ["--dispatch", "always"]])
    }

    /// Most routes for one victim, each to one port: its chain is dispatched on the protocol,
    /// then the protocol's chain on the port (docs/merging.md, "Destination dispatch").
    @Test("dispatch on destination, protocol and port: every probe arrives exactly when the route list says", arguments: [4, 5])
    func probesThroughEveryDispatchLevel(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &r)] }
        var routes: [FlowRoute] = []
        for i in 0..<160 {
            if i % 4 == 0 {
                // Random routes elsewhere (one with a port range in the victim's chain would cut
                // its run of single-port rules).
                var other = Self.route(&r)
                while other.component(.destinationPrefix)?.prefix == FlowPrefix("203.0.113.10/32") { other = Self.route(&r) }
                routes.append(other)
                continue
            }
            var comps: [Component] = [.destinationPrefix(FlowPrefix("203.0.113.10/32")!), .numeric(.ipProtocol, [.equal(17)]),
                                      .numeric(.destinationPort, [.equal(UInt64(pick(Array(Self.ports.prefix(6)))))])]
            // (No source port: with a destination port it would be one load, no port to dispatch on.)
            if let source = pick([nil, "198.51.100.0/24", "198.51.100.0/25", "198.51.100.128/25", "198.51.100.1/32", "198.51.100.10/32", "198.51.100.0/30"]) {
                comps.append(.sourcePrefix(FlowPrefix(source)!))
            }
            comps.sort { $0.type < $1.type }
            routes.append(FlowRoute(family: .ipv4, components: comps,
                                    actions: Int.random(in: 0..<10, using: &r) < 5 ? [.trafficRateBytes(asn: 0, bytesPerSecond: 0)] : []))
        }
        // One route per NLRI (a second one would replace the first, as a BGP update does).
        var seen = Set<String>()
        routes = routes.filter { seen.insert($0.identity).inserted }
        #expect(routes.count > 60)
        let maps = compile(routes.ordered(.rfc), options: CompileOptions(dispatch: .always)).table.sets.filter { $0.flags.contains(.map) }.map(\.name)
        #expect(maps.contains { $0.hasSuffix("_p") } && maps.contains { $0.hasSuffix("_dp") || $0.hasSuffix("_sp") }, "\(maps)")
        try check(routes, seed: seed, forms: [["--dispatch", "always"]])
    }

    func check(_ routes: [FlowRoute], seed: UInt64, forms: [[String]]) throws {
        let ordered = routes.ordered(.rfc)
        let expected = Set(Self.probes.filter { Self.delivered($0, routes: ordered) })
        // Both outcomes are well represented, or the test would prove little.
        #expect(expected.count > Self.probes.count / 5 && expected.count < Self.probes.count * 4 / 5,
                "\(expected.count) of \(Self.probes.count) probes expected through")
        let lab = try RouterLab()
        defer { lab.close() }
        // The lab answers before any table is installed: neighbours resolved and IPv6 duplicate
        // address detection of the link-local addresses over, so no probe waits in a queue.
        for host in ["203.0.113.10", "2001:db8:113::10"] {
            var answered = false
            for _ in 0..<10 where !answered { answered = try lab.pings(host) }
            try #require(answered, "\(host) does not answer from h1 without any table")
        }
        for extra in forms {
            let (got, applied) = try arrivals(routes, extra, lab: lab)
            #expect(applied.contains("committed"), "\(applied)")
            if extra.isEmpty {
                // The merged form is what was tested: rules looking up sets, fewer rules than routes.
                let words = applied.split(whereSeparator: { $0 == " " || $0 == "\n" })
                let count = { (w: String) in words.firstIndex(of: Substring(w)).flatMap { Int(words[$0 - 1]) } ?? 0 }
                #expect(count("sets,") > 0 && count("rules,") < routes.count, "\(applied)")
            }
            if extra.contains("--dispatch") {
                // The dispatch form: a verdict map per family, a chain per destination prefix.
                #expect(applied.contains("dispatch form"), "\(applied)")
                let words = applied.split(whereSeparator: { $0 == " " || $0 == "\n" })
                #expect(words.firstIndex(of: "chains,").flatMap { Int(words[$0 - 1]) } ?? 0 > 2, "\(applied)")
            }
            let wrong = expected.symmetricDifference(got)
            #expect(wrong.isEmpty, """
                seed \(seed) \(extra.isEmpty ? "merged" : extra.joined(separator: " ")): \(wrong.count) probes differ, e.g. \
                \(wrong.prefix(5).map { "\($0.dst):\($0.port) from \($0.sport) expected \(expected.contains($0) ? "through" : "dropped")" })
                """)
        }
    }
}
