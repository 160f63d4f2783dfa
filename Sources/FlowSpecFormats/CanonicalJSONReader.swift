import Foundation
import FlowSpec

/// The canonical JSON route format (docs/format.md): lossless for everything a `FlowRoute`
/// holds, and meant to be written by hand.
///
/// Reading is forgiving where JSON itself is unordered or a human would reasonably vary (match
/// members in any order, names for protocols, flags and fragment bits, ranges `a..b`, an array of
/// terms instead of the compact string), and strict where a guess could change which packets
/// match (unknown keys, duplicate components, values that do not fit, families that disagree).
public enum CanonicalJSON {
    /// Reads a route document: `{"routes":[...]}`, a bare array of routes, or one route object.
    /// Each malformed route becomes a `ReadError` at `route N` (1-based) and the others are still
    /// read; only input that is not JSON, or not an object or array, throws.
    public static func read(_ bytes: [UInt8]) throws(UnreadableInput) -> ReadResult {
        let outcome = bytes.withUnsafeBufferPointer { read(buffer: $0) }
        return try outcome.get()
    }

    public static func read(_ data: Data) throws(UnreadableInput) -> ReadResult {
        // Read in place: a 1M-route file is ~175 MB, and a copy into an array would double it.
        let outcome = data.withUnsafeBytes { raw in read(buffer: raw.bindMemory(to: UInt8.self)) }
        return try outcome.get()
    }

    public static func read(_ text: String) throws(UnreadableInput) -> ReadResult {
        try read(Array(text.utf8))
    }

    static func read(buffer: UnsafeBufferPointer<UInt8>) -> Result<ReadResult, UnreadableInput> {
        do {
            return try stream(buffer)
        } catch {
            let (line, column) = JSONTape.lineColumn(buffer, error.offset)
            return .failure(UnreadableInput("not JSON: line \(line), column \(column): \(error.message)"))
        }
    }

    /// Reads the routes array one element at a time: each route is tokenized into a small tape,
    /// decoded, and the tape reused, so memory stays proportional to one route rather than to the
    /// whole document (a 1M-route file is ~250 MB of JSON).
    static func stream(_ buffer: UnsafeBufferPointer<UInt8>) throws(JSONTape.SyntaxError) -> Result<ReadResult, UnreadableInput> {
        var p = JSONTape.Parser(b: buffer)
        var result = ReadResult()
        p.skipWhitespace()
        switch p.current {
        case UInt8(ascii: "["):
            try streamRoutes(&p, into: &result)
        case UInt8(ascii: "{"):
            p.i += 1
            var sawRoutes = false
            var looksLikeRoute = false
            p.skipWhitespace()
            if p.current == UInt8(ascii: "}") {
                p.i += 1
            } else {
                while true {
                    p.skipWhitespace()
                    guard p.current == UInt8(ascii: "\"") else {
                        throw JSONTape.SyntaxError(offset: p.i, message: p.current == nil ? "unexpected end of input" : "expected a member name in quotes")
                    }
                    p.nodes.removeAll(keepingCapacity: true)
                    try p.string()
                    let key = JSONTape(bytes: buffer, nodes: p.nodes).string(0)
                    try p.expect(UInt8(ascii: ":"), "expected ':' after a member name")
                    p.skipWhitespace()
                    if key == "routes" {
                        if sawRoutes { return .failure(UnreadableInput("\"routes\" appears twice")) }
                        sawRoutes = true
                        guard p.current == UInt8(ascii: "[") else {
                            p.nodes.removeAll(keepingCapacity: true)
                            try p.value(depth: 1)
                            return .failure(UnreadableInput("\"routes\" must be an array of routes, not \(describe(p.nodes[0].kind))"))
                        }
                        try streamRoutes(&p, into: &result)
                    } else {
                        if key == "match" || key == "family" { looksLikeRoute = true }
                        p.nodes.removeAll(keepingCapacity: true)
                        try p.value(depth: 1)
                    }
                    p.skipWhitespace()
                    guard let c = p.current else { throw JSONTape.SyntaxError(offset: p.i, message: "unexpected end of input") }
                    p.i += 1
                    if c == UInt8(ascii: ",") { continue }
                    if c == UInt8(ascii: "}") { break }
                    throw JSONTape.SyntaxError(offset: p.i - 1, message: "expected ',' or '}'")
                }
            }
            p.skipWhitespace()
            if p.i < buffer.count { throw JSONTape.SyntaxError(offset: p.i, message: "unexpected data after the JSON value") }
            if !sawRoutes {
                guard looksLikeRoute else {
                    return .failure(UnreadableInput("a JSON object without a \"routes\" array (expected {\"routes\":[...]}, an array of routes, or one route)"))
                }
                // One route object on its own: small, so tokenize it whole.
                let tape = try JSONTape(buffer)
                decode(tape, 0, position: "route 1", into: &result)
            }
            return .success(result)
        default:
            let tape = try JSONTape(buffer)   // reports syntax errors first
            return .failure(UnreadableInput("the JSON document is \(describe(tape.kind(0))); expected {\"routes\":[...]} or an array of routes"))
        }
        p.skipWhitespace()
        if p.i < buffer.count { throw JSONTape.SyntaxError(offset: p.i, message: "unexpected data after the JSON value") }
        return .success(result)
    }

