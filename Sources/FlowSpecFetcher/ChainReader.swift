import FlowSpec
import FlowSpecCompiler

/// The chain asked for is not in the table.
public struct ChainNotFound: Error, Hashable, Sendable, CustomStringConvertible {
    public var table: String
    public var chain: String
    public var description: String { "table \(table) has no chain \(chain)" }
}

/// Reads an nft chain (as `NftConnection.listTable` returns it) back into flowspec routes.
///
/// It recognises the expression idioms `nft` 1.0.6 emits for operator-written rules and those of
/// our compiler (`meta nfproto`, prefixes, `meta l4proto`, transport fields, in that order), one
/// rule at a time. A rule is read by following its registers: a load (`meta`, `payload`,
/// `exthdr`) says which packet field a register holds, `bitwise` narrows it, and the `cmp`,
/// `range` or set `lookup` that tests the register becomes a constraint on that field.
/// The mapping, and every case that is refused, is in docs/fetcher.md.
public enum ChainReader {
    /// Routes for chain `chain` of `table`. `ruleHandles` (from `InstalledTable.ruleHandles`)
    /// only serve to name rules in problems.
    public static func read(table: NftTable, chain name: String, ruleHandles: [UInt64]? = nil,
                            options: FetchOptions = FetchOptions()) throws(ChainNotFound) -> FetchResult {
        guard let chain = table.chains.first(where: { $0.name == name }) else {
            throw ChainNotFound(table: table.name, chain: name)
        }
        // A dispatch table (docs/merging.md) is read as its linear form: its rules numbered in
        // that order, so the chain's handles no longer name them.
        let chainRules = table.linearRules(ofChain: name)
        let ruleHandles = chainRules.count == chain.rules.count ? ruleHandles : nil
        let tableFamilies: Set<AddressFamily> = switch table.family {
        case .ip: [.ipv4]
        case .ip6: [.ipv6]
        case .inet: [.ipv4, .ipv6]
        }
        var problems: [FetchProblem] = []
        var rules: [ReadRule] = []
        var sets: [String: NftSet] = [:]
        for set in table.sets where sets[set.name] == nil { sets[set.name] = set }
        var limits: [String: NftLimit] = [:]
        for case .limit(let name, let l) in table.objects where limits[name] == nil { limits[name] = l }
        for (i, rule) in chainRules.enumerated() {
            // The table's own return-traffic rule (`--accept-established`) stands for no route.
            if AcceptEstablished.isIt(rule) { continue }
            // Nor do the rules that keep the listener's own BGP sessions (`OwnSessions`).
            if OwnSessions.isComment(rule.comment) { continue }
            let position = RulePosition(index: i + 1, handle: ruleHandles.flatMap { i < $0.count ? $0[i] : nil },
                                        comment: rule.comment)
            var walker = RuleWalker(sets: sets, limits: limits, position: position, tableFamilies: tableFamilies)
            do throws(FetchProblem) {
                try walker.walk(rule.expressions)
                if let elements = try walker.expand() {
                    // A lookup read element by element (a merged rule): one read rule per
                    // element, all at the rule's position; `common` is the rest of the match.
                    for x in elements {
                        var at = position
                        at.element = x.element
                        rules.append(ReadRule(position: at, match: x.match, effect: x.effect, common: walker.match))
                    }
                } else {
                    rules.append(ReadRule(position: position, match: walker.match, effect: walker.effect))
                }
            } catch {
                problems.append(error)
            }
        }
        var assembler = RouteAssembler(options: options, tableFamilies: tableFamilies)
        let policy: RuleEffect.Verdict? = chain.base.map { $0.policy == .drop ? .drop : .accept }
        assembler.assemble(rules, policy: policy,
                           policyPosition: RulePosition(index: chainRules.count + 1, isPolicy: true))
        var result = FetchResult(routes: assembler.routes, problems: problems + assembler.problems)
        result.problems.sort { $0.position.index < $1.position.index }
        crossCheckIdentities(&result, options: options)
        return result
    }

    /// A comment of the form `4:<hex>` / `6:<hex>` is a route identity (`FlowRoute.identity`):
    /// the NLRI the rule (or, in a merged rule, the set element) was compiled from. Compare it
    /// with what the expressions say.
    static func crossCheckIdentities(_ result: inout FetchResult, options: FetchOptions) {
        // With `preferIdentity`, the routes of one rule that name the same identity (a route's
        // elements that could not be read back as one route) become the same route: keep one.
        var preferred = Set<PreferredKey>()
        var duplicates: [Int] = []
        // The last route kept: a rule of the same route right after it (one of its value-list or
        // `port` alternatives, docs/lowering.md) read as the same route is not a route again.
        var last: (identity: String, family: AddressFamily, components: [Component])?
        for i in result.routes.indices {
            let fetched = result.routes[i]
            // `4:<hex>`/`6:<hex>`: the NLRI itself (the hashed `4#…` form cannot be decoded).
            guard !fetched.position.isPolicy, let comment = fetched.position.identity, RouteIdentity.isIdentity(comment),
                  comment.utf8.dropFirst().first == UInt8(ascii: ":") else { last = nil; continue }
            guard let decoded = RouteIdentity.decode(comment) else {
                result.routes[i].warnings.append("comment \(comment) looks like a route identity but does not decode")
                last = nil
                continue
            }
            let family = decoded.family, components = decoded.components
            defer {
                let r = result.routes[i].route
                if fetched.position.element == nil, let l = last, l.identity == comment, l.family == r.family, l.components == r.components {
                    duplicates.append(i)
                } else {
                    last = (comment, r.family, r.components)
                }
            }
            if fetched.route.family == family && fetched.route.components == components { continue }
            if options.preferIdentity {
                result.routes[i].route.family = family
                result.routes[i].route.components = components
                result.routes[i].warnings.append("components taken from the rule's identity comment")
                if fetched.position.element != nil,
                   !preferred.insert(PreferredKey(index: fetched.position.index, route: result.routes[i].route)).inserted {
                    duplicates.append(i)
                }
            } else {
                result.routes[i].warnings.append("the rule's identity comment names a different match (\(family.name) NLRI \(comment)); the expressions were used")
            }
        }
        for i in Set(duplicates).sorted().reversed() { result.routes.remove(at: i) }
    }

