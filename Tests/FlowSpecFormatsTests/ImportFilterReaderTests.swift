import Foundation
import Testing
import FlowSpec
import FlowSpecFormats

@Suite struct ImportFilterReaderTests {
    func read(_ text: String) throws(ImportFilterProblem) -> ImportFilter { try ImportFilterReader.read(Data(text.utf8)) }

    @Test func entriesReadInTheCanonicalMatchVocabulary() throws {
        let f = try read("""
            {"protect": [
              {"name": "switch", "match": {"destination": "192.0.2.2/32"}},
              {"name": "bgp", "match": {"protocol": "tcp", "port": "==179"}},
              {"name": "mgmt6", "family": "ipv6", "match": {"source": "2001:db8:5100::/48"}}
            ]}
            """)
        // A prefix tells the family; without one and without "family", both families.
        #expect(f.entries.map(\.name) == ["switch", "bgp", "bgp", "mgmt6"])
        #expect(f.entries.map(\.family) == [.ipv4, .ipv4, .ipv6, .ipv6])
        #expect(f.entries[0].components == [.destinationPrefix(FlowPrefix("192.0.2.2/32")!)])
        #expect(f.entries[1].components == [.numeric(.ipProtocol, [.equal(6)]), .numeric(.port, [.equal(179)])])
    }

    /// examples/import-filter.json, which docs/listener.md shows.
    @Test func theExampleReads() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/import-filter.json")
        let f = try ImportFilterReader.read(try Data(contentsOf: url))
        #expect(f.entries.count == 4)
        // No destination prefix: it would touch the switch's addresses too.
        #expect(f.refusal(for: FlowRoute(family: .ipv4, components: [.sourcePrefix(FlowPrefix("203.0.113.0/24")!),
                                                                     .numeric(.ipProtocol, [.equal(17)])])) == "the switch's own addresses")
        #expect(f.refusal(for: FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("198.51.0.0/16")!),
                                                                     .numeric(.ipProtocol, [.equal(17)])])) == "the management network")
        // Everything to 198.51.0.0/16 would take the switch's BGP packets to such a peer too.
        #expect(f.refusal(for: FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("198.51.0.0/16")!)])) == "BGP from the switch")
        #expect(f.refusal(for: FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.0/24")!),
                                                                     .numeric(.ipProtocol, [.equal(17)])])) == nil)
    }

    @Test func problemsNameTheEntry() {
        for (text, position, reason) in [
            (#"{"routes": []}"#, "import filter", "protect"),
            (#"{"protect": [{"name": "a", "match": {"destination": "192.0.2.2/32"}, "action": "drop"}]}"#, "entry 1", "unknown key \"action\""),
            (#"{"protect": [{"match": {"destination": "192.0.2.2/32"}}]}"#, "entry 1", "name"),
            (#"{"protect": [{"name": "a", "match": {}}]}"#, "entry 1", "match"),
            (#"{"protect": [{"name": "a", "match": {"protocol": "tcp"}}, {"name": "b", "family": "ipv5", "match": {"protocol": "tcp"}}]}"#, "entry 2", "family"),
            (#"{"protect": [{"name": "a", "match": {"destination-port": "==7x"}}]}"#, "entry 1", "ipv4"),
            (#"{"protect": [{"name": "a", "family": "ipv4", "match": {"flow-label": "==1"}}]}"#, "entry 1", "ipv4"),
        ] {
            do {
                _ = try read(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.position == position && error.reason.contains(reason), "\(text): \(error)")
            }
        }
    }
}
