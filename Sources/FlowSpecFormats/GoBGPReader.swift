import FlowSpec

/// Reads GoBGP 3.10's `gobgp global rib -a ipv4-flowspec -j` / `ipv6-flowspec -j` and the
/// streaming `gobgp monitor global rib -j`.
///
/// The RIB dump is an object keyed by a rendered NLRI; each value is a list of paths
/// (`apiutil.Path`: `nlri`, `age`, `best`, `attrs`, `stale`, `withdrawal`, `source-id`,
/// `neighbor-ip`). `nlri.value` lists the components with the raw operator byte (`op`) and value,
/// so the match is lossless. Extended communities (attribute type 16) are decoded objects; see
/// `community(from:)` for what each keeps, and `ipv6Community(from:)` for the IPv6 address-specific
/// ones (attribute type 25). IPv6 prefixes with a non-zero offset are decoded wrongly
/// by GoBGP 3.10 (it reads `length` bits of pattern instead of `length − offset`, taking octets
/// of what follows), so such paths are reported as errors, never read.
public enum GoBGPReader {
    /// Reads a RIB dump. Positions are `route N` (the N-th key, in file order) and `, path M`
    /// when a key has several paths. Several dumps back to back (the ipv4 then the ipv6 command)
    /// read as one, keys numbered on.
    ///
    /// - Parameter family: the family of the command; when nil it is taken from each path
    ///   (prefix text, the IPv6 `offset` key, the MP_REACH attribute).
    /// - Throws: `UnreadableInput` unless the text is whole JSON objects: empty text (gobgp prints
    ///   `{}` for an empty table, so nothing at all means its output was lost), a dump cut before
    ///   its closing `}`, a syntax error (it hides whatever follows), or not an object. A cut or
    ///   damaged dump would otherwise read as a smaller table and replace the installed one.
    public static func read(_ text: String, family: AddressFamily? = nil) throws(UnreadableInput) -> ReadResult {
        var stream = JSONStream(withoutReachNLRIs(text))
        var dumps = [JSONValue]()
        while true {
            stream.skipWhitespace()
            guard let c = stream.current else { break }
            func line(_ offset: Int) -> Int { stream.buffer.line(ofOffset: offset) }
            guard c == UInt8(ascii: "{") else {
                throw UnreadableInput("not GoBGP's `global rib -j` output (expected a JSON object, line \(line(stream.offset)))")
            }
            do { dumps.append(try stream.value()) } catch {
                // gobgp prints its dump on one line: a raw newline ending a string means the cut
                // came there and the tool added the line end.
                throw UnreadableInput(error.atEnd || stream.onlyWhitespace(from: error.offset)
                    ? "truncated input: it ends inside GoBGP's dump (line \(line(error.offset))) before its closing '}'"
                    : "invalid JSON (line \(line(error.offset))): \(error.message)")
            }
        }
        guard !dumps.isEmpty else {
            throw UnreadableInput("empty input: gobgp prints `{}` for an empty table, so nothing at all means its output was lost")
        }
        var result = ReadResult()
        var n = 0
        for dump in dumps {
            for (key, value) in dump.members ?? [] {
                n += 1
                let position = "route \(n)"
                guard let paths = value.array else {
                    result.errors.append(ReadError(position: position, reason: "expected a list of paths for \"\(key)\""))
                    continue
                }
                for (i, path) in paths.enumerated() {
                    let pos = paths.count > 1 ? "\(position), path \(i + 1)" : position
                    switch readPath(path, position: pos, family: family) {
                    case .route(let r): result.routes.append(r)
                    case .error(let e): result.errors.append(e)
                    case .notFlowSpec: result.errors.append(ReadError(position: pos, reason: "not a flowspec path"))
                    }
                }
            }
        }
        return result
    }

