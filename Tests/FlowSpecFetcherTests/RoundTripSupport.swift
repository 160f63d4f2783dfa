import Foundation
import FlowSpec
import FlowSpecTestSupport

// The round trip compares routes by what they match (FlowSpecTestSupport: TestPacket), not by how
// their terms are spelled.


/// A route's meaning as exact value sets, component by component, for comparing a route with
/// the route read back from its single rule. Spelling is normalised away: terms become value
/// sets, the protocols a route implies (ports → TCP/UDP, ICMP → 1/58, TCP flags → TCP) are
/// intersected in, a transport component that accepts every value counts only as "needs the
/// transport header" (the compiler's `th dport >= 0`), IPv6 packet lengths run from 40 to 65575,
/// and bitmask components become the sets of values (TCP flags over 12 bits) or fragment states
/// they accept.
enum ExactMatch {
    struct Meaning: Equatable {
        var destination: [UInt64]?
        var source: [UInt64]?
        var protocols: IntervalSet
        var numeric: [ComponentType: IntervalSet] = [:]
        var transport = false
        var tcpFlags: Set<UInt64>?
        var fragment: Set<UInt64>?
    }

    static let transportTypes: Set<ComponentType> = [.port, .destinationPort, .sourcePort, .icmpType, .icmpCode]

    /// The fragment states a packet of `family` can be in (DF only in IPv4).
    static func fragmentStates(_ family: AddressFamily) -> [UInt64] {
        let base: [UInt64] = [0, 0x4, 0x2, 0xa]
        return family == .ipv4 ? base + base.map { $0 | 1 } : base
    }

    static func meaning(_ route: FlowRoute) -> Meaning {
        let family = route.family
        func prefix(_ p: FlowPrefix?) -> [UInt64]? {
            // A pattern of no bits (`::/1 offset 1`) matches every address, as 0/0 does.
            guard let p, !p.isAny, p.patternLength > 0 else { return nil }
            let a = p.address.keepingBits(from: Int(p.offset), to: Int(p.length))
            return [UInt64(p.offset), UInt64(p.length), a.high, a.low]
        }
        var protocols = route.component(.ipProtocol)?.numericTerms?.intervals(max: 0xff) ?? .all(0xff)
        if [ComponentType.port, .destinationPort, .sourcePort].contains(where: { route.component($0) != nil }) {
            protocols = protocols.intersection(IntervalSet([6...6, 17...17]))
        }
        if route.component(.icmpType) != nil || route.component(.icmpCode) != nil {
            let v: UInt64 = family == .ipv4 ? 1 : 58
            protocols = protocols.intersection(IntervalSet([v...v]))
        }
        if route.component(.tcpFlags) != nil { protocols = protocols.intersection(IntervalSet([6...6])) }
        var m = Meaning(destination: prefix(route.destination), source: prefix(route.source), protocols: protocols)
        for c in route.components {
            switch c {
            case .numeric(let type, let terms) where type != .ipProtocol:
                var top = type.maxValue, low: UInt64 = 0
                if type == .packetLength && family == .ipv6 { top = 0xffff + 40; low = 40 }
                let possible = IntervalSet([low...top])
                let set = terms.intervals(max: top).intersection(possible)
                if transportTypes.contains(type) { m.transport = true }
                if set != possible { m.numeric[type] = set }
            case .bitmask(.tcpFlags, let terms):
                m.transport = true
                let accepted = Set((0...0xfff as ClosedRange<UInt64>).filter { terms.matches($0) })
                if accepted.count < 0x1000 { m.tcpFlags = accepted }
            case .bitmask(.fragment, let terms):
                let states = fragmentStates(family)
                let accepted = Set(states.filter { terms.matches($0) })
                if accepted.count < states.count { m.fragment = accepted }
            default: break
            }
        }
        return m
    }

    /// Nil when `back` matches the same packets as `route`, else what differs.
    static func difference(_ route: FlowRoute, _ back: FlowRoute) -> String? {
        guard route.family == back.family else { return "family \(route.family.name) read back as \(back.family.name)" }
        let a = meaning(route), b = meaning(back)
        if a == b { return nil }
        var out: [String] = []
        if a.destination != b.destination { out.append("destination") }
        if a.source != b.source { out.append("source") }
        if a.protocols != b.protocols { out.append("protocols \(a.protocols.intervals) vs \(b.protocols.intervals)") }
        for t in Set(a.numeric.keys).union(b.numeric.keys) where a.numeric[t] != b.numeric[t] {
            out.append("\(t.name) \(a.numeric[t].map { "\($0.intervals)" } ?? "any") vs \(b.numeric[t].map { "\($0.intervals)" } ?? "any")")
        }
        if a.transport != b.transport { out.append("transport header \(a.transport) vs \(b.transport)") }
        if a.tcpFlags != b.tcpFlags { out.append("tcp flags (\(a.tcpFlags?.count ?? 4096) vs \(b.tcpFlags?.count ?? 4096) values)") }
        if a.fragment != b.fragment { out.append("fragment states \(a.fragment.map { $0.sorted() } ?? []) vs \(b.fragment.map { $0.sorted() } ?? [])") }
        return out.joined(separator: "; ")
    }
}
