import FlowSpec

/// Reads FRR 8.4's `show bgp ipv4|ipv6 flowspec detail json`.
///
/// The output is not one JSON document but one pretty-printed array per route printed back to back
/// (`[...]\n[...]`). Each array holds, per path, a match object (`to`, `from`, `proto`, `port`,
/// `dstp`, `srcp`, `type`, `code`, `tcp`, `pktlen`, `dscp`, `pktfrag`, `flwlbl`), then
/// `{"ecomlist": ...}` (and `{"ecom6list": ...}`) when the path has extended communities, then
/// `{"time": ...}`. The text is lossy: numeric lists do not show AND vs OR, the traffic-action bits
/// are not shown, the 0x8008/0x8108 redirect text is cut at 15 characters, marking shows one octet,
/// and the traffic-rate AS is not shown. Every route whose reading depends on a guess carries a
/// warning that says which guess; see docs/speakers.md.
public enum FRRReader {
    /// Reads a whole dump. Routes are numbered from 1 in the order printed (`route 7`).
    ///
    /// - Parameter family: the family of the command (`show bgp ipv6 …`); when nil it is taken from
    ///   the prefixes, or from the other routes of the dump for a route without a prefix.
    /// - Throws: `UnreadableInput` when the text is not FRR's detail JSON at all (empty text is an
    ///   empty table, which FRR prints as nothing), or when it ends inside its last array: a cut
    ///   dump would otherwise read as a smaller table and replace the installed one.
    public static func read(_ text: String, family: AddressFamily? = nil) throws(UnreadableInput) -> ReadResult {
        let chunks = try splitStream(text)
        var parsed = [(position: String, paths: [Path])]()
        var result = ReadResult()
        for chunk in chunks {
            let position = "route \(chunk.index)"
            let value: JSONValue
            switch chunk.content {
            case .failure(let problem):
                result.errors.append(ReadError(position: position, reason: problem.reason))
                continue
            case .success(let v): value = v
            }
            switch paths(of: value) {
            case .success(let p): parsed.append((position, p))
            case .failure(let p): result.errors.append(ReadError(position: position, reason: p.reason))
            }
        }
        // The family of routes without any prefix: the hint, else what the dump's prefixes say.
        let seen = Set(parsed.flatMap { $0.paths.compactMap(\.familyFromText) })
        let dumpFamily = family ?? (seen.count == 1 ? seen.first : nil)
        var ordered = [(String, Result<ReadRoute, ReadError>)]()
        for (position, paths) in parsed {
            for (i, path) in paths.enumerated() {
                let pos = paths.count > 1 ? "\(position), path \(i + 1)" : position
                ordered.append((pos, route(from: path, position: pos, family: family ?? path.familyFromText ?? dumpFamily)))
            }
        }
        for (_, r) in ordered {
            switch r {
            case .success(let route): result.routes.append(route)
            case .failure(let e): result.errors.append(e)
            }
        }
        return result
    }

    /// One path of an FRR array: the match object and the extended-community text.
    struct Path: Sendable {
        var match: [(key: String, value: JSONValue)]
        var ecomlist: String?
        var ecom6list: String?

        /// ipv6 when a prefix is IPv6 or a flow label is present, ipv4 when a prefix is IPv4.
        var familyFromText: AddressFamily? {
            for (k, v) in match where k == "to" || k == "from" {
                if let s = v.string { return s.contains(":") ? .ipv6 : .ipv4 }
            }
            if match.contains(where: { $0.key == "flwlbl" }) { return .ipv6 }
            return nil
        }
    }

    /// FRR's JSON keys, by component type (`bgp_flowspec_display_min` in bgpd/bgp_flowspec.c).
    static let keys: [String: ComponentType] = [
        "to": .destinationPrefix, "from": .sourcePrefix, "proto": .ipProtocol, "port": .port,
        "dstp": .destinationPort, "srcp": .sourcePort, "type": .icmpType, "code": .icmpCode,
        "tcp": .tcpFlags, "pktlen": .packetLength, "dscp": .dscp, "pktfrag": .fragment, "flwlbl": .flowLabel,
    ]

    /// Groups an array's objects into paths: each match object starts a path.
    static func paths(of value: JSONValue) -> Result<[Path], SpeakerProblem> {
        guard let items = value.array else { return .failure("expected a JSON array") }
        var out = [Path]()
        for item in items {
            guard let members = item.members else { return .failure("expected objects in the array, found \(item.brief)") }
            if members.contains(where: { $0.key == "ecomlist" || $0.key == "ecom6list" }) {
                guard !out.isEmpty else { return .failure("extended communities before any match") }
                for (k, v) in members {
                    if k == "ecomlist" { out[out.count - 1].ecomlist = v.string }
                    if k == "ecom6list" { out[out.count - 1].ecom6list = v.string }
                }
            } else if members.count == 1, members[0].key == "time" || members[0].key == "installed" {
                continue
            } else {
                out.append(Path(match: members))
            }
        }
        guard !out.isEmpty else { return .failure("no match object in the array") }
        return .success(out)
    }