    /// Reads one line of `gobgp monitor global rib -j`: a JSON array of paths, withdrawals marked
    /// `"withdrawal": true`.
    ///
    /// From GoBGP 3.10's source (cmd/gobgp/monitor.go prints `json.Marshal(apiutil.NewDestination(…))`
    /// per watch event, and `Destination` marshals as its path list); not captured on the lab. In 3.10
    /// the `-a` flag does not filter the watch, so lines may carry other families: paths that are
    /// not flowspec are skipped without error.
    public static func readMonitorLine(_ line: String, lineNumber: Int = 1, family: AddressFamily? = nil) -> ReadResult {
        monitorLine(JSONLine(withoutReachNLRIs(line)), lineNumber: lineNumber, family: family)
    }

    /// Reads every line of a captured monitor stream.
    ///
    /// - Throws: `UnreadableInput` when the last line is cut (see `JSONLine.stream`).
    public static func readMonitor(_ text: String, family: AddressFamily? = nil) throws(UnreadableInput) -> ReadResult {
        var result = ReadResult()
        for (number, line) in try JSONLine.stream(text) {
            result.append(monitorLine(line, lineNumber: number, family: family))
        }
        return result
    }

    static func monitorLine(_ line: JSONLine, lineNumber: Int, family: AddressFamily?) -> ReadResult {
        var result = ReadResult()
        let value: JSONValue
        switch line {
        case .blank: return result
        case .incomplete(let reason), .invalid(let reason):
            result.errors.append(ReadError(position: "line \(lineNumber)", reason: reason))
            return result
        case .value(let v): value = v
        }
        let paths: [JSONValue]
        if let a = value.array { paths = a }
        else if value.isObject { paths = [value] }
        else {
            result.errors.append(ReadError(position: "line \(lineNumber)", reason: "expected a JSON array of paths"))
            return result
        }
        for (i, path) in paths.enumerated() {
            let pos = "line \(lineNumber), path \(i + 1)"
            switch readPath(path, position: pos, family: family) {
            case .route(let r): result.routes.append(r)
            case .error(let e): result.errors.append(e)
            case .notFlowSpec: continue
            }
        }
        return result
    }

    enum PathReading {
        case route(ReadRoute)
        case error(ReadError)
        case notFlowSpec
    }

