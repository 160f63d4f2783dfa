import CNftnl
import FlowSpecCompiler
@testable import FlowSpecNetlink

// libnftnl's own expression objects: the reference the production encoders (each kind's
// `write`, beside its `decode`) are compared with, byte for byte (`RuleMessageTests`). Not
// production code: building a rule this way costs ~2.3 µs of object churn per rule.

extension CmpExpr {
    static func reference(op: NftCmpOp, sreg: NftRegister, data: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_CMP_SREG, register: sreg)
        e.set(NFTNL_EXPR_CMP_OP, u32: op.rawValue)
        e.set(NFTNL_EXPR_CMP_DATA, bytes: data)
    }
}

extension BitwiseExpr {
    static func reference(sreg: NftRegister, dreg: NftRegister, length: UInt32, mask: [UInt8], xor: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_BITWISE_SREG, register: sreg)
        e.set(NFTNL_EXPR_BITWISE_DREG, register: dreg)
        e.set(NFTNL_EXPR_BITWISE_LEN, u32: length)
        e.set(NFTNL_EXPR_BITWISE_MASK, bytes: mask)
        e.set(NFTNL_EXPR_BITWISE_XOR, bytes: xor)
    }
}

extension RangeExpr {
    static func reference(op: NftRangeOp, sreg: NftRegister, from: [UInt8], to: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_RANGE_SREG, register: sreg)
        e.set(NFTNL_EXPR_RANGE_OP, u32: op.rawValue)
        e.set(NFTNL_EXPR_RANGE_FROM_DATA, bytes: from)
        e.set(NFTNL_EXPR_RANGE_TO_DATA, bytes: to)
    }
}

extension ImmediateExpr {
    static func reference(verdict: NftVerdict, _ e: Expr) {
        e.set(NFTNL_EXPR_IMM_DREG, register: .verdict)
        e.set(NFTNL_EXPR_IMM_VERDICT, u32: UInt32(bitPattern: verdict.code))
        if let chain = verdict.chain { e.set(NFTNL_EXPR_IMM_CHAIN, string: chain) }
    }

    static func reference(dreg: NftRegister, data: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_IMM_DREG, register: dreg)
        e.set(NFTNL_EXPR_IMM_DATA, bytes: data)
    }
}

extension LookupExpr {
    static func reference(set: String, sreg: NftRegister, dreg: NftRegister?, invert: Bool, _ e: Expr) {
        e.set(NFTNL_EXPR_LOOKUP_SET, string: set)
        e.set(NFTNL_EXPR_LOOKUP_SREG, register: sreg)
        if let dreg { e.set(NFTNL_EXPR_LOOKUP_DREG, register: dreg) }
        if invert { e.set(NFTNL_EXPR_LOOKUP_FLAGS, u32: NFT_LOOKUP_F_INV.rawValue) }
    }
}

extension ObjrefExpr {
    static func reference(type: NftObjectType, name: String, _ e: Expr) {
        e.set(NFTNL_EXPR_OBJREF_IMM_TYPE, u32: type.rawValue)
        e.set(NFTNL_EXPR_OBJREF_IMM_NAME, string: name)
    }

    static func referenceMap(set: String, sreg: NftRegister, _ e: Expr) {
        e.set(NFTNL_EXPR_OBJREF_SET_SREG, register: sreg)
        e.set(NFTNL_EXPR_OBJREF_SET_NAME, string: set)
    }
}

extension MetaExpr {
    static func reference(key: NftMetaKey, dreg: NftRegister?, sreg: NftRegister?, _ e: Expr) {
        e.set(NFTNL_EXPR_META_KEY, u32: key.rawValue)
        if let dreg { e.set(NFTNL_EXPR_META_DREG, register: dreg) }
        if let sreg { e.set(NFTNL_EXPR_META_SREG, register: sreg) }
    }
}

extension PayloadExpr {
    static func reference(base: NftPayloadBase, offset: UInt32, length: UInt32, dreg: NftRegister, _ e: Expr) {
        e.set(NFTNL_EXPR_PAYLOAD_BASE, u32: base.rawValue)
        e.set(NFTNL_EXPR_PAYLOAD_OFFSET, u32: offset)
        e.set(NFTNL_EXPR_PAYLOAD_LEN, u32: length)
        e.set(NFTNL_EXPR_PAYLOAD_DREG, register: dreg)
    }

