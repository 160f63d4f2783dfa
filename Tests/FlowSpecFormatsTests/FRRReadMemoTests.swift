import Foundation
import Testing
import FlowSpec
@testable import FlowSpecFormats

/// `FRRReadMemo` reads what `FRRReader.read` reads — routes, positions, warnings, errors — on a
/// first read (nothing known), on a second of the same RIB a second older (every route known),
/// and after a change; damaged dumps go to the reader itself.
@Suite struct FRRReadMemoTests {
    static func same(_ memo: FRRReadMemo, _ text: String, _ family: AddressFamily, _ note: Comment) throws {
        let want = try FRRReader.read(text, family: family)
        let got = try memo.read(text, family: family)
        #expect(got.routes == want.routes, note)
        #expect(got.errors == want.errors, note)
    }

    /// Every route's age moved by `seconds`.
    static func older(_ text: String) -> String {
        text.replacingOccurrences(of: #""time":"00:"#, with: #""time":"01:"#)
            .replacingOccurrences(of: #""time": "00:"#, with: #""time": "01:"#)
    }

    @Test func theCapturedDumpsReadTheSame() throws {
        for (file, family) in [("ipv4-flowspec-detail.json", AddressFamily.ipv4), ("ipv6-flowspec-detail.json", .ipv6)] {
            let text = try FixtureRoutes.text("frr-8.4", file)
            #expect(text.contains("\"time\""), "the capture has route ages")
            let memo = FRRReadMemo()
            try Self.same(memo, text, family, "first read of \(file)")
            let arrays = memo.lastMisses
            #expect(arrays > 0 && memo.lastHits == 0)
            let aged = Self.older(text)
            #expect(aged != text)
            try Self.same(memo, aged, family, "the same RIB, older, \(file)")
            #expect(memo.lastMisses == 0 && memo.lastHits == arrays, "\(memo.lastHits) hits, \(memo.lastMisses) misses")
        }
    }

    static let route1 = """
    [
      {
        "to":"203.0.113.10/32",
        "proto":"= 6 ",
        "dstp":"= 80 "
      },
      {
        "ecomlist":"FS:rate 0.000000"
      },
      {
        "time":"00:00:09"
      }
    ]

    """
    static let route2 = route1.replacingOccurrences(of: "= 80 ", with: "= 443 ")
    static let refused = "[\n  {\n    \"ecomlist\":\"FS:rate 0.000000\"\n  }\n]\n"
    static let badComponent = route1.replacingOccurrences(of: "\"dstp\"", with: "\"nope\"")

    @Test func aChangeIsParsedAndTheRestTaken() throws {
        let memo = FRRReadMemo()
        try Self.same(memo, Self.route1 + Self.route2 + Self.refused + Self.badComponent, .ipv4, "first")
        // route 2 changed (its rate), the others a second older; the errors stay where they are.
        let changed = Self.route1 + Self.route2.replacingOccurrences(of: "rate 0.000000", with: "rate 1000.000000") + Self.refused + Self.badComponent
        try Self.same(memo, Self.older(changed), .ipv4, "after a change")
        #expect(memo.lastMisses == 1 && memo.lastHits == 3)
        // A route gone: the next ones move up a position.
        try Self.same(memo, Self.route1 + Self.refused + Self.badComponent, .ipv4, "a route gone")
        #expect(memo.lastMisses == 0)
        try Self.same(memo, "", .ipv4, "empty")
        try Self.same(memo, "\n", .ipv4, "blank")
    }

    @Test func damagedDumpsAreTheReadersOwn() throws {
        let memo = FRRReadMemo()
        let garbage = Self.route1 + "% Unknown command\n" + Self.route2
        try Self.same(memo, garbage, .ipv4, "text between routes")
        let cutString = Self.route1 + "[\n  {\n    \"to\":\"203.0.113.11/32\n  }\n]\n" + Self.route2
        try Self.same(memo, cutString, .ipv4, "a string cut at its line's end")
        let unclosed = Self.route1 + "[\n  {\n    \"to\":\"203.0.113.11/32\"\n" + Self.route2
        try Self.same(memo, unclosed, .ipv4, "an array not closed before the next")
        let truncated = Self.route1 + "[\n  {\n    \"to\":\"203.0.113.11/32\""
        #expect(throws: UnreadableInput.self) { _ = try memo.read(truncated, family: .ipv4) }
        #expect(throws: UnreadableInput.self) { _ = try memo.read("{\"routes\":[]}", family: .ipv4) }
        // And a clean dump after them reads the same again.
        try Self.same(memo, Self.route1 + Self.route2, .ipv4, "clean again")
    }
}
