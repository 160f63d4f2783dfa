import CNftnl
import FlowSpecCompiler
import Glibc

// libnftnl attribute ids as the UInt16 its setters take.
@inline(__always) func id(_ a: nftnl_table_attr) -> UInt16 { UInt16(a.rawValue) }
@inline(__always) func id(_ a: nftnl_chain_attr) -> UInt16 { UInt16(a.rawValue) }
@inline(__always) func id(_ a: nftnl_rule_attr) -> UInt16 { UInt16(a.rawValue) }
@inline(__always) func id(_ a: nftnl_set_attr) -> UInt16 { UInt16(a.rawValue) }
@inline(__always) func id(_ a: Int) -> UInt16 { UInt16(a) }

/// Writes the messages for one `NftTable` into a batch, one libnftnl object per message,
/// freed as soon as its payload is written (so memory stays flat however many rules).
struct TableEncoder {
    let table: NftTable
    let batch: BatchBuffer
    var family: UInt8 { table.family.rawValue }

    /// NEWTABLE (create if absent) or DELTABLE for this table.
    /// A table message; `stamp` goes into the table's userdata (`TableStamp`).
    func tableMessage(_ type: nf_tables_msg_types, flags: Int32, stamp: UInt64? = nil) throws(NetlinkError) {
        guard let t = nftnl_table_alloc() else { throw .system(call: "nftnl_table_alloc", errno: ENOMEM) }
        defer { nftnl_table_free(t) }
        nftnl_table_set_str(t, id(NFTNL_TABLE_NAME), table.name)
        nftnl_table_set_u32(t, id(NFTNL_TABLE_FAMILY), UInt32(family))
        if let stamp {
            let userdata = TableStamp.userdata(stamp)
            userdata.withUnsafeBytes { _ = nftnl_table_set_data(t, id(NFTNL_TABLE_USERDATA), $0.baseAddress, UInt32($0.count)) }
        }
        let nlh = batch.begin(type, family: family, flags: flags, origin: .table, estimate: 256 + table.name.utf8.count)
        nftnl_table_nlmsg_build_payload(nlh, t)
        batch.finish(nlh)
    }

    func chain(_ index: Int) throws(NetlinkError) {
        let chain = table.chains[index]
        guard let c = nftnl_chain_alloc() else { throw .system(call: "nftnl_chain_alloc", errno: ENOMEM) }
        defer { nftnl_chain_free(c) }
        nftnl_chain_set_str(c, id(NFTNL_CHAIN_TABLE), table.name)
        nftnl_chain_set_str(c, id(NFTNL_CHAIN_NAME), chain.name)
        nftnl_chain_set_u32(c, id(NFTNL_CHAIN_FAMILY), UInt32(family))
        if let base = chain.base {
            nftnl_chain_set_u32(c, id(NFTNL_CHAIN_HOOKNUM), base.hook.rawValue)
            nftnl_chain_set_s32(c, id(NFTNL_CHAIN_PRIO), base.priority)
            nftnl_chain_set_u32(c, id(NFTNL_CHAIN_POLICY), base.policy.rawValue)
            nftnl_chain_set_str(c, id(NFTNL_CHAIN_TYPE), base.type)
            // As nft sends them: one device as NFTA_HOOK_DEV, more as NFTA_HOOK_DEVS.
            if base.devices.count == 1 {
                nftnl_chain_set_str(c, id(NFTNL_CHAIN_DEV), base.devices[0])
            } else if !base.devices.isEmpty {
                // A NULL-terminated array of names; libnftnl copies them.
                var names: [UnsafePointer<CChar>?] = base.devices.map { UnsafePointer(strdup($0)) } + [nil]
                defer { for n in names { free(UnsafeMutablePointer(mutating: n)) } }
                _ = names.withUnsafeMutableBufferPointer { nftnl_chain_set_array(c, id(NFTNL_CHAIN_DEVICES), $0.baseAddress) }
            }
            if base.offload { nftnl_chain_set_u32(c, id(NFTNL_CHAIN_FLAGS), UInt32(NFT_CHAIN_HW_OFFLOAD.rawValue)) }
            // Both set: libnftnl sends NFTA_CHAIN_COUNTERS, and the kernel keeps the chain's stats.
            if base.counters {
                nftnl_chain_set_u64(c, id(NFTNL_CHAIN_PACKETS), 0)
                nftnl_chain_set_u64(c, id(NFTNL_CHAIN_BYTES), 0)
            }
        }
        let nlh = batch.begin(NFT_MSG_NEWCHAIN, family: family, flags: NLM_F_CREATE, origin: .chain(index),
                              estimate: 512 + table.name.utf8.count + chain.name.utf8.count)
        nftnl_chain_nlmsg_build_payload(nlh, c)
        batch.finish(nlh)
    }

