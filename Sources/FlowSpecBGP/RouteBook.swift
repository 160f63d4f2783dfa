import FlowSpec

/// One peer's Adj-RIB-In (RFC 4271 §3.2): the routes it announced, keyed by family + NLRI.
public struct AdjRIBIn: Sendable, Hashable {
    public private(set) var routes: [RouteID: FlowRoute] = [:]
    /// Routes per family (families with none have no entry, so equal routes make equal RIBs),
    /// kept as routes come and go: the speaker reports them in its status after every wake-up,
    /// and counting a 100k-route RIB each time made a burst quadratic.
    private var counts: [AddressFamily: Int] = [:]

    public init() {}

    /// Applies an UPDATE: withdrawals first, then announcements (which replace a route with
    /// the same key, communities included). Returns whether anything changed.
    @discardableResult
    public mutating func apply(_ u: UpdateResult) -> Bool {
        var changed = false
        for k in u.withdrawn where routes.removeValue(forKey: k) != nil {
            counts[k.family, default: 0] -= 1
            if counts[k.family] == 0 { counts[k.family] = nil }
            changed = true
        }
        for r in u.announced {
            let k = RouteID(r)
            if let old = routes.updateValue(r, forKey: k) {
                if old != r { changed = true }
            } else {
                counts[k.family, default: 0] += 1
                changed = true
            }
        }
        return changed
    }

    public func count(_ family: AddressFamily) -> Int { counts[family] ?? 0 }

    mutating func removeAll(_ family: AddressFamily) {
        routes = routes.filter { $0.key.family != family }
        counts[family] = nil
    }
    mutating func removeAll() { routes = [:]; counts = [:] }

    mutating func merge(under other: AdjRIBIn) {
        routes.merge(other.routes) { mine, _ in mine }
        counts = [:]
        for k in routes.keys { counts[k.family, default: 0] += 1 }
    }
}

/// The route set delivered to the application.
public struct RouteSnapshot: Sendable, Hashable {
    /// Union of every peer's Adj-RIB-In (stale routes of lost peers included), sorted by
    /// family then NLRI octets. When two peers announce the same NLRI, the peer listed first
    /// in the configuration wins.
    public var routes: [FlowRoute]
    /// True for the first delivery after start.
    public var initial: Bool
    /// False when the first delivery was made on `initialSyncTimeout` rather than after every
    /// peer's End-of-RIB.
    public var synchronized: Bool
    /// Peers whose routes are in `routes` only because they are kept after the session went
    /// down (or restarted and has not sent End-of-RIB yet). The application may keep or flush.
    public var stalePeers: [StalePeer]

    public struct StalePeer: Sendable, Hashable {
        public var peer: String
        public var routeCount: Int
        /// Seconds until the routes are dropped.
        public var expiresIn: Double
    }
}

/// Per-peer RIBs, stale-route keeping, End-of-RIB tracking and the debounced delivery.
/// Pure: time is passed in, so tests drive it with a fake clock.
struct RouteBook {
    struct PeerRIB {
        var current = AdjRIBIn()
        var stale = AdjRIBIn()
        var staleUntil: Double?
        var established = false
        /// Negotiated families whose End-of-RIB has not arrived in this session.
        var eorPending: Set<AddressFamily> = []
    }

    let order: [String]
    var peers: [String: PeerRIB]
    let debounce: Double, maxDelay: Double, initialTimeout: Double, staleTime: Double
    let started: Double
    private(set) var initialDone = false
    private var pendingSince: Double?
    private var lastChange: Double?
    private(set) var lastDelivered: [FlowRoute]?

    init(peers: [String], debounce: Double, maxDelay: Double, initialTimeout: Double, staleTime: Double, now: Double) {
        order = peers
        self.peers = Dictionary(uniqueKeysWithValues: peers.map { ($0, PeerRIB()) })
        self.debounce = debounce; self.maxDelay = maxDelay; self.initialTimeout = initialTimeout
        self.staleTime = staleTime; started = now
    }

    private mutating func changed(_ now: Double) {
        if pendingSince == nil { pendingSince = now }
        lastChange = now
    }

