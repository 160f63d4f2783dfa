import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// The host's own BGP sessions accepted before any route (`CompileOptions.protectedSessions`):
/// in every table form, whatever the routes say, and kept first by incremental changes.
@Suite struct OwnSessionTests {
    static let peer = IPAddress("192.0.2.1")!, me = IPAddress("192.0.2.2")!
    static let session = ProtectedSession(peer: peer, local: me, localPort: 179, peerPort: 179)

    /// 0/0 → 0/0 drop for both families (the chain policy becomes drop), a drop of TCP to the
    /// host, and generated routes.
    static var hostileRoutes: [FlowRoute] {
        let dropAll = [FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0)]
        return [FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("0.0.0.0/0")!)], actions: dropAll),
                FlowRoute(family: .ipv6, components: [.destinationPrefix(FlowPrefix("::/0")!)], actions: dropAll),
                FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("192.0.2.2/32")!), .numeric(.ipProtocol, [.equal(6)])],
                          actions: dropAll)]
            + RouteGenerator().routes(count: 300)
    }

    static func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> TestPacket {
        var p = TestPacket(family: .ipv4, src: IPAddress(src)!, dst: IPAddress(dst)!, proto: 6)
        p.sport = sport; p.dport = dport
        return p
    }

    func options(hook: NftHook, merge: Bool = true, dispatch: DispatchMode = .auto) -> CompileOptions {
        CompileOptions(hook: hook, merge: merge, dispatch: dispatch, protectedSessions: [Self.session])
    }

    /// The session's packets are accepted (and counted by its rules); the host's other traffic,
    /// and the same ports from another address, meet the routes (dropped here).
    func expectProtected(_ table: NftTable, inbound: Bool, _ form: String) {
        let own = table.chains[0].rules.prefix { OwnSessions.isComment($0.comment) }
        #expect(own.count == 2 && own.allSatisfy { $0.comment == "own-session 192.0.2.1" }, "\(form): \(own.map(\.comment))")
        let session = inbound
            ? [Self.tcp("192.0.2.1", 40000, "192.0.2.2", 179), Self.tcp("192.0.2.1", 179, "192.0.2.2", 40000)]
            : [Self.tcp("192.0.2.2", 179, "192.0.2.1", 40000), Self.tcp("192.0.2.2", 40000, "192.0.2.1", 179)]
        for p in session {
            let o = evaluate(table, p, over: { _ in true })
            #expect(o.verdict == .accept && o.counted == ["own-session 192.0.2.1"], "\(form): \(p)")
        }
        let others = inbound
            ? [Self.tcp("192.0.2.1", 40000, "192.0.2.2", 22), Self.tcp("192.0.2.9", 40000, "192.0.2.2", 179),
               Self.tcp("192.0.2.1", 40000, "192.0.2.3", 179)]
            : [Self.tcp("192.0.2.2", 40000, "192.0.2.1", 22), Self.tcp("192.0.2.2", 40000, "192.0.2.9", 179)]
        for p in others {
            let o = evaluate(table, p, over: { _ in true })
            #expect(o.verdict != .accept && !o.counted.contains("own-session 192.0.2.1"), "\(form): \(p)")
        }
    }

    @Test func everyFormAcceptsTheSessionFirst() {
        let routes = Self.hostileRoutes.ordered(.rfc)
        for (merge, dispatch, form) in [(true, DispatchMode.never, "merged"), (false, .never, "linear"),
                                        (false, .always, "dispatch"), (true, .always, "dispatch (merge on)")] {
            let input = compile(routes, options: options(hook: .input, merge: merge, dispatch: dispatch))
            #expect(input.table.chains[0].base?.policy == .drop, "\(form)")
            expectProtected(input.table, inbound: true, "input, \(form)")
            expectProtected(compile(routes, options: options(hook: .output, merge: merge, dispatch: dispatch)).table,
                            inbound: false, "output, \(form)")
        }
        // The dispatch form did dispatch (the own-session rules are not in a destination chain).
        let dispatched = compile(routes, options: options(hook: .input, merge: false, dispatch: .always)).table
        #expect(dispatched.chains.count > 1)
        // Without protected sessions nothing is added, and the session is dropped.
        let bare = compile(routes, options: CompileOptions(hook: .input)).table
        #expect(!bare.chains[0].rules.contains { OwnSessions.isComment($0.comment) })
        #expect(evaluate(bare, Self.tcp("192.0.2.1", 40000, "192.0.2.2", 179), over: { _ in true }).verdict != .accept)
    }

    @Test func wildcardLocalAddressMatchesThePeerAlone() {
        var o = options(hook: .input)
        o.protectedSessions = [ProtectedSession(peer: Self.peer, localPort: 1179, peerPort: 179)]
        let table = compile(Self.hostileRoutes.ordered(.rfc), options: o).table
        for p in [Self.tcp("192.0.2.1", 40000, "198.51.100.7", 1179), Self.tcp("192.0.2.1", 179, "192.0.2.2", 40000)] {
            #expect(evaluate(table, p, over: { _ in true }).verdict == .accept, "\(p)")
        }
        #expect(evaluate(table, Self.tcp("192.0.2.1", 40000, "192.0.2.2", 179), over: { _ in true }).verdict != .accept)
    }

    @Test func incrementalChangesKeepTheSessionRulesFirst() throws {
        let routes = Self.hostileRoutes
        let (result, built) = IncrementalTable.build(routes, order: .rfc, options: options(hook: .input))
        let table = try #require(built)
        var state = try #require(TableShape(result.table).map { TableState(shape: $0, handles: { UInt64($0 + 1) }, generation: 1) })
        #expect(state.routes.first?.identity == "own-session 192.0.2.1")
        // A route that sorts before every other (a /32 destination with more components).
        let first = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("192.0.2.2/32")!), .sourcePrefix(FlowPrefix("192.0.2.1/32")!),
                                                          .numeric(.ipProtocol, [.equal(6)]), .numeric(.destinationPort, [.equal(179)])],
                              actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let update = try #require(table.update(removing: [], adding: [(first, routes.count)]))
        #expect(!update.change.insertedRules.contains { OwnSessions.isComment($0.rule.comment) })
        #expect(update.change.insertedRules.allSatisfy { $0.before == nil || !OwnSessions.isComment($0.before) })
        state.update(by: update.change, handles: update.change.insertedRules.indices.map { UInt64(10_000 + $0) })
        #expect(state.routes.first?.identity == "own-session 192.0.2.1")
        expectProtected(table.table, inbound: true, "after an incremental change")
        // Planned against the installed state: the session's rules are a kept "route".
        let plan = TableChange.plan(from: state, to: compile(routes.ordered(.rfc), options: options(hook: .input)).table)
        if case .inPlace(let change) = plan { #expect(!change.deletedRules.contains { OwnSessions.isComment($0) }) }
    }
}