    /// Reads an array of routes at the parser's position (on its `[`).
    static func streamRoutes(_ p: inout JSONTape.Parser, into result: inout ReadResult) throws(JSONTape.SyntaxError) {
        p.i += 1
        p.skipWhitespace()
        if p.current == UInt8(ascii: "]") { p.i += 1; return }
        var index = 0
        var tape = JSONTape(bytes: p.b, nodes: [])
        while true {
            index += 1
            p.nodes.removeAll(keepingCapacity: true)
            try p.value(depth: 2)
            swap(&tape.nodes, &p.nodes)
            decode(tape, 0, position: "route \(index)", into: &result)
            swap(&tape.nodes, &p.nodes)
            p.skipWhitespace()
            guard let c = p.current else { throw JSONTape.SyntaxError(offset: p.i, message: "unexpected end of input") }
            p.i += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { return }
            throw JSONTape.SyntaxError(offset: p.i - 1, message: "expected ',' or ']'")
        }
    }

    static func decode(_ tape: JSONTape, _ node: Int, position: String, into result: inout ReadResult) {
        var decoder = RouteDecoder(tape: tape)
        do {
            let route = try decoder.route(node)
            result.routes.append(ReadRoute(route: route, withdrawn: decoder.withdrawn,
                                           position: position, warnings: decoder.warnings))
        } catch {
            result.errors.append(ReadError(position: position, reason: error.reason))
        }
    }

    static func describe(_ k: JSONTape.Kind) -> String {
        switch k {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .trueValue, .falseValue: "a boolean"
        case .null: "null"
        }
    }
}

/// Why one route could not be read.
struct RouteProblem: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Decodes one route object from the tape.
struct RouteDecoder {
    let tape: JSONTape
    var withdrawn = false
    var warnings: [String] = []

    init(tape: JSONTape) { self.tape = tape }

    static let routeKeys = "family, match, actions, large-communities, comment, withdrawn"

    mutating func route(_ n: Int) throws(RouteProblem) -> FlowRoute {
        guard tape.kind(n) == .object else {
            throw RouteProblem("a route must be a JSON object, not \(CanonicalJSON.describe(tape.kind(n)))")
        }
        var familyNode: Int?, matchNode: Int?, actionsNode: Int?, largeNode: Int?, withdrawnNode: Int?, commentNode: Int?
        func set(_ slot: inout Int?, _ v: Int, _ key: String) throws(RouteProblem) {
            if slot != nil { throw RouteProblem("\"\(key)\" appears twice") }
            slot = v
        }
        for (k, v) in tape.members(n) {
            let key = tape.string(k)
            switch key {
            case "family": try set(&familyNode, v, key)
            case "match": try set(&matchNode, v, key)
            case "actions": try set(&actionsNode, v, key)
            case "large-communities": try set(&largeNode, v, key)
            case "withdrawn": try set(&withdrawnNode, v, key)
            case "comment": try set(&commentNode, v, key)
            // Written by `parse`: not part of the route.
            case "position", "identity", "warnings": continue
            default: throw RouteProblem("unknown key \"\(key)\" (a route has \(RouteDecoder.routeKeys))")
            }
        }

        var family: AddressFamily? = nil
        if let f = familyNode {
            guard tape.kind(f) == .string, let fam = AddressFamily(name: tape.string(f)) else {
                throw RouteProblem("family must be \"ipv4\" or \"ipv6\", not \(text(f))")
            }
            family = fam
        }
        if let w = withdrawnNode { withdrawn = try bool(w, "withdrawn") }
        guard let m = matchNode else { throw RouteProblem("no \"match\": a route must match something (the default policy is {\"destination\":\"0.0.0.0/0\"})") }
        let components = try match(m, family: &family)
        guard let family else { throw RouteProblem("no family: give \"family\" (ipv4 or ipv6) or a destination or source prefix") }

        var communities = [ExtendedCommunity]()
        var ipv6Communities = [IPv6ExtendedCommunity]()
        if let a = actionsNode {
            guard tape.kind(a) == .array else { throw RouteProblem("actions must be an array, not \(CanonicalJSON.describe(tape.kind(a)))") }
            for (i, e) in tape.elements(a).enumerated() {
                do {
                    switch try action(e) {
                    case .extended(let c): communities.append(c)
                    case .ipv6(let c): ipv6Communities.append(c)
                    }
                } catch { throw RouteProblem("actions[\(i + 1)]: \(error.reason)") }
            }
        }
        var large = [LargeCommunity]()
        if let l = largeNode {
            guard tape.kind(l) == .array else { throw RouteProblem("large-communities must be an array of \"global:local1:local2\" strings") }
            for e in tape.elements(l) { large.append(try largeCommunity(e)) }
        }

        var route = FlowRoute(family: family, components: components,
                              extendedCommunities: communities, largeCommunities: large,
                              ipv6ExtendedCommunities: ipv6Communities)
        if let c = commentNode {
            guard tape.kind(c) == .string else { throw RouteProblem("comment must be a string, not \(CanonicalJSON.describe(tape.kind(c)))") }
            route.comment = tape.string(c)
        }
        for c in components {
            if !c.type.exists(in: family) { throw RouteProblem("\(c.type.name) exists only in ipv6 routes") }
            if let p = c.prefix, p.family != family {
                throw RouteProblem("\(c.type.name) \(p) is \(p.family == .ipv4 ? "IPv4" : "IPv6") in an \(family.name) route")
            }
        }
        let length = RouteDecoder.nlriLength(route)
        if length > 4095 { throw RouteProblem("the NLRI would be \(length) octets; BGP allows at most 4095") }
        return route
    }