    struct PreferredKey: Hashable { var index: Int; var route: FlowRoute }
}

/// What a register holds while a rule is read.
private enum Loaded: Hashable {
    case nfproto
    case l4proto
    /// `length` bytes at `offset` of a header, narrowed by a bitwise `mask` / rewritten by `xor`.
    case payload(base: NftPayloadBase, offset: UInt32, length: UInt32, mask: [UInt8]?, xor: [UInt8]?)
    /// `exthdr … present` of IPv6 extension header `type`.
    case present(UInt8)
    /// `length` bytes at `offset` of IPv6 extension header `type`, narrowed by a bitwise `mask`.
    case exthdrField(type: UInt8, offset: UInt32, length: UInt32, mask: [UInt8]?)
    case data([UInt8])
    /// `meta iifname`: the name of the interface the packet arrived on.
    case inputInterface
    case unsupported(String)
}

/// A packet field, once the load is identified (`PacketField.reading`): what reading its
/// tests takes.
private enum Field {
    /// Bytes `[start, start + count)` of the destination or source address, `mask` over them.
    case address(destination: Bool, family: AddressFamily, start: Int)
    /// A numeric component: value = (raw & row mask) >> row shift, + row addend.
    case numeric(PacketField)
    /// The TCP flags: octet 13 (`tcp flags`) or the 16 bits at octet 12 (flags above 0xff).
    case tcpFlags
    case ipv4FragmentOffset
    /// Adjacent fields in one load (nft merges their equalities: `icmp type . icmp code`,
    /// `th sport . th dport`).
    case merged([PacketField])
}

/// A lookup read element by element: the set, and what each part of its (concatenated) key
/// holds. `object`: the rule also applies the object each element maps to (an object map).
private struct KeyLookup {
    var set: NftSet
    var parts: [Loaded]
    var object: Bool
    /// A limit map looked up by part of the key after the whole key was looked up in `set` (the
    /// merge pass's split limiter, docs/merging.md): each element's limit is the map's element
    /// with the same comment (route identity).
    var limitMap: NftSet? = nil
}

/// One element of a `KeyLookup`, read as a rule of its own.
struct ExpandedElement {
    var match: RuleMatch
    var effect: RuleEffect
    var element: String?
}

private struct RuleWalker {
    let sets: [String: NftSet]
    let limits: [String: NftLimit]
    let position: RulePosition
    let tableFamilies: Set<AddressFamily>
    var match = RuleMatch()
    var effect = RuleEffect()
    var registers: [UInt32: Loaded] = [:]
    /// Where each register's value lies: its first 4-byte unit and its length in bytes. A load
    /// that overwrites part of another value removes that value (a concatenated key is read
    /// from the units its parts start at).
    var extents: [UInt32: (unit: UInt32, bytes: UInt32)] = [:]
    var done = false
    /// nft writes an address range `a-b` as `cmp gte a` + `cmp lte b`: the lower bound waits here.
    var pendingLow: (destination: Bool, bytes: [UInt8])?
    /// A lookup read element by element (see `perElement`), expanded once the whole rule is read.
    var keyLookup: KeyLookup?

    init(sets: [String: NftSet], limits: [String: NftLimit], position: RulePosition, tableFamilies: Set<AddressFamily>) {
        self.sets = sets; self.limits = limits; self.position = position; self.tableFamilies = tableFamilies
        if tableFamilies.count == 1 { match.families = tableFamilies }
    }

    func fail(_ reason: String) -> FetchProblem { FetchProblem(position: position, reason: reason) }

    /// The register key: a 4-byte register on a 16-byte boundary is reported as the 16-byte one.
    func key(_ r: NftRegister) -> UInt32 {
        r.rawValue >= 8 && (r.rawValue - 8) % 4 == 0 ? (r.rawValue - 8) / 4 + 1 : r.rawValue
    }

    /// The first 4-byte unit (NFT_REG32_00 + n) a register names.
    static func unit(_ r: NftRegister) -> UInt32 {
        r.rawValue >= 8 ? r.rawValue - 8 : r.rawValue == 0 ? 0 : (r.rawValue - 1) * 4
    }

    static func units(_ bytes: UInt32) -> UInt32 { max(1, (bytes + 3) / 4) }

    /// Records that `r` now holds `value` (`bytes` long), forgetting values it overwrites.
    mutating func store(_ r: NftRegister, _ value: Loaded, bytes: UInt32) {
        let k = key(r), u = Self.unit(r), end = u + Self.units(bytes)
        for (other, e) in extents where other != k && e.unit < end && u < e.unit + Self.units(e.bytes) {
            registers[other] = nil
            extents[other] = nil
        }
        registers[k] = value
        extents[k] = (u, bytes)
    }

    mutating func walk(_ expressions: [NftExpression]) throws(FetchProblem) {
        for e in expressions where !done { try step(e) }
        if pendingLow != nil { throw fail("address match with only a lower bound") }
    }

