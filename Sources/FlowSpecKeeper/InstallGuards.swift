import FlowSpecFormats

/// What a `TableKeeper` refuses to commit even though it could: a table missing routes the input
/// rejected (when all or nothing is asked for), an empty table over a table of routes, or the
/// withdrawal of too large a share of the installed routes at once. A refused install leaves the
/// kernel and the stored state untouched; the daemons then keep the last good table.
public struct InstallGuards: Sendable, Hashable {
    /// Nothing is committed when any input item or route is rejected (`apply --strict`).
    public var allOrNothing: Bool
    /// A table of routes may be replaced by one of none (`--allow-empty`).
    public var allowEmpty: Bool
    /// The largest share (0…1) of the installed routes one install may take out; nil: any.
    public var maxWithdrawal: Double?
    /// An input whose every item was rejected may be installed (as a table of no route). Off by
    /// default everywhere: such an input is a wrong format, family or a broken speaker, not a
    /// withdrawal (`apply --allow-empty` turns it on).
    public var acceptUnusableInput: Bool

    public init(allOrNothing: Bool = false, allowEmpty: Bool = true, maxWithdrawal: Double? = nil,
                acceptUnusableInput: Bool = false) {
        self.allOrNothing = allOrNothing; self.allowEmpty = allowEmpty; self.maxWithdrawal = maxWithdrawal
        self.acceptUnusableInput = acceptUnusableInput
    }
}

/// Why a `TableKeeper` committed nothing although the kernel would have taken the table.
public enum KeeperRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// `allOrNothing`, and these input items or routes were rejected (positions and reasons).
    case rejected([Rejection])
    /// The new table holds no route; the installed one holds `installed` (nil: a table of unknown
    /// content exists).
    case empty(installed: Int?)
    /// The install would take out `withdrawn` of the `installed` routes, more than `limit` of them.
    case tooManyWithdrawn(withdrawn: Int, installed: Int, limit: Double)
    /// Every item of the input was rejected (these): nothing in it is a route to install.
    case unusable([Rejection])

    public var description: String {
        switch self {
        case .rejected(let errors):
            "\(errors.count) input items or routes rejected and all or nothing asked for (--strict)"
        case .empty(let installed):
            "the new table holds no route and would replace one of \(installed.map { "\($0) routes" } ?? "unknown content") (--allow-empty allows it)"
        case .tooManyWithdrawn(let withdrawn, let installed, let limit):
            "\(withdrawn) of the \(installed) installed routes would be withdrawn at once, more than \(Self.percent(limit)) (--max-withdraw)"
        case .unusable(let errors):
            "no item of the input is a usable route (\(errors.count) rejected); a wrong format or family? (--allow-empty installs an empty table)"
        }
    }

    private static func percent(_ share: Double) -> String {
        let p = share * 100
        return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
    }
}

extension InstallGuards {
    /// The refusal for an install that leaves `nextCount` routes in the table, with the input's
    /// `rejected` items; nil when it may go ahead. `previousCount` is the number of routes
    /// installed (nil: unknown, and `tableExists` says whether a table is there); `withdrawn`
    /// counts the installed routes the install takes out (asked only with `maxWithdrawal`).
    func check(previousCount: Int?, tableExists: () throws -> Bool, nextCount: Int, withdrawn: () -> Int,
               rejected: [Rejection]) rethrows -> KeeperRefusal? {
        if allOrNothing && !rejected.isEmpty { return .rejected(rejected) }
        if nextCount == 0 && !allowEmpty {
            if let previousCount {
                if previousCount > 0 { return .empty(installed: previousCount) }
            } else if try tableExists() {
                return .empty(installed: nil)
            }
        }
        if let limit = maxWithdrawal, let previousCount, previousCount > 0 {
            let n = withdrawn()
            if Double(n) > limit * Double(previousCount) {
                return .tooManyWithdrawn(withdrawn: n, installed: previousCount, limit: limit)
            }
        }
        return nil
    }
}
