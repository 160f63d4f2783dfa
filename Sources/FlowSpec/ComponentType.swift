/// The flowspec component types of RFC 8955 §4.2.2 and RFC 8956 §3, by their type code.
public enum ComponentType: UInt8, Hashable, Sendable, CaseIterable, Comparable {
    case destinationPrefix = 1
    case sourcePrefix = 2
    /// IP protocol (IPv4) / upper-layer protocol, the last Next Header (IPv6).
    case ipProtocol = 3
    /// Source OR destination TCP/UDP port.
    case port = 4
    case destinationPort = 5
    case sourcePort = 6
    case icmpType = 7
    case icmpCode = 8
    case tcpFlags = 9
    /// Total IP packet length (IPv6: 40 + Payload Length).
    case packetLength = 10
    case dscp = 11
    case fragment = 12
    /// IPv6 only.
    case flowLabel = 13

    public enum Kind: Sendable { case prefix, numeric, bitmask }

    public var kind: Kind {
        switch self {
        case .destinationPrefix, .sourcePrefix: .prefix
        case .tcpFlags, .fragment: .bitmask
        default: .numeric
        }
    }

    /// The largest value the packet field can hold. A term's value may exceed it on the wire;
    /// comparisons are still exact (a port is never `== 70000`).
    public var maxValue: UInt64 {
        switch self {
        case .destinationPrefix, .sourcePrefix: 0
        case .ipProtocol, .icmpType, .icmpCode: 0xff
        case .port, .destinationPort, .sourcePort, .packetLength: 0xffff
        /// Octets 12–13 of the TCP header; a 1-octet value means octet 13 (the control bits).
        case .tcpFlags: 0xffff
        case .dscp: 63
        /// DF 0x01, IsF 0x02, FF 0x04, LF 0x08.
        case .fragment: 0x0f
        case .flowLabel: 0xfffff
        }
    }

    /// Whether the type exists in the family (flow label is IPv6 only).
    public func exists(in family: AddressFamily) -> Bool {
        self != .flowLabel || family == .ipv6
    }

    /// The name used by the canonical JSON format and in messages.
    public var name: String {
        switch self {
        case .destinationPrefix: "destination"
        case .sourcePrefix: "source"
        case .ipProtocol: "protocol"
        case .port: "port"
        case .destinationPort: "destination-port"
        case .sourcePort: "source-port"
        case .icmpType: "icmp-type"
        case .icmpCode: "icmp-code"
        case .tcpFlags: "tcp-flags"
        case .packetLength: "packet-length"
        case .dscp: "dscp"
        case .fragment: "fragment"
        case .flowLabel: "flow-label"
        }
    }

    public init?(name: String) {
        guard let t = ComponentType.allCases.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// The fragment component's bits (RFC 8955 §4.2.2.12).
public enum FragmentBit: UInt64, Sendable, CaseIterable {
    /// Don't Fragment (IPv4 only).
    case dontFragment = 0x01
    /// Is a fragment other than the first: fragment offset ≠ 0.
    case isFragment = 0x02
    /// First fragment: offset 0 and More Fragments set.
    case firstFragment = 0x04
    /// Last fragment: offset ≠ 0 and More Fragments clear.
    case lastFragment = 0x08
}
