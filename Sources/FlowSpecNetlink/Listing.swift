import CNftnl
import FlowSpecCompiler
import Glibc

/// Packet and byte counts of a counter.
public struct CounterValue: Sendable, Hashable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64, bytes: UInt64) { self.packets = packets; self.bytes = bytes }
}

/// A table as the kernel holds it: the IR (rules in order, expressions decoded, comments, set
/// elements sorted by key, anonymous counters' values inside their `.counter` expressions) plus
/// what only the kernel knows: handles and named counters' values.
public struct InstalledTable: Sendable, Hashable {
    public var table: NftTable
    public var handle: UInt64
    /// The stamp a tracked replace wrote into the table (`TableState.stamp`), if any.
    public var stamp: UInt64? = nil
    public var chainHandles: [String: UInt64]
    /// Per chain, the rule handles in rule order.
    public var ruleHandles: [String: [UInt64]]
    public var setHandles: [String: UInt64]
    public var objectHandles: [String: UInt64]
    /// Values of named counter objects.
    public var counters: [String: CounterValue]
    /// Per base chain whose kernel counts them (`NftChain.Base.counters`): the packets and bytes
    /// its policy decided.
    public var policyCounters: [String: CounterValue] = [:]
}

extension NftConnection {
    /// The stamp of table `name` (`TableStamp`): nil when the table is absent or carries none.
    /// One small request, to check a state against the kernel before trusting it.
    public func stamp(ofTable name: String, family: NftFamily) throws(NetlinkError) -> UInt64? {
        try table(name: name, family: family)?.stamp
    }

    /// Whether table `name` exists.
    public func tableExists(name: String, family: NftFamily) throws(NetlinkError) -> Bool {
        try table(name: name, family: family) != nil
    }

    /// The table's handle and stamp (NFT_MSG_GETTABLE); nil when it is absent (ENOENT).
    private func table(name: String, family: NftFamily) throws(NetlinkError) -> (handle: UInt64, stamp: UInt64?)? {
        var found: (handle: UInt64, stamp: UInt64?)?
        do throws(NetlinkError) {
            try socket.request(dump: false, build: { buffer, seq in
                let nlh = nftnl_nlmsg_build_hdr(buffer, UInt16(NFT_MSG_GETTABLE.rawValue), UInt16(family.rawValue), 0, seq)!
                let t = nftnl_table_alloc()!
                nftnl_table_set_str(t, id(NFTNL_TABLE_NAME), name)
                nftnl_table_nlmsg_build_payload(nlh, t)
                nftnl_table_free(t)
                return nlh
            }, onError: Self.readError("NFT_MSG_GETTABLE"), handle: { (nlh) throws(NetlinkError) in
                let t = nftnl_table_alloc()!
                defer { nftnl_table_free(t) }
                guard nftnl_table_nlmsg_parse(nlh, t) >= 0 else { throw .undecodable(object: "table \(name)", reason: "malformed NEWTABLE") }
                var stamp: UInt64?
                if nftnl_table_is_set(t, id(NFTNL_TABLE_USERDATA)) {
                    var length: UInt32 = 0
                    if let data = nftnl_table_get_data(t, id(NFTNL_TABLE_USERDATA), &length) {
                        stamp = TableStamp.read(UnsafeRawBufferPointer(start: data, count: Int(length)))
                    }
                }
                found = (nftnl_table_get_u64(t, id(NFTNL_TABLE_HANDLE)), stamp)
            })
        } catch {
            if case .system(_, ENOENT) = error { return nil }
            throw error
        }
        return found
    }

