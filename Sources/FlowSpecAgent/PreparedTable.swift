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
    public init(input: ReadResult, order: RouteOrder, scope: RouteScope = .all, options: CompileOptions) {
        let current = input.currentRoutes()
        read = current.filter { scope.admits($0.route) }
        outOfScope = current.filter { !scope.admits($0.route) }
        rejected = input.errors
        let readerErrors = input.errors.count
        var valid = [FlowRoute]()
        var position = [String: String]()
        valid.reserveCapacity(read.count)
        for r in read {
            do {
                try r.route.validate()
                valid.append(r.route)
                position[r.route.identity] = r.position
            } catch {
                rejected.append(ReadError(position: r.position, reason: "\(error)"))
            }
        }
        var ordered = valid.ordered(order)
        if case .sequence(.trafficMarking) = order {
            for i in ordered.indices {
                ordered[i].extendedCommunities.removeAll { $0.type == 0x80 && $0.subtype == 0x09 }
            }
        }
        compiled = compile(ordered, options: options)
        for r in compiled.rejected {
            rejected.append(ReadError(position: position[r.route.identity] ?? r.route.identity, reason: r.reason))
        }
        rejectedRouteCount = rejected.count - readerErrors
        notes = compiled.notes.map { n in "\(position[n.identity] ?? n.identity): \(n.message)" }
    }
}
