import FlowSpec
@testable import FlowSpecFormats
import Foundation
import Testing

@Suite("ExaBGP 4.2 JSON API")
struct ExaBGPReaderTests {
    @Test func updatesGiveEveryRouteOfTheReadmeAndBothEndOfRIBs() throws {
        let (r, eors) = try ExaBGPReader.readStream(try FixtureRoutes.text("exabgp-4.2", "updates.jsonl"))
        #expect(r.errors.isEmpty, "\(r.errors)")
        #expect(r.routes.count == 55)
        let problems = FixtureMatch.compare(r.routes, expected: FixtureRoutes.routes(FixtureRoutes.allV4 + FixtureRoutes.allV6))
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        #expect(eors.map(\.family) == [.ipv6, .ipv4])
        #expect(eors.map(\.position) == ["line 24", "line 25"])
        // Only the `false` term (whose value ExaBGP does not print) needs a note.
        #expect(r.routes.filter { !$0.warnings.isEmpty }.count == 1)
    }

    @Test func multiBitTermsComeFromTheStringForm() throws {
        let r = try ExaBGPReader.read(try FixtureRoutes.text("exabgp-4.2", "updates.jsonl"))
        // v4-13 (one term `match 0x29`) and v4-14 (`match 0x04 || match 0x01`) print alike in the
        // JSON list; the `string` form tells them apart.
        for id in ["v4-13", "v4-14", "v4-12", "v4-22", "v6-08"] {
            let want = FixtureRoutes.routes([id])[0].route
            #expect(r.routes.contains { $0.route.components == want.components }, "\(id)")
        }
        let fallback = try ExaBGPReader.bitmask(fromList: ["=fin", "=push", "=urg&!syn", "&!rst"], type: .tcpFlags).get()
        #expect(fallback.count == 5, "without the string form every bit is a term")
    }

    @Test func rejectSets() throws {
        let q = try ExaBGPReader.read(try FixtureRoutes.text("frr-reject/exabgp-4.2", "updates.jsonl"))
        #expect(q.errors.isEmpty)
        // q6-01 (IPv6 offset) never reached the API: ExaBGP 4.2 fails to decode it and drops it.
        let problems = FixtureMatch.compare(q.routes, expected: FixtureRoutes.routes(["q4-01", "q4-02", "q4-03", "q6-02", "q6-03"]))
        #expect(problems.isEmpty, "\(problems)")
        let x = try ExaBGPReader.read(try FixtureRoutes.text("exabgp-reject/exabgp-4.2", "updates.jsonl"))
        #expect(x.routes.isEmpty && x.errors.isEmpty)
    }

    @Test func withdrawalsAndOtherMessages() {
        let w = #"{ "exabgp": "4.0.1", "type": "update", "neighbor": { "message": { "update": { "withdraw": { "ipv4 flow": [ { "destination-ipv4": [ "203.0.113.10/32" ], "protocol": [ "=tcp" ], "destination-port": [ "=80" ], "string": "flow destination-ipv4 203.0.113.10/32 protocol =tcp destination-port =80" } ] } } } } }"#
        let r = ExaBGPReader.readLine(w, lineNumber: 9)
        #expect(r.errors.isEmpty)
        #expect(r.routes.first?.withdrawn == true)
        #expect(r.routes.first?.position == "line 9, route 1")
        #expect(r.routes.first?.route.components == FixtureRoutes.v4["v4-01"]!.components)
        let state = #"{ "exabgp": "4.0.1", "type": "state", "neighbor": { "address": { "peer": "192.0.2.9" }, "state": "up" } }"#
        #expect(ExaBGPReader.readLine(state).routes.isEmpty && ExaBGPReader.readLine(state).errors.isEmpty)
    }

    @Test func badLinesAreReportedAndTheRestRead() throws {
        var lines = try FixtureRoutes.text("exabgp-4.2", "updates.jsonl").split(separator: "\n").map(String.init)
        let dropped = ExaBGPReader.readLine(lines[2]).routes.count
        lines[2] = String(lines[2].prefix(120))
        let bad = try #require(lines.indices.first { $0 > 2 && lines[$0].contains("\"packet-length\"") })
        lines[bad] = lines[bad].replacingOccurrences(of: "\"packet-length\"", with: "\"packet-size\"")
        let r = try ExaBGPReader.read(lines.joined(separator: "\n"))
        #expect(r.errors.first?.position == "line 3")
        #expect(r.errors.contains { $0.position.hasPrefix("line \(bad + 1), route") && $0.reason.contains("packet-size") })
        #expect(r.routes.count == 55 - dropped - (r.errors.count - 1))
    }

    @Test func communitiesComeFromTheIntegerValue() throws {
        let r = try ExaBGPReader.read(try FixtureRoutes.text("exabgp-4.2", "updates.jsonl"))
        let v427 = FixtureRoutes.v4["v4-27"]!
        let got = try #require(r.routes.first { $0.route.components == v427.components })
        #expect(got.route.actions == [.redirect(RouteTarget("192.0.2.1:100")!)], "0x8108 has an empty string but a full value")
    }
}
