/// When a change in place is worth it, against replacing the whole table: the one cost model of
/// the tool (the keeper, `apply` and the daemons all ask it).
///
/// Two limits. The first is the planner's: a change of more than `inPlaceRoutes` routes, or
/// half the table, is compiled whole, which also gives the merge pass its own placement back.
/// Placing a route costs about twice what compiling it in a whole table does, so half is where
/// the two meet; the kernel's part favours the change (only its elements are sent). Measured
/// (docs/benchmarks.md, "Session 16"): 50,000 routes announced beside 50,000 took 2.6–3.6 s to
/// the commit in place, 5.1–5.7 s compiled and replaced whole.
///
/// The second limit is the kernel's: it finds a rule by handle (to delete it, or to insert next
/// to it) by walking the chain's list, so each changed rule costs about `perChange` plus
/// `perRuleWalked` times the chain length; every commit that touches the chain also rebuilds its
/// rule array (`perRuleCommitted` per rule), while a full replace costs about `perRuleLoaded` per
/// rule of the new table. A change is sent when its estimate is below `margin` times the full
/// replace's. Fitted to the benchmark on the reference VM (docs/benchmarks.md): a walk step
/// costs ~10 ns at 10k rules and ~80 ns at 100k (cache misses); 40 ns puts the break-even near
/// 0.1–0.3% of the rules at 100k and near 2% at 10k.
public struct CostPolicy: Sendable, Hashable {
    /// Routes changed in one go that are always worth placing (above: half the table).
    public var inPlaceRoutes = 1000
    public var perChange: Double = 20e-6
    public var perRuleWalked: Double = 40e-9
    public var perRuleCommitted: Double = 1e-6
    public var perRuleLoaded: Double = 20e-6
    /// Adding or deleting one element of a merge set (hash sets: O(1); interval sets cost more,
    /// but hold at most 2,000 elements), and loading one in a full replace.
    public var perElementChanged: Double = 3e-6
    public var perElementLoaded: Double = 2e-6
    public var margin: Double = 0.5
    /// Routes withdrawn from a table kept in place since it was built (`IncrementalTable` keeps
    /// what they leave behind) past which the next change rebuilds it whole: past this many,
    /// and past as many as it holds. Keeps a daemon's memory level under churn.
    public var rebuildAfterRetired = 50_000
    public init() {}

    /// Whether a table kept in place that holds `routes` routes and has had `retired` withdrawn
    /// since it was built is better rebuilt.
    public func worthRebuilding(retired: Int, of routes: Int) -> Bool {
        retired > max(rebuildAfterRetired, routes)
    }

    /// Whether `changes` routes (or rules and elements) of a table of `routes` routes are worth
    /// placing one by one: up to `inPlaceRoutes`, or half the routes.
    public func worthPlacing(_ changes: Int, of routes: Int) -> Bool {
        changes <= max(inPlaceRoutes, routes / 2)
    }

    /// Whether the kernel takes a change of `changes` rules in a chain of `chainLength` and
    /// `elementChanges` set elements faster than a table of `newRules` rules and `newElements`
    /// elements (with the `margin`).
    public func worthSending(changes: Int, chainLength: Int, newRules: Int, elementChanges: Int, newElements: Int) -> Bool {
        let commit = changes > 0 ? Double(chainLength) * perRuleCommitted : 0
        let delta = commit + Double(changes) * (perChange + Double(chainLength) * perRuleWalked)
            + Double(elementChanges) * perElementChanged
        let full = Double(max(newRules, 1)) * perRuleLoaded + Double(newElements) * perElementLoaded + 0.002
        return delta <= margin * full
    }
}

/// A change planned against an installed table: made in place, or a whole replace and why.
public enum PlannedChange: Sendable {
    case inPlace(TableChange)
    case replace(reason: String)
}

extension TableChange {
    /// The change from the installed table `state` to `table`, planned by comparing the two.
    /// `table` gets content set names first (`ContentSetNames`), as the one it replaces got.
    ///
    /// Routes are matched by identity; a route is kept when its digest (rules and the objects
    /// they use) is unchanged and it keeps its order relative to the other kept routes (a kept
    /// route that moved is deleted and reinserted); a merged rule is kept the same way (its
    /// identity is its `merge <set>` comment), and the elements of a merge set present in both
    /// tables change in place: those gone deleted, the new ones added. A replace when a rule
    /// carries no route identity or merge comment, when the table or chain definition differs,
    /// or when `policy` finds a replace cheaper.
    public static func plan(from state: TableState, to table: NftTable, policy: CostPolicy = CostPolicy()) -> PlannedChange {
        let named = ContentSetNames.apply(table)
        return plan(from: state, to: named, shape: TableShape(named), policy: policy)
    }

