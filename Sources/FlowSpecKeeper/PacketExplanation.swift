import FlowSpec
import FlowSpecCompiler

/// Which installed route decides a packet and why (`flowspec-nft explain`): the packet run
/// through the table (`TableInterpreter`, on the table as the kernel holds it), the routes whose
/// match holds in the order the chain meets them with what each did, and the verdict with the
/// route that gave it, or the chain policy. A route with a rate limit lets a conforming packet
/// go on and drops the rest: when the packet met one, the verdict over the rate is given too.
public struct PacketExplanation: Sendable {
    /// One route (or the table's own rule) the packet matched.
    public struct Match: Sendable, Hashable {
        /// The route identity, or the comment of the table's own rule (accept-established, own session).
        public var identity: String
        /// The route, when the identity decodes.
        public var route: FlowRoute?
        /// Its actions, as `show` lists them.
        public var actions: [String]
        /// Its position among `show`'s rows (1-based), when it is a route's row.
        public var row: Int?
    }

    public var packet: Packet
    public var table: String
    public var chain: String
    public var hook: String
    public var policy: String
    /// Routes in the table (`show`'s rows).
    public var routes: Int
    /// The routes whose match holds for the packet, in the order the chain met them, up to and
    /// including the one that decided (the packet never reaches the later ones).
    public var matched: [Match]
    /// The verdict: `accept` or `drop`, by `decidedBy`, or the chain policy's when nil.
    public var verdict: String
    public var decidedBy: Match?
    /// The packet's DSCP rewritten by a traffic-marking route, its mark set by a redirect, its
    /// headers logged by a sample route.
    public var dscp: UInt8?
    public var mark: UInt32?
    public var logged: Bool
    /// The rate limits the packet is measured against (limit object names); with any, the
    /// verdict when it is over them (every one), and the route that gives it.
    public var limiters: [String]
    public var verdictOverRate: String?
    public var decidedOverRateBy: Match?
    /// What the interpreter could not follow in the table (a foreign expression): the
    /// explanation may not be what the kernel does.
    public var problems: [String]

    public init(table: NftTable, packet: Packet, policyCounted: (packets: UInt64, bytes: UInt64)? = nil) {
        let rows = InstalledRoutes(table, policyCounted: policyCounted)
        var byIdentity: [String: (InstalledRoutes.Entry, Int)] = [:]
        for (i, e) in rows.entries.enumerated() where byIdentity[e.identity] == nil { byIdentity[e.identity] = (e, i + 1) }
        func match(_ id: String) -> Match {
            if let (e, row) = byIdentity[id] { return Match(identity: id, route: e.route, actions: e.actions, row: row) }
            return Match(identity: id, route: RouteIdentity.decode(id), actions: [], row: nil)
        }
        self.packet = packet
        self.table = rows.table
        chain = rows.chain
        hook = rows.hook
        policy = rows.policy
        routes = rows.entries.count
        let under = TableInterpreter.evaluate(table, packet) { _ in false }
        matched = under.matched.map(match)
        verdict = under.verdict.map { "\($0)" } ?? policy
        decidedBy = under.decidedBy.map(match)
        dscp = under.dscp
        mark = under.mark
        logged = under.logs > 0
        limiters = under.limiters
        problems = under.problems
        if !under.limiters.isEmpty {
            let over = TableInterpreter.evaluate(table, packet) { _ in true }
            verdictOverRate = over.verdict.map { "\($0)" } ?? policy
            decidedOverRateBy = over.decidedBy.map(match)
            problems += over.problems.filter { !problems.contains($0) }
        }
    }
}
