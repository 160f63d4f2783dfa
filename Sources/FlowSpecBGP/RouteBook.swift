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
    public mutating func apply(_ u: UpdateResult) -> Bool { !applyKeys(u).isEmpty }

    /// `apply`, returning the keys whose route changed. Within `limit`, a new key is refused
    /// (left out, counted in `refused` by family) once its family's or the total limit is
    /// reached; replacements and withdrawals always go through.
    mutating func applyKeys(_ u: UpdateResult, limit: RouteLimit? = nil,
                            refused: inout [AddressFamily: Int]) -> [RouteID] {
        var changed: [RouteID] = []
        for k in u.withdrawn where routes.removeValue(forKey: k) != nil {
            counts[k.family, default: 0] -= 1
            if counts[k.family] == 0 { counts[k.family] = nil }
            changed.append(k)
        }
        if !u.withdrawn.isEmpty { routes.shrinkIfSparse() }
        for r in u.announced {
            let k = RouteID(r)
            if let i = routes.index(forKey: k) {
                if routes.values[i] != r { routes.values[i] = r; changed.append(k) }
                continue
            }
            if let limit, isFull(k.family, limit) {
                refused[k.family, default: 0] += 1
                continue
            }
            routes[k] = r
            counts[k.family, default: 0] += 1
            changed.append(k)
        }
        return changed
    }

    /// `apply`, saying what changed for a follower of this RIB: the routes now held under every
    /// key the UPDATE changed, and the routes withdrawn as they were held.
    public mutating func applyChanges(_ u: UpdateResult) -> RouteChanges {
        var before = [RouteID: FlowRoute]()
        for k in u.withdrawn { if let r = routes[k] { before[k] = r } }
        var changes = RouteChanges(announced: [], withdrawn: [])
        var seen = Set<RouteID>()
        for k in applyKeys(u) where seen.insert(k).inserted {
            if let r = routes[k] { changes.announced.append(r) } else if let r = before[k] { changes.withdrawn.append(r) }
        }
        return changes
    }

    mutating func applyKeys(_ u: UpdateResult) -> [RouteID] {
        var refused: [AddressFamily: Int] = [:]
        return applyKeys(u, refused: &refused)
    }

    /// Whether no new route of `family` fits within `limit`.
    func isFull(_ family: AddressFamily, _ limit: RouteLimit) -> Bool {
        if let f = limit.perFamily[family], count(family) >= f { return true }
        if let t = limit.total, routes.count >= t { return true }
        return false
    }

    /// The family whose limit applying `u` would take the RIB over, with that limit; nil when
    /// it stays within. Nothing is changed.
    func excess(of u: UpdateResult, within limit: RouteLimit) -> (family: AddressFamily, limit: Int)? {
        var delta: [AddressFamily: Int] = [:]
        var gone = Set<RouteID>(), added = Set<RouteID>()
        for k in u.withdrawn where routes[k] != nil && gone.insert(k).inserted { delta[k.family, default: 0] -= 1 }
        for r in u.announced {
            let k = RouteID(r)
            if routes[k] == nil || gone.contains(k), added.insert(k).inserted { delta[k.family, default: 0] += 1 }
        }
        var total = routes.count
        for (_, d) in delta { total += d }
        for f in AddressFamily.allCases {
            guard let d = delta[f], d > 0 else { continue }
            if let bound = limit.perFamily[f], count(f) + d > bound { return (f, bound) }
            if let t = limit.total, total > t { return (f, t) }
        }
        return nil
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
    /// Union of every peer's Adj-RIB-In (stale routes of lost peers included), by key. When two
    /// peers announce the same NLRI, the peer listed first in the configuration wins.
    public var routesByKey: [RouteID: FlowRoute]
    /// True for the first delivery after start.
    public var initial: Bool
    /// False when the first delivery was made on `initialSyncTimeout` rather than after every
    /// peer's End-of-RIB.
    public var synchronized: Bool
    /// Peers whose routes are in `routes` only because they are kept after the session went
    /// down (or restarted and has not sent End-of-RIB yet). The application may keep or flush.
    public var stalePeers: [StalePeer]
    /// For every delivery but the first: what differs from the delivery before, so that an
    /// application can follow a large RIB at the cost of the change, not of the RIB.
    public var changes: RouteChanges?

    /// `routesByKey` sorted by family then NLRI octets (made on each call: O(n log n)).
    public var routes: [FlowRoute] { routesByKey.keys.sorted().map { routesByKey[$0]! } }

    public struct StalePeer: Sendable, Hashable {
        public var peer: String
        public var routeCount: Int
        /// Seconds until the routes are dropped.
        public var expiresIn: Double
    }
}