    static func readPath(_ path: JSONValue, position: String, family hint: AddressFamily?) -> PathReading {
        func fail(_ r: String) -> PathReading { .error(ReadError(position: position, reason: r)) }
        guard path.isObject else { return fail("expected a path object") }
        let attrs = path["attrs"]?.array ?? []
        let mpReach = attrs.first { $0["type"]?.uint64 == 14 }
        if let safi = mpReach?["safi"]?.uint64, safi != 133 { return .notFlowSpec }
        guard let nlri = path["nlri"], let items = nlri["value"]?.array, nlri["rd"] == nil else { return .notFlowSpec }
        let withdrawn = path["withdrawal"]?.bool ?? false

        // Family: the caller's, else MP_REACH, else the prefixes, else the IPv6-only clues.
        var family = hint
        if family == nil, let afi = mpReach?["afi"]?.uint64 { family = afi == 2 ? .ipv6 : afi == 1 ? .ipv4 : nil }
        if family == nil {
            for c in items {
                if let s = c["value"]?["prefix"]?.string { family = s.contains(":") ? .ipv6 : .ipv4; break }
                if c["offset"] != nil || c["type"]?.uint64 == 13 { family = .ipv6; break }
            }
        }
        guard let family else { return fail("the family cannot be told (no prefix, no MP_REACH); pass it to the reader") }

        var components = [Component]()
        for (i, item) in items.enumerated() {
            guard let t = item["type"]?.uint64 else { return fail("component \(i + 1): no type") }
            guard t <= 255, let type = ComponentType(rawValue: UInt8(t)), type.exists(in: family) else {
                return fail("component \(i + 1): type \(t) is not a \(family.name) flowspec component this reader knows")
            }
            guard let value = item["value"] else { return fail("\(type.name): no value") }
            if value.string != nil {
                // FlowSpecUnknown: GoBGP could not decode the component and kept raw bytes as text.
                return fail("\(type.name): GoBGP could not decode this component (it printed raw bytes \(value.brief))")
            }
            switch type.kind {
            case .prefix:
                guard let text = value["prefix"]?.string, let parsed = FlowPrefix(text), parsed.family == family else {
                    return fail("\(type.name): bad prefix \(value["prefix"]?.brief ?? "(missing)")")
                }
                let offset = item["offset"]?.uint64 ?? 0
                if offset != 0 {
                    return fail("\(type.name) \(text) with offset \(offset): GoBGP 3.10 decodes IPv6 prefixes with a non-zero offset wrongly (it reads \(parsed.length) bits of pattern instead of \(Int(parsed.length) - Int(offset)), taking the octets of the components that follow and possibly of the next route); this path cannot be trusted — read the route from the wire or another speaker")
                }
                components.append(type == .destinationPrefix ? .destinationPrefix(parsed) : .sourcePrefix(parsed))
            case .numeric, .bitmask:
                guard let list = value.array, !list.isEmpty else { return fail("\(type.name): expected a list of operator/value pairs") }
                var numeric = [NumericTerm](), bitmask = [BitmaskTerm]()
                for (j, pair) in list.enumerated() {
                    guard let op = pair["op"]?.uint64, op <= 255, let v = pair["value"]?.uint64 else {
                        return fail("\(type.name) term \(j + 1): bad op/value \(pair["op"]?.brief ?? "?")/\(pair["value"]?.brief ?? "?")")
                    }
                    let length = UInt8(1 << ((op >> 4) & 0x3))
                    if length < 8, v >> (8 * UInt64(length)) != 0 {
                        return fail("\(type.name) term \(j + 1): value \(v) does not fit the \(length)-octet length of op 0x\(String(op, radix: 16))")
                    }
                    let and = op & 0x40 != 0
                    if type.kind == .numeric {
                        if op & 0x08 != 0 { return fail("\(type.name) term \(j + 1): reserved bit set in op 0x\(String(op, radix: 16))") }
                        numeric.append(NumericTerm(and: and, lt: op & 0x04 != 0, gt: op & 0x02 != 0, eq: op & 0x01 != 0, value: v, valueLength: length))
                    } else {
                        if op & 0x0c != 0 { return fail("\(type.name) term \(j + 1): reserved bits set in op 0x\(String(op, radix: 16))") }
                        bitmask.append(BitmaskTerm(and: and, not: op & 0x02 != 0, match: op & 0x01 != 0, value: v, valueLength: length))
                    }
                }
                components.append(type.kind == .numeric ? .numeric(type, numeric) : .bitmask(type, bitmask))
            }
        }
        guard !components.isEmpty else { return fail("no components") }
        switch SpeakerText.ordered(components) {
        case .failure(let e): return fail(e.reason)
        case .success(let c): components = c
        }

        var warnings = [String]()
        var communities = [ExtendedCommunity]()
        var ipv6Communities = [IPv6ExtendedCommunity]()
        for attr in attrs {
            switch attr["type"]?.uint64 {
            case 16:
                for ec in attr["value"]?.array ?? [] {
                    switch community(from: ec) {
                    case .success(let c): communities.append(c)
                    case .failure(let p): warnings.append(p.reason)
                    }
                }
            case 25:
                for ec in attr["value"]?.array ?? [] {
                    switch ipv6Community(from: ec) {
                    case .success(let c): ipv6Communities.append(c)
                    case .failure(let p): warnings.append(p.reason)
                    }
                }
            default: break
            }
        }
        // The MP_REACH of a path repeats every NLRI of its UPDATE: one with an IPv6 offset means
        // GoBGP may have taken octets of the routes after it, this one included.
        if let others = mpReach?["value"]?.array,
           others.contains(where: { ($0["value"]?.array ?? []).contains { ($0["offset"]?.uint64 ?? 0) != 0 } }) {
            warnings.append("this path came in an UPDATE that also carried an IPv6 prefix with a non-zero offset, which GoBGP 3.10 decodes by reading too many octets; the components of the routes after it in that UPDATE may be misread")
        }
        let route = FlowRoute(family: family, components: components, extendedCommunities: communities,
                              ipv6ExtendedCommunities: ipv6Communities)
        return .route(ReadRoute(route: route, withdrawn: withdrawn, position: position, warnings: warnings))
    }

