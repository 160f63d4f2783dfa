import CNftnl
import FlowSpecCompiler

/// `cmp`: compares a register with constant bytes (network order as given).
enum CmpExpr {
    static let name = "cmp"

    static func encode(op: NftCmpOp, sreg: NftRegister, data: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_CMP_SREG, register: sreg)
        e.set(NFTNL_EXPR_CMP_OP, u32: op.rawValue)
        e.set(NFTNL_EXPR_CMP_DATA, bytes: data)
    }

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let raw = e.u32(NFTNL_EXPR_CMP_OP)
        guard let op = NftCmpOp(rawValue: raw) else { throw e.invalid("cmp op \(raw)") }
        return .cmp(op: op, sreg: e.register(NFTNL_EXPR_CMP_SREG), data: e.bytes(NFTNL_EXPR_CMP_DATA))
    }
}

/// `bitwise` (boolean form, NFT_BITWISE_MASK_XOR): `dreg = (sreg & mask) ^ xor`.
enum BitwiseExpr {
    static let name = "bitwise"

    static func encode(sreg: NftRegister, dreg: NftRegister, length: UInt32, mask: [UInt8], xor: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_BITWISE_SREG, register: sreg)
        e.set(NFTNL_EXPR_BITWISE_DREG, register: dreg)
        e.set(NFTNL_EXPR_BITWISE_LEN, u32: length)
        e.set(NFTNL_EXPR_BITWISE_MASK, bytes: mask)
        e.set(NFTNL_EXPR_BITWISE_XOR, bytes: xor)
    }

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

    static func encode(op: NftRangeOp, sreg: NftRegister, from: [UInt8], to: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_RANGE_SREG, register: sreg)
        e.set(NFTNL_EXPR_RANGE_OP, u32: op.rawValue)
        e.set(NFTNL_EXPR_RANGE_FROM_DATA, bytes: from)
        e.set(NFTNL_EXPR_RANGE_TO_DATA, bytes: to)
    }

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let raw = e.u32(NFTNL_EXPR_RANGE_OP)
        guard let op = NftRangeOp(rawValue: raw) else { throw e.invalid("range op \(raw)") }
        return .range(op: op, sreg: e.register(NFTNL_EXPR_RANGE_SREG),
                      from: e.bytes(NFTNL_EXPR_RANGE_FROM_DATA), to: e.bytes(NFTNL_EXPR_RANGE_TO_DATA))
    }
}
