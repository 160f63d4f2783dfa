import FlowSpec
@testable import FlowSpecFormats
import Testing

private let nextHop = IPAddress("2001:db8:2::10")!
/// 0x000c (draft-ietf-idr-flowspec-redirect-ip): redirect to 2001:db8:2::10, no copy.
private let redirect6 = IPv6ExtendedCommunity(type: 0x00, subtype: 0x0c, address: nextHop, local: 0)
/// 0x000d (RFC 8956 §6.1): rt-redirect-ipv6 to [2001:db8::1]:100.
private let rtRedirect6 = IPv6ExtendedCommunity(type: 0x00, subtype: 0x0d, address: IPAddress("2001:db8::1")!, local: 100)
private let dst6 = Component.destinationPrefix(FlowPrefix("2001:db8:113::10/128")!)

/// The 20 octets as ExaBGP prints them: one decimal integer.
private func decimal(_ bytes: [UInt8]) -> String {
    var digits = [UInt8]()   // little-endian base 10
    for b in bytes {
        var carry = Int(b)
        for i in digits.indices {
            let v = Int(digits[i]) * 256 + carry
            digits[i] = UInt8(v % 10); carry = v / 10
        }
        while carry > 0 { digits.append(UInt8(carry % 10)); carry /= 10 }
    }
    return digits.isEmpty ? "0" : String(digits.reversed().map { Character(String($0)) })
}

/// IPv6 Address Specific Extended Communities (RFC 5701, attribute 25) through every reader and
/// writer: the redirect to an IPv6 next hop and rt-redirect-ipv6 as each speaker prints them.
@Suite("IPv6 address-specific extended communities in the readers and writers")
struct IPv6CommunityReaderTests {
    @Test("BGP hex: attribute 25 reaches the announced routes, withdrawn ones carry none")
    func bgpHex() throws {
        let update = BGPUpdate.flowspec(family: .ipv6, announce: [[dst6]], extendedCommunities: [ExtendedCommunity(rawValue: 0x8006_0000_4800_0000)],
                                        ipv6ExtendedCommunities: [redirect6, rtRedirect6])
        let hex = hexString(try BGPMessage.update(update).encode())
        let r = try BGPHexReader.read(hex)
        #expect(r.errors.isEmpty, "\(r.errors)")
        #expect(r.routes.count == 1)
        #expect(r.routes[0].route.ipv6ExtendedCommunities == [redirect6, rtRedirect6])
        #expect(r.routes[0].route.ipv6Actions == [.redirectToIP(nextHop, copy: false), .rtRedirect(address: IPAddress("2001:db8::1")!, local: 100)])
        #expect(r.routes[0].route.extendedCommunities.count == 1, "attribute 16 kept beside it")
    }

    @Test("BGP hex: attribute 25 of 21 octets is an error for the message (as attribute 16 of 9 octets is)")
    func bgpHexMalformed() throws {
        var update = BGPUpdate.flowspec(family: .ipv6, announce: [[dst6]])
        update.attributes.append(PathAttribute(flags: 0xc0, code: 25, value: .raw(redirect6.bytes + [0])))
        let r = try BGPHexReader.read(hexString(try BGPMessage.update(update).encode()))
        #expect(r.routes.isEmpty)
        #expect(r.errors.count == 1 && r.errors[0].reason.contains("IPv6 address-specific extended communities"), "\(r.errors)")
    }

