import FlowSpec

/// A route as a reader understood it, with where it came from.
public struct ReadRoute: Hashable, Sendable {
    public var route: FlowRoute
    /// True when the input withdraws the route (BGP UPDATE withdrawals, ExaBGP `withdraw`).
    public var withdrawn: Bool
    /// Where in the input it came from, e.g. `line 3`, `message 12, NLRI 2`, `route 7`.
    public var position: String
    /// Notes on how the input was read, e.g. an ambiguous FRR rendering and the reading chosen.
    public var warnings: [String]

    public init(route: FlowRoute, withdrawn: Bool = false, position: String, warnings: [String] = []) {
        self.route = route; self.withdrawn = withdrawn; self.position = position; self.warnings = warnings
    }
}

/// An input item a reader rejected, with its position and the reason.
public struct ReadError: Error, Hashable, Sendable, CustomStringConvertible {
    public var position: String
    public var reason: String

    public init(position: String, reason: String) { self.position = position; self.reason = reason }

    public var description: String { "\(position): \(reason)" }
}

/// What a reader made of one input: the routes it understood and the items it rejected.
/// A bad item never hides the good ones.
public struct ReadResult: Sendable {
    public var routes: [ReadRoute]
    public var errors: [ReadError]

    public init(routes: [ReadRoute] = [], errors: [ReadError] = []) { self.routes = routes; self.errors = errors }

    /// True when the input held items but every one was rejected: not an empty table (that reads
    /// with no error), so a caller about to replace what is installed should refuse it rather than
    /// commit an empty set. Every item a reader looks at gives a route or an error, except the ones
    /// it skips by design (KEEPALIVEs, End-of-RIB, other families), which leave no trace either way.
    public var nothingUsable: Bool { routes.isEmpty && !errors.isEmpty }

    public mutating func append(_ other: ReadResult) {
        // Into an empty result (one input file), take the arrays over instead of copying them
        // route by route.
        if routes.isEmpty { routes = other.routes } else { routes += other.routes }
        if errors.isEmpty { errors = other.errors } else { errors += other.errors }
    }
}

/// The whole input could not be read at all (not JSON, not hex, an unreadable file): the one case
/// where `parse` exits non-zero.
public struct UnreadableInput: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension ReadResult {
    /// The routes the input leaves in place, in first-announcement order: a later announcement of
    /// the same NLRI replaces the earlier one (new communities), a withdrawal removes it. This is
    /// what a speaker would hold after the input's messages, and what gets installed.
    public func currentRoutes() -> [ReadRoute] {
        if let all = allCurrent() { return all }
        var slot = [RouteID: Int](minimumCapacity: routes.count)
        var out = [ReadRoute]()
        out.reserveCapacity(routes.count)
        var withdrawnSlots = Set<Int>()
        for r in routes {
            let key = r.route.id
            if r.withdrawn {
                if let i = slot.removeValue(forKey: key) { withdrawnSlots.insert(i) }
            } else if let i = slot[key] {
                out[i] = r
            } else {
                slot[key] = out.count
                out.append(r)
            }
        }
        if withdrawnSlots.isEmpty { return out }
        return out.indices.filter { !withdrawnSlots.contains($0) }.map { out[$0] }
    }

    /// `routes` itself when nothing is withdrawn and no NLRI repeats (a route file, a speaker's
    /// table): checked with a 64-bit hash of each NLRI, all NLRIs encoded into one buffer, so
    /// the common case costs neither a key array per route nor a copy of the routes. Nil when
    /// anything is withdrawn or two hashes meet (a repeat, or a collision): the caller then does
    /// the exact work.
    private func allCurrent() -> [ReadRoute]? {
        var seen = Set<Int>(minimumCapacity: routes.count)
        var buffer = [UInt8]()
        buffer.reserveCapacity(64)
        for i in routes.indices {
            if routes[i].withdrawn { return nil }
            buffer.removeAll(keepingCapacity: true)
            buffer.append(UInt8(truncatingIfNeeded: routes[i].route.family.rawValue))
            for c in routes[i].route.components { c.encode(family: routes[i].route.family, into: &buffer) }
            var h = Hasher()
            buffer.withUnsafeBytes { h.combine(bytes: $0) }
            if !seen.insert(h.finalize()).inserted { return nil }
        }
        return routes
    }
}
