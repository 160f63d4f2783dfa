import ArgumentParser
import FlowSpec
import FlowSpecCompiler

// Option values parsed once, by the argument parser, into the library's own types: a command
// never reads an option's text again after parsing.

/// The hooks a table of the tool may take (postrouting is not one: filtering there comes after
/// the routing decision and local delivery).
enum HookOption: String, ExpressibleByArgument, CaseIterable {
    case ingress, prerouting, forward, input, output

    var hook: NftHook {
        switch self {
        case .ingress: .ingress
        case .prerouting: .prerouting
        case .forward: .forward
        case .input: .input
        case .output: .output
        }
    }
}

extension RouteTarget: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// An address family by name (`AddressFamily` is numbered by its AFI).
enum FamilyOption: String, ExpressibleByArgument, CaseIterable {
    case ipv4, ipv6
    var family: AddressFamily { self == .ipv4 ? .ipv4 : .ipv6 }
}

extension SequenceCarrier: ExpressibleByArgument {
    public var defaultValueDescription: String { argument }
}

extension RouteScope.Untargeted: ExpressibleByArgument {}

enum PolicyOption: String, ExpressibleByArgument, CaseIterable { case accept, drop }
enum OrderOption: String, ExpressibleByArgument, CaseIterable { case rfc, sequence }

/// A packet mark, decimal or `0x` hex, at most 32 bits.
struct PacketMark: ExpressibleByArgument, Hashable {
    var value: UInt32
    init?(argument: String) {
        guard let v = UInt64(decimalOrHex: Substring(argument)), v <= UInt64(UInt32.max) else { return nil }
        value = UInt32(v)
    }
}

/// A redirect route target and a packet mark, written `RT=MARK` (`65309:100=0x10`, or with an IPv6
/// global for rt-redirect-ipv6: `[2001:db8::1]:100=0x10`) by both
/// `--redirect-mark` and `fetch --mark-target`. The two parts cannot be mistaken for each other
/// (a route target has a colon, a mark none), so `MARK=RT`, the order `--mark-target` once took,
/// is read too.
struct TargetMark {
    var target: RouteTarget
    var mark: UInt32

    init?(_ argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        let (rt, mark) = parts[0].contains(":") ? (parts[0], parts[1]) : (parts[1], parts[0])
        guard let target = RouteTarget(rt, allowingIPv6: true), let m = PacketMark(argument: mark) else { return nil }
        self.target = target
        self.mark = m.value
    }
}

/// `RT=MARK` of `--redirect-mark`: a redirect route target and the packet mark it becomes.
struct RedirectMark: ExpressibleByArgument {
    var target: RouteTarget
    var mark: UInt32
    init?(argument: String) {
        guard let p = TargetMark(argument) else { return nil }
        target = p.target
        mark = p.mark
    }
}

/// `RT=IF[,IF...]` of `--interface-group`: a route target and the interfaces its routes apply on.
struct InterfaceGroupOption: ExpressibleByArgument {
    var target: RouteTarget
    var interfaces: [String]
    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let rt = RouteTarget(parts[0]) else { return nil }
        let names = parts[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !names.isEmpty else { return nil }
        target = rt
        interfaces = names
    }
}

/// `RT=MARK` of `fetch --mark-target`: the packet mark that stands for a redirect route target.
struct MarkTarget: ExpressibleByArgument {
    var mark: UInt32
    var target: RouteTarget
    init?(argument: String) {
        guard let p = TargetMark(argument) else { return nil }
        mark = p.mark
        target = p.target
    }
}

/// `fetch --sequence-carrier`: a carrier, or `none`.
enum FetchSequenceCarrier: ExpressibleByArgument {
    case none
    case carrier(SequenceCarrier)
    init?(argument: String) {
        if argument == "none" { self = .none; return }
        guard let c = SequenceCarrier(argument: argument) else { return nil }
        self = .carrier(c)
    }
    var carrier: SequenceCarrier? {
        if case .carrier(let c) = self { c } else { nil }
    }
    var defaultValueDescription: String { carrier?.defaultValueDescription ?? "none" }
}

/// A base chain priority: a number, or one of the names nft prints for the inet family's filter
/// chains (`raw` -300, `mangle` -150, `dstnat` -100, `filter` 0, `security` 50, `srcnat` 100),
/// optionally with an offset (`filter-10`, `raw+1`), as nft writes them.
struct ChainPriority: ExpressibleByArgument {
    static let names: [(String, Int32)] = [("raw", -300), ("mangle", -150), ("dstnat", -100), ("filter", 0),
                                           ("security", 50), ("srcnat", 100)]
    var value: Int32

    init?(argument: String) {
        if let n = Int32(argument) { value = n; return }
        for (name, base) in Self.names where argument.hasPrefix(name) {
            let rest = argument.dropFirst(name.count)
            if rest.isEmpty { value = base; return }
            guard let sign = rest.first, sign == "+" || sign == "-", let offset = Int32(rest.dropFirst()),
                  let v = Optional(Int64(base) + (sign == "+" ? 1 : -1) * Int64(offset)), let value = Int32(exactly: v) else { return nil }
            self.value = value
            return
        }
        return nil
    }

    var defaultValueDescription: String { Self.names.first { $0.1 == value }?.0 ?? "\(value)" }
}

/// The guard every writing command takes: how much of the installed table one change may withdraw.
struct WithdrawalGuard: ParsableArguments {
    @Option(help: ArgumentHelp("Refuse a change that would take out more than PERCENT of the installed routes at once; the table stays as it is (off by default).", valueName: "percent"))
    var maxWithdraw: Double?

    func validate() throws {
        if let maxWithdraw, !(0...100).contains(maxWithdraw) { throw ValidationError("--max-withdraw is a percentage, 0 to 100") }
    }

    /// As a share, 0…1.
    var maxWithdrawal: Double? { maxWithdraw.map { $0 / 100 } }
}

extension DispatchMode: ExpressibleByArgument {}
