import Testing
import FlowSpec
@testable import FlowSpecBGP

@Suite struct OpenMessageTests {
    @Test func ourOpenAdvertisesFlowspecFamiliesRouteRefreshAndFourOctetAS() throws {
        let o = OpenMessage(localAS: 65001, holdTime: 90, identifier: 0xc000_0202)
        let back = try OpenMessage.decode(body: o.encodeBody())
        #expect(back == o)
        #expect(back.flowspecFamilies == [.ipv4, .ipv6])
        #expect(back.supportsRouteRefresh && back.supportsFourOctetAS)
        #expect(back.myAS == 65001 && back.autonomousSystem == 65001)
        // Capability octets: type 2, len 6, MP code 1 len 4 AFI 1 res SAFI 133.
        #expect(o.encodeBody().count == 10 + 8 * 2 + 4 + 4 + 8 + 6)
        #expect(back.supportsExtendedMessages)
        #expect(back.capabilities.contains(OpenMessage.gracefulRestartAware))
        #expect(Array(o.encodeBody()[10..<18]) == [2, 6, 1, 4, 0, 1, 0, 133])
    }

    @Test func fourOctetASUsesASTrans() throws {
        let o = OpenMessage(localAS: 4_200_000_001, holdTime: 90, identifier: 1)
        #expect(o.myAS == 23456)
        let back = try OpenMessage.decode(body: o.encodeBody())
        #expect(back.autonomousSystem == 4_200_000_001)
        try back.validate(expectedAS: 4_200_000_001, localAS: 65001, localIdentifier: 2)
    }

    @Test func openErrorsPerRFC4271Section6_2() throws {
        var o = OpenMessage(localAS: 65309, holdTime: 90, identifier: 7)
        #expect(throws: BGPNotification.badPeerAS) { try o.validate(expectedAS: 65310, localAS: 65001, localIdentifier: 2) }
        o.holdTime = 2
        #expect(throws: BGPNotification.unacceptableHoldTime) { try o.validate(expectedAS: 65309, localAS: 65001, localIdentifier: 2) }
        o.holdTime = 0
        try o.validate(expectedAS: 65309, localAS: 65001, localIdentifier: 2)
        o.identifier = 0
        #expect(throws: BGPNotification.badBGPIdentifier) { try o.validate(expectedAS: 65309, localAS: 65001, localIdentifier: 2) }
        var b = OpenMessage(localAS: 65309, holdTime: 90, identifier: 7).encodeBody()
        b[0] = 3
        #expect(throws: BGPNotification.unsupportedVersion) { try OpenMessage.decode(body: b) }
        // Optional parameter type 1 (authentication, deprecated) → 2/4.
        let p: [UInt8] = [4, 0xff, 0x1d, 0, 90, 0, 0, 0, 7, 3, 1, 1, 0]
        #expect(throws: BGPNotification.unsupportedOptionalParameter) { try OpenMessage.decode(body: p) }
    }
}

@Suite struct SessionFSMTests {
    /// The peer's OPEN, without the extended message capability unless asked (RFC 8654).
    static func peerOpen(extended: Bool = false) -> [UInt8] {
        var o = OpenMessage(localAS: 65309, holdTime: 6, identifier: 0xc000_0201)
        if !extended { o.capabilities.removeAll { $0 == .extendedMessage } }
        return bytes(o.message)
    }
    let peerOpen = Self.peerOpen()

    func sent(_ a: [Session.Action]) -> [[UInt8]] { a.compactMap { if case .send(let b) = $0 { b } else { nil } } }
    func notification(_ a: [Session.Action]) -> (UInt8, UInt8)? {
        for b in sent(a) where b[18] == 3 { return (b[19], b[20]) }
        return nil
    }

    func established(now: Double = 0, extended: Bool = false) -> Session {
        var s = Session(direction: .incoming, config: testConfig, peer: testConfig.peers[0])
        _ = s.start(now: now)
        _ = s.receive(Self.peerOpen(extended: extended), now: now)
        _ = s.receive(bytes(.keepalive), now: now)
        return s
    }

    @Test func openSentOpenConfirmEstablished() {
        var s = Session(direction: .incoming, config: testConfig, peer: testConfig.peers[0])
        let a = s.start(now: 0)
        #expect(s.state == .openSent)
        #expect(sent(a).first?[18] == 1)
        let b = s.receive(peerOpen, now: 1)
        #expect(s.state == .openConfirm)
        #expect(sent(b) == [bytes(.keepalive)])
        #expect(s.holdTime == 6)   // min(9, 6)
        #expect(s.families == [.ipv4, .ipv6])
        // One octet at a time: framing waits for the whole message.
        for byte in bytes(.keepalive) { _ = s.receive([byte], now: 2) }
        #expect(s.state == .established)
    }

    @Test func holdTimerExpirySendsNotification4_0() {
        var s = established(now: 0)
        #expect(sent(s.tick(now: 2.5)) == [bytes(.keepalive)])   // keepalive = hold / 3
        _ = s.receive(bytes(.keepalive), now: 3)                  // restarts hold: deadline 9
        #expect(s.tick(now: 8.9).compactMap { if case .closed = $0 { 1 } else { nil } }.isEmpty)
        let a = s.tick(now: 9.1)
        #expect(notification(a)! == (4, 0))
        #expect(s.isClosed && s.state == .idle)
    }

    @Test func openHoldTimerBeforeOpen() {
        var s = Session(direction: .outgoing, config: testConfig, peer: testConfig.peers[0])
        _ = s.start(now: 0)
        #expect(s.tick(now: 4.9).isEmpty)
        #expect(notification(s.tick(now: 5.1))! == (4, 0))
    }

