extension UInt64 {
    /// A number as command lines and iptables-save write it: decimal, or hex after `0x` / `0X`.
    public init?(decimalOrHex s: Substring) {
        guard let v = s.hasPrefix("0x") || s.hasPrefix("0X") ? UInt64(s.dropFirst(2), radix: 16) : UInt64(s) else { return nil }
        self = v
    }
}
