import FlowSpec

extension TableState {
    /// This state once `change` is committed, its inserted rules having `handles`.
    package mutating func update(by change: TableChange, handles: [UInt64]) {
        // Elements by key (a set holds one element per key or interval): a delete names the key
        // only, so a change planned from a state (`plan(from:to:)`) does not know the rest.
        for removal in change.removedElements where mergeSets[removal.name] != nil {
            let gone = removal.elements.map { ElementKey(key: $0.key, keyEnd: $0.keyEnd) }
            // In place (`mergeSets[name]!`): a copy of a large set's elements costs more than the change.
            if gone.count <= 16 {
                for g in gone {
                    if let k = mergeSets[removal.name]!.elements.firstIndex(where: { $0.key == g.key && $0.keyEnd == g.keyEnd }) {
                        mergeSets[removal.name]!.elements.swapAt(k, mergeSets[removal.name]!.elements.count - 1)
                        mergeSets[removal.name]!.elements.removeLast()
                    }
                }
            } else {
                let remaining = Set(gone)
                mergeSets[removal.name]!.elements.removeAll { remaining.contains(ElementKey(key: $0.key, keyEnd: $0.keyEnd)) }
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

/// What identifies an element within its set.
private struct ElementKey: Hashable {
    var key: [UInt8]
    var keyEnd: [UInt8]?
}
