/// A destination (type 1) or source (type 2) prefix component.
///
/// For IPv6 (RFC 8956 §3.1) the pattern covers bits `[offset, length)` of the address; IPv4 has no
/// offset. Bits outside the pattern are always zero in `address`, so equal prefixes compare equal.
public struct FlowPrefix: Hashable, Sendable {
    public let address: IPAddress
    public let length: UInt8
    public let offset: UInt8

    public var family: AddressFamily { address.family }

    /// Number of pattern bits, `length - offset`.
    public var patternLength: Int { Int(length) - Int(offset) }

    /// Creates a prefix, clearing any address bits outside `[offset, length)`.
    /// Returns nil when the length exceeds the family width or the offset exceeds the length,
    /// or when an IPv4 prefix has a non-zero offset.
    public init?(address: IPAddress, length: Int, offset: Int = 0) {
        guard length >= 0, length <= address.family.bitWidth, offset >= 0, offset <= length,
              address.family == .ipv6 || offset == 0 else { return nil }
        self.address = address.keepingBits(from: offset, to: length)
        self.length = UInt8(length)
        self.offset = UInt8(offset)
    }

    /// Parses `A/L` or, for IPv6, `A/L/off O`, `A/L/O` (GoBGP) and `A/L offset O` (BIRD).
    public init?(_ text: some StringProtocol) {
        let t = text.trimmingSpaces
        var offset = 0
        var body = Substring(t)
        if let r = body.firstRange(of: " offset ") {
            guard let o = Int(body[r.upperBound...].trimmingSpaces) else { return nil }
            offset = o; body = body[..<r.lowerBound]
        }
        let parts = body.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 1, parts.count <= 3, let addr = IPAddress(parts[0]) else { return nil }
        var length = addr.family.bitWidth
        if parts.count >= 2 { guard let l = Int(parts[1]) else { return nil }; length = l }
        if parts.count == 3 {
            let o = parts[2].hasPrefix("off") ? parts[2].dropFirst(3).trimmingSpaces : parts[2].trimmingSpaces
            guard let ov = Int(o) else { return nil }
            offset = ov
        }
        self.init(address: addr, length: length, offset: offset)
    }

    /// True for 0/0 (any address).
    public var isAny: Bool { length == 0 }

    /// Whether `a` lies in this prefix.
    public func contains(_ a: IPAddress) -> Bool {
        a.family == family && a.keepingBits(from: Int(offset), to: Int(length)) == address
    }
}

extension FlowPrefix: CustomStringConvertible {
    /// `203.0.113.0/24`, `2001:db8::/32`, `::10/128 offset 64`.
    public var description: String {
        offset == 0 ? "\(address)/\(length)" : "\(address)/\(length) offset \(offset)"
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return s
    }
}

extension FlowPrefix {
    /// Whether some address of the family lies in both prefixes: they agree on the bits both fix
    /// (RFC 8956 offsets included).
    public func overlaps(_ other: FlowPrefix) -> Bool {
        guard family == other.family else { return false }
        let from = Int(max(offset, other.offset)), to = Int(min(length, other.length))
        return from >= to || address.keepingBits(from: from, to: to) == other.address.keepingBits(from: from, to: to)
    }
}
