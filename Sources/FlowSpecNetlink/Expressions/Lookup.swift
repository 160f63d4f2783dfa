import CNftnl
import FlowSpecCompiler

/// `lookup`: set membership (optionally inverted, NFT_LOOKUP_F_INV), or with a destination
/// register a map lookup (the verdict register for verdict maps).
enum LookupExpr {
    static let name = "lookup"

    static func encode(set: String, sreg: NftRegister, dreg: NftRegister?, invert: Bool, _ e: Expr) {
        e.set(NFTNL_EXPR_LOOKUP_SET, string: set)
        e.set(NFTNL_EXPR_LOOKUP_SREG, register: sreg)
        if let dreg { e.set(NFTNL_EXPR_LOOKUP_DREG, register: dreg) }
        if invert { e.set(NFTNL_EXPR_LOOKUP_FLAGS, u32: NFT_LOOKUP_F_INV.rawValue) }
    }

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

    static func encode(type: NftObjectType, name: String, _ e: Expr) {
        e.set(NFTNL_EXPR_OBJREF_IMM_TYPE, u32: type.rawValue)
        e.set(NFTNL_EXPR_OBJREF_IMM_NAME, string: name)
    }

    static func encodeMap(set: String, sreg: NftRegister, _ e: Expr) {
        e.set(NFTNL_EXPR_OBJREF_SET_SREG, register: sreg)
        e.set(NFTNL_EXPR_OBJREF_SET_NAME, string: set)
    }

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