    /// One extended community of GoBGP's JSON, rebuilt as its 8 octets.
    ///
    /// Lossless: traffic-rate (as, float32 rate), redirect 0x8008/0x8108/0x8208 (`value` strings
    /// `65309:100`, `192.0.2.1:100`, `1.0:100` — GoBGP prints 4-octet AS in asdot), the
    /// 2-octet-AS / IPv4 / 4-octet-AS specific types (route targets, redirect-to-IP 0x010c), and
    /// unknown ones (GoBGP keeps 7 raw octets, printed as base64). Lossy: traffic-action keeps only
    /// the T and S bits, traffic-marking keeps only the last octet. Others (opaque, EVPN, link
    /// bandwidth …) are reported, not kept.
    static func community(from ec: JSONValue) -> Result<ExtendedCommunity, SpeakerProblem> {
        guard let type64 = ec["type"]?.uint64, type64 <= 255, let sub64 = ec["subtype"]?.uint64, sub64 <= 255 else {
            return .failure("extended community without type/subtype: \(ec.brief); dropped")
        }
        let type = UInt8(type64), sub = UInt8(sub64)
        let value = ec["value"]
        func bad() -> Result<ExtendedCommunity, SpeakerProblem> {
            .failure("extended community type \(type) subtype \(sub) (\(value?.brief ?? "no value")) not understood; dropped")
        }
        switch (type, sub) {
        case (0x80, 0x06):
            guard let rateText = ec["rate"]?.numberText, let rate = Float(rateText), let asn = ec["as"]?.uint64, asn <= 0xffff else { return bad() }
            return .success(FlowAction.trafficRateBytes(asn: UInt16(asn), bytesPerSecond: rate).community)
        case (0x80, 0x07):
            guard let t = ec["terminal"]?.bool, let s = ec["sample"]?.bool else { return bad() }
            return .success(FlowAction.trafficAction(sample: s, terminal: t).community)
        case (0x80, 0x09):
            guard let v = value?.uint64, v <= 0xff else { return bad() }
            return .success(FlowAction.trafficMarking(dscp: UInt8(v & 0x3f), value: v).community)
        default: break
        }
        if let text = value?.string {
            if [0x00, 0x01, 0x02, 0x40, 0x41, 0x42].contains(type) || ([0x80, 0x81, 0x82].contains(type) && sub == 0x08),
               let c = specific(type: type, sub: sub, text: text) {
                return .success(c)
            }
            if let raw = base64(text), raw.count == 7, raw[0] == sub {
                return .success(ExtendedCommunity(rawValue: raw.reduce(UInt64(type)) { $0 << 8 | UInt64($1) }))
            }
        }
        return bad()
    }

