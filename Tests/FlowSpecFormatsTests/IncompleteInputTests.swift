import FlowSpec
@testable import FlowSpecFormats
import Testing

/// Complete input or nothing (issue #18): each reader refuses an input cut short, so a cut dump
/// or capture never reads as a smaller table; an input whose every item was rejected is told apart
/// from an empty table.
@Suite("Incomplete input")
struct IncompleteInputTests {
    /// One fixture and the reader for its format.
    struct Format: Sendable, CustomTestStringConvertible {
        var name: String
        var text: @Sendable () throws -> String
        var read: @Sendable (String) throws -> ReadResult
        var testDescription: String { name }
    }

    static let formats: [Format] = [
        Format(name: "frr ipv4", text: { try FixtureRoutes.text("frr-8.4", "ipv4-flowspec-detail.json") }, read: { try FRRReader.read($0) }),
        Format(name: "frr ipv6", text: { try FixtureRoutes.text("frr-8.4", "ipv6-flowspec-detail.json") }, read: { try FRRReader.read($0) }),
        Format(name: "gobgp ipv4", text: { try FixtureRoutes.text("gobgp-3.10", "ipv4-flowspec.json") }, read: { try GoBGPReader.read($0) }),
        Format(name: "gobgp ipv6", text: { try FixtureRoutes.text("gobgp-3.10", "ipv6-flowspec.json") }, read: { try GoBGPReader.read($0) }),
        Format(name: "exabgp", text: { try FixtureRoutes.text("exabgp-4.2", "updates.jsonl") }, read: { try ExaBGPReader.read($0) }),
        Format(name: "bgp hex", text: { try Captures.hexText("flowspec-updates") }, read: { try BGPHexReader.read($0) }),
        Format(name: "nlri hex", text: {
            FixtureRoutes.routes(FixtureRoutes.allV4).map { hexString($0.route.nlriWithLength) }.joined(separator: "\n")
        }, read: { try NLRIHexReader.read($0, family: .ipv4) }),
        Format(name: "json", text: { try FixtureRoutes.text("json", "default-routes.json") }, read: { try CanonicalJSON.read($0) }),
    ]

    /// The fixture cut at `fraction` of its length (in characters), moved off line ends: a cut
    /// there leaves whole lines, a shorter but complete input for the line-based formats.
    static func cut(_ text: String, at fraction: Double) -> String {
        let chars = Array(text)
        var k = max(1, Int(Double(chars.count) * fraction))
        while k < chars.count - 1, chars[k - 1] == "\n" || chars[k] == "\n" || chars[k - 1] == " " { k += 1 }
        return String(chars[..<k])
    }

    @Test(arguments: formats)
    func fixturesReadWhole(_ f: Format) throws {
        let r = try f.read(try f.text())
        #expect(!r.routes.isEmpty && !r.nothingUsable)
    }

