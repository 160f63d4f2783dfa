import CNftnl
import FlowSpecCompiler

/// `meta`: loads a metadata key (nfproto, l4proto, length, ...) into a register, or sets it
/// (`meta mark set`) from one.
enum MetaExpr {
    static let name = "meta"

    static func encode(key: NftMetaKey, dreg: NftRegister?, sreg: NftRegister?, _ e: Expr) {
        e.set(NFTNL_EXPR_META_KEY, u32: key.rawValue)
        if let dreg { e.set(NFTNL_EXPR_META_DREG, register: dreg) }
        if let sreg { e.set(NFTNL_EXPR_META_SREG, register: sreg) }
    }

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let raw = e.u32(NFTNL_EXPR_META_KEY)
        guard let key = NftMetaKey(rawValue: raw) else { throw e.invalid("meta key \(raw) is not in NftMetaKey") }
        if e.has(NFTNL_EXPR_META_SREG) { return .metaSet(key: key, sreg: e.register(NFTNL_EXPR_META_SREG)) }
        return .meta(key: key, dreg: e.register(NFTNL_EXPR_META_DREG))
    }
}
