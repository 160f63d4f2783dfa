#if canImport(Glibc)
import Glibc
#endif
import Testing
import FlowSpec
@testable import FlowSpecBGP

/// Collects the speaker's events through its `onEvent` callback (on the loop thread, so the
/// blocking tests cannot starve it); tests poll it with a deadline.
final class EventLog: @unchecked Sendable {
    private let lock = Lock()
    private var items: [SpeakerEvent] = []

    func record(_ e: SpeakerEvent) { lock.withLock { items.append(e) } }

    var all: [SpeakerEvent] { lock.withLock { items } }
    var snapshots: [RouteSnapshot] { all.compactMap { if case .routes(let s) = $0 { s } else { nil } } }
    var faults: [UpdateFault] { all.flatMap { e -> [UpdateFault] in if case .updateFaults(_, let f) = e { f } else { [] } } }
    var reasons: [String] { all.compactMap { if case .peerState(_, _, _, let r) = $0 { r } else { nil } } }

    /// Waits up to `timeout` seconds for `condition`.
    func wait(_ timeout: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = monotonicNow() + timeout
        while monotonicNow() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

/// A BGP peer scripted byte by byte over a blocking TCP socket.
final class ScriptedPeer {
    let fd: Int32

    init(fd: Int32) { self.fd = fd; setTimeout(seconds: 5) }

    static func connect(port: UInt16, host: String = "127.0.0.1", from source: String? = nil) -> ScriptedPeer? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var (local, localLen) = Sock.storage(IPAddress(source)!, port: 0)
            let b = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, localLen) } }
            guard b == 0 else { Glibc.close(fd); return nil }
        }
        var (ss, len) = Sock.storage(IPAddress(host)!, port: port)
        let rc = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) } }
        guard rc == 0 else { Glibc.close(fd); return nil }
        return ScriptedPeer(fd: fd)
    }

    func setTimeout(seconds s: Int) {
        var tv = timeval(tv_sec: s, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ b: [UInt8]) { _ = b.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    func send(_ m: BGPMessage) { send(bytes(m)) }

    private func readExactly(_ n: Int) -> [UInt8]? {
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: n)
        while out.count < n {
            let k = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, n - out.count, 0) }
            guard k > 0 else { return nil }
            out += buf[0..<k]
        }
        return out
    }

    /// The next whole message, or nil on EOF/timeout.
    func read() -> [UInt8]? {
        guard let h = readExactly(19) else { return nil }
        let len = Int(h[16]) << 8 | Int(h[17])
        guard len > 19 else { return h }
        guard let rest = readExactly(len - 19) else { return nil }
        return h + rest
    }

    /// Reads until a message of `type` arrives (skipping KEEPALIVEs etc.).
    func read(type: UInt8) -> [UInt8]? {
        while let m = read() { if m[18] == type { return m } }
        return nil
    }

    /// OPEN exchange up to Established from the peer's side.
    func handshake(holdTime: UInt16 = 3, id: UInt32 = 0x0101_0101) -> OpenMessage? {
        guard let o = read(type: 1), let open = try? OpenMessage.decode(body: Array(o[19...])) else { return nil }
        send(OpenMessage(localAS: 65309, holdTime: holdTime, identifier: id).message)
        send(.keepalive)
        guard read(type: 4) != nil else { return nil }
        return open
    }

    func close() { Glibc.close(fd) }

    /// Whether the speaker closed the connection (EOF, after any NOTIFICATION) within `seconds`.
    func closedBySpeaker(within seconds: Int = 3) -> Bool {
        setTimeout(seconds: seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let k = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if k > 0 { continue }   // OPEN, NOTIFICATION: read on to the end
            if k == 0 { return true }
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
        }
    }
}

@Suite(.serialized) struct LoopbackTests {
    func config(peers: [PeerConfig]) -> SpeakerConfig {
        SpeakerConfig(localAS: 65001, routerID: 0x0202_0202, listenAddress: IPAddress("127.0.0.1")!, listenPort: 0,
                      peers: peers, holdTime: 3, connectRetryTime: 1, debounce: 0.1, maxDebounceDelay: 1,
                      initialSyncTimeout: 10, staleTime: 1)
    }

    func established(_ s: Speaker) -> Bool { s.status().peers.first?.state == .established }

