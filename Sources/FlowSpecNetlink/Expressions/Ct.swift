import CNftnl
import FlowSpecCompiler

/// `ct`: loads a connection tracking key (the state) into a register.
enum CtExpr {
    static let name = "ct"
    static let nameBytes = Array("ct\0".utf8)

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let raw = e.u32(NFTNL_EXPR_CT_KEY)
        guard let key = NftCtKey(rawValue: raw) else { throw e.invalid("ct key \(raw) is not in NftCtKey") }
        guard !e.has(NFTNL_EXPR_CT_SREG), !e.has(NFTNL_EXPR_CT_DIR) else { throw e.invalid("ct set or a direction") }
        return .ct(key: key, dreg: e.register(NFTNL_EXPR_CT_DREG))
    }

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_ct_build`.
    static func write(key: NftCtKey, dreg: NftRegister, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_CT_KEY, key.rawValue)
            w.u32(NFTA_CT_DREG, dreg.rawValue)
        }
    }
}
