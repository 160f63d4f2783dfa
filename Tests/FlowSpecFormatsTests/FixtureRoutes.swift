import FlowSpec
import FlowSpecFormats
import Foundation

/// The routes of /work/shared/fixtures/README.md, written by hand from its tables (BIRD's
/// configuration and the operator bytes BIRD 2.0.12 puts on the wire: minimal value lengths,
/// `a..b` as `>= a && <= b`, lists as OR), keyed by the README's ids.
enum FixtureRoutes {
    // MARK: building blocks

    static func p(_ s: String) -> FlowPrefix { FlowPrefix(s)! }
    static func dst(_ s: String) -> Component { .destinationPrefix(p(s)) }
    static func src(_ s: String) -> Component { .sourcePrefix(p(s)) }
    /// `== a || == b || …`
    static func eq(_ t: ComponentType, _ vs: UInt64...) -> Component { .numeric(t, vs.map { NumericTerm.equal($0) }) }
    /// `>= lo && <= hi`
    static func range(_ lo: UInt64, _ hi: UInt64, and: Bool = false) -> [NumericTerm] {
        [NumericTerm(and: and, gt: true, eq: true, value: lo), NumericTerm(and: true, lt: true, eq: true, value: hi)]
    }
    static func num(_ t: ComponentType, _ terms: [NumericTerm]) -> Component { .numeric(t, terms) }
    static func bits(_ t: ComponentType, _ terms: [BitmaskTerm]) -> Component { .bitmask(t, terms) }
    static func rate(_ r: Float, asn: UInt16 = 0) -> FlowAction { .trafficRateBytes(asn: asn, bytesPerSecond: r) }
    static let drop = rate(0)
    static func mark(_ v: UInt64) -> FlowAction { .trafficMarking(dscp: UInt8(v & 0x3f), value: v) }
    static func redirect(_ s: String) -> FlowAction { .redirect(RouteTarget(s)!) }
    static func r4(_ c: [Component], _ a: [FlowAction]) -> FlowRoute { FlowRoute(family: .ipv4, components: c, actions: a) }
    static func r6(_ c: [Component], _ a: [FlowAction]) -> FlowRoute { FlowRoute(family: .ipv6, components: c, actions: a) }

    static let tcp: UInt64 = 6, udp: UInt64 = 17

    // MARK: default set

