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
        // A merged rule's set, and a split limiter's limit map beside it (`<set>_o`).
        let merged = Set(change.insertedRules.compactMap { $0.rule.comment.flatMap(MergedRule.set(inComment:)) }.flatMap { [$0, $0 + "_o"] })
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
        if !change.deletedRules.isEmpty {
            let deleted = NameMatcher(change.deletedRules)
            routes.removeAll { deleted.contains($0.identity) }
        }
        // Inserted rules, with consecutive rules of one comment as one route.
        let position = routeIndices(of: change.insertedRules.compactMap(\.before))
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

extension TableState {
    /// The index in `routes` of each route named in `names` that the state holds. One pass over
    /// the routes that hashes nothing when few are asked for: a change names a few routes of a
    /// table of 100k, and a dictionary of all of them cost more than the change (~40 ms).
    package func routeIndices(of names: [String]) -> [String: Int] {
        guard !names.isEmpty else { return [:] }
        let wanted = NameMatcher(names)
        var found: [String: Int] = [:]
        for i in routes.indices where wanted.contains(routes[i].identity) { found[routes[i].identity] = i }
        return found
    }
}

/// Membership in a list of names: a scan of the list while it is short (comparing strings that
/// mostly differ in their first bytes costs less than hashing one), a set beyond.
package struct NameMatcher {
    private let few: [String]
    private let many: Set<String>?

    package init(_ names: [String]) {
        if names.count <= 16 { few = names; many = nil } else { few = []; many = Set(names) }
    }

    package func contains(_ name: String) -> Bool {
        if let many { return many.contains(name) }
        return few.contains(name)
    }
}
