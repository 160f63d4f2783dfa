import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// Interface scoping (`CompileOptions.interfaceGroups`, `--interface-group`): a route carrying a
/// group's route target matches only packets that arrived on the group's interfaces, in every
/// form of the table, and the merge pass keeps the name as a key part where it can.
@Suite("interface scoping") struct InterfaceScopeTests {
    static let edge = RouteTarget("65309:20")!, core = RouteTarget("65309:21")!, other = RouteTarget("65309:99")!
    static let groups = try! InterfaceGroups([edge: ["eth1"], core: ["eth1", "eth2", "uplink.10"]])
    /// Interfaces packets arrive on: in one group, in both, in none, a name that shares a
    /// prefix with a group's (`eth10`), and none at all (a local packet).
    static let arrivals = ["eth1", "eth2", "uplink.10", "eth0", "eth10", ""]

    /// Scopes a route at random: a group's target, both, an unmapped target, or none.
    static func scoped(_ route: FlowRoute, _ r: inout SplitMix) -> FlowRoute {
        var route = route
        let targets: [[RouteTarget]] = [[], [edge], [core], [edge, core], [other], [other, edge]]
        for t in targets.randomElement(using: &r)! { route.extendedCommunities.append(FlowAction.routeTarget(t).community) }
        return route
    }