    static let v4: [String: FlowRoute] = [
        "v4-01": r4([dst("203.0.113.10/32"), eq(.ipProtocol, tcp), eq(.destinationPort, 80)], [drop]),
        "v4-02": r4([dst("203.0.113.10/32"), src("198.51.100.0/24"), eq(.ipProtocol, udp), eq(.destinationPort, 53)], [rate(125000)]),
        "v4-03": r4([dst("203.0.113.11/32"), eq(.ipProtocol, tcp), eq(.destinationPort, 22, 23, 3389)], [drop]),
        "v4-04": r4([dst("203.0.113.12/32"), eq(.ipProtocol, tcp, udp), num(.port, range(1, 1023))], [drop]),
        "v4-05": r4([dst("203.0.113.20/32"), eq(.ipProtocol, tcp),
                     num(.destinationPort, [NumericTerm(gt: true, value: 1024), NumericTerm(and: true, lt: true, value: 2048)])], [drop]),
        "v4-06": r4([dst("203.0.113.20/32"), eq(.ipProtocol, udp), num(.sourcePort, range(49152, 65535))], [rate(1.25e6)]),
        "v4-07": r4([dst("203.0.113.21/32"), eq(.ipProtocol, udp), eq(.sourcePort, 123)], [rate(12500)]),
        "v4-08": r4([dst("203.0.113.22/32"), eq(.ipProtocol, 1), eq(.icmpType, 8)], [rate(12500)]),
        "v4-09": r4([dst("203.0.113.22/32"), eq(.ipProtocol, 1), eq(.icmpType, 3), eq(.icmpCode, 4)], [drop]),
        "v4-10": r4([dst("203.0.113.23/32"), eq(.ipProtocol, 1), num(.icmpType, range(0, 8)), eq(.icmpCode, 0)], [drop]),
        "v4-11": r4([dst("203.0.113.30/32"), eq(.ipProtocol, tcp),
                     bits(.tcpFlags, [BitmaskTerm(match: true, value: 0x02), BitmaskTerm(and: true, not: true, value: 0x10)])], [rate(125000)]),
        "v4-12": r4([dst("203.0.113.31/32"), eq(.ipProtocol, tcp), bits(.tcpFlags, [BitmaskTerm(value: 0x3f)])], [drop]),
        "v4-13": r4([dst("203.0.113.31/32"), eq(.ipProtocol, tcp),
                     bits(.tcpFlags, [BitmaskTerm(match: true, value: 0x29), BitmaskTerm(and: true, not: true, value: 0xd6)])], [drop]),
        "v4-14": r4([dst("203.0.113.32/32"), eq(.ipProtocol, tcp),
                     bits(.tcpFlags, [BitmaskTerm(match: true, value: 0x04), BitmaskTerm(match: true, value: 0x01)])], [drop]),
        "v4-15": r4([dst("203.0.113.40/32"), num(.packetLength, [NumericTerm(gt: true, value: 1400)])], [drop]),
        "v4-16": r4([dst("203.0.113.40/32"), eq(.ipProtocol, udp), num(.packetLength, range(28, 64))], [rate(12500)]),
        "v4-17": r4([dst("203.0.113.41/32"), num(.packetLength, [NumericTerm(lt: true, value: 64), NumericTerm(gt: true, value: 1500)])], [drop]),
        "v4-18": r4([dst("203.0.113.50/32"), eq(.dscp, 46)], [mark(0)]),
        "v4-19": r4([dst("203.0.113.51/32"), num(.dscp, range(8, 15))], [rate(125000)]),
        "v4-20": r4([dst("203.0.113.60/32"), bits(.fragment, [BitmaskTerm(match: true, value: 0x02)])], [drop]),
        "v4-21": r4([dst("203.0.113.60/32"), bits(.fragment, [BitmaskTerm(match: true, value: 0x01)])], [rate(125000)]),
        "v4-22": r4([dst("203.0.113.61/32"), bits(.fragment, [BitmaskTerm(match: true, value: 0x04), BitmaskTerm(match: true, value: 0x08)])], [drop]),
        "v4-23": r4([dst("203.0.113.62/32"), eq(.ipProtocol, udp), bits(.fragment, [BitmaskTerm(not: true, value: 0x02)])], [rate(1.25e6)]),
        "v4-24": r4([dst("203.0.113.70/32"), eq(.ipProtocol, tcp), eq(.destinationPort, 443)], [.trafficAction(sample: true, terminal: false)]),
        "v4-25": r4([dst("203.0.113.71/32"), eq(.ipProtocol, tcp), eq(.destinationPort, 8080)],
                    [rate(125000), .trafficAction(sample: false, terminal: true)]),
        "v4-26": r4([dst("203.0.113.72/32"), eq(.ipProtocol, udp)], [redirect("65309:100")]),
        "v4-27": r4([dst("203.0.113.73/32"), eq(.ipProtocol, udp)], [redirect("192.0.2.1:100")]),
        "v4-28": r4([dst("203.0.113.80/32"), eq(.ipProtocol, udp), eq(.destinationPort, 11211)], [drop, mark(10)]),
        "v4-29": r4([dst("203.0.113.81/32"), eq(.ipProtocol, udp), eq(.destinationPort, 19)], [drop, mark(20)]),
        "v4-30": r4([dst("203.0.113.82/32"), eq(.ipProtocol, udp), eq(.sourcePort, 389)], [rate(125000), mark(30)]),
        "v4-31": r4([dst("0.0.0.0/0"), src("0.0.0.0/0")], [drop]),
        "v4-32": r4([dst("198.51.100.0/24"), src("203.0.113.0/24"), eq(.ipProtocol, tcp), eq(.destinationPort, 25),
                     num(.sourcePort, range(1024, 65535))], [drop]),
        "v4-33": r4([dst("192.0.2.128/25"), eq(.ipProtocol, tcp),
                     num(.port, [NumericTerm.equal(80), NumericTerm.equal(443)] + range(8000, 8999))], [rate(125000)]),
        "v4-34": r4([dst("203.0.113.90/32"), src("198.51.100.10/32"), eq(.ipProtocol, tcp), eq(.port, 80), eq(.destinationPort, 80),
                     num(.sourcePort, [NumericTerm(gt: true, value: 1023)]), eq(.icmpType, 0), eq(.icmpCode, 0),
                     bits(.tcpFlags, [BitmaskTerm(match: true, value: 0x02)]), num(.packetLength, range(40, 1500)), eq(.dscp, 0),
                     bits(.fragment, [BitmaskTerm(not: true, value: 0x02)])], [rate(1.25e6), mark(10)]),
        "v4-35": r4([dst("203.0.113.91/32"), eq(.ipProtocol, 50, 51)], [drop]),
        "v4-36": r4([dst("203.0.113.92/32"), eq(.ipProtocol, udp), eq(.sourcePort, 0)], [drop]),
        "v4-37": r4([dst("203.0.113.93/32"), eq(.ipProtocol, 47)], [drop]),
        "v4-38": r4([dst("203.0.113.94/32"), eq(.ipProtocol, tcp), eq(.destinationPort, 3306)], [rate(125000, asn: 65309)]),
        "v4-39": r4([dst("203.0.113.95/32"), eq(.ipProtocol, udp), eq(.destinationPort, 500)], [redirect("65309:300")]),
        "v4-40": r4([dst("203.0.113.96/32"), eq(.ipProtocol, tcp)], [.redirectToIP(IPAddress("192.0.2.1")!, copy: false)]),
        "v4-41": r4([dst("203.0.113.97/32"), eq(.ipProtocol, tcp), eq(.destinationPort, 5000),
                     num(.sourcePort, [NumericTerm(value: 0)])], [drop]),
    ]