    /// Reads table `name` of `family` back through netlink, or nil if there is none.
    ///
    /// One table is read with several dumps (objects, sets, each set's elements, chains, rules),
    /// and a large set's elements take many messages: a commit in between gives a table that never
    /// existed (the fabric lab once read 43,607 of 50,001 routes while a listener replaced its
    /// table; `ConsistentReadTests` read 3,238 of 10,000 or 20,000). So the ruleset generation is
    /// read before and after, and a read it changed under is made again, after a short pause
    /// (a writer's commits come in bursts: a load, a debounced change). After
    /// `consistentWithin` seconds of such reads, and at least `consistentReadMinimumAttempts`
    /// (one read of a large table may take longer than that: the debug build's 100k-route flood
    /// test read for over 10 s while the listener committed), `changedWhileReading`.
    public func listTable(name: String, family: NftFamily,
                          consistentWithin: Double = consistentReadTimeout) throws(NetlinkError) -> InstalledTable? {
        let deadline = ContinuousClock.now + .seconds(consistentWithin)
        var attempts = 0
        while true {
            attempts += 1
            let before = try generation()
            let table = try listTableOnce(name: name, family: family)
            if try generation() == before { return table }
            if attempts >= Self.consistentReadMinimumAttempts, ContinuousClock.now >= deadline {
                throw .changedWhileReading(attempts: attempts)
            }
            usleep(useconds_t(min(attempts, 10) * 5_000))
        }
    }

    /// How long `listTable` reads again, by default, a table that commits keep changing under it.
    public static let consistentReadTimeout: Double = 10
    /// Reads `listTable` makes before it gives up, however long they took.
    public static let consistentReadMinimumAttempts = 3