    static func referenceSet(base: NftPayloadBase, offset: UInt32, length: UInt32, sreg: NftRegister,
                          checksumType: UInt32, checksumOffset: UInt32, _ e: Expr) {
        e.set(NFTNL_EXPR_PAYLOAD_BASE, u32: base.rawValue)
        e.set(NFTNL_EXPR_PAYLOAD_OFFSET, u32: offset)
        e.set(NFTNL_EXPR_PAYLOAD_LEN, u32: length)
        e.set(NFTNL_EXPR_PAYLOAD_SREG, register: sreg)
        e.set(NFTNL_EXPR_PAYLOAD_CSUM_TYPE, u32: checksumType)
        e.set(NFTNL_EXPR_PAYLOAD_CSUM_OFFSET, u32: checksumOffset)
    }
}

extension ExthdrExpr {
    static func reference(_ header: NftExthdr, dreg: NftRegister, _ e: Expr) {
        e.set(NFTNL_EXPR_EXTHDR_TYPE, u8: header.type)
        e.set(NFTNL_EXPR_EXTHDR_OFFSET, u32: header.offset)
        e.set(NFTNL_EXPR_EXTHDR_LEN, u32: header.length)
        e.set(NFTNL_EXPR_EXTHDR_OP, u32: NFT_EXTHDR_OP_IPV6.rawValue)
        e.set(NFTNL_EXPR_EXTHDR_FLAGS, u32: header.presence ? NFT_EXTHDR_F_PRESENT.rawValue : 0)
        e.set(NFTNL_EXPR_EXTHDR_DREG, register: dreg)
    }
}

extension LimitExpr {
    static func reference(_ limit: NftLimit, _ e: Expr) {
        e.set(NFTNL_EXPR_LIMIT_RATE, u64: limit.rate)
        e.set(NFTNL_EXPR_LIMIT_UNIT, u64: limit.unit.rawValue)
        e.set(NFTNL_EXPR_LIMIT_BURST, u32: limit.burst)
        e.set(NFTNL_EXPR_LIMIT_TYPE, u32: limit.kind.rawValue)
        e.set(NFTNL_EXPR_LIMIT_FLAGS, u32: limit.over ? NFT_LIMIT_F_INV.rawValue : 0)
    }
}

extension LogExpr {
    static func reference(group: UInt16, prefix: String?, _ e: Expr) {
        e.set(NFTNL_EXPR_LOG_GROUP, u16: group)
        if let prefix { e.set(NFTNL_EXPR_LOG_PREFIX, string: prefix) }
    }
}

