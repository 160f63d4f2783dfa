import Testing
import FlowSpec
@testable import FlowSpecCompiler

private let dst6 = Component.destinationPrefix(FlowPrefix("2001:db8:113::10/128")!)
private let dst4 = Component.destinationPrefix(FlowPrefix("203.0.113.10/32")!)
private let nextHop6 = IPAddress("2001:db8:2::10")!

private func route6(_ ext6: [IPv6ExtendedCommunity], _ actions: [FlowAction] = [], family: AddressFamily = .ipv6) -> FlowRoute {
    FlowRoute(family: family, components: [family == .ipv6 ? dst6 : dst4], extendedCommunities: actions.map(\.community),
              ipv6ExtendedCommunities: ext6)
}

/// Redirects carried by IPv6 Address Specific Extended Communities (attribute 25), as the
/// compiler lowers them: the IPv6 redirect-to-IP like the IPv4 one, rt-redirect-ipv6 like the
/// 8-octet redirect, to a route target with an IPv6 global.
@Suite struct IPv6RedirectCompileTests {
    let redirect = IPv6FlowAction.redirectToIP(nextHop6, copy: false).community

    @Test("redirect to an IPv6 next hop (0x000c) sets the next hop's mark, merged or not")
    func nextHopMark() {
        for merge in [true, false] {
            var o = CompileOptions(merge: merge)
            o.nextHopMarks = [nextHop6: 0x4653_0002]
            let r = compile([route6([redirect])], options: o)
            #expect(r.rejected.isEmpty, "\(r.rejected)")
            #expect(marks(r) == [0x4653_0002])
        }
        #expect(RedirectTarget(of: route6([redirect])) == .nextHop(nextHop6, copy: false))
    }

    @Test("0x000c is rejected with its reason: the copy bit, an IPv4 route, no mark")
    func refused() {
        var o = CompileOptions()
        o.nextHopMarks = [nextHop6: 0x4653_0002]
        let copy = compile([route6([IPv6FlowAction.redirectToIP(nextHop6, copy: true).community])], options: o)
        #expect(copy.rejected.first?.reason.contains("copy bit") == true)
        let family = compile([route6([redirect], family: .ipv4)], options: o)
        #expect(family.rejected.first?.reason.contains("other family") == true)
        let unmapped = compile([route6([IPv6FlowAction.redirectToIP(IPAddress("2001:db8:2::11")!, copy: false).community])], options: o)
        #expect(unmapped.rejected.first?.reason.contains("has no mark") == true)
    }

    @Test("rt-redirect-ipv6 (RFC 8956 §6.1) is a route target with an IPv6 global: mapped, it sets the mark; unmapped, rejected or (ignore) left out")
    func rtRedirectIPv6() {
        let address = IPAddress("2001:db8::1")!
        let rt = RouteTarget(global: .ipv6(address), local: 100)
        let routes = [route6([IPv6FlowAction.rtRedirect(address: address, local: 100).community],
                             [.trafficRateBytes(asn: 0, bytesPerSecond: 1000)])]
        #expect(RedirectTarget(of: routes[0]) == .routeTarget(rt))
        for merge in [true, false] {
            let mapped = compile(routes, options: CompileOptions(redirectMarks: [rt: 0x10], merge: merge))
            #expect(mapped.rejected.isEmpty, "\(mapped.rejected)")
            #expect(marks(mapped) == [0x10])
        }
        // The same address with another local part, or an 8-octet target, is another target.
        for other in [RouteTarget(global: .ipv6(address), local: 101), RouteTarget("65000:100")!] {
            let rejected = compile(routes, options: CompileOptions(redirectMarks: [other: 0x10]))
            #expect(rejected.rejected.count == 1 && rejected.table.chains[0].rules.isEmpty)
            #expect(rejected.rejected.first?.reason.contains("rt-redirect-ipv6 (RFC 8956 §6.1) to route target [2001:db8::1]:100 has no VRF or fwmark") == true,
                    "\(rejected.rejected)")
        }
        var o = CompileOptions()
        o.unmappedRedirect = .ignore
        let ignored = compile([route6(routes[0].ipv6ExtendedCommunities, [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])], options: o)
        #expect(ignored.rejected.isEmpty)
        #expect(ignored.notes.contains { $0.message.contains("redirect is ignored") })
        #expect(ignored.table.chains[0].rules.first?.expressions.contains(.immediateVerdict(.drop)) == true, "the drop applies")
    }

    @Test("other attribute-25 communities are noted and ignored; FRR's and GoBGP's redirect codes are named")
    func unknownNoted() {
        let frr = IPv6ExtendedCommunity(type: 0x80, subtype: 0x0d, address: IPAddress("2001:db8::1")!, local: 100)
        let rt6 = IPv6ExtendedCommunity(type: 0x00, subtype: 0x02, address: IPAddress("2001:db8::1")!, local: 100)
        let r = compile([route6([frr, rt6], [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])])
        #expect(r.rejected.isEmpty)
        #expect(r.notes.filter { $0.kind == .ignoredCommunity }.count == 2)
        #expect(r.notes.contains { $0.message.contains("FRR's code for rt-redirect-ipv6") })
    }

    @Test("an 8-octet redirect comes before attribute 25's: it applies, the IPv6 one is noted")
    func attribute16First() {
        let rt = RouteTarget("65000:666")!
        var o = CompileOptions(redirectMarks: [rt: 0x66])
        o.nextHopMarks = [nextHop6: 0x4653_0002]
        let route = route6([redirect], [.redirect(rt)])
        let r = compile([route], options: o)
        #expect(marks(r) == [0x66])
        #expect(r.notes.contains { $0.message.contains("several redirect communities") })
        #expect(RedirectTarget(of: route) == .routeTarget(rt))
    }

    @Test("the route's content digest covers attribute 25 (an incremental apply sees the change); without it, it is as before")
    func digest() {
        let plain = FlowRoute(family: .ipv6, components: [dst6])
        #expect(contentDigest(route6([])) == contentDigest(plain))
        #expect(contentDigest(route6([redirect])) != contentDigest(plain))
        #expect(contentDigest(route6([redirect])) != contentDigest(route6([IPv6FlowAction.redirectToIP(nextHop6, copy: true).community])))
    }
}