    @Test func messageHeaderErrors() {
        var s = established()
        var bad = bytes(.keepalive); bad[3] = 0
        #expect(notification(s.receive(bad, now: 1))! == (1, 1))
        s = established()
        var long = bytes(.keepalive); long[16] = 0x20; long[17] = 0   // 8192 > 4096
        let a = s.receive(long, now: 1)
        #expect(notification(a)! == (1, 2))
        #expect(sent(a).last!.suffix(2) == [0x20, 0])
        s = established()
        var type = bytes(.keepalive); type[18] = 9
        #expect(notification(s.receive(type, now: 1))! == (1, 3))
        s = established()
        let ka20 = [UInt8](repeating: 0xff, count: 16) + [0, 20, 4, 0]
        #expect(notification(s.receive(ka20, now: 1))! == (1, 2))
    }

    /// RFC 8654: we always offer extended messages; a peer that offers them too may send
    /// UPDATEs up to 65535 octets (FRR 8.4 sends 4097-octet flowspec UPDATEs), one that does not
    /// is held to 4096.
    @Test func extendedMessagesOnlyWhenBothOffered() throws {
        #expect(OpenMessage(localAS: 65001, holdTime: 90, identifier: 1).supportsExtendedMessages)
        // An UPDATE of 5000 octets: an unknown optional transitive attribute pads it.
        let padding = [UInt8](repeating: 0, count: 5000 - 19 - 4 - 4)
        var body: [UInt8] = [0, 0]                                          // no withdrawn routes
        let attribute: [UInt8] = [0xd0, 0xfe, UInt8(padding.count >> 8), UInt8(padding.count & 0xff)] + padding
        body += [UInt8(attribute.count >> 8), UInt8(attribute.count & 0xff)] + attribute
        let update = [UInt8](repeating: 0xff, count: 16) + [UInt8(5000 >> 8), UInt8(5000 & 0xff), 2] + body
        try #require(update.count == 5000)
        var s = established(extended: true)
        #expect(s.state == .established)
        let a = s.receive(update, now: 1)
        #expect(notification(a) == nil && !s.isClosed, "a 5000-octet UPDATE after both offered extended messages: \(a)")
        s = established(extended: false)
        let b = s.receive(update, now: 1)
        #expect(notification(b)! == (1, 2) && s.isClosed)
    }

    @Test func badPeerASGetsNotification2_2() {
        var s = Session(direction: .incoming, config: testConfig, peer: testConfig.peers[0])
        _ = s.start(now: 0)
        let a = s.receive(bytes(OpenMessage(localAS: 65999, holdTime: 90, identifier: 5).message), now: 0)
        #expect(notification(a)! == (2, 2))
        #expect(s.isClosed)
    }

    @Test func unexpectedUpdateInOpenSentIsFSMError() {
        var s = Session(direction: .incoming, config: testConfig, peer: testConfig.peers[0])
        _ = s.start(now: 0)
        let a = s.receive(bytes(.update(BGPUpdate.flowspec(family: .ipv4))), now: 0)
        #expect(notification(a)! == (5, 1))
    }

    @Test func notificationReceivedEndsSessionWithoutReply() {
        var s = established()
        let a = s.receive(bytes(.notification(code: 6, subcode: 2, data: [])), now: 1)
        #expect(sent(a).isEmpty)
        #expect(s.isClosed)
        #expect(a.contains { if case .closed(let r) = $0 { r.contains("6/2") } else { false } })
    }

    @Test func updateErrorsNeedingResetCloseWith3_x() {
        var s = established()
        let dup = rawUpdate(origin + asPath + mpReach(.ipv4, [hexBytes(nlriA)]) + mpReach(.ipv4, [hexBytes(nlriB)]))
        let msg = [UInt8](repeating: 0xff, count: 16) + [UInt8((dup.count + 19) >> 8), UInt8((dup.count + 19) & 0xff), 2] + dup
        #expect(notification(s.receive(msg, now: 1))! == (3, 1))
    }
}

@Suite struct CollisionTests {
    // RFC 4271 §6.8: the connection initiated by the higher BGP identifier survives.
    @Test func higherLocalIdentifierKeepsOutgoing() {
        #expect(Collision.loser(localID: 10, remoteID: 5, existing: (.outgoing, .openConfirm), new: .incoming) == .incoming)
        #expect(Collision.loser(localID: 10, remoteID: 5, existing: (.incoming, .openConfirm), new: .outgoing) == .incoming)
    }
    @Test func lowerLocalIdentifierKeepsIncoming() {
        #expect(Collision.loser(localID: 5, remoteID: 10, existing: (.outgoing, .openConfirm), new: .incoming) == .outgoing)
        #expect(Collision.loser(localID: 5, remoteID: 10, existing: (.incoming, .openConfirm), new: .outgoing) == .outgoing)
    }
    @Test func establishedAlwaysSurvivesAndOpenSentIsNotACollisionYet() {
        #expect(Collision.loser(localID: 10, remoteID: 5, existing: (.incoming, .established), new: .outgoing) == .outgoing)
        // An Established connection survives a new one of the same direction too (RFC 4271 §6.8).
        #expect(Collision.loser(localID: 10, remoteID: 5, existing: (.incoming, .established), new: .incoming) == .incoming)
        #expect(Collision.loser(localID: 10, remoteID: 5, existing: (.incoming, .openConfirm), new: .incoming) == nil)
        #expect(Collision.loser(localID: 10, remoteID: 5, existing: (.incoming, .openSent), new: .outgoing) == nil)
        // Identifiers compare as unsigned integers: 0xc0000202 > 0x0a000001.
        #expect(Collision.loser(localID: 0xc000_0202, remoteID: 0x0a00_0001, existing: (.outgoing, .openConfirm), new: .incoming) == .incoming)
    }
}
