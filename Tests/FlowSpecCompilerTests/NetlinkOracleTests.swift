import Foundation
import Testing
import FlowSpec
import FlowSpecTestSupport
import FlowSpecCompiler
import FlowSpecNetlink
import FlowSpecFormats

/// The end-to-end oracle of the design card: the same IR, printed as nft text and loaded with
/// `nft -f` into one private namespace, must list (`nft -j list ruleset`) exactly like the IR
/// applied through our netlink backend in another. Handles are left out of the comparison: they
/// count objects in creation order, which differs between the two paths by design.
@Suite("nft -f vs netlink oracle", .enabled(if: NFT.available, "needs root, /usr/sbin/nft and unshare (private network namespaces)"))
struct NetlinkOracleTests {
    static let options = CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64])

    /// `nft -j list ruleset` inside a namespace, as a JSON value with every "handle" removed.
    static func listing(in ns: NetworkNamespace) throws -> Any {
        let r = try runProcess("/usr/bin/nsenter", ["--net=\(ns.path)", "/usr/sbin/nft", "-j", "list", "ruleset"])
        #expect(r.status == 0, "\(r.err)")
        return stripHandles(try JSONSerialization.jsonObject(with: Data(r.out.utf8)))
    }

    static func stripHandles(_ v: Any) -> Any {
        if let d = v as? [String: Any] {
            return d.filter { $0.key != "handle" }.mapValues(stripHandles)
        }
        if let a = v as? [Any] { return a.map(stripHandles) }
        return v
    }

    static func loadText(_ text: String, into ns: NetworkNamespace) throws -> (Int32, String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-oracle-\(UUID().uuidString).nft")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try runProcess("/usr/bin/nsenter", ["--net=\(ns.path)", "/usr/sbin/nft", "-f", file.path])
        return (r.status, r.err)
    }

    @discardableResult
    func check(_ routes: [FlowRoute], label: String, merge: Bool = true, dispatch: DispatchMode = .auto,
               configure: (inout CompileOptions) -> Void = { _ in }) throws -> (NftTable, NftConnection) {
        var options = Self.options
        options.merge = merge
        options.dispatch = dispatch
        configure(&options)
        let table = compile(routes, options: options).table
        let viaNft = try NetworkNamespace.create()
        let (status, message) = try Self.loadText(NftPrinter.render(table, replace: true), into: viaNft)
        if ProcessInfo.processInfo.environment["ORACLE_DUMP"] != nil { try NftPrinter.render(table, replace: true).write(toFile: "/tmp/oracle-\(label).nft", atomically: true, encoding: .utf8) }
        #expect(status == 0, "nft -f refused the printed text (\(label)): \(message.prefix(2000))")
        let connection = try NftConnection.inNewNamespace()
        try connection.apply(table)
        let a = try Self.listing(in: viaNft)
        let b = try Self.listing(in: connection.namespace!)
        let ja = String(decoding: try JSONSerialization.data(withJSONObject: a, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
        let jb = String(decoding: try JSONSerialization.data(withJSONObject: b, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
        if ja != jb {
            let la = ja.split(separator: "\n"), lb = jb.split(separator: "\n")
            let first = zip(la, lb).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(la.count, lb.count)
            let context = { (l: [Substring]) in l[max(0, first - 8)..<min(l.count, first + 8)].joined(separator: "\n") }
            Issue.record("\(label): listings differ at line \(first)\n--- nft -f ---\n\(context(la))\n--- netlink ---\n\(context(lb))")
        }
        #expect(table.ruleCount > 0)
        return (table, connection)
    }

    /// The edge forms (issue #17): an ingress chain on one device or several (one of them not
    /// there yet: the kernel keeps the name), and the accept-established rule first, merged,
    /// unmerged and dispatched; read back through netlink as compiled.
    @Test("ingress chains and the accept-established rule list the same through nft -f and through netlink",
          arguments: [(["fsn-up0"], false), (["fsn-up0", "fsn-up1"], true)])
    func edgeForms(devices: [String], established: Bool) throws {
        let routes = try FixtureRoutes.load().ordered(.rfc)
        for merge in [true, false] {
            let (table, connection) = try check(routes, label: "devices \(devices), merge \(merge)", merge: merge) {
                $0.hook = .ingress; $0.priority = -500; $0.devices = devices
            }
            let read = try #require(try connection.listTable(name: table.name, family: .inet)).table
            #expect(read.chains[0].base == table.chains[0].base)
        }
        for dispatch in [DispatchMode.never, .always] {
            let (table, connection) = try check(routes, label: "accept established, dispatch \(dispatch)", dispatch: dispatch) {
                $0.acceptEstablished = true; $0.defaultPolicy = .drop
            }
            #expect(table.chains[0].rules.first.map(AcceptEstablished.isIt) == true)
            let read = try #require(try connection.listTable(name: table.name, family: .inet)).table
            #expect(read.chains[0].rules.first == table.chains[0].rules.first)
        }
    }

    /// Interface scoping (`--interface-group`): `iifname "x"`, sets of names, the name as a key
    /// part of hash and interval sets and limit maps, and left in the rule beside a `typeof` key;
    /// merged, unmerged and dispatched; read back through netlink as compiled.
    @Test("interface-scoped routes list the same through nft -f and through netlink", arguments: [UInt64(61), 62, 63])
    func interfaceScopes(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        var routes = overlappingRoutes(&r, count: 300).map { InterfaceScopeTests.scoped($0, &r) }
        routes += (0..<80).map { _ in InterfaceScopeTests.scoped(RandomRoutes.route(&r), &r) }
        routes += try FixtureRoutes.load().map { InterfaceScopeTests.scoped($0, &r) }
        let ordered = routes.ordered(.rfc)
        for (merge, dispatch) in [(true, DispatchMode.auto), (false, .never), (seed == 61, .always)] {
            let (table, connection) = try check(ordered, label: "interfaces seed \(seed), merge \(merge), dispatch \(dispatch)",
                                                merge: merge, dispatch: dispatch) { $0.interfaceGroups = InterfaceScopeTests.groups }
            if merge && dispatch == .auto {
                #expect(table.sets.contains { $0.keyFields.count > 1 && $0.keyFields.contains(.ifname) })
            }
            let read = try #require(try connection.listTable(name: table.name, family: .inet)).table
            #expect(read.sets.filter { $0.keyFields.contains(.ifname) }.map(\.keyFields)
                    == table.sets.filter { $0.keyFields.contains(.ifname) }.map(\.keyFields))
        }
    }

    /// Overlapping routes merge into hash limit maps keyed by masked prefixes, which nft's
    /// grammar takes only in parentheses in `limit name (ip saddr & 255.255.255.0) . … map @m`
    /// (printed without them, nft -f refused the text while netlink loaded the table).
    @Test("hash limit maps over masked prefixes list the same through nft -f and through netlink")
    func maskedLimitMaps() throws {
        var r = SplitMix(state: 62)
        let routes = overlappingRoutes(&r, count: 300).ordered(.rfc)
        let text = NftPrinter.render(compile(routes, options: Self.options).table)
        #expect(text.contains("limit name (ip"), "no masked limit map in the sample")
        try check(routes, label: "masked limit maps")
    }

    /// Route comments (`FlowRoute.comment`) are a userdata TLV nft does not know: it lists the
    /// table as if they were not there, and netlink reads them back on every rule and element.
    @Test("commented routes list the same through nft -f and through netlink, and read back with their comments",
          arguments: [true, false])
    func routeComments(merge: Bool) throws {
        var r = SplitMix(state: 19)
        var routes = try FixtureRoutes.load() + (0..<150).map { _ in RandomRoutes.route(&r) } + RouteGenerator().routes(count: 200)
        var seen = Set<String>()
        routes = routes.filter { seen.insert($0.identity).inserted }
        for i in routes.indices where i % 2 == 0 {
            routes[i].comment = i % 4 == 0 ? "tenant \(i) \"web\"" : String(repeating: "ü", count: 90)
        }
        let (table, connection) = try check(routes.ordered(.rfc), label: "comments, merge \(merge)", merge: merge)
        let read = try #require(try connection.listTable(name: table.name, family: .inet)).table
        func notes(_ t: NftTable) -> [String: String] {
            var out = [String: String]()
            for r in t.chains.flatMap(\.rules) { if let c = r.comment, let n = r.routeComment { out[c] = n } }
            for s in t.sets { for e in s.elements { if let c = e.comment, let n = e.routeComment { out[c] = n } } }
            return out
        }
        let compiled = notes(table)
        #expect(compiled.count > 20)
        #expect(notes(read) == compiled)
        #expect(compiled.values.allSatisfy { $0.utf8.count <= FlowRoute.maxCommentBytes })
    }

    @Test("the fixture routes list the same through nft -f and through netlink", arguments: [true, false])
    func fixtureRoutes(merge: Bool) throws {
        try check(try FixtureRoutes.load().ordered(.rfc), label: "fixtures, merge \(merge)", merge: merge)
    }

    @Test("flow label keys (hash and interval sets) list the same through nft -f and through netlink")
    func flowLabelKeys() throws {
        var routes: [FlowRoute] = []
        for i in 0..<60 {
            let d = Component.destinationPrefix(FlowPrefix(address: IPAddress("2001:db8::\(String(i + 1, radix: 16))")!, length: 128)!)
            let drop: [FlowAction] = [.trafficRateBytes(asn: 0, bytesPerSecond: 0)]
            routes.append(FlowRoute(family: .ipv6, components: [d, .numeric(.flowLabel, [.equal(UInt64(0x12345 + i))])], actions: drop))
            routes.append(FlowRoute(family: .ipv6, components: [d, .numeric(.ipProtocol, [.equal(17)]),
                                                                .numeric(.flowLabel, [NumericTerm(gt: true, eq: true, value: UInt64(0x80000 + i)),
                                                                                      NumericTerm(and: true, lt: true, eq: true, value: 0xfffff)])],
                                    actions: [.trafficMarking(dscp: 10, value: 10)]))
        }
        try check(routes.ordered(.rfc), label: "flow label keys")
    }

    @Test("IPv6 offset prefixes as set keys list the same through nft -f and through netlink")
    func offsetPrefixKeys() throws {
        try check(KeyPartTests.offsetPrefixRoutes(), label: "offset prefix keys")
    }

    @Test("random routes list the same through nft -f and through netlink", arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func randomRoutes(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        let routes = (0..<300).map { _ in RandomRoutes.route(&r) }.ordered(.rfc)
        try check(routes, label: "random seed \(seed)", merge: seed % 2 == 0)
    }

    /// Dispatch over merged rules: an interval map going to chains that share the merged sets.
    @Test("dispatch over merged rules lists the same through nft -f and through netlink")
    func mergedDispatchTable() throws {
        let routes = MixedRouteGenerator().routes(count: 3000).ordered(.rfc)
        let compiled = compile(routes, options: Self.options)
        #expect(compiled.figures.form == .dispatch && compiled.table.sets.contains { !$0.flags.contains(.map) },
                "\(compiled.figures)")
        try check(routes, label: "dispatch over merged rules")
    }

    /// The dispatch form: verdict maps over addresses (intervals, nested prefixes), protocols and
    /// ports, chains with gotos.
    @Test("dispatch tables list the same through nft -f and through netlink", arguments: [UInt64(17), 18])
    func dispatchTables(seed: UInt64) throws {
        var r = SplitMix(state: seed)
        var routes = MixedRouteGenerator().routes(count: 1500)
        routes += overlappingRoutes(&r, count: 300)
        for _ in 0..<100 { routes.append(RandomRoutes.route(&r)) }
        // One victim's UDP routes, many per amplifier port: a protocol chain dispatched on the port.
        let victim = FlowPrefix("203.0.113.77/32")!
        for k in 0..<40 {
            routes.append(FlowRoute(family: .ipv4, components: [.destinationPrefix(victim), .numeric(.ipProtocol, [.equal(17)]),
                                                                 .numeric(.sourcePort, [.equal([53, 123, 161, 389, 1900][k % 5])]),
                                                                 .numeric(.packetLength, [.equal(UInt64(100 + k))])],
                                    actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)]))
        }
        let ordered = routes.ordered(.rfc)
        let compiled = compile(ordered, options: CompileOptions(redirectMarks: Self.options.redirectMarks, dispatch: .always))
        // Every level is there: destinations, and inside, protocols and ports.
        let maps = compiled.table.sets.filter { $0.flags.contains(.map) }.map(\.name)
        #expect(maps.contains { $0.hasSuffix("_p") } && maps.contains { $0.hasSuffix("_sp") || $0.hasSuffix("_dp") }, "\(maps.prefix(20))")
        try check(ordered, label: "dispatch seed \(seed)", merge: seed % 2 == 0, dispatch: .always)
    }
}