    // MARK: Match

    mutating func match(_ n: Int, family: inout AddressFamily?) throws(RouteProblem) -> [Component] {
        guard tape.kind(n) == .object else { throw RouteProblem("match must be an object of components, e.g. {\"destination\":\"203.0.113.10/32\",\"protocol\":\"==6\"}") }
        var entries = [(type: ComponentType, node: Int)]()
        entries.reserveCapacity(tape.nodes[n].count)
        for (k, v) in tape.members(n) {
            let name = tape.string(k)
            guard let type = RouteDecoder.componentType(name) else {
                throw RouteProblem("unknown component \"\(name)\" (components: \(ComponentType.allCases.map(\.name).joined(separator: ", ")))")
            }
            if entries.contains(where: { $0.type == type }) {
                throw RouteProblem("\(type.name) appears twice in match: a route has each component at most once")
            }
            entries.append((type, v))
        }
        guard !entries.isEmpty else { throw RouteProblem("match is empty: a route must match something (the default policy is {\"destination\":\"0.0.0.0/0\"})") }
        // RFC 8955 §4.2: components in increasing type order. JSON objects are unordered, so the
        // written order does not matter.
        var sorted = true
        for i in 1..<entries.count where entries[i - 1].type > entries[i].type { sorted = false; break }
        if !sorted { entries.sort { $0.type < $1.type } }

        // Prefixes first: they can tell the family.
        var components = [Component]()
        components.reserveCapacity(entries.count)
        for (type, node) in entries {
            let c: Component
            switch type.kind {
            case .prefix:
                let p = try prefix(node, type, family: family)
                if family == nil { family = p.family }
                c = type == .destinationPrefix ? .destinationPrefix(p) : .sourcePrefix(p)
            case .numeric:
                c = .numeric(type, try numericTerms(node, type, family: family))
            case .bitmask:
                c = .bitmask(type, try bitmaskTerms(node, type))
            }
            components.append(c)
        }
        return components
    }

    /// `ComponentType.name`, plus `next-header` (IPv6's word for protocol). A switch rather than
    /// `ComponentType(name:)`, which searches `allCases` (this runs for every component read).
    static func componentType(_ name: String) -> ComponentType? {
        switch name {
        case "destination": .destinationPrefix
        case "source": .sourcePrefix
        case "protocol", "next-header": .ipProtocol
        case "port": .port
        case "destination-port": .destinationPort
        case "source-port": .sourcePort
        case "icmp-type": .icmpType
        case "icmp-code": .icmpCode
        case "tcp-flags": .tcpFlags
        case "packet-length": .packetLength
        case "dscp": .dscp
        case "fragment": .fragment
        case "flow-label": .flowLabel
        default: nil
        }
    }