    func object(_ index: Int) throws(NetlinkError) {
        let object = table.objects[index]
        guard let o = nftnl_obj_alloc() else { throw .system(call: "nftnl_obj_alloc", errno: ENOMEM) }
        defer { nftnl_obj_free(o) }
        nftnl_obj_set_str(o, id(NFTNL_OBJ_TABLE), table.name)
        nftnl_obj_set_str(o, id(NFTNL_OBJ_NAME), object.name)
        nftnl_obj_set_u32(o, id(NFTNL_OBJ_FAMILY), UInt32(family))
        nftnl_obj_set_u32(o, id(NFTNL_OBJ_TYPE), object.type.rawValue)
        ObjectCodec.encode(object, o)
        let nlh = batch.begin(NFT_MSG_NEWOBJ, family: family, flags: NLM_F_CREATE, origin: .object(index),
                              estimate: 512 + table.name.utf8.count + object.name.utf8.count)
        nftnl_obj_nlmsg_build_payload(nlh, o)
        batch.finish(nlh)
    }

    /// DELRULE for the rule with `handle` in `chain` (`index`, `comment`: what an error names).
    func deleteRule(chain: String, handle: UInt64, index: Int, comment: String) throws(NetlinkError) {
        guard let r = nftnl_rule_alloc() else { throw .system(call: "nftnl_rule_alloc", errno: ENOMEM) }
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, id(NFTNL_RULE_TABLE), table.name)
        nftnl_rule_set_str(r, id(NFTNL_RULE_CHAIN), chain)
        nftnl_rule_set_u64(r, id(NFTNL_RULE_HANDLE), handle)
        let nlh = batch.begin(NFT_MSG_DELRULE, family: family, flags: 0,
                              origin: .removal(.rule(chain: chain, index: index, comment: comment)), estimate: 512)
        nftnl_rule_nlmsg_build_payload(nlh, r)
        batch.finish(nlh)
    }

    /// DELSET for the set `name` of this table.
    func deleteSet(_ name: String) throws(NetlinkError) {
        guard let s = nftnl_set_alloc() else { throw .system(call: "nftnl_set_alloc", errno: ENOMEM) }
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, id(NFTNL_SET_TABLE), table.name)
        nftnl_set_set_str(s, id(NFTNL_SET_NAME), name)
        let nlh = batch.begin(NFT_MSG_DELSET, family: family, flags: 0, origin: .removal(.set(name)), estimate: 512)
        nftnl_set_nlmsg_build_payload(nlh, s)
        batch.finish(nlh)
    }

    /// DELOBJ for the named object `name` of `type` of this table.
    func deleteObject(_ name: String, type: NftObjectType) throws(NetlinkError) {
        guard let o = nftnl_obj_alloc() else { throw .system(call: "nftnl_obj_alloc", errno: ENOMEM) }
        defer { nftnl_obj_free(o) }
        nftnl_obj_set_str(o, id(NFTNL_OBJ_TABLE), table.name)
        nftnl_obj_set_str(o, id(NFTNL_OBJ_NAME), name)
        nftnl_obj_set_u32(o, id(NFTNL_OBJ_TYPE), type.rawValue)
        let nlh = batch.begin(NFT_MSG_DELOBJ, family: family, flags: 0, origin: .removal(.object(name)), estimate: 512)
        nftnl_obj_nlmsg_build_payload(nlh, o)
        batch.finish(nlh)
    }

    /// NEWRULE for rule `index` of chain `chainIndex`: appended, or inserted before the rule with
    /// handle `before` (NFTA_RULE_POSITION without NLM_F_APPEND); with `echo` the kernel reports
    /// the new rule's handle.
    func rule(chain chainIndex: Int, index: Int, before: UInt64? = nil, echo: Bool = false) throws(NetlinkError) {
        let chain = table.chains[chainIndex]
        try Self.rule(chain.rules[index], table: Self.cName(table.name), family: family, chain: chain.name,
                      cChain: Self.cName(chain.name), chainIndex: chainIndex, index: index, batch: batch,
                      before: before, echo: echo)
    }

    /// The same for a rule given on its own, so that a caller can encode the rules of a table it
    /// no longer shares with an encoder (and release each rule's expressions once encoded).
    /// `table` and `chain` are the names with their terminating NUL (`cName`).
    static func rule(_ rule: NftRule, table: [UInt8], family: UInt8, chain: String, cChain: [UInt8], chainIndex: Int,
                     index: Int, batch: BatchBuffer, before: UInt64? = nil, echo: Bool = false) throws(NetlinkError) {
        var estimate = 256 + table.count + cChain.count
        if rule.comment != nil || rule.routeComment != nil {
            if let problem = RuleComment.problem(rule) {
                throw .unencodable(object: .rule(chain: chain, index: index, comment: rule.comment), reason: problem)
            }
            estimate += UserdataComment.size(rule.comment, rule.routeComment) + 8
        }
        for expression in rule.expressions { estimate += ExpressionCodec.sizeEstimate(expression) }
        let flags = NLM_F_CREATE | (echo ? NLM_F_ECHO : 0) | (before == nil ? NLM_F_APPEND : 0)
        let nlh = batch.begin(NFT_MSG_NEWRULE, family: family, flags: flags,
                              origin: .rule(chain: chainIndex, index: index), estimate: estimate)
        var message = RuleMessage(nlh, room: estimate)
        do throws(ExpressionUnencodable) {
            try message.write(rule, table: table, chain: cChain, before: before)
        } catch {
            throw .unencodable(object: .rule(chain: chain, index: index, comment: rule.comment), reason: error.reason)
        }
        guard message.fits else {
            throw .unencodable(object: .rule(chain: chain, index: index, comment: rule.comment),
                               reason: "the message outgrew the \(estimate) bytes reserved for it")
        }
        batch.finish(nlh)
    }

    /// A name as a NUL-terminated byte string (how names go into attributes).
    static func cName(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
}