    /// A speaker waiting for one peer on 127.0.0.1, its events in `log`.
    func passiveSpeaker(_ log: EventLog) -> Speaker {
        Speaker(config: config(peers: [PeerConfig(address: IPAddress("127.0.0.1")!, peerAS: 65309, passive: true)]), onEvent: log.record)
    }

    @Test func scriptedPeerRoutesGarbageResetsAndStalls() throws {
        let log = EventLog()
        let speaker = passiveSpeaker(log)
        try speaker.start()
        defer { speaker.stop() }
        let a = hexBytes(nlriA), b = hexBytes(nlriB)

        // Session 1: OPEN carries our capabilities; two routes, End-of-RIB for both families.
        var peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        let open = try #require(peer.handshake())
        #expect(open.flowspecFamilies == [.ipv4, .ipv6] && open.supportsRouteRefresh && open.autonomousSystem == 65001)
        #expect(log.wait { established(speaker) })
        peer.send(.update(.flowspec(family: .ipv4, announce: [route(.ipv4, nlriA), route(.ipv4, nlriB)], extendedCommunities: [drop])))
        peer.send(.update(.flowspec(family: .ipv4)))
        peer.send(.update(.flowspec(family: .ipv6)))
        #expect(log.wait { log.snapshots.count == 1 })
        let first = try #require(log.snapshots.first)
        #expect(first.initial && first.synchronized)
        // Delivered in NLRI byte order: B (01 18 ...) before A (01 20 ...).
        #expect(first.routes.map(\.nlriBytes) == [b, a] && first.routes.allSatisfy { $0.extendedCommunities == [drop] })

        // RFC 7606 §7.14: a malformed extended community withdraws route A, keeps the session.
        let badExt = rawUpdate(origin + asPath + mpReach(.ipv4, [a]) + attr(0xc0, 16, [1, 2, 3]))
        peer.send([UInt8](repeating: 0xff, count: 16) + [0, UInt8(19 + badExt.count), 2] + badExt)
        #expect(log.wait { log.snapshots.count == 2 })
        #expect(log.snapshots.last?.routes.map(\.nlriBytes) == [b])
        #expect(log.faults.contains { $0.rule == "RFC 7606 §7.14" })
        #expect(established(speaker))
        // Counted for the metrics: four UPDATEs, one of them treated as withdrawn.
        #expect(speaker.status().peers[0].updates == 4 && speaker.status().peers[0].treatAsWithdraw == 1)
        // ROUTE-REFRESH reaches the peer for both families.
        speaker.requestRefresh()
        let rr = try #require(peer.read(type: 5))
        #expect(Array(rr[19...]) == [0, 1, 0, 133])

        // Garbage: a broken marker → NOTIFICATION 1/1, connection closed; routes kept 1 s (stale).
        peer.send([UInt8](repeating: 0xee, count: 19))
        let n = try #require(peer.read(type: 3))
        #expect(Array(n[19...20]) == [1, 1])
        #expect(peer.read() == nil)
        peer.close()
        #expect(log.wait { !established(speaker) })
        #expect(speaker.status().peers[0].staleRoutes == 1)
        #expect(log.wait { log.snapshots.last?.routes.isEmpty == true })

        // Session 2 on a new connection: the listener kept running.
        peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        _ = try #require(peer.handshake())
        peer.send(.update(.flowspec(family: .ipv4, announce: [route(.ipv4, nlriA)])))
        #expect(log.wait { log.snapshots.last?.routes.map(\.nlriBytes) == [a] })
        let st = speaker.status().peers[0]
        #expect(st.state == .established && st.routes[.ipv4] == 1 && st.holdTime == 3 && st.uptime != nil)

        // Stall: the peer stops talking; after the 3 s hold time the speaker sends 4/0.
        let start = monotonicNow()
        let hold = try #require(peer.read(type: 3))
        #expect(Array(hold[19...20]) == [4, 0])
        #expect(monotonicNow() - start > 2 && monotonicNow() - start < 5)
        peer.close()
        #expect(log.wait { log.reasons.contains { $0.contains("hold timer expired") } })

        // Session 3: an OPEN with the wrong AS gets 2/2.
        peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        _ = peer.read(type: 1)
        peer.send(OpenMessage(localAS: 65777, holdTime: 90, identifier: 9).message)
        let bad = try #require(peer.read(type: 3))
        #expect(Array(bad[19...20]) == [2, 2])
        peer.close()
    }

