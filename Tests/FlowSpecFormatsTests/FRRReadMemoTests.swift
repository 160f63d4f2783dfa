import Foundation
import Testing
import FlowSpec
import FlowSpecTestSupport
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

    // MARK: what changed (`lastChanges`)

    /// One route's array as FRR prints it: a path per rate (two reflectors give two).
    static func array(host: Int, port: Int, rates: [Int], badKey: Bool = false) -> String {
        let paths = rates.map { rate in
            """
              {
                "to":"203.0.113.\(host)/32",
                "proto":"= 6 ",
                "\(badKey ? "nope" : "dstp")":"= \(port) "
              },
              {
                "ecomlist":"FS:rate \(rate).000000"
              },
              {
                "time":"00:00:0\(host % 10)"
              }
            """
        }
        return "[\n" + paths.joined(separator: ",\n") + "\n]\n"
    }

    /// The routes a read leaves current, by NLRI.
    static func current(_ r: ReadResult) -> [RouteID: FlowRoute] {
        Dictionary(r.currentRoutes().map { ($0.route.id, $0.route) }, uniquingKeysWith: { _, b in b })
    }

    /// A RIB that changes at random between reads — routes come, go and change their rate, gain
    /// a second path, an array is refused, an NLRI turns up in two arrays, text comes between
    /// arrays, the RIB empties — read by one memo: whenever it gives `lastChanges`, they take the
    /// current routes of the read before to those of this one; they are given whenever this read
    /// and the one before were clean; and their positions are never those of an earlier read.
    @Test func changesTakeTheLastReadToThisOne() throws {
        var rng = SplitMix(state: 0x5eed_f22)
        // Host → (port, rates); an NLRI is host + port.
        var rib: [Int: (port: Int, rates: [Int])] = [:]
        for h in 0..<40 { rib[h] = (80, [0]) }
        let memo = FRRReadMemo()
        var held: [RouteID: FlowRoute] = [:]
        var previousClean = false
        var positions = Set<String>()
        var diffs = 0, snapshots = 0
        for step in 0..<400 {
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                let h = Int.random(in: 0..<64, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: rib[h] = nil
                case 1: rib[h] = (Int.random(in: 80...82, using: &rng), [Int.random(in: 0...2, using: &rng) * 1000])
                case 2: if let r = rib[h] { rib[h] = (r.port, r.rates + [Int.random(in: 0...2, using: &rng) * 1000]) }
                default: if let r = rib[h] { rib[h] = (r.port, [r.rates[0] + 1000]) }
                }
            }
            var arrays = rib.keys.sorted().map { h in Self.array(host: h, port: rib[h]!.port, rates: rib[h]!.rates) }
            let trouble = Int.random(in: 0..<20, using: &rng)
            var clean = true, damaged = false
            if trouble == 0 { arrays.insert(Self.array(host: 99, port: 80, rates: [0], badKey: true), at: 0); clean = false }
            if trouble == 1, let h = rib.keys.min() {
                // The same NLRI in a second array (FRR prints one per NLRI).
                arrays.append(Self.array(host: h, port: rib[h]!.port, rates: [7000]))
            }
            if trouble == 2, arrays.count >= 2 { arrays.insert("% Unknown command\n", at: arrays.count / 2); damaged = true }
            if trouble == 3 { rib = [:]; arrays = [] }
            let text = arrays.joined()
            let want = try FRRReader.read(text, family: .ipv4)
            let got = try memo.read(text, family: .ipv4)
            #expect(got.routes == want.routes && got.errors == want.errors, "step \(step): the whole read")
            clean = clean && !damaged && want.errors.isEmpty
            if let changes = memo.lastChanges {
                diffs += 1
                #expect(changes.errors.isEmpty)
                for r in changes.routes {
                    #expect(positions.insert(r.position).inserted, "step \(step): position \(r.position) given before")
                    if r.withdrawn { held[r.route.id] = nil } else { held[r.route.id] = r.route }
                }
                #expect(held == Self.current(want), "step \(step): the changes do not give this read's routes")
            } else {
                snapshots += 1
                #expect(!(clean && previousClean && trouble != 1), "step \(step): a clean read after a clean one gave no changes")
                held = Self.current(want)
            }
            for r in got.routes { positions.insert("read-whole " + r.position) }
            previousClean = clean && trouble != 1
        }
        #expect(diffs > 200 && snapshots > 20, "\(diffs) reads as changes, \(snapshots) whole")
    }
}