    static func route(from path: Path, position: String, family: AddressFamily?) -> Result<ReadRoute, ReadError> {
        func fail(_ r: String) -> Result<ReadRoute, ReadError> { .failure(ReadError(position: position, reason: r)) }
        guard let family else { return fail("the family cannot be told (no prefix in the route); pass it to the reader") }
        var components = [Component]()
        var warnings = [String]()
        for (key, value) in path.match {
            guard let type = keys[key] else { return fail("unknown component key \"\(key)\"") }
            guard let text = value.string else { return fail("\(key): expected a string, found \(value.brief)") }
            switch type.kind {
            case .prefix:
                guard let p = FlowPrefix(text), p.family == family else {
                    return fail("\(key): bad \(family.name) prefix \"\(text)\"")
                }
                components.append(type == .destinationPrefix ? .destinationPrefix(p) : .sourcePrefix(p))
            case .numeric:
                switch numericTerms(text) {
                case .failure(let r): return fail("\(key): \(r.reason)")
                case .success(let plain):
                    let (terms, note) = resolveJoins(plain, type: type, text: text)
                    if let note { warnings.append(note.text) }
                    if plain.contains(where: { $0.comparisonBits == 0 }) {
                        warnings.append("\(type.name) \"\(trimmed(text))\": a bare value is FRR's rendering of the false operator (no comparison bit set), which never matches")
                    }
                    components.append(.numeric(type, terms))
                }
            case .bitmask:
                switch bitmaskTerms(text) {
                case .failure(let r): return fail("\(key): \(r.reason)")
                case .success(let terms): components.append(.bitmask(type, terms))
                }
            }
        }
        guard !components.isEmpty else { return fail("no components") }
        if !ComponentType.flowLabel.exists(in: family), components.contains(where: { $0.type == .flowLabel }) {
            return fail("flow label in an IPv4 route")
        }
        switch SpeakerText.ordered(components) {
        case .failure(let e): return fail(e.reason)
        case .success(let c): components = c
        }
        var communities = [ExtendedCommunity]()
        if let list = path.ecomlist {
            let (c, w) = communitiesFrom(list)
            communities = c; warnings += w
        }
        var ipv6Communities = [IPv6ExtendedCommunity]()
        if let list6 = path.ecom6list, !list6.isEmpty {
            switch ipv6CommunitiesFrom(list6) {
            case .success(let (c, w)): ipv6Communities = c; warnings += w
            case .failure(let p): return fail(p.reason)
            }
        }
        return .success(ReadRoute(route: FlowRoute(family: family, components: components, extendedCommunities: communities,
                                                   ipv6ExtendedCommunities: ipv6Communities),
                                  position: position, warnings: warnings))
    }

    /// One top-level array of the stream, or the reason it is damaged.
    struct Chunk: Sendable {
        var index: Int
        /// The array, or why it cannot be read (the reason names the line it starts on).
        var content: Result<JSONValue, SpeakerProblem>
    }

    /// Reads the stream's top-level arrays one after another.
    ///
    /// FRR starts every array with `[` at the beginning of a line, and no line inside an array
    /// starts with `[`; so an array is parsed only up to the next such line: when it is not closed
    /// by then, it was truncated, it is reported, and the new one is read. A string that reaches
    /// the end of its line (JSON strings cannot hold a raw newline) was cut too; reading resumes
    /// at that line end. An array with any other syntax error is one damaged route up to the next
    /// line that starts with `[`, and so is text between arrays; either way the routes after it
    /// keep the numbers of their arrays. Only the last array being cut (the input ends inside it)
    /// is the input's truncation, which throws.
    static func splitStream(_ text: String) throws(UnreadableInput) -> [Chunk] {
        var stream = JSONStream(text)
        let bytes = stream.bytes
        var chunks = [Chunk]()
        var line = 1, lineCounted = 0
        /// The line of `offset`, counting newlines from the last offset asked (offsets only grow).
        func lineAt(_ offset: Int) -> Int {
            while lineCounted < offset { if bytes[lineCounted] == 0x0a { line += 1 }; lineCounted += 1 }
            return line
        }
        /// The next `[` at the start of a line, at or after `from`, or the end of the input.
        func nextRouteStart(_ from: Int) -> Int {
            var j = from
            while j < bytes.count, !(bytes[j] == UInt8(ascii: "[") && (j == 0 || bytes[j - 1] == 0x0a)) { j += 1 }
            return j
        }
        func add(_ content: Result<JSONValue, SpeakerProblem>) {
            chunks.append(Chunk(index: chunks.count + 1, content: content))
        }
        while true {
            stream.skipWhitespace()
            guard let c = stream.current else { break }
            let start = stream.offset, startLine = lineAt(start)
            guard c == UInt8(ascii: "[") else {
                if chunks.isEmpty {
                    if c == UInt8(ascii: "{") {
                        throw UnreadableInput("not FRR's `flowspec detail json` stream (a JSON object: the non-detail `show bgp … flowspec json` has no extended communities; use `detail json`)")
                    }
                    throw UnreadableInput("not FRR's `flowspec detail json` output (line \(startLine) starts with neither '[' nor whitespace)")
                }
                // Garbage between arrays: report it as a damaged route and resynchronise.
                add(.failure("unexpected text between routes (line \(startLine))"))
                stream.offset = nextRouteStart(start)
                continue
            }
            let end = nextRouteStart(start + 1)
            do {
                add(.success(try stream.value(end: end)))
            } catch {
                let cutLine = error.offset < end && bytes[error.offset] == 0x0a
                if end == bytes.count, error.atEnd || cutLine && stream.onlyWhitespace(from: error.offset) {
                    throw UnreadableInput("truncated input: it ends inside route \(chunks.count + 1), whose array (line \(startLine)) is not closed; FRR's output was cut")
                }
                if cutLine {
                    add(.failure("truncated JSON: a string runs past the end of its line (line \(startLine))"))
                    stream.offset = error.offset
                } else if error.atEnd {
                    add(.failure(end < bytes.count
                        ? "truncated JSON: the array is not closed before the next route starts (line \(startLine))"
                        : "truncated JSON: the input ends inside the array (line \(startLine))"))
                    stream.offset = end
                } else {
                    add(.failure("invalid JSON (line \(startLine)): \(error.message)"))
                    stream.offset = end
                }
            }
        }
        return chunks
    }
}

