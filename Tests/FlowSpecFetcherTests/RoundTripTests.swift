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
        /// Merged rules in the compiled table.
        var merged = 0
        /// Compared routes read back from set elements.
        var fromElements = 0
    }

    /// `merge`: the default `CompileOptions()` (merged sets, element counters); otherwise one
    /// rule per route and no counters. `aim`: every other sampled packet is aimed at the route
    /// (its prefixes, protocol, ports), for routes that random packets rarely hit.
    static func roundTrip(_ routes: [FlowRoute], seed: UInt64, packetsPerRoute: Int = 150, merge: Bool = false,
                          aim: Bool = false, pathEvery: Int = 1) throws -> Outcome {
        var options = merge ? CompileOptions(tableName: "rt\(seed)") : CompileOptions(tableName: "rt\(seed)", counters: false, merge: false)
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
        let mergedRules = Set(compiled.merged.map(\.rule))
        // The routes that installed something: a rule of their own or a set element.
        var installedRoutes = Set(compiled.ruleRoutes.enumerated().filter { !mergedRules.contains($0.offset) }.map(\.element))
        for m in compiled.merged { installedRoutes.formUnion(m.elementRoutes) }
        var byIdentity: [String: [Int]] = [:]
        for (i, r) in routes.enumerated() { byIdentity[r.identity, default: []].append(i) }
        for problem in fetched.problems {
            let index = compiled.ruleRoutes[safe: problem.position.index - 1]
            outcome.failures.append("\(problem) (route \(index.map { routes[$0].description } ?? "policy"))")
        }
        // Rules (merged: set elements, by their identity comments) → the route they were compiled from.
        var byRoute: [Int: [FetchedRoute]] = [:]
        for f in fetched.routes where !f.position.isPolicy {
            if merge {
                guard let identity = f.position.identity, let indices = byIdentity[identity] else {
                    outcome.failures.append("\(f.position): names no route"); continue
                }
                byRoute[indices[0], default: []].append(f)
            } else {
                guard let index = compiled.ruleRoutes[safe: f.position.index - 1] else {
                    outcome.failures.append("\(f.position): no compiled rule at this position"); continue
                }
                byRoute[index, default: []].append(f)
            }
        }
        let skipped = Set(compiled.rejected.map(\.index))
            .union(compiled.notes.filter { $0.kind == .neverMatches || $0.kind == .noEffect }.map(\.index))
        let live = routes.indices.filter { !skipped.contains($0) && !routes[$0].isDefaultPolicy }
        // Default-policy routes are the chain's last rules or its policy, wherever they stood in
        // the list: the path check looks at what comes before them.
        let defaults = Set(routes.filter(\.isDefaultPolicy).map(\.identity))
        let chainRoutes = fetched.routes.filter { !$0.position.isPolicy && !defaults.contains($0.position.identity ?? "") }
        let meanings = merge ? routes.map { ExactMatch.meaning($0) } : []
        var r = SplitMix(state: seed)
        for (index, route) in routes.enumerated() where !skipped.contains(index) && !route.isDefaultPolicy {
            // Two routes with one NLRI share an identity: the elements cannot say which is which.
            if merge && byIdentity[route.identity]!.count > 1 { continue }
            guard let back = byRoute[index], !back.isEmpty else {
                if merge ? installedRoutes.contains(index) : compiled.ruleRoutes.contains(index) {
                    outcome.failures.append("route \(index) \(route): rules installed, nothing read back")
                }
                continue
            }
            outcome.compared += 1
            if back.contains(where: { $0.position.element != nil }) { outcome.fromElements += 1 }
            for k in 0..<packetsPerRoute {
                var p = TestPacket.random(&r, like: route)
                if aim && k % 2 == 1 { p = p.aimed(at: route) }
                let want = p.matches(route), got = back.contains { p.matches($0.route) }
                outcome.packets += 1
                // Merged, a route's element leaves out what an earlier element of its set (a
                // route of the same action before it) already takes: such packets never reach it.
                let shadowed = merge && want && !got && originalPath(p, routes, live).last.map { $0.index < index && $0.terminal } == true
                if want != got && !shadowed {
                    outcome.mismatches.append("route \(index) \(route) read back as \(back.map(\.route.description)): packet \(p) \(want ? "matches" : "does not match") the route, \(got ? "matches" : "does not match") what was read")
                    break
                }
                // The chain read back treats the packet as the route list does.
                if k % pathEvery == 0, let reason = pathMismatch(p, routes, live, chainRoutes) {
                    outcome.mismatches.append("route \(index) \(route): packet \(p): \(reason)")
                    break
                }
            }
            // `port` is read back as source/destination port; compared on packets only. Merged,
            // only routes no earlier route of the same action overlaps (which the merge pass
            // could have cut from the route's elements).
            if back.count == 1 && route.component(.port) == nil
                && !(merge && live.contains { $0 < index && mayCut(routes[$0], meanings[$0], route, meanings[index]) }) {
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
        outcome.merged = compiled.merged.count
        return outcome
    }

    struct Summary: Equatable {
        var rate: Double?
        var dscp: UInt8?
        var redirect = false
        var sample = false
        /// The T bit is clear (or the route discards): evaluation stops here.
        var terminal = true
    }

    static func summary(_ actions: [FlowAction]) -> Summary {
        var s = Summary()
        var continues = false
        for a in actions {
            switch a {
            case .trafficRateBytes(_, let v): s.rate = min(s.rate ?? .infinity, Double(v))
            case .trafficRatePackets(_, let v): s.rate = min(s.rate ?? .infinity, Double(v))
            case .trafficMarking(let d, _): s.dscp = d
            case .redirect: s.redirect = true
            case .trafficAction(let sample, let t): s.sample = s.sample || sample; continues = continues || t
            default: break
            }
        }
        s.terminal = !continues || s.rate == 0
        return s
    }

    /// Nil when `got` is what the compiler makes of `want`, else what differs.
    static func difference(_ want: Summary, _ got: Summary) -> String? {
        let rateOK: Bool = switch (want.rate, got.rate) {
        case (nil, nil): true
        case (let w?, let g?): w == g || (w > 0 && g > 0 && abs(w - g) <= max(1, w * 0.01))
            || (w < 1 && g <= 1) // sub-unit rates are rounded by the compiler
        default: false
        }
        // A rate rounded to nothing-to-police by the compiler may come back as no rate.
        if !rateOK && !(want.rate.map { $0 > 0 } == true && got.rate == nil) {
            return "rate \(want.rate.map { "\($0)" } ?? "none") read back as \(got.rate.map { "\($0)" } ?? "none")"
        }
        // A discarding route is compiled without its marking (nothing is forwarded to mark).
        if want.dscp != got.dscp && want.rate != 0 { return "DSCP marking \(want.dscp.map { "\($0)" } ?? "none") read back as \(got.dscp.map { "\($0)" } ?? "none")" }
        // So is its redirect.
        if want.redirect != got.redirect && want.rate != 0 { return "redirect \(want.redirect) read back as \(got.redirect)" }
        if want.sample != got.sample { return "sample \(want.sample) read back as \(got.sample)" }
        return nil
    }

    /// The actions the compiler installs, compared as the reader can express them: discard,
    /// a rate (within the compiler's rounding), DSCP marking, redirect, sample.
    static func actionMismatch(_ route: FlowRoute, _ back: [FlowRoute]) -> String? {
        let want = summary(route.actions)
        for b in back {
            if let reason = difference(want, summary(b.actions)) { return "\(reason) in \(b)" }
        }
        return nil
    }

    struct Step { var index: Int; var summary: Summary; var terminal: Bool }

    /// The routes (of `live`, in order) a packet meets until one ends its evaluation (RFC 8955
    /// §5.1 order as given; the T bit continues).
    static func originalPath(_ p: TestPacket, _ routes: [FlowRoute], _ live: [Int]) -> [Step] {
        var out: [Step] = []
        for i in live where p.matches(routes[i]) {
            let s = summary(routes[i].actions)
            out.append(Step(index: i, summary: s, terminal: s.terminal))
            if s.terminal { break }
        }
        return out
    }

    /// Nil when the routes read back (in chain order) treat `p` as the route list does: the same
    /// routes (by identity), the same actions, until the same one ends evaluation. A limit and its
    /// conforming half read back as two routes (rate with the T bit, then the rest) count as one.
    static func pathMismatch(_ p: TestPacket, _ routes: [FlowRoute], _ live: [Int], _ chain: [FetchedRoute]) -> String? {
        let want = originalPath(p, routes, live)
        var got: [(identity: String?, summary: Summary)] = []
        for f in chain where p.matches(f.route) {
            var s = summary(f.route.actions)
            // The compiler's IPv6 fragment alternatives (`exthdr frag missing`, then the header
            // cells) read back as routes that share state 0 (docs/fetcher.md: atomic fragments
            // differ): a packet of that state meets the same route twice in a row.
            if let last = got.last, last.identity == f.position.identity, last.summary == s { continue }
            if let last = got.last, last.identity == f.position.identity, let rate = last.summary.rate, rate > 0,
               !last.summary.terminal, s.rate == nil {
                s.rate = rate
                s.sample = s.sample || last.summary.sample
                got[got.count - 1].summary = s
            } else {
                got.append((f.position.identity, s))
            }
            if s.terminal { break }
        }
        func text(_ identity: String?, _ s: Summary) -> String {
            "\(identity ?? "?") rate \(s.rate.map { "\($0)" } ?? "-") dscp \(s.dscp.map { "\($0)" } ?? "-") redirect \(s.redirect) sample \(s.sample) terminal \(s.terminal)"
        }
        let describe = "route list: [\(want.map { text(routes[$0.index].identity, $0.summary) }.joined(separator: "; "))], read back: [\(got.map { text($0.identity, $0.summary) }.joined(separator: "; "))]"
        guard want.count == got.count else { return "the packet meets other routes: \(describe)" }
        for (w, g) in zip(want, got) {
            if routes[w.index].identity != g.identity { return "the packet meets other routes: \(describe)" }
            if let reason = difference(w.summary, g.summary) { return "\(reason): \(describe)" }
            if w.terminal != g.summary.terminal { return "the T bit differs: \(describe)" }
        }
        return nil
    }

    /// Whether the merge pass could have cut part of `later` away because `earlier` (before it,
    /// same action, ending evaluation) covers it: the two may overlap (a coarse test).
    static func mayCut(_ earlier: FlowRoute, _ x: ExactMatch.Meaning, _ later: FlowRoute, _ y: ExactMatch.Meaning) -> Bool {
        guard earlier.family == later.family else { return false }
        let a = summary(earlier.actions), b = summary(later.actions)
        guard a.terminal, b.terminal, a.rate == b.rate, a.sample == b.sample,
              a.rate == 0 || (a.dscp == b.dscp && a.redirect == b.redirect) else { return false }
        func overlap(_ p: FlowPrefix?, _ q: FlowPrefix?) -> Bool {
            guard let p, let q else { return true }
            return p.overlaps(q)
        }
        guard overlap(earlier.destination, later.destination), overlap(earlier.source, later.source) else { return false }
        if x.protocols.intersection(y.protocols).isEmpty { return false }
        for (t, v) in x.numeric { if let w = y.numeric[t], v.intersection(w).isEmpty { return false } }
        if let f = x.tcpFlags, let g = y.tcpFlags, f.isDisjoint(with: g) { return false }
        if let f = x.fragment, let g = y.fragment, f.isDisjoint(with: g) { return false }
        return true
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

    // Merged (the default CompileOptions): merged rules are read element by element.

    @Test func theFixtureRoutesComeBackMerged() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../FlowSpecFormatsTests/Fixtures/json/default-routes.json").standardized
        let read = try CanonicalJSON.read([UInt8](try Data(contentsOf: url)))
        let routes = read.routes.map(\.route)
        let outcome = try Self.roundTrip(routes, seed: 2, merge: true, aim: true)
        #expect(outcome.merged >= 1, "the fixture routes made no merged rule")
        #expect(outcome.fromElements >= 6, "only \(outcome.fromElements) routes read from set elements")
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) failures:\n\(outcome.failures.prefix(15).joined(separator: "\n"))")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) routes:\n\(outcome.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(outcome.compared >= 40, "only \(outcome.compared) routes compared")
        #expect(outcome.exact >= 25, "only \(outcome.exact) routes compared exactly")
    }

    /// Random routes, each followed by up to two siblings that differ only in the destination
    /// address (same prefix length and offset): the same shape, so that they merge.
    static func randomRoutesWithSiblings(_ r: inout SplitMix, count: Int) -> [FlowRoute] {
        var out: [FlowRoute] = []
        var identities = Set<String>()
        for _ in 0..<count {
            let route = RandomRoutes.route(&r)
            out.append(route)
            identities.insert(route.identity)
            guard let d = route.destination, d.patternLength > 0 else { continue }
            for _ in 0..<Int.random(in: 0...2, using: &r) {
                let bases: [UInt32] = [0xc000_0200, 0xc633_6400, 0xcb00_7100]   // the three documentation /24s
                let a = route.family == .ipv4 ? IPAddress(ipv4: bases.randomElement(using: &r)! | UInt32.random(in: 0...255, using: &r))
                    : IPAddress(family: .ipv6, high: 0x2001_0db8_0000_0000 | UInt64.random(in: 0...0xffff_ffff, using: &r),
                                low: UInt64.random(in: 0...UInt64.max, using: &r))
                var sibling = route
                sibling.components = route.components.map { c in
                    guard case .destinationPrefix = c else { return c }
                    return .destinationPrefix(FlowPrefix(address: a, length: Int(d.length), offset: Int(d.offset))!)
                }
                // Only a different route (a short prefix of another address can be the same).
                if identities.insert(sibling.identity).inserted { out.append(sibling) }
            }
        }
        return out
    }

    @Test(arguments: [21, 22, 23, 24, 25, 26] as [UInt64])
    func randomRoutesComeBackMerged(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        let routes = Self.randomRoutesWithSiblings(&r, count: 80)
        let outcome = try Self.roundTrip(routes, seed: 100 + seed, packetsPerRoute: 300, merge: true, aim: true)
        #expect(outcome.merged >= 3, "only \(outcome.merged) merged rules")
        #expect(outcome.fromElements >= 15, "only \(outcome.fromElements) routes read from set elements")
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) failures:\n\(outcome.failures.prefix(15).joined(separator: "\n"))")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) routes:\n\(outcome.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(outcome.compared >= 50, "only \(outcome.compared) routes compared")
        #expect(outcome.exact >= 20, "only \(outcome.exact) routes compared exactly")
    }

    /// `RouteGenerator` routes, both families: masked hash sets (the /24 and /64 sources), object
    /// maps of limits (the rate-limited routes, counted: `KEY @m limit name KEY map @m drop`),
    /// two-port elements of one route, ICMP type and code keys.
    @Test func generatedRoutesComeBackMerged() throws {
        let routes = RouteGenerator(family: .ipv4).routes(count: 600) + RouteGenerator(family: .ipv6).routes(count: 600)
        let compiled = compile(routes)
        #expect(compiled.table.sets.contains { $0.flags.contains(.object) && $0.objectType == .limit && $0.keyFields.count > 1 })
        #expect(compiled.table.chains[0].rules.contains { rule in
            rule.expressions.contains { if case .bitwise = $0 { true } else { false } }
                && rule.expressions.contains { if case .lookup = $0 { true } else { false } }
        }, "no masked lookup")
        let outcome = try Self.roundTrip(routes, seed: 7, packetsPerRoute: 24, merge: true, aim: true, pathEvery: 4)
        #expect(outcome.merged >= 8, "only \(outcome.merged) merged rules")
        #expect(outcome.fromElements >= routes.count - 20, "only \(outcome.fromElements) routes read from set elements")
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) failures:\n\(outcome.failures.prefix(15).joined(separator: "\n"))")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) routes:\n\(outcome.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(outcome.compared == routes.count, "only \(outcome.compared) of \(routes.count) routes compared")
        #expect(outcome.exact == routes.count, "only \(outcome.exact) routes compared exactly")
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
