import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats

/// Input → current routes → validated → ordered → compiled. The CLI's only logic; each step is a
/// library call.
struct Pipeline {
    /// Routes the input held (after withdrawals).
    var read: [ReadRoute]
    /// Input items the reader rejected, and routes rejected by validation or by the compiler.
    var rejected: [ReadError]
    var compiled: CompileResult

    init(input: ReadResult, options: TableOptions) throws {
        read = input.currentRoutes()
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
        var ordered = valid.ordered(options.routeOrder)
        if case .sequence(.trafficMarking) = options.routeOrder {
            // The convention puts the sequence number where the DSCP would be: it is not a marking.
            for i in ordered.indices {
                ordered[i].extendedCommunities.removeAll { $0.type == 0x80 && $0.subtype == 0x09 }
            }
        }
        compiled = compile(ordered, options: try options.compileOptions())
        for r in compiled.rejected {
            rejected.append(ReadError(position: position[r.route.identity] ?? r.route.identity, reason: r.reason))
        }
        rejectedRouteCount = rejected.count - readerErrors
    }

    /// Routes rejected after reading (validation, compiler); `rejected` also holds reader errors.
    var rejectedRouteCount: Int
    /// Routes that made it into the table (as rules or as the chain policy).
    var installedCount: Int { read.count - rejectedRouteCount }
}
