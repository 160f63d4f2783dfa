#if canImport(Glibc)
import Glibc
#endif
import Testing
import FlowSpec
@testable import FlowSpecBGP

/// Routes to 203.0.113.`i`/32 (IPv4) or 2001:db8::`i`/128 (IPv6), one per `i`.
func hostRoutes(_ family: AddressFamily, _ range: Range<Int>) -> [[Component]] {
    range.map { i in
        [.destinationPrefix(FlowPrefix(family == .ipv4 ? "203.0.113.\(i)/32" : "2001:db8::\(String(i, radix: 16))/128")!)]
    }
}

func announcement(_ family: AddressFamily, _ range: Range<Int>) -> UpdateResult {
    var u = UpdateResult()
    u.announced = hostRoutes(family, range).map { FlowRoute(family: family, components: $0, extendedCommunities: [drop]) }
    return u
}

func withdrawal(_ family: AddressFamily, _ range: Range<Int>) -> UpdateResult {
    var u = UpdateResult()
    u.withdrawn = hostRoutes(family, range).map { RouteID(FlowRoute(family: family, components: $0)) }
    return u
}

@Suite struct RouteLimitRIBTests {
    @Test func refuseKeepsTheFirstRoutesAndLetsReplacementsAndWithdrawalsThrough() {
        var rib = AdjRIBIn()
        var refused: [AddressFamily: Int] = [:]
        let limit = RouteLimit(total: 5, perFamily: [.ipv6: 2])
        #expect(rib.applyKeys(announcement(.ipv4, 0..<4), limit: limit, refused: &refused).count == 4)
        // Two IPv6 fit their family's limit; the total is then 6 > 5: the second is refused too.
        #expect(rib.applyKeys(announcement(.ipv6, 0..<3), limit: limit, refused: &refused).count == 1)
        #expect(refused == [.ipv6: 2] && rib.routes.count == 5)
        // A replacement of a held route (new communities) goes through at the limit.
        var replace = announcement(.ipv4, 0..<1)
        replace.announced[0].extendedCommunities = [ExtendedCommunity(rawValue: 0x8006_0000_47f4_2400)]
        #expect(rib.applyKeys(replace, limit: limit, refused: &refused).count == 1)
        // Withdrawals make room, in the same UPDATE as the announcements they make room for.
        var both = withdrawal(.ipv4, 0..<2)
        both.announced = announcement(.ipv4, 10..<13).announced
        refused = [:]
        #expect(rib.applyKeys(both, limit: limit, refused: &refused).count == 4)
        #expect(refused == [.ipv4: 1] && rib.count(.ipv4) == 4 && rib.routes.count == 5)
    }

    @Test func excessNamesTheFamilyAndLimitWithoutChangingTheRIB() {
        var rib = AdjRIBIn()
        rib.apply(announcement(.ipv4, 0..<3))
        let limit = RouteLimit(total: 4, perFamily: [.ipv6: 1], action: .restart)
        #expect(rib.excess(of: announcement(.ipv4, 0..<4), within: limit) == nil)         // one new: 4
        #expect(rib.excess(of: announcement(.ipv4, 3..<5), within: limit)! == (.ipv4, 4))  // 5 > 4
        #expect(rib.excess(of: announcement(.ipv6, 0..<2), within: limit)! == (.ipv6, 1))
        var swap = withdrawal(.ipv4, 0..<2)
        swap.announced = announcement(.ipv4, 5..<8).announced                            // 3 - 2 + 3 = 4
        #expect(rib.excess(of: swap, within: limit) == nil)
        #expect(rib.routes.count == 3)
    }
}

@Suite(.serialized) struct RouteLimitSessionTests {
    func config(_ limit: RouteLimit) -> SpeakerConfig {
        SpeakerConfig(localAS: 65001, routerID: 0x0202_0202, listenAddress: IPAddress("127.0.0.1")!, listenPort: 0,
                      peers: [PeerConfig(address: IPAddress("127.0.0.1")!, peerAS: 65309, passive: true, routeLimit: limit)],
                      holdTime: 3, connectRetryTime: 1, debounce: 0.1, maxDebounceDelay: 1, initialSyncTimeout: 10, staleTime: 0)
    }

