import CNftnl
import FlowSpecCompiler

/// `lookup`: set membership (optionally inverted, NFT_LOOKUP_F_INV), or with a destination
/// register a map lookup (the verdict register for verdict maps).
enum LookupExpr {
    static let name = "lookup"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        guard let set = e.string(NFTNL_EXPR_LOOKUP_SET) else { throw e.invalid("lookup without a set name") }
        let sreg = e.register(NFTNL_EXPR_LOOKUP_SREG)
        let invert = e.u32(NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV.rawValue != 0
        if e.has(NFTNL_EXPR_LOOKUP_DREG) {
            if invert { throw e.invalid("an inverted map lookup is not in the IR") }
            return .mapLookup(set: set, sreg: sreg, dreg: e.register(NFTNL_EXPR_LOOKUP_DREG))
        }
        return .lookup(set: set, sreg: sreg, invert: invert)
    }
}

/// `objref`: applies a named stateful object (counter, limit), either by name or through an
/// object map keyed by a register.
enum ObjrefExpr {
    static let name = "objref"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        if let set = e.string(NFTNL_EXPR_OBJREF_SET_NAME) {
            return .objrefMap(set: set, sreg: e.register(NFTNL_EXPR_OBJREF_SET_SREG))
        }
        let raw = e.u32(NFTNL_EXPR_OBJREF_IMM_TYPE)
        guard let type = NftObjectType(rawValue: raw) else { throw e.invalid("object type \(raw)") }
        guard let name = e.string(NFTNL_EXPR_OBJREF_IMM_NAME) else { throw e.invalid("objref without a name") }
        return .objref(type: type, name: name)
    }
}

extension LookupExpr {
    static let nameBytes = Array("lookup\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_lookup_build`.
    static func write(set: String, sreg: NftRegister, dreg: NftRegister?, invert: Bool, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u32(NFTA_LOOKUP_SREG, sreg.rawValue)
            if let dreg { w.u32(NFTA_LOOKUP_DREG, dreg.rawValue) }
            w.string(NFTA_LOOKUP_SET, set, nul: true)
            if invert { w.u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV.rawValue) }
        }
    }
}

extension ObjrefExpr {
    static let nameBytes = Array("objref\0".utf8)

    /// The production encoders: the attributes in the order of libnftnl's `nftnl_expr_objref_build`,
    /// which writes object and set names without their NUL.
    static func write(type: NftObjectType, name: String, into m: inout RuleMessage) {
        m.data(nameBytes) { w in w.u32(NFTA_OBJREF_IMM_TYPE, type.rawValue); w.string(NFTA_OBJREF_IMM_NAME, name, nul: false) }
    }

    static func writeMap(set: String, sreg: NftRegister, into m: inout RuleMessage) {
        m.data(nameBytes) { w in w.u32(NFTA_OBJREF_SET_SREG, sreg.rawValue); w.string(NFTA_OBJREF_SET_NAME, set, nul: false) }
    }
}
