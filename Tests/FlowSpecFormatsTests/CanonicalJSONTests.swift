import Foundation
import Testing
import FlowSpec
@testable import FlowSpecFormats

// MARK: - Helpers

private func v4(_ s: String) -> FlowPrefix { FlowPrefix(s)! }
private func ip(_ s: String) -> IPAddress { IPAddress(s)! }

private func readOK(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [ReadRoute] {
    let r = try CanonicalJSON.read(text)
    #expect(r.errors.isEmpty, "unexpected errors: \(r.errors)", sourceLocation: sourceLocation)
    return r.routes
}

private func fixture(_ name: String, _ ext: String) throws -> Data {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/json"))
    return try Data(contentsOf: url)
}

/// Routes that use every component type, every operator, non-minimal value lengths, the AND bit
/// on a first term, an IPv6 offset, and every action kind (including ones that only survive as
/// raw communities).
private func everyKindRoutes() -> [FlowRoute] {
    let allNumericOps: [NumericTerm] = [
        NumericTerm(lt: false, gt: false, eq: false, value: 0),                 // false
        NumericTerm(and: true, eq: true, value: 80),                            // ==
        NumericTerm(gt: true, value: 1024),                                     // >
        NumericTerm(and: true, gt: true, eq: true, value: 1025),                // >=
        NumericTerm(lt: true, value: 2048, valueLength: 4),                     // <, 4 octets
        NumericTerm(and: true, lt: true, eq: true, value: 9, valueLength: 8),   // <=, 8 octets
        NumericTerm(lt: true, gt: true, value: 22),                             // !=
        NumericTerm(lt: true, gt: true, eq: true, value: 0),                    // true
    ]
    let v4Components: [Component] = [
        .destinationPrefix(v4("203.0.113.0/24")),
        .sourcePrefix(v4("198.51.100.10/32")),
        .numeric(.ipProtocol, [.equal(6), .equal(17), NumericTerm(eq: true, value: 132, valueLength: 2)]),
        .numeric(.port, allNumericOps),
        .numeric(.destinationPort, [NumericTerm(and: true, eq: true, value: 443)]),   // AND bit on the first term
        .numeric(.sourcePort, [NumericTerm(gt: true, eq: true, value: 49152), NumericTerm(and: true, lt: true, eq: true, value: 65535)]),
        .numeric(.icmpType, [.equal(8)]),
        .numeric(.icmpCode, [.equal(0, and: false)]),
        .bitmask(.tcpFlags, [
            BitmaskTerm(match: true, value: 0x02),
            BitmaskTerm(and: true, not: true, value: 0x10),
            BitmaskTerm(not: true, match: true, value: 0x29),
            BitmaskTerm(value: 0x3f),
            BitmaskTerm(and: true, value: 0x0100),                 // 2-octet flags
            BitmaskTerm(value: 0x01, valueLength: 2),              // non-minimal
        ]),
        .numeric(.packetLength, [NumericTerm(gt: true, value: 70000)]),
        .numeric(.dscp, [NumericTerm(gt: true, eq: true, value: 8), NumericTerm(and: true, lt: true, eq: true, value: 15)]),
        .bitmask(.fragment, [
            BitmaskTerm(match: true, value: 0x02),
            BitmaskTerm(not: true, value: 0x05),
            BitmaskTerm(and: true, not: true, match: true, value: 0x08),
            BitmaskTerm(value: 0x10),                              // not a named bit
            BitmaskTerm(value: 0x04, valueLength: 2),
        ]),
    ]
    let actions: [ExtendedCommunity] = [
        FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0).community,
        FlowAction.trafficRateBytes(asn: 65309, bytesPerSecond: 125000).community,
        FlowAction.trafficRateBytes(asn: 1, bytesPerSecond: 0.1).community,
        FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 1e30).community,
        FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: -0.0).community,
        FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: .nan).community,
        FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: .infinity).community,
        FlowAction.trafficRatePackets(asn: 0, packetsPerSecond: 1000).community,
        FlowAction.trafficRatePackets(asn: 7, packetsPerSecond: 2.5).community,
        FlowAction.trafficAction(sample: false, terminal: false).community,
        FlowAction.trafficAction(sample: true, terminal: false).community,
        FlowAction.trafficAction(sample: false, terminal: true).community,
        FlowAction.trafficAction(sample: true, terminal: true).community,
        ExtendedCommunity(type: 0x80, subtype: 0x07, value: 0x04),           // undefined action bit
        FlowAction.redirect(RouteTarget("65309:100")!).community,
        FlowAction.redirect(RouteTarget("65309:4000000000")!).community,
        FlowAction.redirect(RouteTarget("192.0.2.1:100")!).community,
        FlowAction.redirect(RouteTarget("65536:100")!).community,
        FlowAction.redirect(RouteTarget(global: .as4(100), local: 5)).community,
        FlowAction.routeTarget(RouteTarget("65309:1")!).community,
        FlowAction.routeTarget(RouteTarget("192.0.2.7:9")!).community,
        FlowAction.routeTarget(RouteTarget(global: .as4(4200000000), local: 9)).community,
        FlowAction.redirectToIP(ip("192.0.2.1"), copy: false).community,
        FlowAction.redirectToIP(ip("192.0.2.2"), copy: true).community,
        ExtendedCommunity(type: 0x01, subtype: 0x0c, value: 0xc000_0201_0002),   // stray flag bit
        FlowAction.trafficMarking(dscp: 46, value: 46).community,
        FlowAction.trafficMarking(dscp: 10, value: 10).community,
        ExtendedCommunity(type: 0x80, subtype: 0x09, value: 0xffff_ffff_ffff),
        ExtendedCommunity(rawValue: 0x0303_0000_0000_0001),                   // unknown type
        ExtendedCommunity(rawValue: 0),
    ]
    let v6Components: [Component] = [
        .destinationPrefix(FlowPrefix("::10/128 offset 64")!),
        .sourcePrefix(FlowPrefix("2001:db8::/32")!),
        .numeric(.ipProtocol, [.equal(58)]),
        .numeric(.icmpType, [.equal(128)]),
        .numeric(.flowLabel, [NumericTerm(gt: true, eq: true, value: 0x100), NumericTerm(and: true, lt: true, eq: true, value: 0xfffff)]),
    ]
    return [
        FlowRoute(family: .ipv4, components: v4Components, extendedCommunities: actions,
                  largeCommunities: [LargeCommunity(global: 65309, local1: 10, local2: 0),
                                     LargeCommunity(global: 4_294_967_295, local1: 0, local2: 1)]),
        FlowRoute(family: .ipv6, components: v6Components,
                  actions: [.redirect(RouteTarget("65309:200")!), .trafficMarking(dscp: 0, value: 40)]),
        FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("::/0")!), .sourcePrefix(FlowPrefix("::/0")!)]),
        FlowRoute(family: .ipv4, components: [.numeric(.destinationPort, [NumericTerm(eq: true, value: 0xffff_ffff_ffff_ffff)])]),
    ]
}