    static let v6: [String: FlowRoute] = [
        "v6-01": r6([dst("2001:db8:113::10/128"), eq(.ipProtocol, tcp), eq(.destinationPort, 80)], [drop]),
        "v6-02": r6([dst("2001:db8:113::/48"), src("2001:db8:5100::/48"), eq(.ipProtocol, udp), eq(.destinationPort, 53)], [rate(125000)]),
        "v6-03": r6([dst("2001:db8:113::20/128"), eq(.ipProtocol, 58), eq(.icmpType, 128)], [rate(12500)]),
        "v6-04": r6([dst("2001:db8:113::20/128"), eq(.ipProtocol, 58), eq(.icmpType, 1), eq(.icmpCode, 4)], [drop]),
        "v6-05": r6([dst("2001:db8:113::30/128"), eq(.ipProtocol, tcp),
                     bits(.tcpFlags, [BitmaskTerm(match: true, value: 0x02), BitmaskTerm(and: true, not: true, value: 0x10)])], [rate(125000)]),
        "v6-06": r6([dst("2001:db8:113::40/128"), num(.packetLength, [NumericTerm(gt: true, value: 1280)])], [drop]),
        "v6-07": r6([dst("2001:db8:113::50/128"), eq(.dscp, 46)], [mark(0)]),
        "v6-08": r6([dst("2001:db8:113::60/128"), bits(.fragment, [BitmaskTerm(match: true, value: 0x02), BitmaskTerm(match: true, value: 0x04)])], [drop]),
        "v6-09": r6([dst("2001:db8:113::70/128"), eq(.flowLabel, 0x8e5)], [drop]),
        "v6-10": r6([dst("2001:db8:113::/64"), eq(.ipProtocol, udp)], [drop]),
        "v6-11": r6([dst("2001:db8:113::80/128"), eq(.ipProtocol, tcp), eq(.port, 25, 110, 143, 587, 993)], [redirect("65309:200")]),
        "v6-12": r6([dst("2001:db8:113::81/128"), eq(.ipProtocol, udp), eq(.destinationPort, 1900)], [drop, mark(40)]),
        "v6-13": r6([dst("2001:db8:113::82/128"), num(.flowLabel, range(0x100, 0x1ff))], [.trafficAction(sample: true, terminal: true)]),
        "v6-14": r6([dst("::/0"), src("::/0")], [drop]),
    ]

