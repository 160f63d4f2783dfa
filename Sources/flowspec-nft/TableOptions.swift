import ArgumentParser
import FlowSpec
import FlowSpecCompiler

extension NftHook: ExpressibleByArgument {
    public init?(argument: String) {
        guard let h = NftHook.allCases.first(where: { $0.name == argument }) else { return nil }
        self = h
    }
    public static var allValueStrings: [String] { ["forward", "input", "output"] }
}

enum PolicyOption: String, ExpressibleByArgument, CaseIterable { case accept, drop }
enum OrderOption: String, ExpressibleByArgument, CaseIterable { case rfc, sequence }
extension RouteScope.Untargeted: ExpressibleByArgument {}

/// What the installed table looks like: shared by compile, apply, show and flush.
struct TableOptions: ParsableArguments {
    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    @Option(help: "Netfilter hook of the base chain: forward, input or output.")
    var hook: NftHook = .forward

    @Option(parsing: .unconditional, help: "Priority of the base chain (negative values run earlier, e.g. --priority -10).")
    var priority: Int32 = 0

    @Option(help: "Chain policy when no default-policy route (0/0 → 0/0) is present: accept or drop.")
    var policy: PolicyOption = .accept

    @Option(help: "Rule order: rfc (RFC 8955 §5.1) or sequence (sequence numbers carried in traffic-marking, RFC order after them).")
    var order: OrderOption = .rfc

    @Option(help: ArgumentHelp("Where --order sequence finds the sequence number: traffic-marking (the historical convention; the marking is then not applied as DSCP), ext:TYPE:SUBTYPE (an extended community, low 32 bits; hex or decimal), or large:GLOBAL (a large community's first local part).", valueName: "carrier"))
    var sequenceCarrier: String = "traffic-marking"

    @Option(name: .customLong("redirect-mark"), parsing: .singleValue,
            help: ArgumentHelp("Map a redirect route target to a packet mark, e.g. 65309:100=0x10 (repeatable). An unmapped redirect is rejected.", valueName: "rt=mark"))
    var redirectMarks: [String] = []

    @Option(name: .customLong("route-target"), parsing: .singleValue,
            help: ArgumentHelp("Install only routes carrying this route target (repeatable), e.g. 65309:10 or 192.0.2.1:10.", valueName: "asn:n"))
    var routeTargets: [String] = []

    @Option(help: "With --route-target: what routes carrying no route target do: apply or ignore.")
    var untargeted: RouteScope.Untargeted = .apply

    @Option(help: "nflog group for routes with the traffic-action sample bit.")
    var logGroup: UInt16 = 0

    @Flag(help: "Do not count packets per route (no counter on rules, nor on merged sets' elements).")
    var noCounters = false

    @Flag(inversion: .prefixedNo, exclusivity: .chooseLast,
          help: "Merge routes of the same shape and action into set lookups (docs/merging.md): at 100k routes ~10 rules instead of ~120k, loads several times faster and packets traverse it hundreds of times faster; the order of the routes' effects is kept exactly, show still counts per route (set elements carry their route and a counter) and updates are deltas of set elements. --no-merge installs one rule (or a few) per route.")
    var merge = true

    func validate() throws {
        _ = try parsedRedirectMarks()
        _ = try parsedSequenceCarrier()
        _ = try routeScope()
        if table.isEmpty || table.count > 255 { throw ValidationError("--table must be 1 to 255 characters") }
    }

    func parsedRedirectMarks() throws -> [RouteTarget: UInt32] {
        var marks = [RouteTarget: UInt32]()
        for spec in redirectMarks {
            let parts = spec.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let rt = RouteTarget(parts[0]) else {
                throw ValidationError("--redirect-mark wants RT=MARK (e.g. 65309:100=0x10), not '\(spec)'")
            }
            guard let mark = UInt64(decimalOrHex: parts[1]), mark <= UInt32.max else {
                throw ValidationError("bad mark in --redirect-mark '\(spec)'")
            }
            marks[rt] = UInt32(mark)
        }
        return marks
    }

    func parsedSequenceCarrier() throws -> SequenceCarrier {
        guard let carrier = SequenceCarrier(argument: sequenceCarrier) else {
            throw ValidationError("--sequence-carrier must be traffic-marking, ext:TYPE:SUBTYPE or large:GLOBAL, not '\(sequenceCarrier)'")
        }
        return carrier
    }

    var routeOrder: RouteOrder {
        order == .rfc ? .rfc : .sequence((try? parsedSequenceCarrier()) ?? .trafficMarking)
    }

    func routeScope() throws -> RouteScope {
        var targets = Set<RouteTarget>()
        for t in routeTargets {
            guard let rt = RouteTarget(t) else { throw ValidationError("--route-target wants ASN:N or IPv4:N, not '\(t)'") }
            targets.insert(rt)
        }
        return RouteScope(targets: targets, untargeted: untargeted)
    }

    func compileOptions() throws -> CompileOptions {
        var o = CompileOptions()
        o.tableName = table
        o.hook = hook
        o.priority = priority
        o.defaultPolicy = policy == .accept ? .accept : .drop
        o.redirectMarks = try parsedRedirectMarks()
        o.logGroup = logGroup
        o.counters = !noCounters
        o.merge = merge
        return o
    }
}
