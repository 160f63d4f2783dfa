import Testing
@testable import FlowSpec

@Suite struct AddressTests {
    @Test func ipv4RoundTrip() {
        #expect(IPAddress("203.0.113.10")!.description == "203.0.113.10")
        #expect(IPAddress("256.0.0.1") == nil)
    }

    @Test func ipv6TextIsRFC5952() {
        #expect(IPAddress("2001:db8:113::10")!.description == "2001:db8:113::10")
        #expect(IPAddress("2001:0db8:0:0:1:0:0:1")!.description == "2001:db8::1:0:0:1")
        #expect(IPAddress("::")!.description == "::")
        #expect(IPAddress("::ffff:192.0.2.1")!.description == "::ffff:c000:201")
        #expect(IPAddress("1::2::3") == nil)
    }

    /// The byte-level readers accept exactly RFC 4291's forms (a table, not a regex of our own).
    @Test func addressTextEdges() {
        let good: [(String, String)] = [
            ("1::", "1::"), ("::1", "::1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:2:3:4:5:6::8", "1:2:3:4:5:6:0:8"),
            ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"), ("2001:DB8::A", "2001:db8::a"), ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
            ("::1.2.3.4", "::102:304"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"), ("010.1.1.1", "10.1.1.1"),
        ]
        for (text, printed) in good { #expect(IPAddress(text)?.description == printed, "\(text)") }
        let bad = ["1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1::", "1:::2", "1:", ":1", "12345::", "1::g", "+1::", "1.2.3.4::",
                   "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.256", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.", "1234.1.1.1", "",
                   "::1::", "1:2:3:4:5:6:7:8::"]
        for text in bad { #expect(IPAddress(text) == nil, "\(text)") }
    }

    @Test func prefixClearsBitsOutsidePattern() {
        let p = FlowPrefix("203.0.113.77/24")!
        #expect(p.description == "203.0.113.0/24")
        let q = FlowPrefix("::10/128 offset 64")!
        #expect(q.offset == 64 && q.length == 128)
        #expect(FlowPrefix("2001:db8:113::10/128/off 0")!.description == "2001:db8:113::10/128")
    }
}

@Suite struct OperatorTests {
    @Test func andBindsTighterThanOr() {
        // > 1024 && < 2048 || == 80
        let terms = [NumericTerm(gt: true, value: 1024), NumericTerm(and: true, lt: true, value: 2048),
                     NumericTerm(eq: true, value: 80)]
        #expect(terms.matches(80) && terms.matches(1500) && !terms.matches(1024) && !terms.matches(3000))
        #expect(terms.intervals(max: 0xffff).intervals == [80...80, 1025...2047])
    }

    @Test func falseOperatorNeverMatches() {
        let terms = [NumericTerm(value: 0)]
        #expect(terms.intervals(max: 0xffff).isEmpty)
    }

    @Test func nlriEncodingOfBasicRoute() {
        // v4-01: dst 203.0.113.10/32; proto 6; dport 80  → 0120cb00710a 038106 058150
        let r = FlowRoute(family: .ipv4, components: [
            .destinationPrefix(FlowPrefix("203.0.113.10/32")!),
            .numeric(.ipProtocol, [.equal(6)]),
            .numeric(.destinationPort, [.equal(80)]),
        ])
        #expect(hexString(r.nlriBytes) == "0120cb00710a038106058150")
    }
}

@Suite struct RouteGeneratorTests {
    @Test func everyGeneratedRouteIsUniqueAndDeterministic() {
        let g = RouteGenerator()
        let routes = g.routes(count: 200_000)
        #expect(Set(routes.map(\.nlriBytes)).count == routes.count)
        #expect(g.route(123_456) == routes[123_456])
        let v6 = RouteGenerator(family: .ipv6).routes(count: 20_000)
        #expect(Set(v6.map(\.nlriBytes)).count == v6.count)
    }

    @Test func mixFollowsTheDocumentedShares() {
        let routes = RouteGenerator().routes(count: 1000)
        let limited = routes.filter { r in
            r.actions.contains { if case .trafficRateBytes(_, let v) = $0 { v > 0 } else { false } }
        }
        #expect(limited.count == 200)
        #expect(routes.filter { $0.component(.icmpType) != nil }.count == 100)
    }
}

@Suite struct RouteScopeTests {
    let a = RouteTarget("65309:10")!, b = RouteTarget("65309:20")!
    func route(_ targets: [RouteTarget]) -> FlowRoute {
        FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.10/32")!)],
                  actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)] + targets.map { .routeTarget($0) })
    }

    @Test func noTargetsConfiguredInstallsEverything() {
        #expect(RouteScope.all.admits(route([a])) && RouteScope.all.admits(route([])))
    }

    @Test func onlyRoutesCarryingOneOfTheTargetsAreInstalled() {
        let scope = RouteScope(targets: [a])
        #expect(scope.admits(route([a])) && scope.admits(route([b, a])))
        #expect(!scope.admits(route([b])))
    }

    @Test func untargetedRoutesFollowTheSetting() {
        #expect(RouteScope(targets: [a], untargeted: .apply).admits(route([])))
        #expect(!RouteScope(targets: [a], untargeted: .ignore).admits(route([])))
    }
}

@Suite struct PrefixOverlapTests {
    @Test func prefixesOverlapWhenTheBitsBothFixAgree() {
        let p24 = FlowPrefix("203.0.113.0/24")!, p32in = FlowPrefix("203.0.113.7/32")!, p32out = FlowPrefix("198.51.100.7/32")!
        #expect(p24.overlaps(p32in) && p32in.overlaps(p24))
        #expect(!p24.overlaps(p32out) && !p32out.overlaps(p24))
        #expect(FlowPrefix("0.0.0.0/0")!.overlaps(p32out))
        // IPv6 with offsets: bits 64..<128 and 0..<64 fix different bits, so they always meet.
        let low = FlowPrefix(address: IPAddress("::1")!, length: 128, offset: 64)!
        let high = FlowPrefix(address: IPAddress("2001:db8::")!, length: 64)!
        #expect(low.overlaps(high))
        #expect(!FlowPrefix("2001:db8::/32")!.overlaps(FlowPrefix("2001:db9::/32")!))
        #expect(!p24.overlaps(FlowPrefix("2001:db8::/32")!), "another family")
    }
}