extension FRRReader {
    /// The JSON values of `text` one after the other, each as its text: what vtysh prints for
    /// several `-c` commands (their outputs back to back). Nil when `text` is not such a run.
    public static func documents(_ text: String) -> [String]? {
        var stream = JSONStream(text)
        var out: [String] = []
        while true {
            stream.skipWhitespace()
            if stream.atEnd { return out }
            let start = stream.offset
            guard (try? stream.value()) != nil else { return nil }
            out.append(String(decoding: UnsafeBufferPointer(rebasing: stream.bytes[start..<stream.offset]), as: UTF8.self))
        }
    }

    /// What the flowspec RIB of `show bgp ipv4|ipv6 flowspec summary json` depends on, as one
    /// string: each family's `tableVersion` (bgpd counts every change of a best path, its
    /// attributes included, and every withdrawal), and each peer's state, sessions established
    /// and prefixes received. Equal fingerprints mean the detail would read the same; nil when the
    /// text is not such a summary. `{}` is what bgpd prints for a family no peer is activated in
    /// (its RIB can hold nothing): a fingerprint of its own. Taking it for "no summary" made every
    /// poll of an IPv4-only FRR read the whole RIB (at 50k routes, 0.65 s of CPU per second).
    public static func summaryFingerprint(_ json: String) -> String? {
        guard let object = try? JSONValue.parse(json) else { return nil }
        if let m = object.members, m.isEmpty { return "no peers" }
        var parts: [String] = []
        func walk(_ v: JSONValue, _ path: String) {
            guard let members = v.members else { return }
            if let peers = v["peers"]?.members {
                parts.append("\(path) v\(v["tableVersion"]?.uint64.map(String.init) ?? "?")")
                for (name, p) in peers.sorted(by: { $0.0 < $1.0 }) {
                    // Sessions by their count: bgpd works `peerUptimeEstablishedEpoch` out from
                    // the clock on each call, and it moves by a second from one call to the next.
                    parts.append("\(name) \(p["state"]?.string ?? "?") \(p["connectionsEstablished"]?.uint64 ?? 0) \(p["pfxRcd"]?.uint64 ?? 0)")
                }
                return
            }
            for (k, m) in members.sorted(by: { $0.0 < $1.0 }) { walk(m, path + "/" + k) }
        }
        walk(object, "")
        return parts.isEmpty ? nil : parts.joined(separator: ";")
    }

    /// The peers of `show bgp ipv4|ipv6 flowspec summary json` (with or without the per-family
    /// object FRR wraps around it) that are Established and have been for at least
    /// `upForAtLeast` milliseconds (a peer without `peerUptimeMsec` counts as settled).
    /// 0 for text that is not JSON.
    public static func establishedPeers(inSummary json: String, upForAtLeast milliseconds: Int) -> Int {
        guard let object = try? JSONValue.parse(json) else { return 0 }
        func count(_ v: JSONValue) -> Int {
            guard let members = v.members else { return 0 }
            if let peers = v["peers"]?.members {
                return peers.filter { _, p in
                    p["state"]?.string == "Established" && (p["peerUptimeMsec"]?.uint64).map { $0 >= UInt64(milliseconds) } ?? true
                }.count
            }
            return members.reduce(0) { $0 + count($1.value) }
        }
        return count(object)
    }
}
