import CNftnl
import FlowSpecCompiler
import Glibc

/// When a delta is worth it. The kernel finds a rule by handle (to delete it, or to insert next
/// to it) by walking the chain's list, so each changed rule costs about `perChange` plus
/// `perRuleWalked` times the chain length; every commit that touches the chain also rebuilds its
/// rule array (`perRuleCommitted` per rule), while a full replace costs about `perRuleLoaded` per
/// rule of the new table. A delta is chosen when its estimate is below `margin` times the full
/// replace's. Fitted to the benchmark on the reference VM (docs/benchmarks.md): a walk step
/// costs ~10 ns at 10k rules and ~80 ns at 100k (cache misses); 40 ns puts the break-even near
/// 0.1–0.3% of the rules at 100k and near 2% at 10k.
public struct DeltaPolicy: Sendable, Hashable {
    public var perChange: Double = 20e-6
    public var perRuleWalked: Double = 40e-9
    public var perRuleCommitted: Double = 1e-6
    public var perRuleLoaded: Double = 20e-6
    /// Adding or deleting one element of a merge set (hash sets: O(1); interval sets cost more,
    /// but hold at most 2,000 elements), and loading one in a full replace.
    public var perElementChanged: Double = 3e-6
    public var perElementLoaded: Double = 2e-6
    public var margin: Double = 0.5
    public init() {}

    func worthIt(changes: Int, chainLength: Int, newRules: Int, elementChanges: Int, newElements: Int) -> Bool {
        let commit = changes > 0 ? Double(chainLength) * perRuleCommitted : 0
        let delta = commit + Double(changes) * (perChange + Double(chainLength) * perRuleWalked)
            + Double(elementChanges) * perElementChanged
        let full = Double(max(newRules, 1)) * perRuleLoaded + Double(newElements) * perElementLoaded + 0.002
        return delta <= margin * full
    }
}

/// The difference between an installed table (`TableState`) and a new compiled table, as the
/// messages of one batch: delete the rules of removed or changed routes (or merged rules) by
/// handle, insert new ones before the next kept rule (NFTA_RULE_POSITION), delete and add the
/// elements of merge sets that changed, create sets and objects the new rules need, delete those
/// nothing uses any more. Kept rules and elements are never touched, so their counters and limit
/// state survive.
public struct DeltaPlan: Sendable {
    /// The new table (content set names, see `ContentSetNames`).
    public let table: NftTable
    let shape: TableShape
    /// For each route of the new table: the index of the kept old route, or nil if inserted.
    let kept: [Int?]
    /// Old routes whose rules are deleted.
    let removed: [Int]
    /// The inserted new routes, in table order, each with the handle of the kept rule it goes
    /// before (nil: appended).
    let inserts: [(route: Int, before: UInt64?)]
    let newSets: [Int]
    let newObjects: [Int]
    let deletedSets: [String]
    let deletedObjects: [(String, NftObjectType)]
    /// Merge sets kept by name whose elements change: elements deleted (from the old state)
    /// and added (indices into the new set's elements).
    let elementChanges: [ElementChange]
    let old: TableState

    struct ElementChange {
        var set: Int
        var removed: [TableState.Element]
        var added: [Int]
    }

    public var removedRoutes: Int { removed.count }
    public var insertedRoutes: Int { inserts.count }
    public var deletedRules: Int { removed.reduce(0) { $0 + old.routes[$1].handles.count } }
    public var insertedRules: Int { inserts.reduce(0) { $0 + shape.routes[$1.route].rules.count } }
    public var removedElements: Int { elementChanges.reduce(0) { $0 + $1.removed.count } }
    public var addedElements: Int { elementChanges.reduce(0) { $0 + $1.added.count } }
    public var isEmpty: Bool {
        removed.isEmpty && inserts.isEmpty && newSets.isEmpty && newObjects.isEmpty && deletedSets.isEmpty && deletedObjects.isEmpty
            && elementChanges.isEmpty
    }
}

public enum DeltaDecision: Sendable {
    case delta(DeltaPlan)
    /// A full replace is needed or cheaper; the reason says which.
    case full(reason: String)
}

extension DeltaPlan {
    /// Plans the change from `state` to `table` (which must carry content set names: pass it
    /// through `ContentSetNames.apply` first, as the full replace path does too).
    ///
    /// Routes are matched by identity; a route is kept when its digest (rules and the objects
    /// they use) is unchanged and it keeps its order relative to the other kept routes (a kept
    /// route that moved is deleted and reinserted); a merged rule is kept the same way (its
    /// identity is its `merge <set>` comment), and the elements of a merge set present in both
    /// tables change in place: those gone deleted, the new ones added. Falls back to `.full`
    /// when a rule carries no route identity or merge comment, when the table or chain
    /// definition differs, or when the `policy`'s cost estimate favours a full replace.
    public static func make(from state: TableState, to table: NftTable, policy: DeltaPolicy = DeltaPolicy()) -> DeltaDecision {
        make(from: state, to: table, shape: TableShape(table), policy: policy)
    }