    mutating func prefix(_ n: Int, _ type: ComponentType, family: AddressFamily?) throws(RouteProblem) -> FlowPrefix {
        guard tape.kind(n) == .string else {
            throw RouteProblem("\(type.name) must be a prefix string like \"203.0.113.0/24\" or \"2001:db8::/32\"")
        }
        let parsed = tape.withStringBytes(n) { PrefixText.parse($0) }
        switch parsed {
        case .failure(let why):
            throw RouteProblem("\(type.name) \(text(n)): \(why.reason)")
        case .success(let (p, address)):
            if p.address != address {
                warnings.append("\(type.name) \(tape.string(n)) has address bits outside the prefix; read as \(p)")
            }
            return p
        }
    }

    func numericTerms(_ n: Int, _ type: ComponentType, family: AddressFamily? = nil) throws(RouteProblem) -> [NumericTerm] {
        do {
            var terms = [NumericTerm]()
            try appendTerms(n, type, top: true, into: &terms) { (b) throws(OperatorText.SyntaxError) in
                try OperatorText.parseNumeric(bytes: b, type: type, family: family)
            } object: { (o) throws(RouteProblem) in try numericTermObject(o, type, family: family) }
            return terms
        } catch {
            throw RouteProblem("\(type.name): \(error.reason)")
        }
    }

    func bitmaskTerms(_ n: Int, _ type: ComponentType) throws(RouteProblem) -> [BitmaskTerm] {
        do {
            var terms = [BitmaskTerm]()
            try appendTerms(n, type, top: true, into: &terms) { (b) throws(OperatorText.SyntaxError) in
                try OperatorText.parseBitmask(bytes: b, type: type)
            } object: { (o) throws(RouteProblem) in try bitmaskTermObject(o, type) }
            return terms
        } catch {
            throw RouteProblem("\(type.name): \(error.reason)")
        }
    }

    /// The operator list forms: a compact string, a bare number (`== n` / any of bits `n`), or an
    /// array whose elements are compact strings, numbers or term objects.
    func appendTerms<T>(_ n: Int, _ type: ComponentType, top: Bool, into terms: inout [T],
                        compact: (UnsafeBufferPointer<UInt8>) throws(OperatorText.SyntaxError) -> [T],
                        object: (Int) throws(RouteProblem) -> T) throws(RouteProblem) {
        switch tape.kind(n) {
        case .string:
            let r = tape.withStringBytes(n) { b in Result { () throws(OperatorText.SyntaxError) in try compact(b) } }
            switch r {
            case .success(let t): terms += t
            case .failure(let e): throw RouteProblem(e.message)
            }
        case .number:
            let r = Result { () throws(OperatorText.SyntaxError) in try compact(UnsafeBufferPointer(rebasing: tape.bytes[tape.nodes[n].start..<tape.nodes[n].end])) }
            switch r {
            case .success(let t): terms += t
            case .failure: throw RouteProblem("\(tape.numberText(n)) is not a value (use a non-negative integer)")
            }
        case .array where top:
            guard tape.nodes[n].count > 0 else { throw RouteProblem("empty operator list") }
            for (i, e) in tape.elements(n).enumerated() {
                do throws(RouteProblem) {
                    if tape.kind(e) == .object { terms.append(try object(e)) }
                    else if tape.kind(e) == .array { throw RouteProblem("nested arrays are not terms") }
                    else { try appendTerms(e, type, top: false, into: &terms, compact: compact, object: object) }
                } catch {
                    throw RouteProblem("term \(i + 1): \(error.reason)")
                }
            }
        default:
            throw RouteProblem("expected an operator list like \(type.kind == .bitmask ? "\"=0x02&!0x10\"" : "\">=1024&<=2048,==80\""), a number or an array of terms, not \(CanonicalJSON.describe(tape.kind(n)))")
        }
    }

    /// `{"and":true,"op":"<=","value":2048,"length":2}`
    func numericTermObject(_ n: Int, _ type: ComponentType, family: AddressFamily? = nil) throws(RouteProblem) -> NumericTerm {
        let (and, op, value, length) = try termFields(n, type, family: family)
        let opText = op ?? "=="
        guard let bits = OperatorText.numericBits(opText) else {
            throw RouteProblem("unknown numeric operator \"\(opText)\" (== < <= > >= != true false)")
        }
        guard let value else {
            if bits == 0 || bits == 7 {
                return NumericTerm(and: and, lt: bits == 7, gt: bits == 7, eq: bits == 7, value: 0,
                                   valueLength: try checkedLength(length, 0))
            }
            throw RouteProblem("a term needs a \"value\"")
        }
        return NumericTerm(and: and, lt: bits & 4 != 0, gt: bits & 2 != 0, eq: bits & 1 != 0, value: value,
                           valueLength: try checkedLength(length, value))
    }

