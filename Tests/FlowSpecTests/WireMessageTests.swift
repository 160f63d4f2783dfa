import Testing
@testable import FlowSpec

private let marker = String(repeating: "ff", count: 16)

@Suite struct WireMessageTests {
    @Test func keepaliveRoundTrip() throws {
        let bytes = wireBytes(marker + "0013 04")
        #expect(try BGPMessage.decode(bytes) == .keepalive)
        #expect(try BGPMessage.keepalive.encode() == bytes)
    }

    @Test func notificationAndOpenAreRecognised() throws {
        let n = wireBytes(marker + "0015 03 0309")
        #expect(try BGPMessage.decode(n) == .notification(code: 3, subcode: 9, data: []))
        #expect(try BGPMessage.decode(n).encode() == n)
        let open = wireBytes(marker + "001d 01 04 ff1d 00b4 c0000201 00")
        guard case .open(let body) = try BGPMessage.decode(open) else { Issue.record("not OPEN"); return }
        #expect(body.count == 10)
    }

    @Test func headerErrors() {
        #expect(throws: WireError.badMarker(offset: 3)) {
            try BGPMessage.decode(wireBytes("ffffff00" + String(repeating: "ff", count: 12) + "0013 04"))
        }
        #expect(throws: WireError.truncated(offset: 0, field: .messageHeader)) { try BGPMessage.decode(wireBytes(marker + "00")) }
        #expect(throws: WireError.truncated(offset: 19, field: .message)) { try BGPMessage.decode(wireBytes(marker + "0017 02")) }
        #expect(throws: WireError.overlong(offset: 19, field: .message, extra: 1)) { try BGPMessage.decode(wireBytes(marker + "0013 04 00")) }
        #expect(throws: WireError.badMessageLength(offset: 16, length: 18)) { try BGPMessage.decode(wireBytes(marker + "0012 04")) }
        #expect(throws: WireError.badMessageLength(offset: 16, length: 20)) { try BGPMessage.decode(wireBytes(marker + "0014 04 00")) }
    }

    @Test func decodesFromASliceOfAStream() throws {
        // Two messages back to back, as a TCP stream delivers them; offsets count from the slice.
        let stream = wireBytes(marker + "0013 04" + marker + "0015 03 0309")
        let first = try #require(try BGPMessage.frameLength(stream))
        #expect(try BGPMessage.decode(stream[..<first]) == .keepalive)
        let rest = stream[first...]
        let second = try #require(try BGPMessage.frameLength(rest))
        #expect(try BGPMessage.decode(rest.prefix(second)) == .notification(code: 3, subcode: 9, data: []))
        #expect(throws: WireError.badMarker(offset: 15)) { try BGPMessage.decode(stream[1...]) }
    }

    @Test func frameLengthForStreams() throws {
        #expect(try BGPMessage.frameLength(wireBytes(marker + "00")) == nil)
        #expect(try BGPMessage.frameLength(wireBytes(marker + "0146 02 0000")) == 0x146)
        #expect(throws: WireError.badMessageLength(offset: 16, length: 5000)) {
            try BGPMessage.frameLength(wireBytes(marker + "1388 02"), maxLength: 4096)
        }
    }

    @Test func builtUpdateRoundTrips() throws {
        let a = [Component.destinationPrefix(FlowPrefix("203.0.113.10/32")!), .numeric(.ipProtocol, [.equal(6)])]
        let w = [Component.destinationPrefix(FlowPrefix("203.0.113.11/32")!)]
        let drop = FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0).community
        let large = LargeCommunity(global: 65309, local1: 1, local2: 2)
        let update = BGPUpdate.flowspec(family: .ipv4, announce: [a], withdraw: [w],
                                        extendedCommunities: [drop], largeCommunities: [large])
        #expect(update.attributes.map(\.code) == [1, 2, 14, 15, 16, 32])
        let bytes = try BGPMessage.update(update).encode()
        #expect(try BGPMessage.decode(bytes) == .update(update))
        let content = update.flowspec
        #expect(content.routes.count == 2 && content.errors.isEmpty)
        #expect(content.routes[0].route == FlowRoute(family: .ipv4, components: a, extendedCommunities: [drop], largeCommunities: [large]))
        #expect(content.routes[1].route == FlowRoute(family: .ipv4, components: w) && content.routes[1].withdrawn)
    }

    @Test func endOfRIB() throws {
        let eor = BGPUpdate.flowspec(family: .ipv6)
        // RFC 4724 §2: MP_UNREACH_NLRI with AFI 2 SAFI 133 and nothing else (as BIRD sends it).
        #expect(try BGPMessage.update(eor).encode() == wireBytes(marker + "001d 02 0000 0006 800f03 0002 85"))
        #expect(eor.isEndOfRIB)
    }

    @Test func attributeErrors() {
        // Attribute value length 0x20 runs past the 6 octets of attributes.
        #expect(throws: WireError.truncated(offset: 26, field: .attributeValue)) {
            try BGPMessage.decode(wireBytes(marker + "001d 02 0000 0006 c01020000000"))
        }
        // 7 octets of extended communities.
        #expect(throws: WireError.overlong(offset: 26, field: .extendedCommunities, extra: 7)) {
            try BGPMessage.decode(wireBytes(marker + "0021 02 0000 000a c010 07 80060000000000"))
        }
        // MP_REACH_NLRI twice.
        let mp = "800e05 0001850000"
        #expect(throws: WireError.duplicateAttribute(offset: 31, code: 14)) {
            try BGPMessage.decode(wireBytes(marker + "0027 02 0000 0010" + mp + mp))
        }
        // MP_REACH_NLRI cut inside its next hop.
        #expect(throws: WireError.truncated(offset: 30, field: .nextHop)) {
            try BGPMessage.decode(wireBytes(marker + "001f 02 0000 0008 800e05 0001850400"))
        }
    }

    @Test func otherAFISAFIIsSkipped() throws {
        // MP_REACH_NLRI for IPv6 unicast: kept raw, reported skipped, re-encoded as received.
        let bytes = wireBytes(marker + "0030 02 0000 0019 800e16 0002 01 10 20010db8000000000000000000000001 00 00")
        guard case .update(let u) = try BGPMessage.decode(bytes) else { Issue.record("not UPDATE"); return }
        #expect(u.flowspec.skipped == [FlowspecContent.AFISAFI(afi: 2, safi: 1, withdrawn: false)])
        #expect(u.flowspec.routes.isEmpty)
        #expect(try BGPMessage.update(u).encode() == bytes)
    }

    @Test func malformedNLRIInUpdateIsReportedBesideTheGoodOnes() throws {
        // MP_REACH with NLRIs: good (proto 6), bad (type order), good (proto 17).
        let nlri = "03038106 06038106038111 03038111"
        let attr = "800e" + String(format2(5 + wireBytes(nlri).count)) + "0001850000" + nlri
        let attrs = wireBytes(attr)
        let total = 19 + 4 + attrs.count
        let bytes = wireBytes(marker + hexString([UInt8(total >> 8), UInt8(total & 0xff)]) + "02 0000" +
                              hexString([UInt8(attrs.count >> 8), UInt8(attrs.count & 0xff)]) + attr)
        guard case .update(let u) = try BGPMessage.decode(bytes) else { Issue.record("not UPDATE"); return }
        let content = u.flowspec
        #expect(content.routes.map(\.index) == [1, 3])
        #expect(content.errors.map(\.index) == [2])
        #expect(content.errors.first?.error == .componentOrder(offset: 39, type: 3, previous: 3))
        #expect(try BGPMessage.update(u).encode() == bytes)
    }
}

private func format2(_ n: Int) -> String { hexString([UInt8(n)]) }