    @Test func refuseLeavesTheExcessOutAndKeepsTheSession() throws {
        let log = EventLog()
        let speaker = Speaker(config: config(RouteLimit(total: 3, action: .refuse)), onEvent: log.record)
        try speaker.start()
        defer { speaker.stop() }
        let peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        defer { peer.close() }
        _ = try #require(peer.handshake(holdTime: 0))
        peer.send(.update(.flowspec(family: .ipv4, announce: hostRoutes(.ipv4, 0..<5), extendedCommunities: [drop])))
        peer.send(.update(.flowspec(family: .ipv4)))
        peer.send(.update(.flowspec(family: .ipv6)))
        #expect(log.wait { log.snapshots.count == 1 })
        #expect(log.snapshots.first?.routes.count == 3)
        let st = speaker.status().peers[0]
        #expect(st.state == .established && st.refusedRoutes == 2 && st.routes[.ipv4] == 3)
        #expect(log.all.contains { if case .routeLimit(_, .ipv4, 3, .refuse, 2) = $0 { true } else { false } })
        // Room again after a withdrawal: a new route is taken.
        peer.send(.update(.flowspec(family: .ipv4, withdraw: hostRoutes(.ipv4, 0..<1))))
        peer.send(.update(.flowspec(family: .ipv4, announce: hostRoutes(.ipv4, 7..<8), extendedCommunities: [drop])))
        #expect(log.wait { log.snapshots.last?.routes.map(\.nlriBytes).contains(FlowRoute(family: .ipv4, components: hostRoutes(.ipv4, 7..<8)[0]).nlriBytes) == true })
        #expect(speaker.status().peers[0].routes[.ipv4] == 3)
    }

    @Test func restartSendsCease6_1AndHoldsThePeerDown() throws {
        let log = EventLog()
        let speaker = Speaker(config: config(RouteLimit(total: 3, action: .restart, restartDelay: 2)), onEvent: log.record)
        try speaker.start()
        defer { speaker.stop() }
        var peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        _ = try #require(peer.handshake(holdTime: 0))
        peer.send(.update(.flowspec(family: .ipv4, announce: hostRoutes(.ipv4, 0..<2), extendedCommunities: [drop])))
        peer.send(.update(.flowspec(family: .ipv4, announce: hostRoutes(.ipv4, 2..<4), extendedCommunities: [drop])))
        let cease = try #require(peer.read(type: 3))
        let downAt = monotonicNow()
        // Cease / Maximum Number of Prefixes Reached: AFI 1, SAFI 133, limit 3.
        #expect(Array(cease[19...]) == [6, 1, 0, 1, 133, 0, 0, 0, 3])
        #expect(peer.closedBySpeaker(within: 2))
        peer.close()
        #expect(log.wait(2) { speaker.status().peers[0].state == .idle && speaker.status().peers[0].heldDownFor != nil })
        #expect(speaker.status().peers[0].routeLimitRestarts == 1)
        #expect(log.all.contains { if case .routeLimit(_, .ipv4, 3, .restart, _) = $0 { true } else { false } })
        // Held down: a connection now is closed at once.
        let early = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        #expect(early.closedBySpeaker(within: 1))
        early.close()
        #expect(monotonicNow() - downAt < 2)
        // After the delay the peer is accepted again.
        #expect(log.wait(4) { speaker.status().peers[0].heldDownFor == nil })
        peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        defer { peer.close() }
        _ = try #require(peer.handshake(holdTime: 0))
        #expect(log.wait { speaker.status().peers[0].state == .established })
    }
}

@Suite(.serialized) struct ImportFilterSessionTests {
    @Test func routesTouchingProtectedTrafficAreRefusedCountedAndReported() throws {
        let filter = ImportFilter(entries: [
            .init(name: "the switch", family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.2/32")!)]),
        ])
        let config = SpeakerConfig(localAS: 65001, routerID: 0x0202_0202, listenAddress: IPAddress("127.0.0.1")!, listenPort: 0,
                                   peers: [PeerConfig(address: IPAddress("127.0.0.1")!, peerAS: 65309, passive: true)],
                                   holdTime: 3, debounce: 0.1, maxDebounceDelay: 1, initialSyncTimeout: 10, staleTime: 0,
                                   importFilter: filter)
        let log = EventLog()
        let speaker = Speaker(config: config, onEvent: log.record)
        try speaker.start()
        defer { speaker.stop() }
        let peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        defer { peer.close() }
        _ = try #require(peer.handshake(holdTime: 0))
        // 203.0.113.0..3/32: .2 is the switch; a /24 without a protocol touches it too.
        let toSwitchNet: [Component] = [.destinationPrefix(FlowPrefix("203.0.113.0/24")!), .numeric(.ipProtocol, [.equal(17)])]
        peer.send(.update(.flowspec(family: .ipv4, announce: hostRoutes(.ipv4, 0..<4) + [toSwitchNet], extendedCommunities: [drop])))
        peer.send(.update(.flowspec(family: .ipv4)))
        peer.send(.update(.flowspec(family: .ipv6)))
        #expect(log.wait { log.snapshots.count == 1 })
        let kept = Set(log.snapshots.first?.routes.map(\.nlriBytes) ?? [])
        let expected = Set([0, 1, 3].map { FlowRoute(family: .ipv4, components: hostRoutes(.ipv4, $0..<($0 + 1))[0]).nlriBytes })
        #expect(kept == expected)
        #expect(speaker.status().peers[0].importRefused == ["the switch": 2])
        #expect(log.all.contains { if case .importRefused(_, ["the switch": 2]) = $0 { true } else { false } })
        #expect(speaker.status().peers[0].state == .established)
    }
}