    /// `{"and":true,"op":"not-match","value":"0x10"}`
    func bitmaskTermObject(_ n: Int, _ type: ComponentType) throws(RouteProblem) -> BitmaskTerm {
        let (and, op, value, length) = try termFields(n, type)
        let opText = op ?? "any"
        guard let bits = OperatorText.bitmaskBits(opText) else {
            throw RouteProblem("unknown bitmask operator \"\(opText)\" (match, not-match, any, not-any, or = != ~ !)")
        }
        guard let value else { throw RouteProblem("a term needs a \"value\"") }
        return BitmaskTerm(and: and, not: bits.not, match: bits.match, value: value,
                           valueLength: try checkedLength(length, value))
    }

    func checkedLength(_ length: UInt64?, _ value: UInt64) throws(RouteProblem) -> UInt8 {
        guard let length else { return NumericTerm.minimalLength(value) }
        do { return try OperatorText.checkLength(length, value: value) }
        catch { throw RouteProblem(error.message) }
    }

    func termFields(_ n: Int, _ type: ComponentType, family: AddressFamily? = nil) throws(RouteProblem) -> (Bool, String?, UInt64?, UInt64?) {
        var and = false
        var op: String? = nil
        var value: UInt64? = nil
        var length: UInt64? = nil
        for (k, v) in tape.members(n) {
            switch tape.string(k) {
            case "and": and = try bool(v, "and")
            case "op":
                guard tape.kind(v) == .string else { throw RouteProblem("op must be a string") }
                op = tape.string(v)
            case "value":
                if tape.kind(v) == .string {
                    do { value = try OperatorText.parseValue(tape.string(v), type: type, family: family) }
                    catch { throw RouteProblem(error.message) }
                } else {
                    value = try unsigned(v, "value", max: .max)
                }
            case "length": length = try unsigned(v, "length", max: 8)
            case let key: throw RouteProblem("unknown key \"\(key)\" in a term (and, op, value, length)")
            }
        }
        return (and, op, value, length)
    }

    // MARK: Actions

    static let actionKeys = "traffic-rate-bytes, traffic-rate-packets, traffic-action, redirect, redirect-to-ip, rt-redirect-ipv6, traffic-marking, route-target, community, ipv6-community"

    /// An action's community: 8 octets (attribute 16) or, for the IPv6 forms, 20 (attribute 25).
    enum ActionCommunity {
        case extended(ExtendedCommunity)
        case ipv6(IPv6ExtendedCommunity)
    }

