#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FlowSpec

/// What the speaker tells the embedding program.
public enum SpeakerEvent: Sendable {
    /// A peer's state changed, with the reason (NOTIFICATION sent or received, hold timer, ...).
    case peerState(peer: String, from: PeerState, to: PeerState, reason: String)
    /// The merged route set changed (debounced; the first one after initial synchronisation).
    case routes(RouteSnapshot)
    /// Part of a change still arriving (a burst of UPDATEs, mid-way): what changed since the
    /// last delivery, given out while the debounce runs so that the application can take it in
    /// meanwhile. The `routes` event that ends the debounce completes it (its `changes` hold
    /// only what changed after this; they may be empty). Made once `Speaker.changesInProgressMinimum`
    /// keys changed; a change of fewer comes as one `routes` event, as before.
    case routesChanging(RouteChanges)
    /// RFC 7606 cases met in an UPDATE from the peer (routes treated as withdrawn, ...).
    case updateFaults(peer: String, faults: [UpdateFault])
    /// Connections closed at once, and accept(2) failures, since the last such event, counted
    /// by cause ("192.0.2.9: not a configured peer", ...). Reported at most every
    /// `Speaker.refusalReportInterval` seconds, so a flood of connections makes a few events,
    /// not one per connection.
    case connectionsRefused([String: Int])
    /// A peer's routes met its `RouteLimit` (`limit` routes of `family`, or of all families):
    /// with `.refuse`, `refused` new routes were left out since the last such event (reported at
    /// most every `Speaker.refusalReportInterval` seconds); with `.restart`, the session was
    /// just closed with Cease 6/1 and the peer is held down for the limit's restart delay.
    case routeLimit(peer: String, family: AddressFamily, limit: Int, action: RouteLimit.Action, refused: Int)
    /// Routes of the peer refused by the import filter since the last such event, by the name
    /// of the protected entry they touched (at most every `Speaker.refusalReportInterval` s).
    case importRefused(peer: String, counts: [String: Int])
}

/// A `show`-style snapshot.
public struct SpeakerStatus: Sendable {
    public struct Peer: Sendable {
        public var name: String
        public var peerAS: UInt32
        public var state: PeerState
        public var lastReason: String
        /// Seconds since the session became Established.
        public var uptime: Double?
        public var families: [AddressFamily]
        public var routeRefresh: Bool
        public var holdTime: Double?
        public var routes: [AddressFamily: Int]
        public var staleRoutes: Int
        public var endOfRIBPending: [AddressFamily]
        /// Connections from the peer's address closed at once because another one of the peer
        /// was already opening (and had sent its OPEN), or replaced by a newer one before it did.
        public var refusedConnections: Int = 0
        /// New routes left out by the peer's route limit (`RouteLimit.Action.refuse`), in all.
        public var refusedRoutes: Int = 0
        /// Sessions closed because the peer went over its route limit (`.restart`).
        public var routeLimitRestarts: Int = 0
        /// Routes refused by the import filter, in all, by the protected entry they touched.
        public var importRefused: [String: Int] = [:]
        /// Seconds left before the peer is connected to or accepted from again, after going over
        /// its route limit.
        public var heldDownFor: Double?
        /// UPDATE messages received from the peer, on any of its connections.
        public var updates: Int = 0
        /// UPDATEs whose routes were treated as withdrawn for a malformed attribute or NLRI
        /// (RFC 7606 treat-as-withdraw).
        public var treatAsWithdraw: Int = 0
    }

    public var localAS: UInt32
    public var routerID: UInt32
    public var listenPort: UInt16
    public var peers: [Peer]
    /// Routes in the last delivered set (nil before the first delivery).
    public var deliveredRoutes: Int?
    /// Connections from addresses that are not configured peers, closed at once.
    public var unknownConnections: Int = 0
    /// accept(2) failures that paused accepting (no descriptor left, ...).
    public var acceptFailures: Int = 0
    /// Connections closed at once because the process's descriptors were nearly all in use
    /// (`Speaker.descriptorHeadroom`).
    public var lowDescriptorRefusals: Int = 0
}