    /// `make` with the table's shape already made (`install` needs it for a full replace too).
    static func make(from state: TableState, to table: NftTable, shape: TableShape?, policy: DeltaPolicy) -> DeltaDecision {
        guard let shape else {
            return .full(reason: "the new table has rules that carry neither a route identity nor a merge set")
        }
        guard state.table == table.name, state.family == table.family, state.chain == table.chains[0].name,
              state.chainDigest == shape.chainDigest else {
            return .full(reason: "the table or its chain definition changed")
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
        let removed = state.routes.indices.filter { !isKept[$0] }
        var inserts: [(route: Int, before: UInt64?)] = []
        var next: UInt64? = nil
        for j in shape.routes.indices.reversed() {
            if let i = kept[j] { next = state.routes[i].handles.first; continue }
            inserts.append((j, next))
        }
        inserts.reverse()
        let changes = removed.reduce(0) { $0 + state.routes[$1].handles.count }
            + inserts.reduce(0) { $0 + shape.routes[$1.route].rules.count }
        var elementChanges: [ElementChange] = []
        var changedElements = 0
        for (i, set) in table.sets.enumerated() {
            guard let new = shape.mergeSets[set.name], state.sets.contains(set.name) else { continue }
            guard let old = state.mergeSets[set.name], old.definition == new.definition else {
                return .full(reason: "set \(set.name) is installed with another definition")
            }
            // Most sets do not change: compare an order-free sum of the element digests first.
            if old.elements.count == new.elements.count,
               old.elements.reduce(0, { $0 &+ $1.digest }) == new.elements.reduce(0, { $0 &+ $1.digest }) { continue }
            // Matched by digest (a hash of one integer, not of byte arrays), confirmed by key.
            var oldByDigest: [UInt64: Int] = [:]
            oldByDigest.reserveCapacity(old.elements.count)
            for (k, e) in old.elements.enumerated() { oldByDigest[e.digest] = k }
            var keptOld = [Bool](repeating: false, count: old.elements.count)
            var added: [Int] = []
            for (k, e) in new.elements.enumerated() {
                if let o = oldByDigest[e.digest], !keptOld[o], old.elements[o].key == e.key, old.elements[o].keyEnd == e.keyEnd {
                    keptOld[o] = true
                } else {
                    added.append(k)
                }
            }
            let gone = old.elements.indices.filter { !keptOld[$0] }.map { old.elements[$0] }
            if gone.isEmpty && added.isEmpty { continue }
            changedElements += gone.count + added.count
            elementChanges.append(ElementChange(set: i, removed: gone, added: added))
        }
        let newElements = table.sets.reduce(0) { $0 + $1.elements.count }
        if !policy.worthIt(changes: changes, chainLength: max(state.ruleCount, table.ruleCount), newRules: table.ruleCount,
                           elementChanges: changedElements, newElements: newElements) {
            return .full(reason: "\(changes) rule changes in a chain of \(state.ruleCount) and \(changedElements) set element changes: a full replace is cheaper")
        }
        let newNames = Set(table.sets.map(\.name))
        let newSets = table.sets.indices.filter { !state.sets.contains(table.sets[$0].name) }
        let deletedSets = state.sets.filter { !newNames.contains($0) }.sorted()
        let newObjects = table.objects.indices.filter { state.objects[table.objects[$0].name] != shape.objectEntries[table.objects[$0].name] }
        let deletedObjects = state.objects.filter { shape.objectEntries[$0.key] != $0.value }
            .map { ($0.key, $0.value.type) }.sorted { $0.0 < $1.0 }
        return .delta(DeltaPlan(table: table, shape: shape, kept: kept, removed: removed,
                                inserts: inserts, newSets: newSets, newObjects: newObjects,
                                deletedSets: deletedSets, deletedObjects: deletedObjects,
                                elementChanges: elementChanges, old: state))
    }
}

/// How `NftConnection.install` put a table in.
public enum InstallMethod: Sendable, CustomStringConvertible {
    case delta(removedRoutes: Int, insertedRoutes: Int, deletedElements: Int, addedElements: Int)
    /// A whole atomic replace, and why no delta was sent.
    case fullReplace(reason: String)

