import Testing
@testable import FlowSpec

/// Hex text to octets (test vectors only; spaces allowed).
func wireBytes(_ hex: String) -> [UInt8] {
    let digits = hex.filter { !$0.isWhitespace }
    var out = [UInt8]()
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        out.append(UInt8(digits[i..<j], radix: 16)!)
        i = j
    }
    return out
}

private func decode(_ hex: String, _ family: AddressFamily = .ipv4, _ options: WireOptions = .standard) throws(WireError) -> [Component] {
    try FlowNLRICodec.decodeComponents(wireBytes(hex), family: family, options: options)
}

private func encode(_ components: [Component], _ family: AddressFamily = .ipv4) -> String {
    hexString(FlowRoute(family: family, components: components).nlriBytes)
}

private func error(_ hex: String, _ family: AddressFamily = .ipv4, _ options: WireOptions = .standard) -> WireError? {
    do { _ = try decode(hex, family, options); return nil } catch { return error }
}

@Suite struct WireNLRIDecodeTests {
    @Test func rfc8955Section4BasicRoute() throws {
        // v4-01: dst 203.0.113.10/32; proto 6; dport 80
        let c = try decode("0120cb00710a 038106 058150")
        #expect(c == [.destinationPrefix(FlowPrefix("203.0.113.10/32")!),
                      .numeric(.ipProtocol, [.equal(6)]), .numeric(.destinationPort, [.equal(80)])])
        #expect(encode(c) == "0120cb00710a038106058150")
    }

    @Test func rfc8955Section4_2_1_1ValueLengthsAreKept() throws {
        // == 80 written with a 2-octet value, then an 8-octet one: re-encoding keeps both lengths.
        let c = try decode("05 11 0050 f5 0000000000000050")
        let terms = try #require(c.first?.numericTerms)
        #expect(terms.map(\.valueLength) == [2, 8])
        #expect(terms.map(\.value) == [80, 80])
        #expect(terms[1].and && terms[1].lt && !terms[1].gt && terms[1].eq)
        #expect(encode(c) == "05110050f50000000000000050")
    }

    @Test func falseAndNotEqualOperators() throws {
        // op 0x80 = false (no comparison bit), 0x06/0xc6 = != (lt|gt), RFC 8955 Table 1.
        let c = try decode("0120cb00715b 030606c611 06 8000")
        #expect(c[1] == .numeric(.ipProtocol, [NumericTerm(lt: true, gt: true, value: 6),
                                                NumericTerm(and: true, lt: true, gt: true, value: 17)]))
        #expect(c[2] == .numeric(.sourcePort, [NumericTerm(value: 0)]))
    }

    @Test func rfc8955Section4_2_1_2BitmaskBits() throws {
        // SYN && !ACK: match 0x02, then AND NOT any 0x10.
        let c = try decode("0120cb00711e 09 0102 c210")
        #expect(c[1] == .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 2), BitmaskTerm(and: true, not: true, value: 0x10)]))
    }

    @Test func rfc8956Section3_1PrefixOffset() throws {
        // q6-01: dst ::10/128 offset 64; next header 17
        let c = try decode("0180400000000000000010 038111", .ipv6)
        #expect(c[0] == .destinationPrefix(FlowPrefix("::10/128 offset 64")!))
        #expect(encode(c, .ipv6) == "0180400000000000000010038111")
        // A /48 with offset 0 has 6 pattern octets.
        let d = try decode("01 30 00 20010db80113", .ipv6)
        #expect(d == [.destinationPrefix(FlowPrefix("2001:db8:113::/48")!)])
        // Offset 4, length 12: one octet of pattern (bits 4..11) lands in the right place.
        let e = try decode("01 0c 04 a0", .ipv6)
        #expect(e == [.destinationPrefix(FlowPrefix(address: IPAddress("a00::")!, length: 12, offset: 4)!)])
        #expect(encode(e, .ipv6) == "010c04a0")
    }

    @Test func prefixPaddingBitsAreIgnored() throws {
        // RFC 4271 prefix encoding: bits past the length do not matter.
        let c = try decode("0117cb0071")
        #expect(c == [.destinationPrefix(FlowPrefix("203.0.112.0/23")!)])
        #expect(encode(c) == "0117cb0070")
    }

    @Test func flowLabelIsIPv6Only() throws {
        #expect(try decode("0d 91 08e5", .ipv6) == [.numeric(.flowLabel, [NumericTerm(eq: true, value: 0x8e5, valueLength: 2)])])
        #expect(error("0d 91 08e5") == .unknownComponentType(offset: 0, type: 13, family: .ipv4))
    }

    @Test func unknownComponentTypes() {
        #expect(error("0e 81 06", .ipv6) == .unknownComponentType(offset: 0, type: 14, family: .ipv6))
        #expect(error("00 81 06") == .unknownComponentType(offset: 0, type: 0, family: .ipv4))
        #expect(error("038106 ff") == .unknownComponentType(offset: 3, type: 255, family: .ipv4))
    }

    @Test func rfc8955Section4_2TypesStrictlyIncreasing() {
        #expect(error("058150 038106") == .componentOrder(offset: 3, type: 3, previous: 5))
        #expect(error("038106 038111") == .componentOrder(offset: 3, type: 3, previous: 3))
    }

    @Test func truncations() {
        #expect(error("0120cb0071") == .truncated(offset: 2, field: .prefixPattern))
        #expect(error("01") == .truncated(offset: 1, field: .prefixLength))
        #expect(error("01 80", .ipv6) == .truncated(offset: 2, field: .prefixOffset))
        #expect(error("03") == .truncated(offset: 1, field: .operator))
        // op 0x91 announces a 2-octet value; only one follows.
        #expect(error("03 91 00") == .truncated(offset: 2, field: .value))
        #expect(error("05 a1 0000") == .truncated(offset: 2, field: .value))
    }

    @Test func missingEndOfListBit() {
        #expect(error("03 01 06") == .missingEndOfList(offset: 3, type: 3))
        #expect(error("09 01 02 41 04") == .missingEndOfList(offset: 5, type: 9))
    }

    @Test func prefixBounds() {
        #expect(error("0121cb00710a00") == .prefixTooLong(offset: 1, length: 33, family: .ipv4))
        #expect(error("01 81 00", .ipv6) == .prefixTooLong(offset: 1, length: 129, family: .ipv6))
        #expect(error("01 40 41", .ipv6) == .offsetBeyondLength(offset: 2, prefixOffset: 65, length: 64))
    }

    @Test func emptyNLRI() {
        #expect(error("") == .emptyNLRI(offset: 0))
    }

    @Test func reservedOperatorBitsIgnoredByDefaultRejectedWhenStrict() throws {
        // 0x89 = e | reserved 0x08 | eq. RFC 8955 says decoders ignore the bit.
        #expect(try decode("03 89 06") == [.numeric(.ipProtocol, [.equal(6)])])
        #expect(error("03 89 06", .ipv4, .strict) == .reservedOperatorBits(offset: 1, operator: 0x89, type: 3))
        // Bitmask ops have two reserved bits, 0x08 and 0x04.
        #expect(error("09 85 02", .ipv4, .strict) == .reservedOperatorBits(offset: 1, operator: 0x85, type: 9))
        #expect(error("09 89 02", .ipv4, .strict) == .reservedOperatorBits(offset: 1, operator: 0x89, type: 9))
        #expect(try decode("09 8d 02") == [.bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 2)])])
    }

    @Test func firstTermAndBitIsKeptForReencoding() throws {
        // RFC 8955: the a bit of a first term "MUST be ignored during decoding" — its meaning is
        // nil, but keeping it lets the NLRI re-encode as received.
        let c = try decode("03 c1 06")
        #expect(c[0].numericTerms?.first?.and == true)
        #expect([NumericTerm(and: true, eq: true, value: 6)].matches(6))
        #expect(encode(c) == "03c106")
    }
}

