import FlowSpec

/// What one FRR dump's routes read as, kept for the next dump of the same speaker: `watch --source
/// frr` reads the whole RIB after every change, and at 50,000 routes parsing it again was most
/// of a change's cost (~0.5 s of ~0.6 s on the 2-vCPU VM). A route whose text is the same as in
/// the last dump (its age, `"time":"…"`, aside: it moves every second) is taken from here.
///
/// Only a dump that reads cleanly goes this way: every top-level array well-formed, nothing
/// between them. Anything else (a damaged or truncated dump) is read by `FRRReader.read` alone,
/// which says where and why; so is a read without a family. The result is the same as
/// `FRRReader.read`'s, positions, warnings and errors included (`FRRReadMemoTests`).
///
/// The memo also says what changed since its previous read (`lastChanges`), from the arrays
/// whose text changed alone, so that a follower of the RIB gets a change in proportion to it:
/// handing the agent the whole dump after each change cost ~0.2 s of CPU at 50,000 routes.
public final class FRRReadMemo: @unchecked Sendable {
    /// One path of a route's array: the route and the reader's warnings, or why it was refused.
    private enum PathOutcome { case route(FlowRoute, [String]), error(String) }
    /// A route's array: its paths, or why the array as a whole was refused.
    private enum ChunkOutcome { case paths([PathOutcome]), error(String) }

    private var entries: [Key: ChunkOutcome] = [:]
    private var family: AddressFamily?

    /// How many routes' text the last read found here, and how many it parsed.
    public private(set) var lastHits = 0
    public private(set) var lastMisses = 0

    /// What the last read changed against the one before it: the routes it holds that the one
    /// before did not hold the same (announced, each the route `ReadResult.currentRoutes` takes
    /// for its NLRI), then the routes the one before held and it does not (withdrawn). Applied
    /// as an update to the current routes of the read before, it gives the current routes of
    /// the last one. Positions are `read N route K` and `read N withdrawal K` (N counts this
    /// memo's reads), so they never meet the positions of an earlier read's routes.
    ///
    /// Nil when that cannot be told from the changed arrays alone: on the first read, on one
    /// read whole (`FRRReader.read`), when this read or the one before had an error, or when an
    /// NLRI is in two arrays (FRR prints one per NLRI; the whole read then decides).
    public private(set) var lastChanges: ReadResult?
    /// Each current route's array, while reads are clean and every NLRI is in one array.
    private var arrayOf: [RouteID: Key]?
    private var reads = 0

    public init() {}

