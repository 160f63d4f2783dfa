import Testing
import FlowSpec
@testable import FlowSpecBGP

/// A flood's cost in the speaker: each UPDATE costs what it touches, not the RIB, and a RIB
/// emptied again gives its storage back.
@Suite(.serialized) struct FloodCostTests {
    /// Routes to 10.x.y.z/32: `count` of them from `start`.
    static func routes(_ start: Int, _ count: Int) -> [FlowRoute] {
        (start..<(start + count)).map { i in
            FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0x0a00_0000 | UInt32(i)), length: 32)!)],
                      extendedCommunities: [drop])
        }
    }

    static func update(_ routes: [FlowRoute]) -> UpdateResult {
        var u = UpdateResult(); u.announced = routes; return u
    }

    /// A book holding `size` routes of one peer, delivered.
    static func book(holding size: Int) -> RouteBook {
        var b = RouteBook(peers: ["p"], debounce: 0, maxDelay: 0, initialTimeout: 0, staleTime: 0, now: 0)
        b.sessionUp("p", families: [.ipv4], now: 0)
        for chunk in stride(from: 0, to: size, by: 4) { b.apply("p", update(routes(chunk, min(4, size - chunk))), now: 0) }
        _ = b.tick(now: 1)
        return b
    }

    /// Seconds to apply and deliver 2,000 new routes in UPDATEs of 4 (the flood shape),
    /// the `round`th such batch.
    static func changeCost(_ b: inout RouteBook, round: Int) -> Double {
        let t0 = monotonicNow()
        let first = 1_000_000 + round * 2000
        for chunk in stride(from: 0, to: 2000, by: 4) { b.apply("p", update(routes(first + chunk, 4)), now: Double(2 * round + 2)) }
        let snap = b.tick(now: Double(2 * round + 3))
        let t = monotonicNow() - t0
        #expect(snap?.changes?.announced.count == 2000)
        return t
    }

    @Test func anUpdateCostsWhatItTouchesNotTheRIB() {
        var small = Self.book(holding: 1_000), large = Self.book(holding: 100_000)
        #expect(large.merged.count == 100_000)
        // Best of three batches each (the machine is shared), on the books themselves: a copy
        // would make the first change copy the whole RIB.
        let s = (0..<3).map { Self.changeCost(&small, round: $0) }.min()!
        let l = (0..<3).map { Self.changeCost(&large, round: $0) }.min()!
        print("2,000 changes: \(s) s beside 1k routes, \(l) s beside 100k")
        // Proportional to the RIB, 100 times the routes would cost ~100 times as much.
        #expect(l < s * 4 + 0.05, "2,000 changes: \(s) s beside 1k routes, \(l) s beside 100k")
    }

    @Test func changesComeInThePeersOrder() {
        var b = Self.book(holding: 0)
        let rs = Self.routes(500, 3).reversed() + Self.routes(100, 2)
        b.apply("p", Self.update(Array(rs)), now: 1)
        #expect(b.tick(now: 2)?.changes?.announced == Array(rs))
    }

    @Test func anEmptiedRIBGivesItsStorageBack() {
        var b = Self.book(holding: 50_000)
        let grown = b.merged.capacity
        for chunk in stride(from: 0, to: 50_000, by: 4) {
            var u = UpdateResult()
            u.withdrawn = Self.routes(chunk, 4).map(RouteID.init)
            b.apply("p", u, now: 2)
        }
        _ = b.tick(now: 3)
        #expect(grown >= 50_000)
        #expect(b.merged.isEmpty && b.merged.capacity <= 1024 * 2, "merged keeps room for \(b.merged.capacity)")
        #expect(b.peers["p"]!.current.routes.capacity <= 1024 * 2)
    }
}
