import CNftnl
import FlowSpecCompiler

/// `payload`: loads `length` bytes at `offset` from a header into a register, or (with a source
/// register) writes them back and fixes the checksum (`ip dscp set ...`).
enum PayloadExpr {
    static let name = "payload"

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

extension PayloadExpr {
    static let nameBytes = Array("payload\0".utf8)

    /// The production encoders: the attributes in the order of libnftnl's `nftnl_expr_payload_build`.
    static func write(base: NftPayloadBase, offset: UInt32, length: UInt32, dreg: NftRegister, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_PAYLOAD_DREG, dreg.rawValue); w.u32(NFTA_PAYLOAD_BASE, base.rawValue)
            w.u32(NFTA_PAYLOAD_OFFSET, offset); w.u32(NFTA_PAYLOAD_LEN, length)
        }
    }

    static func writeSet(base: NftPayloadBase, offset: UInt32, length: UInt32, sreg: NftRegister,
                         checksumType: UInt32, checksumOffset: UInt32, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_PAYLOAD_SREG, sreg.rawValue); w.u32(NFTA_PAYLOAD_BASE, base.rawValue)
            w.u32(NFTA_PAYLOAD_OFFSET, offset); w.u32(NFTA_PAYLOAD_LEN, length)
            w.u32(NFTA_PAYLOAD_CSUM_TYPE, checksumType); w.u32(NFTA_PAYLOAD_CSUM_OFFSET, checksumOffset)
        }
    }
}

extension ExthdrExpr {
    static let nameBytes = Array("exthdr\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_exthdr_build`.
    static func write(_ header: NftExthdr, dreg: NftRegister, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_EXTHDR_DREG, dreg.rawValue); w.u8(NFTA_EXTHDR_TYPE, header.type)
            w.u32(NFTA_EXTHDR_OFFSET, header.offset); w.u32(NFTA_EXTHDR_LEN, header.length)
            w.u32(NFTA_EXTHDR_OP, NFT_EXTHDR_OP_IPV6.rawValue)
            w.u32(NFTA_EXTHDR_FLAGS, header.presence ? NFT_EXTHDR_F_PRESENT.rawValue : 0)
        }
    }
}