    mutating func step(_ e: NftExpression) throws(FetchProblem) {
        switch e {
        case .meta(let k, let dreg):
            switch k {
            case .nfproto: store(dreg, .nfproto, bytes: 1)
            case .l4proto: store(dreg, .l4proto, bytes: 1)
            case .length: store(dreg, .unsupported("meta length"), bytes: 4)
            case .mark: store(dreg, .unsupported("meta mark (as a match)"), bytes: 4)
            case .iif: store(dreg, .unsupported("the input interface (iif/iifname)"), bytes: 4)
            case .iifname: store(dreg, .inputInterface, bytes: 16)
            case .oifname: store(dreg, .unsupported("the output interface (oifname)"), bytes: 16)
            }
        case .ct:
            if case .ct(_, let dreg) = e { store(dreg, .unsupported("connection tracking state (ct state)"), bytes: 4) }
        case .payload(let base, let offset, let length, let dreg):
            store(dreg, .payload(base: base, offset: offset, length: length, mask: nil, xor: nil), bytes: length)
        case .exthdr(let h, let dreg):
            store(dreg, h.presence && h.type == 44 ? .present(44)
                : h.type == 44 ? .exthdrField(type: 44, offset: h.offset, length: h.length, mask: nil)
                : .unsupported("IPv6 extension header \(h.type) field at offset \(h.offset)"),
                  bytes: h.presence ? 1 : h.length)
        case .bitwise(let sreg, let dreg, let length, let mask, let xor):
            let x = xor.allSatisfy({ $0 == 0 }) ? nil : xor
            switch registers[key(sreg)] {
            case .payload(let b, let o, let l, nil, nil)?:
                store(dreg, .payload(base: b, offset: o, length: l, mask: mask, xor: x), bytes: length)
            case .exthdrField(let t, let o, let l, nil)? where x == nil:
                store(dreg, .exthdrField(type: t, offset: o, length: l, mask: mask), bytes: length)
            case .unsupported(let what)?:
                // A mask on something with no flowspec form (`ct state a,b`): that is the reason.
                store(dreg, .unsupported(what), bytes: length)
            default:
                throw fail("bitwise on a register that does not hold a packet field")
            }
        case .immediateData(let dreg, let data):
            store(dreg, .data(data), bytes: UInt32(data.count))
        case .cmp(let op, let sreg, let data):
            let cop: ComparisonOp = switch op { case .eq: .eq; case .neq: .neq; case .lt: .lt; case .lte: .lte; case .gt: .gt; case .gte: .gte }
            try test(registers[key(sreg)], .compare(cop, data))
        case .range(let op, let sreg, let from, let to):
            try test(registers[key(sreg)], .range(inverted: op == .neq, from, to))
        case .lookup(let name, let sreg, let invert):
            guard let set = sets[name] else { throw fail("lookup in unknown set \(name)") }
            if perElement(set, key: registers[key(sreg)]) {
                guard !invert else {
                    throw fail("negated lookup in set \(name) (\(set.keyFields.map(\.name).joined(separator: " . "))): flowspec matches cannot be negated")
                }
                try addKeyLookup(set, sreg: sreg, object: false)
            } else {
                try test(registers[key(sreg)], .lookup(set, inverted: invert))
            }
        case .mapLookup(let name, _, _):
            throw fail("verdict map \(name): per-element verdicts have no flowspec equivalent")
        case .objrefMap(let name, let sreg):
            guard let set = sets[name], set.flags.contains(.object) else { throw fail("object map \(name) is not in the table") }
            guard set.objectType == .limit || set.objectType == .counter else {
                throw fail("object map \(name) of \(set.objectType.map { "\($0)" } ?? "unknown") objects has no flowspec equivalent")
            }
            try addKeyLookup(set, sreg: sreg, object: true)
        case .counter, .objref(.counter, _):
            break
        case .objref(.limit, let name):
            guard let l = limits[name] else { throw fail("limit object \(name) is not in the table") }
            try limit(l, named: name)
        case .objref(let type, let name):
            throw fail("\(type) object \(name) has no flowspec equivalent")
        case .limit(let l):
            try limit(l, named: nil)
        case .log(let group, let prefix):
            effect.sample = true
            if prefix != nil || group == 0 {
                effect.warnings.append("log\(group == 0 ? "" : " group \(group)")\(prefix.map { " prefix \"\($0)\"" } ?? "") read as traffic-action sample")
            }
        case .payloadSet(let base, let offset, let length, let sreg, _, _):
            try dscpSet(registers[key(sreg)], base: base, offset: offset, length: length)
        case .metaSet(let k, let sreg):
            guard k == .mark, case .data(let bytes)? = registers[key(sreg)], bytes.count == 4 else {
                throw fail("meta set of \(k) has no flowspec equivalent")
            }
            // The mark is a host-order u32 (the register is copied to skb->mark as is).
            effect.mark = bytes.reversed().reduce(0) { $0 << 8 | UInt32($1) }
        case .unknown(let name):
            throw fail("kernel expression \(name) has no flowspec equivalent")
        case .immediateVerdict(let v):
            switch v {
            case .accept: effect.verdict = .accept
            case .drop: effect.verdict = .drop
            case .continue: effect.verdict = .none
            case .return: throw fail("return: the rule's effect depends on the calling chain")
            case .jump(let c): throw fail("jump to chain \(c): only a single chain is read")
            case .goto(let c): throw fail("goto chain \(c): only a single chain is read")
            }
            done = true
        }
    }

    mutating func limit(_ l: NftLimit, named: String?) throws(FetchProblem) {
        guard effect.rate == nil else { throw fail("two limits in one rule") }
        let perSecond = Double(l.rate) / Double(l.unit.rawValue)
        effect.rate = RuleEffect.Rate(perSecond: perSecond, bytes: l.kind == .bytes, over: l.over)
        if l.burst > 0 {
            effect.warnings.append("limit burst \(l.burst) \(l.kind == .bytes ? "bytes" : "packets") is not carried by flowspec")
        }
    }

    // MARK: lookups read element by element (merged rules, docs/merging.md)

    /// Whether a lookup of `set` is read element by element — one route per element — rather
    /// than as one value set of the looked-up field: a concatenated key, an object map, a masked
    /// address (a hash set of prefixes, whose elements are the masked values), or elements that
    /// carry comments (our merge sets: each element names its route).
    func perElement(_ set: NftSet, key loaded: Loaded?) -> Bool {
        if set.keyFields.count > 1 || set.flags.contains(.object) { return true }
        if case .payload(.network, let o, _, _?, _)? = loaded, isAddressOffset(o) { return true }
        return set.elements.contains { $0.comment != nil }
    }

    /// Whether a network-header load at `offset` reads (part of) an address of the rule's family.
    func isAddressOffset(_ offset: UInt32) -> Bool {
        switch networkFamily {
        case .ipv4?: (12..<20).contains(offset)
        case .ipv6?: (8..<40).contains(offset)
        case nil: false
        }
    }

    /// Records a lookup of `set` whose key starts at `sreg`: what each key part's register
    /// holds. The compiler's counted limit maps look the key up twice — a plain lookup (for the
    /// element counters) and the object map — which is one lookup here.
    mutating func addKeyLookup(_ set: NftSet, sreg: NftRegister, object: Bool) throws(FetchProblem) {
        var parts: [Loaded] = []
        var u = Self.unit(sreg)
        for (i, f) in set.keyFields.enumerated() {
            let k = key(NftRegister(rawValue: 8 + u))
            guard let loaded = registers[k], let e = extents[k], e.unit == u else {
                throw fail("key part \(i + 1) (\(f.name)) of the lookup in set \(set.name) is not a loaded packet field")
            }
            guard e.bytes == f.length else {
                throw fail("key part \(i + 1) of set \(set.name) is \(f.name) (\(f.length) bytes) but the rule loads \(e.bytes) bytes")
            }
            parts.append(loaded)
            u += Self.units(f.length)
        }
        if var previous = keyLookup, object, previous.limitMap == nil, !previous.object, previous.set.name != set.name,
           set.objectType == .limit, previous.set.elements.contains(where: { $0.comment != nil }),
           set.elements.allSatisfy({ $0.comment != nil }) {
            // `KEY @m limit name PART map @m_o`: the limit of each route, by its comment.
            guard Set(parts).isSubset(of: previous.parts) else {
                throw fail("limit map \(set.name) is keyed by what the lookup in \(previous.set.name) does not look up")
            }
            previous.limitMap = set
            keyLookup = previous
            return
        }
        if var previous = keyLookup {
            guard previous.set.name == set.name, previous.parts == parts else {
                throw fail("lookups in two sets (\(previous.set.name), \(set.name)): one set per rule is read element by element")
            }
            previous.object = previous.object || object
            keyLookup = previous
            return
        }
        keyLookup = KeyLookup(set: set, parts: parts, object: object)
    }

    /// The rule as one read rule per element of its element-by-element lookup (nil when it has
    /// none): the rule's other matches, plus the element's value for each key part (a single
    /// value as `==`, a range as the fetcher reads ranges, a masked address as its prefix), and
    /// the rule's effect (for a limit map, with the element's limit object). Elements that can
    /// never match (bits outside a mask) are left out; an element that has no exact flowspec form
    /// makes the whole rule a problem. Elements of one route (same comment) that differ in one
    /// numeric field only are read as one route (`dport 80 || 443`).
    func expand() throws(FetchProblem) -> [ExpandedElement]? {
        guard let lookup = keyLookup else { return nil }
        let set = lookup.set
        let limited = lookup.object && set.objectType == .limit || lookup.limitMap != nil
        var limitOf: [String: String] = [:]
        for e in lookup.limitMap?.elements ?? [] { if let c = e.comment, let o = e.objectName, limitOf[c] == nil { limitOf[c] = o } }
        if limited && effect.rate != nil { throw fail("two limits in one rule (a limit and the limit map \(set.name))") }
        if set.elements.isEmpty { throw fail("lookup in the empty set \(set.name): the rule never matches") }
        let concatenated = set.keyFields.count > 1
        var offsets: [Int] = []
        var width = 0
        for f in set.keyFields {
            offsets.append(width)
            width += concatenated ? Int(Self.units(f.length)) * 4 : Int(f.length)
        }
        var out: [ExpandedElement] = []
        out.reserveCapacity(set.elements.count)
        var never = 0
        elements: for e in set.elements {
            let named = e.comment.map { "element \"\($0)\"" } ?? "an element"
            guard e.key.count == width, e.keyEnd.map({ $0.count == width }) ?? true else {
                throw fail("\(named) of set \(set.name) has a \(e.key.count)-byte key, not \(width) bytes")
            }
            var w = self
            w.keyLookup = nil
            for (i, f) in set.keyFields.enumerated() {
                let range = offsets[i] ..< offsets[i] + Int(f.length)
                let lo = Array(e.key[range])
                let hi = e.keyEnd.map { Array($0[range]) } ?? lo
                let part = lookup.parts[i]
                if case .payload(let base, let o, _, let mask?, _) = part {
                    // The register holds the masked field (a hash set of prefixes): an element
                    // with bits outside the mask never matches.
                    if lo == hi && zip(lo, mask).contains(where: { $0 & ~$1 != 0 }) { never += 1; continue elements }
                    if lo != hi && base == .network && isAddressOffset(o) {
                        throw fail("\(named) of set \(set.name): a range of masked addresses has no flowspec prefix")
                    }
                }
                do throws(FetchProblem) {
                    try w.test(part, lo == hi ? .compare(.eq, lo) : .range(inverted: false, lo, hi))
                } catch {
                    throw fail("\(named) of set \(set.name): \(error.reason)")
                }
            }
            if w.pendingLow != nil { throw fail("\(named) of set \(set.name): an address with only a lower bound") }
            if limited {
                guard let name = lookup.limitMap == nil ? e.objectName : e.comment.flatMap({ limitOf[$0] }), let l = limits[name] else {
                    throw fail("\(named) of limit map \(set.name) names no limit object of the table (\(e.objectName ?? "none"))")
                }
                try w.limit(l, named: name)
            }
            if w.match.numeric.values.contains(where: \.isEmpty) { never += 1; continue }
            out.append(ExpandedElement(match: w.match, effect: w.effect, element: e.comment))
        }
        if out.isEmpty { throw fail("no element of set \(set.name) can match: the rule never matches") }
        if never > 0 {
            out[0].match.warnings.append("\(never) element\(never == 1 ? "" : "s") of set \(set.name) can never match (bits outside the mask, or no value): left out")
        }
        return Self.joined(out)
    }

    /// Elements of one route (the same comment) and the same effect that differ in one numeric
    /// field only, as one element with the union of that field: exactly the same packets.
    static func joined(_ elements: [ExpandedElement]) -> [ExpandedElement] {
        var byComment: [String: [Int]] = [:]
        for (i, e) in elements.enumerated() { if let c = e.element { byComment[c, default: []].append(i) } }
        guard byComment.values.contains(where: { $0.count > 1 }) else { return elements }
        var out: [ExpandedElement?] = elements
        for indices in byComment.values where indices.count > 1 {
            var changed = true
            while changed {
                changed = false
                for a in indices where out[a] != nil {
                    for b in indices where b > a && out[b] != nil {
                        if let u = union(out[a]!, out[b]!) { out[a] = u; out[b] = nil; changed = true }
                    }
                }
            }
        }
        return out.compactMap { $0 }
    }

    static func union(_ a: ExpandedElement, _ b: ExpandedElement) -> ExpandedElement? {
        let x = a.match, y = b.match
        guard a.effect == b.effect, x.families == y.families, x.destinations == y.destinations, x.sources == y.sources,
              x.bitmask == y.bitmask, Set(x.numeric.keys) == Set(y.numeric.keys) else { return nil }
        // Elements of one route on several interfaces differ in the interface alone.
        if x.interfaces != y.interfaces {
            guard x.numeric == y.numeric, let i = x.interfaces, let j = y.interfaces else { return nil }
            var u = a
            u.match.interfaces = i.union(j)
            return u
        }
        let differing = x.numeric.keys.filter { x.numeric[$0] != y.numeric[$0] }
        guard differing.count <= 1 else { return nil }
        var u = a
        if let t = differing.first { u.match.numeric[t] = x.numeric[t]!.union(y.numeric[t]!) }
        for warning in y.warnings where !u.match.warnings.contains(warning) { u.match.warnings.append(warning) }
        return u
    }

    enum Test {
        case compare(ComparisonOp, [UInt8])
        case range(inverted: Bool, [UInt8], [UInt8])
        case lookup(NftSet, inverted: Bool)
    }

    /// The family that network-header fields are read in.
    var networkFamily: AddressFamily? {
        if let f = match.families, f.count == 1 { return f.first }
        return nil
    }

    mutating func test(_ loaded: Loaded?, _ t: Test) throws(FetchProblem) {
        guard let loaded else { throw fail("test of a register nothing was loaded into") }
        switch loaded {
        case .nfproto:
            let values = try rawValues(t, max: 0xff)
            let families = tableFamilies.filter { values.contains($0 == .ipv4 ? 2 : 10) }
            match.families = (match.families ?? tableFamilies).intersection(families)
            if match.families!.isEmpty { throw fail("meta nfproto excludes every family of the table") }
        case .l4proto:
            match.and(.ipProtocol, try rawValues(t, max: 0xff))
        case .unsupported(let what):
            throw fail("\(what) has no flowspec component")
        case .data:
            throw fail("test of an immediate value")
        case .inputInterface:
            // An interface scope (`--interface-group`): one name, or a set of names.
            func name(_ b: [UInt8]) -> String { String(decoding: b.prefix { $0 != 0 }, as: UTF8.self) }
            switch t {
            case .compare(.eq, let data) where data.count == 16:
                match.and(interfaces: [name(data)])
            case .range(inverted: false, let lo, let hi) where lo == hi && lo.count == 16:
                match.and(interfaces: [name(lo)])
            case .lookup(let set, false) where set.keyFields == [.ifname] && !set.flags.contains(.interval):
                match.and(interfaces: Set(set.elements.map { name($0.key) }))
            default:
                throw fail("an input interface test other than iifname \"name\" or a set of names (a wildcard, a negation, a range) has no route-target form")
            }
        case .present(let type):
            guard case .compare(let op, let data) = t, data.count == 1, op == .eq || op == .neq, data[0] <= 1 else {
                throw fail("unusual test of exthdr \(type) presence")
            }
            guard match.restrict(to: .ipv6) else { throw fail("IPv6 fragment header test in an IPv4-only rule") }
            let present = (data[0] == 1) == (op == .eq)
            let isf = FragmentBit.isFragment.rawValue, ff = FragmentBit.firstFragment.rawValue
            match.and(.fragment, dnf: present ? [[BitmaskTerm(value: isf)], [BitmaskTerm(value: ff)]]
                                              : [[BitmaskTerm(not: true, value: isf | ff)]])
            match.warnings.append("exthdr frag \(present ? "exists" : "missing") read as fragment \(present ? "is-fragment || first-fragment" : "!(is-fragment | first-fragment)") (atomic fragments differ)")
        case .exthdrField(let type, let offset, let length, let mask):
            try fragmentHeaderField(type: type, offset: offset, length: length, mask: mask, t)
        case .payload(let base, let offset, let length, let mask, let xor):
            guard xor == nil else { throw fail("test of a rewritten field") }
            if base == .transport, mask == nil, length <= 4,
               try rawValues(t, max: (1 << (8 * UInt64(length))) - 1) == .all((1 << (8 * UInt64(length))) - 1) {
                try transportPresence()
                return
            }
            let field = try identify(base: base, offset: offset, length: length, mask: mask)
            try apply(field, length: length, mask: mask, t)
        }
    }

    /// A transport load tested against every value it can hold (the compiler's `th dport >= 0`):
    /// it only fails on packets without that transport header, i.e. non-first fragments. In
    /// flowspec that is a port (TCP/UDP) or ICMP type component that accepts every value.
    mutating func transportPresence() throws(FetchProblem) {
        let proto = match.singleProtocol
        if proto == 1 || proto == 58 {
            match.and(.icmpType, .all(0xff))
            return
        }
        if let p = match.protocols {
            guard p.intersection(IntervalSet([6...6, 17...17])) == p else {
                throw fail("a transport header test under protocol \(p.intervals.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0)" }.joined(separator: ",")): flowspec has it for TCP, UDP and ICMP only")
            }
        } else {
            match.warnings.append("transport header test without a protocol match read as a flowspec port (which matches TCP and UDP only)")
        }
        match.and(.destinationPort, .all(0xffff))
    }

    /// `frag frag-off` (offset 2, 2 bytes & 0xfff8) and `frag more-fragments` (offset 3, 1 byte
    /// & 0x01) of the IPv6 Fragment header, as fragment states. A packet without the header fails
    /// the load; its state (0) is the one of an atomic fragment, so a route's rules for state 0
    /// (`exthdr frag missing` plus a header test) read back together as exactly its packets.
    mutating func fragmentHeaderField(type: UInt8, offset: UInt32, length: UInt32, mask: [UInt8]?, _ t: Test) throws(FetchProblem) {
        guard type == 44 else { throw fail("IPv6 extension header \(type) field has no flowspec component") }
        guard match.restrict(to: .ipv6) else { throw fail("IPv6 fragment header test in an IPv4-only rule") }
        let isf = FragmentBit.isFragment.rawValue, ff = FragmentBit.firstFragment.rawValue
        let lf = FragmentBit.lastFragment.rawValue
        let load = PacketField.Load.exthdr(NftExthdr(type: type, offset: offset, length: length, presence: false))
        switch PacketField.reading(load, mask: mask, family: .ipv6, l4proto: nil) {
        case .field(.fragOffset6, _)?:
            let raw = try rawValues(t, max: 0xffff)
            let zero = raw.contains(0)
            let nonzero = IntervalSet([8...0xfff8])
            let allNonzero = (1...0x1fff).allSatisfy { raw.contains(UInt64($0) << 3) }
            let someNonzero = raw.intersection(nonzero).intervals.contains { ($0.upperBound >> 3) << 3 >= $0.lowerBound }
            guard allNonzero || !someNonzero else {
                throw fail("frag frag-off test that splits non-first fragments by offset has no flowspec fragment bit")
            }
            switch (zero, allNonzero) {
            case (true, true): break
            case (true, false): match.and(.fragment, dnf: [[BitmaskTerm(not: true, value: isf)]])
            case (false, true): match.and(.fragment, dnf: [[BitmaskTerm(value: isf)]])
            case (false, false): match.and(.fragment, dnf: [])
            }
        case .field(.moreFragments6, _)?:
            let raw = try rawValues(t, max: 1)
            // M set: first fragment or a middle one; M clear: unfragmented/atomic or last.
            let set: [[BitmaskTerm]] = [[BitmaskTerm(value: ff)], [BitmaskTerm(value: isf), BitmaskTerm(not: true, value: lf)]]
            let clear: [[BitmaskTerm]] = [[BitmaskTerm(not: true, value: isf | ff)], [BitmaskTerm(value: lf)]]
            switch (raw.contains(0), raw.contains(1)) {
            case (true, true): break
            case (false, true): match.and(.fragment, dnf: set)
            case (true, false): match.and(.fragment, dnf: clear)
            case (false, false): match.and(.fragment, dnf: [])
            }
        default:
            throw fail("IPv6 fragment header bytes \(offset)..<\(offset + length) have no flowspec component")
        }
    }

    /// The raw values (big-endian data) a test accepts, within `0...max`.
    func rawValues(_ t: Test, max: UInt64) throws(FetchProblem) -> IntervalSet {
        switch t {
        case .compare(let op, let data): return intervals(op, be(data), max: max)
        case .range(let inverted, let a, let b):
            let r = be(a) <= be(b) ? IntervalSet([be(a)...be(b)]) : IntervalSet()
            return inverted ? r.complement(max: max) : r.intersection(.all(max))
        case .lookup(let set, let inverted):
            guard !set.flags.contains(.map), !set.flags.contains(.object) else { throw fail("lookup in map \(set.name)") }
            let r = IntervalSet(set.elements.map { e in be(e.key)...be(e.keyEnd ?? e.key) }).intersection(.all(max))
            return inverted ? r.complement(max: max) : r
        }
    }

    func be(_ bytes: [UInt8]) -> UInt64 { bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }

    mutating func identify(base: NftPayloadBase, offset: UInt32, length: UInt32, mask: [UInt8]?) throws(FetchProblem) -> Field {
        let o = Int(offset), l = Int(length)
        let family = networkFamily
        if base == .network && family == nil {
            throw fail("network header field at offset \(offset) without a family (meta nfproto) match")
        }
        let load = PacketField.Load.payload(base, offset: offset, length: length)
        let proto = match.singleProtocol.flatMap { UInt8(exactly: $0) }
        guard let reading = PacketField.reading(load, mask: mask, family: family, l4proto: proto) else {
            switch base {
            case .network:
                throw fail("\(family == .ipv4 ? "IPv4" : "IPv6") header bytes \(o)..<\(o + l)\(mask.map { " & 0x" + String(be($0), radix: 16) } ?? "") have no flowspec component")
            case .transport:
                if case .field(let f, _)? = PacketField.reading(load, mask: mask, family: nil, l4proto: 6), f.row.component == .tcpFlags {
                    throw fail("tcp flags without meta l4proto tcp")
                }
                throw fail("transport header bytes \(o)..<\(o + l) have no flowspec component")
            default:
                throw fail("\(base) header field has no flowspec component")
            }
        }
        let fields: [PacketField]
        switch reading {
        case .fields(let parts): fields = parts
        case .field(let f, _): fields = [f]
        }
        if fields.contains(where: { $0.row.component == .sourcePort || $0.row.component == .destinationPort }) {
            if let p = match.protocols {
                guard p.intersection(IntervalSet([6...6, 17...17])) == p else {
                    throw fail("ports of protocol \(p.intervals.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0)" }.joined(separator: ",")): flowspec ports are TCP and UDP ports only")
                }
            } else {
                match.warnings.append("transport port without a protocol match read as a flowspec port (which matches TCP and UDP only)")
            }
        }
        guard case .field(let f, let start) = reading else { return .merged(fields) }
        let row = f.row
        switch row.component {
        case .destinationPrefix, .sourcePrefix:
            return .address(destination: row.component == .destinationPrefix, family: row.family!, start: start)
        case .tcpFlags: return .tcpFlags
        case .fragment: return .ipv4FragmentOffset
        default:
            if f == .nextHeader6 {
                match.protocolIsFirstHeader = true
                match.warnings.append("ip6 nexthdr (the first next header) read as the upper-layer protocol; they differ when extension headers are present (meta l4proto is exact)")
            }
            return .numeric(f)
        }
    }

    mutating func apply(_ field: Field, length: UInt32, mask: [UInt8]?, _ t: Test) throws(FetchProblem) {
        let rawMax: UInt64 = length >= 8 ? .max : (1 << (8 * UInt64(length))) - 1
        switch field {
        case .numeric(let f):
            // The load's mask is the row's (`PacketField.reading` matched it).
            let row = f.row, type = row.component, shift = UInt64(row.shift), addend = row.addend
            let expected: UInt64? = if case .fixed(let m) = row.mask { be(m) } else { nil }
            let raw = try rawValues(t, max: expected ?? rawMax)
            var out: [ClosedRange<UInt64>] = []
            let step: UInt64 = 1 << shift
            for r in raw.intervals {
                let lo = (r.lowerBound + step - 1) >> shift, hi = r.upperBound >> shift
                if lo <= hi { out.append((lo + addend)...(hi + addend)) }
            }
            if type == .packetLength && addend > 0 {
                match.warnings.append("ip6 length is the payload length: packet-length = value + 40")
            }
            // Payload fields only come here: every one stands for a component.
            guard let type else { throw fail("\(f.row.name ?? "a field") has no flowspec component") }
            match.and(type, IntervalSet(out))
        case .merged(let fields):
            guard case .compare(.eq, let data) = t, data.count == Int(length) else {
                let what = fields.map(\.row.component) == [.icmpType, .icmpCode] ? "icmp type and code"
                    : fields.compactMap(\.row.name).joined(separator: " . ")
                throw fail("\(what) tested together other than by equality")
            }
            var at = 0
            for f in fields {
                let w = f.row.width, v = be(Array(data[at..<(at + w)]))
                guard let type = f.row.component else { throw fail("\(f.row.name ?? "a field") has no flowspec component") }
                match.and(type, IntervalSet([v...v]))
                at += w
            }
        case .tcpFlags:
            // The flowspec value is the 16 bits at octet 12 (the compiler's 2-byte form) or
            // octet 13 alone, which are the same bits for values up to 0xff.
            let m = mask.map(be) ?? rawMax
            switch t {
            case .compare(.eq, let data): match.and(.tcpFlags, dnf: bitmaskEqual(mask: m, value: be(data)))
            case .compare(.neq, let data): match.and(.tcpFlags, dnf: bitmaskNotEqual(mask: m, value: be(data)))
            default:
                // Any other relation (order comparison, range, set, inverted set): the masked
                // values it accepts, one by one (normalised when the route is built).
                guard m.nonzeroBitCount <= 12 else { throw fail("tcp flags & 0x\(String(m, radix: 16)) tested by an order comparison, range or set: too many bits") }
                let raw = try rawValues(t, max: rawMax)
                let accepted = BitmaskNormalForm.submasks(of: m).filter { raw.contains($0) }
                match.and(.tcpFlags, dnf: accepted.flatMap { bitmaskEqual(mask: m, value: $0) })
            }
        case .ipv4FragmentOffset:
            try ipv4Fragment(mask: mask.map(be) ?? 0xffff, t)
        case .address(let destination, let family, let start):
            let width = family == .ipv4 ? 4 : 16
            let n = Int(length)
            var list: [FlowPrefix] = []
            switch t {
            case .compare(.eq, let data):
                guard data.count == n else { throw fail("address compare of \(data.count) bytes against a \(n)-byte load") }
                let maskBytes = mask ?? [UInt8](repeating: 0xff, count: n)
                // The mask must be one run of ones: bits [from, to) of the loaded bytes.
                var bits: [Bool] = []
                for b in maskBytes { for i in 0..<8 { bits.append(b & (0x80 >> UInt8(i)) != 0) } }
                guard let from = bits.firstIndex(of: true), let last = bits.lastIndex(of: true),
                      bits[from...last].allSatisfy({ $0 }) else {
                    throw fail("address mask is not a contiguous prefix")
                }
                // The register holds the masked address: a value with other bits never matches.
                guard zip(data, maskBytes).allSatisfy({ $0 & ~$1 == 0 }) else {
                    throw fail("address compared with bits outside its mask: the rule never matches")
                }
                var bytes = [UInt8](repeating: 0, count: width)
                for i in 0..<n { bytes[start + i] = data[i] }
                let offset = start * 8 + from, len = start * 8 + last + 1
                guard family == .ipv6 || offset == 0 else { throw fail("IPv4 address match that does not start at the first bit") }
                guard let p = FlowPrefix(address: IPAddress(family: family, bytes: bytes), length: len, offset: offset) else {
                    throw fail("address match does not form a prefix")
                }
                list = [p]
            case .lookup(let set, false):
                guard start == 0, n == width, mask == nil else { throw fail("set lookup on part of an address") }
                for e in set.elements {
                    let a = IPAddress(family: family, bytes: e.key), b = IPAddress(family: family, bytes: e.keyEnd ?? e.key)
                    guard a <= b else { continue }
                    list += prefixes(from: a, to: b)
                }
                if list.isEmpty { throw fail("lookup in the empty set \(set.name): the rule never matches") }
            case .compare(.gte, let data) where start == 0 && n == width && mask == nil && pendingLow == nil:
                pendingLow = (destination, data)
                return
            case .compare(.lte, let data) where start == 0 && n == width && mask == nil && pendingLow?.destination == destination:
                list = prefixes(from: IPAddress(family: family, bytes: pendingLow!.bytes), to: IPAddress(family: family, bytes: data))
                pendingLow = nil
                if list.isEmpty { throw fail("empty address range: the rule never matches") }
            case .range(false, let a, let b):
                guard start == 0, n == width, mask == nil else { throw fail("address range on part of an address") }
                list = prefixes(from: IPAddress(family: family, bytes: a), to: IPAddress(family: family, bytes: b))
            default:
                throw fail("negated \(destination ? "destination" : "source") address match: flowspec prefixes cannot be negated")
            }
            guard match.restrict(to: family) else { throw fail("address of the other family") }
            if let reason = match.and(destination: destination, list) { throw fail(reason) }
        }
    }

    /// `ip frag-off & M` under any relation, as the fragment states it accepts. The eight
    /// (DF, MF, offset zero or not) cells of RFC 8955's fragment bits each hold one run of
    /// frag-off values; a test must take each cell whole (the compiler's masks keep DF 0x4000,
    /// MF 0x2000 and offset 0x1fff whole), else it has no flowspec form.
    mutating func ipv4Fragment(mask m: UInt64, _ t: Test) throws(FetchProblem) {
        let raw = try rawValues(t, max: 0xffff)
        let df = FragmentBit.dontFragment.rawValue, isf = FragmentBit.isFragment.rawValue
        let ff = FragmentBit.firstFragment.rawValue, lf = FragmentBit.lastFragment.rawValue
        let offsetMask = m & 0x1fff
        var accepted: [UInt64] = []
        for dfSet in [false, true] {
            for mfSet in [false, true] {
                for nonzero in [false, true] {
                    let flags: UInt64 = ((dfSet ? 0x4000 : 0) | (mfSet ? 0x2000 : 0)) & m
                    // The masked offsets of the cell: 0 alone, or those of 1...0x1fff.
                    let offsets: [UInt64] = !nonzero ? [0]
                        : offsetMask == 0 ? [0]
                        : offsetMask == 0x1fff ? []
                        : BitmaskNormalForm.submasks(of: offsetMask)
                    let all: Bool, none: Bool
                    if nonzero && offsetMask == 0x1fff {
                        let run = IntervalSet([(flags + 1)...(flags + 0x1fff)])
                        all = raw.intersection(run) == run; none = raw.intersection(run).isEmpty
                    } else {
                        let hits = offsets.filter { raw.contains(flags | $0) }.count
                        all = hits == offsets.count; none = hits == 0
                    }
                    guard all || none else {
                        throw fail("ip frag-off & 0x\(String(m, radix: 16)) test splits packets with the same fragment bits (by offset or reserved bit): no flowspec fragment bit")
                    }
                    if all {
                        accepted.append((dfSet ? df : 0) | (nonzero ? isf : 0) | (!nonzero && mfSet ? ff : 0) | (nonzero && !mfSet ? lf : 0))
                    }
                }
            }
        }
        match.and(.fragment, dnf: accepted.flatMap { bitmaskEqual(mask: df | isf | ff | lf, value: $0) })
    }

    mutating func dscpSet(_ loaded: Loaded?, base: NftPayloadBase, offset: UInt32, length: UInt32) throws(FetchProblem) {
        guard base == .network, offset == 0, length == 2,
              case .payload(.network, 0, 2, let mask?, let xor)? = loaded, let family = networkFamily else {
            throw fail("payload write other than ip/ip6 dscp set")
        }
        let x = xor ?? [0, 0]
        switch (family, mask) {
        case (.ipv4, [0xff, 0x03]): effect.dscp = x[1] >> 2
        case (.ipv6, [0xf0, 0x3f]): effect.dscp = (x[0] & 0x0f) << 2 | x[1] >> 6
        default: throw fail("payload write of header bytes 0..<2 that is not a DSCP rewrite")
        }
    }
}