/// A comment as nft stores it in an object's userdata: one TLV (type byte, length byte, the text
/// with its NUL). Rules use type NFTNL_UDATA_RULE_COMMENT, set elements
/// NFTNL_UDATA_SET_ELEM_COMMENT; `nft list` shows either as `comment "..."`. The route's own
/// comment (`NftRule.routeComment`) follows as a TLV of type `routeCommentType`, which nft
/// skips as it skips every type it does not know.
enum UserdataComment {
    /// The TLV type of a route comment: far above the types libnftnl defines (0 and 1 for rules
    /// and set elements), so that a later nft does not read it as one of its own.
    static let routeCommentType: UInt8 = 0xf0

    /// The kernel's limit on an object's userdata (NFT_USERDATA_MAXLEN).
    static let maxBytes = 256

    /// The bytes of the TLVs of `comment` (type `type`) and `routeComment`.
    static func size(_ comment: String?, _ routeComment: String?) -> Int {
        (comment.map { $0.utf8.count + 3 } ?? 0) + (routeComment.map { $0.utf8.count + 3 } ?? 0)
    }

    /// Calls `body` with the TLVs (type byte, length byte counting the NUL, text, NUL) of
    /// `comment` and then `routeComment`, built in temporary storage: rule messages are written
    /// by the hundred thousand.
    static func withTLVs<R>(_ comment: String?, routeComment: String? = nil, type: UInt32,
                            _ body: (UnsafeMutableBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size(comment, routeComment)) { tlv in
            var at = 0
            func put(_ text: String, _ kind: UInt8) {
                let count = text.utf8.count
                tlv[at] = kind
                tlv[at + 1] = UInt8(truncatingIfNeeded: count + 1)
                _ = UnsafeMutableBufferPointer(rebasing: tlv[(at + 2)...]).initialize(from: text.utf8)
                tlv[at + 2 + count] = 0
                at += count + 3
            }
            if let comment { put(comment, UInt8(truncatingIfNeeded: type)) }
            if let routeComment { put(routeComment, routeCommentType) }
            return body(tlv)
        }
    }

    /// The text of the first TLV of `type` in `userdata`, if there is one.
    static func find(_ type: UInt32, in userdata: UnsafeRawBufferPointer) -> String? {
        var offset = 0
        while offset + 2 <= userdata.count {
            let kind = userdata[offset], size = Int(userdata[offset + 1])
            guard offset + 2 + size <= userdata.count else { return nil }
            if kind == UInt8(truncatingIfNeeded: type) {
                var text = Array(userdata[(offset + 2)..<(offset + 2 + size)])
                if text.last == 0 { text.removeLast() }
                return String(decoding: text, as: UTF8.self)
            }
            offset += 2 + size
        }
        return nil
    }

    /// The comment (TLV `type`) and route comment in `userdata`.
    static func read(_ type: UInt32, in userdata: UnsafeRawBufferPointer) -> (comment: String?, routeComment: String?) {
        (find(type, in: userdata), find(UInt32(routeCommentType), in: userdata))
    }
}

