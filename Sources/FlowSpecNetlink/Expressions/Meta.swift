import CNftnl
import FlowSpecCompiler

/// `meta`: loads a metadata key (nfproto, l4proto, length, ...) into a register, or sets it
/// (`meta mark set`) from one.
enum MetaExpr {
    static let name = "meta"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        let raw = e.u32(NFTNL_EXPR_META_KEY)
        guard let key = NftMetaKey(rawValue: raw) else { throw e.invalid("meta key \(raw) is not in NftMetaKey") }
        if e.has(NFTNL_EXPR_META_SREG) { return .metaSet(key: key, sreg: e.register(NFTNL_EXPR_META_SREG)) }
        return .meta(key: key, dreg: e.register(NFTNL_EXPR_META_DREG))
    }
}

extension MetaExpr {
    static let nameBytes = Array("meta\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_meta_build`.
    static func write(key: NftMetaKey, dreg: NftRegister?, sreg: NftRegister?, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_META_KEY, key.rawValue)
            if let dreg { w.u32(NFTA_META_DREG, dreg.rawValue) }
            if let sreg { w.u32(NFTA_META_SREG, sreg.rawValue) }
        }
    }
}