    private func listTableOnce(name: String, family: NftFamily) throws(NetlinkError) -> InstalledTable? {
        let f = UInt16(family.rawValue)
        guard let (handle, stamp) = try table(name: name, family: family) else { return nil }
        var installed = InstalledTable(table: NftTable(name: name, family: family), handle: handle, stamp: stamp, chainHandles: [:],
                                       ruleHandles: [:], setHandles: [:], objectHandles: [:], counters: [:])

        // Objects.
        try dump(NFT_MSG_GETOBJ, family: f, build: { nlh in
            let o = nftnl_obj_alloc()!
            nftnl_obj_set_str(o, id(NFTNL_OBJ_TABLE), name)
            nftnl_obj_nlmsg_build_payload(nlh, o)
            nftnl_obj_free(o)
        }, each: { (nlh) throws(NetlinkError) in
            let o = nftnl_obj_alloc()!
            defer { nftnl_obj_free(o) }
            guard nftnl_obj_nlmsg_parse(nlh, o) >= 0 else { throw .undecodable(object: "object", reason: "malformed NEWOBJ") }
            guard Self.string(nftnl_obj_get_str(o, id(NFTNL_OBJ_TABLE))) == name else { return }
            let (object, counter) = try ObjectCodec.decode(o)
            installed.table.objects.append(object)
            installed.objectHandles[object.name] = nftnl_obj_get_u64(o, id(NFTNL_OBJ_HANDLE))
            if let counter { installed.counters[object.name] = counter }
        })

        // Sets, then each set's elements.
        try dump(NFT_MSG_GETSET, family: f, build: { nlh in
            let s = nftnl_set_alloc()!
            nftnl_set_set_str(s, id(NFTNL_SET_TABLE), name)
            nftnl_set_nlmsg_build_payload(nlh, s)
            nftnl_set_free(s)
        }, each: { (nlh) throws(NetlinkError) in
            let s = nftnl_set_alloc()!
            defer { nftnl_set_free(s) }
            guard nftnl_set_nlmsg_parse(nlh, s) >= 0 else { throw .undecodable(object: "set", reason: "malformed NEWSET") }
            guard Self.string(nftnl_set_get_str(s, id(NFTNL_SET_TABLE))) == name else { return }
            let set = try SetCodec.decodeSet(s)
            installed.table.sets.append(set)
            installed.setHandles[set.name] = nftnl_set_get_u64(s, id(NFTNL_SET_HANDLE))
        })
        for i in installed.table.sets.indices {
            let set = installed.table.sets[i]
            let s = nftnl_set_alloc()!
            defer { nftnl_set_free(s) }
            nftnl_set_set_str(s, id(NFTNL_SET_TABLE), name)
            nftnl_set_set_str(s, id(NFTNL_SET_NAME), set.name)
            nftnl_set_set_u32(s, id(NFTNL_SET_FAMILY), UInt32(family.rawValue))
            try dump(NFT_MSG_GETSETELEM, family: f, build: { nlh in
                nftnl_set_elems_nlmsg_build_payload(nlh, s)
            }, each: { (nlh) throws(NetlinkError) in
                guard nftnl_set_elems_nlmsg_parse(nlh, s) >= 0 else {
                    throw .undecodable(object: "elements of set \(set.name)", reason: "malformed NEWSETELEM")
                }
            })
            installed.table.sets[i].elements = try SetCodec.decodeElements(s, as: set)
        }

        betweenListingDumps?()

        // Chains.
        try dump(NFT_MSG_GETCHAIN, family: f, build: { nlh in
            let c = nftnl_chain_alloc()!
            nftnl_chain_set_str(c, id(NFTNL_CHAIN_TABLE), name)
            nftnl_chain_nlmsg_build_payload(nlh, c)
            nftnl_chain_free(c)
        }, each: { (nlh) throws(NetlinkError) in
            let c = nftnl_chain_alloc()!
            defer { nftnl_chain_free(c) }
            guard nftnl_chain_nlmsg_parse(nlh, c) >= 0 else { throw .undecodable(object: "chain", reason: "malformed NEWCHAIN") }
            guard Self.string(nftnl_chain_get_str(c, id(NFTNL_CHAIN_TABLE))) == name else { return }
            let chain = try ChainCodec.decode(c)
            installed.table.chains.append(chain)
            installed.chainHandles[chain.name] = nftnl_chain_get_u64(c, id(NFTNL_CHAIN_HANDLE))
            if let counted = ChainCodec.counters(c) { installed.policyCounters[chain.name] = counted }
        })

        // Rules, in chain order, one dump per chain: the kernel resumes a dump by walking the
        // rules it already sent again (`__nf_tables_dump_rules` skips to its index from the
        // start), over the whole table when the dump names no chain. A chain at a time, that
        // walk stays within the chain: a dispatch table of 187k rules in 7,969 chains lists in
        // seconds instead of ~45 s (one chain of that many rules is as slow as before).
        for (c, chain) in installed.table.chains.map(\.name).enumerated() {
            try dump(NFT_MSG_GETRULE, family: f, build: { nlh in
                let r = nftnl_rule_alloc()!
                nftnl_rule_set_str(r, id(NFTNL_RULE_TABLE), name)
                nftnl_rule_set_str(r, id(NFTNL_RULE_CHAIN), chain)
                nftnl_rule_nlmsg_build_payload(nlh, r)
                nftnl_rule_free(r)
            }, each: { (nlh) throws(NetlinkError) in
                let r = nftnl_rule_alloc()!
                defer { nftnl_rule_free(r) }
                guard nftnl_rule_nlmsg_parse(nlh, r) >= 0 else { throw .undecodable(object: "rule", reason: "malformed NEWRULE") }
                guard Self.string(nftnl_rule_get_str(r, id(NFTNL_RULE_TABLE))) == name,
                      Self.string(nftnl_rule_get_str(r, id(NFTNL_RULE_CHAIN))) == chain else { return }
                installed.table.chains[c].rules.append(RuleCodec.decode(r))
                installed.ruleHandles[chain, default: []].append(nftnl_rule_get_u64(r, id(NFTNL_RULE_HANDLE)))
            })
        }
        return installed
    }

