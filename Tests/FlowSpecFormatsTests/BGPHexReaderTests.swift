import Foundation
import FlowSpecTestSupport
import Testing
import FlowSpec
@testable import FlowSpecFormats

/// One BGP message of a capture, as lab/pcap-bgp-messages.py printed it.
struct CapturedMessage {
    var file: String
    var frame: Int
    var type: Int
    var bytes: [UInt8]
}

enum Captures {
    static let files = [
        "flowspec-updates", "ctl-gobgp", "ctl-exa",
        "frr-reject-flowspec-updates", "frr-reject-ctl-gobgp", "frr-reject-ctl-exa",
        "exabgp-reject-flowspec-updates", "exabgp-reject-ctl-gobgp",
    ]

    static func load(_ name: String) throws -> [CapturedMessage] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "jsonl", subdirectory: "Fixtures/pcap"))
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let hex = try #require(o["hex"] as? String)
            return CapturedMessage(file: name, frame: try #require(o["frame"] as? Int), type: try #require(o["type"] as? Int),
                                   bytes: try #require(bytes(hex)))
        }
    }

    static func all() throws -> [CapturedMessage] { try files.flatMap { try load($0) } }

    /// The hex lines of a capture, as `BGPHexReader` input.
    static func hexText(_ name: String) throws -> String {
        try load(name).map { hexString($0.bytes) }.joined(separator: "\n")
    }

    static func bytes(_ hex: String) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        var i = 0
        while i < u.count {
            guard let b = UInt8(String(decoding: u[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(b); i += 2
        }
        return out
    }
}

@Suite struct CapturedWireTests {
    @Test func everyCapturedMessageDecodesAndReencodesIdentically() throws {
        let messages = try Captures.all()
        #expect(messages.count == 162)
        var updates = 0
        for m in messages {
            let decoded = try BGPMessage.decode(m.bytes)
            #expect(Int(decoded.type) == m.type, "\(m.file) frame \(m.frame)")
            #expect(try decoded.encode() == m.bytes, "\(m.file) frame \(m.frame)")
            if case .update(let u) = decoded {
                updates += 1
                #expect(u.flowspec.errors.isEmpty, "\(m.file) frame \(m.frame)")
                #expect(u.flowspec.skipped.isEmpty, "\(m.file) frame \(m.frame)")
            }
        }
        #expect(updates == 139)
    }

    /// Every NLRI, re-encoded alone from its components, gives the octets found at its offset.
    @Test func everyCapturedNLRIReencodesIdentically() throws {
        var count = 0
        for m in try Captures.all() {
            guard case .update(let u) = try BGPMessage.decode(m.bytes) else { continue }
            for a in u.attributes {
                let nlri: MPNLRIs
                switch a.value {
                case .mpReach(let r): nlri = r.nlri
                case .mpUnreach(let r): nlri = r.nlri
                default: continue
                }
                guard case .flowspec(let family, let list) = nlri else { continue }
                for e in list.entries {
                    let comps = try #require(e.components)
                    var out = [UInt8]()
                    try FlowNLRICodec.appendNLRI(comps, family: family, to: &out)
                    #expect(Array(m.bytes[e.offset..<(e.offset + out.count)]) == out, "\(m.file) frame \(m.frame)")
                    count += 1
                }
            }
        }
        // 55 + 55 (FRR re-advertises) + 55 + 55 + the reject sets.
        #expect(count > 220)
    }

    @Test func captureHoldsEveryRouteOfTheDefaultSetOnce() throws {
        let result = try BGPHexReader.read(try Captures.hexText("flowspec-updates"))
        #expect(result.errors.isEmpty)
        let fromBIRD = result.routes.filter { !$0.withdrawn }
        let identities = Set(fromBIRD.map(\.route.identity))
        #expect(identities.count == 55)
        #expect(fromBIRD.filter { $0.route.family == .ipv4 }.map(\.route.identity).uniqueCount == 41)
        #expect(fromBIRD.filter { $0.route.family == .ipv6 }.map(\.route.identity).uniqueCount == 14)
    }
}

extension Array where Element: Hashable {
    var uniqueCount: Int { Set(self).count }
}

// MARK: - Routes of the fixture README, built by hand

private func dst(_ s: String) -> Component { .destinationPrefix(FlowPrefix(s)!) }
private func src(_ s: String) -> Component { .sourcePrefix(FlowPrefix(s)!) }
private func eq(_ t: ComponentType, _ values: UInt64...) -> Component { .numeric(t, values.map { .equal($0) }) }
private func num(_ t: ComponentType, _ terms: NumericTerm...) -> Component { .numeric(t, terms) }
private func bits(_ t: ComponentType, _ terms: BitmaskTerm...) -> Component { .bitmask(t, terms) }
private func rate(_ r: Float, asn: UInt16 = 0) -> FlowAction { .trafficRateBytes(asn: asn, bytesPerSecond: r) }
private let drop = rate(0)

private struct Expected {
    var id: String
    var family: AddressFamily
    var components: [Component]
    var actions: [FlowAction]
}

private let table: [Expected] = [
    Expected(id: "v4-01", family: .ipv4, components: [dst("203.0.113.10/32"), eq(.ipProtocol, 6), eq(.destinationPort, 80)], actions: [drop]),
    Expected(id: "v4-05", family: .ipv4, components: [dst("203.0.113.20/32"), eq(.ipProtocol, 6),
        num(.destinationPort, NumericTerm(gt: true, value: 1024), NumericTerm(and: true, lt: true, value: 2048))], actions: [drop]),
    // SYN set, ACK clear: "match 0x02 AND NOT any-of 0x10".
    Expected(id: "v4-11", family: .ipv4, components: [dst("203.0.113.30/32"), eq(.ipProtocol, 6),
        bits(.tcpFlags, BitmaskTerm(match: true, value: 0x02), BitmaskTerm(and: true, not: true, value: 0x10))], actions: [rate(125000)]),
    Expected(id: "v4-14", family: .ipv4, components: [dst("203.0.113.32/32"), eq(.ipProtocol, 6),
        bits(.tcpFlags, BitmaskTerm(match: true, value: 0x04), BitmaskTerm(match: true, value: 0x01))], actions: [drop]),
    Expected(id: "v4-22", family: .ipv4, components: [dst("203.0.113.61/32"),
        bits(.fragment, BitmaskTerm(match: true, value: 0x04), BitmaskTerm(match: true, value: 0x08))], actions: [drop]),
    Expected(id: "v4-25", family: .ipv4, components: [dst("203.0.113.71/32"), eq(.ipProtocol, 6), eq(.destinationPort, 8080)],
             actions: [.trafficAction(sample: false, terminal: true), rate(125000)]),
    Expected(id: "v4-27", family: .ipv4, components: [dst("203.0.113.73/32"), eq(.ipProtocol, 17)],
             actions: [.redirect(RouteTarget("192.0.2.1:100")!)]),
    Expected(id: "v4-31", family: .ipv4, components: [dst("0.0.0.0/0"), src("0.0.0.0/0")], actions: [drop]),
    Expected(id: "v4-34", family: .ipv4, components: [
        dst("203.0.113.90/32"), src("198.51.100.10/32"), eq(.ipProtocol, 6), eq(.port, 80), eq(.destinationPort, 80),
        num(.sourcePort, NumericTerm(gt: true, value: 1023)), eq(.icmpType, 0), eq(.icmpCode, 0),
        bits(.tcpFlags, BitmaskTerm(match: true, value: 0x02)),
        num(.packetLength, NumericTerm(gt: true, eq: true, value: 40), NumericTerm(and: true, lt: true, eq: true, value: 1500)),
        eq(.dscp, 0), bits(.fragment, BitmaskTerm(not: true, value: 0x02)),
    ], actions: [rate(1.25e6), .trafficMarking(dscp: 10, value: 10)]),
    Expected(id: "v4-38", family: .ipv4, components: [dst("203.0.113.94/32"), eq(.ipProtocol, 6), eq(.destinationPort, 3306)],
             actions: [rate(125000, asn: 65309)]),
    Expected(id: "v4-40", family: .ipv4, components: [dst("203.0.113.96/32"), eq(.ipProtocol, 6)],
             actions: [.redirectToIP(IPAddress("192.0.2.1")!, copy: false)]),
    // "sport false 0": op 0x80, no comparison bit.
    Expected(id: "v4-41", family: .ipv4, components: [dst("203.0.113.97/32"), eq(.ipProtocol, 6), eq(.destinationPort, 5000),
        num(.sourcePort, NumericTerm(value: 0))], actions: [drop]),
    Expected(id: "v6-02", family: .ipv6, components: [dst("2001:db8:113::/48"), src("2001:db8:5100::/48"),
        eq(.ipProtocol, 17), eq(.destinationPort, 53)], actions: [rate(125000)]),
    Expected(id: "v6-08", family: .ipv6, components: [dst("2001:db8:113::60/128"),
        bits(.fragment, BitmaskTerm(match: true, value: 0x02), BitmaskTerm(match: true, value: 0x04))], actions: [drop]),
    Expected(id: "v6-09", family: .ipv6, components: [dst("2001:db8:113::70/128"), eq(.flowLabel, 0x8e5)], actions: [drop]),
    Expected(id: "v6-13", family: .ipv6, components: [dst("2001:db8:113::82/128"),
        num(.flowLabel, NumericTerm(gt: true, eq: true, value: 0x100), NumericTerm(and: true, lt: true, eq: true, value: 0x1ff))],
             actions: [.trafficAction(sample: true, terminal: true)]),
    Expected(id: "v6-14", family: .ipv6, components: [dst("::/0"), src("::/0")], actions: [drop]),
]

private let rejectTable: [Expected] = [
    // "!=" is lt|gt.
    Expected(id: "q4-01", family: .ipv4, components: [dst("203.0.113.91/32"),
        num(.ipProtocol, NumericTerm(lt: true, gt: true, value: 6), NumericTerm(and: true, lt: true, gt: true, value: 17))], actions: [drop]),
    Expected(id: "q4-02", family: .ipv4, components: [dst("203.0.113.97/32"), eq(.ipProtocol, 6),
        num(.destinationPort, NumericTerm(lt: true, gt: true, eq: true, value: 0))], actions: [drop]),
    Expected(id: "q4-03", family: .ipv4, components: [dst("203.0.113.98/32"), eq(.ipProtocol, 6),
        eq(.destinationPort, 21, 23, 25, 110, 143, 445)], actions: [drop]),
    Expected(id: "q6-01", family: .ipv6, components: [dst("::10/128 offset 64"), eq(.ipProtocol, 17)], actions: [drop]),
    Expected(id: "q6-02", family: .ipv6, components: [dst("2001:db8:113::80/128"), eq(.ipProtocol, 6),
        eq(.port, 25, 110, 143, 587, 993, 995)], actions: [drop]),
    // BIRD writes label 0x12345 as the 2-octet value 0x2345.
    Expected(id: "q6-03", family: .ipv6, components: [dst("2001:db8:113::70/128"), eq(.flowLabel, 0x2345)], actions: [drop]),
]

private let exabgpRejectTable: [Expected] = [
    Expected(id: "x4-01", family: .ipv4, components: [dst("203.0.113.95/32"), eq(.ipProtocol, 6)],
             actions: [.redirect(RouteTarget(global: .as4(65536), local: 100))]),
]

@Suite struct CapturedRouteTableTests {
    private func check(_ expected: [Expected], in capture: String) throws {
        let result = try BGPHexReader.read(try Captures.hexText(capture))
        #expect(result.errors.isEmpty)
        for e in expected {
            let want = FlowRoute(family: e.family, components: e.components, actions: e.actions)
            let found = result.routes.filter { !$0.withdrawn && $0.route.family == e.family && $0.route.components == e.components }
            #expect(!found.isEmpty, "\(e.id) not found in \(capture)")
            for r in found {
                // Communities in any order (BIRD sorts them; the README lists them by meaning).
                #expect(Set(r.route.extendedCommunities) == Set(want.extendedCommunities), "\(e.id) at \(r.position)")
                #expect(r.route.nlriBytes == want.nlriBytes, "\(e.id)")
            }
        }
    }

    @Test func defaultSetMatchesTheREADME() throws {
        try check(table, in: "flowspec-updates")
        try check(table, in: "ctl-gobgp")
        try check(table, in: "ctl-exa")
    }

    @Test func frrRejectSetMatchesTheREADME() throws {
        try check(rejectTable, in: "frr-reject-flowspec-updates")
        try check(rejectTable, in: "frr-reject-ctl-gobgp")
    }

    @Test func exabgpRejectSetMatchesTheREADME() throws {
        try check(exabgpRejectTable, in: "exabgp-reject-flowspec-updates")
    }
}

// MARK: - The reader itself

@Suite struct BGPHexReaderTests {
    private let marker = String(repeating: "ff", count: 16)

    @Test func positionsSkipsAndWithdrawals() throws {
        let updates = try Captures.load("flowspec-updates")
        let first = hexString(updates[1].bytes)    // v4-25, one NLRI
        let text = """
        # a comment

        \(marker)001304
        \(first)
        \(marker)001d0200000006800f03000185
        \(marker)0022020000000bc010080000000000000000
        """
        let r = try BGPHexReader.read(text)
        #expect(r.errors.isEmpty)
        #expect(r.routes.count == 1)
        #expect(r.routes.first?.position == "line 4, NLRI 1")
        #expect(r.routes.first?.route.destination == FlowPrefix("203.0.113.71/32"))
        #expect(r.routes.first?.withdrawn == false)

        let withdraw = BGPUpdate.flowspec(family: .ipv6, withdraw: [[.destinationPrefix(FlowPrefix("2001:db8::/32")!)]])
        let w = try BGPHexReader.read(hexString(try BGPMessage.update(withdraw).encode()))
        #expect(w.routes.map(\.withdrawn) == [true])
        #expect(w.routes.map(\.position) == ["line 1, withdrawn NLRI 1"])
    }

    @Test func separatorsAndPrefixAreAccepted() throws {
        let hex = hexString(try Captures.load("flowspec-updates")[1].bytes)
        var spaced = ""
        for (i, c) in hex.enumerated() { spaced.append(c); if i % 4 == 3 { spaced.append(" ") } }
        #expect(try BGPHexReader.read("0x" + hex).routes.count == 1)
        #expect(try BGPHexReader.read(spaced).routes.count == 1)
    }

    @Test func badLinesAndBadNLRIsAreErrorsThatHideNothing() throws {
        let good = hexString(try Captures.load("flowspec-updates")[1].bytes)
        // UPDATE with NLRIs: good (proto 6), bad (type 0), good (proto 17).
        let bad = BGPUpdate(attributes: [.mpReach(MPReachNLRI(afi: 1, safi: 133, nlri: .other([0x03, 0x03, 0x81, 0x06, 0x03, 0x00, 0x81, 0x06, 0x03, 0x03, 0x81, 0x11])))])
        let badHex = hexString(try BGPMessage.update(bad).encode())
        let text = [good, "\(marker)0013", "abc", good + "0", badHex].joined(separator: "\n")
        let r = try BGPHexReader.read(text)
        #expect(r.routes.map(\.position) == ["line 1, NLRI 1", "line 5, NLRI 1", "line 5, NLRI 3"])
        #expect(r.errors.map(\.position) == ["line 2", "line 3", "line 4", "line 5, NLRI 2"])
        #expect(r.errors[0].reason.contains("input ends inside the message header"))
        #expect(r.errors[3].reason.contains("unknown flowspec component type 0"))
    }

    @Test func inputWithNoHexIsUnreadable() {
        #expect(throws: UnreadableInput.self) { try BGPHexReader.read("{\"routes\": []}\nhello world") }
        #expect((try? BGPHexReader.read("# only comments\n\n"))?.routes.isEmpty == true)
    }
}

// MARK: - Robustness

/// SplitMix64 (FlowSpecTestSupport): deterministic, so a failure reproduces.
typealias SplitMix64 = SplitMix

@Suite struct WireMutationTests {
    /// 10,000 mutated captured messages (flipped, inserted, deleted octets): decoding never
    /// traps, and whatever decodes re-encodes to a message that decodes to the same value.
    @Test func mutatedMessagesNeverCrashAndStayStable() throws {
        let seeds = try Captures.all().filter { $0.type == 2 }.map(\.bytes)
        var rng = SplitMix64(state: 8955)
        var decoded = 0, nlriErrors = 0
        for _ in 0..<10_000 {
            var m = seeds[Int(rng.next() % UInt64(seeds.count))]
            let edits = 1 + Int(rng.next() % 4)
            for _ in 0..<edits {
                let pos = Int(rng.next() % UInt64(m.count + 1))
                switch rng.next() % 3 {
                case 0 where pos < m.count: m[pos] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
                case 1: m.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos)
                default: if pos < m.count { m.remove(at: pos) }
                }
            }
            // Keep the header length in step half of the time, so the body is reached.
            if rng.next() % 2 == 0 && m.count >= 19 {
                m[16] = UInt8(truncatingIfNeeded: m.count >> 8); m[17] = UInt8(truncatingIfNeeded: m.count)
            }
            guard let msg = try? BGPMessage.decode(m) else { continue }
            decoded += 1
            if case .update(let u) = msg { nlriErrors += u.flowspec.errors.count }
            let again = try msg.encode(maxLength: BGPMessage.maxExtendedLength)
            #expect(try BGPMessage.decode(again) == msg)
        }
        // The mutations must reach the NLRI decoder, not only the header checks.
        #expect(decoded > 1000)
        #expect(nlriErrors > 100)
    }

    @Test func mutatedNLRIRunsNeverCrash() {
        var rng = SplitMix64(state: 8956)
        let seeds = ["0c0120cb00710a038106058150", "1a01800020010db80113000000000000000000820d130100d501ff",
                     "0e0180400000000000000010038111"].map { Captures.bytes($0)! }
        for _ in 0..<10_000 {
            var b = seeds[Int(rng.next() % 3)]
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let pos = Int(rng.next() % UInt64(b.count + 1))
                if pos < b.count && rng.next() % 2 == 0 { b[pos] = UInt8(truncatingIfNeeded: rng.next()) }
                else { b.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos) }
            }
            for family in AddressFamily.allCases {
                let list = FlowNLRICodec.decodeList(b, family: family, options: rng.next() % 2 == 0 ? .standard : .strict)
                var out = [UInt8]()
                #expect(throws: Never.self) { try list.encode(family: family, into: &out) }
            }
        }
    }
}
