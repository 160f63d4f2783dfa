import CNftnl
import FlowSpecCompiler

/// `cmp`: compares a register with constant bytes (network order as given).
enum CmpExpr {
    static let name = "cmp"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let raw = e.u32(NFTNL_EXPR_CMP_OP)
        guard let op = NftCmpOp(rawValue: raw) else { throw e.invalid("cmp op \(raw)") }
        return .cmp(op: op, sreg: e.register(NFTNL_EXPR_CMP_SREG), data: e.bytes(NFTNL_EXPR_CMP_DATA))
    }
}

/// `bitwise` (boolean form, NFT_BITWISE_MASK_XOR): `dreg = (sreg & mask) ^ xor`.
enum BitwiseExpr {
    static let name = "bitwise"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        if e.has(NFTNL_EXPR_BITWISE_OP), e.u32(NFTNL_EXPR_BITWISE_OP) != NFT_BITWISE_MASK_XOR.rawValue {
            throw e.invalid("bitwise shift (op \(e.u32(NFTNL_EXPR_BITWISE_OP))) is not in the IR")
        }
        return .bitwise(sreg: e.register(NFTNL_EXPR_BITWISE_SREG), dreg: e.register(NFTNL_EXPR_BITWISE_DREG),
                        length: e.u32(NFTNL_EXPR_BITWISE_LEN), mask: e.bytes(NFTNL_EXPR_BITWISE_MASK),
                        xor: e.bytes(NFTNL_EXPR_BITWISE_XOR))
    }
}

/// `range`: `from <= sreg <= to` (or its negation), big-endian bytes.
enum RangeExpr {
    static let name = "range"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let raw = e.u32(NFTNL_EXPR_RANGE_OP)
        guard let op = NftRangeOp(rawValue: raw) else { throw e.invalid("range op \(raw)") }
        return .range(op: op, sreg: e.register(NFTNL_EXPR_RANGE_SREG),
                      from: e.bytes(NFTNL_EXPR_RANGE_FROM_DATA), to: e.bytes(NFTNL_EXPR_RANGE_TO_DATA))
    }
}

extension CmpExpr {
    static let nameBytes = Array("cmp\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_cmp_build`.
    static func write(op: NftCmpOp, sreg: NftRegister, data: [UInt8], into m: inout RuleMessage) {
        m.data(nameBytes) { w in w.u32(NFTA_CMP_SREG, sreg.rawValue); w.u32(NFTA_CMP_OP, op.rawValue); w.value(NFTA_CMP_DATA, data) }
    }
}

extension BitwiseExpr {
    static let nameBytes = Array("bitwise\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_bitwise_build`.
    static func write(sreg: NftRegister, dreg: NftRegister, length: UInt32, mask: [UInt8], xor: [UInt8], into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_BITWISE_SREG, sreg.rawValue); w.u32(NFTA_BITWISE_DREG, dreg.rawValue)
            w.u32(NFTA_BITWISE_LEN, length); w.value(NFTA_BITWISE_MASK, mask); w.value(NFTA_BITWISE_XOR, xor)
        }
    }
}

extension RangeExpr {
    static let nameBytes = Array("range\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_range_build`.
    static func write(op: NftRangeOp, sreg: NftRegister, from: [UInt8], to: [UInt8], into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_RANGE_SREG, sreg.rawValue); w.u32(NFTA_RANGE_OP, op.rawValue)
            w.value(NFTA_RANGE_FROM_DATA, from); w.value(NFTA_RANGE_TO_DATA, to)
        }
    }
}
