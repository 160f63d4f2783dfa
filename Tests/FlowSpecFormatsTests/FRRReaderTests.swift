import FlowSpec
@testable import FlowSpecFormats
import Testing

@Suite("FRR 8.4 detail json")
struct FRRReaderTests {
    /// What FRR 8.4's text cannot carry, applied to the expected communities: the traffic-rate AS
    /// (not printed), the traffic-action bits (always "eval stops") and the 0x8108 local part
    /// (cut to 15 characters).
    static func frrView(_ id: String, _ ecs: [ExtendedCommunity]) -> [ExtendedCommunity] {
        ecs.map { c in
            switch FlowAction(c) {
            case .trafficRateBytes(_, let r): FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: r).community
            case .trafficAction: FlowAction.trafficAction(sample: false, terminal: false).community
            case .redirect(let rt) where rt == RouteTarget("192.0.2.1:100")!: FlowAction.redirect(RouteTarget("192.0.2.1:10")!).community
            default: c
            }
        }
    }

    @Test func ipv4DumpGivesEveryRouteOfTheReadme() throws {
        let r = try FRRReader.read(try FixtureRoutes.text("frr-8.4", "ipv4-flowspec-detail.json"))
        #expect(r.errors.isEmpty, "\(r.errors)")
        #expect(r.routes.count == 41)
        let problems = FixtureMatch.compare(r.routes, expected: FixtureRoutes.routes(FixtureRoutes.allV4), adjust: Self.frrView)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func ipv6DumpGivesEveryRouteOfTheReadme() throws {
        let r = try FRRReader.read(try FixtureRoutes.text("frr-8.4", "ipv6-flowspec-detail.json"))
        #expect(r.errors.isEmpty, "\(r.errors)")
        #expect(r.routes.count == 14)
        let problems = FixtureMatch.compare(r.routes, expected: FixtureRoutes.routes(FixtureRoutes.allV6), adjust: Self.frrView)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    static func route(_ r: ReadResult, _ id: String) -> ReadRoute? {
        let want = FixtureRoutes.routes([id])[0].route
        return r.routes.first { $0.route.components == want.components }
    }

    @Test func lossyActionsCarryWarnings() throws {
        let r = try FRRReader.read(try FixtureRoutes.text("frr-8.4", "ipv4-flowspec-detail.json"))
        for id in ["v4-24", "v4-25"] {
            let w = try #require(Self.route(r, id)).warnings.joined()
            #expect(w.contains("cannot be recovered"), "\(id): \(w)")
        }
        let truncated = try #require(Self.route(r, "v4-27")).warnings.joined()
        #expect(truncated.contains("truncated"))
        #expect(try #require(Self.route(r, "v4-26")).warnings.isEmpty, "65309:100 fits FRR's buffer")
        let r6 = try FRRReader.read(try FixtureRoutes.text("frr-8.4", "ipv6-flowspec-detail.json"))
        #expect(try #require(Self.route(r6, "v6-13")).warnings.contains { $0.contains("cannot be recovered") })
    }

    @Test func rangesAreFlaggedAsAssumptionsListsAreNot() throws {
        let r = try FRRReader.read(try FixtureRoutes.text("frr-8.4", "ipv4-flowspec-detail.json"))
        for id in ["v4-04", "v4-05", "v4-06", "v4-10", "v4-16", "v4-19", "v4-32", "v4-33"] {
            let w = try #require(Self.route(r, id)).warnings
            #expect(w.contains { $0.hasPrefix("assumption:") }, "\(id): \(w)")
        }
        // `= 22 , = 23 , = 3389` and `< 64 , > 1500`: AND would never match, so OR is certain.
        for id in ["v4-03", "v4-17", "v4-35", "v4-01"] {
            #expect(try #require(Self.route(r, id)).warnings.isEmpty, "\(id)")
        }
        #expect(try #require(Self.route(r, "v4-41")).warnings.contains { $0.contains("false operator") })
    }

    @Test func overlappingRangesAreReportedAsAmbiguous() {
        let plain = try! FRRReader.numericTerms(">= 10 , <= 20 , >= 15 , <= 30 ").get()
        let (terms, note) = FRRReader.resolveJoins(plain, type: .destinationPort, text: ">= 10 , <= 20 , >= 15 , <= 30 ")
        #expect(terms.map(\.and) == [false, true, false, true])
        #expect(note?.text.hasPrefix("ambiguous:") == true)
        #expect(note?.text.contains(">= 10 && <= 20 && >= 15 && <= 30") == true)
    }

    @Test func bitmaskTextIsLossless() throws {
        let t = try FRRReader.bitmaskTerms("= 41,&∋ ! 214").get()
        #expect(t == [BitmaskTerm(match: true, value: 41), BitmaskTerm(and: true, not: true, value: 214)])
        let o = try FRRReader.bitmaskTerms("= 4,|= 8").get()
        #expect(o == [BitmaskTerm(match: true, value: 4), BitmaskTerm(match: true, value: 8)])
    }

    @Test func rejectSetsAreEmptyTablesOrTheOneRoute() throws {
        for name in ["ipv4-flowspec-detail.json", "ipv6-flowspec-detail.json"] {
            let r = try FRRReader.read(try FixtureRoutes.text("frr-reject/frr-8.4", name))
            #expect(r.routes.isEmpty && r.errors.isEmpty)
        }
        let x = try FRRReader.read(try FixtureRoutes.text("exabgp-reject/frr-8.4", "ipv4-flowspec-detail.json"))
        #expect(x.errors.isEmpty)
        #expect(FixtureMatch.compare(x.routes, expected: FixtureRoutes.routes(["x4-01"]), adjust: Self.frrView).isEmpty)
    }

    @Test func truncatedRouteIsReportedAndTheRestRead() throws {
        let text = try FixtureRoutes.text("frr-8.4", "ipv4-flowspec-detail.json")
        // Cut route 7 after its first line of the match object.
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let starts = lines.indices.filter { lines[$0] == "[" }
        lines.removeSubrange((starts[6] + 3)..<starts[7])
        let r = try FRRReader.read(lines.joined(separator: "\n"))
        #expect(r.routes.count == 40)
        #expect(r.errors.count == 1)
        #expect(r.errors.first?.position == "route 7")
        #expect(r.errors.first?.reason.contains("truncated") == true)
    }

    @Test func unknownKeyAndBadNumberNameTheRoute() throws {
        let text = """
        [
          {
            "to":"203.0.113.1/32",
            "color":"= 6 "
          }
        ]
        [
          {
            "to":"203.0.113.2/32",
            "proto":"= six "
          }
        ]
        [
          {
            "to":"203.0.113.3/32",
            "proto":"= 6 "
          },
          {
            "ecomlist":"FS:rate 0.000000 UNK:128, 12"
          }
        ]
        """
        let r = try FRRReader.read(text)
        #expect(r.errors.map(\.position) == ["route 1", "route 2"])
        #expect(r.errors[0].reason.contains("color"))
        #expect(r.errors[1].reason.contains("bad number"))
        #expect(r.routes.count == 1)
        #expect(r.routes.first?.position == "route 3")
        #expect(r.routes.first?.route.actions == [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        #expect(r.routes.first?.warnings.contains { $0.contains("UNK:128, 12") } == true)
    }

    @Test func notAnFRRDumpThrows() {
        #expect(throws: UnreadableInput.self) { try FRRReader.read("Displayed 3 flowspec entries") }
        #expect(throws: UnreadableInput.self) { try FRRReader.read(#"{"routes":{}}"#) }
        #expect((try? FRRReader.read(""))?.routes.isEmpty == true)
    }

    /// The same BIRD route read through the three speakers: same components everywhere, and the
    /// same communities wherever FRR's text does not lose them (where it does, FRR warns).
    @Test func threeSpeakersAgree() throws {
        for (fam, ids) in [("ipv4", FixtureRoutes.allV4), ("ipv6", FixtureRoutes.allV6)] {
            let frr = try FRRReader.read(try FixtureRoutes.text("frr-8.4", "\(fam)-flowspec-detail.json")).routes
            let gobgp = try GoBGPReader.read(try FixtureRoutes.text("gobgp-3.10", "\(fam)-flowspec.json")).routes
            let exa = try ExaBGPReader.read(try FixtureRoutes.text("exabgp-4.2", "updates.jsonl")).routes
            for (id, want) in FixtureRoutes.routes(ids) {
                let f = try #require(frr.first { $0.route.components == want.components }, "\(id) FRR")
                let g = try #require(gobgp.first { $0.route.components == want.components }, "\(id) GoBGP")
                let e = try #require(exa.first { $0.route.components == want.components }, "\(id) ExaBGP")
                #expect(g.route == e.route, "\(id)")
                if f.route != g.route {
                    let asnOnly = Self.frrView(id, g.route.extendedCommunities) == f.route.extendedCommunities
                        && g.route.actions.contains { if case .trafficRateBytes(let a, _) = $0 { a != 0 } else { false } }
                    #expect(asnOnly || !f.warnings.isEmpty, "\(id): FRR differs without a warning")
                }
            }
        }
    }
}

@Suite("FRR flowspec summary json")
struct FRRSummaryTests {
    @Test func countsEstablishedPeersThatHaveSettled() {
        let peers = """
        {"peers":{"192.0.2.1":{"state":"Established","peerUptimeMsec":12000},
                  "192.0.2.2":{"state":"Established","peerUptimeMsec":500},
                  "192.0.2.3":{"state":"Active"},
                  "192.0.2.4":{"state":"Established"}}}
        """
        #expect(FRRReader.establishedPeers(inSummary: peers, upForAtLeast: 3000) == 2)
        #expect(FRRReader.establishedPeers(inSummary: peers, upForAtLeast: 0) == 3)
        // FRR wraps the summary in a per-family object (`{"ipv4Flowspec": {...}}`).
        #expect(FRRReader.establishedPeers(inSummary: "{\"ipv4Flowspec\":\(peers)}", upForAtLeast: 3000) == 2)
        #expect(FRRReader.establishedPeers(inSummary: "{}", upForAtLeast: 3000) == 0)
        #expect(FRRReader.establishedPeers(inSummary: "% No BGP neighbors found", upForAtLeast: 3000) == 0)
    }

    /// `show bgp ipv4 flowspec summary json` of FRR 8.4 in the end-to-end lab (10,009 routes).
    static let labSummary = #"""
    {
      "routerId":"192.0.2.2",
      "as":65101,
      "vrfId":0,
      "vrfName":"default",
      "tableVersion":10009,
      "ribCount":10009,
      "ribMemory":1921728,
      "peerCount":1,
      "peerMemory":741464,
      "peers":{
        "192.0.2.1":{
          "remoteAs":65309,
          "localAs":65101,
          "version":4,
          "msgRcvd":50,
          "msgSent":9,
          "tableVersion":0,
          "outq":0,
          "inq":0,
          "peerUptime":"00:00:58",
          "peerUptimeMsec":58000,
          "peerUptimeEstablishedEpoch":1796527398,
          "pfxRcd":10009,
          "pfxSnt":0,
          "state":"Established",
          "peerState":"OK",
          "connectionsEstablished":1,
          "connectionsDropped":0,
          "desc":"controller",
          "idType":"ipv4"
        }
      },
      "failedPeers":0,
      "displayedPeers":1,
      "totalPeers":1,
      "dynamicPeers":0,
      "bestPath":{
        "multiPathRelax":"false"
      }
    }
    """#

    /// The fingerprint of a summary: the same while only the uptime moves, another when the
    /// table version or a peer's prefix count does; nil for text that is no summary.
    @Test func fingerprintFollowsTheTableVersion() throws {
        let a = try #require(FRRReader.summaryFingerprint(Self.labSummary))
        #expect(a.contains("v10009") && a.contains("192.0.2.1 Established 1 10009"), "\(a)")
        let later = Self.labSummary.replacingOccurrences(of: "\"peerUptimeMsec\":58000", with: "\"peerUptimeMsec\":99000")
        #expect(FRRReader.summaryFingerprint(later) == a)
        // bgpd works the session's start out from the clock on each call: it moves by a second.
        let jitter = Self.labSummary.replacingOccurrences(of: "1796527398", with: "1796527399")
        #expect(FRRReader.summaryFingerprint(jitter) == a)
        let restarted = Self.labSummary.replacingOccurrences(of: "\"connectionsEstablished\":1", with: "\"connectionsEstablished\":2")
        #expect(FRRReader.summaryFingerprint(restarted) != a)
        let changed = Self.labSummary.replacingOccurrences(of: "\"tableVersion\":10009", with: "\"tableVersion\":10010")
        #expect(FRRReader.summaryFingerprint(changed) != a)
        #expect(FRRReader.summaryFingerprint("% No BGP neighbors found") == nil)
        // A family no peer is activated in: stable, and not any summary's.
        #expect(FRRReader.summaryFingerprint("{}") == "no peers")
        #expect(FRRReader.summaryFingerprint("{\n}\n") == "no peers")
        #expect(FRRReader.summaryFingerprint("[]") == nil)
    }

    /// vtysh prints the outputs of several `-c` commands back to back.
    @Test func documentsCutsARunOfJSONValues() {
        #expect(FRRReader.documents("{\"a\":1}\n{}\n") == ["{\"a\":1}", "{}"])
        #expect(FRRReader.documents(" [1, {\"b\": [2]}] {\"c\":\"}{\"}") == ["[1, {\"b\": [2]}]", "{\"c\":\"}{\"}"])
        #expect(FRRReader.documents("") == [])
        #expect(FRRReader.documents("{\"a\":1}\n% Unknown command\n") == nil)
        #expect(FRRReader.documents("{\"a\":") == nil)
    }
}
