/// An IPv4 or IPv6 address held as a 128-bit big-endian number.
///
/// An IPv4 address occupies the top 32 bits of `high`, so bit *i* of the address is bit *i* of the
/// 128-bit value for both families. Prefix arithmetic (masks, offsets, the RFC 8955 comparison)
/// is therefore the same code for both.
public struct IPAddress: Hashable, Sendable, Comparable {
    public let family: AddressFamily
    public let high: UInt64
    public let low: UInt64

    public init(family: AddressFamily, high: UInt64, low: UInt64) {
        self.family = family
        if family == .ipv4 {
            self.high = high & 0xFFFF_FFFF_0000_0000
            self.low = 0
        } else {
            self.high = high
            self.low = low
        }
    }

    public init(ipv4 value: UInt32) {
        self.init(family: .ipv4, high: UInt64(value) << 32, low: 0)
    }

    /// The IPv4 address as a host-order integer (only meaningful for `.ipv4`).
    public var ipv4Value: UInt32 { UInt32(truncatingIfNeeded: high >> 32) }

    public static func zero(_ family: AddressFamily) -> IPAddress {
        IPAddress(family: family, high: 0, low: 0)
    }

    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(family == .ipv4 ? 4 : 16)
        appendBytes(to: &out)
        return out
    }

    public func appendBytes(to out: inout [UInt8]) {
        let count = family == .ipv4 ? 4 : 16
        for i in 0..<count { out.append(byte(i)) }
    }

    /// Byte `i` (0 = most significant) of the 128-bit value.
    @inlinable public func byte(_ i: Int) -> UInt8 {
        i < 8 ? UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * i))
              : UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * (i - 8)))
    }

    /// Builds an address from network-order bytes (4 or 16 of them, or fewer: missing bytes are zero).
    public init(family: AddressFamily, bytes: some Collection<UInt8>) {
        var h: UInt64 = 0, l: UInt64 = 0
        for (i, b) in bytes.enumerated() where i < 16 {
            if i < 8 { h |= UInt64(b) << UInt64(56 - 8 * i) } else { l |= UInt64(b) << UInt64(56 - 8 * (i - 8)) }
        }
        self.init(family: family, high: h, low: l)
    }

    /// Bit `i` (0 = most significant).
    @inlinable public func bit(_ i: Int) -> Bool {
        i < 64 ? (high >> UInt64(63 - i)) & 1 == 1 : (low >> UInt64(127 - i)) & 1 == 1
    }

    /// Keeps bits `[from, to)` and clears the others.
    public func keepingBits(from: Int, to: Int) -> IPAddress {
        let m = IPAddress.mask(from: from, to: to)
        return IPAddress(family: family, high: high & m.high, low: low & m.low)
    }

    /// A mask with bits `[from, to)` set.
    public static func mask(from: Int, to: Int) -> (high: UInt64, low: UInt64) {
        func ones(_ n: Int) -> UInt64 { n <= 0 ? 0 : (n >= 64 ? ~0 : ~(~UInt64(0) >> UInt64(n))) }
        // Leading `n` ones of a 128-bit value.
        func leading(_ n: Int) -> (UInt64, UInt64) {
            (ones(min(n, 64)), ones(n - 64))
        }
        let a = leading(to), b = leading(from)
        return (a.0 & ~b.0, a.1 & ~b.1)
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        (a.family, a.high, a.low) < (b.family, b.high, b.low)
    }
}

extension IPAddress: CustomStringConvertible {
    public var description: String {
        family == .ipv4 ? ipv4Text : ipv6Text
    }

    private var ipv4Text: String {
        let v = ipv4Value
        return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
    }

    /// RFC 5952 text: lower case, longest run (≥ 2) of zero groups compressed, first one on ties.
    private var ipv6Text: String {
        var groups = [UInt16]()
        for i in 0..<8 { groups.append(UInt16(byte(2 * i)) << 8 | UInt16(byte(2 * i + 1))) }
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        if bestLen < 2 { bestStart = -1 }
        func hex(_ g: UInt16) -> String { String(g, radix: 16) }
        if bestStart < 0 { return groups.map(hex).joined(separator: ":") }
        let head = groups[..<bestStart].map(hex).joined(separator: ":")
        let tail = groups[(bestStart + bestLen)...].map(hex).joined(separator: ":")
        return head + "::" + tail
    }
}

extension IPAddress {
    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with an embedded IPv4 tail allowed).
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let v = IPAddress.parseIPv6(Substring(text)) else { return nil }
            self = v
        } else {
            guard let v = IPAddress.parseIPv4(Substring(text)) else { return nil }
            self.init(ipv4: v)
        }
    }

    static func parseIPv4(_ s: Substring) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        return v
    }

    static func parseIPv6(_ s: Substring) -> IPAddress? {
        var groups = [UInt16]()
        var compressAt: Int? = nil
        let halves = s.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func parseHalf(_ h: Substring, allowV4Tail: Bool) -> [UInt16]? {
            if h.isEmpty { return [] }
            var out = [UInt16]()
            let parts = h.split(separator: ":", omittingEmptySubsequences: false)
            for (i, p) in parts.enumerated() {
                if allowV4Tail && i == parts.count - 1 && p.contains(".") {
                    guard let v4 = parseIPv4(p) else { return nil }
                    out.append(UInt16(v4 >> 16)); out.append(UInt16(v4 & 0xffff))
                } else {
                    guard !p.isEmpty, p.count <= 4, let g = UInt16(p, radix: 16) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        if halves.count == 2 {
            guard let a = parseHalf(halves[0], allowV4Tail: false),
                  let b = parseHalf(halves[1], allowV4Tail: true), a.count + b.count <= 7 else { return nil }
            groups = a; compressAt = a.count
            groups += b
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - a.count - b.count), at: compressAt!)
        } else {
            guard let a = parseHalf(halves[0], allowV4Tail: true), a.count == 8 else { return nil }
            groups = a
        }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        return IPAddress(family: .ipv6, high: h, low: l)
    }
}

extension Substring {
    /// Splits at the first "::" (and reports a second one as a third part, which is invalid).
    fileprivate func components(separatedByDoubleColon: ()) -> [Substring] {
        var parts = [Substring]()
        var rest = self[...]
        while let r = rest.firstRange(of: "::") {
            parts.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}