/// A receive-only BGP-4 speaker for the flowspec families. It accepts and opens connections,
/// runs the FSM per peer, keeps an Adj-RIB-In per peer and delivers the merged route set as
/// `events`. It never sends an UPDATE.
///
/// One thread runs a poll(2) loop over every socket; all protocol state lives on that thread.
/// Sockets are created on the thread that calls `start()` (the listener) and on the loop thread
/// it spawns (outgoing connections), so both live in the caller's network namespace.
public final class Speaker: @unchecked Sendable {
    public let config: SpeakerConfig
    public let events: AsyncStream<SpeakerEvent>
    private let continuation: AsyncStream<SpeakerEvent>.Continuation
    private let lock = Lock()
    private var commands: [Command] = []
    private var published: SpeakerStatus
    private var wakeFDs: (Int32, Int32) = (-1, -1)
    private var listener: Int32 = -1
    private var thread: PThread?
    private(set) public var boundPort: UInt16 = 0

    fileprivate enum Command { case stop, refresh }

    /// Shortest and longest pause of accepting after accept(2) failed for lack of descriptors
    /// or memory: the listener stays readable then, and polling it again at once would spin.
    static let acceptBackoff: ClosedRange<Double> = 0.05...1
    /// Descriptors the speaker leaves to the rest of the process: it keeps no new connection
    /// whose descriptor is within this many of the limit (unless it replaces a silent one of its
    /// peer, which frees one). The process must never run out: libdispatch, which Swift
    /// concurrency runs on, opens /proc files to watch its threads and aborts the process when
    /// it cannot (seen with 60 peers' connections under a limit of 40). A sixteenth of the limit,
    /// at least 16.
    static func descriptorHeadroom(limit: Int) -> Int { max(16, limit / 16) }
    /// Accepted connections handled per loop iteration at most: a continuous flood of
    /// connections must not starve the sessions' own timers and reads.
    static let acceptsPerIteration = 64
    /// Least time between two `connectionsRefused` events.
    public static let refusalReportInterval: Double = 10
    /// Changed keys from which a change still arriving is given out (`routesChanging`) at the
    /// end of a loop iteration (up to 16 reads of 64 KiB per connection, ~25k routes of a
    /// flood): the application takes each part in on its own thread while the speaker reads
    /// the next, and the debounce runs.
    public static let changesInProgressMinimum = 2_048

    private let onEvent: (@Sendable (SpeakerEvent) -> Void)?

    /// `onEvent`, when given, is called on the speaker's loop thread for every event (before it
    /// is yielded to `events`); it must return quickly. It suits programs and tests that do not
    /// want to depend on the Swift concurrency thread pool.
    public init(config: SpeakerConfig, onEvent: (@Sendable (SpeakerEvent) -> Void)? = nil) {
        self.config = config
        self.onEvent = onEvent
        (events, continuation) = AsyncStream.makeStream(of: SpeakerEvent.self, bufferingPolicy: .unbounded)
        published = SpeakerStatus(localAS: config.localAS, routerID: config.routerID, listenPort: config.listenPort,
                                  peers: [], deliveredRoutes: nil)
    }

    /// Whether `start` has run (and `stop` not yet).
    public var isStarted: Bool { thread != nil }

