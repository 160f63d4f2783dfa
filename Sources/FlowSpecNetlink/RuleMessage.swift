import CNftnl
import FlowSpecCompiler

/// The payload of a NEWRULE message written straight into the batch with libmnl, attribute for
/// attribute as libnftnl 1.2's `nftnl_rule_nlmsg_build_payload` writes it: the same attributes,
/// in the same order, with the same values (tests compare the two byte for byte).
///
/// Why not libnftnl's rule objects: for every rule they allocate a rule and one object per
/// expression (found by name in a list of ~40 expression types), copy every string and byte
/// string into them, build the message and free it all again. That was ~2.3 µs per rule, about
/// 0.28 s of the 100k-route `apply` (a tenth of it, as much as the compiler); writing the
/// attributes directly costs a fraction of that. Every write goes through libmnl's `_check`
/// variants against the room reserved for the message, so a wrong estimate fails cleanly
/// instead of writing past it.
///
/// Each expression kind's attributes are written by the kind's encoder (`MetaExpr.write`, ...),
/// beside its decoder in Expressions/. Tables, chains, sets, elements and objects (a few
/// messages per table) still go through libnftnl.
struct RuleMessage {
    let nlh: UnsafeMutablePointer<nlmsghdr>
    /// Bytes reserved for the message from `nlh` on.
    let room: Int
    /// False once a write did not fit.
    private(set) var fits = true

    init(_ nlh: UnsafeMutablePointer<nlmsghdr>, room: Int) {
        self.nlh = nlh
        self.room = room
    }

    /// Writes the rule's attributes: table, chain, position, comment, expressions.
    /// `table` and `chain` are the names with their terminating NUL.
    mutating func write(_ rule: NftRule, table: [UInt8], chain: [UInt8], before: UInt64?) throws(ExpressionUnencodable) {
        bytes(NFTA_RULE_TABLE, table)
        bytes(NFTA_RULE_CHAIN, chain)
        if let before { u64(NFTA_RULE_POSITION, before) }
        if rule.comment != nil || rule.routeComment != nil { userdata(rule.comment, rule.routeComment) }
        if rule.expressions.isEmpty { return }
        guard let list = nestStart(NFTA_RULE_EXPRESSIONS) else { return }
        for e in rule.expressions {
            guard let element = nestStart(NFTA_LIST_ELEM) else { return }
            try expression(e)
            mnl_attr_nest_end(nlh, element)
        }
        mnl_attr_nest_end(nlh, list)
    }

    /// One expression: NFTA_EXPR_NAME, then NFTA_EXPR_DATA with the kind's attributes, written by
    /// the kind's encoder, which lives beside its decoder (Expressions/).
    private mutating func expression(_ e: NftExpression) throws(ExpressionUnencodable) {
        switch e {
        case .meta(let key, let dreg): MetaExpr.write(key: key, dreg: dreg, sreg: nil, into: &self)
        case .ct(let key, let dreg): CtExpr.write(key: key, dreg: dreg, into: &self)
        case .metaSet(let key, let sreg): MetaExpr.write(key: key, dreg: nil, sreg: sreg, into: &self)
        case .payload(let base, let offset, let length, let dreg):
            PayloadExpr.write(base: base, offset: offset, length: length, dreg: dreg, into: &self)
        case .payloadSet(let base, let offset, let length, let sreg, let checksumType, let checksumOffset):
            PayloadExpr.writeSet(base: base, offset: offset, length: length, sreg: sreg, checksumType: checksumType,
                                 checksumOffset: checksumOffset, into: &self)
        case .exthdr(let header, let dreg): ExthdrExpr.write(header, dreg: dreg, into: &self)
        case .cmp(let op, let sreg, let value): CmpExpr.write(op: op, sreg: sreg, data: value, into: &self)
        case .bitwise(let sreg, let dreg, let length, let mask, let xor):
            BitwiseExpr.write(sreg: sreg, dreg: dreg, length: length, mask: mask, xor: xor, into: &self)
        case .range(let op, let sreg, let from, let to): RangeExpr.write(op: op, sreg: sreg, from: from, to: to, into: &self)
        case .lookup(let set, let sreg, let invert): LookupExpr.write(set: set, sreg: sreg, dreg: nil, invert: invert, into: &self)
        case .mapLookup(let set, let sreg, let dreg): LookupExpr.write(set: set, sreg: sreg, dreg: dreg, invert: false, into: &self)
        case .objref(let type, let name): ObjrefExpr.write(type: type, name: name, into: &self)
        case .objrefMap(let set, let sreg): ObjrefExpr.writeMap(set: set, sreg: sreg, into: &self)
        case .counter(let packets, let bytes): CounterExpr.write(packets: packets, bytes: bytes, into: &self)
        case .limit(let limit): LimitExpr.write(limit, into: &self)
        case .log(let group, let prefix): LogExpr.write(group: group, prefix: prefix, into: &self)
        case .immediateVerdict(let verdict): ImmediateExpr.write(verdict: verdict, into: &self)
        case .immediateData(let dreg, let value): ImmediateExpr.write(dreg: dreg, data: value, into: &self)
        case .unknown(let kind):
            throw ExpressionUnencodable(reason: "expression \(kind) was read from the kernel and has no IR form, so it cannot be written back")
        }
    }

