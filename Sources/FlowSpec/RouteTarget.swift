/// A route-target-style pair as carried by route-target (RFC 4360) and redirect (RFC 8955 §7.4)
/// extended communities: `ASN:N` (2- or 4-octet AS) or `IPv4:N`; and, in IPv6 Address Specific
/// Extended Communities (RFC 5701, attribute 25), `[IPv6]:N`, the target of rt-redirect-ipv6
/// (RFC 8956 §6.1).
public struct RouteTarget: Hashable, Sendable, Comparable {
    public enum Global: Hashable, Sendable, Comparable {
        case as2(UInt16)
        case ipv4(UInt32)
        case as4(UInt32)
        /// An IPv6 Global Administrator (RFC 5701). Such a target travels only in a 20-octet
        /// community (`IPv6FlowAction.rtRedirect`), never in an 8-octet one: `FlowAction`'s
        /// route targets never have it.
        case ipv6(IPAddress)
    }

    public let global: Global
    public let local: UInt32

    public init(global: Global, local: UInt32) {
        self.global = global
        self.local = local
    }

    /// Parses `65309:100`, `65536:100` (a 4-octet AS when it does not fit 16 bits), `192.0.2.1:100`.
    /// With a 2-octet AS the local part may take 32 bits; otherwise 16. With `allowingIPv6`, also
    /// `[2001:db8::1]:100` or `2001:db8::1:100` (the part after the last colon is the local one,
    /// 16 bits); without it, such text is no route target (an 8-octet community cannot carry it).
    public init?(_ text: some StringProtocol, allowingIPv6: Bool = false) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var g = Substring(text[..<colon])
        let l = text[text.index(after: colon)...]
        guard let local = UInt32(l) else { return nil }
        if g.first == "[" || g.contains(":") {
            guard allowingIPv6, local <= 0xffff else { return nil }
            if g.first == "[" {
                guard g.last == "]" else { return nil }
                g = g.dropFirst().dropLast()
            }
            guard let v6 = IPAddress.parseIPv6(g) else { return nil }
            self.init(global: .ipv6(v6), local: local)
        } else if g.contains(".") {
            guard let v4 = IPAddress.parseIPv4(g), local <= 0xffff else { return nil }
            self.init(global: .ipv4(v4), local: local)
        } else if let asn = UInt32(g) {
            if asn <= 0xffff { self.init(global: .as2(UInt16(asn)), local: local) }
            else { guard local <= 0xffff else { return nil }; self.init(global: .as4(asn), local: local) }
        } else { return nil }
    }

    public static func < (a: Self, b: Self) -> Bool { (a.global, a.local) < (b.global, b.local) }
}

extension RouteTarget: CustomStringConvertible {
    /// `65309:100`, `192.0.2.1:100`, `[2001:db8::1]:100`.
    public var description: String {
        switch global {
        case .as2(let a): "\(a):\(local)"
        case .as4(let a): "\(a):\(local)"
        case .ipv4(let a): "\(IPAddress(ipv4: a)):\(local)"
        case .ipv6(let a): "[\(a)]:\(local)"
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
