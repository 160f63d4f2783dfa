import CNftnl
import FlowSpecCompiler
import Glibc

extension NftConnection {
    /// Replaces table `table.name` (of its family) with `table`, atomically: one batch of
    /// NEWTABLE (create if absent) + DELTABLE + NEWTABLE + objects + chains + sets + elements +
    /// rules, sent with one sendmsg. Either all of it is committed or none of it: on any error
    /// the old table stays exactly as it was. No other table is touched.
    ///
    /// Acks: only the last message asks for one (NLM_F_ACK); the kernel reports every failing
    /// message anyway, so the replies are the errors (if any) and that one ack. Success means
    /// "the final ack came and no message failed"; an OK ack inside a failed batch is not a
    /// commit. The batch carries the generation read just before (NFNL_BATCH_GENID), so if
    /// another writer committed in between the kernel refuses it (`generationChanged`).
    ///
    /// - Parameter expected: the generation the caller's decision rests on (from
    ///   `generation()` before it read the ruleset); nil reads it now.
    @discardableResult
    public func apply(_ table: NftTable, basedOn expected: UInt32? = nil) throws(NetlinkError) -> ApplyReport {
        var table = table
        return try replace(&table, basedOn: expected, echoEnds: false, releasingRules: false).report
    }

    /// `apply`, and when `echoEnds` the handles the kernel gave the first and the last rule
    /// (NLM_F_ECHO on those two messages only: echoing all of 100k rules would cost a 60 MB
    /// receive queue).
    ///
    /// `releasingRules`: empty each rule's expressions once it is encoded (its comment stays,
    /// for error reports), and hand the freed memory back to the system as the batch grows. A
    /// rule's IR and its netlink message are about the same size (~500–700 bytes), so a caller
    /// that owns the only copy of a large table (one-shot `apply`) needs memory for one of the
    /// two instead of both: for 1M routes the batch phase stays near 1.1 GB instead of ~1.8 GB.
    /// `stamp`: written into the new table's userdata (`TableStamp`).
    func replace(_ table: inout NftTable, basedOn expected: UInt32?, echoEnds: Bool, releasingRules: Bool, stamp: UInt64? = nil)
        throws(NetlinkError) -> (report: ApplyReport, first: UInt64?, last: UInt64?) {
        let generation: UInt32
        if let expected { generation = expected } else { generation = try self.generation() }
        let clock = ContinuousClock()
        let buildStart = clock.now
        let messages = 6 + table.objects.count + table.sets.count * 2 + table.chains.count + table.ruleCount
        let elements = table.sets.reduce(0) { $0 + $1.elements.count }
        let batch = BatchBuffer(firstSequence: socket.reserveSequence(messages + elements),
                                capacity: 8192 + table.ruleCount * 720 + elements * 160,
                                expectedMessages: messages)
        batch.beginBatch(generation: generation)
        do {
            // The encoder holds a copy of the table: it goes out of scope before the rules, so
            // that releasing them does not copy the table.
            let encoder = TableEncoder(table: table, batch: batch)
            try encoder.tableMessage(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE)
            try encoder.tableMessage(NFT_MSG_DELTABLE, flags: 0)
            try encoder.tableMessage(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, stamp: stamp)
            // Dependencies first: verdict-map elements jump to chains, object-map elements name
            // objects, rules use all of them.
            for i in table.objects.indices { try encoder.object(i) }
            for i in table.chains.indices { try encoder.chain(i) }
            for i in table.sets.indices { try SetCodec.encodeSet(table.sets[i], index: i, encoder: encoder) }
            for i in table.sets.indices { try SetCodec.encodeElements(table.sets[i], index: i, encoder: encoder) }
        }
        var firstRule: UInt32?, lastRule: UInt32?
        var released = 0
        let tableName = TableEncoder.cName(table.name)
        for c in table.chains.indices {
            let chain = table.chains[c].name, cChain = TableEncoder.cName(chain)
            for r in table.chains[c].rules.indices {
                try TableEncoder.rule(table.chains[c].rules[r], table: tableName, family: table.family.rawValue,
                                      chain: chain, cChain: cChain, chainIndex: c, index: r, batch: batch)
                if firstRule == nil { firstRule = batch.lastSequence }
                lastRule = batch.lastSequence
                if releasingRules {
                    table.chains[c].rules[r].expressions = []
                    released += 1
                    // glibc keeps freed small blocks for reuse, and the batch is one large
                    // separate mapping that cannot reuse them; malloc_trim returns the whole free
                    // pages (the compiler keeps the strings that outlive the rules together, so
                    // the rules' pages do come free). About 1 ms per call at 1M routes.
                    if released % Tuning.releaseTrimInterval == 0 { _ = flowspec_malloc_trim(0) }
                }
            }
        }
        if echoEnds {
            for seq in [firstRule, lastRule].compactMap({ $0 }) { batch.addFlags(NLM_F_ECHO, seq: seq) }
        }
        let buildTime = clock.now - buildStart
        var first: UInt64?, last: UInt64?
        let kernelTime = try commit(batch, table: table) { seq, handle in
            if seq == firstRule { first = handle }
            if seq == lastRule { last = handle }
        }
        return (ApplyReport(messages: batch.messageCount, bytes: batch.length, generation: generation,
                            buildTime: buildTime, kernelTime: kernelTime), first, last)
    }


