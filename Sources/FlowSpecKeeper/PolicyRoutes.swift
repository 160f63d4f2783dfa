import FlowSpec
import FlowSpecCompiler

/// What an unreachable redirect next hop does to the traffic redirected to it
/// (`--unreachable-next-hop`).
public enum UnreachableNextHop: String, Sendable, Hashable, CaseIterable {
    /// The next hop's table answers "unreachable": the flow is dropped with ICMP unreachable
    /// rather than sent where the controller did not want it.
    case unreachable
    /// The next hop's table throws: the flow goes on by the normal routing table until the next
    /// hop is back.
    case normalPath = "normal-path"
}

/// The kernel half of the tool's redirects: for each next hop (redirect-to-IP) a mark, an
/// `ip rule fwmark M lookup T` and in table T a route to the next hop and a default via it,
/// resolved as the kernel resolves it (`ip route get`); for each `--vrf RT=DEVICE` a mark and
/// rules `fwmark M lookup <the VRF's table>` (IPv4 and IPv6). Marks and tables come from
/// `RedirectRanges`; everything in them with the tool's protocol number is the tool's.
///
/// The keeper orders its work around the nft table: `ensure` before the batch that sets the
/// marks, `prune` after the batch that stopped setting them, so no marked packet looks up a
/// missing table (docs/lowering.md, "Redirect").
///
/// A next hop keeps its mark for this object's life (a mark that changed would make every rule
/// that sets it change): its slot is freed only when the range is full and it is unused. Across
/// processes the marks are read back from the kernel (`init`): the route to the next hop in its
/// table names it.
public final class PolicyRoutes {
    public struct Configuration: Sendable, Hashable {
        public var ranges: RedirectRanges
        /// `--vrf RT=DEVICE`: the VRF (l3mdev) device a redirect route target sends packets into.
        public var vrfs: [RouteTarget: String]
        public var unreachableNextHop: UnreachableNextHop

        public init(ranges: RedirectRanges = RedirectRanges(), vrfs: [RouteTarget: String] = [:],
                    unreachableNextHop: UnreachableNextHop = .unreachable) {
            self.ranges = ranges; self.vrfs = vrfs; self.unreachableNextHop = unreachableNextHop
        }
    }

    public let configuration: Configuration
    private let writer: any PolicyRoutingWriter
    /// Whether its rules and routes reach the kernel (not through `CheckedPolicyRouting`).
    public var commits: Bool { writer.commits }
    private var ranges: RedirectRanges { configuration.ranges }
    /// Next hop → slot; kept for this object's life (see the type's comment).
    public private(set) var nextHopSlots: [IPAddress: Int] = [:]
    /// VRF route target → slot: fixed by the configuration, counted down from the range's top.
    public let vrfSlots: [RouteTarget: Int]

    /// Reads back the next hops' slots from the kernel. Throws when the kernel cannot be read.
    public init(configuration: Configuration, writer: any PolicyRoutingWriter) throws {
        self.configuration = configuration
        self.writer = writer
        let targets = configuration.vrfs.keys.sorted { "\($0)" < "\($1)" }
        vrfSlots = Dictionary(uniqueKeysWithValues: targets.enumerated().map { ($1, configuration.ranges.count - 1 - $0) })
        for rule in try ownedRules() {
            guard let slot = ranges.slot(ofMark: rule.mark), rule.table == ranges.table(slot), !vrfSlots.values.contains(slot) else { continue }
            for route in try writer.routes(table: rule.table, family: rule.family)
            where route.protocolNumber == PolicyRouting.protocolNumber && route.prefixLength == rule.family.bitWidth {
                nextHopSlots[route.destination] = slot
            }
        }
    }

    /// The marks the compiler sets for next hops (`CompileOptions.nextHopMarks`).
    public var nextHopMarks: [IPAddress: UInt32] { nextHopSlots.mapValues(ranges.mark) }
    /// The marks of the VRF route targets (`CompileOptions.redirectMarks`).
    public var vrfMarks: [RouteTarget: UInt32] { vrfSlots.mapValues(ranges.mark) }

    /// The redirects of `routes` this object can carry out: next hops of the route's family
    /// without the copy bit (the compiler rejects the others), and route targets with a VRF.
    public func targets(of routes: some Sequence<FlowRoute>) -> Set<RedirectTarget> {
        var out = Set<RedirectTarget>()
        for r in routes { if let t = target(of: r) { out.insert(t) } }
        return out
    }

