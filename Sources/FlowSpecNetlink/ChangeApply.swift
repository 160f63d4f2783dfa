import CNftnl
import FlowSpecCompiler
import Glibc

extension NftConnection {
    /// Sends `change` (from `IncrementalTable.update`) as one batch carrying the generation the
    /// state was taken at (NFNL_BATCH_GENID): the packet path sees the old table or the new one,
    /// never a mix, and if anyone changed the ruleset since, the kernel refuses the batch and
    /// nothing changes. Kept rules and elements are never touched, so their counters and limit
    /// state survive.
    ///
    /// Order inside the batch, as in `applyDelta`: rule deletes (every rule of a deleted comment),
    /// element deletes, set and object deletes, new objects, new sets with their elements, element
    /// additions, then the new rules, each before the first rule of the kept comment it names (or
    /// appended), echoed (NLM_F_ECHO) so that the new state knows their handles.
    ///
    /// Returns the cost and the table's new state. Throws, with nothing committed, when the state
    /// is stale or does not hold a rule the change names; the caller then replaces the whole table.
    public func apply(_ change: TableChange, over state: TableState) throws(NetlinkError) -> (ApplyReport, TableState) {
        let clock = ContinuousClock()
        let buildStart = clock.now
        var routeIndex: [String: Int] = [:]
        routeIndex.reserveCapacity(state.routes.count)
        for (i, r) in state.routes.enumerated() { routeIndex[r.identity] = i }
        func route(_ comment: String) throws(NetlinkError) -> TableState.Route {
            guard let i = routeIndex[comment] else {
                throw .unacknowledged(detail: "the installed table has no rule commented \(comment): its state is not the one the change was made for")
            }
            return state.routes[i]
        }
        let sets = change.newSets + change.addedElements + change.removedElements
        let table = NftTable(name: change.table, family: state.family, sets: sets, objects: change.newObjects,
                             chains: [NftChain(name: change.chain, rules: change.insertedRules.map(\.rule))])
        let elements = sets.reduce(0) { $0 + $1.elements.count }
        let count = 4 + change.deletedRules.count * 2 + change.deletedSets.count + change.deletedObjects.count
            + change.newObjects.count + change.newSets.count * 2 + change.addedElements.count + change.removedElements.count
            + change.insertedRules.count
        let batch = BatchBuffer(firstSequence: socket.reserveSequence(count + elements),
                                capacity: 8192 + count * 720 + elements * 160, expectedMessages: count)
        let encoder = TableEncoder(table: table, batch: batch)
        let family = state.family.rawValue
        batch.beginBatch(generation: state.generation)
        try encoder.tableMessage(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE)
        for comment in change.deletedRules {
            for (k, handle) in try route(comment).handles.enumerated() {
                guard let r = nftnl_rule_alloc() else { throw .system(call: "nftnl_rule_alloc", errno: ENOMEM) }
                defer { nftnl_rule_free(r) }
                nftnl_rule_set_str(r, id(NFTNL_RULE_TABLE), change.table)
                nftnl_rule_set_str(r, id(NFTNL_RULE_CHAIN), change.chain)
                nftnl_rule_set_u64(r, id(NFTNL_RULE_HANDLE), handle)
                let nlh = batch.begin(NFT_MSG_DELRULE, family: family, flags: 0,
                                      origin: .removal(.rule(chain: change.chain, index: k, comment: comment)), estimate: 512)
                nftnl_rule_nlmsg_build_payload(nlh, r)
                batch.finish(nlh)
            }
        }
        let removalsAt = change.newSets.count + change.addedElements.count
        for (k, set) in change.removedElements.enumerated() {
            try SetCodec.encodeElements(set, index: removalsAt + k, encoder: encoder, delete: true, partial: true)
        }
        for name in change.deletedSets {
            guard let s = nftnl_set_alloc() else { throw .system(call: "nftnl_set_alloc", errno: ENOMEM) }
            defer { nftnl_set_free(s) }
            nftnl_set_set_str(s, id(NFTNL_SET_TABLE), change.table)
            nftnl_set_set_str(s, id(NFTNL_SET_NAME), name)
            let nlh = batch.begin(NFT_MSG_DELSET, family: family, flags: 0, origin: .removal(.set(name)), estimate: 512)
            nftnl_set_nlmsg_build_payload(nlh, s)
            batch.finish(nlh)
        }
        for object in change.deletedObjects {
            guard let o = nftnl_obj_alloc() else { throw .system(call: "nftnl_obj_alloc", errno: ENOMEM) }
            defer { nftnl_obj_free(o) }
            nftnl_obj_set_str(o, id(NFTNL_OBJ_TABLE), change.table)
            nftnl_obj_set_str(o, id(NFTNL_OBJ_NAME), object.name)
            nftnl_obj_set_u32(o, id(NFTNL_OBJ_TYPE), object.type.rawValue)
            let nlh = batch.begin(NFT_MSG_DELOBJ, family: family, flags: 0, origin: .removal(.object(object.name)), estimate: 512)
            nftnl_obj_nlmsg_build_payload(nlh, o)
            batch.finish(nlh)
        }
        for i in change.newObjects.indices { try encoder.object(i) }
        for i in change.newSets.indices { try SetCodec.encodeSet(change.newSets[i], index: i, encoder: encoder) }
        for i in change.newSets.indices { try SetCodec.encodeElements(change.newSets[i], index: i, encoder: encoder) }
        for (k, set) in change.addedElements.enumerated() {
            try SetCodec.encodeElements(set, index: change.newSets.count + k, encoder: encoder, partial: true)
        }
        var insertedAt: [UInt32: Int] = [:]
        for (i, insert) in change.insertedRules.enumerated() {
            let before = try insert.before.map { (c) throws(NetlinkError) in try route(c).handles[0] }
            try encoder.rule(chain: 0, index: i, before: before, echo: true)
            insertedAt[batch.lastSequence] = i
        }
        let buildTime = clock.now - buildStart
        var handles = [UInt64?](repeating: nil, count: change.insertedRules.count)
        let kernelTime = try commit(batch, table: table) { seq, handle in
            if let i = insertedAt[seq] { handles[i] = handle }
        }
        guard handles.allSatisfy({ $0 != nil }) else {
            throw .unacknowledged(detail: "committed, but the kernel echoed \(handles.compactMap { $0 }.count) of \(handles.count) new rule handles")
        }
        var next = state
        next.update(by: change, handles: handles.map { $0! })
        next.generation = (try? generation()) ?? 0
        return (ApplyReport(messages: batch.messageCount, bytes: batch.length, generation: state.generation,
                            buildTime: buildTime, kernelTime: kernelTime), next)
    }
}