    /// Deletes the table if it exists and succeeds quietly if not (the flush command), in one
    /// batch of NEWTABLE (create if absent) + DELTABLE. No other table is touched.
    public func deleteTable(name: String, family: NftFamily) throws(NetlinkError) {
        let table = NftTable(name: name, family: family)
        let batch = BatchBuffer(firstSequence: socket.reserveSequence(4), capacity: 4096, expectedMessages: 4)
        let encoder = TableEncoder(table: table, batch: batch)
        batch.beginBatch(generation: nil)
        try encoder.tableMessage(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE)
        try encoder.tableMessage(NFT_MSG_DELTABLE, flags: 0)
        _ = try commit(batch, table: table)
    }

    /// Ends the batch (asking for an ack on its last real message), sends it in one sendmsg and
    /// reads every reply. Returns the time inside the kernel; throws the batch's one outcome.
    ///
    /// `echoedRule` receives, for every rule the kernel echoes (messages sent with NLM_F_ECHO),
    /// the sequence number of our message and the handle the kernel gave the rule. Echoes are
    /// sent during the commit, before the acks, so all of them have arrived when the ack has.
    func commit(_ batch: BatchBuffer, table: NftTable,
                echoedRule: (UInt32, UInt64) -> Void = { _, _ in }) throws(NetlinkError) -> Duration {
        let ackSequence = batch.lastSequence
        batch.addFlags(NLM_F_ACK, seq: ackSequence)
        // Without its end the kernel validates the batch and aborts it (`checkOnly`).
        if !checkOnly { batch.endBatch() }
        // Replies: at most one per message (errors), each charged ~1 KiB of socket memory.
        try socket.ensureBuffers(send: batch.length + 65536,
                                 receive: min(1 << 20 + batch.messageCount * 1024, 1 << 30))
        let clock = ContinuousClock()
        let start = clock.now
        try socket.send(batch.base, count: batch.length)
        var faults: [KernelFault] = []
        var acknowledged = false
        var overflowed = false
        var waited = false
        while true {
            let received: Int?
            do throws(NetlinkError) {
                received = try socket.receive(wait: false)
            } catch {
                if case .system(_, ENOBUFS) = error { overflowed = true; continue }
                throw error
            }
            guard let n = received else {
                // The kernel answers inside sendmsg, so everything is queued by now; wait
                // once, briefly, only if neither an ack nor an error has arrived.
                if acknowledged || !faults.isEmpty || waited { break }
                waited = true
                if socket.poll(milliseconds: 2000) { continue } else { break }
            }
            try socket.forEachMessage(n) { (reply) throws(NetlinkError) in
                if reply.pointee.nlmsg_type == UInt16(NFNL_SUBSYS_NFTABLES << 8) | UInt16(NFT_MSG_NEWRULE.rawValue),
                   batch.message(seq: reply.pointee.nlmsg_seq) != nil, let r = nftnl_rule_alloc() {
                    defer { nftnl_rule_free(r) }
                    if nftnl_rule_nlmsg_parse(reply, r) >= 0 {
                        echoedRule(reply.pointee.nlmsg_seq, nftnl_rule_get_u64(r, id(NFTNL_RULE_HANDLE)))
                    }
                    return
                }
                guard Int32(reply.pointee.nlmsg_type) == NLMSG_ERROR,
                      let sent = batch.message(seq: reply.pointee.nlmsg_seq) else { return }
                let code = -reply.payload.assumingMemoryBound(to: Int32.self).pointee
                if code == 0 {
                    if reply.pointee.nlmsg_seq == ackSequence { acknowledged = true }
                    return
                }
                let ack = ExtendedAck(reply)
                faults.append(fault(errno: code, origin: sent.origin, message: sent.start, ack: ack, table: table))
            }
        }
        let kernelTime = clock.now - start
        if let first = faults.first(where: { $0.object == .batch }) {
            if first.errno == ERESTART { throw .generationChanged(expected: batch.generation ?? 0) }
            if first.errno == EPERM { throw .permissionDenied(operation: "nftables batch") }
        }
        if faults.contains(where: { $0.errno == EPERM }) { throw .permissionDenied(operation: "nftables batch") }
        if !faults.isEmpty { throw .rejected(faults) }
        guard acknowledged else {
            throw .unacknowledged(detail: overflowed ? "the receive buffer overflowed" : "no reply to the batch")
        }
        return kernelTime
    }

