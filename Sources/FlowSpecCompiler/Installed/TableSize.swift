/// How large an installed table is — rules, sets, set elements, chains — kept up to date as
/// changes are committed, so that a daemon can report it after every change without building
/// the whole table again. (`IncrementalTable.table` emits every set element: at 50k routes
/// that cost 60–220 ms of CPU per single-route change, all for four gauges.)
public struct TableSize: Sendable, Hashable {
    public private(set) var rules: Int
    public private(set) var chains: Int
    /// Elements of every set of the table (value sets, merge sets, limit maps).
    public private(set) var setElements: Int
    /// Elements per set, by name: a change deletes a set by name alone.
    private var elementsBySet: [String: Int]

    public var sets: Int { elementsBySet.count }

    public init(_ table: borrowing NftTable) {
        rules = table.ruleCount
        chains = table.chains.count
        elementsBySet = Dictionary(table.sets.map { ($0.name, $0.elements.count) }, uniquingKeysWith: +)
        setElements = elementsBySet.values.reduce(0, +)
    }

    /// The size once `change` is committed, in the order `TableState.update(by:handles:)` takes
    /// it: elements out of kept sets, sets deleted, sets made (with all their elements),
    /// elements into kept sets. `rules`: the rule count after the change, which the table's
    /// state knows (a deleted rule is named by its route, which may have several rules).
    public mutating func apply(_ change: TableChange, rules: Int) {
        for removal in change.removedElements where elementsBySet[removal.name] != nil {
            elementsBySet[removal.name]! -= removal.elements.count
        }
        for name in change.deletedSets { elementsBySet[name] = nil }
        for set in change.newSets { elementsBySet[set.name] = set.elements.count }
        for addition in change.addedElements where elementsBySet[addition.name] != nil {
            elementsBySet[addition.name]! += addition.elements.count
        }
        setElements = elementsBySet.values.reduce(0, +)
        self.rules = rules
    }
}
