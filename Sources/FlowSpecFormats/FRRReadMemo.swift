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

    public init() {}

    /// An array's bytes with the values of `"time":"…"` left out.
    private struct Key: Hashable {
        var bytes: [UInt8]
        init(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            var out = [UInt8]()
            out.reserveCapacity(range.count)
            let pattern = Array(#""time":""#.utf8)
            var i = range.lowerBound
            while i < range.upperBound {
                let c = b[i]
                out.append(c)
                i += 1
                guard c == UInt8(ascii: "\""), i + pattern.count - 1 <= range.upperBound,
                      b[i - 1] == pattern[0], (1..<pattern.count).allSatisfy({ b[i - 1 + $0] == pattern[$0] }) else { continue }
                out.append(contentsOf: pattern[1...])
                i += pattern.count - 1
                while i < range.upperBound, b[i] != UInt8(ascii: "\""), b[i] != 0x0a { i += 1 }
            }
            bytes = out
        }

        /// One block of bytes, not octet by octet (50,000 keys of ~150 octets per poll).
        func hash(into h: inout Hasher) { bytes.withUnsafeBytes { h.combine(bytes: $0) } }
    }

    /// `FRRReader.read(text, family:)`, taking unchanged routes from the last read.
    public func read(_ text: String, family: AddressFamily) throws(UnreadableInput) -> ReadResult {
        if let r = readClean(text, family: family) { return r }
        entries = [:]
        return try FRRReader.read(text, family: family)
    }

    private func readClean(_ text: String, family: AddressFamily) -> ReadResult? {
        if self.family != family { entries = [:]; self.family = family }
        var stream = JSONStream(text)
        let b = stream.bytes
        stream.skipWhitespace()
        if stream.atEnd { return ReadResult() }
        guard stream.current == UInt8(ascii: "[") else { return nil }
        var starts = [Int]()
        for j in stream.offset..<b.count where b[j] == UInt8(ascii: "[") && (j == 0 || b[j - 1] == 0x0a) { starts.append(j) }
        var next = [Key: ChunkOutcome]()
        next.reserveCapacity(starts.count)
        var routes = [ReadRoute](), chunkErrors = [ReadError](), pathErrors = [ReadError]()
        routes.reserveCapacity(starts.count)
        var hits = 0
        for (k, start) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1] : b.count
            let key = Key(b, start..<end)
            let outcome: ChunkOutcome
            if let known = entries[key] {
                outcome = known
                hits += 1
            } else {
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
        entries = next
        lastHits = hits
        lastMisses = starts.count - hits
        return ReadResult(routes: routes, errors: chunkErrors + pathErrors)
    }
}