    public var description: String {
        switch self {
        case .delta(let r, let i, let d, let a):
            "delta: rules of \(r) routes or merged rules removed, \(i) inserted, \(d) set elements deleted, \(a) added"
        case .fullReplace(let reason): "full replace (\(reason))"
        }
    }
}

extension NftConnection {
    /// Puts `table` (with content set names, `ContentSetNames`) in the kernel: as a delta from
    /// `state` when that state is of the current ruleset generation and the delta is worth it
    /// (`DeltaPlan.make`), else by a full atomic replace — also when the delta fails (nothing of
    /// it was committed). Returns the cost, the table's new state (for the next call) and how.
    public func install(_ table: consuming NftTable, over state: TableState?,
                        releasingRules: Bool = false) throws(NetlinkError) -> (ApplyReport, TableState?, InstallMethod) {
        let generation = try generation()
        var reason = "no current state of the table"
        var shape: PendingShape?
        if let state {
            if state.generation != generation {
                reason = "the ruleset changed since the state was taken"
            } else {
                // Made once: the delta's plan and a full replace's state both need it.
                let made = TableShape(copy table)
                switch DeltaPlan.make(from: state, to: copy table, shape: made, policy: DeltaPolicy()) {
                case .full(let why): reason = why
                case .delta(let plan):
                    do {
                        let (report, next) = try applyDelta(plan, basedOn: generation)
                        return (report, next, .delta(removedRoutes: plan.removedRoutes, insertedRoutes: plan.insertedRoutes,
                                                     deletedElements: plan.removedElements, addedElements: plan.addedElements))
                    } catch {
                        reason = "the delta failed, nothing of it was committed: \(error)"
                    }
                }
                shape = .made(made)
            }
        }
        let (report, next) = try applyTracked(table, shape: shape, basedOn: nil, releasingRules: releasingRules)
        return (report, next, .fullReplace(reason: reason))
    }
}

extension NftConnection {
    /// Applies `plan` in one batch (so the packet path sees the old table or the new one, never a
    /// mix) carrying `generation` (NFNL_BATCH_GENID): if the ruleset changed since the state was
    /// taken the kernel refuses it (`generationChanged`) and nothing changes. Any failure leaves
    /// the old table exactly as it was; callers then fall back to a full replace.
    ///
    /// Order inside the batch: rule deletes, then set and object deletes (nothing uses them
    /// any more), then new objects and sets with their elements, then rule inserts, each before
    /// the next kept rule (or appended) and echoed (NLM_F_ECHO) so the new state knows its handles.
    ///
    /// Returns the cost and the table's new state.
    public func applyDelta(_ plan: DeltaPlan, basedOn generation: UInt32) throws(NetlinkError) -> (ApplyReport, TableState) {
        let table = plan.table
        let clock = ContinuousClock()
        let buildStart = clock.now
        let elements = plan.newSets.reduce(0) { $0 + table.sets[$1].elements.count } + plan.removedElements + plan.addedElements
        let count = 4 + plan.deletedRules + plan.deletedSets.count + plan.deletedObjects.count + plan.newObjects.count
            + plan.newSets.count * 2 + plan.insertedRules
        let batch = BatchBuffer(firstSequence: socket.reserveSequence(count + elements),
                                capacity: 8192 + count * 720 + elements * 160, expectedMessages: count)
        let encoder = TableEncoder(table: table, batch: batch)
        let chain = table.chains[0].name
        batch.beginBatch(generation: generation)
        try encoder.tableMessage(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE)
        for i in plan.removed {
            let route = plan.old.routes[i]
            for (k, handle) in route.handles.enumerated() {
                try encoder.deleteRule(chain: chain, handle: handle, index: k, comment: route.identity)
            }
        }
        // Elements before objects: a deleted limit object may still be named by an element.
        for change in plan.elementChanges where !change.removed.isEmpty {
            var set = table.sets[change.set]
            set.elements = change.removed.map { NftSetElement(key: $0.key, keyEnd: $0.keyEnd) }
            try SetCodec.encodeElements(set, index: change.set, encoder: encoder, delete: true, partial: true)
        }
        for name in plan.deletedSets { try encoder.deleteSet(name) }
        for (name, type) in plan.deletedObjects { try encoder.deleteObject(name, type: type) }
        for i in plan.newObjects { try encoder.object(i) }
        for i in plan.newSets { try SetCodec.encodeSet(table.sets[i], index: i, encoder: encoder) }
        for i in plan.newSets { try SetCodec.encodeElements(table.sets[i], index: i, encoder: encoder) }
        for change in plan.elementChanges where !change.added.isEmpty {
            var set = table.sets[change.set]
            set.elements = change.added.map { set.elements[$0] }
            try SetCodec.encodeElements(set, index: change.set, encoder: encoder, partial: true)
        }
        // Inserted rules by sequence number, to give the echoed handles their place.
        var insertedAt: [UInt32: Int] = [:]
        for (j, before) in plan.inserts {
            for r in plan.shape.routes[j].rules {
                try encoder.rule(chain: 0, index: r, before: before, echo: true)
                insertedAt[batch.lastSequence] = r
            }
        }
        let buildTime = clock.now - buildStart
        // The new state's handles, by rule: kept routes keep theirs, inserted ones take the echoed ones.
        var handles = [UInt64](repeating: 0, count: plan.shape.routes.last?.rules.upperBound ?? 0)
        for (j, k) in plan.kept.enumerated() {
            guard let k else { continue }
            for (n, r) in plan.shape.routes[j].rules.enumerated() { handles[r] = plan.old.routes[k].handles[n] }
        }
        var echoed = 0
        let kernelTime = try commit(batch, table: table) { seq, handle in
            if let r = insertedAt[seq] { handles[r] = handle; echoed += 1 }
        }
        guard echoed == insertedAt.count else {
            throw .unacknowledged(detail: "committed, but the kernel echoed \(echoed) of \(insertedAt.count) new rule handles")
        }
        let after = (try? self.generation()) ?? 0
        let state = TableState(shape: plan.shape, handles: { handles[$0] }, generation: after)
        return (ApplyReport(messages: batch.messageCount, bytes: batch.length, generation: generation,
                            buildTime: buildTime, kernelTime: kernelTime), state)
    }

