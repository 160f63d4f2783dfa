import CNftnl
import FlowSpecCompiler
import Glibc

extension NftConnection {
    /// Sends `change` (from `IncrementalTable.update` or `TableChange.plan`) as one batch carrying the generation the
    /// state was taken at (NFNL_BATCH_GENID): the packet path sees the old table or the new one,
    /// never a mix, and if anyone changed the ruleset since, the kernel refuses the batch and
    /// nothing changes. Kept rules and elements are never touched, so their counters and limit
    /// state survive.
    ///
    /// Order inside the batch: rule deletes (every rule of a deleted comment),
    /// element deletes, set and object deletes, new objects, new sets with their elements, element
    /// additions, then the new rules, each before the first rule of the kept comment it names (or
    /// appended), echoed (NLM_F_ECHO) so that the new state knows their handles.
    ///
    /// Returns the cost; `state` becomes the table's new state, changed in place (a copy of a
    /// 100k-route state, whose largest set holds 80k elements, cost more than the change). Throws,
    /// with nothing committed and `state` as it was, when the state is stale or does not hold a
    /// rule the change names; the caller then replaces the whole table.
    public func apply(_ change: TableChange, over state: inout TableState) throws(NetlinkError) -> ApplyReport {
        let clock = ContinuousClock()
        let buildStart = clock.now
        let routeIndex = state.routeIndices(of: change.deletedRules + change.insertedRules.compactMap(\.before))
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
        batch.beginBatch(generation: state.generation)
        try encoder.tableMessage(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE)
        for comment in change.deletedRules {
            for (k, handle) in try route(comment).handles.enumerated() {
                try encoder.deleteRule(chain: change.chain, handle: handle, index: k, comment: comment)
            }
        }
        let removalsAt = change.newSets.count + change.addedElements.count
        for (k, set) in change.removedElements.enumerated() {
            try SetCodec.encodeElements(set, index: removalsAt + k, encoder: encoder, delete: true, partial: true)
        }
        for name in change.deletedSets { try encoder.deleteSet(name) }
        for object in change.deletedObjects { try encoder.deleteObject(object.name, type: object.type) }
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
        if checkOnly { return ApplyReport(messages: batch.messageCount, bytes: batch.length, generation: state.generation,
                                          buildTime: buildTime, kernelTime: kernelTime) }
        guard handles.allSatisfy({ $0 != nil }) else {
            throw .unacknowledged(detail: "committed, but the kernel echoed \(handles.compactMap { $0 }.count) of \(handles.count) new rule handles")
        }
        let report = ApplyReport(messages: batch.messageCount, bytes: batch.length, generation: state.generation,
                                 buildTime: buildTime, kernelTime: kernelTime)
        state.update(by: change, handles: handles.map { $0! })
        state.generation = (try? generation()) ?? 0
        return report
    }
}
