import FlowSpec

/// The kernel's policy-routing objects as plain values: what the tool writes through rtnetlink
/// (FlowSpecNetlink's `RoutingConnection`) and reads back. Fields are named after the kernel
/// attributes (FRA_*, RTA_*).
public enum PolicyRouting {
    /// The routing protocol number (RTPROT_*) on the tool's rules and routes: `proto 245` in `ip`.
    public static let protocolNumber: UInt8 = 245
}

/// An `ip rule`: packets whose mark equals `mark` (under `mask`) look up `table`
/// (FR_ACT_TO_TBL), at `priority`.
public struct FibRule: Sendable, Hashable, CustomStringConvertible {
    public var family: AddressFamily
    public var priority: UInt32
    public var mark: UInt32
    public var mask: UInt32
    public var table: UInt32
    /// FRA_PROTOCOL (Linux 4.17): who made the rule.
    public var protocolNumber: UInt8

    public init(family: AddressFamily, priority: UInt32, mark: UInt32, mask: UInt32 = 0xffff_ffff, table: UInt32,
                protocolNumber: UInt8 = PolicyRouting.protocolNumber) {
        self.family = family; self.priority = priority; self.mark = mark; self.mask = mask; self.table = table
        self.protocolNumber = protocolNumber
    }

    public var description: String {
        "\(family.name) rule \(priority): fwmark 0x\(String(mark, radix: 16))" + (mask == 0xffff_ffff ? "" : "/0x\(String(mask, radix: 16))")
            + " lookup \(table)"
    }
}

/// A route of one table: a destination prefix and what happens to packets for it.
public struct FibRoute: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// RTN_UNICAST: forwarded out of `device` (an interface index), to `gateway` when set.
        case unicast(gateway: IPAddress?, device: UInt32)
        /// RTN_UNREACHABLE: dropped with ICMP destination unreachable.
        case unreachable
        /// RTN_THROW: the lookup in this table ends without a result; the next rule is tried.
        case `throw`
    }

    public var table: UInt32
    public var destination: IPAddress
    public var prefixLength: UInt8
    public var kind: Kind
    public var protocolNumber: UInt8

    public init(table: UInt32, destination: IPAddress, prefixLength: UInt8, kind: Kind,
                protocolNumber: UInt8 = PolicyRouting.protocolNumber) {
        self.table = table; self.destination = destination; self.prefixLength = prefixLength; self.kind = kind
        self.protocolNumber = protocolNumber
    }

    public var family: AddressFamily { destination.family }

    /// Whether this is the route for every destination (0.0.0.0/0, ::/0).
    public var isDefault: Bool { prefixLength == 0 }

    public var description: String {
        let dst = isDefault ? "default" : "\(destination)/\(prefixLength)"
        switch kind {
        case .unicast(let gw, let dev): return "\(dst)" + (gw.map { " via \($0)" } ?? "") + " dev #\(dev) table \(table)"
        case .unreachable: return "unreachable \(dst) table \(table)"
        case .throw: return "throw \(dst) table \(table)"
        }
    }
}

/// How the kernel reaches an address now (`ip route get`): out of `device`, through `gateway`
/// when it is not on a connected network; or not at all.
public enum NextHopPath: Sendable, Hashable {
    case via(gateway: IPAddress?, device: UInt32)
    case unreachable
}
