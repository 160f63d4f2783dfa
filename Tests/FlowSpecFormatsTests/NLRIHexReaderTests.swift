import Testing
import FlowSpec
@testable import FlowSpecFormats

@Suite struct NLRIHexReaderTests {
    @Test func linesOfLengthPrefixedNLRIs() throws {
        let text = """
        # v4-01 and v4-41 on one line, v4-31 on the next
        0c0120cb00710a038106058150 100120cb007161038106059113880680 00

        04 0100 0200
        """
        let r = try NLRIHexReader.read(text, family: .ipv4)
        #expect(r.errors.isEmpty)
        #expect(r.routes.map(\.position) == ["line 2, NLRI 1", "line 2, NLRI 2", "line 4, NLRI 1"])
        try #require(r.routes.count == 3)
        #expect(r.routes[0].route == FlowRoute(family: .ipv4, components: [
            .destinationPrefix(FlowPrefix("203.0.113.10/32")!), .numeric(.ipProtocol, [.equal(6)]),
            .numeric(.destinationPort, [.equal(80)])]))
        #expect(r.routes[1].route.component(.sourcePort) == .numeric(.sourcePort, [NumericTerm(value: 0)]))
        #expect(r.routes[2].route.isDefaultPolicy)
    }

    @Test func familyDecidesPrefixLayoutAndFlowLabel() throws {
        // q6-03 as IPv6; the same octets are not an IPv4 NLRI.
        let line = "1701800020010db80113000000000000000000700d912345"
        let v6 = try NLRIHexReader.read(line, family: .ipv6)
        #expect(v6.routes.first?.route.component(.flowLabel) == .numeric(.flowLabel, [NumericTerm(eq: true, value: 0x2345)]))
        let v4 = try NLRIHexReader.read(line, family: .ipv4)
        #expect(v4.routes.isEmpty)
        #expect(v4.errors.map(\.position) == ["line 1, NLRI 1"])
        #expect(v4.errors.first?.reason.contains("prefix length 128 exceeds 32 bits") == true)
    }

    @Test func badNLRIKeepsItsNeighbours() throws {
        // Line 1 ends inside its 4th NLRI: its own error, since a whole line follows.
        let r = try NLRIHexReader.read("03038106 03030106 03038111 05 0120\n03038106", family: .ipv4)
        #expect(r.routes.map(\.position) == ["line 1, NLRI 1", "line 1, NLRI 3", "line 2, NLRI 1"])
        #expect(r.errors.map(\.position) == ["line 1, NLRI 2", "line 1, NLRI 4"])
        #expect(r.errors[0].reason.contains("without the end-of-list bit"))
        #expect(r.errors[1].reason.contains("input ends inside the NLRI"))
    }

    @Test func strictOptionRejectsReservedBits() throws {
        #expect(try NLRIHexReader.read("03038906", family: .ipv4).routes.count == 1)
        #expect(try NLRIHexReader.read("03038906", family: .ipv4, options: .strict).errors.count == 1)
    }

    @Test func noHexAtAllIsUnreadable() {
        #expect(throws: UnreadableInput.self) { try NLRIHexReader.read("route 1 { match destination 192.0.2.1 }", family: .ipv4) }
    }
}