    func action(_ n: Int) throws(RouteProblem) -> ActionCommunity {
        if tape.kind(n) == .string {
            let s = tape.string(n)
            if s == "drop" { return .extended(FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0).community) }
            throw RouteProblem("unknown action \"\(s)\" (an action is an object such as {\"traffic-rate-bytes\":0}, or \"drop\")")
        }
        guard tape.kind(n) == .object else { throw RouteProblem("an action must be an object such as {\"traffic-rate-bytes\":0}") }
        var primary: (key: String, node: Int)? = nil
        var asnNode: Int? = nil
        for (k, v) in tape.members(n) {
            let key = tape.string(k)
            switch key {
            case "asn":
                if asnNode != nil { throw RouteProblem("\"asn\" appears twice") }
                asnNode = v
            case "traffic-rate-bytes", "traffic-rate-packets", "traffic-action", "redirect", "redirect-to-ip",
                 "rt-redirect-ipv6", "traffic-marking", "route-target", "community", "ipv6-community":
                if let p = primary { throw RouteProblem("one action per object: found \"\(p.key)\" and \"\(key)\"") }
                primary = (key, v)
            default:
                throw RouteProblem("unknown action \"\(key)\" (\(RouteDecoder.actionKeys))")
            }
        }
        guard let (key, v) = primary else { throw RouteProblem("empty action (\(RouteDecoder.actionKeys))") }
        if asnNode != nil && key != "traffic-rate-bytes" && key != "traffic-rate-packets" {
            throw RouteProblem("\"asn\" belongs to traffic-rate-bytes or traffic-rate-packets, not \(key)")
        }
        switch key {
        case "traffic-rate-bytes", "traffic-rate-packets":
            let asn = try asnNode.map { (a) throws(RouteProblem) in UInt16(try unsigned(a, "asn", max: 0xffff)) } ?? 0
            guard tape.kind(v) == .number, let rate = Float(tape.numberText(v)) else {
                throw RouteProblem("\(key) must be a number (bytes or packets per second; 0 drops)")
            }
            guard rate.isFinite else { throw RouteProblem("\(key) \(tape.numberText(v)) does not fit a 32-bit float") }
            return .extended(key == "traffic-rate-bytes"
                ? FlowAction.trafficRateBytes(asn: asn, bytesPerSecond: rate).community
                : FlowAction.trafficRatePackets(asn: asn, packetsPerSecond: rate).community)
        case "traffic-action":
            return .extended(FlowAction.trafficAction(sample: try flag(v, "sample"), terminal: try flag(v, "terminal")).community)
        case "redirect", "route-target":
            guard tape.kind(v) == .string, let rt = RouteTargetText.parse(tape.string(v)) else {
                let ipv6 = tape.kind(v) == .string && RouteTarget(tape.string(v), allowingIPv6: true) != nil
                throw RouteProblem("\(key) must be \"ASN:N\", \"ASNL:N\" (4-octet AS) or \"IPv4:N\", not \(text(v))"
                                   + (ipv6 && key == "redirect" ? " (a redirect to an IPv6 route target is {\"rt-redirect-ipv6\":{\"address\":…,\"local\":…}}, attribute 25)" : ""))
            }
            return .extended(key == "redirect" ? FlowAction.redirect(rt).community : FlowAction.routeTarget(rt).community)
        case "redirect-to-ip":
            var addressNode = v
            var copy = false
            if tape.kind(v) == .object {
                var a: Int? = nil
                for (k2, v2) in tape.members(v) {
                    switch tape.string(k2) {
                    case "address": a = v2
                    case "copy": copy = try bool(v2, "copy")
                    case let other: throw RouteProblem("unknown key \"\(other)\" in redirect-to-ip (address, copy)")
                    }
                }
                guard let a else { throw RouteProblem("redirect-to-ip needs an \"address\"") }
                addressNode = a
            }
            guard tape.kind(addressNode) == .string, let address = IPAddress(tape.string(addressNode)) else {
                throw RouteProblem("redirect-to-ip must be an IP address or {\"address\":\"192.0.2.1\",\"copy\":false}")
            }
            // IPv4: 0x010c in the extended communities; IPv6: 0x000c in the IPv6 ones (attribute 25).
            return address.family == .ipv4
                ? .extended(FlowAction.redirectToIP(address, copy: copy).community)
                : .ipv6(IPv6FlowAction.redirectToIP(address, copy: copy).community)
        case "rt-redirect-ipv6":
            guard tape.kind(v) == .object else {
                throw RouteProblem("rt-redirect-ipv6 must be {\"address\":\"2001:db8::1\",\"local\":100}, not \(text(v))")
            }
            var address: IPAddress? = nil, local: UInt64? = nil
            for (k2, v2) in tape.members(v) {
                switch tape.string(k2) {
                case "address":
                    guard tape.kind(v2) == .string, let a = IPAddress(tape.string(v2)), a.family == .ipv6 else {
                        throw RouteProblem("rt-redirect-ipv6 address must be an IPv6 address, not \(text(v2))")
                    }
                    address = a
                case "local": local = try unsigned(v2, "local", max: 0xffff)
                case let other: throw RouteProblem("unknown key \"\(other)\" in rt-redirect-ipv6 (address, local)")
                }
            }
            guard let address, let local else { throw RouteProblem("rt-redirect-ipv6 needs an \"address\" and a \"local\"") }
            return .ipv6(IPv6FlowAction.rtRedirect(address: address, local: UInt16(local)).community)
        case "ipv6-community":
            guard tape.kind(v) == .string, let raw = RouteDecoder.hex20(tape.string(v)), let c = IPv6ExtendedCommunity(bytes: raw) else {
                throw RouteProblem("ipv6-community must be the 20 octets in hex, e.g. \"0x000c20010db80000000000000000000000010000\", not \(text(v))")
            }
            return .ipv6(c)
        case "traffic-marking":
            if tape.kind(v) == .object {
                var value: UInt64? = nil
                for (k2, v2) in tape.members(v) {
                    switch tape.string(k2) {
                    case "dscp": if value != nil { throw RouteProblem("give dscp or value, not both") }; value = try unsigned(v2, "dscp", max: 63)
                    case "value": if value != nil { throw RouteProblem("give dscp or value, not both") }; value = try unsigned(v2, "value", max: 0xffff_ffff_ffff)
                    case let other: throw RouteProblem("unknown key \"\(other)\" in traffic-marking (dscp, value)")
                    }
                }
                guard let value else { throw RouteProblem("traffic-marking needs \"dscp\" or \"value\"") }
                return .extended(ExtendedCommunity(type: 0x80, subtype: 0x09, value: value))
            }
            let value = try unsigned(v, "traffic-marking", max: 0xffff_ffff_ffff)
            return .extended(ExtendedCommunity(type: 0x80, subtype: 0x09, value: value))
        default: // community
            if tape.kind(v) == .number { return .extended(ExtendedCommunity(rawValue: try unsigned(v, "community", max: .max))) }
            guard tape.kind(v) == .string, let raw = RouteDecoder.hex64(tape.string(v)) else {
                throw RouteProblem("community must be the 8 octets in hex, e.g. \"0x8006000000000000\", not \(text(v))")
            }
            return .extended(ExtendedCommunity(rawValue: raw))
        }
    }

    /// `traffic-action`: `{"sample":true,"terminal":false}` (missing = false) or a string
    /// `sample`, `terminal`, `sample+terminal`, `none`.
    func flag(_ n: Int, _ name: String) throws(RouteProblem) -> Bool {
        if tape.kind(n) == .string {
            let parts = tape.string(n).split(separator: "+").map { $0.trimmingCharacters(in: .whitespaces) }
            for p in parts where !["sample", "terminal", "none"].contains(p) {
                throw RouteProblem("traffic-action \"\(p)\" is not sample, terminal or none")
            }
            return parts.contains(name)
        }
        guard tape.kind(n) == .object else { throw RouteProblem("traffic-action must be {\"sample\":bool,\"terminal\":bool}") }
        var result = false
        for (k, v) in tape.members(n) {
            let key = tape.string(k)
            guard key == "sample" || key == "terminal" else {
                throw RouteProblem("unknown key \"\(key)\" in traffic-action (sample, terminal)")
            }
            if key == name { result = try bool(v, key) }
        }
        return result
    }

    /// `0x` and exactly 40 hex digits: the 20 octets of an IPv6 address-specific community.
    static func hex20(_ s: String) -> [UInt8]? {
        guard s.utf8.count == 42, s.hasPrefix("0x") || s.hasPrefix("0X"),
              case .bytes(let octets) = HexText.decode(Substring(s)), octets.count == 20 else { return nil }
        return octets
    }

    static func hex64(_ s: String) -> UInt64? {
        var t = Substring(s)
        guard t.hasPrefix("0x") || t.hasPrefix("0X") else { return nil }
        t = t.dropFirst(2)
        guard !t.isEmpty, t.count <= 16 else { return nil }
        return UInt64(t, radix: 16)
    }

    func largeCommunity(_ n: Int) throws(RouteProblem) -> LargeCommunity {
        guard tape.kind(n) == .string else { throw RouteProblem("a large community is a string \"global:local1:local2\"") }
        let s = tape.string(n)
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let g = UInt32(parts[0]), let l1 = UInt32(parts[1]), let l2 = UInt32(parts[2]) else {
            throw RouteProblem("large community \"\(s)\" is not global:local1:local2 (three 32-bit numbers)")
        }
        return LargeCommunity(global: g, local1: l1, local2: l2)
    }

    // MARK: Scalars

    func bool(_ n: Int, _ name: String) throws(RouteProblem) -> Bool {
        switch tape.kind(n) {
        case .trueValue: return true
        case .falseValue: return false
        default: throw RouteProblem("\(name) must be true or false, not \(text(n))")
        }
    }

    func unsigned(_ n: Int, _ name: String, max: UInt64) throws(RouteProblem) -> UInt64 {
        var v: UInt64? = tape.unsignedInteger(n)
        if v == nil, tape.kind(n) == .string { v = RouteDecoder.hex64(tape.string(n)) }
        guard let v, v <= max else { throw RouteProblem("\(name) must be an integer from 0 to \(max), not \(text(n))") }
        return v
    }

    /// A short rendering of a value for messages.
    func text(_ n: Int) -> String {
        let node = tape.nodes[n]
        switch node.kind {
        case .string: return "\"" + tape.string(n) + "\""
        case .number: return tape.numberText(n)
        case .trueValue: return "true"
        case .falseValue: return "false"
        case .null: return "null"
        case .object, .array:
            let len = node.end - node.start
            let s = String(decoding: UnsafeBufferPointer(rebasing: tape.bytes[node.start..<min(node.end, node.start + 60)]), as: UTF8.self)
            return len > 60 ? s + "…" : s
        }
    }

    /// The NLRI octet count `FlowRoute.nlriBytes` would produce, without building it.
    static func nlriLength(_ route: FlowRoute) -> Int {
        var n = 0
        for c in route.components {
            switch c {
            case .destinationPrefix(let p), .sourcePrefix(let p):
                n += 2 + (route.family == .ipv6 ? 1 : 0) + (p.patternLength + 7) / 8
            case .numeric(_, let terms): n += 1 + terms.reduce(0) { $0 + 1 + Int($1.valueLength) }
            case .bitmask(_, let terms): n += 1 + terms.reduce(0) { $0 + 1 + Int($1.valueLength) }
            }
        }
        return n
    }
}

