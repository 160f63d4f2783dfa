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
    public var rejected: [Rejection]
    /// Routes rejected after reading (validation, compiler); `rejected` also holds reader errors.
    public var rejectedRouteCount: Int
    /// The table and the compiler's notes (`notes` name routes by input position).
    public var compiled: CompileResult
    /// Compiler notes with the input position of their route.
    public var notes: [String]
    /// `TableAdvice.warnings` of the compiled table.
    public var warnings: [String] = []

    /// Routes left out by route-target scoping (not errors: they are meant for other switches).
    public var outOfScope: [ReadRoute]

    /// Routes that made it into the table (as rules or as the chain policy).
    public var installedCount: Int { read.count - rejectedRouteCount }

    /// - Parameters:
    ///   - scope: routes it does not admit are left out (`outOfScope`), not rejected.
    ///   - order: with `.sequence(.trafficMarking)` the traffic-marking community carries the
    ///     sequence number (the historical convention), so it is not applied as a DSCP marking.
    public init(input: ReadResult, order: RouteOrder, scope: RouteScope = .all, options: CompileOptions) {
        self.init(admitting: AdmittedRoutes(input, scope: scope), readerErrors: input.errors, order: order, options: options,
                  keysUpTo: .max, build: nil)
    }

    /// `init` of routes already admitted (validated and scoped once, by the keeper), with `build`
    /// compiling the ordered routes instead of `compile` (the keeper builds an `IncrementalTable`
    /// this way); it gets each route's order key, its tiebreak the route's position among the
    /// valid input routes. Only for at most `keysUpTo` routes (a million keys cost ~100 MB); more
    /// are compiled by `compile`. `admitted` is consumed: its routes are freed as they are compiled.
    package init(admitting admitted: consuming AdmittedRoutes, readerErrors errors: [ReadError], order: RouteOrder,
                 options: CompileOptions, keysUpTo: Int,
                 build: ((_ ordered: [FlowRoute], _ keys: [RouteOrderKey]) -> CompileResult)?) {
        var admitted = admitted
        read = admitted.read
        outOfScope = admitted.outOfScope
        rejected = errors.map(Rejection.init) + admitted.invalid
        let readerErrors = errors.count
        var valid = admitted.valid
        let validSource = admitted.validSource
        admitted = AdmittedRoutes()
        // The compiler names routes by their index in the ordered list; the permutation leads
        // from there back to the input position (no lookup by route identity).
        let build = valid.count <= keysUpTo ? build : nil
        let permutation: [Int], keys: [RouteOrderKey]
        if build != nil {
            let sorted = valid.orderedIndicesAndKeys(order)
            permutation = sorted.indices
            keys = permutation.map { sorted.keys[$0] }
        } else {
            permutation = valid.orderedIndices(order)
            keys = []
        }
        var ordered = permutation.map { order.compiledForm(of: valid[$0]) }
        valid = []
        compiled = build?(ordered, keys) ?? compile(ordered, options: options)
        ordered = []
        let read = self.read
        func position(_ index: Int) -> String { read[validSource[permutation[index]]].position }
        for r in compiled.rejected {
            rejected.append(Rejection(position: position(r.index), route: r.route, cause: .inexpressible(r.reason)))
        }
        rejectedRouteCount = rejected.count - readerErrors
        notes = compiled.notes.map { n in "\(position(n.index)): \(n.message)" }
        warnings = TableAdvice.warnings(compiled.table)
    }
}

/// The routes of an input that go into a table: the current ones (after withdrawals) that the
/// route-target scope admits, and of those the valid ones. `PreparedTable` compiles them; a
/// one-shot `apply` in place diffs them against its previous run.
public struct AdmittedRoutes: Sendable {
    /// Current routes the scope admits, valid or not, in input order.
    public var read: [ReadRoute] = []
    /// Current routes left out by the scope (meant for other switches; not errors).
    public var outOfScope: [ReadRoute] = []
    /// The valid routes of `read`, and for each its index in `read` (for its input position).
    public var valid: [FlowRoute] = []
    public var validSource: [Int] = []
    /// The routes of `read` validation refuses, with their input positions.
    public var invalid: [Rejection] = []

    public init() {}

    public init(_ input: ReadResult, scope: RouteScope) {
        let current = input.currentRoutes()
        if scope.targets.isEmpty {
            // No scoping: every route is admitted (`RouteScope.admits`), no need to look.
            read = current
        } else {
            for r in current {
                if scope.admits(r.route) { read.append(r) } else { outOfScope.append(r) }
            }
        }
        valid.reserveCapacity(read.count)
        validSource.reserveCapacity(read.count)
        for k in read.indices {
            do {
                try read[k].route.validate()
                valid.append(read[k].route)
                validSource.append(k)
            } catch {
                invalid.append(Rejection(position: read[k].position, route: read[k].route, cause: .invalid(error)))
            }
        }
    }
}
