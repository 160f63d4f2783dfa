import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import Testing

/// `PacketExplanation` on compiled tables, merged and not: the routes whose match holds in RFC
/// 8955 order, the route that decides, a rate limit's two outcomes, the policy.
@Suite struct PacketExplanationTests {
    static let routes = try! CanonicalJSON.read("""
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.0/24","protocol":"==6"},"actions":[{"traffic-rate-bytes":125000}]},
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==443"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.11/32","protocol":"==6","destination-port":"==443"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.12/32","protocol":"==17"},"actions":[{"traffic-marking":46}]},
        {"family":"ipv4","match":{"destination":"0.0.0.0/0","source":"0.0.0.0/0"},"actions":["drop"]}
        ]}
        """).routes.map(\.route)

    static func table(merge: Bool) -> NftTable {
        compile(routes.ordered(.rfc), options: CompileOptions(merge: merge)).table
    }

    @Test(arguments: [true, false])
    func theDecidingRouteAndWhy(merge: Bool) throws {
        let t = Self.table(merge: merge)
        // The /32 drop decides; the /24 rate limit is less specific, so it comes later (RFC 8955 §5.1).
        let https = PacketExplanation(table: t, packet: try PacketText.parse("tcp 198.51.100.7:40000 -> 203.0.113.10:443 flags syn"))
        #expect(https.verdict == "drop" && https.decidedBy?.identity == Self.routes[1].identity, "\(https)")
        #expect(https.matched.map(\.identity) == [Self.routes[1].identity])
        #expect(https.limiters.isEmpty && https.verdictOverRate == nil && https.problems.isEmpty)
        #expect(https.decidedBy?.route?.components == Self.routes[1].components && https.decidedBy?.actions == ["drop"])

        // Port 80 of .10: only the /24's rate limit matches. Under its rate the route itself
        // accepts the packet (its second rule); over it, its first rule drops it.
        let web = PacketExplanation(table: t, packet: try PacketText.parse("tcp 198.51.100.7:40000 -> 203.0.113.10:80"))
        #expect(web.matched.map(\.identity) == [Self.routes[0].identity], "\(web)")
        #expect(web.limiters.count == 1 && web.verdict == "accept" && web.decidedBy?.identity == Self.routes[0].identity)
        #expect(web.verdictOverRate == "drop" && web.decidedOverRateBy?.identity == Self.routes[0].identity)

        // UDP to .12: marked (DSCP 46) and accepted by the marking route.
        let marked = PacketExplanation(table: t, packet: try PacketText.parse("udp 198.51.100.7:1 -> 203.0.113.12:53"))
        #expect(marked.matched.map(\.identity) == [Self.routes[3].identity] && marked.dscp == 46, "\(marked)")
        #expect(marked.verdict == "accept" && marked.decidedBy?.identity == Self.routes[3].identity)
        // Any other IPv4 packet: the IPv4 default-policy route (a rule: IPv6 keeps the chain's
        // accept policy) drops it.
        let other = PacketExplanation(table: t, packet: try PacketText.parse("udp 198.51.100.7:1 -> 198.51.100.9:53"))
        #expect(other.matched.map(\.identity) == [Self.routes[4].identity] && other.verdict == "drop"
                && other.decidedBy?.identity == Self.routes[4].identity, "\(other)")
        // Nothing matches an IPv6 packet: the chain policy.
        let v6 = PacketExplanation(table: t, packet: try PacketText.parse("udp [2001:db8::7]:1 -> [2001:db8::10]:53"))
        #expect(v6.matched.isEmpty && v6.verdict == "accept" && v6.policy == "accept" && v6.decidedBy == nil)
    }

    /// A table with rules the interpreter does not know is explained with a warning, not guessed at.
    @Test func aForeignExpressionIsReported() throws {
        var t = Self.table(merge: false)
        t.chains[0].rules.insert(NftRule(expressions: [.unknown(name: "socket"), .immediateVerdict(.accept)], comment: "foreign"), at: 0)
        let e = PacketExplanation(table: t, packet: try PacketText.parse("tcp 198.51.100.7:40000 -> 203.0.113.10:443"))
        #expect(!e.problems.isEmpty)
    }
}