    public func target(of route: FlowRoute) -> RedirectTarget? {
        switch RedirectTarget(of: route) {
        case .nextHop(let ip, false) where ip.family == route.family: .nextHop(ip, copy: false)
        case .routeTarget(let rt) where configuration.vrfs[rt] != nil: .routeTarget(rt)
        default: nil
        }
    }

    /// Whether every next hop of `targets` has a mark already.
    public func hasMarks(for targets: Set<RedirectTarget>) -> Bool {
        targets.allSatisfy { if case .nextHop(let ip, _) = $0 { nextHopSlots[ip] != nil } else { true } }
    }

    /// Gives the next hops of `targets` that have none a slot (the lowest free). When the range
    /// is full, the slots of next hops not in `targets` are freed first. Returns whether the marks
    /// changed (the compile options must follow, and a planner made with the old ones is stale).
    /// A next hop left without a slot (range full) has no mark: the compiler rejects its routes.
    @discardableResult
    public func assign(_ targets: Set<RedirectTarget>) -> Bool {
        let missing = targets.compactMap { t -> IPAddress? in
            if case .nextHop(let ip, _) = t, nextHopSlots[ip] == nil { return ip } else { return nil }
        }.sorted()
        guard !missing.isEmpty else { return false }
        func free() -> [Int] {
            let used = Set(nextHopSlots.values).union(vrfSlots.values)
            return (0..<ranges.count).filter { !used.contains($0) }
        }
        var slots = free()
        if slots.count < missing.count {
            for (ip, _) in nextHopSlots where !targets.contains(.nextHop(ip, copy: false)) { nextHopSlots[ip] = nil }
            slots = free()
        }
        for (ip, slot) in zip(missing, slots) { nextHopSlots[ip] = slot }
        return true
    }

    // MARK: - The kernel

    /// Installs what `targets` need and is missing or stale: a next hop's routes (re-resolved
    /// now) before its rule, a VRF's rules. Call before the nft change that sets the marks.
    public func ensure(_ targets: Set<RedirectTarget>) throws {
        let rules = try ownedRules()
        for target in targets.sorted(by: { "\($0)" < "\($1)" }) {
            guard let (slot, wanted) = try desiredRules(target) else { continue }
            if case .nextHop(let ip, _) = target { try syncRoutes(ip, slot: slot) }
            let present = rules.filter { ranges.slot(ofMark: $0.mark) == slot }
            for stale in present where !wanted.contains(stale) { try writer.delete(stale) }
            for rule in wanted where !present.contains(rule) { try writer.add(rule) }
        }
    }

    /// Removes the rules of every slot not used by `targets`, then the routes of the next hops'
    /// tables among them. Call after the nft change that stopped setting their marks.
    public func prune(keeping targets: Set<RedirectTarget>) throws {
        var kept = Set<Int>()
        for t in targets { if let s = slot(of: t) { kept.insert(s) } }
        var tables = Set<Int>()
        for rule in try ownedRules() {
            guard let slot = ranges.slot(ofMark: rule.mark), !kept.contains(slot) else { continue }
            try writer.delete(rule)
            if rule.table == ranges.table(slot) { tables.insert(slot) }
        }
        for (_, slot) in nextHopSlots where !kept.contains(slot) { tables.insert(slot) }
        for slot in tables.sorted() { try clearTable(slot) }
    }

    /// Resolves every next hop that has a rule again and changes its table's routes where the
    /// path changed (`watch`/`listen`: on rtnetlink notifications). Returns one line per change.
    public func follow() throws -> [String] {
        var changes: [String] = []
        let ruled = Set(try ownedRules().compactMap { ranges.slot(ofMark: $0.mark) })
        for (ip, slot) in nextHopSlots.sorted(by: { $0.key < $1.key }) where ruled.contains(slot) {
            if let change = try syncRoutes(ip, slot: slot) { changes.append(change) }
        }
        return changes
    }

    /// Everything the tool has in the kernel, slot by slot (`show`).
    public func list() throws -> [Entry] {
        let rules = try ownedRules()
        var bySlot: [Int: Entry] = [:]
        for rule in rules {
            guard let slot = ranges.slot(ofMark: rule.mark) else { continue }
            bySlot[slot, default: Entry(mark: rule.mark, rules: [], routes: [])].rules.append(rule)
        }
        for (slot, entry) in bySlot {
            for family in Set(entry.rules.map(\.family)) where entry.rules.contains(where: { $0.table == ranges.table(slot) }) {
                bySlot[slot]!.routes += try writer.routes(table: ranges.table(slot), family: family)
                    .filter { $0.protocolNumber == PolicyRouting.protocolNumber }
            }
        }
        return bySlot.keys.sorted().map { bySlot[$0]! }
    }

