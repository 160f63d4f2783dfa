import Testing
@testable import FlowSpec

/// The 20-octet IPv6 Address Specific Extended Community (RFC 5701) and the flowspec actions it
/// carries: redirect to an IPv6 next hop (draft-ietf-idr-flowspec-redirect-ip, 0x000c) and
/// rt-redirect-ipv6 (RFC 8956 §6.1, 0x000d).
@Suite struct IPv6ExtendedCommunityTests {
    let nextHop = IPAddress("2001:db8:2::10")!

    @Test("0x000c: the Global Administrator is the next hop, the Local Administrator's low bit the copy bit")
    func redirectToIPv6() throws {
        let octets: [UInt8] = [0x00, 0x0c] + nextHop.bytes + [0x00, 0x01]
        let c = try #require(IPv6ExtendedCommunity(bytes: octets))
        #expect(c.action == .redirectToIP(nextHop, copy: true))
        #expect(c.bytes == octets)
        #expect(IPv6FlowAction.redirectToIP(nextHop, copy: false).community.bytes == [0x00, 0x0c] + nextHop.bytes + [0, 0])
        // Other Local Administrator bits are not the action's: it re-encodes without them.
        let stray = IPv6ExtendedCommunity(type: 0x00, subtype: 0x0c, address: nextHop, local: 0x0100)
        #expect(stray.action == .redirectToIP(nextHop, copy: false) && stray.action.community != stray)
    }

    @Test("0x000d (RFC 8956 §6.1): rt-redirect-ipv6 to the route target address:local")
    func rtRedirectIPv6() {
        let c = IPv6ExtendedCommunity(type: 0x00, subtype: 0x0d, address: IPAddress("2001:db8::1")!, local: 100)
        #expect(c.action == .rtRedirect(address: IPAddress("2001:db8::1")!, local: 100))
        #expect(c.action.community == c)
    }

    @Test("other codes are kept as they came: the IPv6 route target, FRR's 0x800d, GoBGP's 0x800b, the non-transitive 0x400c")
    func unknownKept() {
        for (t, s) in [(UInt8(0x00), UInt8(0x02)), (0x80, 0x0d), (0x80, 0x0b), (0x40, 0x0c)] {
            let c = IPv6ExtendedCommunity(type: t, subtype: s, address: nextHop, local: 3)
            #expect(c.action == .unknown(c) && c.action.community == c)
        }
        #expect(IPv6ExtendedCommunity(bytes: [UInt8](repeating: 0, count: 19)) == nil)
    }

    @Test("the strict codec reads and writes attribute 25, and refuses a length not a multiple of 20")
    func wireRoundTrip() throws {
        let dst = Component.destinationPrefix(FlowPrefix("2001:db8:113::10/128")!)
        let c = IPv6ExtendedCommunity(type: 0x00, subtype: 0x0c, address: nextHop, local: 0)
        let message = BGPMessage.update(BGPUpdate.flowspec(family: .ipv6, announce: [[dst]], ipv6ExtendedCommunities: [c, c]))
        let bytes = try message.encode()
        #expect(try BGPMessage.decode(bytes) == message)
        guard case .update(let u) = try BGPMessage.decode(bytes) else { Issue.record("not an UPDATE"); return }
        #expect(u.flowspec.routes.map(\.route.ipv6ExtendedCommunities) == [[c, c]])
        var bad = u
        bad.attributes = bad.attributes.map { $0.code == 25 ? PathAttribute(flags: 0xc0, code: 25, value: .raw(c.bytes + [1, 2])) : $0 }
        let badBytes = try BGPMessage.update(bad).encode()
        #expect(throws: WireError.self) { try BGPMessage.decode(badBytes) }
    }

    @Test("a route target with an IPv6 global: parsed only when allowed, bracketed or not; printed bracketed; ordered after the 8-octet ones")
    func ipv6RouteTarget() {
        let rt = RouteTarget(global: .ipv6(IPAddress("2001:db8::1")!), local: 100)
        #expect(RouteTarget("[2001:db8::1]:100", allowingIPv6: true) == rt)
        #expect(RouteTarget("2001:db8::1:100", allowingIPv6: true) == rt)
        #expect(rt.description == "[2001:db8::1]:100")
        #expect(RouteTarget("[2001:db8::1]:100") == nil, "8-octet text only by default (readers of 8-octet communities)")
        for bad in ["[2001:db8::1]:65536", "[2001:db8::1:100", "2001:db8::100", "[192.0.2.1]:1", "[2001:db8::1]:x"] {
            #expect(RouteTarget(bad, allowingIPv6: true) == nil, "\(bad)")
        }
        #expect(RouteTarget("65000:100", allowingIPv6: true) == RouteTarget("65000:100"))
        #expect(RouteTarget("192.0.2.1:100")! < rt && RouteTarget("65536:1")! < rt)
    }
}