    /// A full atomic replace (as `apply`) that also returns the table's new state, for a later
    /// `applyDelta`: handles are taken from the kernel's echo of the first and last rule (a
    /// fresh table numbers its objects consecutively in batch order, so the rules in between
    /// are first+1, first+2, …; the echo of the last one checks that). `table` must carry
    /// content set names (`ContentSetNames.apply`). The state is nil when the table is not of
    /// the form delta handles, or the handles were not consecutive.
    ///
    /// `releasingRules`: the table is the caller's last copy and may be emptied while it is encoded
    /// (see `replace`; tables of more than `releaseMinRules` rules are); for one-shot callers such
    /// as the CLI's `apply`, whose peak memory is the table plus its batch.
    public func applyTracked(_ table: consuming NftTable, basedOn expected: UInt32? = nil,
                             releasingRules: Bool = false) throws(NetlinkError) -> (ApplyReport, TableState?) {
        try applyTracked(table, shape: nil, basedOn: expected, releasingRules: releasingRules)
    }

    /// The shape of a table being replaced, for its new state.
    enum PendingShape {
        case made(TableShape?)
        case making(Background<TableShape?>)

        func wait() -> TableShape? {
            switch self {
            case .made(let shape): shape
            case .making(let work): work.wait()
            }
        }
    }

    /// Tables of up to this many rules keep their rules while they are encoded, even for a caller
    /// that allows releasing them: their IR and batch together take a few hundred MB at most, and
    /// a table that keeps its rules can have its shape (~0.9 µs per rule) made on another CPU
    /// while the batch is built and the kernel commits it, instead of before.
    static let releaseMinRules = 300_000

    /// `applyTracked` with the table's shape when it is already made, else made here: on
    /// another thread while the batch is built and sent, or before the batch when the rules are
    /// released as they are encoded (the shape reads them).
    func applyTracked(_ table: consuming NftTable, shape known: PendingShape?, basedOn expected: UInt32?,
                      releasingRules: Bool) throws(NetlinkError) -> (ApplyReport, TableState?) {
        let rules = table.ruleCount
        let releasing = releasingRules && rules > Self.releaseMinRules
        let pending: PendingShape
        if let known {
            pending = known
        } else if releasing {
            pending = .made(TableShape(copy table))
        } else {
            let copy = copy table
            pending = .making(Background { TableShape(copy) })
        }
        var owned = consume table
        let (report, first, last) = try replace(&owned, basedOn: expected, echoEnds: true, releasingRules: releasing)
        guard let shape = pending.wait() else { return (report, nil) }
        if rules == 0 {
            return (report, TableState(shape: shape, handles: { _ in 0 }, generation: (try? generation()) ?? 0))
        }
        guard let first, let last, last &- first == UInt64(rules - 1) else { return (report, nil) }
        let state = TableState(shape: shape, handles: { first + UInt64($0) }, generation: (try? generation()) ?? 0)
        return (report, state)
    }
}
