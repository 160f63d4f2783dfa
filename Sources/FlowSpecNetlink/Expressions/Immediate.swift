import CNftnl
import FlowSpecCompiler

/// `immediate`: a verdict (into the verdict register) or constant data into a register.
enum ImmediateExpr {
    static let name = "immediate"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let dreg = e.register(NFTNL_EXPR_IMM_DREG)
        if dreg == .verdict || e.has(NFTNL_EXPR_IMM_VERDICT) {
            return .immediateVerdict(try NftVerdict(code: Int32(bitPattern: e.u32(NFTNL_EXPR_IMM_VERDICT)),
                                                    chain: e.string(NFTNL_EXPR_IMM_CHAIN)))
        }
        return .immediateData(dreg: dreg, data: e.bytes(NFTNL_EXPR_IMM_DATA))
    }
}

extension ImmediateExpr {
    static let nameBytes = Array("immediate\0".utf8)

    /// The production encoders: the attributes in the order of libnftnl's `nftnl_expr_immediate_build`.
    static func write(verdict: NftVerdict, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_IMMEDIATE_DREG, NftRegister.verdict.rawValue)
            guard let outer = w.nestStart(NFTA_IMMEDIATE_DATA), let inner = w.nestStart(NFTA_DATA_VERDICT) else { return }
            w.u32(NFTA_VERDICT_CODE, UInt32(bitPattern: verdict.code))
            if let chain = verdict.chain { w.string(NFTA_VERDICT_CHAIN, chain, nul: true) }
            // libnftnl closes the outer nest first; both end at the same place.
            mnl_attr_nest_end(w.nlh, outer)
            mnl_attr_nest_end(w.nlh, inner)
        }
    }

    static func write(dreg: NftRegister, data: [UInt8], into m: inout RuleMessage) {
        m.data(nameBytes) { w in w.u32(NFTA_IMMEDIATE_DREG, dreg.rawValue); w.value(NFTA_IMMEDIATE_DATA, data) }
    }
}
