/// The two flowspec address families: AFI 1 (RFC 8955) and AFI 2 (RFC 8956), both SAFI 133.
public enum AddressFamily: UInt16, Hashable, Sendable, CaseIterable, Comparable {
    case ipv4 = 1
    case ipv6 = 2

    /// Address width in bits.
    public var bitWidth: Int { self == .ipv4 ? 32 : 128 }

    /// `ipv4` / `ipv6`, as used in the canonical JSON and on the command line.
    public var name: String { self == .ipv4 ? "ipv4" : "ipv6" }

    public init?(name: String) {
        switch name.lowercased() {
        case "ipv4", "4", "inet", "ip": self = .ipv4
        case "ipv6", "6", "inet6", "ip6": self = .ipv6
        default: return nil
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