    /// A session reached Established: routes of an earlier session become stale until this
    /// one's End-of-RIB of their family (RFC 4724 style) or the stale timer.
    mutating func sessionUp(_ peer: String, families: Set<AddressFamily>, now: Double) {
        guard var p = peers[peer] else { return }
        if !p.current.routes.isEmpty {
            p.current.merge(under: p.stale)
            p.stale = p.current
            p.current = AdjRIBIn()
            p.staleUntil = p.staleUntil ?? now + staleTime
        }
        p.established = true
        p.eorPending = families
        peers[peer] = p
        // Families not negotiated this time can have no fresh routes: their stale ones go now.
        for f in AddressFamily.allCases where !families.contains(f) { endOfRIB(peer, f, now: now) }
    }

    /// A session was lost: its routes are kept for `staleTime`, then dropped.
    mutating func sessionDown(_ peer: String, now: Double) {
        guard var p = peers[peer], p.established || !p.current.routes.isEmpty else { return }
        p.established = false
        p.eorPending = []
        if !p.current.routes.isEmpty {
            p.current.merge(under: p.stale)
            p.stale = p.current
            p.current = AdjRIBIn()
            p.staleUntil = now + staleTime
        }
        peers[peer] = p
        changed(now)
        if staleTime <= 0 { expire(now) }
    }

    /// Applies an UPDATE's result to the peer's Adj-RIB-In.
    mutating func apply(_ peer: String, _ u: UpdateResult, now: Double) {
        guard var p = peers[peer] else { return }
        let didChange = p.current.apply(u)
        peers[peer] = p
        if let f = u.endOfRIB { endOfRIB(peer, f, now: now) }
        if didChange { changed(now) }
    }

    mutating func endOfRIB(_ peer: String, _ family: AddressFamily, now: Double) {
        guard var p = peers[peer] else { return }
        p.eorPending.remove(family)
        if p.stale.count(family) > 0 {
            p.stale.removeAll(family)
            changed(now)
        }
        if p.stale.routes.isEmpty { p.staleUntil = nil }
        peers[peer] = p
        if !initialDone { changed(now) }
    }

    private mutating func expire(_ now: Double) {
        for name in order {
            guard var p = peers[name], let until = p.staleUntil, until <= now else { continue }
            p.stale.removeAll()
            p.staleUntil = nil
            peers[name] = p
            changed(now)
        }
    }

    var allSynced: Bool { order.allSatisfy { peers[$0]!.established && peers[$0]!.eorPending.isEmpty } }

    /// The union, peers in configuration order (first wins), fresh routes over stale ones.
    func merged() -> [FlowRoute] {
        var out = [RouteID: FlowRoute]()
        for name in order {
            let p = peers[name]!
            for (k, r) in p.current.routes where out[k] == nil { out[k] = r }
            for (k, r) in p.stale.routes where out[k] == nil && p.current.routes[k] == nil { out[k] = r }
        }
        return out.keys.sorted().map { out[$0]! }
    }

    func stalePeers(now: Double) -> [RouteSnapshot.StalePeer] {
        order.compactMap { n in
            let p = peers[n]!
            guard let until = p.staleUntil, !p.stale.routes.isEmpty else { return nil }
            return .init(peer: n, routeCount: p.stale.routes.count, expiresIn: max(0, until - now))
        }
    }

    /// Advances time: expires stale routes and returns the snapshot to deliver, if any.
    mutating func tick(now: Double) -> RouteSnapshot? {
        expire(now)
        if !initialDone {
            let synced = allSynced
            guard synced || now >= started + initialTimeout else { return nil }
            initialDone = true
            pendingSince = nil; lastChange = nil
            let routes = merged()
            lastDelivered = routes
            return RouteSnapshot(routes: routes, initial: true, synchronized: synced, stalePeers: stalePeers(now: now))
        }
        guard let since = pendingSince, let last = lastChange,
              now >= last + debounce || now >= since + maxDelay else { return nil }
        pendingSince = nil; lastChange = nil
        let routes = merged()
        guard routes != lastDelivered else { return nil }
        lastDelivered = routes
        return RouteSnapshot(routes: routes, initial: false, synchronized: true, stalePeers: stalePeers(now: now))
    }

    /// When `tick` next has something to do.
    var nextDeadline: Double? {
        var d: [Double] = order.compactMap { peers[$0]!.staleUntil }
        if !initialDone { d.append(started + initialTimeout) }
        if let since = pendingSince, let last = lastChange { d.append(min(last + debounce, since + maxDelay)) }
        return d.min()
    }
}