    /// Removes every rule of the tool and every route of its tables (`flush`, `--flush-on-exit`).
    public func removeAll() throws {
        for rule in try ownedRules() { try writer.delete(rule) }
        for slot in 0..<ranges.count { try clearTable(slot) }
    }

    /// One slot as the kernel holds it: its rules and (for a next hop) the routes of its table.
    public struct Entry: Sendable, Hashable {
        public var mark: UInt32
        public var rules: [FibRule]
        public var routes: [FibRoute]
    }

    /// A route or rule as `ip` would print it, with device names.
    public func describe(_ route: FibRoute) -> String {
        guard case .unicast(let gateway, let device) = route.kind else { return route.description }
        let dst = route.isDefault ? "default" : "\(route.destination)/\(route.prefixLength)"
        return dst + (gateway.map { " via \($0)" } ?? "") + " dev \(writer.deviceName(device) ?? "#\(device)") table \(route.table)"
    }

    // MARK: - Private

    private func slot(of target: RedirectTarget) -> Int? {
        switch target {
        case .nextHop(let ip, _): nextHopSlots[ip]
        case .routeTarget(let rt): vrfSlots[rt]
        }
    }

    /// The rules `target` needs, with its slot; nil when it has no slot (the compiler rejected
    /// or ignored its routes, so nothing sets a mark for it).
    private func desiredRules(_ target: RedirectTarget) throws -> (Int, [FibRule])? {
        guard let slot = slot(of: target) else { return nil }
        let mark = ranges.mark(slot)
        switch target {
        case .nextHop(let ip, _):
            return (slot, [FibRule(family: ip.family, priority: ranges.rulePriority, mark: mark, table: ranges.table(slot))])
        case .routeTarget(let rt):
            let table = try writer.vrfTable(device: configuration.vrfs[rt]!)
            return (slot, AddressFamily.allCases.map { FibRule(family: $0, priority: ranges.rulePriority, mark: mark, table: table) })
        }
    }

    /// The routes of next hop `ip`'s table: to the next hop itself (which names it, for the next
    /// process) and the default, via the path the kernel takes to it now.
    func desiredRoutes(_ ip: IPAddress, slot: Int) throws -> [FibRoute] {
        let table = ranges.table(slot)
        let kind: FibRoute.Kind
        switch try writer.path(to: ip) {
        case .via(let gateway, let device): kind = .unicast(gateway: gateway, device: device)
        case .unreachable: kind = configuration.unreachableNextHop == .unreachable ? .unreachable : .throw
        }
        var toDefault = kind
        // On a connected network the default goes via the next hop itself.
        if case .unicast(nil, let device) = kind { toDefault = .unicast(gateway: ip, device: device) }
        return [FibRoute(table: table, destination: ip, prefixLength: UInt8(ip.family.bitWidth), kind: kind),
                FibRoute(table: table, destination: .zero(ip.family), prefixLength: 0, kind: toDefault)]
    }

    /// Brings next hop `ip`'s table to `desiredRoutes`; a line saying what changed, or nil.
    @discardableResult
    private func syncRoutes(_ ip: IPAddress, slot: Int) throws -> String? {
        let wanted = try desiredRoutes(ip, slot: slot)
        let present = try writer.routes(table: ranges.table(slot), family: ip.family)
            .filter { $0.protocolNumber == PolicyRouting.protocolNumber }
        guard Set(present) != Set(wanted) else { return nil }
        for route in wanted where !present.contains(route) { try writer.replace(route) }
        for route in present where !wanted.contains(where: { $0.destination == route.destination && $0.prefixLength == route.prefixLength }) {
            try writer.delete(route)
        }
        return "next hop \(ip): " + (wanted.last.map(describe) ?? "")
    }

    private func clearTable(_ slot: Int) throws {
        for family in AddressFamily.allCases {
            for route in try writer.routes(table: ranges.table(slot), family: family) where route.protocolNumber == PolicyRouting.protocolNumber {
                try writer.delete(route)
            }
        }
    }

    /// The tool's rules: its protocol number, a mark in its range.
    private func ownedRules() throws -> [FibRule] {
        try AddressFamily.allCases.flatMap { try writer.rules(family: $0) }.filter {
            $0.protocolNumber == PolicyRouting.protocolNumber && ranges.slot(ofMark: $0.mark) != nil
        }
    }
}