    @Test("canonical JSON: redirect-to-ip with an IPv6 address is 0x000c, rt-redirect-ipv6 is 0x000d; both write back as read")
    func canonicalReadable() throws {
        let text = #"""
        {"routes":[
        {"family":"ipv6","match":{"destination":"2001:db8:113::10/128"},"actions":[{"redirect-to-ip":{"address":"2001:db8:2::10","copy":false}},{"rt-redirect-ipv6":{"address":"2001:db8::1","local":100}},{"traffic-rate-bytes":0}]}
        ]}
        """#
        let r = try CanonicalJSON.read(text)
        #expect(r.errors.isEmpty, "\(r.errors)")
        let route = r.routes[0].route
        #expect(route.ipv6ExtendedCommunities == [redirect6, rtRedirect6])
        #expect(route.extendedCommunities == [ExtendedCommunity(rawValue: 0x8006_0000_0000_0000)])
        let written = CanonicalJSON.json(route)
        // Attribute 16's actions first, then attribute 25's.
        #expect(written.contains(#""actions":[{"traffic-rate-bytes":0},{"redirect-to-ip":{"address":"2001:db8:2::10","copy":false}},{"rt-redirect-ipv6":{"address":"2001:db8::1","local":100}}]"#), "\(written)")
        #expect(try CanonicalJSON.read(CanonicalJSON.write([route])).routes.map(\.route) == [route])
    }

    @Test("canonical JSON: a 0x000c with stray local bits and unknown types keep their 20 octets as ipv6-community")
    func canonicalRaw() throws {
        let stray = IPv6ExtendedCommunity(type: 0x00, subtype: 0x0c, address: nextHop, local: 0x0102)
        let frr = IPv6ExtendedCommunity(type: 0x80, subtype: 0x0d, address: IPAddress("2001:db8::1")!, local: 7)
        let route = FlowRoute(family: .ipv6, components: [dst6], ipv6ExtendedCommunities: [stray, frr])
        let written = CanonicalJSON.json(route)
        #expect(written.contains(#"{"ipv6-community":"0x000c20010db80002000000000000000000100102"}"#), "\(written)")
        #expect(written.contains(#"{"ipv6-community":"0x800d20010db80000000000000000000000010007"}"#), "\(written)")
        #expect(try CanonicalJSON.read(CanonicalJSON.write([route])).routes.map(\.route) == [route])
    }

    @Test("canonical JSON: malformed IPv6 actions are errors that say what is wanted")
    func canonicalErrors() throws {
        for (action, wanted) in [(#"{"rt-redirect-ipv6":{"address":"192.0.2.1","local":1}}"#, "must be an IPv6 address"),
                                 (#"{"rt-redirect-ipv6":{"address":"2001:db8::1","local":65536}}"#, "local"),
                                 (#"{"rt-redirect-ipv6":{"address":"2001:db8::1"}}"#, "needs an \"address\" and a \"local\""),
                                 (#"{"ipv6-community":"0x000c"}"#, "20 octets in hex"),
                                 (#"{"ipv6-community":"0x000c20010db8000000000000000000000001000g"}"#, "20 octets in hex")] {
            let text = #"{"routes":[{"family":"ipv6","match":{"destination":"2001:db8::/32"},"actions":["# + action + "]}]}"
            let r = try CanonicalJSON.read(text)
            #expect(r.routes.isEmpty && r.errors.count == 1 && r.errors[0].reason.contains(wanted), "\(action): \(r.errors)")
        }
    }

    @Test("ExaBGP: extended-community-ipv6 values are the 20 octets as one decimal integer")
    func exabgp() throws {
        let line = #"{ "exabgp": "4.0.1", "type": "update", "neighbor": { "address": { "local": "192.0.2.1", "peer": "192.0.2.9" }, "asn": { "local": 65108, "peer": 65309 }, "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "extended-community-ipv6": [ { "value": "# + decimal(redirect6.bytes) + #", "string": "redirect-to-nexthop-ietf 2001:db8:2::10" }, { "value": "# + decimal(rtRedirect6.bytes) + #", "string": "" } ] }, "announce": { "ipv6 flow": { "no-nexthop": [ { "destination-ipv6": [ "2001:db8:113::10/128/0" ], "string": "flow destination-ipv6 2001:db8:113::10/128/0" } ] } } } } } }"#
        let r = ExaBGPReader.readLine(line)
        #expect(r.errors.isEmpty, "\(r.errors)")
        #expect(r.routes.first?.route.ipv6ExtendedCommunities == [redirect6, rtRedirect6])
        #expect(r.routes.first?.warnings.isEmpty == true)
        #expect(ExaBGPReader.decimalOctets("1" + String(repeating: "0", count: 49), count: 20) == nil, "more than 160 bits")
        #expect(ExaBGPReader.decimalOctets("256", count: 20) == [UInt8](repeating: 0, count: 18) + [1, 0])
    }

    @Test("GoBGP: IPv6-address-specific objects (type 0) and GoBGP's own 0x800b rebuild their 20 octets")
    func gobgp() throws {
        let dump = #"{"[destination: 2001:db8:113::10/128/0]":[{"nlri":{"value":[{"type":1,"value":{"prefix":"2001:db8:113::10/128"},"offset":0}]},"age":1795727771,"best":true,"attrs":[{"type":1,"value":0},{"type":2,"as_paths":[]},{"type":25,"value":[{"type":0,"subtype":12,"value":"2001:db8:2::10:0"},{"type":0,"subtype":13,"value":"2001:db8::1:100"},{"type":128,"subtype":11,"value":"2001:db8::1:5"},{"type":3,"subtype":1,"value":"AQAAAAAAAA=="}]},{"type":14,"nexthop":"::","afi":2,"safi":133,"value":[]}],"stale":false}]}"#
        let r = try GoBGPReader.read(dump)
        #expect(r.errors.isEmpty, "\(r.errors)")
        let route = try #require(r.routes.first)
        #expect(route.route.ipv6ExtendedCommunities == [redirect6, rtRedirect6,
                                                       IPv6ExtendedCommunity(type: 0x80, subtype: 0x0b, address: IPAddress("2001:db8::1")!, local: 5)])
        #expect(route.warnings.count == 1 && route.warnings[0].contains("type 3 subtype 1"), "\(route.warnings)")
    }

    @Test("FRR 8.4: its 0x800d reads back from `FS:redirect VRF RT:…`; the draft's and the RFC's codes print without the address, so the route is an error")
    func frr() throws {
        func dump(_ ecom6: String) -> String {
            """
            [
              {
                "to":"2001:db8:113::10/128/off 0"
              },
              {
                "ecomlist":"FS:rate 0.000000",
                "ecom6list":"\(ecom6)"
              },
              {
                "time":"00:00:09"
              }
            ]
            """
        }
        let ok = try FRRReader.read(dump("FS:redirect VRF RT:2001:db8::1:100 UNK:0, 2"), family: .ipv6)
        #expect(ok.errors.isEmpty, "\(ok.errors)")
        #expect(ok.routes.first?.route.ipv6ExtendedCommunities == [IPv6ExtendedCommunity(type: 0x80, subtype: 0x0d, address: IPAddress("2001:db8::1")!, local: 100)])
        #expect(ok.routes.first?.warnings.contains { $0.contains("UNK:0, 2") } == true)
        for (text, what) in [("UNK:0, 12", "0x000c"), ("FS:rate 1.0 UNK:0, 13", "0x000d")] {
            let bad = try FRRReader.read(dump(text), family: .ipv6)
            #expect(bad.routes.isEmpty && bad.errors.count == 1 && bad.errors[0].reason.contains(what), "\(bad.errors)")
        }
    }

    @Test("ExaBGP configuration: redirect-to-nexthop-ietf for 0x000c; other IPv6 communities are not written, with the reason; BIRD writes none")
    func writers() {
        let ok = FlowRoute(family: .ipv6, components: [dst6], ipv6ExtendedCommunities: [redirect6])
        #expect((try? ExaBGPConfigWriter.routeText(ok, name: "r").get())?.contains("redirect-to-nexthop-ietf 2001:db8:2::10;") == true)
        for c in [rtRedirect6, IPv6ExtendedCommunity(type: 0x00, subtype: 0x0c, address: nextHop, local: 1)] {
            let route = FlowRoute(family: .ipv6, components: [dst6], ipv6ExtendedCommunities: [c])
            guard case .failure(let e) = ExaBGPConfigWriter.routeText(route, name: "r") else { Issue.record("written: \(c)"); continue }
            #expect(e.reason.contains("cannot give"), "\(e.reason)")
        }
        guard case .failure(let e) = BIRDWriter.routeText(ok) else { Issue.record("BIRD wrote attribute 25"); return }
        #expect(e.reason.contains("attribute 25"), "\(e.reason)")
    }
}