extension OwnSessionTests {
    /// The rules as docs/lowering.md shows them.
    @Test func ownSessionRulesPrintAsDocumented() {
        let input = NftPrinter.render(compile([], options: options(hook: .input)).table)
        let output = NftPrinter.render(compile([], options: options(hook: .output)).table)
        // As docs/lowering.md shows them (the verbose form `NftPrinter` writes).
        for (text, lines) in [(input, ["ip daddr == 192.0.2.2 ip saddr == 192.0.2.1 meta l4proto == 6 th dport == 179",
                                       "ip daddr == 192.0.2.2 ip saddr == 192.0.2.1 meta l4proto == 6 th sport == 179"]),
                              (output, ["ip daddr == 192.0.2.1 ip saddr == 192.0.2.2 meta l4proto == 6 th sport == 179",
                                        "ip daddr == 192.0.2.1 ip saddr == 192.0.2.2 meta l4proto == 6 th dport == 179"])] {
            for l in lines {
                #expect(text.contains("meta nfproto == ipv4 " + l + #" counter accept comment "own-session 192.0.2.1""#), "\(text)")
            }
        }
    }
}

extension OwnSessionTests {
    /// With --accept-established too: its rule first (where `show` and the advice look for it),
    /// the own-session rules after it, in every form; the table is one the state can follow.
    @Test func acceptEstablishedComesFirstThenTheSessions() throws {
        let routes = Self.hostileRoutes.ordered(.rfc)
        for (merge, dispatch) in [(true, DispatchMode.never), (false, .never), (false, .always)] {
            var o = options(hook: .input, merge: merge, dispatch: dispatch)
            o.acceptEstablished = true
            let table = compile(routes, options: o).table
            let comments = table.chains[0].rules.prefix(3).map(\.comment)
            #expect(comments == [AcceptEstablished.comment, "own-session 192.0.2.1", "own-session 192.0.2.1"], "\(merge) \(dispatch)")
            #expect(TablePrologue.split(table.chains[0].rules).prologue.count == 3)
            if dispatch == .never { #expect(TableShape(table) != nil) }
        }
    }
}
