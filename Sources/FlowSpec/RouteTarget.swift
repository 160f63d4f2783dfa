/// A route-target-style pair as carried by route-target (RFC 4360) and redirect (RFC 8955 §7.4)
/// extended communities: `ASN:N` (2- or 4-octet AS) or `IPv4:N`.
public struct RouteTarget: Hashable, Sendable, Comparable {
    public enum Global: Hashable, Sendable, Comparable {
        case as2(UInt16)
        case ipv4(UInt32)
        case as4(UInt32)
    }

    public let global: Global
    public let local: UInt32

    public init(global: Global, local: UInt32) {
        self.global = global
        self.local = local
    }

    /// Parses `65309:100`, `65536:100` (a 4-octet AS when it does not fit 16 bits), `192.0.2.1:100`.
    /// With a 2-octet AS the local part may take 32 bits; otherwise 16.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let g = text[..<colon], l = text[text.index(after: colon)...]
        guard let local = UInt32(l) else { return nil }
        if g.contains(".") {
            guard let v4 = IPAddress.parseIPv4(Substring(g)), local <= 0xffff else { return nil }
            self.init(global: .ipv4(v4), local: local)
        } else if let asn = UInt32(g) {
            if asn <= 0xffff { self.init(global: .as2(UInt16(asn)), local: local) }
            else { guard local <= 0xffff else { return nil }; self.init(global: .as4(asn), local: local) }
        } else { return nil }
    }

    public static func < (a: Self, b: Self) -> Bool { (a.global, a.local) < (b.global, b.local) }
}

extension RouteTarget: CustomStringConvertible {
    public var description: String {
        switch global {
        case .as2(let a): "\(a):\(local)"
        case .as4(let a): "\(a):\(local)"
        case .ipv4(let a): "\(IPAddress(ipv4: a)):\(local)"
        }
    }
}

/// A large community (RFC 8092); one may carry a rule sequence number.
public struct LargeCommunity: Hashable, Sendable {
    public var global: UInt32
    public var local1: UInt32
    public var local2: UInt32
    public init(global: UInt32, local1: UInt32, local2: UInt32) {
        self.global = global; self.local1 = local1; self.local2 = local2
    }
}
