import Testing
@testable import FlowSpec

@Suite struct ValidationRuleTests {
    let dst4 = Component.destinationPrefix(FlowPrefix("203.0.113.10/32")!)
    let dst6 = Component.destinationPrefix(FlowPrefix("2001:db8:113::10/128")!)

    func error(_ family: AddressFamily, _ components: [Component]) -> RouteError? {
        let route = FlowRoute(family: family, components: components)
        do { try route.validate(); return nil } catch { return error }
    }

    @Test func validRoutesPass() {
        #expect(error(.ipv4, [dst4, .numeric(.ipProtocol, [.equal(6)]), .numeric(.destinationPort, [.equal(80)])]) == nil)
        #expect(error(.ipv6, [dst6, .numeric(.flowLabel, [.equal(0x8e5)]),]) == nil)
        #expect(error(.ipv6, [.destinationPrefix(FlowPrefix("::10/128 offset 64")!)]) == nil)
        #expect(error(.ipv4, [dst4, .bitmask(.fragment, [BitmaskTerm(match: true, value: 0x01)])]) == nil)
        // Values above the field's range are legal on the wire; they just compare exactly.
        #expect(error(.ipv4, [dst4, .numeric(.destinationPort, [.equal(70000)])]) == nil)
        #expect(FlowRoute(family: .ipv4, components: [dst4]).isValid)
    }

    @Test func rfc8955Section4RequiresAComponent() {
        #expect(error(.ipv4, []) == .noComponents)
    }

    @Test func rfc8955Section4_2StrictlyIncreasingTypes() {
        let proto = Component.numeric(.ipProtocol, [.equal(17)])
        #expect(error(.ipv4, [proto, dst4]) == .componentOutOfOrder(position: 2, type: .destinationPrefix, after: .ipProtocol))
        #expect(error(.ipv4, [dst4, proto, proto]) == .repeatedComponent(position: 3, type: .ipProtocol))
    }

    @Test func operatorKindMustMatchType() {
        #expect(error(.ipv4, [dst4, .numeric(.tcpFlags, [.equal(2)])])
                == .wrongOperatorKind(position: 2, type: .tcpFlags, expected: .bitmask))
        #expect(error(.ipv4, [dst4, .bitmask(.destinationPort, [BitmaskTerm(value: 1)])])
                == .wrongOperatorKind(position: 2, type: .destinationPort, expected: .numeric))
        #expect(error(.ipv4, [.numeric(.destinationPrefix, [.equal(1)])])
                == .wrongOperatorKind(position: 1, type: .destinationPrefix, expected: .prefix))
    }

    @Test func flowLabelIsIPv6Only() {
        #expect(error(.ipv4, [dst4, .numeric(.flowLabel, [.equal(1)])])
                == .componentNotInFamily(position: 2, type: .flowLabel, family: .ipv4))
    }

    @Test func prefixFamilyMustMatchRoute() {
        #expect(error(.ipv4, [dst6]) == .prefixFamilyMismatch(position: 1, type: .destinationPrefix, prefix: .ipv6, route: .ipv4))
        #expect(error(.ipv6, [dst6, .sourcePrefix(FlowPrefix("192.0.2.0/24")!)])
                == .prefixFamilyMismatch(position: 2, type: .sourcePrefix, prefix: .ipv4, route: .ipv6))
        // The model cannot even build an IPv4 prefix with an offset.
        #expect(FlowPrefix(address: IPAddress("192.0.2.0")!, length: 24, offset: 8) == nil)
    }

    @Test func operatorListMustNotBeEmpty() {
        #expect(error(.ipv4, [dst4, .numeric(.ipProtocol, [])]) == .emptyOperatorList(position: 2, type: .ipProtocol))
        #expect(error(.ipv4, [dst4, .bitmask(.tcpFlags, [])]) == .emptyOperatorList(position: 2, type: .tcpFlags))
    }

    @Test func valueLengthIs1248AndHoldsTheValue() {
        #expect(error(.ipv4, [dst4, .numeric(.destinationPort, [NumericTerm(eq: true, value: 80, valueLength: 3)])])
                == .invalidValueLength(position: 2, type: .destinationPort, term: 0, length: 3))
        #expect(error(.ipv4, [dst4, .numeric(.destinationPort, [.equal(1), NumericTerm(eq: true, value: 443, valueLength: 1)])])
                == .valueDoesNotFitLength(position: 2, type: .destinationPort, term: 1, value: 443, length: 1))
        #expect(error(.ipv4, [dst4, .numeric(.destinationPort, [NumericTerm(eq: true, value: 443, valueLength: 8)])]) == nil)
    }

    @Test func tcpFlagsAreOneOrTwoOctets() {
        #expect(error(.ipv4, [dst4, .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02, valueLength: 2)])]) == nil)
        #expect(error(.ipv4, [dst4, .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02, valueLength: 4)])])
                == .tcpFlagsValueTooLong(position: 2, term: 0, length: 4))
    }

    @Test func fragmentBits() {
        #expect(error(.ipv4, [dst4, .bitmask(.fragment, [BitmaskTerm(value: 0x10)])])
                == .fragmentReservedBits(position: 2, term: 0, value: 0x10))
        // RFC 8956 §3.6: no DF in IPv6.
        #expect(error(.ipv6, [dst6, .bitmask(.fragment, [BitmaskTerm(value: 0x02), BitmaskTerm(value: 0x01)])])
                == .fragmentDontFragmentInIPv6(position: 2, term: 1))
        #expect(error(.ipv6, [dst6, .bitmask(.fragment, [BitmaskTerm(value: 0x0e)])]) == nil)
    }

    @Test func nlriLengthLimit() {
        // 1 type octet + 1400 × (operator + 2 octets) = 4201 octets > 4095.
        let many = (0..<1400).map { NumericTerm(eq: true, value: UInt64(1000 + $0)) }
        let e = error(.ipv4, [.numeric(.destinationPort, many)])
        #expect(e == .nlriTooLong(octets: 4201))
        #expect(FlowRoute(family: .ipv4, components: [.numeric(.destinationPort, many)]).nlriBytes.count == 4201)
    }

    @Test func firstErrorWinsInNlriOrder() {
        // Both component 2 (empty) and component 3 (flow label in IPv4) are wrong: 2 is reported.
        #expect(error(.ipv4, [dst4, .numeric(.ipProtocol, []), .numeric(.flowLabel, [.equal(1)])])
                == .emptyOperatorList(position: 2, type: .ipProtocol))
    }

    @Test func messagesNameTheComponent() {
        let m = RouteError.componentOutOfOrder(position: 2, type: .destinationPrefix, after: .ipProtocol).description
        #expect(m.contains("component 2 (destination, type 1)") && m.contains("RFC 8955 §4.2"))
        #expect(RouteError.fragmentDontFragmentInIPv6(position: 3, term: 0).description.contains("IPv6 has no Don't Fragment"))
    }
}