@Suite struct WireNLRIListTests {
    @Test func malformedNLRIDoesNotHideTheOthers() {
        // good, bad (missing end bit), good
        let list = FlowNLRICodec.decodeList(wireBytes("03 038106  03 030106  03 038111"), family: .ipv4)
        #expect(list.entries.count == 3)
        #expect(list.entries.map(\.offset) == [0, 4, 8])
        #expect(list.entries[0].components == [.numeric(.ipProtocol, [.equal(6)])])
        #expect(list.entries[1].error == .missingEndOfList(offset: 8, type: 3))
        #expect(list.entries[2].components == [.numeric(.ipProtocol, [.equal(17)])])
        var out = [UInt8]()
        #expect(throws: Never.self) { try list.encode(family: .ipv4, into: &out) }
        #expect(out == wireBytes("03 038106  03 030106  03 038111"))
    }

    @Test func lengthRunningPastTheEndStopsFraming() throws {
        let bytes = wireBytes("03 038106 0c 0120")
        let list = FlowNLRICodec.decodeList(bytes, family: .ipv4)
        #expect(list.entries.count == 1)
        #expect(list.framingError == .truncated(offset: 5, field: .nlri))
        #expect(list.unframed == wireBytes("0c0120"))
        var out = [UInt8]()
        try list.encode(family: .ipv4, into: &out)
        #expect(out == bytes)
        // A 2-octet length cut after its first octet.
        #expect(FlowNLRICodec.decodeList(wireBytes("f0"), family: .ipv4).framingError == .truncated(offset: 1, field: .nlriLength))
    }

    @Test func rfc8955Section4_1TwoOctetLength() throws {
        // 80 port terms of 3 octets + the type octet = 241 octets: needs 0xf0f1.
        var terms = (0..<80).map { NumericTerm(eq: true, value: UInt64(1000 + $0)) }
        terms[79] = NumericTerm(eq: true, value: 1079)
        let route = FlowRoute(family: .ipv4, components: [.numeric(.port, terms)])
        let wire = route.nlriWithLength
        #expect(Array(wire.prefix(2)) == [0xf0, 0xf1])
        let list = FlowNLRICodec.decodeList(wire, family: .ipv4)
        #expect(list.entries.first?.components == route.components)
        var out = [UInt8]()
        try list.encode(family: .ipv4, into: &out)
        #expect(out == wire)
        // A short NLRI may also use the 2-octet form; it re-encodes the same way.
        let short = wireBytes("f003 038106")
        let s = FlowNLRICodec.decodeList(short, family: .ipv4)
        #expect(s.entries.first?.wideLength == true)
        out = []
        try s.encode(family: .ipv4, into: &out)
        #expect(out == short)
    }

    @Test func nlriLongerThan4095CannotBeEncoded() {
        var out = [UInt8]()
        #expect(throws: WireError.nlriTooLong(length: 4096)) {
            try FlowNLRICodec.appendLengthPrefixed([UInt8](repeating: 0, count: 4096), to: &out)
        }
    }

    @Test func zeroLengthNLRIIsAnError() {
        let list = FlowNLRICodec.decodeList(wireBytes("00 03038106"), family: .ipv4)
        #expect(list.entries.count == 2)
        #expect(list.entries[0].error == .emptyNLRI(offset: 1))
        #expect(list.entries[1].components != nil)
    }
}
