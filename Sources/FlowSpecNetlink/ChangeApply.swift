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
    /// Returns the cost; `state` becomes the table's new state, changed in place (a copy of a
    /// 100k-route state, whose largest set holds 80k elements, cost more than the change). Throws,
    /// with nothing committed and `state` as it was, when the state is stale or does not hold a
    /// rule the change names; the caller then replaces the whole table.
    public func apply(_ change: TableChange, over state: inout TableState) throws(NetlinkError) -> ApplyReport {
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

extension TableState {
    /// This state once `change` is committed, its inserted rules having `handles`.
    mutating func update(by change: TableChange, handles: [UInt64]) {
        // Elements first: a removed element's digest includes the object it named, which may go.
        for removal in change.removedElements where mergeSets[removal.name] != nil {
            let gone = removal.elements.map { e in Element(e) { objects[$0]?.digest ?? 0 } }
            // In place (`mergeSets[name]!`): a copy of a large set's elements costs more than the change.
            if gone.count <= 16 {
                for g in gone {
                    if let k = mergeSets[removal.name]!.elements.firstIndex(of: g) {
                        mergeSets[removal.name]!.elements.swapAt(k, mergeSets[removal.name]!.elements.count - 1)
                        mergeSets[removal.name]!.elements.removeLast()
                    }
                }
            } else {
                var remaining = Dictionary(gone.map { ($0, 1) }, uniquingKeysWith: +)
                mergeSets[removal.name]!.elements.removeAll { e in
                    guard let n = remaining[e], n > 0 else { return false }
                    remaining[e] = n - 1
                    return true
                }
            }
        }
        for o in change.deletedObjects { objects[o.name] = nil }
        for o in change.newObjects { objects[o.name] = ObjectEntry(o) }
        for name in change.deletedSets { sets.remove(name); mergeSets[name] = nil }
        let merged = Set(change.insertedRules.compactMap { $0.rule.comment.flatMap(MergedRule.set(inComment:)) })
        for set in change.newSets {
            sets.insert(set.name)
            // A value set (a port list of a rule that did not merge) is not a merge set.
            guard merged.contains(set.name) else { continue }
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
