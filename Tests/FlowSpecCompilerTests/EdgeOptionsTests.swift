@testable import FlowSpecCompiler
import FlowSpec
import FlowSpecTestSupport
import Testing

/// The edge options of the compiler (issue #17): ingress devices and offload on the base chain,
/// the accept-established rule first in every form, and the warnings about default drops.
@Suite struct EdgeOptionsTests {
    let generator = RouteGenerator()

    func route(_ destination: String, proto: UInt64? = nil, port: UInt64? = nil, actions: [FlowAction] = []) -> FlowRoute {
        var c: [Component] = [.destinationPrefix(FlowPrefix(destination)!)]
        if let proto { c.append(.numeric(.ipProtocol, [.equal(proto)])) }
        if let port { c.append(.numeric(.destinationPort, [.equal(port)])) }
        return FlowRoute(family: .ipv4, components: c, actions: actions)
    }
    var allowSSH: FlowRoute { route("203.0.113.10/32", proto: 6, port: 22) }
    var defaultDrop: FlowRoute {
        FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("0.0.0.0/0")!), .sourcePrefix(FlowPrefix("0.0.0.0/0")!)],
                  actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
    }

    @Test(arguments: [(true, DispatchMode.auto), (false, .never), (false, .always), (true, .always)])
    func acceptEstablishedIsFirstInEveryForm(merge: Bool, dispatch: DispatchMode) {
        var options = CompileOptions(merge: merge, dispatch: dispatch)
        options.acceptEstablished = true
        let routes = generator.routes(count: 300).ordered(.rfc)
        let table = compile(routes, options: options).table
        #expect(table.chains[0].rules.first == AcceptEstablished.rule(counters: true))
        #expect(table.chains.flatMap(\.rules).count { AcceptEstablished.isIt($0) } == 1)
        #expect(NftPrinter.render(table).contains("ct state established,related counter accept comment \"accept established,related\""))
        options.acceptEstablished = false
        let plain = compile(routes, options: options).table
        #expect(plain.chains.flatMap(\.rules).count { AcceptEstablished.isIt($0) } == 0)
        #expect(table.chains.flatMap(\.rules).count == plain.chains.flatMap(\.rules).count + 1)
    }

    @Test func theRuleWithoutCounters() {
        #expect(NftPrinter.ruleText(AcceptEstablished.rule(counters: false)) == "ct state established,related accept comment \"accept established,related\"")
    }

    @Test func ingressChainHeader() {
        var options = CompileOptions(hook: .ingress, priority: -500)
        options.devices = ["up0"]
        #expect(NftPrinter.render(compile([allowSSH], options: options).table).contains("type filter hook ingress device \"up0\" priority -500; policy accept;"))
        options.devices = ["up0", "up1"]
        options.offload = true
        let text = NftPrinter.render(compile([allowSSH], options: options).table)
        #expect(text.contains("type filter hook ingress devices = { \"up0\", \"up1\" } priority -500; policy accept;\n\t\tflags offload;"))
    }

    /// A change of devices or offload is a change of the chain: never "no change", never a delta.
    @Test func devicesAndOffloadAreTheChainsDefinition() throws {
        var options = CompileOptions(hook: .ingress, priority: -500)
        options.devices = ["up0"]
        let before = compile([allowSSH], options: options).table
        let state = TableState(shape: try #require(TableShape(before)), handles: { UInt64($0 + 1) }, generation: 1)
        options.devices = ["up0", "up1"]
        guard case .replace = TableChange.plan(from: state, to: compile([allowSSH], options: options).table) else {
            Issue.record("another device planned in place"); return
        }
        options.devices = ["up0"]
        options.offload = true
        guard case .replace = TableChange.plan(from: state, to: compile([allowSSH], options: options).table) else {
            Issue.record("offload planned in place"); return
        }
        // Adding the accept-established rule to a table is a change in place of one rule.
        options.offload = false
        options.acceptEstablished = true
        guard case .inPlace(let change) = TableChange.plan(from: state, to: compile([allowSSH], options: options).table) else {
            Issue.record("the accept-established rule is not added in place"); return
        }
        #expect(change.insertedRules.map(\.rule.comment) == [AcceptEstablished.comment])
    }

    @Test func warningsAboutDefaultDrops() {
        let continuing = route("203.0.113.20/32", actions: [.trafficAction(sample: false, terminal: true)])
        var options = CompileOptions(defaultPolicy: .drop)
        var w = TableAdvice.warnings(compile([allowSSH], options: options).table)
        #expect(w.count == 1 && w[0].contains("the replies of those flows are dropped"))
        // One family's default-policy route drops as a rule: the same warning.
        w = TableAdvice.warnings(compile([allowSSH, defaultDrop], options: CompileOptions()).table)
        #expect(w.count == 1 && w[0].contains("--accept-established"))
        options.acceptEstablished = true
        #expect(TableAdvice.warnings(compile([allowSSH], options: options).table).isEmpty)
        w = TableAdvice.warnings(compile([continuing, allowSSH], options: options).table)
        #expect(w.count == 1 && w[0].contains("only continue") && w[0].contains(continuing.identity))
        // An accepting policy: nothing to say.
        #expect(TableAdvice.warnings(compile([continuing, allowSSH], options: CompileOptions()).table).isEmpty)
    }

    /// A redirect marks packets for policy routing: after the routing decision (forward, input,
    /// output) the mark moves nothing, which is worth saying; at prerouting it is where it works.
    @Test func warningAboutRedirectsAfterTheRoutingDecision() {
        let target = RouteTarget("65309:100")!
        let redirect = route("203.0.113.30/32", actions: [.redirect(target)])
        for hook in [NftHook.forward, .input, .output] {
            let w = TableAdvice.warnings(compile([redirect], options: CompileOptions(hook: hook, redirectMarks: [target: 0x10])).table)
            #expect(w.count == 1 && w[0].contains("after the routing decision") && w[0].contains("--hook prerouting"), "\(hook): \(w)")
        }
        #expect(TableAdvice.warnings(compile([redirect], options: CompileOptions(hook: .prerouting, priority: -150, redirectMarks: [target: 0x10])).table).isEmpty)
        #expect(TableAdvice.warnings(compile([allowSSH], options: CompileOptions()).table).isEmpty)
    }
}
