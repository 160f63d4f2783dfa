import FlowSpecCompiler

/// A set's userdata as nft 1.0.6 writes it (libnftnl's udata TLVs: a type byte, a length byte,
/// the value; u32 values in host order): the key's byte order (NFTNL_UDATA_SET_KEYBYTEORDER)
/// and, for a key declared by `typeof`, its expressions (NFTNL_UDATA_SET_KEY_TYPEOF). nft reads
/// them back to print elements, so a set made here lists as if nft had made it.
enum SetUserdata {
    private static let keyByteOrder: UInt8 = 0     // NFTNL_UDATA_SET_KEYBYTEORDER
    private static let keyTypeof: UInt8 = 3        // NFTNL_UDATA_SET_KEY_TYPEOF
    // nft's expression udata: the expression type, then its data (`expr_ops.build_udata`).
    private static let typeofExpr: UInt8 = 0
    private static let typeofData: UInt8 = 1
    private static let concatExpr: UInt32 = 13     // EXPR_CONCAT
    private static let payloadExpr: UInt32 = 7     // EXPR_PAYLOAD
    // NFTNL_UDATA_SET_KEY_PAYLOAD_{DESC,TYPE,BASE,OFFSET,LEN}
    private static let desc: UInt8 = 0, template: UInt8 = 1, base: UInt8 = 2, offset: UInt8 = 3, length: UInt8 = 4

    static func encode(byteOrder: UInt32, typeof: [NftKeyExpression]?) -> [UInt8] {
        var out = u32(keyByteOrder, byteOrder)
        guard let typeof, !typeof.isEmpty else { return out }
        let key: [UInt8]
        if typeof.count == 1 {
            key = expression(typeof[0])
        } else {
            var parts: [UInt8] = []
            for (i, e) in typeof.enumerated() { parts += tlv(UInt8(i), expression(e)) }
            key = u32(typeofExpr, concatExpr) + tlv(typeofData, parts)
        }
        out += tlv(keyTypeof, key)
        return out
    }

    /// The key's `typeof` expressions, when the userdata holds payload fields only (nil for
    /// none, or for expressions the IR has no form for).
    static func typeof(_ udata: [UInt8]) -> [NftKeyExpression]? {
        guard let key = attributes(udata)?[keyTypeof], let top = attributes(key),
              let type = top[typeofExpr].flatMap(value), let data = top[typeofData] else { return nil }
        if type == payloadExpr { return payload(data).map { [$0] } }
        guard type == concatExpr, let parts = attributes(data), !parts.isEmpty else { return nil }
        var out: [NftKeyExpression] = []
        for i in 0..<parts.count {
            guard let part = parts[UInt8(i)].flatMap(attributes), part[typeofExpr].flatMap(value) == payloadExpr,
                  let e = part[typeofData].flatMap(payload) else { return nil }
            out.append(e)
        }
        return out
    }

    private static func expression(_ e: NftKeyExpression) -> [UInt8] {
        var data: [UInt8]
        switch e {
        case .field(let d, let t, let bits):
            data = u32(desc, d) + u32(template, t)
            if let bits { data += u32(length, bits) }
        case .raw(let b, let o, let bits):
            data = u32(desc, 0) + u32(template, 0) + u32(base, b) + u32(offset, o) + u32(length, bits)
        }
        return u32(typeofExpr, payloadExpr) + tlv(typeofData, data)
    }

    private static func payload(_ data: [UInt8]) -> NftKeyExpression? {
        guard let a = attributes(data), let d = a[desc].flatMap(value), let t = a[template].flatMap(value) else { return nil }
        let bits = a[length].flatMap(value)
        if d == 0 {
            guard let b = a[base].flatMap(value), let o = a[offset].flatMap(value), let bits else { return nil }
            return .raw(base: b, offset: o, bits: bits)
        }
        return .field(desc: d, template: t, bits: bits)
    }

    private static func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] {
        [type, UInt8(truncatingIfNeeded: value.count)] + value
    }

    private static func u32(_ type: UInt8, _ v: UInt32) -> [UInt8] {
        withUnsafeBytes(of: v) { tlv(type, Array($0)) }
    }

    private static func value(_ b: [UInt8]) -> UInt32? {
        guard b.count == 4 else { return nil }
        return b.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    /// The TLVs of `b` by type; nil when they do not fill it exactly.
    private static func attributes(_ b: [UInt8]) -> [UInt8: [UInt8]]? {
        var out: [UInt8: [UInt8]] = [:]
        var i = 0
        while i < b.count {
            guard i + 2 <= b.count else { return nil }
            let n = Int(b[i + 1])
            guard i + 2 + n <= b.count else { return nil }
            out[b[i]] = Array(b[(i + 2)..<(i + 2 + n)])
            i += 2 + n
        }
        return out
    }
}