    @Test(arguments: formats)
    func fixturesCutShortAreRefused(_ f: Format) throws {
        let text = try f.text()
        for fraction in [0.5, 0.1, 0.25, 0.37, 0.61, 0.75, 0.9, 0.99] {
            let cut = Self.cut(text, at: fraction)
            // With or without a final newline (a tool that ends what it prints with one).
            for input in [cut, cut + "\n"] {
                #expect("\(f.name) cut at \(fraction)") { try f.read(input) } throws: { error in
                    let reason = (error as? UnreadableInput)?.reason ?? ""
                    // The canonical reader already refused cut input before issue #18, with its own wording.
                    return f.name == "json" ? !reason.isEmpty : reason.contains("truncated")
                }
            }
        }
    }

    @Test func truncationReasonsSayWhere() throws {
        let frr = Self.cut(try FixtureRoutes.text("frr-8.4", "ipv4-flowspec-detail.json"), at: 0.5)
        #expect { try FRRReader.read(frr) } throws: { ($0 as? UnreadableInput)?.reason.contains("inside route ") == true }
        let exa = Self.cut(try FixtureRoutes.text("exabgp-4.2", "updates.jsonl"), at: 0.5)
        #expect { try ExaBGPReader.read(exa) } throws: { ($0 as? UnreadableInput)?.reason.contains("the last one, is cut") == true }
        let hex = Self.cut(try Captures.hexText("flowspec-updates"), at: 0.5)
        #expect { try BGPHexReader.read(hex) } throws: { ($0 as? UnreadableInput)?.reason.contains("the last one, is cut short") == true }
        let gobgp = String(try FixtureRoutes.text("gobgp-3.10", "ipv4-flowspec.json").prefix(300))
        #expect { try GoBGPReader.read(gobgp) } throws: { ($0 as? UnreadableInput)?.reason.contains("truncated input: it ends inside GoBGP's dump (line 1)") == true }
    }

    /// In the daemon's line-by-line readers a cut line is that line's error, not the stream's end.
    @Test func aCutLineIsThatLinesError() throws {
        let line = try #require(try FixtureRoutes.text("exabgp-4.2", "updates.jsonl").split(separator: "\n").first)
        let exa = ExaBGPReader.readMessage(String(line.prefix(line.count / 2)), lineNumber: 7).result
        #expect(exa.errors.map(\.position) == ["line 7"])
        #expect(exa.errors.first?.reason.hasPrefix("incomplete JSON") == true)
        let gobgp = GoBGPReader.readMonitorLine(#"[{"nlri":{"value":[{"type":1,"#, lineNumber: 3)
        #expect(gobgp.errors.map(\.position) == ["line 3"])
        #expect(gobgp.errors.first?.reason.hasPrefix("incomplete JSON") == true)
        // A cut line followed by whole ones is its own error in a capture too.
        let lines = try FixtureRoutes.text("exabgp-4.2", "updates.jsonl").split(separator: "\n").map(String.init)
        let capture = [String(lines[0].prefix(lines[0].count / 2))] + lines.dropFirst()
        let r = try ExaBGPReader.read(capture.joined(separator: "\n"))
        #expect(r.errors.first?.position == "line 1")
        #expect(throws: UnreadableInput.self) { try GoBGPReader.readMonitor("[]\n[{\"nlri\"") }
    }

    @Test func emptyTablesStayReadable() throws {
        for r in [try FRRReader.read(""), try GoBGPReader.read("{}\n"), try ExaBGPReader.read(""), try BGPHexReader.read("# no message\n"),
                  try NLRIHexReader.read("# no NLRI\n", family: .ipv4), try CanonicalJSON.read("[]")] {
            #expect(r.routes.isEmpty && r.errors.isEmpty && !r.nothingUsable)
        }
    }

    @Test func emptyInputIsRefusedWhereTheSpeakerPrintsSomething() {
        // gobgp prints `{}` for an empty table; a hex capture has at least a comment.
        #expect(throws: UnreadableInput.self) { try GoBGPReader.read(" \n") }
        #expect(throws: UnreadableInput.self) { try BGPHexReader.read("") }
        #expect(throws: UnreadableInput.self) { try NLRIHexReader.read("\n \n", family: .ipv4) }
    }

    @Test func notAGoBGPDumpIsRefused() {
        #expect(throws: UnreadableInput.self) { try GoBGPReader.read("[]") }
        #expect(throws: UnreadableInput.self) { try GoBGPReader.read(#"{"a": [}"#) }
        #expect(throws: UnreadableInput.self) { try GoBGPReader.read("{} x") }
    }

    @Test func everyItemRejectedIsNothingUsable() throws {
        let frr = try FRRReader.read("[\n]\n[\n  {\n    \"color\":\"= 6 \"\n  }\n]\n")
        #expect(frr.nothingUsable && frr.errors.count == 2)
        let gobgp = try GoBGPReader.read(#"{"a": 1, "b": [{"nlri":{"value":[]}}]}"#)
        #expect(gobgp.nothingUsable)
        let exa = try ExaBGPReader.read("{\"neighbor\": {\"message\": {\"update\": {\"announce\": {\"ipv4 flow\": {\"no-nexthop\": [{\"color\": [\"=6\"]}]}}}}}}\n")
        #expect(exa.nothingUsable)
        #expect(try BGPHexReader.read(String(repeating: "00", count: 16) + "001304").nothingUsable)
        #expect(try NLRIHexReader.read("03030106", family: .ipv4).nothingUsable)
        // Both dumps concatenated read as one.
        let both = try GoBGPReader.read(try FixtureRoutes.text("gobgp-3.10", "ipv4-flowspec.json") + (try FixtureRoutes.text("gobgp-3.10", "ipv6-flowspec.json")))
        #expect(both.routes.count == (try GoBGPReader.read(try FixtureRoutes.text("gobgp-3.10", "ipv4-flowspec.json"))).routes.count
                + (try GoBGPReader.read(try FixtureRoutes.text("gobgp-3.10", "ipv6-flowspec.json"))).routes.count)
    }
}
