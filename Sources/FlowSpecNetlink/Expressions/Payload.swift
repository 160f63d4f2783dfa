import CNftnl
import FlowSpecCompiler

/// `payload`: loads `length` bytes at `offset` from a header into a register, or (with a source
/// register) writes them back and fixes the checksum (`ip dscp set ...`).
enum PayloadExpr {
    static let name = "payload"

    static func encode(base: NftPayloadBase, offset: UInt32, length: UInt32, dreg: NftRegister, _ e: Expr) {
        e.set(NFTNL_EXPR_PAYLOAD_BASE, u32: base.rawValue)
        e.set(NFTNL_EXPR_PAYLOAD_OFFSET, u32: offset)
        e.set(NFTNL_EXPR_PAYLOAD_LEN, u32: length)
        e.set(NFTNL_EXPR_PAYLOAD_DREG, register: dreg)
    }

    static func encodeSet(base: NftPayloadBase, offset: UInt32, length: UInt32, sreg: NftRegister,
                          checksumType: UInt32, checksumOffset: UInt32, _ e: Expr) {
        e.set(NFTNL_EXPR_PAYLOAD_BASE, u32: base.rawValue)
        e.set(NFTNL_EXPR_PAYLOAD_OFFSET, u32: offset)
        e.set(NFTNL_EXPR_PAYLOAD_LEN, u32: length)
        e.set(NFTNL_EXPR_PAYLOAD_SREG, register: sreg)
        e.set(NFTNL_EXPR_PAYLOAD_CSUM_TYPE, u32: checksumType)
        e.set(NFTNL_EXPR_PAYLOAD_CSUM_OFFSET, u32: checksumOffset)
    }

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let rawBase = e.u32(NFTNL_EXPR_PAYLOAD_BASE)
        guard let base = NftPayloadBase(rawValue: rawBase) else { throw e.invalid("payload base \(rawBase)") }
        let offset = e.u32(NFTNL_EXPR_PAYLOAD_OFFSET), length = e.u32(NFTNL_EXPR_PAYLOAD_LEN)
        if e.has(NFTNL_EXPR_PAYLOAD_SREG) {
            return .payloadSet(base: base, offset: offset, length: length, sreg: e.register(NFTNL_EXPR_PAYLOAD_SREG),
                               checksumType: e.u32(NFTNL_EXPR_PAYLOAD_CSUM_TYPE),
                               checksumOffset: e.u32(NFTNL_EXPR_PAYLOAD_CSUM_OFFSET))
        }
        return .payload(base: base, offset: offset, length: length, dreg: e.register(NFTNL_EXPR_PAYLOAD_DREG))
    }
}

/// `exthdr` (IPv6 extension headers, NFT_EXTHDR_OP_IPV6): loads a field of the header, or with
/// NFT_EXTHDR_F_PRESENT a 1/0 for whether the header exists (`exthdr frag exists`).
enum ExthdrExpr {
    static let name = "exthdr"

    static func encode(_ header: NftExthdr, dreg: NftRegister, _ e: Expr) {
        e.set(NFTNL_EXPR_EXTHDR_TYPE, u8: header.type)
        e.set(NFTNL_EXPR_EXTHDR_OFFSET, u32: header.offset)
        e.set(NFTNL_EXPR_EXTHDR_LEN, u32: header.length)
        e.set(NFTNL_EXPR_EXTHDR_OP, u32: NFT_EXTHDR_OP_IPV6.rawValue)
        e.set(NFTNL_EXPR_EXTHDR_FLAGS, u32: header.presence ? NFT_EXTHDR_F_PRESENT.rawValue : 0)
        e.set(NFTNL_EXPR_EXTHDR_DREG, register: dreg)
    }

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        if e.has(NFTNL_EXPR_EXTHDR_OP), e.u32(NFTNL_EXPR_EXTHDR_OP) != NFT_EXTHDR_OP_IPV6.rawValue {
            throw e.invalid("exthdr op \(e.u32(NFTNL_EXPR_EXTHDR_OP)) (only IPv6 extension headers are in the IR)")
        }
        if e.has(NFTNL_EXPR_EXTHDR_SREG) { throw e.invalid("exthdr write (sreg) is not in the IR") }
        let flags = e.u32(NFTNL_EXPR_EXTHDR_FLAGS)
        let header = NftExthdr(type: e.u8(NFTNL_EXPR_EXTHDR_TYPE), offset: e.u32(NFTNL_EXPR_EXTHDR_OFFSET),
                               length: e.u32(NFTNL_EXPR_EXTHDR_LEN),
                               presence: flags & NFT_EXTHDR_F_PRESENT.rawValue != 0)
        return .exthdr(header, dreg: e.register(NFTNL_EXPR_EXTHDR_DREG))
    }
}
