import CNftnl
import FlowSpecCompiler

/// `immediate`: a verdict (into the verdict register) or constant data into a register.
enum ImmediateExpr {
    static let name = "immediate"

    static func encode(verdict: NftVerdict, _ e: Expr) {
        e.set(NFTNL_EXPR_IMM_DREG, register: .verdict)
        e.set(NFTNL_EXPR_IMM_VERDICT, u32: UInt32(bitPattern: verdict.code))
        if let chain = verdict.chain { e.set(NFTNL_EXPR_IMM_CHAIN, string: chain) }
    }

    static func encode(dreg: NftRegister, data: [UInt8], _ e: Expr) {
        e.set(NFTNL_EXPR_IMM_DREG, register: dreg)
        e.set(NFTNL_EXPR_IMM_DATA, bytes: data)
    }

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let dreg = e.register(NFTNL_EXPR_IMM_DREG)
        if dreg == .verdict || e.has(NFTNL_EXPR_IMM_VERDICT) {
            return .immediateVerdict(try NftVerdict(code: Int32(bitPattern: e.u32(NFTNL_EXPR_IMM_VERDICT)),
                                                    chain: e.string(NFTNL_EXPR_IMM_CHAIN)))
        }
        return .immediateData(dreg: dreg, data: e.bytes(NFTNL_EXPR_IMM_DATA))
    }
}