    /// An array's bytes with the values of `"time":"…"` left out.
    private struct Key: Hashable {
        var bytes: [UInt8]
        init(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            var out = [UInt8]()
            out.reserveCapacity(range.count)
            let base = b.baseAddress!
            var i = range.lowerBound
            // Runs of bytes copied whole between the ages: this is most of a poll's work after a
            // change (15 MB at 50,000 routes with two paths each).
            while i < range.upperBound {
                // memchr for the `m` of `"time":"`: two in a path's text, against a `"` every few bytes.
                guard let at = ByteSearch.first(Self.ageKey, anchor: 3, in: base, count: range.upperBound, from: i) else {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<range.upperBound]))
                    break
                }
                var j = at + Self.ageKey.utf8CodeUnitCount
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<j]))
                while j < range.upperBound, b[j] != UInt8(ascii: "\""), b[j] != 0x0a { j += 1 }
                i = j
            }
            bytes = out
        }

        static let ageKey: StaticString = #""time":""#

        /// One block of bytes, not octet by octet (50,000 keys of ~150 octets per poll).
        func hash(into h: inout Hasher) { bytes.withUnsafeBytes { h.combine(bytes: $0) } }
    }

    /// `FRRReader.read(text, family:)`, taking unchanged routes from the last read.
    public func read(_ text: String, family: AddressFamily) throws(UnreadableInput) -> ReadResult {
        reads += 1
        if let r = readClean(text, family: family) { return r }
        entries = [:]
        arrayOf = nil
        lastChanges = nil
        return try FRRReader.read(text, family: family)
    }

    private func readClean(_ text: String, family: AddressFamily) -> ReadResult? {
        if self.family != family { entries = [:]; arrayOf = nil; self.family = family }
        var stream = JSONStream(text)
        let b = stream.bytes
        stream.skipWhitespace()
        if stream.atEnd {
            // An empty RIB (or a family without routes) is a clean read of no arrays.
            lastChanges = changes(gone: entries, next: [:], missed: [], clean: true)
            entries = [:]
            lastHits = 0
            lastMisses = 0
            return ReadResult()
        }
        guard stream.current == UInt8(ascii: "[") else { return nil }
        var starts = [Int]()
        for j in stream.offset..<b.count where b[j] == UInt8(ascii: "[") && (j == 0 || b[j - 1] == 0x0a) { starts.append(j) }
        var next = [Key: ChunkOutcome]()
        next.reserveCapacity(starts.count)
        var routes = [ReadRoute](), chunkErrors = [ReadError](), pathErrors = [ReadError]()
        routes.reserveCapacity(starts.count)
        var hits = 0
        // The arrays parsed now, with their index, in order (for `lastChanges`).
        var missed: [(key: Key, index: Int)] = []
        for (k, start) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1] : b.count
            // Without the whitespace after it: the last array of a dump is followed by more.
            var last = end
            while last > start, b[last - 1] == 0x20 || b[last - 1] == 0x0a || b[last - 1] == 0x0d || b[last - 1] == 0x09 { last -= 1 }
            let key = Key(b, start..<last)
            let outcome: ChunkOutcome
            // Taken out of `entries`, so that what is left there at the end is the arrays gone.
            if let known = entries.removeValue(forKey: key) {
                outcome = known
                hits += 1
            } else if let again = next[key] {
                // The same text twice in one read.
                outcome = again
                hits += 1
            } else {
                missed.append((key, k))
                stream.offset = start
                guard let value = try? stream.value(end: end) else { return nil }
                var rest = stream
                rest.skipWhitespace()
                guard rest.offset == end else { return nil }
                switch FRRReader.paths(of: value) {
                case .failure(let p): outcome = .error(p.reason)
                case .success(let paths):
                    outcome = .paths(paths.map { path in
                        switch FRRReader.route(from: path, position: "", family: family) {
                        case .success(let r): .route(r.route, r.warnings)
                        case .failure(let e): .error(e.reason)
                        }
                    })
                }
            }
            next[key] = outcome
            let position = "route \(k + 1)"
            switch outcome {
            case .error(let reason): chunkErrors.append(ReadError(position: position, reason: reason))
            case .paths(let paths):
                for (i, p) in paths.enumerated() {
                    let pos = paths.count > 1 ? "\(position), path \(i + 1)" : position
                    switch p {
                    case .route(let r, let w): routes.append(ReadRoute(route: r, position: pos, warnings: w))
                    case .error(let reason): pathErrors.append(ReadError(position: pos, reason: reason))
                    }
                }
            }
        }
        lastChanges = changes(gone: entries, next: next, missed: missed, clean: chunkErrors.isEmpty && pathErrors.isEmpty)
        entries = next
        lastHits = hits
        lastMisses = starts.count - hits
        return ReadResult(routes: routes, errors: chunkErrors + pathErrors)
    }

    /// `lastChanges` of a clean read: `next` its arrays by text, `gone` those of the read before
    /// that it does not have, `missed` those the read before did not have; keeps `arrayOf` in step.
    private func changes(gone: [Key: ChunkOutcome], next: [Key: ChunkOutcome],
                         missed: [(key: Key, index: Int)], clean: Bool) -> ReadResult? {
        guard clean else { arrayOf = nil; return nil }
        guard var arrayOf else { self.arrayOf = Self.arrays(next); return nil }
        self.arrayOf = nil
        // The routes of the arrays gone go, unless another array holds them now (found below).
        var withdrawn: [RouteID: FlowRoute] = [:]
        var withdrawnOrder: [RouteID] = []
        for (key, outcome) in gone {
            for (id, route, _, _) in Self.current(outcome) {
                guard arrayOf[id] == key else { continue }
                arrayOf[id] = nil
                withdrawn[id] = route
                withdrawnOrder.append(id)
            }
        }
        var announced: [ReadRoute] = []
        for (key, index) in missed {
            guard let outcome = next[key] else { return nil }
            for (id, route, path, warnings) in Self.current(outcome) {
                if let other = arrayOf[id], other != key { return nil }
                arrayOf[id] = key
                withdrawn[id] = nil
                let position = "read \(reads) route \(index + 1)" + (path.map { ", path \($0)" } ?? "")
                announced.append(ReadRoute(route: route, position: position, warnings: warnings))
            }
        }
        self.arrayOf = arrayOf
        for (k, id) in withdrawnOrder.enumerated() {
            if let route = withdrawn[id] { announced.append(ReadRoute(route: route, withdrawn: true, position: "read \(reads) withdrawal \(k + 1)")) }
        }
        return ReadResult(routes: announced)
    }

    /// The routes an array leaves current, as `ReadResult.currentRoutes` takes them: per NLRI
    /// the last path's route, in the order the NLRIs first come; with the path's number when
    /// the array has several, and the reader's warnings; each with its NLRI's identity.
    private static func current(_ outcome: ChunkOutcome) -> [(RouteID, FlowRoute, Int?, [String])] {
        guard case .paths(let paths) = outcome else { return [] }
        var out: [(RouteID, FlowRoute, Int?, [String])] = []
        var slot: [RouteID: Int] = [:]
        for (i, p) in paths.enumerated() {
            guard case .route(let r, let w) = p else { continue }
            let id = RouteID(r)
            let item = (id, r, paths.count > 1 ? i + 1 : nil, w)
            if paths.count == 1 { return [item] }
            if let k = slot[id] { out[k] = item } else { slot[id] = out.count; out.append(item) }
        }
        return out
    }

    /// Each route's array in a clean read; nil when an NLRI is in two arrays.
    private static func arrays(_ next: [Key: ChunkOutcome]) -> [RouteID: Key]? {
        var out: [RouteID: Key] = [:]
        out.reserveCapacity(next.count)
        for (key, outcome) in next {
            for (id, _, _, _) in current(outcome) {
                if let other = out.updateValue(key, forKey: id), other != key { return nil }
            }
        }
        return out
    }
}