    /// A dump request of `type` for `family`, its payload (the table filter) written by `build`.
    private func dump(_ type: nf_tables_msg_types, family: UInt16,
                      build: @escaping (UnsafeMutablePointer<nlmsghdr>) -> Void,
                      each: (UnsafeMutablePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        try socket.request(dump: true, build: { buffer, seq in
            let nlh = nftnl_nlmsg_build_hdr(buffer, UInt16(type.rawValue), family, UInt16(NLM_F_DUMP), seq)!
            build(nlh)
            return nlh
        }, onError: Self.readError("dump \(type.rawValue)"), handle: each)
    }

    private static func readError(_ call: String) -> (Int32) -> NetlinkError {
        { code in code == EPERM ? .permissionDenied(operation: call) : .system(call: call, errno: code) }
    }

    private static func string(_ text: UnsafePointer<CChar>?) -> String? { text.map { String(cString: $0) } }
}

/// Chains: encode is `TableEncoder.chain`; the decode half.
enum ChainCodec {
    static func decode(_ c: OpaquePointer) throws(NetlinkError) -> NftChain {
        let name = nftnl_chain_get_str(c, id(NFTNL_CHAIN_NAME)).map { String(cString: $0) } ?? ""
        guard nftnl_chain_is_set(c, id(NFTNL_CHAIN_HOOKNUM)) else { return NftChain(name: name) }
        let rawHook = nftnl_chain_get_u32(c, id(NFTNL_CHAIN_HOOKNUM))
        let rawPolicy = nftnl_chain_get_u32(c, id(NFTNL_CHAIN_POLICY))
        guard let hook = NftHook(rawValue: rawHook) else { throw .undecodable(object: "chain \(name)", reason: "hook \(rawHook)") }
        guard let policy = NftChainPolicy(rawValue: rawPolicy) else {
            throw .undecodable(object: "chain \(name)", reason: "policy \(rawPolicy)")
        }
        let type = nftnl_chain_get_str(c, id(NFTNL_CHAIN_TYPE)).map { String(cString: $0) } ?? "filter"
        var devices: [String] = []
        if nftnl_chain_is_set(c, id(NFTNL_CHAIN_DEV)), let d = nftnl_chain_get_str(c, id(NFTNL_CHAIN_DEV)) {
            devices = [String(cString: d)]
        } else if nftnl_chain_is_set(c, id(NFTNL_CHAIN_DEVICES)), var p = nftnl_chain_get_array(c, id(NFTNL_CHAIN_DEVICES)) {
            while let d = p.pointee { devices.append(String(cString: d)); p += 1 }
        }
        let offload = nftnl_chain_is_set(c, id(NFTNL_CHAIN_FLAGS))
            && nftnl_chain_get_u32(c, id(NFTNL_CHAIN_FLAGS)) & UInt32(NFT_CHAIN_HW_OFFLOAD.rawValue) != 0
        return NftChain(name: name, base: .init(type: type, hook: hook, priority: nftnl_chain_get_s32(c, id(NFTNL_CHAIN_PRIO)),
                                                policy: policy, devices: devices, offload: offload,
                                                counters: counters(c) != nil))
    }

    /// The packets and bytes a base chain's policy decided, when the kernel keeps them.
    static func counters(_ c: OpaquePointer) -> CounterValue? {
        guard nftnl_chain_is_set(c, id(NFTNL_CHAIN_PACKETS)), nftnl_chain_is_set(c, id(NFTNL_CHAIN_BYTES)) else { return nil }
        return CounterValue(packets: nftnl_chain_get_u64(c, id(NFTNL_CHAIN_PACKETS)), bytes: nftnl_chain_get_u64(c, id(NFTNL_CHAIN_BYTES)))
    }
}

/// Rules: encode is `TableEncoder.rule`; the decode half (expressions through `ExpressionCodec`).
enum RuleCodec {
    static func decode(_ r: OpaquePointer) -> NftRule {
        let (comment, routeComment) = RuleComment.decode(r)
        var expressions: [NftExpression] = []
        guard let iterator = nftnl_expr_iter_create(r) else { return NftRule(expressions: [], comment: comment, routeComment: routeComment) }
        defer { nftnl_expr_iter_destroy(iterator) }
        while let e = nftnl_expr_iter_next(iterator) {
            expressions.append(ExpressionCodec.decode(e))
        }
        return NftRule(expressions: expressions, comment: comment, routeComment: routeComment)
    }
}

extension TableState {
    /// The state of an installed table read back through netlink; nil if it is not of the form
    /// delta handles (see the type's documentation).
    public init?(installed: InstalledTable, generation: UInt32 = 0) {
        let t = installed.table
        guard t.chains.count == 1, let handles = installed.ruleHandles[t.chains[0].name] ?? (t.chains[0].rules.isEmpty ? [] : nil),
              handles.count == t.chains[0].rules.count,
              let shape = TableShape(t) else { return nil }
        self.init(shape: shape, handles: { handles[$0] }, generation: generation, stamp: installed.stamp ?? 0)
    }
}
