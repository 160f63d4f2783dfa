import FlowSpec

extension IPv6ExtendedCommunity {
    /// A community of `type` and `subtype` from the speakers' text of its administrators,
    /// `<IPv6 address>:<local>` (GoBGP's `2001:db8::1:100`, FRR's `RT:2001:db8::1:100` after the
    /// `RT:`): the last `:` ends the address. Nil when the address is not IPv6 or the local part
    /// not a 16-bit number.
    init?(type: UInt8, subtype: UInt8, addressAndLocal text: Substring) {
        guard let colon = text.lastIndex(of: ":"), let local = UInt16(text[text.index(after: colon)...]),
              let address = IPAddress(text[..<colon]), address.family == .ipv6 else { return nil }
        self.init(type: type, subtype: subtype, address: address, local: local)
    }
}
