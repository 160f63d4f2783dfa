import FlowSpec
@testable import FlowSpecFormats
import Foundation
import Testing

@Suite("GoBGP 3.10 rib -j and monitor -j")
struct GoBGPReaderTests {
    @Test func ribDumpsGiveEveryRouteOfTheReadmeLosslessly() throws {
        for (fam, ids, count) in [("ipv4", FixtureRoutes.allV4, 41), ("ipv6", FixtureRoutes.allV6, 14)] {
            let r = try GoBGPReader.read(try FixtureRoutes.text("gobgp-3.10", "\(fam)-flowspec.json"))
            #expect(r.errors.isEmpty, "\(r.errors)")
            #expect(r.routes.count == count)
            #expect(r.routes.allSatisfy { $0.warnings.isEmpty && !$0.withdrawn })
            let problems = FixtureMatch.compare(r.routes, expected: FixtureRoutes.routes(ids))
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }

    @Test func rejectSets() throws {
        let q = try GoBGPReader.read(try FixtureRoutes.text("frr-reject/gobgp-3.10", "ipv4-flowspec.json"))
        #expect(q.errors.isEmpty)
        #expect(FixtureMatch.compare(q.routes, expected: FixtureRoutes.routes(["q4-01", "q4-02", "q4-03"])).isEmpty)
        let q6 = try GoBGPReader.read(try FixtureRoutes.text("frr-reject/gobgp-3.10", "ipv6-flowspec.json"))
        #expect(q6.routes.isEmpty && q6.errors.isEmpty)
        // 0x8208 redirect printed in asdot: "1.0:100" is AS 65536.
        let x = try GoBGPReader.read(try FixtureRoutes.text("exabgp-reject/gobgp-3.10", "ipv4-flowspec.json"))
        #expect(x.errors.isEmpty)
        #expect(FixtureMatch.compare(x.routes, expected: FixtureRoutes.routes(["x4-01"])).isEmpty)
    }

    @Test func operatorBytesAreDecodedExactly() throws {
        // 0xd5: end | and | 2-octet value | lt | eq.
        let line = #"[{"nlri":{"value":[{"type":1,"value":{"prefix":"203.0.113.1/32"}},{"type":5,"value":[{"op":19,"value":1024},{"op":213,"value":2048}]},{"type":9,"value":[{"op":1,"value":2},{"op":194,"value":16}]}]},"attrs":[]}]"#
        let r = GoBGPReader.readMonitorLine(line)
        let route = try #require(r.routes.first).route
        #expect(route.component(.destinationPort) == .numeric(.destinationPort, [
            NumericTerm(gt: true, eq: true, value: 1024, valueLength: 2), NumericTerm(and: true, lt: true, eq: true, value: 2048, valueLength: 2)]))
        #expect(route.component(.tcpFlags) == .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 2), BitmaskTerm(and: true, not: true, value: 16)]))
    }

    @Test func ipv6OffsetIsReportedNotMisread() throws {
        let text = """
        {"[destination: ::10/128/64][protocol: ==udp]": [{"nlri":{"value":[{"type":1,"value":{"prefix":"0:0:0:10:311:8111::/128"},"offset":64}]},
          "attrs":[{"type":14,"nexthop":"::","afi":2,"safi":133,"value":[{"value":[{"type":1,"value":{"prefix":"0:0:0:10:311:8111::/128"},"offset":64}]},{"value":[{"type":1,"value":{"prefix":"2001:db8::1/128"},"offset":0}]}]}]}],
         "[destination: 2001:db8::1/128/0]": [{"nlri":{"value":[{"type":1,"value":{"prefix":"2001:db8::1/128"},"offset":0}]},
          "attrs":[{"type":14,"nexthop":"::","afi":2,"safi":133,"value":[{"value":[{"type":1,"value":{"prefix":"0:0:0:10:311:8111::/128"},"offset":64}]},{"value":[{"type":1,"value":{"prefix":"2001:db8::1/128"},"offset":0}]}]}]}]}
        """
        let r = try GoBGPReader.read(text)
        #expect(r.errors.count == 1)
        #expect(r.errors.first?.position == "route 1")
        #expect(r.errors.first?.reason.contains("offset 64") == true)
        #expect(r.routes.count == 1)
        #expect(r.routes.first?.warnings.contains { $0.contains("non-zero offset") } == true)
    }

    @Test func truncatedDumpIsRefused() throws {
        let text = try FixtureRoutes.text("gobgp-3.10", "ipv6-flowspec.json")
        // Cut inside the 5th key's value: the routes before it are not a table.
        let keys = text.ranges(ofSubstring: "\"[destination: ")
        let cut = String(text[..<text.index(keys[4], offsetBy: 200)])
        #expect { try GoBGPReader.read(cut) } throws: { ($0 as? UnreadableInput)?.reason.contains("truncated") == true }
    }

    @Test func unknownComponentAndBadValueNameThePath() throws {
        let text = #"""
        {"a": [{"nlri":{"value":[{"type":1,"value":{"prefix":"203.0.113.1/32"}},{"type":14,"value":[{"op":129,"value":1}]}]},"attrs":[]}],
         "b": [{"nlri":{"value":[{"type":1,"value":{"prefix":"203.0.113.2/32"}},{"type":3,"value":[{"op":129,"value":300}]}]},"attrs":[]}],
         "c": [{"nlri":{"value":[{"type":1,"value":{"prefix":"203.0.113.3/32"}},{"type":3,"value":[{"op":129,"value":6}]}]},
                "attrs":[{"type":16,"value":[{"type":128,"subtype":12,"value":"DAAARhxAAA=="},{"type":3,"subtype":11,"color":5}]}]}]}
        """#
        let r = try GoBGPReader.read(text, family: .ipv4)
        #expect(r.errors.map(\.position) == ["route 1", "route 2"])
        #expect(r.errors[0].reason.contains("type 14"))
        #expect(r.errors[1].reason.contains("does not fit"))
        let c = r.routes.first
        // Unknown 0x800c (traffic-rate-packets) is kept from GoBGP's raw base64 octets.
        #expect(c?.route.actions == [.trafficRatePackets(asn: 0, packetsPerSecond: 10000)])
        #expect(c?.warnings.count == 1)
    }

    @Test func monitorLineMarksWithdrawalsAndSkipsOtherFamilies() {
        let line = #"[{"nlri":{"prefix":"198.51.100.0/24"},"age":1,"best":true,"attrs":[{"type":1,"value":0}]},{"nlri":{"value":[{"type":1,"value":{"prefix":"203.0.113.10/32"}},{"type":3,"value":[{"op":129,"value":6}]}]},"age":1,"best":false,"attrs":[{"type":16,"value":[{"type":128,"subtype":6,"as":0,"rate":0}]}],"stale":false,"withdrawal":true}]"#
        let r = GoBGPReader.readMonitorLine(line, lineNumber: 3)
        #expect(r.errors.isEmpty)
        #expect(r.routes.count == 1)
        #expect(r.routes.first?.withdrawn == true)
        #expect(r.routes.first?.position == "line 3, path 2")
        #expect(GoBGPReader.readMonitorLine("{not json", lineNumber: 4).errors.first?.position == "line 4")
    }
}

extension String {
    func ranges(ofSubstring s: String) -> [String.Index] {
        var out = [String.Index]()
        var from = startIndex
        while let r = self[from...].range(of: s) { out.append(r.lowerBound); from = r.upperBound }
        return out
    }
}

@Suite("GoBGP monitor lines without their MP_REACH lists")
struct GoBGPReachSkipTests {
    /// A monitor line as gobgpd 3.10 prints a path that came in an UPDATE of `count` routes:
    /// its MP_REACH lists all of them.
    static func monitorLine(_ n: Int, of count: Int, v6: Bool = false, offsetAt: Int? = nil, withdrawal: Bool = false) -> String {
        func nlri(_ k: Int) -> String {
            let prefix = v6 ? #"{"type":1,"value":{"prefix":"2001:db8::\#(String(k, radix: 16))/128"},"offset":\#(k == offsetAt ? 64 : 0)}"#
                            : #"{"type":1,"value":{"prefix":"203.0.\#(k / 256).\#(k % 256)/32"}}"#
            return #"{"value":[\#(prefix),{"type":3,"value":[{"op":129,"value":6}]},{"type":5,"value":[{"op":19,"value":1024},{"op":213,"value":2048}]}]}"#
        }
        let reach = v6 ? #"{"type":14,"nexthop":"::","afi":2,"safi":133,"value":["# : #"{"type":14,"nexthop":"0.0.0.0","afi":1,"safi":133,"value":["#
        let all = (0..<count).map(nlri).joined(separator: ",")
        let own = String(nlri(n).dropFirst(#"{"value":"#.count).dropLast())
        return #"[{"nlri":{"value":\#(own)},"age":1795736618,"best":false,"attrs":[{"type":1,"value":2},\#(reach)\#(all)]},{"type":16,"value":[{"type":128,"subtype":6,"as":0,"rate":0}]}],"stale":false\#(withdrawal ? #","withdrawal":true"# : "")}]"#
    }

    /// Skipping the MP_REACH lists reads every line as a full parse does (routes, withdrawals,
    /// warnings), and refuses to skip a list with an IPv6 offset (whose warning needs it).
    @Test func monitorLinesReadTheSameWithoutTheReachLists() {
        var lines = [GoBGPReachSkipTests.monitorLine(7, of: 130), GoBGPReachSkipTests.monitorLine(0, of: 1), GoBGPReachSkipTests.monitorLine(129, of: 130, withdrawal: true),
                     GoBGPReachSkipTests.monitorLine(3, of: 40, v6: true), GoBGPReachSkipTests.monitorLine(3, of: 40, v6: true, offsetAt: 20)]
        // The list as the first member, a string with an escaped quote before it, and a cut line.
        lines.append(lines[0].replacingOccurrences(of: #"{"type":14,"nexthop":"0.0.0.0","afi":1,"safi":133,"value":"#, with: #"{"type":14,"value":"#)
            .replacingOccurrences(of: #"]},{"type":16"#, with: #"],"nexthop":"0.0.0.0","afi":1,"safi":133},{"type":16"#))
        lines.append(lines[0].replacingOccurrences(of: #""stale":false"#, with: #""note":"a \"quoted\" ] {","stale":false"#))
        lines.append(String(lines[0].prefix(lines[0].count / 2)))
        for (i, line) in lines.enumerated() {
            let skipped = GoBGPReader.readMonitorLine(line)
            let full = GoBGPReader.monitorLine(JSONLine(line), lineNumber: 1, family: nil)
            #expect(skipped.routes == full.routes && skipped.errors == full.errors, "line \(i)")
            #expect(i == 7 || (skipped.errors.isEmpty && skipped.routes.count == 1), "line \(i): \(skipped.errors)")
        }
        #expect(GoBGPReader.withoutReachNLRIs(lines[0]).utf8.count < 600 && lines[0].utf8.count > 20_000)
        #expect(GoBGPReader.withoutReachNLRIs(lines[4]) == lines[4], "a list with an offset stays")
        #expect(GoBGPReader.withoutReachNLRIs(lines[7]) == lines[7], "a cut line stays")
        #expect(GoBGPReader.readMonitorLine(lines[4]).routes.first?.warnings.contains { $0.contains("non-zero offset") } == true)
        #expect(GoBGPReader.readMonitorLine(lines[2]).routes.first?.withdrawn == true, "\(GoBGPReader.readMonitorLine(lines[2]).errors) \(lines[2].suffix(300))")
    }
}