    /// One IPv6 address-specific extended community of GoBGP's JSON (attribute 25), rebuilt as
    /// its 20 octets.
    ///
    /// Lossless: the IPv6-address-specific types 0x00 and 0x40 with any sub-type (GoBGP's
    /// `IPv6AddressSpecificExtended`: `{"type":0,"subtype":12,"value":"2001:db8::1:0"}`, the
    /// address then `:` and the local part — so redirect-to-IPv6 0x000c and rt-redirect-ipv6
    /// 0x000d), GoBGP's own IPv6 redirect 0x800b (`RedirectIPv6AddressSpecificExtended`, same
    /// value form), and, after 3.10, unknown ones (`UnknownIP6Extended`: the 19 octets after the
    /// type as base64). GoBGP 3.10 keeps only 7 octets of the others: reported, not kept.
    static func ipv6Community(from ec: JSONValue) -> Result<IPv6ExtendedCommunity, SpeakerProblem> {
        guard let type64 = ec["type"]?.uint64, type64 <= 255, let sub64 = ec["subtype"]?.uint64, sub64 <= 255 else {
            return .failure("IPv6 extended community without type/subtype: \(ec.brief); dropped")
        }
        let type = UInt8(type64), sub = UInt8(sub64)
        let value = ec["value"]
        if let text = value?.string {
            if type == 0x00 || type == 0x40 || (type == 0x80 && sub == 0x0b),
               let c = IPv6ExtendedCommunity(type: type, subtype: sub, addressAndLocal: Substring(text)) {
                return .success(c)
            }
            if let raw = base64(text), raw.count == 19, raw[0] == sub, let c = IPv6ExtendedCommunity(bytes: [type] + raw) {
                return .success(c)
            }
        }
        return .failure("IPv6 extended community type \(type) subtype \(sub) (\(value?.brief ?? "no value")) not understood (GoBGP 3.10 prints 7 of the 20 octets of types it does not know); dropped")
    }

    /// `A:N` (2-octet AS, 32-bit local), `a.b.c.d:N`, `hi.lo:N` or `N:N` (4-octet AS, 16-bit local),
    /// laid out by the type's low bits: 0 = 2-octet AS, 1 = IPv4, 2 = 4-octet AS.
    static func specific(type: UInt8, sub: UInt8, text: String) -> ExtendedCommunity? {
        guard let colon = text.lastIndex(of: ":"), let local = UInt64(text[text.index(after: colon)...]) else { return nil }
        let global = text[..<colon]
        let kind = type & 0x03
        switch kind {
        case 0:
            guard let asn = UInt64(global), asn <= 0xffff, local <= 0xffff_ffff else { return nil }
            return ExtendedCommunity(type: type, subtype: sub, value: asn << 32 | local)
        case 1:
            guard let ip = IPAddress(global), ip.family == .ipv4, local <= 0xffff else { return nil }
            return ExtendedCommunity(type: type, subtype: sub, value: UInt64(ip.ipv4Value) << 16 | local)
        case 2:
            var asn: UInt64
            let dot = global.split(separator: ".", omittingEmptySubsequences: false)
            if dot.count == 2, let hi = UInt64(dot[0]), let lo = UInt64(dot[1]), hi <= 0xffff, lo <= 0xffff { asn = hi << 16 | lo }
            else if let a = UInt64(global), a <= 0xffff_ffff { asn = a }
            else { return nil }
            guard local <= 0xffff else { return nil }
            return ExtendedCommunity(type: type, subtype: sub, value: asn << 16 | local)
        default:
            return nil
        }
    }

    /// Standard base64 (Go's `[]byte` JSON encoding), without Foundation.
    static func base64(_ s: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var table = [UInt8: UInt8]()
        for (i, c) in alphabet.enumerated() { table[c] = UInt8(i) }
        let chars = Array(s.utf8)
        guard chars.count % 4 == 0, !chars.isEmpty else { return nil }
        var out = [UInt8]()
        var i = 0
        while i < chars.count {
            var quad = [UInt8]()
            var pad = 0
            for c in chars[i..<(i + 4)] {
                if c == UInt8(ascii: "=") { pad += 1; quad.append(0) }
                else if pad > 0 { return nil }
                else if let v = table[c] { quad.append(v) } else { return nil }
            }
            let n = UInt32(quad[0]) << 18 | UInt32(quad[1]) << 12 | UInt32(quad[2]) << 6 | UInt32(quad[3])
            out.append(UInt8(n >> 16))
            if pad < 2 { out.append(UInt8((n >> 8) & 0xff)) }
            if pad < 1 { out.append(UInt8(n & 0xff)) }
            i += 4
        }
        return out
    }
}