    // MARK: frr-reject and exabgp-reject sets

    static let q: [String: FlowRoute] = [
        "q4-01": r4([dst("203.0.113.91/32"),
                     num(.ipProtocol, [NumericTerm(lt: true, gt: true, value: 6), NumericTerm(and: true, lt: true, gt: true, value: 17)])], [drop]),
        "q4-02": r4([dst("203.0.113.97/32"), eq(.ipProtocol, tcp), num(.destinationPort, [NumericTerm(lt: true, gt: true, eq: true, value: 0)])], [drop]),
        "q4-03": r4([dst("203.0.113.98/32"), eq(.ipProtocol, tcp), eq(.destinationPort, 21, 23, 25, 110, 143, 445)], [drop]),
        "q6-01": r6([.destinationPrefix(FlowPrefix(address: IPAddress("::10")!, length: 128, offset: 64)!), eq(.ipProtocol, udp)], [drop]),
        "q6-02": r6([dst("2001:db8:113::80/128"), eq(.ipProtocol, tcp), eq(.port, 25, 110, 143, 587, 993, 995)], [drop]),
        // BIRD 2.0.12 writes `label 0x12345` as the 2-octet value 0x2345: what the speakers received.
        "q6-03": r6([dst("2001:db8:113::70/128"), eq(.flowLabel, 0x2345)], [drop]),
    ]

    static let x: [String: FlowRoute] = [
        "x4-01": r4([dst("203.0.113.95/32"), eq(.ipProtocol, tcp)], [.redirect(RouteTarget(global: .as4(65536), local: 100))]),
    ]

    static func routes(_ ids: [String]) -> [(id: String, route: FlowRoute)] {
        ids.map { id in (id, v4[id] ?? v6[id] ?? q[id] ?? x[id]!) }
    }

    static var allV4: [String] { v4.keys.sorted() }
    static var allV6: [String] { v6.keys.sorted() }

    // MARK: fixture files

    static func text(_ subdir: String, _ name: String) throws -> String {
        let dot = name.lastIndex(of: ".")!
        let url = try #require(Bundle.module.url(forResource: String(name[..<dot]), withExtension: String(name[name.index(after: dot)...]),
                                                 subdirectory: "Fixtures/\(subdir)"))
        return try String(contentsOf: url, encoding: .utf8)
    }
}

import Testing

/// Matching read routes to the expected ones by destination + components.
enum FixtureMatch {
    struct Mismatch: CustomStringConvertible {
        var description: String
    }

    /// Pairs each expected route with the read route of the same family and components; reports
    /// expected routes not read, read routes not expected, and action differences after `adjust`.
    static func compare(_ read: [ReadRoute], expected: [(id: String, route: FlowRoute)],
                        adjust: (String, [ExtendedCommunity]) -> [ExtendedCommunity] = { $1 }) -> [String] {
        var problems = [String]()
        var unmatched = read
        for (id, want) in expected {
            guard let i = unmatched.firstIndex(where: { $0.route.family == want.family && $0.route.components == want.components }) else {
                problems.append("\(id): not read (want \(want.components))")
                continue
            }
            let got = unmatched.remove(at: i)
            let wantEC = adjust(id, want.extendedCommunities)
            if got.route.extendedCommunities != wantEC {
                problems.append("\(id) at \(got.position): communities \(got.route.actions) != \(wantEC.map(FlowAction.init))")
            }
        }
        for extra in unmatched { problems.append("unexpected route at \(extra.position): \(extra.route.components)") }
        return problems
    }
}
