import Foundation
import Testing
import FlowSpec
import FlowSpecTestSupport
import FlowSpecFormats
import FlowSpecCompiler
import FlowSpecNetlink
@testable import FlowSpecFetcher

/// routes → compile → apply (private namespace) → listTable → ChainReader → routes. For every
/// route the compiler installed, the routes read back from its rules must match exactly the
/// packets the route matches, and carry the actions the compiler installed. Packets are compared
/// two ways: on sampled packets with the RFC 8955/8956 model (every route), and component by
/// component as exact value sets per family (`ExactMatch`, every route read back as one route:
/// the reader spells terms its own way, splits `port` into source/destination port and states
/// the protocols the compiler implied).
@Suite("Round trip: compile, apply, fetch (private namespaces)", .enabled(if: Kernel.available, Kernel.reason), .serialized)
struct RoundTripTests {
    static let mark: UInt32 = 0x10

    struct Outcome {
        var compared = 0
        var packets = 0
        /// Routes compared component by component (read back as a single route).
        var exact = 0
        var failures: [String] = []
        /// Routes read back whose packets or actions differ.
        var mismatches: [String] = []
    }

    static func roundTrip(_ routes: [FlowRoute], seed: UInt64, packetsPerRoute: Int = 150) throws -> Outcome {
        var options = CompileOptions(tableName: "rt\(seed)", counters: false, merge: false)
        options.redirectMarks = [RandomRoutes.redirectTarget: mark]
        let compiled = compile(routes, options: options)
        let connection = try NftConnection.inNewNamespace()
        _ = try connection.apply(compiled.table)
        let installed = try #require(try connection.listTable(name: compiled.table.name, family: .inet))
        let chain = try #require(compiled.table.chains.first { $0.base != nil })
        let fetched = try ChainReader.read(
            table: installed.table, chain: chain.name, ruleHandles: installed.ruleHandles[chain.name],
            options: FetchOptions(sequenceCarrier: .none, markTargets: [mark: RandomRoutes.redirectTarget]))

        var outcome = Outcome()
        for problem in fetched.problems {
            let index = compiled.ruleRoutes[safe: problem.position.index - 1]
            outcome.failures.append("\(problem) (route \(index.map { routes[$0].description } ?? "policy"))")
        }
        // Rules → the route they were compiled from.
        var byRoute: [Int: [FetchedRoute]] = [:]
        for f in fetched.routes where !f.position.isPolicy {
            guard let index = compiled.ruleRoutes[safe: f.position.index - 1] else {
                outcome.failures.append("\(f.position): no compiled rule at this position"); continue
            }
            byRoute[index, default: []].append(f)
        }
        let skipped = Set(compiled.rejected.map(\.index))
            .union(compiled.notes.filter { $0.kind == .neverMatches || $0.kind == .noEffect }.map(\.index))
        var r = SplitMix(state: seed)
        for (index, route) in routes.enumerated() where !skipped.contains(index) && !route.isDefaultPolicy {
            guard let back = byRoute[index], !back.isEmpty else {
                if compiled.ruleRoutes.contains(index) {
                    outcome.failures.append("route \(index) \(route): rules installed, nothing read back")
                }
                continue
            }
            outcome.compared += 1
            for _ in 0..<packetsPerRoute {
                let p = TestPacket.random(&r, like: route)
                let want = p.matches(route), got = back.contains { p.matches($0.route) }
                outcome.packets += 1
                if want != got {
                    outcome.mismatches.append("route \(index) \(route) read back as \(back.map(\.route.description)): packet \(p) \(want ? "matches" : "does not match") the route, \(got ? "matches" : "does not match") what was read")
                    break
                }
            }
            // `port` is read back as source/destination port; compared on packets only.
            if back.count == 1 && route.component(.port) == nil {
                outcome.exact += 1
                if let reason = ExactMatch.difference(route, back[0].route) {
                    outcome.mismatches.append("route \(index) \(route) read back as \(back[0].route): \(reason)")
                }
            }
            if let reason = actionMismatch(route, back.map(\.route)) {
                outcome.mismatches.append("route \(index) \(route): \(reason)")
            }
        }
        // The chain policy comes back as the default-policy route(s).
        let policy = fetched.routes.filter(\.position.isPolicy)
        let dropPolicy = chain.base?.policy == .drop
        if policy.count != 2 || policy.contains(where: { $0.route.actions.contains(.trafficRateBytes(asn: 0, bytesPerSecond: 0)) != dropPolicy }) {
            outcome.failures.append("chain policy \(dropPolicy ? "drop" : "accept") read back as \(policy.map(\.route.description))")
        }
        return outcome
    }

