import ArgumentParser
import FlowSpec
import FlowSpecCompiler

/// What the installed table looks like: shared by compile, apply, show and flush.
struct TableOptions: ParsableArguments {
    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    @Option(help: "Netfilter hook of the base chain: ingress (per device, before everything else: --device), prerouting (with --priority raw, before connection tracking), forward, input or output. docs/lowering.md and docs/deployment.md say which to use where.")
    var hook: HookOption = .forward

    @Option(name: .customLong("device"), parsing: .singleValue,
            help: ArgumentHelp("With --hook ingress: a device the table filters as packets arrive on it (repeatable; one chain hooks them all). A device that does not exist yet is hooked when it appears.", valueName: "if"))
    var devices: [String] = []

    @Flag(help: "With --hook ingress: ask the devices' drivers to run the table in hardware (NFT_CHAIN_HW_OFFLOAD). The kernel offloads no set lookup, so the table keeps one rule per route (as --no-merge). A device whose driver cannot is refused by name, and nothing is applied.")
    var offload = false

    @Flag(help: "Put `ct state established,related accept` first, so that a default-drop table lets the replies of the flows it allows back in (flowspec routes are stateless; docs/semantics.md). Not with --hook ingress, nor prerouting or output at a priority that runs before connection tracking (-200 or less).")
    var acceptEstablished = false

    @Option(parsing: .unconditional, help: "Priority of the base chain: a number (negative values run earlier, e.g. --priority -10) or a name as nft prints it: raw, mangle, dstnat, filter, security, srcnat, with an offset such as filter-10.")
    var priority: ChainPriority = ChainPriority(argument: "filter")!

    @Option(help: "Chain policy when no default-policy route (0/0 → 0/0) is present: accept or drop.")
    var policy: PolicyOption = .accept

    @Option(help: "Rule order: rfc (RFC 8955 §5.1) or sequence (sequence numbers carried in traffic-marking, RFC order after them).")
    var order: OrderOption = .rfc

    @Option(help: ArgumentHelp("Where --order sequence finds the sequence number: traffic-marking (the historical convention; the marking is then not applied as DSCP), ext:TYPE:SUBTYPE (an extended community, low 32 bits; hex or decimal), or large:GLOBAL (a large community's first local part; `fetch` writes large:4294967295 by default, a community no router acts on).", valueName: "carrier"))
    var sequenceCarrier: SequenceCarrier = .trafficMarking

    @Option(name: .customLong("redirect-mark"), parsing: .singleValue,
            help: ArgumentHelp("Map a redirect route target to a packet mark, e.g. 65309:100=0x10, or [2001:db8::1]:100=0x10 for rt-redirect-ipv6 (repeatable), for `ip rule`s of your own (--vrf makes them). An unmapped redirect follows --unmapped-redirect.", valueName: "rt=mark"))
    var redirectMarks: [RedirectMark] = []

    @OptionGroup(title: "Redirect") var redirect: RedirectOptions

    @Option(name: .customLong("route-target"), parsing: .singleValue,
            help: ArgumentHelp("Install only routes carrying this route target (repeatable), e.g. 65309:10 or 192.0.2.1:10.", valueName: "asn:n"))
    var routeTargets: [RouteTarget] = []

    @Option(help: "With --route-target or --interface-group: what routes carrying none of those route targets do: apply (on every interface) or ignore.")
    var untargeted: RouteScope.Untargeted = .apply

    @Option(name: .customLong("interface-group"), parsing: .singleValue,
            help: ArgumentHelp("Scope the routes carrying a route target to interfaces, e.g. 65309:20=eth1,eth2 (repeatable): such a route matches only packets that arrived on those interfaces (iifname; merged routes keep sharing sets). A route carrying several such targets applies on all their interfaces; one carrying none follows --untargeted. Not with --hook output (it has no input interface); at --hook ingress the interfaces must be --device's.", valueName: "rt=if,..."))
    var interfaceGroupOptions: [InterfaceGroupOption] = []

    @Option(help: "nflog group for routes with the traffic-action sample bit.")
    var logGroup: UInt16 = 0

    @Flag(help: "Do not count packets per route (no counter on rules, nor on merged sets' elements).")
    var noCounters = false

