import Testing
import FlowSpec
@testable import FlowSpecCompiler

/// Every match the compiler emits for a route that is not rate-limited can be a set key part
/// (docs/merging.md, "What is merged"): routes that differ only in their values share one rule.
@Suite("key parts: packet length, DSCP, TCP flags, fragment bits")
struct KeyPartTests {
    static func victim(_ i: Int) -> FlowPrefix { FlowPrefix(address: IPAddress(ipv4: 0xcb00_7100 | UInt32(i % 200)), length: 32)! }
    static let drop: [FlowAction] = [.trafficRateBytes(asn: 0, bytesPerSecond: 0)]

    /// 200 routes of one kind, each with its own values, interleaved with the other kinds on the
    /// same victims: each kind is one merged rule, keyed as the table below says.
    @Test func eachKindMergesIntoOneRule() {
        var routes: [FlowRoute] = []
        for i in 0..<200 {
            let d = Component.destinationPrefix(Self.victim(i))
            routes.append(FlowRoute(family: .ipv4, components: [d, .numeric(.ipProtocol, [.equal(17)]), .numeric(.sourcePort, [.equal(53)]),
                                                                .numeric(.packetLength, [NumericTerm(gt: true, eq: true, value: UInt64(100 + i)),
                                                                                         NumericTerm(and: true, lt: true, eq: true, value: UInt64(1000 + i))])],
                                    actions: Self.drop))
            routes.append(FlowRoute(family: .ipv4, components: [d, .numeric(.ipProtocol, [.equal(6)]), .numeric(.destinationPort, [.equal(UInt64(1000 + i))]),
                                                                .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x02), BitmaskTerm(and: true, not: true, match: true, value: 0x10)])],
                                    actions: Self.drop))
            routes.append(FlowRoute(family: .ipv4, components: [d, .bitmask(.fragment, [BitmaskTerm(match: true, value: 0x02)]), .numeric(.dscp, [.equal(UInt64(i % 64))])],
                                    actions: Self.drop))
        }
        let result = compile(routes.ordered(.rfc), options: CompileOptions(dispatch: .never))
        #expect(result.table.ruleCount == 3, "\(result.table.chains[0].rules.map { NftPrinter.ruleText($0) })")
        let texts = result.table.chains[0].rules.map { NftPrinter.ruleText($0) }
        #expect(texts.contains { $0.contains("ip daddr . th sport . ip length @m") })
        #expect(texts.contains { $0.contains("ip daddr . th dport . @th,104,8 & 0x12 @m") })
        #expect(texts.contains { $0.contains("ip daddr . @nh,8,8 & 0xfc . ip frag-off & 0x1fff @m") }, "\(texts)")
        // Plain-integer parts: the set is declared by `typeof`, in nft's own terms.
        for set in result.table.sets { #expect(set.typeof?.count == set.keyFields.count, "\(set.name)") }
        #expect(result.table.sets.flatMap { $0.elements }.count == 600)
    }

    /// IPv6 routes that differ in their flow label: keyed by `ip6 flowlabel` (a 20-bit field in
    /// 3 bytes; its box dimension is IPv4's fragment bits'). Single values make one rule over a
    /// hash set, ranges one over an interval set.
    @Test func flowLabelsMergeIntoOneRule() {
        var routes: [FlowRoute] = []
        for i in 0..<100 {
            let d = Component.destinationPrefix(FlowPrefix(address: IPAddress("2001:db8::\(String(i, radix: 16))")!, length: 128)!)
            routes.append(FlowRoute(family: .ipv6, components: [d, .numeric(.flowLabel, [.equal(UInt64(0x12345 + i))])], actions: Self.drop))
            routes.append(FlowRoute(family: .ipv6, components: [d, .numeric(.flowLabel, [NumericTerm(gt: true, eq: true, value: UInt64(0xf0000 + i)),
                                                                                        NumericTerm(and: true, lt: true, eq: true, value: 0xfffff)])],
                                    actions: Self.drop))
        }
        let result = compile(routes.ordered(.rfc), options: CompileOptions(dispatch: .never))
        let texts = result.table.chains[0].rules.map { NftPrinter.ruleText($0) }
        #expect(result.table.ruleCount == 2, "\(texts)")
        #expect(texts.allSatisfy { $0.contains("ip6 daddr . ip6 flowlabel @m") }, "\(texts)")
        #expect(result.table.sets.allSatisfy { $0.typeof?.last == .field(desc: 13, template: 4, bits: 20) })
        #expect(result.table.sets.map { $0.flags.contains(.interval) }.sorted { !$0 && $1 } == [false, true])
        #expect(result.table.sets.map { $0.elements.count } == [100, 100])
    }

    /// IPv6 prefixes that start past the first bit (RFC 8956): the octets holding the prefix's
    /// bits, masked when the bits do not fill them, are the key part (a raw network-header load,
    /// declared by `typeof`), so routes that differ only in those bits share one rule. The bits
    /// covered are part of the shape: another offset or length is another set.
    static func offsetPrefixRoutes() -> [FlowRoute] {
        var routes: [FlowRoute] = []
        for i in 0..<100 {
            let d = Component.destinationPrefix(FlowPrefix(address: IPAddress("2001:db8::\(String(i + 1, radix: 16))")!, length: 128)!)
            // Bits 64..<96 (octets 8..<12, no mask), then bits 60..<100 (octets 7..<13, masked).
            let whole = FlowPrefix(address: IPAddress(family: .ipv6, high: 0, low: UInt64(0xab00 + i) << 32), length: 96, offset: 64)!
            let masked = FlowPrefix(address: IPAddress(family: .ipv6, high: 0x5, low: UInt64(0xcd00 + i) << 28), length: 100, offset: 60)!
            routes.append(FlowRoute(family: .ipv6, components: [d, .sourcePrefix(whole)], actions: Self.drop))
            routes.append(FlowRoute(family: .ipv6, components: [d, .sourcePrefix(masked), .numeric(.ipProtocol, [.equal(17)]),
                                                                .numeric(.sourcePort, [.equal(53)])], actions: Self.drop))
        }
        return routes.ordered(.rfc)
    }

    @Test func offsetPrefixesMergeIntoOneRulePerOffset() {
        let result = compile(Self.offsetPrefixRoutes(), options: CompileOptions(dispatch: .never))
        let texts = result.table.chains[0].rules.map { NftPrinter.ruleText($0) }
        #expect(result.table.ruleCount == 2, "\(texts)")
        #expect(texts.contains { $0.contains("@nh,128,32 . ip6 daddr @m") }, "\(texts)")
        #expect(texts.contains { $0.contains("@nh,120,48 & 0xffffffffff0 . ip6 daddr . th sport @m") }, "\(texts.joined(separator: "\n"))")
        #expect(Set(result.table.sets.compactMap { $0.typeof?.first }) == [.raw(base: 2, offset: 128, bits: 32), .raw(base: 2, offset: 120, bits: 48)])
        #expect(result.table.sets.allSatisfy { !$0.flags.contains(.interval) && $0.elements.count == 100 })
        // Another offset of the same octets is another key field, never the same set.
        let other = FlowRoute(family: .ipv6, components: [.sourcePrefix(FlowPrefix(address: IPAddress(family: .ipv6, high: 0, low: 0xab05 << 32), length: 95, offset: 64)!)],
                              actions: Self.drop)
        let more = compile((Self.offsetPrefixRoutes() + [other]).ordered(.rfc), options: CompileOptions(dispatch: .never))
        #expect(more.table.ruleCount == 3)
    }

    /// Rate-limited routes: nft 1.0.6 cannot declare an object map by `typeof`, so the whole key
    /// is looked up in a plain set and the limit by the named parts alone, in a map of its own;
    /// routes whose named parts meet (one victim, two length ranges, two rates) go to two groups.
    @Test func rateLimitedRoutesLookTheLimitUpByTheNamedParts() {
        var routes = (0..<50).map { i in
            FlowRoute(family: .ipv4, components: [.destinationPrefix(Self.victim(i)), .numeric(.ipProtocol, [.equal(17)]),
                                                  .numeric(.packetLength, [.equal(UInt64(100 + i))])],
                      actions: [.trafficRateBytes(asn: 0, bytesPerSecond: Float(125_000 * (i + 1)))])
        }
        for v in 0..<2 {
            routes.append(FlowRoute(family: .ipv4, components: [.destinationPrefix(Self.victim(v)), .numeric(.ipProtocol, [.equal(17)]),
                                                                .numeric(.packetLength, [.equal(900)])],
                                    actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 1_000)]))
        }
        let result = compile(routes, options: CompileOptions(dispatch: .never))
        let texts = result.table.chains[0].rules.map { NftPrinter.ruleText($0) }
        let limitRules = texts.filter { $0.contains("limit name ip daddr map @m") }
        #expect(limitRules.count == 2, "\(texts)")
        #expect(limitRules.allSatisfy { $0.contains("ip daddr . ip length @m") })
        let maps = result.table.sets.filter { $0.objectType == .limit }
        #expect(maps.count == 2 && maps.allSatisfy { $0.keyFields == [.ipv4Address] && $0.typeof == nil && $0.name.hasSuffix("_o") })
        #expect(maps.map(\.elements.count).sorted() == [2, 50])
        // Each route's limit is its own object, named in its element, by its comment.
        for map in maps { #expect(map.elements.allSatisfy { $0.objectName != nil && $0.comment != nil }) }
    }

    /// A rule that rewrites DSCP spans every DSCP value in its box, and its DSCP match is no key
    /// part: a later route matching the new value must not move before it.
    @Test func aMarkingRuleIsNotPassedByARouteMatchingItsNewValue() {
        let v = Self.victim(1)
        let routes = [
            FlowRoute(family: .ipv4, components: [.destinationPrefix(v), .numeric(.dscp, [.equal(1)])], actions: Self.drop),
            // Re-marks DSCP 5 to 1 and lets evaluation continue (traffic-action terminal bit).
            FlowRoute(family: .ipv4, components: [.destinationPrefix(Self.victim(2)), .numeric(.dscp, [.equal(5)])],
                      actions: [.trafficMarking(dscp: 1, value: 1), .trafficAction(sample: false, terminal: true)]),
            FlowRoute(family: .ipv4, components: [.destinationPrefix(Self.victim(2)), .numeric(.dscp, [.equal(1)])], actions: Self.drop),
        ]
        let result = compile(routes, options: CompileOptions(dispatch: .never))
        // The third route stays after the marking rule: three rules, the last its own.
        #expect(result.table.ruleCount == 3)
        #expect(result.ruleRoutes.last == 2)
    }
}
