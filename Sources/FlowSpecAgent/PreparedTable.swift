import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats

/// Input → current routes → validated → ordered → compiled: everything between a reader and the
/// kernel, as one value. `apply`, `compile`, `watch` and `listen` all go through it.
public struct PreparedTable: Sendable {
    /// Routes the input held (after withdrawals), with their input positions.
    public var read: [ReadRoute]
    /// Input items the reader rejected, then routes rejected by validation or by the compiler,
    /// each with its input position and reason.
    public var rejected: [ReadError]
    /// Routes rejected after reading (validation, compiler); `rejected` also holds reader errors.
    public var rejectedRouteCount: Int
    /// The table and the compiler's notes (`notes` name routes by input position).
    public var compiled: CompileResult
    /// Compiler notes with the input position of their route.
    public var notes: [String]

    /// Routes left out by route-target scoping (not errors: they are meant for other switches).
    public var outOfScope: [ReadRoute]

    /// Routes that made it into the table (as rules or as the chain policy).
    public var installedCount: Int { read.count - rejectedRouteCount }

    /// - Parameters:
    ///   - scope: routes it does not admit are left out (`outOfScope`), not rejected.
    ///   - order: with `.sequence(.trafficMarking)` the traffic-marking community carries the
    ///     sequence number (the historical convention), so it is not applied as a DSCP marking.
    ///   - build: compiles the ordered routes instead of `compile` (the agent builds an
    ///     `IncrementalTable` this way); gets each route's order key, its tiebreak the route's
    ///     position among the valid input routes — when there are at most `keysUpTo` routes,
    ///     else nil (a million keys cost ~100 MB).
    public init(input: ReadResult, order: RouteOrder, scope: RouteScope = .all, options: CompileOptions,
                keysUpTo: Int = .max, build: ((_ ordered: [FlowRoute], _ keys: [RouteOrderKey]?) -> CompileResult)? = nil) {
        let current = input.currentRoutes()
        if scope.targets.isEmpty {
            // No scoping: every route is admitted (`RouteScope.admits`), no need to look.
            read = current
            outOfScope = []
        } else {
            read = []
            outOfScope = []
            for r in current {
                if scope.admits(r.route) { read.append(r) } else { outOfScope.append(r) }
            }
        }
        rejected = input.errors
        let readerErrors = input.errors.count
        var valid = [FlowRoute]()
        // For each valid route, its index in `read` (for its input position).
        var validSource = [Int]()
        valid.reserveCapacity(read.count)
        validSource.reserveCapacity(read.count)
        for k in read.indices {
            do {
                try read[k].route.validate()
                valid.append(read[k].route)
                validSource.append(k)
            } catch {
                rejected.append(ReadError(position: read[k].position, reason: "\(error)"))
            }
        }
        // The compiler names routes by their index in the ordered list; the permutation leads
        // from there back to the input position (no lookup by route identity).
        let permutation = valid.orderedIndices(order)
        var ordered = permutation.map { order.compiledForm(of: valid[$0]) }
        let keys = build == nil || valid.count > keysUpTo ? nil : permutation.map { RouteOrderKey(valid[$0], order: order, tiebreak: $0) }
        valid = []
        compiled = build?(ordered, keys) ?? compile(ordered, options: options)
        ordered = []
        let read = self.read
        func position(_ index: Int) -> String { read[validSource[permutation[index]]].position }
        for r in compiled.rejected {
            rejected.append(ReadError(position: position(r.index), reason: r.reason))
        }
        rejectedRouteCount = rejected.count - readerErrors
        notes = compiled.notes.map { n in "\(position(n.index)): \(n.message)" }
    }
}
