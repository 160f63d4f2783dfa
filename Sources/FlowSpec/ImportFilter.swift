/// Traffic that received routes must leave alone: a route that could match any packet of a
/// protected entry is refused on import, whatever its actions (a flowspec peer can drop any
/// traffic on the switch; the switch's own addresses, its BGP sessions or its management
/// network must not be among it, by accident or malice). `listen --import FILE`
/// (docs/listener.md, "Import filter").
public struct ImportFilter: Sendable, Hashable {
    /// Protected traffic of one family: the packets matching all `components` (the canonical
    /// JSON match vocabulary), named for the logs and the counts.
    public struct Entry: Sendable, Hashable {
        public var name: String
        public var family: AddressFamily
        public var components: [Component]

        public init(name: String, family: AddressFamily, components: [Component]) {
            self.name = name; self.family = family; self.components = components
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// The name of the first entry `route` touches (some packet matches both), nil when none.
    public func refusal(for route: FlowRoute) -> String? {
        for e in entries where e.family == route.family {
            if PacketOverlap.exists(route.components, e.components, family: route.family) { return e.name }
        }
        return nil
    }
}

/// Whether some packet of a family matches two flowspec matches at once, component by
/// component (RFC 8955/8956 semantics). Exact for prefixes (offsets included), numeric and
/// bitmask lists and the `port` component (source OR destination port); a component present
/// in one match only constrains nothing, except for the protocol it implies: ports TCP or UDP,
/// ICMP type and code the family's ICMP, TCP flags TCP (RFC 8955 §4.2.2). Where it errs — the
/// fragment state against ports, say (a later fragment has none) — it errs towards "yes": for an
/// import filter a route refused too many is the safe side.
public enum PacketOverlap {
    public static func exists(_ a: [Component], _ b: [Component], family: AddressFamily) -> Bool {
        func component(_ m: [Component], _ t: ComponentType) -> Component? { m.first { $0.type == t } }
        // Prefixes.
        for t in [ComponentType.destinationPrefix, .sourcePrefix] {
            if let p = component(a, t)?.prefix, let q = component(b, t)?.prefix, !p.overlaps(q) { return false }
        }
        // The protocol, with what the other components imply.
        guard !protocols(a, family).intersection(protocols(b, family)).isEmpty else { return false }
        // Other value components (one that accepts no value makes its match match nothing).
        for t in [ComponentType.icmpType, .icmpCode, .packetLength, .dscp, .flowLabel, .tcpFlags, .fragment] {
            switch (values(component(a, t)), values(component(b, t))) {
            case (nil, nil): continue
            case let (x?, y?): if x.intersection(y).isEmpty { return false }
            case let (x?, nil), let (nil, x?): if x.isEmpty { return false }
            }
        }
        // Ports: a packet has one source and one destination port; `port` is either.
        let all = IntervalSet.all(0xffff)
        let sport = (values(component(a, .sourcePort)) ?? all).intersection(values(component(b, .sourcePort)) ?? all)
        let dport = (values(component(a, .destinationPort)) ?? all).intersection(values(component(b, .destinationPort)) ?? all)
        let eitherA = values(component(a, .port)), eitherB = values(component(b, .port))
        // Each `port` is met by the source or by the destination port: try the four ways.
        for aOnSource in eitherA == nil ? [false] : [true, false] {
            for bOnSource in eitherB == nil ? [false] : [true, false] {
                var s = sport, d = dport
                if let x = eitherA { if aOnSource { s = s.intersection(x) } else { d = d.intersection(x) } }
                if let y = eitherB { if bOnSource { s = s.intersection(y) } else { d = d.intersection(y) } }
                if !s.isEmpty && !d.isEmpty { return true }
            }
        }
        return false
    }

    /// The protocols a match allows: its protocol component, narrowed by ports (TCP, UDP), ICMP
    /// type/code (the family's ICMP) and TCP flags (TCP).
    static func protocols(_ m: [Component], _ family: AddressFamily) -> IntervalSet {
        var p = m.first { $0.type == .ipProtocol }?.numericTerms.map { $0.intervals(max: 0xff) } ?? IntervalSet.all(0xff)
        let icmp: UInt64 = family == .ipv4 ? 1 : 58
        if m.contains(where: { [.port, .destinationPort, .sourcePort].contains($0.type) }) { p = p.intersection(IntervalSet([6...6, 17...17])) }
        if m.contains(where: { $0.type == .icmpType || $0.type == .icmpCode }) { p = p.intersection(IntervalSet([icmp...icmp])) }
        if m.contains(where: { $0.type == .tcpFlags }) { p = p.intersection(IntervalSet([6...6])) }
        return p
    }

    /// The values a numeric or bitmask component accepts; nil for none (no constraint).
    static func values(_ c: Component?) -> IntervalSet? {
        switch c {
        case .numeric(let t, let terms)?: terms.intervals(max: t.maxValue)
        case .bitmask(let t, let terms)?: terms.intervals(max: t.maxValue)
        default: nil
        }
    }
}
