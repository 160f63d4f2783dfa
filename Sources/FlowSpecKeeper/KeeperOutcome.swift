import FlowSpecCompiler
import FlowSpecFormats

/// How a `TableKeeper` brought the kernel to the new table.
public enum InstallMethod: Sendable, Hashable, CustomStringConvertible {
    /// The kernel already held exactly this table: nothing was sent.
    case unchanged
    /// A change in place, one batch: rules deleted and inserted, set elements deleted and added.
    /// Kept rules and elements were not touched (their counters and limit state go on).
    case inPlace(rulesOut: Int, rulesIn: Int, elementsOut: Int, elementsIn: Int)
    /// The whole table replaced atomically, and why no change in place was sent.
    case replace(reason: String)

    init(_ change: TableChange) {
        self = .inPlace(rulesOut: change.deletedRules.count, rulesIn: change.insertedRules.count,
                        elementsOut: change.removedElementCount, elementsIn: change.addedElementCount)
    }

    public var description: String {
        switch self {
        case .unchanged: "no change"
        case .inPlace(0, 0, 0, 0): "no change"
        case .inPlace(let ro, let ri, let eo, let ei):
            "delta in place: \(eo) set elements out, \(ei) in, \(ro) rules out, \(ri) in"
        case .replace(let reason): "full replace (\(reason))"
        }
    }
}

/// What one `TableKeeper.install` did, by route and in the kernel. Routes are named by their
/// input positions.
public struct KeeperOutcome: Sendable {
    /// Routes the input held (after withdrawals) that the scope admits.
    public var read: Int
    /// Routes in the table (as rules, set elements or the chain policy).
    public var installed: Int
    /// Input items the reader could not read, then routes rejected by validation or the
    /// compiler, each with its position and cause.
    public var rejected: [Rejection]
    /// Compiler notes, each with its route's input position.
    public var notes: [String]
    /// Routes left out by route-target scoping (meant for other switches; not errors).
    public var outOfScope: Int
    /// What the table does that its operator may not mean (`TableAdvice`), when the whole table
    /// was compiled.
    public var warnings: [String] = []
    /// The table's size, when the whole table was compiled (a change in place compiles only the
    /// routes that changed).
    public var rules: Int? { figures?.rules }
    public var sets: Int? { figures?.sets }
    /// The compiled table's form, size and the most rules a packet meets in it (nil when
    /// nothing was compiled).
    public var figures: TableFigures?
    public var method: InstallMethod
    /// Reading the routes into a table or a change: validation, ordering, compiling, planning.
    public var prepareTime: Duration
    /// The batch sent (`ApplyReport.nothing` when none was).
    public var report: ApplyReport

    /// Routes rejected by validation or the compiler (`rejected` also holds unreadable items).
    public var rejectedRoutes: Int { rejected.count { $0.isRoute } }
}
