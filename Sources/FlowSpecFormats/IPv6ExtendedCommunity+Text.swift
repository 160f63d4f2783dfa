import FlowSpec

extension IPv6ExtendedCommunity {
    /// A community of `type` and `subtype` from the speakers' text of its administrators,
    /// `<IPv6 address>:<local>` (GoBGP's `2001:db8::1:100`, FRR's `RT:2001:db8::1:100` after the
    /// `RT:`), read as an IPv6 route target is (`RouteTarget(_:allowingIPv6:)`). Nil when the
    /// address is not IPv6 or the local part not a 16-bit number.
    init?(type: UInt8, subtype: UInt8, addressAndLocal text: Substring) {
        guard let target = RouteTarget(text, allowingIPv6: true), case .ipv6(let address) = target.global else { return nil }
        self.init(type: type, subtype: subtype, address: address, local: UInt16(target.local))
    }
}