    static func options(merge: Bool, counters: Bool = true) -> CompileOptions {
        var o = CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64], counters: counters, merge: merge)
        o.interfaceGroups = groups
        return o
    }

    @Test("a scoped route's rules match exactly the packets the route matches on its interfaces", arguments: [UInt64(21), 22])
    func linearRulesFollowTheModel(seed: UInt64) {
        var r = SplitMix(state: seed)
        var scopedRoutes = 0
        for _ in 0..<300 {
            var route = RandomRoutes.route(&r)
            route.extendedCommunities = []
            route = Self.scoped(route, &r)
            if Self.groups.interfaces(of: route) != nil { scopedRoutes += 1 }
            let result = compile([route], options: Self.options(merge: false, counters: false))
            let sets = Dictionary(uniqueKeysWithValues: result.table.sets.map { ($0.name, $0) })
            let rules = result.table.chains[0].rules
            for k in 0..<40 {
                var p = TestPacket.random(&r, like: route)
                p.inputInterface = Self.arrivals[k % Self.arrivals.count]
                let expected = p.matches(route, groups: Self.groups)
                let hits = rules.filter { ruleMatches($0, p, sets: sets) }.count
                #expect(hits == (expected ? 1 : 0), "route \(route.components) \(route.routeTargets) packet \(p): \(hits) rules, model \(expected)")
                if hits != (expected ? 1 : 0) { return }
            }
        }
        #expect(scopedRoutes > 100)
    }

    @Test("merged and unmerged tables of scoped, overlapping routes treat every packet alike", arguments: [UInt64(31), 32, 33])
    func mergedEqualsUnmerged(seed: UInt64) {
        var r = SplitMix(state: seed)
        let routes = overlappingRoutes(&r, count: 1200).map { Self.scoped($0, &r) }
        let merged = compile(routes, options: Self.options(merge: true))
        let unmerged = compile(routes, options: Self.options(merge: false))
        #expect(merged.rejected.isEmpty && unmerged.rejected.isEmpty)
        // Scoping costs the merge little: about as many rules as the same routes unscoped.
        var unscopedOptions = Self.options(merge: true)
        unscopedOptions.interfaceGroups = InterfaceGroups()
        let unscoped = compile(routes, options: unscopedOptions)
        #expect(merged.table.ruleCount < unmerged.table.ruleCount && merged.table.ruleCount <= unscoped.table.ruleCount * 3 / 2,
                "merging \(unmerged.table.ruleCount) rules left \(merged.table.ruleCount), \(unscoped.table.ruleCount) unscoped")
        // The name is a key part: scoped routes of different groups share sets.
        #expect(merged.table.sets.contains { $0.keyFields.count > 1 && $0.keyFields.contains(.ifname) })
        var extra: [TestPacket] = []
        for route in routes.prefix(400) {
            for name in Self.arrivals {
                var p = TestPacket.random(&r, like: route).aimed(at: route)
                p.inputInterface = name
                extra.append(p)
            }
        }
        MergeTests.expectSameOutcomes(("merged", merged.table), ("unmerged", unmerged.table), routes: routes, &r,
                                      packets: 0, boundaryEvery: 1_000_000, extra: extra)
    }

    @Test("the merged table gives each packet the first route in RFC order that matches it on its interface")
    func mergedFollowsTheModel() {
        var r = SplitMix(state: 41)
        // Accept or drop only, and no counters: the outcome is the first matching route's verdict.
        let routes = overlappingRoutes(&r, count: 600).map { route -> FlowRoute in
            var route = route
            route.extendedCommunities = Bool.random(using: &r) ? [FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0).community] : []
            return Self.scoped(route, &r)
        }.ordered(.rfc)
        let compiled = compile(routes, options: Self.options(merge: true, counters: false))
        let table = compiled.table
        // A route the compiler refused is no route of the table.
        let refused = Set(compiled.rejected.map(\.index))
        let installed = routes.indices.filter { !refused.contains($0) }.map { routes[$0] }
        let policy: NftVerdict = table.chains.first { $0.base != nil }?.base?.policy == .drop ? .drop : .accept
        var checked = 0
        for route in routes {
            for name in Self.arrivals {
                var p = TestPacket.random(&r, like: route).aimed(at: route)
                p.inputInterface = name
                let first = installed.first { p.matches($0, groups: Self.groups) }
                let drops = first?.actions.contains { if case .trafficRateBytes = $0 { true } else { false } } ?? false
                let expected: NftVerdict = drops ? .drop : .accept
                let got = evaluate(table, p, over: { _ in false }).verdict ?? policy
                #expect(got == expected, "packet \(p): table \(got), model \(expected) from \(String(describing: first))")
                if got != expected { return }
                checked += 1
            }
        }
        #expect(checked == routes.count * Self.arrivals.count)
    }

    @Test("a scoped default-policy route is a rule for its interfaces, not the chain policy")
    func scopedDefaultIsARule() throws {
        let any4 = FlowPrefix(address: IPAddress("0.0.0.0")!, length: 0)!
        let any6 = FlowPrefix(address: IPAddress("::")!, length: 0)!
        let drop = FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0)
        let routes = [
            FlowRoute(family: .ipv4, components: [.destinationPrefix(any4), .sourcePrefix(any4)], actions: [drop, .routeTarget(Self.edge)]),
            FlowRoute(family: .ipv6, components: [.destinationPrefix(any6), .sourcePrefix(any6)], actions: [drop, .routeTarget(Self.edge)]),
        ]
        let result = compile(routes, options: Self.options(merge: true))
        let base = try #require(result.table.chains.first { $0.base != nil })
        #expect(base.base?.policy == .accept)
        #expect(base.rules.count >= 1)
        var p = TestPacket(family: .ipv4, src: IPAddress("198.51.100.7")!, dst: IPAddress("203.0.113.9")!, proto: 17)
        p.inputInterface = "eth1"
        #expect(evaluate(result.table, p, over: { _ in false }).verdict == .drop)
        p.inputInterface = "eth2"
        #expect(evaluate(result.table, p, over: { _ in false }).verdict == nil)
    }

    @Test("nft text: iifname \"x\", a set of names, and the name as the last part of a concatenation")
    func printedForms() {
        let dst = FlowPrefix(address: IPAddress("203.0.113.0")!, length: 24)!
        let one = FlowRoute(family: .ipv4, components: [.destinationPrefix(dst), .numeric(.ipProtocol, [.equal(17)])],
                            actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0), .routeTarget(Self.edge)])
        let two = FlowRoute(family: .ipv4, components: [.destinationPrefix(dst), .numeric(.ipProtocol, [.equal(6)])],
                            actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0), .routeTarget(Self.core)])
        let linear = NftPrinter.render(compile([one, two], options: Self.options(merge: false)).table)
        #expect(linear.contains("iifname == \"eth1\""), "\(linear)")
        #expect(linear.contains("type ifname"), "\(linear)")
        #expect(linear.contains("elements = { \"eth1\", \"eth2\", \"uplink.10\" }"), "\(linear)")
        var routes: [FlowRoute] = []
        for k in 0..<4 {
            let d = FlowPrefix(address: IPAddress("203.0.113.\(k)")!, length: 32)!
            routes.append(FlowRoute(family: .ipv4, components: [.destinationPrefix(d), .numeric(.ipProtocol, [.equal(17)])],
                                    actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0), .routeTarget(k % 2 == 0 ? Self.edge : Self.core)]))
        }
        let merged = NftPrinter.render(compile(routes, options: Self.options(merge: true)).table)
        #expect(merged.contains("ip daddr . iifname @m"), "\(merged)")
        #expect(merged.contains("type ipv4_addr . ifname"), "\(merged)")
        #expect(merged.contains("203.0.113.1 . \"uplink.10\""), "\(merged)")
    }

    @Test("a key declared by typeof keeps the name in the rule, and the table stays exact")
    func typeofKeysKeepTheNameInTheRule() {
        var r = SplitMix(state: 51)
        var routes: [FlowRoute] = []
        for k in 0..<40 {
            let d = FlowPrefix(address: IPAddress("203.0.113.\(k % 8)")!, length: 32)!
            var route = FlowRoute(family: .ipv4, components: [.destinationPrefix(d), .numeric(.ipProtocol, [.equal(17)]),
                                                              .numeric(.packetLength, [.equal(UInt64(100 + k))])],
                                  actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
            route = Self.scoped(route, &r)
            routes.append(route)
        }
        let merged = compile(routes, options: Self.options(merge: true))
        #expect(!merged.table.sets.contains { $0.keyFields.count > 1 && $0.keyFields.contains(.ifname) })
        #expect(merged.table.ruleCount < routes.count)
        let unmerged = compile(routes, options: Self.options(merge: false))
        var extra: [TestPacket] = []
        for route in routes {
            for name in Self.arrivals {
                var p = TestPacket.random(&r, like: route).aimed(at: route)
                p.inputInterface = name
                p.totalLength = 100 + UInt32.random(in: 0..<40, using: &r)
                extra.append(p)
            }
        }
        MergeTests.expectSameOutcomes(("merged", merged.table), ("unmerged", unmerged.table), routes: routes, &r,
                                      packets: 0, boundaryEvery: 1_000_000, extra: extra)
    }

    @Test("interface groups: names checked, union of a route's groups, targets found back from names")
    func groupsModel() throws {
        #expect(throws: InvalidInterfaceName.self) { try InterfaceGroups([Self.edge: ["eth*"]]) }
        #expect(throws: InvalidInterfaceName.self) { try InterfaceGroups([Self.edge: ["a-name-of-16-chr"]]) }
        #expect(throws: InvalidInterfaceName.self) { try InterfaceGroups([Self.edge: ["eth 1"]]) }
        let route = FlowRoute(family: .ipv4, components: [], actions: [.routeTarget(Self.edge), .routeTarget(Self.core), .routeTarget(Self.other)])
        #expect(Self.groups.interfaces(of: route) == ["eth1", "eth2", "uplink.10"])
        #expect(Self.groups.interfaces(of: FlowRoute(family: .ipv4, components: [], actions: [.routeTarget(Self.other)])) == nil)
        #expect(Self.groups.targets(for: ["eth1"]) == [Self.edge])
        #expect(Self.groups.targets(for: ["eth1", "eth2", "uplink.10"]) == [Self.edge, Self.core])
        #expect(Self.groups.targets(for: ["eth2"]) == nil)
        #expect(InterfaceGroups.bytes("eth1") == Array("eth1".utf8) + [UInt8](repeating: 0, count: 12))
    }

    @Test("route-target scoping with groups: scoped routes are admitted, the rest follow --untargeted")
    func scopeAdmits() {
        func route(_ targets: [RouteTarget]) -> FlowRoute {
            FlowRoute(family: .ipv4, components: [], actions: targets.map(FlowAction.routeTarget))
        }
        let only = RouteScope(untargeted: .ignore, interfaceGroups: Self.groups)
        #expect(only.admits(route([Self.edge])))
        #expect(!only.admits(route([])))
        #expect(!only.admits(route([Self.other])))
        let everywhere = RouteScope(untargeted: .apply, interfaceGroups: Self.groups)
        #expect(everywhere.admits(route([])) && everywhere.admits(route([Self.other])))
        let own = RouteScope(targets: [Self.other], untargeted: .ignore, interfaceGroups: Self.groups)
        #expect(own.admits(route([Self.other])) && own.admits(route([Self.core])))
        #expect(!own.admits(route([])) && !own.admits(route([RouteTarget("65309:5")!])))
    }
}
