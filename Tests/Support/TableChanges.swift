import FlowSpecCompiler

/// What a change does to a table: rules by comment, sets, elements (by key) and objects.
public func applyingChange(_ change: TableChange, to table: NftTable) -> NftTable {
    var t = table
    let deleted = Set(change.deletedRules)
    t.chains[0].rules.removeAll { deleted.contains($0.comment ?? "") }
    for insert in change.insertedRules {
        let at = insert.before.flatMap { b in t.chains[0].rules.firstIndex { $0.comment == b } } ?? t.chains[0].rules.count
        t.chains[0].rules.insert(insert.rule, at: at)
    }
    for removal in change.removedElements {
        guard let i = t.sets.firstIndex(where: { $0.name == removal.name }) else { continue }
        t.sets[i].elements.removeAll { e in removal.elements.contains { $0.key == e.key && $0.keyEnd == e.keyEnd } }
    }
    t.sets.removeAll { change.deletedSets.contains($0.name) }
    t.objects.removeAll { o in change.deletedObjects.contains { $0.name == o.name } }
    t.objects += change.newObjects
    t.sets += change.newSets
    for addition in change.addedElements {
        if let i = t.sets.firstIndex(where: { $0.name == addition.name }) { t.sets[i].elements += addition.elements }
    }
    return t
}