extension ExpressionCodec {
    /// A new libnftnl expression for `expression`; ownership passes to the caller (a rule takes
    /// it with nftnl_rule_add_expr).
    static func reference(_ expression: NftExpression) throws(ExpressionUnencodable) -> OpaquePointer? {
        let name: String
        switch expression {
        case .unknown(let kind): throw ExpressionUnencodable(reason: "expression \(kind) was read from the kernel and has no IR form, so it cannot be written back")
        case .meta, .metaSet: name = MetaExpr.name
        case .ct: name = CtExpr.name
        case .payload, .payloadSet: name = PayloadExpr.name
        case .exthdr: name = ExthdrExpr.name
        case .cmp: name = CmpExpr.name
        case .bitwise: name = BitwiseExpr.name
        case .range: name = RangeExpr.name
        case .lookup, .mapLookup: name = LookupExpr.name
        case .objref, .objrefMap: name = ObjrefExpr.name
        case .counter: name = CounterExpr.name
        case .limit: name = LimitExpr.name
        case .log: name = LogExpr.name
        case .immediateVerdict, .immediateData: name = ImmediateExpr.name
        }
        guard let raw = nftnl_expr_alloc(name) else { return nil }
        let e = Expr(raw: raw)
        switch expression {
        case .meta(let key, let dreg): MetaExpr.reference(key: key, dreg: dreg, sreg: nil, e)
        case .metaSet(let key, let sreg): MetaExpr.reference(key: key, dreg: nil, sreg: sreg, e)
        case .ct(let key, let dreg):
            e.set(NFTNL_EXPR_CT_KEY, u32: key.rawValue)
            e.set(NFTNL_EXPR_CT_DREG, register: dreg)
        case .payload(let base, let offset, let length, let dreg):
            PayloadExpr.reference(base: base, offset: offset, length: length, dreg: dreg, e)
        case .payloadSet(let base, let offset, let length, let sreg, let csumType, let csumOffset):
            PayloadExpr.referenceSet(base: base, offset: offset, length: length, sreg: sreg,
                                  checksumType: csumType, checksumOffset: csumOffset, e)
        case .exthdr(let header, let dreg): ExthdrExpr.reference(header, dreg: dreg, e)
        case .cmp(let op, let sreg, let data): CmpExpr.reference(op: op, sreg: sreg, data: data, e)
        case .bitwise(let sreg, let dreg, let length, let mask, let xor):
            BitwiseExpr.reference(sreg: sreg, dreg: dreg, length: length, mask: mask, xor: xor, e)
        case .range(let op, let sreg, let from, let to): RangeExpr.reference(op: op, sreg: sreg, from: from, to: to, e)
        case .lookup(let set, let sreg, let invert): LookupExpr.reference(set: set, sreg: sreg, dreg: nil, invert: invert, e)
        case .mapLookup(let set, let sreg, let dreg): LookupExpr.reference(set: set, sreg: sreg, dreg: dreg, invert: false, e)
        case .objref(let type, let objectName): ObjrefExpr.reference(type: type, name: objectName, e)
        case .objrefMap(let set, let sreg): ObjrefExpr.referenceMap(set: set, sreg: sreg, e)
        case .counter(let packets, let bytes): CounterExpr.encode(packets: packets, bytes: bytes, e)
        case .limit(let limit): LimitExpr.reference(limit, e)
        case .log(let group, let prefix): LogExpr.reference(group: group, prefix: prefix, e)
        case .immediateVerdict(let verdict): ImmediateExpr.reference(verdict: verdict, e)
        case .immediateData(let dreg, let data): ImmediateExpr.reference(dreg: dreg, data: data, e)
        case .unknown: break
        }
        return raw
    }
}

extension TableEncoder {
    /// The same message built through libnftnl's rule and expression objects: the reference the
    /// direct encoding (`RuleMessage`) is tested against, byte for byte.
    static func libnftnlRule(_ rule: NftRule, table: String, family: UInt8, chain: String, chainIndex: Int, index: Int,
                             batch: BatchBuffer, before: UInt64? = nil, echo: Bool = false) throws(NetlinkError) {
        guard let r = nftnl_rule_alloc() else { throw .system(call: "nftnl_rule_alloc", errno: ENOMEM) }
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, id(NFTNL_RULE_TABLE), table)
        nftnl_rule_set_str(r, id(NFTNL_RULE_CHAIN), chain)
        nftnl_rule_set_u32(r, id(NFTNL_RULE_FAMILY), UInt32(family))
        if let before { nftnl_rule_set_u64(r, id(NFTNL_RULE_POSITION), before) }
        var estimate = 256 + table.utf8.count + chain.utf8.count
        if rule.comment != nil || rule.routeComment != nil {
            if let problem = RuleComment.problem(rule) {
                throw .unencodable(object: .rule(chain: chain, index: index, comment: rule.comment), reason: problem)
            }
            RuleComment.encode(rule, into: r)
            estimate += UserdataComment.size(rule.comment, rule.routeComment) + 8
        }
        for expression in rule.expressions {
            let encoded: OpaquePointer?
            do throws(ExpressionUnencodable) {
                encoded = try ExpressionCodec.reference(expression)
            } catch {
                throw .unencodable(object: .rule(chain: chain, index: index, comment: rule.comment), reason: error.reason)
            }
            guard let e = encoded else {
                throw .unencodable(object: .rule(chain: chain, index: index, comment: rule.comment),
                                   reason: "libnftnl could not allocate \(expression)")
            }
            nftnl_rule_add_expr(r, e)
            estimate += ExpressionCodec.sizeEstimate(expression)
        }
        let flags = NLM_F_CREATE | (echo ? NLM_F_ECHO : 0) | (before == nil ? NLM_F_APPEND : 0)
        let nlh = batch.begin(NFT_MSG_NEWRULE, family: family, flags: flags,
                              origin: .rule(chain: chainIndex, index: index), estimate: estimate)
        nftnl_rule_nlmsg_build_payload(nlh, r)
        batch.finish(nlh)
    }
}