    /// The actions the compiler installs, compared as the reader can express them: discard,
    /// a rate (within the compiler's rounding), DSCP marking, redirect, sample.
    static func actionMismatch(_ route: FlowRoute, _ back: [FlowRoute]) -> String? {
        func summary(_ actions: [FlowAction]) -> (rate: Double?, dscp: UInt8?, redirect: Bool, sample: Bool) {
            var rate: Double?, dscp: UInt8?, redirect = false, sample = false
            for a in actions {
                switch a {
                case .trafficRateBytes(_, let v): rate = min(rate ?? .infinity, Double(v))
                case .trafficRatePackets(_, let v): rate = min(rate ?? .infinity, Double(v))
                case .trafficMarking(let d, _): dscp = d
                case .redirect: redirect = true
                case .trafficAction(let s, _): sample = sample || s
                default: break
                }
            }
            return (rate, dscp, redirect, sample)
        }
        let want = summary(route.actions)
        for b in back {
            let got = summary(b.actions)
            let rateOK: Bool = switch (want.rate, got.rate) {
            case (nil, nil): true
            case (let w?, let g?): w == g || (w > 0 && g > 0 && abs(w - g) <= max(1, w * 0.01))
                || (w < 1 && g <= 1) // sub-unit rates are rounded by the compiler
            default: false
            }
            // A rate rounded to nothing-to-police by the compiler may come back as no rate.
            if !rateOK && !(want.rate.map { $0 > 0 } == true && got.rate == nil) {
                return "rate \(want.rate.map { "\($0)" } ?? "none") read back as \(got.rate.map { "\($0)" } ?? "none") in \(b)"
            }
            // A discarding route is compiled without its marking (nothing is forwarded to mark).
            if want.dscp != got.dscp && want.rate != 0 { return "DSCP marking \(want.dscp.map { "\($0)" } ?? "none") read back as \(got.dscp.map { "\($0)" } ?? "none") in \(b)" }
            // So is its redirect.
            if want.redirect != got.redirect && want.rate != 0 { return "redirect \(want.redirect) read back as \(got.redirect) in \(b)" }
            if want.sample != got.sample { return "sample \(want.sample) read back as \(got.sample) in \(b)" }
        }
        return nil
    }

    @Test func theFixtureRoutesComeBack() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../FlowSpecFormatsTests/Fixtures/json/default-routes.json").standardized
        let read = try CanonicalJSON.read([UInt8](try Data(contentsOf: url)))
        #expect(read.errors.isEmpty)
        let routes = read.routes.map(\.route)
        #expect(routes.count == 55)
        let outcome = try Self.roundTrip(routes, seed: 1)
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) failures:\n\(outcome.failures.prefix(15).joined(separator: "\n"))")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) routes:\n\(outcome.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(outcome.compared >= 40, "only \(outcome.compared) routes compared")
        #expect(outcome.exact >= 30, "only \(outcome.exact) routes compared exactly")
    }

    @Test(arguments: [21, 22, 23, 24, 25, 26] as [UInt64])
    func randomRoutesComeBack(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        let routes = (0..<100).map { _ in RandomRoutes.route(&r) }
        let outcome = try Self.roundTrip(routes, seed: seed, packetsPerRoute: 300)
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) failures:\n\(outcome.failures.prefix(15).joined(separator: "\n"))")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) routes:\n\(outcome.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(outcome.compared >= 50, "only \(outcome.compared) routes compared")
        #expect(outcome.exact >= 30, "only \(outcome.exact) routes compared exactly")
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}

/// The exact comparison itself: spellings of one meaning compare equal, other meanings do not.
@Suite("Round trip: exact route comparison")
struct ExactMatchTests {
    @Test func impliedProtocolsAndAlwaysTruePortsAreTheSameMeaning() {
        let all = [NumericTerm(lt: true, value: 70000)]
        let sent = route6([.sourcePrefix(p("2001:db8::/32")), .numeric(.sourcePort, all)], [drop])
        let read = route6([.sourcePrefix(p("2001:db8::/32")), .numeric(.ipProtocol, eq(6, 17)),
                           .numeric(.destinationPort, [NumericTerm(gt: true, eq: true, value: 0)])], [drop])
        #expect(ExactMatch.difference(sent, read) == nil)
        // Without the transport test the read route would also match non-first fragments.
        let loose = route6([.sourcePrefix(p("2001:db8::/32")), .numeric(.ipProtocol, eq(6, 17))], [drop])
        #expect(ExactMatch.difference(sent, loose) != nil)
    }

    @Test func fragmentAndFlagSpellingsCompareBySetsAndDifferencesShow() {
        // IPv6 `!~IsF` is offset 0: unfragmented, atomic or first fragment.
        let a = route6([.bitmask(.fragment, [BitmaskTerm(not: true, value: 0x2)])], [drop])
        let b = route6([.bitmask(.fragment, [BitmaskTerm(not: true, value: 0xa), BitmaskTerm(value: 0x4)])], [drop])
        #expect(ExactMatch.difference(a, b) == nil)
        let c = route6([.bitmask(.fragment, [BitmaskTerm(value: 0x4)])], [drop])
        #expect(ExactMatch.difference(a, c) != nil)
        let syn = route([.bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x2)])], [drop])
        let synOr = route([.numeric(.ipProtocol, eq(6)), .bitmask(.tcpFlags, [BitmaskTerm(value: 0x2)])], [drop])
        #expect(ExactMatch.difference(syn, synOr) == nil)
        let ack = route([.bitmask(.tcpFlags, [BitmaskTerm(match: true, value: 0x10)])], [drop])
        #expect(ExactMatch.difference(syn, ack) != nil)
        let v6length = route6([.numeric(.packetLength, [NumericTerm(lt: true, value: 40)])], [drop])
        #expect(ExactMatch.difference(v6length, route6([.numeric(.packetLength, [NumericTerm(gt: true, value: 65575)])], [drop])) == nil,
                "IPv6 packets are 40 to 65575 bytes long: both match nothing")
        #expect(ExactMatch.difference(route([.numeric(.destinationPort, eq(80))], [drop]),
                                      route([.numeric(.destinationPort, eq(81))], [drop])) != nil)
    }
}