    /// The kernel's error for one message, with the object (and expression or element) named.
    private func fault(errno code: Int32, origin: MessageOrigin, message: UnsafeRawPointer, ack: ExtendedAck,
                       table: NftTable) -> KernelFault {
        var expression: Int?
        let object: BatchObject
        switch origin {
        case .batch: object = .batch
        case .removal(let what): object = what
        case .table: object = .table(table.name)
        case .object(let i): object = .object(table.objects[i].name)
        case .set(let i): object = .set(table.sets[i].name)
        case .chain(let i): object = .chain(table.chains[i].name)
        case .rule(let c, let i):
            let chain = table.chains[c]
            object = .rule(chain: chain.name, index: i, comment: chain.rules[i].comment)
            if let offset = ack.offset {
                expression = AttributeWalker.nestedIndex(message: message, list: UInt16(NFTA_RULE_EXPRESSIONS.rawValue), offset: offset)
            }
        case .elements(let s, let range):
            let set = table.sets[s]
            var element: Int?
            if let offset = ack.offset,
               let k = AttributeWalker.nestedIndex(message: message, list: UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue), offset: offset) {
                let expanded = SetCodec.kernelElements(set, range)
                if k < expanded.count { element = expanded[k].source }
            }
            object = .setElements(set: set.name, elements: range, element: element)
        }
        return KernelFault(errno: code, object: object, expressionIndex: expression, kernelMessage: ack.message)
    }
}

extension BatchBuffer {
    /// The generation written into the batch begin, if any (for error reporting).
    var generation: UInt32? {
        guard let begin = message(seq: firstSequence) else { return nil }
        let nlh = begin.start.assumingMemoryBound(to: nlmsghdr.self)
        let attrs = MemoryLayout<nlmsghdr>.size + MemoryLayout<nfgenmsg>.size
        guard Int(nlh.pointee.nlmsg_len) >= attrs + 8 else { return nil }
        return UInt32(bigEndian: (begin.start + attrs + 4).loadUnaligned(as: UInt32.self))
    }
}

/// The TLVs of an extended ack (NETLINK_EXT_ACK with NETLINK_CAP_ACK): the kernel's message and
/// the byte offset, within the message that failed, of the attribute at fault.
struct ExtendedAck {
    var message: String?
    var offset: Int?

    init(_ reply: UnsafeMutablePointer<nlmsghdr>) {
        guard reply.pointee.nlmsg_flags & UInt16(NLM_F_ACK_TLVS) != 0 else { return }
        let errorHeader = MemoryLayout<Int32>.size + MemoryLayout<nlmsghdr>.size
        var tlvStart = errorHeader
        if reply.pointee.nlmsg_flags & UInt16(NLM_F_CAPPED) == 0 {
            // Not capped: the whole original message follows the error code.
            let original = (reply.payload + 4).assumingMemoryBound(to: nlmsghdr.self)
            tlvStart = 4 + ((Int(original.pointee.nlmsg_len) + 3) & ~3)
        }
        let total = Int(reply.pointee.nlmsg_len) - MemoryLayout<nlmsghdr>.size
        AttributeWalker.forEach(reply.payload + tlvStart, count: total - tlvStart) { type, value, length in
            switch Int(type) {
            case Int(NLMSGERR_ATTR_MSG.rawValue):
                let bytes = UnsafeRawBufferPointer(start: value, count: length).prefix { $0 != 0 }
                message = String(decoding: bytes, as: UTF8.self)
            case Int(NLMSGERR_ATTR_OFFS.rawValue) where length >= 4:
                offset = Int(value.loadUnaligned(as: UInt32.self))
            default: break
            }
        }
    }
}

/// Plain walking of netlink attributes (the mnl_attr_for_each macros are not importable).
enum AttributeWalker {
    static func forEach(_ start: UnsafeRawPointer, count: Int, _ body: (UInt16, UnsafeRawPointer, Int) -> Void) {
        var offset = 0
        while count - offset >= 4 {
            let length = Int(start.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let type = start.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3fff
            guard length >= 4, offset + length <= count else { return }
            body(type, start + offset + 4, length - 4)
            offset += (length + 3) & ~3
        }
    }

    /// Which item of the nested list attribute `list` of an nf_tables message contains byte
    /// `offset` (counted from the message's start): the expression of a rule, the element of
    /// an element list.
    static func nestedIndex(message: UnsafeRawPointer, list: UInt16, offset: Int) -> Int? {
        let nlh = message.assumingMemoryBound(to: nlmsghdr.self)
        let attrs = MemoryLayout<nlmsghdr>.size + MemoryLayout<nfgenmsg>.size
        var found: Int?
        forEach(message + attrs, count: Int(nlh.pointee.nlmsg_len) - attrs) { type, value, length in
            guard type == list else { return }
            var index = 0
            forEach(value, count: length) { _, item, itemLength in
                let itemStart = item - 4 - message, itemEnd = item + itemLength - message
                if offset >= itemStart && offset < itemEnd { found = index }
                index += 1
            }
        }
        return found
    }
}

