/// A 20-octet IPv6 Address Specific Extended Community (RFC 5701; BGP path attribute 25), kept
/// as received so nothing is lost: type, sub-type, a 16-octet IPv6 Global Administrator and a
/// 2-octet Local Administrator. `action` decodes the ones flowspec defines.
public struct IPv6ExtendedCommunity: Hashable, Sendable {
    public let type: UInt8
    public let subtype: UInt8
    /// The Global Administrator, an IPv6 address.
    public let address: IPAddress
    /// The Local Administrator.
    public let local: UInt16

    public static let octets = 20

    /// `address` gives its 128 bits, read as IPv6 (readers check that they were given an IPv6
    /// address).
    public init(type: UInt8, subtype: UInt8, address: IPAddress, local: UInt16) {
        self.type = type
        self.subtype = subtype
        self.address = IPAddress(family: .ipv6, high: address.high, low: address.low)
        self.local = local
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.octets else { return nil }
        let b = Array(bytes)
        self.init(type: b[0], subtype: b[1], address: IPAddress(family: .ipv6, bytes: b[2..<18]),
                  local: UInt16(b[18]) << 8 | UInt16(b[19]))
    }

    /// The 20 octets, as on the wire.
    public var bytes: [UInt8] {
        var out = [type, subtype]
        out.reserveCapacity(Self.octets)
        address.appendBytes(to: &out)
        out.append(UInt8(local >> 8))
        out.append(UInt8(local & 0xff))
        return out
    }

    public var action: IPv6FlowAction { IPv6FlowAction(self) }
}

/// What an IPv6 Address Specific Extended Community asks of the traffic filter. A separate type
/// from `FlowAction`, whose `community` is an 8-octet one: these travel only in attribute 25.
public enum IPv6FlowAction: Hashable, Sendable {
    /// 0x000c (draft-ietf-idr-flowspec-redirect-ip): redirect to an IPv6 next hop; `copy` is the
    /// low bit of the Local Administrator. The address is IPv6.
    case redirectToIP(IPAddress, copy: Bool)
    /// 0x000d, rt-redirect-ipv6 (RFC 8956 §6.1): redirect to the VRF whose import route target is
    /// `address:local`, an IPv6 Address Specific route target.
    case rtRedirect(address: IPAddress, local: UInt16)
    /// Anything else (route targets 0x0002, the speakers' non-standard codes such as FRR's 0x800d
    /// and GoBGP's 0x800b, ...): kept and reported, never dropped silently.
    case unknown(IPv6ExtendedCommunity)

    public init(_ c: IPv6ExtendedCommunity) {
        switch (c.type, c.subtype) {
        case (0x00, 0x0c): self = .redirectToIP(c.address, copy: c.local & 0x01 != 0)
        case (0x00, 0x0d): self = .rtRedirect(address: c.address, local: c.local)
        default: self = .unknown(c)
        }
    }

    /// The community that carries this action. The copy bit is the only Local Administrator bit
    /// `redirectToIP` keeps; a received 0x000c with other bits set decodes to an action whose
    /// community differs from it (the canonical writer then keeps the raw octets).
    public var community: IPv6ExtendedCommunity {
        switch self {
        case .redirectToIP(let a, let copy): IPv6ExtendedCommunity(type: 0x00, subtype: 0x0c, address: a, local: copy ? 1 : 0)
        case .rtRedirect(let a, let local): IPv6ExtendedCommunity(type: 0x00, subtype: 0x0d, address: a, local: local)
        case .unknown(let c): c
        }
    }
}

extension IPv6ExtendedCommunity: CustomStringConvertible {
    /// `0x000c:2001:db8::1:0`: the type and sub-type in hex, then the address and local part.
    public var description: String {
        "0x" + hexString([type, subtype]) + ":\(address):\(local)"
    }
}

extension IPv6FlowAction: CustomStringConvertible {
    public var description: String {
        switch self {
        case .redirectToIP(let a, let copy): "redirect-to-ip \(a)" + (copy ? " copy" : "")
        case .rtRedirect(let a, let local): "rt-redirect-ipv6 [\(a)]:\(local)"
        case .unknown(let c): "ipv6-extended-community " + c.description
        }
    }
}