    /// `plan` for a table that already has content set names, with its shape already made.
    package static func plan(from state: TableState, to table: NftTable, shape: TableShape?, policy: CostPolicy) -> PlannedChange {
        guard let shape else {
            return .replace(reason: "the new table has rules that carry neither a route identity nor a merge set")
        }
        guard state.table == table.name, state.family == table.family, state.chain == table.chains[0].name,
              state.chainDigest == shape.chainDigest else {
            return .replace(reason: "the table or its chain definition changed")
        }
        var oldIndex: [String: Int] = [:]
        oldIndex.reserveCapacity(state.routes.count)
        for (i, r) in state.routes.enumerated() { oldIndex[r.identity] = i }
        var kept = [Int?](repeating: nil, count: shape.routes.count)
        var isKept = [Bool](repeating: false, count: state.routes.count)
        var lastKept = -1
        for (j, r) in shape.routes.enumerated() {
            if let i = oldIndex[r.identity], state.routes[i].digest == r.digest, i > lastKept {
                kept[j] = i; isKept[i] = true; lastKept = i
            }
        }
        var change = TableChange(table: table.name, chain: table.chains[0].name)
        var ruleChanges = 0
        for i in state.routes.indices where !isKept[i] {
            change.deletedRules.append(state.routes[i].identity)
            ruleChanges += state.routes[i].handles.count
        }
        // Each inserted route goes before the next kept one (nil: appended).
        var before = [String?](repeating: nil, count: shape.routes.count)
        var next: String? = nil
        for j in shape.routes.indices.reversed() {
            if let i = kept[j] { next = state.routes[i].identity } else { before[j] = next }
        }
        let rules = table.chains[0].rules
        for j in shape.routes.indices where kept[j] == nil {
            for r in shape.routes[j].rules {
                change.insertedRules.append(Insert(rule: rules[r], before: before[j]))
            }
            ruleChanges += shape.routes[j].rules.count
        }
        var elementChanges = 0
        for set in table.sets {
            guard let new = shape.mergeSets[set.name], state.sets.contains(set.name) else { continue }
            guard let old = state.mergeSets[set.name], old.definition == new.definition else {
                return .replace(reason: "set \(set.name) is installed with another definition")
            }
            // Most sets do not change: compare an order-free sum of the element digests first.
            if old.elements.count == new.elements.count,
               old.elements.reduce(0, { $0 &+ $1.digest }) == new.elements.reduce(0, { $0 &+ $1.digest }) { continue }
            // Matched by digest (a hash of one integer, not of byte arrays), confirmed by key.
            var oldByDigest: [UInt64: Int] = [:]
            oldByDigest.reserveCapacity(old.elements.count)
            for (k, e) in old.elements.enumerated() { oldByDigest[e.digest] = k }
            var keptOld = [Bool](repeating: false, count: old.elements.count)
            var added: [NftSetElement] = []
            for (k, e) in new.elements.enumerated() {
                if let o = oldByDigest[e.digest], !keptOld[o], old.elements[o].key == e.key, old.elements[o].keyEnd == e.keyEnd {
                    keptOld[o] = true
                } else {
                    added.append(set.elements[k])
                }
            }
            let gone = old.elements.indices.filter { !keptOld[$0] }.map {
                NftSetElement(key: old.elements[$0].key, keyEnd: old.elements[$0].keyEnd)
            }
            if gone.isEmpty && added.isEmpty { continue }
            elementChanges += gone.count + added.count
            var removal = set, addition = set
            removal.elements = gone
            addition.elements = added
            if !gone.isEmpty { change.removedElements.append(removal) }
            if !added.isEmpty { change.addedElements.append(addition) }
        }
        let newElements = table.sets.reduce(0) { $0 + $1.elements.count }
        if !policy.worthSending(changes: ruleChanges, chainLength: max(state.ruleCount, table.ruleCount), newRules: table.ruleCount,
                                elementChanges: elementChanges, newElements: newElements) {
            return .replace(reason: "\(ruleChanges) rule changes in a chain of \(state.ruleCount) and \(elementChanges) set element changes: a full replace is cheaper")
        }
        let newNames = Set(table.sets.map(\.name))
        change.newSets = table.sets.filter { !state.sets.contains($0.name) }
        change.deletedSets = state.sets.filter { !newNames.contains($0) }.sorted()
        change.newObjects = table.objects.filter { state.objects[$0.name] != shape.objectEntries[$0.name] }
        change.deletedObjects = state.objects.filter { shape.objectEntries[$0.key] != $0.value }
            .map { ObjectReference(name: $0.key, type: $0.value.type) }.sorted { $0.name < $1.name }
        return .inPlace(change)
    }
}
