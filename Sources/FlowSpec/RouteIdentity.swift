/// The route identity a rule carries (see `FlowRoute.identity`), read back.
public enum RouteIdentity {
    /// The route's match components from an identity of the `4:<hex>` / `6:<hex>` form (the NLRI
    /// itself); nil for the hashed `4#…` form of very long NLRIs, or for text that is not an identity.
    /// Communities are not part of the identity, so the route comes back without them.
    public static func decode(_ identity: String) -> FlowRoute? {
        let u = Array(identity.utf8)
        guard u.count >= 2, u[1] == UInt8(ascii: ":"), u.count % 2 == 0 else { return nil }
        let family: AddressFamily
        switch u[0] {
        case UInt8(ascii: "4"): family = .ipv4
        case UInt8(ascii: "6"): family = .ipv6
        default: return nil
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((u.count - 2) / 2)
        var i = 2
        while i + 1 < u.count {
            guard let hi = hexValue(u[i]), let lo = hexValue(u[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        guard let components = try? FlowNLRICodec.decodeComponents(bytes, family: family) else { return nil }
        return FlowRoute(family: family, components: components)
    }

    /// Whether `s` is a route identity: `4:`/`6:` + hex (the NLRI) or `4#`/`6#` + hex (hashed),
    /// as opposed to another comment (a merged rule's `merge <set>`, an operator's text).
    public static func isIdentity(_ s: String) -> Bool {
        let u = s.utf8
        guard u.count > 2, let f = u.first, f == UInt8(ascii: "4") || f == UInt8(ascii: "6") else { return false }
        let sep = u[u.index(after: u.startIndex)]
        guard sep == UInt8(ascii: ":") || sep == UInt8(ascii: "#") else { return false }
        return u.dropFirst(2).allSatisfy { hexValue($0) != nil }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
