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
    /// Inlinable so that callers in other modules get it specialized: unspecialized, each call
    /// looked up the generic metadata of its iterator (1,770 instructions; 12% of `compile`'s
    /// printing of 20k uniform routes).
    @inlinable public init(family: AddressFamily, bytes: some Collection<UInt8>) {
        var h: UInt64 = 0, l: UInt64 = 0
        var i = 0
        for b in bytes {
            if i >= 16 { break }
            if i < 8 { h |= UInt64(b) << UInt64(56 - 8 * i) } else { l |= UInt64(b) << UInt64(56 - 8 * (i - 8)) }
            i += 1
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

    /// Dotted-quad IPv4: four decimal octets of 1–3 digits, each at most 255.
    static func parseIPv4(_ s: Substring) -> UInt32? {
        var v: UInt32 = 0, octet: UInt32 = 0, digits = 0, dots = 0
        for c in s.utf8 {
            if c == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                v = v << 8 | octet; octet = 0; digits = 0; dots += 1
            } else {
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9"), digits < 3 else { return nil }
                octet = octet * 10 + UInt32(c - UInt8(ascii: "0")); digits += 1
                guard octet <= 255 else { return nil }
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        return v << 8 | octet
    }

    /// RFC 4291 text: eight groups of 1–4 hex digits, one `::` standing for one or more zero
    /// groups, and the last 32 bits optionally as dotted-quad IPv4. Read byte by byte: a route
    /// set of 100k IPv6 routes has 200k addresses to read.
    static func parseIPv6(_ s: Substring) -> IPAddress? {
        let u = s.utf8
        var head: (groups: UInt128, count: Int) = (0, 0), tail: (groups: UInt128, count: Int) = (0, 0)
        var compressed = false
        var i = u.startIndex
        func hexValue(_ c: UInt8) -> UInt16? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt16(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt16(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt16(c - UInt8(ascii: "A") + 10)
            default: nil
            }
        }
        func append(_ g: UInt16) {
            if compressed { tail = (tail.groups << 16 | UInt128(g), tail.count + 1) } else { head = (head.groups << 16 | UInt128(g), head.count + 1) }
        }
        if u.starts(with: "::".utf8) { compressed = true; i = u.index(i, offsetBy: 2) }
        while i < u.endIndex {
            let start = i
            var g: UInt16 = 0, digits = 0
            while i < u.endIndex, digits < 5, let h = hexValue(u[i]) { g = g << 4 | h; digits += 1; i = u.index(after: i) }
            if i < u.endIndex, u[i] == UInt8(ascii: ".") {
                // The IPv4 tail: the rest of the text.
                guard let v4 = parseIPv4(s[start...]) else { return nil }
                append(UInt16(v4 >> 16)); append(UInt16(v4 & 0xffff))
                i = u.endIndex
                break
            }
            guard digits >= 1, digits <= 4 else { return nil }
            append(g)
            guard head.count + tail.count <= 8 else { return nil }
            if i == u.endIndex { break }
            guard u[i] == UInt8(ascii: ":") else { return nil }
            i = u.index(after: i)
            if i < u.endIndex, u[i] == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                i = u.index(after: i)
            } else if i == u.endIndex {
                return nil   // a single trailing colon
            }
        }
        let count = head.count + tail.count
        guard compressed ? count <= 7 : count == 8 else { return nil }
        let value = (head.groups << UInt128(16 * (8 - head.count))) | tail.groups
        return IPAddress(family: .ipv6, high: UInt64(truncatingIfNeeded: value >> 64), low: UInt64(truncatingIfNeeded: value))
    }
}

