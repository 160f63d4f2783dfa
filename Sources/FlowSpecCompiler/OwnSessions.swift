import FlowSpec

/// A BGP session of the host the table filters, whose packets the table accepts before any
/// route. A table on a hook that sees the host's own traffic (input, output, prerouting, ingress) would
/// otherwise apply received routes to the very session they came over: a drop-everything route
/// (0/0 → 0/0, rate 0) cuts it, the hold timer expires and the routes that cut it can never be
/// withdrawn. Junos added flowspec import policies for the same reason ("to prevent the flow
/// routes from accidentally or maliciously blocking protocol sessions").
public struct ProtectedSession: Sendable, Hashable {
    /// The peer's address.
    public var peer: IPAddress
    /// Our address on the session; nil: any (the listener is bound to the wildcard address and
    /// the kernel picks the source of outgoing connections).
    public var local: IPAddress?
    /// The port we listen on (the peer connects to it) and the peer's (we connect to it).
    public var localPort: UInt16
    public var peerPort: UInt16

    public init(peer: IPAddress, local: IPAddress? = nil, localPort: UInt16 = 179, peerPort: UInt16 = 179) {
        self.peer = peer; self.local = local; self.localPort = localPort; self.peerPort = peerPort
    }

    /// The comment of the session's rules: `own-session <peer>`.
    public var comment: String { OwnSessions.commentPrefix + peer.description }
}

/// The rules that accept the protected sessions' packets, first in the base chain
/// (docs/lowering.md, "The host's own BGP sessions").
public enum OwnSessions {
    static let commentPrefix = "own-session "

    /// Whether a rule comment is an own-session rule's.
    public static func isComment(_ comment: String?) -> Bool { comment?.hasPrefix(commentPrefix) == true }

    /// The rules for `options.protectedSessions` on `options.hook`: per session, the TCP packets
    /// between the peer and us whose port on our side is our listening port or on the peer's
    /// side the peer's — the packets from the peer on input, prerouting and ingress, ours to it on
    /// output, both ways on forward (where they never pass, but the table says what it was
    /// asked). Each rule accepts (with a counter when the table counts), so `show` lists how
    /// many packets each session had let through. They are made by the route compiler from
    /// flowspec routes without actions (which accept), so they are lowered exactly as routes are.
    static func rules(_ options: CompileOptions) -> [NftRule] {
        guard !options.protectedSessions.isEmpty else { return [] }
        var inner = options
        inner.protectedSessions = []
        inner.acceptEstablished = false
        inner.merge = false
        inner.dispatch = .never
        var out: [NftRule] = []
        for s in options.protectedSessions {
            let family = s.peer.family
            let host = family == .ipv4 ? 32 : 128
            let peer = FlowPrefix(address: s.peer, length: host)!
            let local = s.local.flatMap { $0.family == family ? FlowPrefix(address: $0, length: host) : nil }
            let tcp = Component.numeric(.ipProtocol, [.equal(6)])
            func route(inbound: Bool, port: ComponentType, _ value: UInt16) -> FlowRoute {
                var c: [Component] = []
                if let local { c.append(inbound ? .destinationPrefix(local) : .sourcePrefix(local)) }
                c.append(inbound ? .sourcePrefix(peer) : .destinationPrefix(peer))
                c += [tcp, .numeric(port, [.equal(UInt64(value))])]
                return FlowRoute(family: family, components: c.sorted { $0.type.rawValue < $1.type.rawValue })
            }
            var routes: [FlowRoute] = []
            if options.hook != .output {
                routes += [route(inbound: true, port: .destinationPort, s.localPort), route(inbound: true, port: .sourcePort, s.peerPort)]
            }
            if options.hook == .output || options.hook == .forward {
                routes += [route(inbound: false, port: .sourcePort, s.localPort), route(inbound: false, port: .destinationPort, s.peerPort)]
            }
            var c = RouteCompiler(options: inner)
            c.addAll(routes)
            let made = c.finish().table.chains[0].rules
            out += made.map { NftRule(expressions: $0.expressions, comment: s.comment) }
        }
        return out
    }
}

/// The table's own rules at the head of the base chain, before any route: the accept-established
/// rule (`AcceptEstablished`, first: `show` and `TableAdvice` look for it there), then the
/// own-session rules (`OwnSessions`). They carry no route identity, no route is placed before
/// them, and dispatch works on the rules after them.
enum TablePrologue {
    /// The rules of a base chain split into the table's own leading rules and the rest.
    static func split(_ rules: [NftRule]) -> (prologue: [NftRule], rest: [NftRule]) {
        let n = rules.prefix { OwnSessions.isComment($0.comment) || AcceptEstablished.isIt($0) }.count
        return n == 0 ? ([], rules) : (Array(rules[..<n]), Array(rules[n...]))
    }
}