    /// NFTA_EXPR_NAME and the NFTA_EXPR_DATA nest around `body` (each kind's `write`).
    mutating func data(_ name: [UInt8], _ body: (inout RuleMessage) -> Void) {
        bytes(NFTA_EXPR_NAME, name)
        guard let nest = nestStart(NFTA_EXPR_DATA) else { return }
        body(&self)
        mnl_attr_nest_end(nlh, nest)
    }

    // MARK: attributes (libmnl's checked puts; values in network order, as libnftnl sends them)

    private static func attribute<A: RawRepresentable>(_ a: A) -> UInt16 where A.RawValue == UInt32 { UInt16(a.rawValue) }

    mutating func u8<A: RawRepresentable>(_ a: A, _ v: UInt8) where A.RawValue == UInt32 {
        fits = fits && mnl_attr_put_u8_check(nlh, room, Self.attribute(a), v)
    }
    mutating func u16<A: RawRepresentable>(_ a: A, _ v: UInt16) where A.RawValue == UInt32 {
        fits = fits && mnl_attr_put_u16_check(nlh, room, Self.attribute(a), v.bigEndian)
    }
    mutating func u32<A: RawRepresentable>(_ a: A, _ v: UInt32) where A.RawValue == UInt32 {
        fits = fits && mnl_attr_put_u32_check(nlh, room, Self.attribute(a), v.bigEndian)
    }
    mutating func u64<A: RawRepresentable>(_ a: A, _ v: UInt64) where A.RawValue == UInt32 {
        fits = fits && mnl_attr_put_u64_check(nlh, room, Self.attribute(a), v.bigEndian)
    }
    mutating func bytes<A: RawRepresentable>(_ a: A, _ data: [UInt8]) where A.RawValue == UInt32 {
        data.withUnsafeBytes { fits = fits && mnl_attr_put_check(nlh, room, Self.attribute(a), $0.count, $0.baseAddress) }
    }
    /// A string attribute, with its NUL (NLA_STRING as libnftnl's `mnl_attr_put_strz`) or without.
    mutating func string<A: RawRepresentable>(_ a: A, _ s: String, nul: Bool) where A.RawValue == UInt32 {
        s.withCString { c in
            fits = fits && mnl_attr_put_check(nlh, room, Self.attribute(a), s.utf8.count + (nul ? 1 : 0), c)
        }
    }
    /// `a` { NFTA_DATA_VALUE `data` }: how cmp, bitwise, range and immediate carry bytes.
    mutating func value<A: RawRepresentable>(_ a: A, _ data: [UInt8]) where A.RawValue == UInt32 {
        guard let nest = nestStart(a) else { return }
        bytes(NFTA_DATA_VALUE, data)
        mnl_attr_nest_end(nlh, nest)
    }
    mutating func nestStart<A: RawRepresentable>(_ a: A) -> UnsafeMutablePointer<nlattr>? where A.RawValue == UInt32 {
        guard fits, let nest = mnl_attr_nest_start_check(nlh, room, Self.attribute(a)) else { fits = false; return nil }
        return nest
    }

    /// The comments as userdata (see `RuleComment`): type, length, text, NUL, each.
    private mutating func userdata(_ comment: String?, _ routeComment: String?) {
        guard fits else { return }
        let (nlh, room) = (nlh, room)
        fits = UserdataComment.withTLVs(comment, routeComment: routeComment, type: NFTNL_UDATA_RULE_COMMENT.rawValue) { tlv in
            mnl_attr_put_check(nlh, room, UInt16(NFTA_RULE_USERDATA.rawValue), tlv.count, tlv.baseAddress)
        }
    }
}