/// What one delivery changed: routes announced (new, or replacing the one with their key) and
/// routes withdrawn (as they were delivered), each in the order the peers changed them.
public struct RouteChanges: Sendable, Hashable {
    public var announced: [FlowRoute]
    public var withdrawn: [FlowRoute]
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
    /// The peers send the same routes (redundant route reflectors): a lost peer's routes of a
    /// family go at once while another peer is Established with its End-of-RIB of that family
    /// in, which then stands for them; `staleTime` applies only while none is. Without it a lost
    /// peer's routes are kept for `staleTime` whatever the others say, so a route the live
    /// reflector withdraws stays until the lost one is back (or the time is up).
    var redundant = false
    let started: Double
    private(set) var initialDone = false
    private var pendingSince: Double?
    private var lastChange: Double?
    /// The union of the peers' RIBs (`winner` of every key), kept as they change: a change
    /// costs in proportion to the routes it touches, never to the RIB (50k routes made every
    /// UPDATE cost ~0.2 s of CPU when the union was rebuilt, sorted and compared).
    private(set) var merged: [RouteID: FlowRoute] = [:]
    /// Keys whose route in `merged` changed since the last delivery, with the route delivered
    /// then (nil: none), and the keys in the order they were first touched: a delivery lists
    /// its changes in that order (the peer's), with no sort of the change (sorting 100k keys
    /// cost ~0.5 s of a flood).
    private var touched: [RouteID: FlowRoute?] = [:]
    private var touchedOrder: [RouteID] = []
    /// How many routes the last delivery held (nil before the first).
    private(set) var deliveredCount: Int?

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
        guard var p = take(peer) else { return }
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
        guard peers[peer].map({ $0.established || !$0.current.routes.isEmpty }) == true, var p = take(peer) else { return }
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
        if redundant {
            for f in AddressFamily.allCases where isCovered(f, except: peer) { dropStale(of: peer, f, now: now) }
        }
        if staleTime <= 0 { expire(now) }
    }

    /// Whether a peer other than `except` is Established with its End-of-RIB of `family` in.
    private func isCovered(_ family: AddressFamily, except: String) -> Bool {
        order.contains { $0 != except && peers[$0].map { $0.established && !$0.eorPending.contains(family) } == true }
    }

    /// Drops lost peer `name`'s stale routes of `family`.
    private mutating func dropStale(of name: String, _ family: AddressFamily, now: Double) {
        guard peers[name].map({ !$0.established && $0.stale.count(family) > 0 }) == true, var p = take(name) else { return }
        let dropped = p.stale.routes.keys.filter { $0.family == family }
        p.stale.removeAll(family)
        if p.stale.routes.isEmpty { p.staleUntil = nil }
        peers[name] = p
        refresh(dropped)
        changed(now)
    }

    /// Applies an UPDATE's result to the peer's Adj-RIB-In, new routes beyond `limit` left
    /// out; returns how many were, by family.
    @discardableResult
    mutating func apply(_ peer: String, _ u: UpdateResult, limit: RouteLimit? = nil, now: Double) -> [AddressFamily: Int] {
        var refused: [AddressFamily: Int] = [:]
        guard var p = take(peer) else { return refused }
        let keys = p.current.applyKeys(u, limit: limit, refused: &refused)
        peers[peer] = p
        refresh(keys)
        if let f = u.endOfRIB { endOfRIB(peer, f, now: now) }
        if !keys.isEmpty { changed(now) }
        return refused
    }

    /// Whether `u` would take the peer's Adj-RIB-In over `limit` (see `AdjRIBIn.excess`).
    func excess(_ peer: String, _ u: UpdateResult, within limit: RouteLimit) -> (family: AddressFamily, limit: Int)? {
        peers[peer]?.current.excess(of: u, within: limit)
    }

    mutating func endOfRIB(_ peer: String, _ family: AddressFamily, now: Double) {
        guard var p = take(peer) else { return }
        p.eorPending.remove(family)
        var dropped: [RouteID] = []
        if p.stale.count(family) > 0 {
            dropped = p.stale.routes.keys.filter { $0.family == family }
            p.stale.removeAll(family)
            changed(now)
        }
        if p.stale.routes.isEmpty { p.staleUntil = nil }
        peers[peer] = p
        refresh(dropped)
        if !initialDone { changed(now) }
        // This peer now stands for the family: the lost peers' routes of it go.
        if redundant, peers[peer]?.established == true {
            for other in order where other != peer { dropStale(of: other, family, now: now) }
        }
    }

    private mutating func expire(_ now: Double) {
        for name in order {
            guard let until = peers[name]?.staleUntil, until <= now, var p = take(name) else { continue }
            let dropped = Array(p.stale.routes.keys)
            p.stale.removeAll()
            p.staleUntil = nil
            peers[name] = p
            refresh(dropped)
            changed(now)
        }
    }

    /// Peer `name`'s RIBs, taken out of `peers` to be changed and put back: changed in place
    /// there, the copy `peers` still held would make the change copy the peer's whole RIB
    /// (50k routes per UPDATE).
    private mutating func take(_ name: String) -> PeerRIB? { peers.removeValue(forKey: name) }

    /// The route of key `k` in the union of `ribs` (the peers' in configuration order): the
    /// first peer that holds one, its fresh route over its stale one.
    private static func winner(_ k: RouteID, in ribs: [PeerRIB]) -> FlowRoute? {
        for p in ribs {
            if let r = p.current.routes[k] ?? (p.stale.routes.isEmpty ? nil : p.stale.routes[k]) { return r }
        }
        return nil
    }

    /// Puts each key's winner into `merged`, noting the route delivered before its first
    /// change. The peers' RIBs are looked up once for all the keys, not once per key and peer
    /// (a flood's 100k keys each copied a peer's RIBs out of `peers` by its name), and each key
    /// costs three lookups: its winner, `merged` and `touched`.
    private mutating func refresh(_ keys: [RouteID]) {
        guard !keys.isEmpty else { return }
        let ribs = order.map { peers[$0]! }
        for k in keys {
            let now = Self.winner(k, in: ribs)
            let old = if let now { merged.updateValue(now, forKey: k) } else { merged.removeValue(forKey: k) }
            guard now != old else { continue }
            var first = false
            Self.keep(&touched[k, default: { first = true; return old }()])
            if first { touchedOrder.append(k) }
        }
        merged.shrinkIfSparse()
    }

    /// Lets `touched[k, default: …]` insert its default with one lookup.
    private static func keep(_: inout FlowRoute?) {}

    var allSynced: Bool { order.allSatisfy { peers[$0]!.established && peers[$0]!.eorPending.isEmpty } }

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
            touched = [:]
            touchedOrder = []
            deliveredCount = merged.count
            return RouteSnapshot(routesByKey: merged, initial: true, synchronized: synced, stalePeers: stalePeers(now: now))
        }
        guard let since = pendingSince, let last = lastChange,
              now >= last + debounce || now >= since + maxDelay else { return nil }
        pendingSince = nil; lastChange = nil
        let changes = takeTouched()
        // After changes in progress, the delivery that completes them goes out even when what
        // is left is nothing: it tells the application the burst is over.
        guard !changes.announced.isEmpty || !changes.withdrawn.isEmpty || changesInProgress else { return nil }
        changesInProgress = false
        deliveredCount = merged.count
        return RouteSnapshot(routesByKey: merged, initial: false, synchronized: true, stalePeers: stalePeers(now: now), changes: changes)
    }

    /// Changes given out while the debounce still runs (`takeChangesInProgress`): the next
    /// `tick` delivery completes them.
    private var changesInProgress = false

    /// What changed since the last delivery, once at least `minimum` keys did and the initial
    /// delivery is made; the debounce goes on, and the `tick` delivery that ends it holds only
    /// what changed after this. A flood's routes then reach the application while the rest
    /// are still being read and the debounce runs, instead of all of them after it.
    mutating func takeChangesInProgress(minimum: Int) -> RouteChanges? {
        guard initialDone, pendingSince != nil, touchedOrder.count >= minimum else { return nil }
        let changes = takeTouched()
        guard !changes.announced.isEmpty || !changes.withdrawn.isEmpty else { return nil }
        changesInProgress = true
        deliveredCount = merged.count
        return changes
    }

    /// The routes of the keys touched since the last delivery, against what it held; forgets them.
    private mutating func takeTouched() -> RouteChanges {
        var announced: [FlowRoute] = [], withdrawn: [FlowRoute] = []
        for k in touchedOrder {
            let before = touched[k]!, after = merged[k]
            if after == before { continue }
            if let after { announced.append(after) } else if let before { withdrawn.append(before) }
        }
        // Emptied, the storage of a flood's keys goes too (`removeAll` would keep it).
        touched = [:]
        touchedOrder = []
        return RouteChanges(announced: announced, withdrawn: withdrawn)
    }

    /// When `tick` next has something to do.
    var nextDeadline: Double? {
        var d: [Double] = order.compactMap { peers[$0]!.staleUntil }
        if !initialDone { d.append(started + initialTimeout) }
        if let since = pendingSince, let last = lastChange { d.append(min(last + debounce, since + maxDelay)) }
        return d.min()
    }
}
