import FlowSpec

/// What the speaker is and whom it talks to. All times are in seconds.
public struct SpeakerConfig: Sendable {
    /// Local AS, 4-octet (RFC 6793). Above 65535 the OPEN's 2-octet field carries AS_TRANS.
    public var localAS: UInt32
    /// BGP identifier, an IPv4 address (RFC 4271 §4.2; RFC 6286 allows any non-zero value).
    public var routerID: UInt32
    /// Address to listen on (`0.0.0.0` / `::` for all) and the port (179 unless told otherwise).
    public var listenAddress: IPAddress
    public var listenPort: UInt16
    public var peers: [PeerConfig]
    /// Proposed hold time (0 or ≥ 3); the session uses the smaller of ours and the peer's.
    public var holdTime: UInt16
    /// Seconds between outgoing connection attempts, and the idle time after a session error.
    public var connectRetryTime: Double
    /// Longest wait for the peer's OPEN once a connection is up (the OpenSent hold time). RFC
    /// 4271 §8.2.2 suggests 4 minutes, but every speaker sends its OPEN as soon as TCP is up, and
    /// a connection that stays silent holds a descriptor and the peer's one pending slot: a few
    /// seconds is plenty for a real peer and frees the slot from an idle one quickly.
    public var openHoldTime: Double
    /// Quiet time after the last change before the route set is delivered.
    public var debounce: Double
    /// Longest a delivery may be postponed by a stream of changes.
    public var maxDebounceDelay: Double
    /// Longest wait for every peer's End-of-RIB before the first delivery.
    public var initialSyncTimeout: Double
    /// How long a lost peer's routes stay in the delivered set (graceful-restart style) before
    /// they are dropped. 0 drops them at once.
    public var staleTime: Double
    /// The peers send the same routes (route reflectors): a lost peer's routes go at once while
    /// another peer is Established with its End-of-RIB of the family (`RouteBook.redundant`).
    public var redundantPeers = false
    /// Received routes that touch protected traffic are refused (treated as withdrawn), for
    /// every peer; nil: all are taken.
    public var importFilter: ImportFilter?

    public init(localAS: UInt32, routerID: UInt32, listenAddress: IPAddress = .zero(.ipv4),
                listenPort: UInt16 = 179, peers: [PeerConfig], holdTime: UInt16 = 90,
                connectRetryTime: Double = 30, openHoldTime: Double = 5, debounce: Double = 0.2,
                maxDebounceDelay: Double = 2, initialSyncTimeout: Double = 30, staleTime: Double = 120,
                importFilter: ImportFilter? = nil) {
        self.localAS = localAS; self.routerID = routerID
        self.listenAddress = listenAddress; self.listenPort = listenPort; self.peers = peers
        self.holdTime = holdTime; self.connectRetryTime = connectRetryTime; self.openHoldTime = openHoldTime
        self.debounce = debounce; self.maxDebounceDelay = maxDebounceDelay
        self.initialSyncTimeout = initialSyncTimeout; self.staleTime = staleTime
        self.importFilter = importFilter
    }

    /// The families this speaker offers: IPv4 and IPv6 flowspec.
    public static let families: [AddressFamily] = [.ipv4, .ipv6]
}

/// How many routes a peer may hold in its Adj-RIB-In (`maximum-prefix` in other speakers), and
/// what happens to an UPDATE that would take it over.
public struct RouteLimit: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable, CaseIterable {
        /// New routes beyond the limit are not taken (replacements and withdrawals are); they
        /// are counted and reported. A refused route is not remembered: it comes back only when
        /// the peer announces it again (ROUTE-REFRESH asks for that).
        case refuse
        /// The session is closed with Cease 6/1 (RFC 4486: Maximum Number of Prefixes Reached,
        /// with AFI, SAFI and the limit as data) and the peer is neither connected to nor
        /// accepted from for `restartDelay` seconds; the UPDATE that crossed is not applied.
        case restart
    }

    /// Routes of all families together; nil: no such limit.
    public var total: Int?
    /// Routes of one family.
    public var perFamily: [AddressFamily: Int]
    public var action: Action
    public var restartDelay: Double

    public init(total: Int? = nil, perFamily: [AddressFamily: Int] = [:], action: Action = .refuse, restartDelay: Double = 60) {
        self.total = total; self.perFamily = perFamily; self.action = action; self.restartDelay = restartDelay
    }

    /// The limit a route of `family` meets first: its family's or the total.
    func bound(_ family: AddressFamily) -> Int? {
        switch (perFamily[family], total) {
        case let (f?, t?): min(f, t)
        case let (f, t): f ?? t
        }
    }
}

/// One configured neighbour.
public struct PeerConfig: Sendable, Hashable {
    public var address: IPAddress
    public var peerAS: UInt32
    /// Port for outgoing connections (the peer's listening port).
    public var port: UInt16
    /// Passive: never connect out, only accept the peer's connection.
    public var passive: Bool
    /// Source address for outgoing connections; nil uses the listen address when it is not
    /// the wildcard, else whatever the kernel picks.
    public var localAddress: IPAddress?
    /// The most routes the peer may hold; nil: no limit.
    public var routeLimit: RouteLimit?
    /// TCP-MD5 key (RFC 2385, 1 to 80 octets) shared with the peer: the kernel then drops every
    /// segment from the peer's address without a valid signature, before a connection exists.
    public var md5Key: [UInt8]?
    /// GTSM (RFC 5082): the peer is at most this many hops away (1: directly connected). Our
    /// segments leave with TTL 255 and the kernel drops the peer's that arrive with less than
    /// 256 − hops. nil: no TTL check.
    public var ttlSecurityHops: UInt8?

    public init(address: IPAddress, peerAS: UInt32, port: UInt16 = 179, passive: Bool = false,
                localAddress: IPAddress? = nil, routeLimit: RouteLimit? = nil, md5Key: [UInt8]? = nil,
                ttlSecurityHops: UInt8? = nil) {
        self.address = address; self.peerAS = peerAS; self.port = port; self.passive = passive
        self.localAddress = localAddress; self.routeLimit = routeLimit
        self.md5Key = md5Key; self.ttlSecurityHops = ttlSecurityHops
    }

    /// The name events and status use for this peer: its address.
    public var name: String { address.description }
}

/// RFC 4271 §8.2.2 session states, plus the peer-level view (Idle/Connect/Active have no
/// session yet).
public enum PeerState: String, Sendable, Hashable, Comparable {
    case idle = "Idle", connect = "Connect", active = "Active"
    case openSent = "OpenSent", openConfirm = "OpenConfirm", established = "Established"

    var rank: Int {
        switch self {
        case .idle: 0; case .connect: 1; case .active: 2; case .openSent: 3; case .openConfirm: 4; case .established: 5
        }
    }

    public static func < (a: PeerState, b: PeerState) -> Bool { a.rank < b.rank }
}

extension IPAddress {
    /// True for 0.0.0.0 and ::.
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// ::ffff:a.b.c.d for an IPv4 address (how an IPv6 socket names it).
    var ipv4Mapped: IPAddress {
        IPAddress(family: .ipv6, bytes: [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + bytes)
    }
}
