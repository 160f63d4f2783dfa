import Testing
import FlowSpec
@testable import FlowSpecBGP

private let redirect6 = IPv6ExtendedCommunity(type: 0x00, subtype: 0x0c, address: IPAddress("2001:db8:2::10")!, local: 0)
private let other6 = IPv6ExtendedCommunity(type: 0x00, subtype: 0x02, address: IPAddress("2001:db8::1")!, local: 9)
private func ext6(_ c: [IPv6ExtendedCommunity], flags: UInt8 = 0xc0) -> [UInt8] { attr(flags, 25, c.flatMap(\.bytes)) }

/// Attribute 25 (RFC 5701) in the listener's UPDATE decoder: kept with the routes, and handled as
/// RFC 7606 asks when malformed, as attribute 16 is.
@Suite struct IPv6ExtendedCommunityUpdateTests {
    let d = UpdateDecoder()
    let a6 = hexBytes(nlri6)

    @Test func ipv6CommunitiesReachTheAnnouncedRoutesInOrder() {
        let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv6, [a6]) + extComm([drop]) + ext6([redirect6, other6])))
        #expect(r.reset == nil && r.faults.isEmpty, "\(r.faults)")
        #expect(r.announced.count == 1)
        #expect(r.announced.first?.ipv6ExtendedCommunities == [redirect6, other6])
        #expect(r.announced.first?.extendedCommunities == [drop])
        #expect(r.announced.first?.ipv6Actions.first == .redirectToIP(IPAddress("2001:db8:2::10")!, copy: false))
    }

    @Test func malformedIPv6ExtendedCommunitiesTreatAsWithdraw_7_15() {
        for bad in [attr(0xc0, 25, redirect6.bytes + [0]), attr(0xc0, 25, []), attr(0xc0, 25, Array(redirect6.bytes.prefix(19)))] {
            let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv6, [a6]) + bad))
            #expect(r.reset == nil && r.announced.isEmpty)
            #expect(r.withdrawn == [RouteID(family: .ipv6, nlri: a6)])
            #expect(r.faults.map(\.rule) == ["RFC 7606 §7.15"], "\(r.faults)")
        }
    }

    @Test func ipv6ExtendedCommunitiesWithWrongFlagsTreatAsWithdraw_3c() {
        // Optional non-transitive instead of optional transitive.
        let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv6, [a6]) + ext6([redirect6], flags: 0x80)))
        #expect(r.announced.isEmpty && r.withdrawn == [RouteID(family: .ipv6, nlri: a6)])
        #expect(r.faults.map(\.rule) == ["RFC 7606 §3 (c)"])
    }

    @Test func repeatedIPv6ExtendedCommunitiesKeepTheFirst_3g() {
        let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv6, [a6]) + ext6([redirect6]) + ext6([other6])))
        #expect(r.announced.first?.ipv6ExtendedCommunities == [redirect6])
        #expect(r.faults.map(\.action) == [.attributeDiscard])
    }

    @Test func theEncoderWritesAttribute25AfterTheOthers() throws {
        let u = BGPUpdate.flowspec(family: .ipv6, announce: [route(.ipv6, nlri6)], extendedCommunities: [drop],
                                   largeCommunities: [LargeCommunity(global: 1, local1: 2, local2: 3)], ipv6ExtendedCommunities: [redirect6])
        #expect(u.attributes.map(\.code) == [1, 2, 14, 16, 25, 32])
        let r = d.decode(body: body(u))
        #expect(r.faults.isEmpty && r.announced.first?.ipv6ExtendedCommunities == [redirect6])
    }
}