    @Flag(inversion: .prefixedNo, exclusivity: .chooseLast,
          help: "Merge routes of the same shape and action into set lookups (docs/merging.md): at 100k routes ~10 rules instead of ~120k, loads several times faster and packets traverse it hundreds of times faster; the order of the routes' effects is kept exactly, show still counts per route (set elements carry their route and a counter) and updates are deltas of set elements. --no-merge installs one rule (or a few) per route.")
    var merge = true

    @Option(help: "Destination dispatch (docs/merging.md): the base chain looks the destination address up in a verdict map and goes to a chain holding only the rules for that destination. auto uses it when the merged table would cost a packet much more (many rules, or many set lookups), over the merged rules (sharing their sets) when that is cheap enough, else over one rule per route; always dispatches over one rule per route whenever routes can be dispatched (even with --no-merge); never keeps one chain.")
    var dispatch: DispatchMode = .auto

    func validate() throws {
        if table.isEmpty || table.count > 255 { throw ValidationError("--table must be 1 to 255 characters") }
        if hook == .ingress && devices.isEmpty { throw ValidationError("--hook ingress needs the devices it filters: --device IF (repeatable)") }
        if hook != .ingress && !devices.isEmpty { throw ValidationError("--device is for --hook ingress (the other hooks see every device)") }
        for d in devices where d.isEmpty || d.utf8.count > 15 || d.contains("/") || d.contains(where: \.isWhitespace) {
            throw ValidationError("--device \(d): not a device name (1 to 15 characters, no '/' or spaces)")
        }
        if Set(devices).count != devices.count { throw ValidationError("--device: a device is named twice") }
        if let both = redirect.vrfs.first(where: { v in redirectMarks.contains { $0.target == v.target } }) {
            throw ValidationError("--vrf \(both.target): the route target also has a --redirect-mark")
        }
        if offload && hook != .ingress { throw ValidationError("--offload is for --hook ingress: hardware runs tables where packets arrive") }
        for o in interfaceGroupOptions {
            for name in o.interfaces {
                if let problem = InterfaceGroups.problem(name) {
                    throw ValidationError("--interface-group \(o.target)=\(o.interfaces.joined(separator: ",")): interface \"\(name)\": \(problem)")
                }
                if hook == .ingress && !devices.contains(name) {
                    throw ValidationError("--interface-group \(o.target): interface \(name) is not hooked by the table; add --device \(name)")
                }
            }
        }
        if !interfaceGroupOptions.isEmpty && hook == .output {
            throw ValidationError("--interface-group: packets at the output hook have no input interface (use input, forward, prerouting or ingress)")
        }
        if acceptEstablished {
            if hook == .ingress {
                throw ValidationError("--accept-established: connection tracking has not run at the ingress hook, so no packet is established there")
            }
            if (hook == .prerouting || hook == .output) && priority.value <= -200 {
                throw ValidationError("--accept-established: at \(hook.rawValue) priority \(priority.value) the table runs before connection tracking (-200), so no packet is established yet")
            }
        }
    }

    var routeOrder: RouteOrder { order == .rfc ? .rfc : .sequence(sequenceCarrier) }

    /// The `--interface-group` options (validated by `validate`).
    var interfaceGroups: InterfaceGroups {
        var g = InterfaceGroups()
        for o in interfaceGroupOptions { try? g.add(o.target, o.interfaces) }
        return g
    }

    var routeScope: RouteScope { RouteScope(targets: Set(routeTargets), untargeted: untargeted, interfaceGroups: interfaceGroups) }

    var compileOptions: CompileOptions {
        var o = CompileOptions()
        o.tableName = table
        o.hook = hook.hook
        o.priority = priority.value
        o.defaultPolicy = policy == .accept ? .accept : .drop
        o.redirectMarks = Dictionary(redirectMarks.map { ($0.target, $0.mark) }, uniquingKeysWith: { _, last in last })
        o.unmappedRedirect = redirect.unmappedRedirect
        o.logGroup = logGroup
        o.counters = !noCounters
        o.merge = merge
        o.dispatch = dispatch
        o.devices = devices
        o.offload = offload
        o.acceptEstablished = acceptEstablished
        o.interfaceGroups = interfaceGroups
        if offload { o.merge = false; o.dispatch = .never }
        return o
    }
}