/// Prefix text: `A/L`, `A` (a host), and for IPv6 `A/L offset O` or `A/L/O`.
enum PrefixText {
    /// The prefix and the address as written (to warn when bits outside the prefix were set).
    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Result<(FlowPrefix, IPAddress), RouteProblem> {
        var end = b.count
        while end > 0, b[end - 1] == 0x20 { end -= 1 }
        var start = 0
        while start < end, b[start] == 0x20 { start += 1 }
        var i = start
        var colon = false
        while i < end, b[i] != 0x2f, b[i] != 0x20 { if b[i] == 0x3a { colon = true }; i += 1 }
        let address: IPAddress
        if colon {
            guard let a = IPAddress(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)) else {
                return .failure(RouteProblem("not an IPv6 address"))
            }
            address = a
        } else {
            guard let v = ipv4(UnsafeBufferPointer(rebasing: b[start..<i])) else { return .failure(RouteProblem("not an IPv4 address")) }
            address = IPAddress(ipv4: v)
        }
        func number() -> Int? {
            var v = 0, digits = 0
            while i < end, b[i] >= 0x30, b[i] <= 0x39, digits < 4 { v = v * 10 + Int(b[i] - 0x30); i += 1; digits += 1 }
            return digits > 0 ? v : nil
        }
        var length = address.family.bitWidth
        var offset = 0
        if i < end, b[i] == 0x2f {
            i += 1
            guard let l = number() else { return .failure(RouteProblem("expected a prefix length after '/'")) }
            length = l
            if i < end, b[i] == 0x2f {
                i += 1
                guard let o = number() else { return .failure(RouteProblem("expected an offset after the second '/'")) }
                offset = o
            }
        }
        var j = i
        while j < end, b[j] == 0x20 { j += 1 }
        if j < end {
            let word = Array("offset".utf8)
            guard j > i, end - j > word.count, Array(b[j..<(j + word.count)]) == word else {
                return .failure(RouteProblem("unexpected text after the prefix (write A/L or, for IPv6, A/L offset O)"))
            }
            i = j + word.count
            while i < end, b[i] == 0x20 { i += 1 }
            guard let o = number() else { return .failure(RouteProblem("expected a number after 'offset'")) }
            offset = o
        }
        guard i == end else { return .failure(RouteProblem("unexpected text after the prefix")) }
        guard length <= address.family.bitWidth else {
            return .failure(RouteProblem("prefix length \(length) is longer than \(address.family.bitWidth)"))
        }
        guard offset == 0 || address.family == .ipv6 else { return .failure(RouteProblem("IPv4 prefixes have no offset")) }
        guard offset <= length else { return .failure(RouteProblem("offset \(offset) is beyond the prefix length \(length)")) }
        guard let p = FlowPrefix(address: address, length: length, offset: offset) else {
            return .failure(RouteProblem("not a valid prefix"))
        }
        return .success((p, address))
    }

    /// Dotted quad, each part 0–255 without sign.
    static func ipv4(_ b: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var v: UInt32 = 0, part: UInt32 = 0, digits = 0, dots = 0
        for c in b {
            if c == 0x2e {
                guard digits > 0, dots < 3 else { return nil }
                v = v << 8 | part; part = 0; digits = 0; dots += 1
            } else if c >= 0x30 && c <= 0x39 {
                guard digits < 3 else { return nil }
                part = part * 10 + UInt32(c - 0x30); digits += 1
                if part > 255 { return nil }
            } else { return nil }
        }
        guard dots == 3, digits > 0 else { return nil }
        return v << 8 | part
    }
}

/// Route-target text for redirect and route-target actions: `65309:100`, `192.0.2.1:100`,
/// and `100L:5` for a 4-octet AS that would also fit 2 octets (the `L` keeps the encoding).
enum RouteTargetText {
    static func parse(_ s: String) -> RouteTarget? {
        guard let colon = s.lastIndex(of: ":") else { return nil }
        let g = s[..<colon]
        if g.hasSuffix("L") || g.hasSuffix("l") {
            guard let asn = UInt32(g.dropLast()), let local = UInt32(s[s.index(after: colon)...]), local <= 0xffff else { return nil }
            return RouteTarget(global: .as4(asn), local: local)
        }
        return RouteTarget(s)
    }

    static func format(_ t: RouteTarget) -> String {
        if case .as4(let a) = t.global, a <= 0xffff { return "\(a)L:\(t.local)" }
        return t.description
    }
}