    @Test func silentConnectionsGetOnePendingPlaceAndTheOpenTimeout() throws {
        var cfg = config(peers: [PeerConfig(address: IPAddress("127.0.0.1")!, peerAS: 65309, passive: true)])
        cfg.openHoldTime = 1
        let log = EventLog()
        let speaker = Speaker(config: cfg, onEvent: log.record)
        try speaker.start()
        defer { speaker.stop() }

        // A connection from an address that is not a peer is closed at once, and counted.
        let stranger = try #require(ScriptedPeer.connect(port: speaker.boundPort, from: "127.0.0.2"))
        #expect(stranger.closedBySpeaker(within: 2))
        stranger.close()
        #expect(log.wait(2) { speaker.status().unknownConnections == 1 })
        #expect(log.wait(2) {
            log.all.contains { if case .connectionsRefused(let c) = $0 { c["127.0.0.2: not a configured peer"] == 1 } else { false } }
        })

        // 40 silent connections from the peer's address: each new one takes the one pending
        // place from the one before, which is closed (6/5) at once; the last is held only for
        // the pre-OPEN timeout (1 s), then closed with 4/0.
        var idle = [ScriptedPeer]()
        for _ in 0..<40 { idle.append(try #require(ScriptedPeer.connect(port: speaker.boundPort))) }
        defer { idle.forEach { $0.close() } }
        let start = monotonicNow()
        for c in idle.dropLast() { #expect(c.closedBySpeaker(within: 3)) }
        #expect(log.wait(3) { speaker.status().peers[0].refusedConnections == 39 })
        let last = try #require(idle.last)
        #expect(last.read(type: 1) != nil)                   // it was sent our OPEN
        let hold = try #require(last.read(type: 3))
        #expect(Array(hold[19...20]) == [4, 0])
        #expect(monotonicNow() - start < 3)
        #expect(last.closedBySpeaker(within: 2))

        // A pending connection that has sent its OPEN keeps its place: a newer one is closed.
        let real = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        defer { real.close() }
        _ = try #require(real.read(type: 1))
        real.send(OpenMessage(localAS: 65309, holdTime: 3, identifier: 0x0101_0101).message)
        _ = try #require(real.read(type: 4))                  // OpenConfirm on the speaker's side
        let late = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        #expect(late.closedBySpeaker(within: 2))
        late.close()
        real.send(.keepalive)
        #expect(log.wait { established(speaker) })
        // Established, and a new connection from the peer's address may still open (a restarted
        // peer; collision detection then settles it): the session stays.
        let again = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        #expect(again.read(type: 1) != nil)
        again.send(OpenMessage(localAS: 65309, holdTime: 3, identifier: 0x0101_0101).message)
        let cease = try #require(again.read(type: 3))
        #expect(Array(cease[19...20]) == [6, 7])
        again.close()
        #expect(established(speaker))
    }

    /// A flood sent at once reaches the application in parts while the speaker still reads and
    /// debounces (`routesChanging`), completed by one `routes` event; the parts and the last
    /// delivery together hold every route, each once, and the withdrawal of them all likewise.
    @Test func aFloodIsGivenOutInPartsCompletedByOneDelivery() throws {
        let log = EventLog()
        let speaker = passiveSpeaker(log)
        try speaker.start()
        defer { speaker.stop() }
        let peer = try #require(ScriptedPeer.connect(port: speaker.boundPort))
        defer { peer.close() }
        _ = try #require(peer.handshake(holdTime: 0))
        peer.send(.update(.flowspec(family: .ipv4)))
        peer.send(.update(.flowspec(family: .ipv6)))
        #expect(log.wait { log.snapshots.count == 1 })
        // 40,000 routes in UPDATEs of 4, in four writes 20 ms apart (within the 0.1 s debounce):
        // each of the speaker's loop iterations that reads past `changesInProgressMinimum`
        // changes gives them out.
        let n = 40_000
        let nlris: [[Component]] = (0..<n).map { i in
            [.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0xcb00_7100 | UInt32(i & 0xff)), length: 32)!),
             .numeric(.destinationPort, [.equal(UInt64(1 + i / 256))])]
        }
        func flood(withdraw: Bool) {
            for chunk in stride(from: 0, to: n, by: n / 4) {
                var bytes = [UInt8]()
                for k in stride(from: chunk, to: chunk + n / 4, by: 4) {
                    let part = Array(nlris[k..<k + 4])
                    bytes += FlowSpecBGPTests.bytes(.update(withdraw ? .flowspec(family: .ipv4, withdraw: part)
                                                                  : .flowspec(family: .ipv4, announce: part, extendedCommunities: [drop])))
                }
                peer.send(bytes)
                usleep(20_000)
            }
        }
        func deliveries() -> (parts: [RouteChanges], last: RouteChanges?) {
            var parts: [RouteChanges] = [], last: RouteChanges?
            for e in log.all.dropFirst(eventsBefore) {
                if case .routesChanging(let c) = e { #expect(last == nil, "a part after the delivery that completes it"); parts.append(c) }
                if case .routes(let s) = e { last = s.changes }
            }
            return (parts, last)
        }
        var eventsBefore = log.all.count
        flood(withdraw: false)
        #expect(log.wait(30) { deliveries().last != nil })
        var (parts, last) = deliveries()
        #expect(!parts.isEmpty)
        var announced = parts.flatMap(\.announced) + (last?.announced ?? [])
        #expect(announced.count == n && Set(announced.map(\.id)).count == n)
        #expect(parts.allSatisfy { $0.withdrawn.isEmpty } && last?.withdrawn.isEmpty == true)
        #expect(log.snapshots.last?.routesByKey.count == n)

        eventsBefore = log.all.count
        flood(withdraw: true)
        #expect(log.wait(30) { deliveries().last != nil })
        (parts, last) = deliveries()
        #expect(!parts.isEmpty)
        announced = parts.flatMap(\.announced) + (last?.announced ?? [])
        let withdrawn = parts.flatMap(\.withdrawn) + (last?.withdrawn ?? [])
        #expect(announced.isEmpty && withdrawn.count == n && Set(withdrawn.map(\.id)).count == n)
        #expect(log.snapshots.last?.routesByKey.isEmpty == true)
    }

    @Test func eventsStreamEndsOnStop() async throws {
        let speaker = Speaker(config: config(peers: [PeerConfig(address: IPAddress("127.0.0.1")!, peerAS: 65309, passive: true)]))
        try speaker.start()
        speaker.stop()
        var states = [PeerState]()
        for await e in speaker.events { if case .peerState(_, _, let to, _) = e { states.append(to) } }
        #expect(states == [.active, .idle])
    }

    @Test func collisionKeepsTheConnectionOfTheHigherIdentifier() throws {
        // The scripted peer listens; the speaker connects out to it AND the peer connects in.
        let lfd = try Sock.listen(IPAddress("127.0.0.1")!, port: 0)
        defer { close(lfd) }
        _ = fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) & ~O_NONBLOCK)
        let peerPort = Sock.localPort(lfd)
        let log = EventLog()
        let speaker = Speaker(config: config(peers: [PeerConfig(address: IPAddress("127.0.0.1")!, peerAS: 65309, port: peerPort)]),
                              onEvent: log.record)
        try speaker.start()
        defer { speaker.stop() }

        let accepted = accept(lfd, nil, nil)
        #expect(accepted >= 0)
        let outgoing = ScriptedPeer(fd: accepted)            // speaker-initiated
        let incoming = try #require(ScriptedPeer.connect(port: speaker.boundPort))   // peer-initiated
        // Both sides OPEN; speaker id 2.2.2.2 > peer id 1.1.1.1: the speaker's connection survives.
        for p in [outgoing, incoming] { _ = p.read(type: 1) }
        for p in [outgoing, incoming] { p.send(OpenMessage(localAS: 65309, holdTime: 3, identifier: 0x0101_0101).message) }
        let cease = try #require(incoming.read(type: 3))
        #expect(Array(cease[19...20]) == [6, 7])
        outgoing.send(.keepalive)
        #expect(outgoing.read(type: 4) != nil)
        #expect(log.wait { established(speaker) })
        outgoing.close(); incoming.close()
    }
}