    /// Binds the listening socket (on the calling thread) and starts the loop thread.
    public func start() throws(SocketError) {
        let config = config
        listener = try Sock.listen(config.listenAddress, port: config.listenPort) { fd throws(SocketError) in
            try Self.protectListener(fd, config: config)
        }
        boundPort = Sock.localPort(listener)
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else { throw SocketError(operation: "pipe", errno: errno) }
        for fd in p { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        wakeFDs = (p[0], p[1])
        let loop = Loop(speaker: self, listener: listener, wake: p[0], now: monotonicNow())
        lock.withLock { published = loop.status(now: monotonicNow()) }
        thread = try PThread { loop.run() }
    }

    /// The listener's share of the peers' protection: every peer's MD5 key (connections accepted
    /// from it inherit the key), TTL 255 out when a peer uses GTSM (the SYN-ACK too), and the
    /// lowest TTL every peer allows when all of them use GTSM (else each accepted connection
    /// gets its peer's minimum when it is accepted).
    static func protectListener(_ fd: Int32, config: SpeakerConfig) throws(SocketError) {
        let family = config.listenAddress.family
        for p in config.peers {
            if let key = p.md5Key { try Sock.setMD5Key(fd, socketFamily: family, peer: p.address, key: key) }
        }
        let hops = config.peers.map(\.ttlSecurityHops)
        guard hops.contains(where: { $0 != nil }) else { return }
        let all = hops.allSatisfy { $0 != nil } ? hops.compactMap { $0 }.max() : nil
        try Sock.setTTLSecurity(fd, socketFamily: family, hops: all)
    }

    /// Sends Cease/Administrative Shutdown to every peer, closes all sockets, ends `events`.
    public func stop() {
        send(.stop)
        thread?.join()
        thread = nil
    }

    /// Asks every Established peer that advertised route refresh (RFC 2918) to re-send its
    /// routes, for each negotiated family.
    public func requestRefresh() { send(.refresh) }

    public func status() -> SpeakerStatus { lock.withLock { published } }

    private func send(_ c: Command) {
        guard wakeFDs.1 >= 0 else { return }
        lock.withLock { commands.append(c) }
        var b: UInt8 = 1
        _ = write(wakeFDs.1, &b, 1)
    }

    fileprivate func takeCommands() -> [Command] { lock.withLock { defer { commands = [] }; return commands } }
    fileprivate func publish(_ s: SpeakerStatus) { lock.withLock { published = s } }
    fileprivate func emit(_ e: SpeakerEvent) {
        onEvent?(e)
        continuation.yield(e)
    }
    fileprivate func finish() {
        continuation.finish()
        close(wakeFDs.0); close(wakeFDs.1)
        wakeFDs = (-1, -1)
    }

    // MARK: - The loop (runs on its own thread only)

    private final class Connection {
        let fd: Int32
        var session: Session
        var outbox: [UInt8] = []
        /// Its descriptor is closed: actions still queued for it are dropped.
        var done = false
        init(fd: Int32, session: Session) { self.fd = fd; self.session = session }
    }

    private final class PeerRuntime {
        let config: PeerConfig
        var connecting: (fd: Int32, since: Double)?
        var retryAt: Double?
        var connections: [Connection] = []
        var state: PeerState = .idle
        var reason = "configured"
        var establishedSince: Double?
        var refusedConnections = 0
        var refusedRoutes = 0, routeLimitRestarts = 0
        var updates = 0, treatAsWithdraw = 0
        /// Route-limit refusals not reported yet, by family, and when the last report went out.
        var unreportedRefusals: [AddressFamily: Int] = [:]
        /// Import-filter refusals by protected entry: in all, and not reported yet.
        var importRefused: [String: Int] = [:], unreportedImport: [String: Int] = [:]
        var refusalsReportedAt = -Double.infinity
        /// Neither connected to nor accepted from before then (after a route-limit restart).
        var heldDownUntil: Double?
        var established: Connection? { connections.first { $0.session.state == .established } }
        /// The peer's incoming connection that is not Established yet: at most one at a time.
        var pendingIncoming: Connection? {
            connections.first { $0.session.direction == .incoming && $0.session.state < .established && !$0.session.isClosed }
        }
        init(_ c: PeerConfig) { config = c }
    }

    private final class Loop: @unchecked Sendable {
        unowned let speaker: Speaker
        let config: SpeakerConfig
        let listener: Int32
        let wake: Int32
        var peers: [PeerRuntime]
        var book: RouteBook
        var running = true
        /// Accepting is paused until then, after accept(2) failed (`Speaker.acceptBackoff`).
        var acceptPausedUntil: Double?
        var acceptPause: Double = 0
        var unknownConnections = 0, acceptFailures = 0, lowDescriptorRefusals = 0
        /// Connections whose descriptor is at or above this are kept only when they free another
        /// (`Speaker.descriptorHeadroom`).
        let descriptorCeiling: Int = {
            let limit = Sock.descriptorLimit()
            return limit == .max ? .max : limit - Speaker.descriptorHeadroom(limit: limit)
        }()
        /// A descriptor kept in reserve (/dev/null): when accept(2) fails for want of one, it is
        /// given up to accept the next connection, which is then kept, refused or made to replace
        /// a silent one of its peer, so the queue keeps draining and a real peer's connection is
        /// reached even at the limit (then `acceptPausedUntil` while no reserve is left).
        var reserve: Int32 = -1
        /// Refusals not reported yet, by cause, and when the last report went out.
        var refusals: [String: Int] = [:]
        var refusalsReportedAt = -Double.infinity

        init(speaker: Speaker, listener: Int32, wake: Int32, now: Double) {
            self.speaker = speaker; config = speaker.config; self.listener = listener; self.wake = wake
            peers = config.peers.map(PeerRuntime.init)
            book = RouteBook(peers: config.peers.map(\.name), debounce: config.debounce, maxDelay: config.maxDebounceDelay,
                             initialTimeout: config.initialSyncTimeout, staleTime: config.staleTime, now: now)
            book.redundant = config.redundantPeers
            for p in peers where !p.config.passive { p.retryAt = now }
            for p in peers { updateState(p, reason: p.config.passive ? "passive, waiting for the peer" : "starting") }
            reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)
        }

        func run() {
            while running {
                var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
                if acceptPausedUntil == nil { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
                for p in peers {
                    if let c = p.connecting { fds.append(pollfd(fd: c.fd, events: Int16(POLLOUT), revents: 0)) }
                    for c in p.connections {
                        fds.append(pollfd(fd: c.fd, events: Int16(POLLIN) | (c.outbox.isEmpty ? 0 : Int16(POLLOUT)), revents: 0))
                    }
                }
                let now0 = monotonicNow()
                let deadline = nextDeadline()
                let timeout = deadline.map { max(0, min(1000, Int32((($0 - now0) * 1000).rounded(.up)))) } ?? 1000
                _ = poll(&fds, nfds_t(fds.count), timeout)
                let now = monotonicNow()
                var ready = [Int32: Int16]()
                for f in fds where f.revents != 0 { ready[f.fd] = f.revents }

                if ready[wake] != nil {
                    var buf = [UInt8](repeating: 0, count: 64)
                    while read(wake, &buf, 64) > 0 {}
                    for c in speaker.takeCommands() {
                        switch c {
                        case .stop: shutdown(now: now); return
                        case .refresh: refresh()
                        }
                    }
                }
                if ready[listener] != nil { acceptAll(now: now) }
                for p in peers {
                    if let c = p.connecting, let ev = ready[c.fd] { connectDone(p, c.fd, ev, now: now) }
                    for c in p.connections {
                        if let ev = ready[c.fd] { serve(p, c, ev, now: now) }
                    }
                }
                timers(now: now)
                speaker.publish(status(now: now))
            }
        }

        func nextDeadline() -> Double? {
            var d = [Double]()
            if let b = book.nextDeadline { d.append(b) }
            if let a = acceptPausedUntil { d.append(a) }
            if !refusals.isEmpty { d.append(refusalsReportedAt + Speaker.refusalReportInterval) }
            for p in peers {
                if !p.unreportedRefusals.isEmpty || !p.unreportedImport.isEmpty { d.append(p.refusalsReportedAt + Speaker.refusalReportInterval) }
                if let h = p.heldDownUntil { d.append(h) }
            }
            for p in peers {
                if let r = p.retryAt { d.append(r) }
                if let c = p.connecting { d.append(c.since + config.connectRetryTime) }
                for c in p.connections { if let n = c.session.nextDeadline { d.append(n) } }
            }
            return d.min()
        }

        // MARK: Connections

        func acceptAll(now: Double) {
            for _ in 0..<Speaker.acceptsPerIteration {
                switch Sock.accept(listener) {
                case .none:
                    acceptPause = 0
                    return
                case .skipped:
                    continue
                case .failed(let e):
                    acceptFailures += 1
                    if (e == EMFILE || e == ENFILE) && reserve >= 0 {
                        close(reserve)
                        reserve = -1
                        if case .connection(let fd, let address, _) = Sock.accept(listener) { admit(fd, from: address, now: now) }
                        reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)
                        refused("accept failed: \(String(cString: strerror(e))) (served from the reserve descriptor)")
                        if reserve >= 0 { continue }
                    }
                    // Out of descriptors or memory: the connection stays queued and the listener
                    // readable. Back off (doubling) instead of spinning; sessions and timers go on,
                    // and the queued connection is accepted once a descriptor is free.
                    acceptPause = min(max(acceptPause * 2, Speaker.acceptBackoff.lowerBound), Speaker.acceptBackoff.upperBound)
                    acceptPausedUntil = now + acceptPause
                    refused("accept failed: \(String(cString: strerror(e)))")
                    return
                case .connection(let fd, let address, _):
                    admit(fd, from: address, now: now)
                }
            }
        }

        /// A new connection from `address`: closed at once unless it is a configured peer's, and
        /// at most one of a peer's incoming connections is pending (not Established) at a time,
        /// which with collision detection is all a peer needs. A pending connection that has
        /// sent a valid OPEN keeps its place (the new one is closed); one still silent gives it
        /// to the new one (a peer that restarted, or a flood from its address: each costs the
        /// next nothing, and the real peer's OPEN, usually there when its connection is
        /// accepted, gets its connection the place).
        func admit(_ fd: Int32, from address: IPAddress, now: Double) {
            guard let p = peers.first(where: { $0.config.address == address }) else {
                close(fd)
                unknownConnections += 1
                refused("\(address): not a configured peer")
                return
            }
            if let until = p.heldDownUntil, now < until {
                close(fd)
                p.refusedConnections += 1
                refused("\(address): held down after going over its route limit")
                return
            }
            let replaces = p.pendingIncoming.map { $0.session.state < .openConfirm } ?? false
            if Int(fd) >= descriptorCeiling && !replaces {
                close(fd)
                p.refusedConnections += 1
                lowDescriptorRefusals += 1
                refused("\(address): descriptors nearly exhausted (descriptor \(fd), kept below \(descriptorCeiling))")
                return
            }
            if let pending = p.pendingIncoming {
                p.refusedConnections += 1
                if pending.session.state >= .openConfirm {
                    close(fd)
                    refused("\(address): another connection of the peer is opening")
                    return
                }
                refused("\(address): a silent connection of the peer replaced by a newer one")
                perform(p, pending, pending.session.close(.connectionRejected,
                                                          reason: "replaced by a newer connection from the peer (6/5 sent)"), now: now)
            }
            if let hops = p.config.ttlSecurityHops {
                do throws(SocketError) {
                    try Sock.setTTLSecurity(fd, socketFamily: config.listenAddress.family, hops: hops)
                } catch {
                    close(fd)
                    refused("\(address): \(error)")
                    return
                }
            }
            let c = Connection(fd: fd, session: Session(direction: .incoming, config: config, peer: p.config))
            p.connections.append(c)
            perform(p, c, c.session.start(now: now), now: now)
            // The peer sends its OPEN as soon as TCP is up: it is often there already.
            serve(p, c, Int16(POLLIN), now: now)
        }

        /// Counts a refused connection (or failed accept) for the next `connectionsRefused` event.
        func refused(_ cause: String) { refusals[cause, default: 0] += 1 }

        func startConnect(_ p: PeerRuntime, now: Double) {
            p.retryAt = nil
            let local = p.config.localAddress ?? (config.listenAddress.isUnspecified ? nil : config.listenAddress)
            do {
                let peer = p.config
                let fd = try Sock.connect(to: peer.address, port: peer.port, from: local) { fd throws(SocketError) in
                    if let key = peer.md5Key { try Sock.setMD5Key(fd, socketFamily: peer.address.family, peer: peer.address, key: key) }
                    if let hops = peer.ttlSecurityHops { try Sock.setTTLSecurity(fd, socketFamily: peer.address.family, hops: hops) }
                }
                p.connecting = (fd, now)
                updateState(p, reason: "connecting to port \(p.config.port)")
            } catch {
                p.retryAt = now + config.connectRetryTime
                updateState(p, reason: "\(error)")
            }
        }

        func connectDone(_ p: PeerRuntime, _ fd: Int32, _ ev: Int16, now: Double) {
            p.connecting = nil
            let err = Sock.connectError(fd)
            guard err == 0 else {
                close(fd)
                p.retryAt = now + config.connectRetryTime
                updateState(p, reason: "connect failed: \(String(cString: strerror(err)))")
                return
            }
            let c = Connection(fd: fd, session: Session(direction: .outgoing, config: config, peer: p.config))
            p.connections.append(c)
            perform(p, c, c.session.start(now: now), now: now)
        }

        func serve(_ p: PeerRuntime, _ c: Connection, _ ev: Int16, now: Double) {
            if ev & Int16(POLLOUT) != 0 { flush(c) }
            guard ev & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 else { return }
            // Read what is there; a message split across reads waits in the session's buffer.
            for _ in 0..<16 {
                guard !c.session.isClosed else { return }
                switch Sock.read(c.fd) {
                case .data(let bytes): perform(p, c, c.session.receive(bytes, now: now), now: now)
                case .wouldBlock: return
                case .closed(let why): perform(p, c, c.session.connectionLost(why), now: now); return
                }
            }
        }

        func flush(_ c: Connection) {
            guard !c.outbox.isEmpty else { return }
            if let n = Sock.write(c.fd, c.outbox[...]) { c.outbox.removeFirst(n) } else { c.outbox = [] }
        }

        /// Carries out a session's actions: sends, state changes, routes, collisions, closing.
        func perform(_ p: PeerRuntime, _ c: Connection, _ actions: [Session.Action], now: Double) {
            for a in actions {
                guard !c.done else { return }
                switch a {
                case .send(let bytes):
                    c.outbox += bytes
                    flush(c)
                case .state(let s, let reason):
                    if s == .established, p.establishedSince == nil {
                        p.establishedSince = now
                        p.retryAt = nil
                        if let fd = p.connecting?.fd { close(fd); p.connecting = nil }
                        book.sessionUp(p.config.name, families: c.session.families, now: now)
                    }
                    updateState(p, reason: reason)
                case .openReceived(let open):
                    resolveCollision(p, c, open, now: now)
                case .update(let r):
                    p.updates += 1
                    if r.faults.contains(where: { $0.action == .treatAsWithdraw }) { p.treatAsWithdraw += 1 }
                    if !r.faults.isEmpty { speaker.emit(.updateFaults(peer: p.config.name, faults: r.faults)) }
                    if p.established === c { receive(r, from: p, on: c, now: now) }
                case .closed(let reason):
                    flush(c)
                    close(c.fd)
                    c.done = true
                    let wasEstablished = c.session.establishedAt != nil
                    p.connections.removeAll { $0 === c }
                    if wasEstablished {
                        p.establishedSince = nil
                        book.sessionDown(p.config.name, now: now)
                    }
                    if !p.config.passive, p.connecting == nil, p.established == nil, p.retryAt == nil {
                        p.retryAt = now + config.connectRetryTime
                    }
                    if let h = p.heldDownUntil, !p.config.passive { p.retryAt = max(p.retryAt ?? h, h) }
                    updateState(p, reason: reason)
                }
            }
        }

        /// An UPDATE of the Established session `c`: routes the import filter refuses become
        /// withdrawals (an earlier version of the key goes too), the rest within the route limit.
        func receive(_ u: UpdateResult, from p: PeerRuntime, on c: Connection, now: Double) {
            var r = u
            if let filter = config.importFilter, !r.announced.isEmpty {
                var kept: [FlowRoute] = []
                kept.reserveCapacity(r.announced.count)
                for route in r.announced {
                    if let why = filter.refusal(for: route) {
                        r.withdrawn.append(RouteID(route))
                        p.importRefused[why, default: 0] += 1
                        p.unreportedImport[why, default: 0] += 1
                    } else {
                        kept.append(route)
                    }
                }
                r.announced = kept
                reportRouteRefusals(p, now: now)
            }
            guard let limit = p.config.routeLimit else {
                book.apply(p.config.name, r, now: now)
                return
            }
            if limit.action == .restart, let over = book.excess(p.config.name, r, within: limit) {
                p.routeLimitRestarts += 1
                p.heldDownUntil = now + limit.restartDelay
                speaker.emit(.routeLimit(peer: p.config.name, family: over.family, limit: over.limit, action: .restart, refused: 0))
                let n = BGPNotification.maximumPrefixesReached(family: over.family, limit: over.limit)
                perform(p, c, c.session.close(n, reason: "over the route limit (\(over.limit) \(over.family.name) routes): NOTIFICATION 6/1 sent, restart in \(Int(limit.restartDelay)) s"),
                        now: now)
                return
            }
            let refused = book.apply(p.config.name, r, limit: limit, now: now)
            for (f, n) in refused {
                p.refusedRoutes += n
                p.unreportedRefusals[f, default: 0] += n
            }
            reportRouteRefusals(p, now: now)
        }

        /// Emits the peer's route-limit refusals not reported yet, if the last report is old enough.
        func reportRouteRefusals(_ p: PeerRuntime, now: Double) {
            guard !p.unreportedRefusals.isEmpty || !p.unreportedImport.isEmpty,
                  now >= p.refusalsReportedAt + Speaker.refusalReportInterval else { return }
            if let limit = p.config.routeLimit {
                for (f, n) in p.unreportedRefusals.sorted(by: { $0.key < $1.key }) {
                    speaker.emit(.routeLimit(peer: p.config.name, family: f, limit: limit.bound(f) ?? 0, action: .refuse, refused: n))
                }
            }
            if !p.unreportedImport.isEmpty { speaker.emit(.importRefused(peer: p.config.name, counts: p.unreportedImport)) }
            p.unreportedRefusals = [:]
            p.unreportedImport = [:]
            p.refusalsReportedAt = now
        }

        func resolveCollision(_ p: PeerRuntime, _ c: Connection, _ open: OpenMessage, now: Double) {
            for other in p.connections where other !== c && !other.session.isClosed {
                guard let loser = Collision.loser(localID: config.routerID, remoteID: open.identifier,
                                                  existing: (other.session.direction, other.session.state),
                                                  new: c.session.direction) else { continue }
                // Same direction: only against an Established one, and the new one goes.
                let victim = loser == c.session.direction ? c : other
                perform(p, victim, victim.session.close(.connectionCollision,
                                                        reason: "connection collision: \(loser.rawValue) connection closed (6/7)"),
                        now: now)
            }
        }

        func timers(now: Double) {
            if let a = acceptPausedUntil, a <= now { acceptPausedUntil = nil }
            if reserve < 0 { reserve = open("/dev/null", O_RDONLY | O_CLOEXEC) }
            if !refusals.isEmpty, now >= refusalsReportedAt + Speaker.refusalReportInterval {
                speaker.emit(.connectionsRefused(refusals))
                refusals = [:]
                refusalsReportedAt = now
            }
            for p in peers {
                reportRouteRefusals(p, now: now)
                if let h = p.heldDownUntil, h <= now {
                    p.heldDownUntil = nil
                    updateState(p, reason: "route-limit hold-down over")
                }
                for c in p.connections { perform(p, c, c.session.tick(now: now), now: now) }
                if let c = p.connecting, now >= c.since + config.connectRetryTime {
                    close(c.fd)
                    p.connecting = nil
                    p.retryAt = now
                    updateState(p, reason: "connect timed out")
                }
                if let r = p.retryAt, r <= now, p.connecting == nil, p.established == nil { startConnect(p, now: now) }
            }
            if let snap = book.tick(now: now) {
                speaker.emit(.routes(snap))
            } else if let part = book.takeChangesInProgress(minimum: Speaker.changesInProgressMinimum) {
                speaker.emit(.routesChanging(part))
            }
        }

        func refresh() {
            for p in peers {
                guard let c = p.established, c.session.remoteOpen?.supportsRouteRefresh == true else { continue }
                for f in c.session.families.sorted() {
                    let body: [UInt8] = [UInt8(f.rawValue >> 8), UInt8(f.rawValue & 0xff), 0, MPNLRIs.flowspecSAFI]
                    if let bytes = try? BGPMessage.other(type: BGPMessage.MessageType.routeRefresh.rawValue, body: body).encode() {
                        c.outbox += bytes
                    }
                }
                flush(c)
            }
        }

        func shutdown(now: Double) {
            running = false
            for p in peers {
                if let c = p.connecting { close(c.fd); p.connecting = nil }
                p.retryAt = nil
                for c in p.connections {
                    perform(p, c, c.session.close(.administrativeShutdown, reason: "speaker stopped (6/2 sent)"), now: now)
                }
                updateState(p, reason: "speaker stopped")
            }
            close(listener)
            if reserve >= 0 { close(reserve) }
            speaker.publish(status(now: now))
            speaker.finish()
        }

        func updateState(_ p: PeerRuntime, reason: String) {
            let best = p.connections.map(\.session.state).max() ?? .idle
            let new: PeerState = best > .active ? best
                : p.connecting != nil ? .connect
                : p.heldDownUntil != nil ? .idle
                : (p.retryAt != nil || p.config.passive) && running ? .active : .idle
            if new != p.state {
                speaker.emit(.peerState(peer: p.config.name, from: p.state, to: new, reason: reason))
                p.state = new
            }
            p.reason = reason
        }

        func status(now: Double) -> SpeakerStatus {
            SpeakerStatus(localAS: config.localAS, routerID: config.routerID, listenPort: speaker.boundPort,
                          peers: peers.map { p in
                              let rib = book.peers[p.config.name]!
                              let s = p.established?.session
                              return .init(name: p.config.name, peerAS: p.config.peerAS, state: p.state, lastReason: p.reason,
                                           uptime: p.establishedSince.map { now - $0 },
                                           families: s?.families.sorted() ?? [],
                                           routeRefresh: s?.remoteOpen?.supportsRouteRefresh ?? false,
                                           holdTime: s?.holdTime,
                                           routes: Dictionary(uniqueKeysWithValues: AddressFamily.allCases.map { ($0, rib.current.count($0)) }),
                                           staleRoutes: rib.stale.routes.count,
                                           endOfRIBPending: rib.eorPending.sorted(),
                                           refusedConnections: p.refusedConnections,
                                           refusedRoutes: p.refusedRoutes, routeLimitRestarts: p.routeLimitRestarts,
                                           importRefused: p.importRefused,
                                           heldDownFor: p.heldDownUntil.map { max(0, $0 - now) },
                                           updates: p.updates, treatAsWithdraw: p.treatAsWithdraw)
                          }, deliveredRoutes: book.deliveredCount,
                          unknownConnections: unknownConnections, acceptFailures: acceptFailures,
                          lowDescriptorRefusals: lowDescriptorRefusals)
        }
    }
}