// MARK: - Round trip

@Suite("Canonical JSON")
struct CanonicalJSONTests {
    @Test("write then read gives equal routes for every component, operator and action kind")
    func roundTripEveryKind() throws {
        let routes = everyKindRoutes()
        let text = CanonicalJSON.write(routes)
        let back = try readOK(text)
        #expect(back.map(\.route) == routes)
        #expect(back.map(\.position) == (1...routes.count).map { "route \($0)" })
        #expect(back.allSatisfy { !$0.withdrawn && $0.warnings.isEmpty })
        // Same bytes on the wire: value lengths and AND bits survive.
        #expect(back.map(\.route.nlriBytes) == routes.map(\.nlriBytes))
        // Writing is stable: a second round gives the same text.
        #expect(CanonicalJSON.write(back.map(\.route)) == text)
    }

    @Test("one route per line inside the routes array, fixed key order")
    func writerLayout() {
        let route = FlowRoute(family: .ipv4,
                              components: [.destinationPrefix(v4("203.0.113.10/32")), .numeric(.ipProtocol, [.equal(6)])],
                              actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let text = CanonicalJSON.write([route, route])
        let line = #"{"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6"},"actions":[{"traffic-rate-bytes":0}]}"#
        #expect(text == "{\"routes\":[\n\(line),\n\(line)\n]}\n")
        #expect(CanonicalJSON.write([FlowRoute]()) == "{\"routes\":[]}\n")
    }

    @Test("actions that do not re-encode exactly are written as raw communities")
    func rawCommunityFallback() {
        #expect(CanonicalJSON.json(ExtendedCommunity(type: 0x80, subtype: 0x07, value: 0x05)) == #"{"community":"0x8007000000000005"}"#)
        #expect(CanonicalJSON.json(FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: .nan).community) == #"{"community":"0x800600007fc00000"}"#)
        #expect(CanonicalJSON.json(FlowAction.trafficRateBytes(asn: 65309, bytesPerSecond: 125000).community) == #"{"traffic-rate-bytes":125000,"asn":65309}"#)
        #expect(CanonicalJSON.json(FlowAction.redirect(RouteTarget(global: .as4(100), local: 5)).community) == #"{"redirect":"100L:5"}"#)
        #expect(CanonicalJSON.json(FlowAction.redirectToIP(ip("192.0.2.1"), copy: true).community) == #"{"redirect-to-ip":{"address":"192.0.2.1","copy":true}}"#)
        #expect(CanonicalJSON.json(FlowAction.trafficAction(sample: true, terminal: false).community) == #"{"traffic-action":{"sample":true,"terminal":false}}"#)
    }

    @Test("withdrawn routes keep their flag through write(ReadRoute) and read")
    func withdrawnRoundTrip() throws {
        let route = FlowRoute(family: .ipv4, components: [.destinationPrefix(v4("203.0.113.10/32"))])
        let text = CanonicalJSON.write([ReadRoute(route: route, withdrawn: true, position: "x"), ReadRoute(route: route, position: "y")])
        let back = try readOK(text)
        #expect(back.map(\.withdrawn) == [true, false])
        #expect(back.map(\.route) == [route, route])
    }

    // MARK: Hand-written input

    @Test("the compact string form and the array-of-terms form read the same")
    func bothOperatorForms() throws {
        let compact = """
        [{"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6",
          "destination-port":">=1024&<=2048,==80","tcp-flags":"=0x02&!=0x10","fragment":"!is-fragment"},
          "actions":[{"traffic-rate-bytes":0}]}]
        """
        let explicit = """
        {"routes":[{"family":"ipv4","actions":[{"traffic-rate-bytes":0}],"match":{
          "fragment":[{"op":"not-any","value":"is-fragment"}],
          "tcp-flags":[{"op":"match","value":2},{"and":true,"op":"not-match","value":"0x10"}],
          "destination-port":[{"op":">=","value":1024},{"and":true,"op":"<=","value":2048},{"op":"==","value":80}],
          "protocol":[{"value":6}],
          "destination":"203.0.113.10/32"}}]}
        """
        let a = try readOK(compact), b = try readOK(explicit)
        #expect(a.count == 1)
        #expect(a.map(\.route) == b.map(\.route))
        let r = try #require(a.first?.route)
        let expected = FlowRoute(family: .ipv4, components: [
            .destinationPrefix(v4("203.0.113.10/32")),
            .numeric(.ipProtocol, [.equal(6)]),
            .numeric(.destinationPort, [NumericTerm(gt: true, eq: true, value: 1024),
                                        NumericTerm(and: true, lt: true, eq: true, value: 2048),
                                        .equal(80)]),
            .bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 2), BitmaskTerm(and: true, not: true, match: true, value: 0x10)]),
            .bitmask(.fragment, [BitmaskTerm(not: true, value: 2)]),
        ], actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        #expect(r == expected)
    }

    @Test("names, ranges, spaces, lengths, numbers and string elements in term lists")
    func compactSugar() throws {
        let text = """
        {"routes":[{"match":{"destination":"203.0.113.0/24","protocol":"tcp, udp","port":"1..1023, 8080",
          "tcp-flags":"=syn & !ack","dscp":46,"packet-length":["<64", ">1500[4]"],
          "fragment":"=first-fragment+last_fragment","source-port":"false","icmp-type":"& == 3"}}]}
        """
        let r = try #require(try readOK(text).first?.route)
        #expect(r.family == .ipv4)  // inferred from the prefix
        #expect(r.component(.ipProtocol)?.numericTerms == [.equal(6), .equal(17)])
        #expect(r.component(.port)?.numericTerms == [NumericTerm(gt: true, eq: true, value: 1),
                                                     NumericTerm(and: true, lt: true, eq: true, value: 1023), .equal(8080)])
        #expect(r.component(.tcpFlags)?.bitmaskTerms == [BitmaskTerm(match: true, value: 2), BitmaskTerm(and: true, not: true, value: 0x10)])
        #expect(r.component(.dscp)?.numericTerms == [.equal(46)])
        #expect(r.component(.packetLength)?.numericTerms == [NumericTerm(lt: true, value: 64), NumericTerm(gt: true, value: 1500, valueLength: 4)])
        #expect(r.component(.fragment)?.bitmaskTerms == [BitmaskTerm(match: true, value: 0x0c)])
        #expect(r.component(.sourcePort)?.numericTerms == [NumericTerm(value: 0)])
        #expect(r.component(.icmpType)?.numericTerms == [NumericTerm(and: true, eq: true, value: 3)])
        #expect(r.components.map(\.type) == r.components.map(\.type).sorted())
        #expect(r.extendedCommunities.isEmpty)
        // The writer's own form for the same lists.
        let line = CanonicalJSON.json(r)
        #expect(line.contains(#""port":">=1&<=1023,==8080""#))
        #expect(line.contains(#""tcp-flags":"=0x02&!0x10""#))
        #expect(line.contains(#""packet-length":"<64,>1500[4]""#))
        #expect(line.contains(#""fragment":"=first-fragment+last-fragment""#))
        #expect(line.contains(#""source-port":"false 0""#))
        #expect(line.contains(#""icmp-type":"&==3""#))
    }

    /// nft's ICMP and ICMPv6 type names, read by the route's family (the same name is another
    /// number in each); a name without a family to read it by is refused with the reason.
    @Test("ICMP type names as nft gives them, per family")
    func icmpTypeNames() throws {
        let text = """
        {"routes":[
        {"match":{"destination":"203.0.113.0/24","icmp-type":"echo-request, destination_unreachable"}},
        {"family":"ipv6","match":{"icmp-type":[{"value":"Echo-Request"}, "==nd-neighbor-solicit"]}},
        {"family":"ipv4","match":{"icmp-type":"packet-too-big"}},
        {"match":{"protocol":"icmp","icmp-type":"echo-request"}}
        ]}
        """
        let r = try CanonicalJSON.read(text)
        #expect(r.routes.count == 2)
        #expect(r.routes.first?.route.component(.icmpType)?.numericTerms == [.equal(8), .equal(3)])
        #expect(r.routes.last?.route.component(.icmpType)?.numericTerms == [.equal(128), .equal(135)])
        #expect(r.errors.map(\.position) == ["route 3", "route 4"])
        #expect(r.errors.first?.reason.contains("unknown value name 'packet-too-big' for icmp-type (echo-reply destination-unreachable") == true,
                "\(r.errors)")
        #expect(r.errors.last?.reason.contains("ICMP type names depend on the family") == true, "\(r.errors)")
    }

    @Test("the brief's example route, hand-written actions of every kind")
    func handWrittenActions() throws {
        let text = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":">=1024&<=2048,==80","tcp-flags":"=0x02&!=0x10"},"actions":[{"traffic-rate-bytes":0}]},
        {"family":"ipv6","match":{"destination":"2001:db8::/32"},"actions":[
          {"traffic-rate-bytes":1.25e6,"asn":65309},{"traffic-rate-packets":100},
          {"traffic-action":{"terminal":true}},{"traffic-action":"sample+terminal"},
          {"redirect":"65309:100"},{"redirect":"192.0.2.1:100"},{"redirect":"65536:7"},
          {"redirect-to-ip":"192.0.2.1"},{"redirect-to-ip":{"address":"192.0.2.9","copy":true}},
          {"traffic-marking":46},{"traffic-marking":{"value":1000}},{"traffic-marking":{"dscp":8}},
          {"route-target":"65309:5"},{"community":"0x0303000000000001"},{"community":1},"drop"],
         "large-communities":["65309:1:2"],"withdrawn":true,"comment":"kept: \\u00e9 \\"quoted\\""}
        ]}
        """
        let routes = try readOK(text)
        #expect(routes.count == 2)
        let r = try #require(routes.last)
        #expect(r.withdrawn)
        #expect(r.route.actions == [
            .trafficRateBytes(asn: 65309, bytesPerSecond: 1_250_000), .trafficRatePackets(asn: 0, packetsPerSecond: 100),
            .trafficAction(sample: false, terminal: true), .trafficAction(sample: true, terminal: true),
            .redirect(RouteTarget(global: .as2(65309), local: 100)), .redirect(RouteTarget(global: .ipv4(0xc000_0201), local: 100)),
            .redirect(RouteTarget(global: .as4(65536), local: 7)),
            .redirectToIP(ip("192.0.2.1"), copy: false), .redirectToIP(ip("192.0.2.9"), copy: true),
            .trafficMarking(dscp: 46, value: 46), .trafficMarking(dscp: UInt8(1000 & 0x3f), value: 1000), .trafficMarking(dscp: 8, value: 8),
            .routeTarget(RouteTarget(global: .as2(65309), local: 5)),
            .unknown(ExtendedCommunity(rawValue: 0x0303_0000_0000_0001)), .unknown(ExtendedCommunity(rawValue: 1)),
            .trafficRateBytes(asn: 0, bytesPerSecond: 0),
        ])
        #expect(r.route.largeCommunities == [LargeCommunity(global: 65309, local1: 1, local2: 2)])
        #expect(r.route.comment == "kept: é \"quoted\"")
        #expect(routes.first?.route.comment == nil)
        // Written back and read again: the same routes, comment included.
        let again = try readOK(CanonicalJSON.write(routes.map(\.route)))
        #expect(again.map(\.route) == routes.map(\.route))
        // A comment is a string.
        let bad = try CanonicalJSON.read(#"[{"match":{"destination":"203.0.113.10/32"},"comment":7}]"#)
        #expect(bad.routes.isEmpty && bad.errors.first?.reason.contains("comment must be a string") == true, "\(bad.errors)")
    }

    @Test("prefix forms: IPv6 offset both ways, host bits outside the prefix give a warning")
    func prefixes() throws {
        let text = """
        [{"match":{"destination":"::10/128 offset 64","source":"2001:db8::/64/32"}},
         {"match":{"destination":"203.0.113.10/24"}},
         {"family":"ipv4","match":{"destination":"203.0.113.10"}}]
        """
        let routes = try readOK(text)
        #expect(routes.count == 3)
        #expect(routes[0].route.family == .ipv6)
        #expect(routes[0].route.destination == FlowPrefix(address: ip("::10"), length: 128, offset: 64))
        #expect(routes[0].route.source == FlowPrefix(address: ip("2001:db8::"), length: 64, offset: 32))
        #expect(CanonicalJSON.json(routes[0].route).contains(#""destination":"::10/128 offset 64""#))
        #expect(routes[1].route.destination == v4("203.0.113.0/24"))
        #expect(routes[1].warnings.count == 1)
        #expect(routes[1].warnings.first?.contains("read as 203.0.113.0/24") == true)
        #expect(routes[2].route.destination == v4("203.0.113.10/32"))
        #expect(routes[2].warnings.isEmpty)
    }

    // MARK: Errors

    @Test("a malformed route is an error at its position; the others still count")
    func perRouteErrors() throws {
        let cases: [(String, String)] = [
            (#"{"family":"ipv4","match":{"protocol":"==6","protocol":"==17"}}"#, "appears twice"),
            (#"{"family":"ipv4","match":{"destination":"203.0.113.1/32","next-header":"6","protocol":"==17"}}"#, "appears twice"),
            (#"{"family":"ipv4","match":{"dport":"==80"}}"#, "unknown component \"dport\""),
            (#"{"family":"ipv4","match":{"flow-label":"==1"}}"#, "flow-label exists only in ipv6"),
            (#"{"family":"ipv6","match":{"destination":"203.0.113.1/32"}}"#, "is IPv4 in an ipv6 route"),
            (#"{"family":"ipv4","match":{"destination-port":">=1024&<="}}"#, "expected a value"),
            (#"{"family":"ipv4","match":{"destination-port":"==80[3]"}}"#, "not 1, 2, 4 or 8"),
            (#"{"family":"ipv4","match":{"destination-port":"==70000[1]"}}"#, "does not fit 1 octet"),
            (#"{"family":"ipv4","match":{"destination-port":"==80;==81"}}"#, "expected '&' or ','"),
            (#"{"family":"ipv4","match":{"tcp-flags":"=sin"}}"#, "unknown value name 'sin'"),
            (#"{"family":"ipv4","match":{"destination-port":[]}}"#, "empty operator list"),
            (#"{"family":"ipv4","match":{}}"#, "match is empty"),
            (#"{"family":"ipv4"}"#, "no \"match\""),
            (#"{"match":{"protocol":"==6"}}"#, "no family"),
            (#"{"family":"ipv5","match":{"protocol":"==6"}}"#, "family must be"),
            (#"{"family":"ipv4","match":{"protocol":"==6"},"action":[]}"#, "unknown key \"action\""),
            (#"{"family":"ipv4","match":{"protocol":"==6"},"actions":[{"traffic-rate-bytes":0,"redirect":"1:1"}]}"#, "one action per object"),
            (#"{"family":"ipv4","match":{"protocol":"==6"},"actions":[{"redirect":"x:1"}]}"#, "actions[1]: redirect must be"),
            (#"{"family":"ipv4","match":{"protocol":"==6"},"actions":[{"traffic-rate-bytes":1e40}]}"#, "does not fit a 32-bit float"),
            (#"{"family":"ipv4","match":{"protocol":"==6"},"actions":[{"redirect-to-ip":"2001:db8::zz"}]}"#, "must be an IP address"),
            (#"{"family":"ipv4","match":{"protocol":"==6"},"actions":[{"redirect":"1:1","asn":5}]}"#, "\"asn\" belongs to"),
            (#"{"family":"ipv4","match":{"destination":"203.0.113.1/33"}}"#, "longer than 32"),
            (#"{"family":"ipv4","match":{"destination":"203.0.113.1/32 offset 8"}}"#, "IPv4 prefixes have no offset"),
            (#"{"family":"ipv4","match":{"protocol":[{"op":"=<","value":1}]}}"#, "term 1: unknown numeric operator"),
            (#"{"family":"ipv4","match":{"protocol":"==6"},"large-communities":["1:2"]}"#, "is not global:local1:local2"),
            (#""just a string""#, "a route must be a JSON object"),
        ]
        let good = #"{"family":"ipv4","match":{"destination":"203.0.113.1/32"}}"#
        var doc = "{\"routes\":[\n" + good
        for (bad, _) in cases { doc += ",\n" + bad + ",\n" + good }
        doc += "\n]}"
        let result = try CanonicalJSON.read(doc)
        #expect(result.routes.count == cases.count + 1)
        #expect(result.routes.map(\.position) == (0...cases.count).map { "route \(2 * $0 + 1)" })
        #expect(result.errors.count == cases.count)
        for (i, (bad, phrase)) in cases.enumerated() where i < result.errors.count {
            let e = result.errors[i]
            #expect(e.position == "route \(2 * i + 2)")
            #expect(e.reason.contains(phrase), "\(bad) -> \(e.reason)")
        }
    }

    @Test("input that is not JSON, or not an object or array, throws UnreadableInput")
    func unreadableInput() {
        for text in ["not json", "", "\"a string\"", "42", "{\"routes\":[", "{\"routes\":{}}", "{\"other\":1}",
                     "[1,]", "{\"routes\":[]} trailing", "[\"\\x\"]", "[01]"] {
            #expect(throws: UnreadableInput.self, "\(text)") { try CanonicalJSON.read(text) }
        }
        do {
            _ = try CanonicalJSON.read("{\"routes\":[\n{\"family\":\"ipv4\",}]}")
            Issue.record("should throw")
        } catch {
            #expect(error.reason.contains("line 2"), "\(error.reason)")
        }
        // Empty documents are fine.
        #expect((try? CanonicalJSON.read("[]"))?.routes.isEmpty == true)
        #expect((try? CanonicalJSON.read(" {\"routes\":[]} "))?.routes.isEmpty == true)
    }

    @Test("JSON strings with escapes and a byte order mark are read")
    func escapes() throws {
        let text = "\u{feff}{\"routes\":[{\"fam\\u0069ly\":\"ipv4\",\"match\":{\"destination\":\"203.0.113.1\\/32\"},\"comment\":\"\\ud83d\\ude00 \\\"q\\\"\"}]}"
        let routes = try readOK(text)
        #expect(routes.first?.route.destination == v4("203.0.113.1/32"))
    }

    // MARK: parse output

    @Test("the parse document carries position, identity, warnings and errors, and reads back")
    func parseOutputReadsBack() throws {
        let input = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/24","protocol":"==6"},"actions":[{"traffic-rate-bytes":0}]},
        {"family":"ipv4","match":{"bogus":"1"}},
        {"family":"ipv6","match":{"destination":"2001:db8::/32"},"withdrawn":true}
        ]}
        """
        let result = try CanonicalJSON.read(input)
        let doc = ParseOutput.render(result)
        let lines = doc.split(separator: "\n").map(String.init)
        #expect(lines.first == "{\"routes\":[")
        #expect(lines.last == "]}")
        // Valid JSON to Foundation as well.
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(doc.utf8)) as? [String: Any])
        let routes = try #require(parsed["routes"] as? [[String: Any]])
        let errors = try #require(parsed["errors"] as? [[String: Any]])
        #expect(routes.count == 2)
        #expect(routes[0]["position"] as? String == "route 1")
        #expect(routes[0]["identity"] as? String == result.routes[0].route.identity)
        #expect((routes[0]["warnings"] as? [String])?.count == 1)
        #expect(routes[0]["withdrawn"] == nil)
        #expect(routes[1]["position"] as? String == "route 3")
        #expect(routes[1]["withdrawn"] as? Bool == true)
        #expect(routes[1]["warnings"] == nil)
        #expect(errors.count == 1)
        #expect(errors[0]["position"] as? String == "route 2")
        #expect((errors[0]["reason"] as? String)?.contains("unknown component \"bogus\"") == true)
        // And it is valid input: the same routes come back.
        let again = try CanonicalJSON.read(doc)
        #expect(again.errors.isEmpty)
        #expect(again.routes.map(\.route) == result.routes.map(\.route))
        #expect(again.routes.map(\.withdrawn) == [false, true])
    }

    @Test("parse document of an empty result")
    func parseOutputEmpty() {
        #expect(ParseOutput.render(ReadResult()) == "{\"routes\":[],\n\"errors\":[]}\n")
    }
}

@Test("every ComponentType.name is a match key, and only those (plus next-header)")
func componentNamesAreKeys() {
    for t in ComponentType.allCases { #expect(RouteDecoder.componentType(t.name) == t) }
    #expect(RouteDecoder.componentType("next-header") == .ipProtocol)
    #expect(RouteDecoder.componentType("dport") == nil)
}

@Test("every ```json block of docs/format.md is a document the reader accepts without errors")
func docsExamplesRead() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let doc = try String(contentsOf: root.appendingPathComponent("docs/format.md"), encoding: .utf8)
    let blocks = doc.components(separatedBy: "```json\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
    #expect(blocks.count >= 2)
    for block in blocks where block.hasPrefix("{\"routes\"") {
        let r = try CanonicalJSON.read(block)
        #expect(r.errors.isEmpty, "\(r.errors)")
        #expect(!r.routes.isEmpty)
    }
}
