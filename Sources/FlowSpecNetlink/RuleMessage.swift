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
/// Tables, chains, sets, elements and objects (a few messages per table) still go through
/// libnftnl.
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
        if let comment = rule.comment { userdata(comment) }
        if rule.expressions.isEmpty { return }
        guard let list = nestStart(NFTA_RULE_EXPRESSIONS) else { return }
        for e in rule.expressions {
            guard let element = nestStart(NFTA_LIST_ELEM) else { return }
            try expression(e)
            mnl_attr_nest_end(nlh, element)
        }
        mnl_attr_nest_end(nlh, list)
    }

    /// One expression: NFTA_EXPR_NAME, then NFTA_EXPR_DATA with the kind's attributes in the
    /// order of libnftnl's `nftnl_expr_<kind>_build`.
    private mutating func expression(_ e: NftExpression) throws(ExpressionUnencodable) {
        switch e {
        case .meta(let key, let dreg):
            data(Self.meta) { w in w.u32(NFTA_META_KEY, key.rawValue); w.u32(NFTA_META_DREG, dreg.rawValue) }
        case .metaSet(let key, let sreg):
            data(Self.meta) { w in w.u32(NFTA_META_KEY, key.rawValue); w.u32(NFTA_META_SREG, sreg.rawValue) }
        case .payload(let base, let offset, let length, let dreg):
            data(Self.payload) { w in
                w.u32(NFTA_PAYLOAD_DREG, dreg.rawValue); w.u32(NFTA_PAYLOAD_BASE, base.rawValue)
                w.u32(NFTA_PAYLOAD_OFFSET, offset); w.u32(NFTA_PAYLOAD_LEN, length)
            }
        case .payloadSet(let base, let offset, let length, let sreg, let checksumType, let checksumOffset):
            data(Self.payload) { w in
                w.u32(NFTA_PAYLOAD_SREG, sreg.rawValue); w.u32(NFTA_PAYLOAD_BASE, base.rawValue)
                w.u32(NFTA_PAYLOAD_OFFSET, offset); w.u32(NFTA_PAYLOAD_LEN, length)
                w.u32(NFTA_PAYLOAD_CSUM_TYPE, checksumType); w.u32(NFTA_PAYLOAD_CSUM_OFFSET, checksumOffset)
            }
        case .exthdr(let header, let dreg):
            data(Self.exthdr) { w in
                w.u32(NFTA_EXTHDR_DREG, dreg.rawValue); w.u8(NFTA_EXTHDR_TYPE, header.type)
                w.u32(NFTA_EXTHDR_OFFSET, header.offset); w.u32(NFTA_EXTHDR_LEN, header.length)
                w.u32(NFTA_EXTHDR_OP, NFT_EXTHDR_OP_IPV6.rawValue)
                w.u32(NFTA_EXTHDR_FLAGS, header.presence ? NFT_EXTHDR_F_PRESENT.rawValue : 0)
            }
        case .cmp(let op, let sreg, let value):
            data(Self.cmp) { w in
                w.u32(NFTA_CMP_SREG, sreg.rawValue); w.u32(NFTA_CMP_OP, op.rawValue); w.value(NFTA_CMP_DATA, value)
            }
        case .bitwise(let sreg, let dreg, let length, let mask, let xor):
            data(Self.bitwise) { w in
                w.u32(NFTA_BITWISE_SREG, sreg.rawValue); w.u32(NFTA_BITWISE_DREG, dreg.rawValue)
                w.u32(NFTA_BITWISE_LEN, length); w.value(NFTA_BITWISE_MASK, mask); w.value(NFTA_BITWISE_XOR, xor)
            }
        case .range(let op, let sreg, let from, let to):
            data(Self.range) { w in
                w.u32(NFTA_RANGE_SREG, sreg.rawValue); w.u32(NFTA_RANGE_OP, op.rawValue)
                w.value(NFTA_RANGE_FROM_DATA, from); w.value(NFTA_RANGE_TO_DATA, to)
            }
        case .lookup(let set, let sreg, let invert):
            data(Self.lookup) { w in
                w.u32(NFTA_LOOKUP_SREG, sreg.rawValue); w.string(NFTA_LOOKUP_SET, set, nul: true)
                if invert { w.u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV.rawValue) }
            }
        case .mapLookup(let set, let sreg, let dreg):
            data(Self.lookup) { w in
                w.u32(NFTA_LOOKUP_SREG, sreg.rawValue); w.u32(NFTA_LOOKUP_DREG, dreg.rawValue)
                w.string(NFTA_LOOKUP_SET, set, nul: true)
            }
        case .objref(let type, let name):
            // libnftnl writes object and set names of objref without their NUL.
            data(Self.objref) { w in w.u32(NFTA_OBJREF_IMM_TYPE, type.rawValue); w.string(NFTA_OBJREF_IMM_NAME, name, nul: false) }
        case .objrefMap(let set, let sreg):
            data(Self.objref) { w in w.u32(NFTA_OBJREF_SET_SREG, sreg.rawValue); w.string(NFTA_OBJREF_SET_NAME, set, nul: false) }
        case .counter(let packets, let bytes):
            data(Self.counter) { w in w.u64(NFTA_COUNTER_BYTES, bytes); w.u64(NFTA_COUNTER_PACKETS, packets) }
        case .limit(let limit):
            data(Self.limit) { w in
                w.u64(NFTA_LIMIT_RATE, limit.rate); w.u64(NFTA_LIMIT_UNIT, limit.unit.rawValue)
                w.u32(NFTA_LIMIT_BURST, limit.burst); w.u32(NFTA_LIMIT_TYPE, limit.kind.rawValue)
                w.u32(NFTA_LIMIT_FLAGS, limit.over ? NFT_LIMIT_F_INV.rawValue : 0)
            }
        case .log(let group, let prefix):
            data(Self.log) { w in
                if let prefix { w.string(NFTA_LOG_PREFIX, prefix, nul: true) }
                w.u16(NFTA_LOG_GROUP, group)
            }
        case .immediateVerdict(let verdict):
            data(Self.immediate) { w in
                w.u32(NFTA_IMMEDIATE_DREG, NftRegister.verdict.rawValue)
                guard let outer = w.nestStart(NFTA_IMMEDIATE_DATA), let inner = w.nestStart(NFTA_DATA_VERDICT) else { return }
                w.u32(NFTA_VERDICT_CODE, UInt32(bitPattern: verdict.code))
                if let chain = verdict.chain { w.string(NFTA_VERDICT_CHAIN, chain, nul: true) }
                // libnftnl closes the outer nest first; both end at the same place.
                mnl_attr_nest_end(w.nlh, outer)
                mnl_attr_nest_end(w.nlh, inner)
            }
        case .immediateData(let dreg, let value):
            data(Self.immediate) { w in w.u32(NFTA_IMMEDIATE_DREG, dreg.rawValue); w.value(NFTA_IMMEDIATE_DATA, value) }
        case .unknown(let kind):
            throw ExpressionUnencodable(reason: "expression \(kind) was read from the kernel and has no IR form, so it cannot be written back")
        }
    }

    // Expression names with their NUL, as NFTA_EXPR_NAME carries them.
    static let meta = Array("meta\0".utf8), payload = Array("payload\0".utf8), exthdr = Array("exthdr\0".utf8)
    static let cmp = Array("cmp\0".utf8), bitwise = Array("bitwise\0".utf8), range = Array("range\0".utf8)
    static let lookup = Array("lookup\0".utf8), objref = Array("objref\0".utf8), counter = Array("counter\0".utf8)
    static let limit = Array("limit\0".utf8), log = Array("log\0".utf8), immediate = Array("immediate\0".utf8)

    /// NFTA_EXPR_NAME and the NFTA_EXPR_DATA nest around `body`.
    private mutating func data(_ name: [UInt8], _ body: (inout RuleMessage) -> Void) {
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

    /// The comment as userdata (see `RuleComment`): type, length, text, NUL.
    private mutating func userdata(_ comment: String) {
        guard fits else { return }
        let (nlh, room) = (nlh, room)
        fits = UserdataComment.withTLV(comment, type: NFTNL_UDATA_RULE_COMMENT.rawValue) { tlv in
            mnl_attr_put_check(nlh, room, UInt16(NFTA_RULE_USERDATA.rawValue), tlv.count, tlv.baseAddress)
        }
    }
}