/// The rule comment: userdata TLV NFTNL_UDATA_RULE_COMMENT, so `nft list` shows it as
/// `comment "..."`, and the route comment beside it.
enum RuleComment {
    /// The TLV length is one byte and includes the NUL.
    static let maxBytes = 254

    /// Why a rule's comments cannot be sent, or nil.
    static func problem(_ rule: NftRule) -> String? {
        if let c = rule.comment, c.utf8.count > maxBytes { return "comment longer than \(maxBytes) bytes" }
        if let c = rule.routeComment, c.utf8.count > maxBytes { return "route comment longer than \(maxBytes) bytes" }
        if UserdataComment.size(rule.comment, rule.routeComment) > UserdataComment.maxBytes {
            return "comment and route comment longer than the kernel's \(UserdataComment.maxBytes) bytes of userdata"
        }
        return nil
    }

    /// Sets the rule's userdata to its comments (libnftnl's way; `RuleMessage` writes them itself).
    static func encode(_ rule: NftRule, into r: OpaquePointer) {
        guard rule.comment != nil || rule.routeComment != nil else { return }
        UserdataComment.withTLVs(rule.comment, routeComment: rule.routeComment, type: NFTNL_UDATA_RULE_COMMENT.rawValue) { tlv in
            _ = nftnl_rule_set_data(r, id(NFTNL_RULE_USERDATA), tlv.baseAddress, UInt32(tlv.count))
        }
    }

    /// The comments in a rule's userdata.
    static func decode(_ rule: OpaquePointer) -> (comment: String?, routeComment: String?) {
        var length: UInt32 = 0
        guard nftnl_rule_is_set(rule, id(NFTNL_RULE_USERDATA)),
              let data = nftnl_rule_get_data(rule, id(NFTNL_RULE_USERDATA), &length) else { return (nil, nil) }
        return UserdataComment.read(NFTNL_UDATA_RULE_COMMENT.rawValue, in: UnsafeRawBufferPointer(start: data, count: Int(length)))
    }
}

/// Named stateful objects: encode and decode side by side.
enum ObjectCodec {
    static func encode(_ object: NftObject, _ o: OpaquePointer) {
        switch object {
        case .counter:
            nftnl_obj_set_u64(o, id(NFTNL_OBJ_CTR_PKTS), 0)
            nftnl_obj_set_u64(o, id(NFTNL_OBJ_CTR_BYTES), 0)
        case .limit(_, let limit):
            nftnl_obj_set_u64(o, id(NFTNL_OBJ_LIMIT_RATE), limit.rate)
            nftnl_obj_set_u64(o, id(NFTNL_OBJ_LIMIT_UNIT), limit.unit.rawValue)
            nftnl_obj_set_u32(o, id(NFTNL_OBJ_LIMIT_BURST), limit.burst)
            nftnl_obj_set_u32(o, id(NFTNL_OBJ_LIMIT_TYPE), limit.kind.rawValue)
            nftnl_obj_set_u32(o, id(NFTNL_OBJ_LIMIT_FLAGS), limit.over ? NFT_LIMIT_F_INV.rawValue : 0)
        }
    }

    /// The object, and for counters their current values.
    static func decode(_ o: OpaquePointer) throws(NetlinkError) -> (NftObject, CounterValue?) {
        let name = nftnl_obj_get_str(o, id(NFTNL_OBJ_NAME)).map { String(cString: $0) } ?? ""
        let type = nftnl_obj_get_u32(o, id(NFTNL_OBJ_TYPE))
        switch NftObjectType(rawValue: type) {
        case .counter:
            return (.counter(name: name), CounterValue(packets: nftnl_obj_get_u64(o, id(NFTNL_OBJ_CTR_PKTS)),
                                                       bytes: nftnl_obj_get_u64(o, id(NFTNL_OBJ_CTR_BYTES))))
        case .limit:
            let limit = try NftLimit(rate: nftnl_obj_get_u64(o, id(NFTNL_OBJ_LIMIT_RATE)),
                                     unit: nftnl_obj_get_u64(o, id(NFTNL_OBJ_LIMIT_UNIT)),
                                     burst: nftnl_obj_get_u32(o, id(NFTNL_OBJ_LIMIT_BURST)),
                                     type: nftnl_obj_get_u32(o, id(NFTNL_OBJ_LIMIT_TYPE)),
                                     flags: nftnl_obj_get_u32(o, id(NFTNL_OBJ_LIMIT_FLAGS)))
            return (.limit(name: name, limit), nil)
        default:
            throw .undecodable(object: "object \(name)", reason: "object type \(type) is not in the IR")
        }
    }
}
