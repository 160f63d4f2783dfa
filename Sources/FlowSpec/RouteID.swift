/// The identity of a route: its family and NLRI octets (RFC 8955: the NLRI is the key; the
/// communities are the route's content, not its name). Every place that names a route holds
/// one; the printed form (`description`, the `4:`/`6:` + hex a rule comment carries, hashed as
/// `4#`/`6#` for very long NLRIs) is made only at the edges: comments, logs, files.
///
/// Well-formed NLRIs use their canonical encoding (`FlowRoute.nlriBytes`), so a route announced
/// with reserved operator bits set and withdrawn without them is the same route.
public struct RouteID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var family: AddressFamily
    public var nlri: [UInt8]

    public init(family: AddressFamily, nlri: [UInt8]) { self.family = family; self.nlri = nlri }
    public init(_ route: FlowRoute) { self.init(family: route.family, nlri: route.nlriBytes) }

    /// Family first (IPv4 before IPv6), then the NLRI octets compared lexicographically: a total,
    /// stable order.
    public static func < (a: RouteID, b: RouteID) -> Bool {
        if a.family != b.family { return a.family < b.family }
        return a.nlri.lexicographicallyPrecedes(b.nlri)
    }

    /// Hashed as one block of bytes (not octet by octet): these keys fill dictionaries of 100k.
    public func hash(into h: inout Hasher) {
        h.combine(family)
        nlri.withUnsafeBytes { h.combine(bytes: $0) }
    }

    /// `4:` or `6:` + the NLRI bytes in hex when that stays within 120 characters, else `4#` /
    /// `6#` + a 64-bit FNV-1a hash of them. Rules carry it as their comment, so counters, errors
    /// and delta updates name the route (`RouteIdentity` reads it back).
    public var description: String {
        let tag = UInt8(ascii: family == .ipv4 ? "4" : "6")
        if nlri.count <= 59 {
            var text = [UInt8]()
            text.reserveCapacity(2 + 2 * nlri.count)
            text.append(tag)
            text.append(UInt8(ascii: ":"))
            appendHex(nlri, to: &text)
            return String(decoding: text, as: UTF8.self)
        }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in nlri { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let s = String(h, radix: 16)
        return (family == .ipv4 ? "4" : "6") + "#" + String(repeating: "0", count: 16 - s.count) + s
    }
}

extension FlowRoute {
    /// The route's identity (family + NLRI).
    public var id: RouteID { RouteID(self) }

    /// The printed form of `id`: what the route's rules carry as their comment.
    public var identity: String { id.description }
}
