import CNftnl
import FlowSpecCompiler
import Glibc

extension NftConnection {
    /// A full atomic replace (as `apply`) that also returns the table's new state, for a later
    /// change in place (`apply(_:over:)`, with a change from `IncrementalTable` or
    /// `TableChange.plan(from:to:)`): handles are taken from the kernel's echo of the first and
    /// last rule (a fresh table numbers its objects consecutively in batch order, so the rules in
    /// between are first+1, first+2, …; the echo of the last one checks that). The table is given
    /// content set names first (`ContentSetNames`), so that a change planned from the state never
    /// keeps a set whose name stayed while its content changed. The state is nil when the table is not of
    /// the form delta handles, or the handles were not consecutive.
    public func applyTracked(_ table: consuming NftTable, basedOn expected: UInt32? = nil) throws(NetlinkError) -> (ApplyReport, TableState?) {
        var named = consume table
        ContentSetNames.apply(to: &named)
        return try applyTracked(named, shape: nil, basedOn: expected, releasingRules: false)
    }

    /// The shape of a table being replaced, for its new state.
    package enum PendingShape {
        case made(TableShape?)
        case making(Background<TableShape?>)

        package func wait() -> TableShape? {
            switch self {
            case .made(let shape): shape
            case .making(let work): work.wait()
            }
        }
    }

    /// `applyTracked` of a table that already has content set names, with the table's shape
    /// when it is already made, else made here: on
    /// another thread while the batch is built and sent, or before the batch when the rules are
    /// released as they are encoded (the shape reads them).
    package func applyTracked(_ table: consuming NftTable, shape known: PendingShape?, basedOn expected: UInt32?,
                      releasingRules: Bool) throws(NetlinkError) -> (ApplyReport, TableState?) {
        let rules = table.ruleCount
        let releasing = releasingRules && rules > Tuning.releaseMinRules
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
        let stamp = TableStamp.make()
        let (report, first, last) = try replace(&owned, basedOn: expected, echoEnds: true, releasingRules: releasing, stamp: stamp)
        // Checked, not committed: there is no new table to have a state of.
        if checkOnly { _ = pending.wait(); return (report, nil) }
        guard let shape = pending.wait() else { return (report, nil) }
        if rules == 0 {
            return (report, TableState(shape: shape, handles: { _ in 0 }, generation: (try? generation()) ?? 0, stamp: stamp))
        }
        guard let first, let last, last &- first == UInt64(rules - 1) else { return (report, nil) }
        let state = TableState(shape: shape, handles: { first + UInt64($0) }, generation: (try? generation()) ?? 0, stamp: stamp)
        return (report, state)
    }
}

extension NftConnection: TableWriter {
    /// `applyTracked`, owning the table: a large one's rules are freed as they are encoded
    /// (`Tuning.releaseMinRules`).
    public func replace(_ table: consuming NftTable, shape: TableShape?) throws -> (ApplyReport, TableState?) {
        try applyTracked(table, shape: shape.map { .made($0) }, basedOn: nil, releasingRules: true)
    }

    public var commits: Bool { !checkOnly }

    public func installedTable(name: String, family: NftFamily) throws -> NftTable? {
        try listTable(name: name, family: family)?.table
    }
}
