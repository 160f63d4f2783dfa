import ArgumentParser
import FlowSpec
import FlowSpecCompiler
import FlowSpecKeeper
import FlowSpecNetlink

/// The marks, tables and rule priority of the tool's redirects (docs/lowering.md, "Redirect"):
/// shared by the commands that make them (apply, watch, listen) and those that list or remove
/// them (show, flush).
struct RedirectRangeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("First packet mark of the tool's redirects (redirect-to-IP next hops and --vrf targets); decimal or 0x hex.", valueName: "mark"))
    var redirectFirstMark: PacketMark = PacketMark(argument: "0x46530000")!

    @Option(help: ArgumentHelp("First routing table of the tool's redirect next hops (one table per next hop).", valueName: "table"))
    var redirectFirstTable: UInt32 = RedirectRanges.defaultFirstTable

    @Option(help: ArgumentHelp("How many marks (and tables) the tool may use from the first ones: the most next hops and VRFs redirected to at once.", valueName: "n"))
    var redirectSlots: Int = RedirectRanges.defaultCount

    @Option(help: ArgumentHelp("Priority of the tool's `ip rule`s (before the main table's 32766).", valueName: "n"))
    var redirectRulePriority: UInt32 = RedirectRanges.defaultRulePriority

    var ranges: RedirectRanges {
        RedirectRanges(firstMark: redirectFirstMark.value, firstTable: redirectFirstTable, count: redirectSlots,
                       rulePriority: redirectRulePriority)
    }

    func validate() throws {
        if let problem = ranges.problem { throw ValidationError("--redirect-first-mark/--redirect-first-table/--redirect-slots: \(problem)") }
    }
}

/// What redirects do (apply, watch, listen): VRF targets, unmapped targets, unreachable next hops.
struct RedirectOptions: ParsableArguments {
    @Option(name: .customLong("vrf"), parsing: .singleValue,
            help: ArgumentHelp("Send a redirect route target's packets into a Linux VRF device, e.g. 65000:666=vrf-scrub, or [2001:db8::1]:666=vrf-scrub for rt-redirect-ipv6 (repeatable): the route marks them and an `ip rule fwmark` made by the tool looks up the VRF's table.", valueName: "rt=device"))
    var vrfs: [VRFTarget] = []

    @Option(help: "A redirect route target with neither --vrf nor --redirect-mark: reject the route (with its other actions), or ignore the redirect and apply the rest (noted).")
    var unmappedRedirect: UnmappedRedirect = .reject

    @Option(help: "Traffic redirected to a next hop the kernel cannot reach: unreachable (dropped with ICMP unreachable until it is back) or normal-path (routed as if not redirected until it is back).")
    var unreachableNextHop: UnreachableNextHop = .unreachable

    @OptionGroup var ranges: RedirectRangeOptions

    func validate() throws {
        let targets = vrfs.map(\.target)
        if Set(targets).count != targets.count { throw ValidationError("--vrf: a route target is mapped twice") }
        for v in vrfs where v.device.isEmpty || v.device.utf8.count > 15 || v.device.contains("/") {
            throw ValidationError("--vrf \(v.target)=\(v.device): not a device name (1 to 15 characters, no '/')")
        }
        if vrfs.count >= ranges.redirectSlots { throw ValidationError("--vrf: \(vrfs.count) VRFs leave no redirect slot for next hops (--redirect-slots)") }
    }

    var configuration: PolicyRoutes.Configuration {
        PolicyRoutes.Configuration(ranges: ranges.ranges, vrfs: Dictionary(vrfs.map { ($0.target, $0.device) }, uniquingKeysWith: { _, last in last }),
                                   unreachableNextHop: unreachableNextHop)
    }

    /// The tool's policy routes in this namespace, read back from the kernel; `checking`: its
    /// writes dropped (`check`).
    func policyRoutes(checking: Bool = false) throws -> PolicyRoutes {
        do {
            let connection = try RoutingConnection()
            return try PolicyRoutes(configuration: configuration, writer: checking ? CheckedPolicyRouting(connection) : connection)
        } catch {
            throw CLIError("nothing changed: cannot read the policy routing rules: \(error)")
        }
    }
}

/// `RT=DEVICE` of `--vrf`.
struct VRFTarget: ExpressibleByArgument {
    var target: RouteTarget
    var device: String
    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let rt = RouteTarget(parts[0], allowingIPv6: true) else { return nil }
        target = rt
        device = String(parts[1])
    }
}

extension UnmappedRedirect: ExpressibleByArgument {}
extension UnreachableNextHop: ExpressibleByArgument {}

extension PolicyRoutes {
    /// `show`'s lines: one per slot, its rules and routes.
    func text() throws -> [String] {
        try list().map { entry in
            let rules = entry.rules.map { "\($0.family.name) lookup \($0.table)" }.joined(separator: ", ")
            var line = "redirect mark 0x\(String(entry.mark, radix: 16)) (rule priority \(entry.rules.first?.priority ?? 0): \(rules))"
            if !entry.routes.isEmpty { line += ": " + entry.routes.map(describe).joined(separator: "; ") }
            return line
        }
    }
}