extension TableState {
    /// This state once `change` is committed, its inserted rules having `handles`.
    mutating func update(by change: TableChange, handles: [UInt64]) {
        // Elements first: a removed element's digest includes the object it named, which may go.
        for removal in change.removedElements {
            guard var set = mergeSets[removal.name] else { continue }
            for e in removal.elements {
                let digest = Element(e) { objects[$0]?.digest ?? 0 }.digest
                if let k = set.elements.firstIndex(where: { $0.digest == digest && $0.key == e.key && $0.keyEnd == e.keyEnd }) {
                    set.elements.swapAt(k, set.elements.count - 1)
                    set.elements.removeLast()
                }
            }
            mergeSets[removal.name] = set
        }
        for o in change.deletedObjects { objects[o.name] = nil }
        for o in change.newObjects { objects[o.name] = ObjectEntry(o) }
        for name in change.deletedSets { sets.remove(name); mergeSets[name] = nil }
        for set in change.newSets {
            sets.insert(set.name)
            mergeSets[set.name] = MergeSet(definition: MergeSet.definition(of: set),
                                           elements: set.elements.map { Element($0) { objects[$0]?.digest ?? 0 } })
        }
        for addition in change.addedElements {
            mergeSets[addition.name]?.elements += addition.elements.map { Element($0) { objects[$0]?.digest ?? 0 } }
        }
        let deleted = Set(change.deletedRules)
        routes.removeAll { deleted.contains($0.identity) }
        // Inserted rules, with consecutive rules of one comment as one route.
        var position: [String: Int] = [:]
        for (i, r) in routes.enumerated() { position[r.identity] = i }
        var inserts: [(at: Int, route: Route, digest: RouteDigest)] = []
        for (k, insert) in change.insertedRules.enumerated() {
            let comment = insert.rule.comment ?? ""
            let at = insert.before.flatMap { position[$0] } ?? routes.count
            if let last = inserts.last, last.at == at, last.route.identity == comment {
                inserts[inserts.count - 1].route.handles.append(handles[k])
                inserts[inserts.count - 1].digest.add(insert.rule) { objects[$0]?.digest ?? 0 }
            } else {
                var d = RouteDigest(comment)
                d.add(insert.rule) { objects[$0]?.digest ?? 0 }
                inserts.append((at, Route(identity: comment, digest: 0, handles: [handles[k]]), d))
            }
        }
        // From the last, so that earlier positions stay valid.
        for var insert in inserts.reversed() {
            insert.route.digest = insert.digest.value
            routes.insert(insert.route, at: insert.at)
        }
    }
}
