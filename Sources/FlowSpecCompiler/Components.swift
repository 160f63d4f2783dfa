import FlowSpec

/// The match statements of a route's rules, in rule order: the statements every rule has, and
/// slots of alternatives between them (a rule is made for every combination of the alternatives
/// of all slots). Most routes have no alternatives: one rule, `common` as it is.
struct RouteMatches {
    var common: [Match] = []
    /// A slot of alternatives and the position in `common` it goes before.
    var alternatives: [(at: Int, alternatives: [[Match]])] = []

    /// How many rules the route gets: one per combination.
    var ruleCount: Int { alternatives.reduce(1) { $0 * $1.alternatives.count } }

    /// Every combination, in slot order (the first slot's alternatives vary slowest).
    func combinations() -> [[Match]] {
        if alternatives.isEmpty { return [common] }
        var combos: [[Match]] = [[]]
        var next = 0
        func appendCommon(upTo end: Int) {
            while next < end {
                for i in combos.indices { combos[i].append(common[next]) }
                next += 1
            }
        }
        for slot in alternatives {
            appendCommon(upTo: slot.at)
            var product = [[Match]]()
            product.reserveCapacity(combos.count * slot.alternatives.count)
            for c in combos { for alt in slot.alternatives { product.append(c + alt) } }
            combos = product
        }
        appendCommon(upTo: common.count)
        return combos
    }
}

/// Where a route's first component of each type is: `FlowRoute.component(_:)` searches the list
/// on every call, and the compiler asks about twenty times per route. Four bits per type (types
/// 1–13) hold the index of its first component, 0xf for none; a route of more than 15
/// components (only an invalid one) falls back to the search.
struct ComponentIndex {
    private var slots: UInt64 = ~0
    private let searches: Bool

    init(_ components: [Component]) {
        searches = components.count > 15
        if searches { return }
        for i in components.indices {
            let shift = UInt64(4 * Int(components[i].type.rawValue))
            if (slots >> shift) & 0xf == 0xf { slots = slots & ~(0xf << shift) | UInt64(i) << shift }
        }
    }

    func component(_ t: ComponentType, of route: FlowRoute) -> Component? {
        if searches { return route.component(t) }
        let i = Int((slots >> UInt64(4 * Int(t.rawValue))) & 0xf)
        return i == 0xf ? nil : route.components[i]
    }

    func has(_ t: ComponentType, in route: FlowRoute) -> Bool {
        searches ? route.component(t) != nil : (slots >> UInt64(4 * Int(t.rawValue))) & 0xf != 0xf
    }
}

extension RouteCompiler {
    /// `meta nfproto ipv4|ipv6`: the dependency nft adds itself for ip/ip6 fields in an inet
    /// table. The same value for every route of a family, so made once.
    static let nfproto4 = Match(exprs: [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [2])], merge: nil)
    static let nfproto6 = Match(exprs: [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [10])], merge: nil)

    /// A non-first fragment has no transport header, so it never matches a port, ICMP or
    /// TCP-flags component (RFC 8955 §4.2.2), even one that accepts every value. A transport
    /// load fails on such a packet in the kernel; `th dport >= 0` is that load when no other
    /// transport match is left.
    static let presence = Match(exprs: Field.dport.load + [.cmp(op: .gte, sreg: .reg1, data: [0, 0])], merge: nil,
                                key: KeyPart(field: .dport, ranges: [0...0xffff]))

    /// The route's match statements as slots in rule order. Nil when the route matches no packet.
    ///
    /// Set names are numbered in the order they are asked for, so every `lower` call happens in
    /// the same order whether or not the route turns out to match nothing.
    mutating func matchSlots(_ route: FlowRoute) throws(Rejection) -> RouteMatches? {
        let family = route.family
        var slots = RouteMatches()
        slots.common.reserveCapacity(8)
        let index = ComponentIndex(route.components)
        func component(_ t: ComponentType) -> Component? { index.component(t, of: route) }
        func has(_ t: ComponentType) -> Bool { index.has(t, in: route) }
        var never = false
        var transportMatched = false
        let keys = options.merge
        func single(_ l: Lowered, transport: Bool = false) -> Void {
            switch l {
            case .all: break
            case .none: never = true
            case .match(let m): slots.common.append(m); transportMatched = transportMatched || transport
            }
        }
        let presence = Self.presence
        /// A numeric field's match. Unmerged, a short list of values or ranges becomes a slot of
        /// alternatives (one rule each) instead of a lookup of a named set of its own: the kernel
        /// finds a named set by name in a list, so a set per route makes a large table's load
        /// quadratic (docs/lowering.md, "Value lists"). The values are disjoint, so a packet
        /// meets at most one alternative and the route's actions run at most once.
        func numericMatch(_ field: Field, _ runs: Runs, max: UInt64, transport: Bool = false) {
            let n = runs.accepted.count
            if !keys, n >= 2, runs.rejected.count >= 2, n <= Tuning.listAlternativesMax,
               slots.ruleCount * n <= Tuning.routeRulesMax {
                var alts = [[Match]]()
                for iv in runs.accepted {
                    if case .match(let m) = lower(field, Runs(accepted: IntervalSet([iv]), max: max), pool: &pool, bytes: &bytes, key: false) {
                        alts.append([m])
                    }
                }
                slots.alternatives.append((slots.common.count, alts))
                transportMatched = transportMatched || transport
                return
            }
            single(lower(field, runs, pool: &pool, bytes: &bytes, key: keys), transport: transport)
        }
        func numeric(_ t: ComponentType) -> IntervalSet? {
            component(t)?.numericTerms.map { $0.intervals(max: t.maxValue) }
        }

        slots.common.append(family == .ipv4 ? Self.nfproto4 : Self.nfproto6)
        if let names = options.interfaceGroups.interfaces(of: route) { slots.common.append(interfaceMatch(names, key: keys)) }

        for c in route.components {
            if let p = c.prefix, p.family != family {
                throw Rejection(reason: "\(c.type.name) prefix \(p.address)/\(p.length) is not \(family.name)")
            }
            if !c.type.exists(in: family) { throw Rejection(reason: "\(c.type.name) does not exist in \(family.name)") }
            if let terms = c.bitmaskTerms, terms.isEmpty { throw Rejection(reason: "\(c.type.name) has no terms") }
            if let terms = c.numericTerms, terms.isEmpty { throw Rejection(reason: "\(c.type.name) has no terms") }
        }
        if let p = component(.destinationPrefix)?.prefix, let m = prefixMatch(p, source: false, key: keys) { slots.common.append(m) }
        if let p = component(.sourcePrefix)?.prefix, let m = prefixMatch(p, source: true, key: keys) { slots.common.append(m) }

        // Protocol: the component intersected with what the other components imply.
        var protocols = numeric(.ipProtocol) ?? .all(0xff)
        let hasPorts = has(.port) || has(.destinationPort) || has(.sourcePort)
        let hasICMP = has(.icmpType) || has(.icmpCode)
        if hasPorts { protocols = protocols.intersection(IntervalSet([6...6, 17...17])) }
        if hasICMP { let v: UInt64 = family == .ipv4 ? 1 : 58; protocols = protocols.intersection(IntervalSet([v...v])) }
        if has(.tcpFlags) { protocols = protocols.intersection(IntervalSet([6...6])) }
        single(lower(.l4proto, Runs(accepted: protocols, max: 0xff), pool: &pool, bytes: &bytes, key: keys))
        if never { return nil }

        // Ports: `port` is source OR destination; two disjoint alternatives so that one packet
        // never runs the route's actions twice.
        let P = numeric(.port), D = numeric(.destinationPort), S = numeric(.sourcePort)
        if let P {
            var alts = [[Match]]()
            let all = IntervalSet.all(0xffff)
            // 1: source port in P (and in S), destination port in D.
            // 2: destination port in P (and in D), source port in S but not in P.
            let cases: [(IntervalSet, IntervalSet)] = [
                (D ?? all, P.intersection(S ?? all)),
                (P.intersection(D ?? all), (S ?? all).intersection(P.complement(max: 0xffff))),
            ]
            for (d, s) in cases {
                var alt = [Match](), dead = false
                for (field, set) in [(Field.dport, d), (Field.sport, s)] {
                    switch lower(field, Runs(accepted: set, max: 0xffff), pool: &pool, bytes: &bytes, key: keys) {
                    case .all: break
                    case .none: dead = true
                    case .match(let m): alt.append(m)
                    }
                }
                if !dead { alts.append(alt.isEmpty ? [presence] : alt) }
            }
            if alts.isEmpty { return nil }
            slots.alternatives.append((slots.common.count, alts))
        } else {
            if let D { numericMatch(.dport, Runs(accepted: D, max: 0xffff), max: 0xffff, transport: true) }
            if let S { numericMatch(.sport, Runs(accepted: S, max: 0xffff), max: 0xffff, transport: true) }
        }
        if let t = numeric(.icmpType) { numericMatch(.icmpType(family), Runs(accepted: t, max: 0xff), max: 0xff, transport: true) }
        if let t = numeric(.icmpCode) { numericMatch(.icmpCode(family), Runs(accepted: t, max: 0xff), max: 0xff, transport: true) }
        if never { return nil }

        if let terms = component(.tcpFlags)?.bitmaskTerms {
            let mask = terms.relevantMask
            guard mask <= 0xffff else { throw Rejection(reason: "tcp-flags value 0x\(String(mask, radix: 16)) exceeds 16 bits") }
            if mask == 0 { if !terms.matches(0) { return nil } } else {
                single(lower(.tcpFlags(mask: mask), bitmaskRuns(terms, mask: mask), pool: &pool, bytes: &bytes, key: keys), transport: true)
            }
        }
        if P == nil, !transportMatched, hasPorts || hasICMP || has(.tcpFlags) {
            slots.common.append(presence)
        }

        if let terms = component(.packetLength)?.numericTerms {
            if family == .ipv4 {
                numericMatch(.length(.ipv4), Runs(accepted: terms.intervals(max: 0xffff), max: 0xffff), max: 0xffff)
            } else {
                // IPv6: total length = 40 + Payload Length, and nft's `ip6 length` is the latter.
                let total = terms.intervals(max: 0xffff + 40).intersection(IntervalSet([40...(0xffff + 40)]))
                let payload = IntervalSet(total.intervals.map { ($0.lowerBound - 40)...($0.upperBound - 40) })
                numericMatch(.length(.ipv6), Runs(accepted: payload, max: 0xffff), max: 0xffff)
            }
        }
        if let t = numeric(.dscp) { numericMatch(.dscp(family), Runs(accepted: t, max: 63), max: 63) }
        if let terms = component(.fragment)?.bitmaskTerms {
            if family == .ipv4 {
                single(fragment4(terms))
            } else {
                guard let alts = fragment6(terms) else { return nil }
                if !alts.isEmpty { slots.alternatives.append((slots.common.count, alts)) }
            }
        }
        if let t = numeric(.flowLabel) { numericMatch(.flowLabel, Runs(accepted: t, max: 0xfffff), max: 0xfffff) }
        return never ? nil : slots
    }

    /// `iifname "a"`, or for several interfaces `iifname @set` (a shared set of their names):
    /// the route's interface scope. As a key part, one point per name in the box's 128-bit
    /// interface dimension (the name's bytes as a big-endian integer).
    mutating func interfaceMatch(_ names: [String], key: Bool) -> Match {
        let values = names.map(InterfaceGroups.bytes).sorted { $0.lexicographicallyPrecedes($1) }
        var e = [NftExpression]()
        Field.inputInterface.appendLoad(to: &e)
        if values.count == 1 {
            e.append(.cmp(op: .eq, sreg: .reg1, data: values[0]))
        } else {
            e.append(.lookup(set: pool.name(forInterfaces: values), sreg: .reg1, invert: false))
        }
        var m = Match(exprs: e, merge: nil)
        if key {
            m.key = KeyPart(field: KeyField.inputInterface, ranges: values.map { b in
                let v = b.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
                return v...v
            })
        }
        return m
    }

    /// Every value of `mask`'s bits, labelled by whether the list matches it.
    func bitmaskRuns(_ terms: [BitmaskTerm], mask: UInt64) -> Runs {
        let matching = Set(terms.matchingMaskedValues())
        var values = [UInt64]()
        var sub: UInt64 = 0
        repeat { values.append(sub); sub = (sub &- mask) & mask } while sub != 0
        values.sort()
        return Runs(labelled: values.map { ($0...$0, matching.contains($0)) })
    }

    /// A destination or source prefix's match, loaded as nft loads it (`PrefixLoad`).
    ///
    /// `key`: also say what it accepts as a set key part (only the merge pass reads it).
    mutating func prefixMatch(_ p: FlowPrefix, source: Bool, key wantKey: Bool) -> Match? {
        guard let load = PrefixLoad(p, source: source) else { return nil }
        let v4 = p.family == .ipv4
        let width = v4 ? 4 : 16
        let o = Int(p.offset), L = Int(p.length)
        let address = p.address
        let sb = load.octets.lowerBound
        let data = bytes.bytes(count: load.octets.count) { address.byte(sb + $0) }
        let e = load.expressions(comparing: data)
        let mergeable = load.mask == nil && (o != 0 || L == width * 8)
        let off = load.offset, len = UInt32(load.octets.count)
        let row: PacketField = v4 ? (source ? .source4 : .destination4) : (source ? .source6 : .destination6)
        // The octets loaded, as the field nft may merge with a neighbour (unmasked only).
        var field = Field(row)
        field.source = .payload(.network, offset: off, length: len)
        var key: KeyPart? = nil
        if o == 0 && wantKey {
            let lo = (0..<width).reduce(UInt128(0)) { $0 << 8 | UInt128(address.byte($1)) }
            let hostBits = width * 8 - L
            let host: UInt128 = hostBits == 0 ? 0 : (UInt128(1) << UInt128(hostBits)) - 1
            let hi = (lo & ~host) | host
            key = KeyPart(field: KeyField(row)!, ranges: [(lo & ~host)...hi])
        } else if wantKey {
            // An IPv6 offset prefix: its octets are the key, one value (a prefix's address has
            // no bits outside [offset, length), so they are already what the mask leaves).
            let v = data.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
            key = KeyPart(field: KeyField(offsetPrefix: p, source: source, load: load), ranges: [v...v])
        }
        return Match(exprs: e, merge: mergeable ? .init(base: .network, offset: off, length: len, op: .eq, data: data, field: field) : nil,
                     key: key)
    }

    /// IPv4 fragment bits over `ip frag-off`: DF is the DF flag, IsF is offset ≠ 0, FF is offset 0
    /// with MF, LF is offset ≠ 0 without MF (RFC 8955 §4.2.2.12). Only the bits the terms need
    /// are masked in; each (DF, MF, offset zero or not) combination is one run of values.
    mutating func fragment4(_ terms: [BitmaskTerm]) -> Lowered {
        let rm = terms.relevantMask
        let useDF = rm & 0x1 != 0, useMF = rm & 0xc != 0, useOff = rm & 0xe != 0
        let mask: UInt16 = (useDF ? 0x4000 : 0) | (useMF ? 0x2000 : 0) | (useOff ? 0x1fff : 0)
        if mask == 0 { return terms.matches(0) ? .all : .none }
        var labelled = [(ClosedRange<UInt64>, Bool)]()
        for df in useDF ? [false, true] : [false] {
            for mf in useMF ? [false, true] : [false] {
                for nz in useOff ? [false, true] : [false] {
                    let state: UInt64 = (df ? 1 : 0) | (nz ? 2 : 0) | (!nz && mf ? 4 : 0) | (nz && !mf ? 8 : 0)
                    let base: UInt64 = (df ? 0x4000 : 0) | (mf ? 0x2000 : 0)
                    labelled.append((nz ? (base + 1)...(base + 0x1fff) : base...base, terms.matches(state)))
                }
            }
        }
        labelled.sort { $0.0.lowerBound < $1.0.lowerBound }
        return lower(.fragOff(mask: mask), Runs(labelled: labelled), pool: &pool, bytes: &bytes, key: options.merge)
    }

    /// IPv6 fragment bits from the Fragment extension header. Without the header the state is 0
    /// (as for an atomic fragment: offset 0, M clear); FF is offset 0 with M, IsF offset ≠ 0,
    /// LF offset ≠ 0 without M; DF never exists. Returns disjoint alternatives (no header; one
    /// row or column of the offset × M grid; single cells), [] when all packets match, nil when
    /// none does.
    func fragment6(_ terms: [BitmaskTerm]) -> [[Match]]? {
        // cells: (offset ≠ 0, M)
        let cells: [(Bool, Bool, UInt64)] = [(false, false, 0), (false, true, 0x4), (true, false, 0xa), (true, true, 0x2)]
        let ok = cells.map { terms.matches($0.2) }
        if ok.allSatisfy({ $0 }) { return [] }
        if !ok.contains(true) { return nil }
        func m(_ f: Field, _ op: NftCmpOp, _ data: [UInt8]) -> Match {
            Match(exprs: f.load + [.cmp(op: op, sreg: .reg1, data: data)], merge: nil)
        }
        func off(_ nz: Bool) -> Match { m(.fragOffset6, nz ? .neq : .eq, [0, 0]) }
        func mf(_ set: Bool) -> Match { m(.moreFragments6, .eq, [set ? 1 : 0]) }
        var alts = [[Match]]()
        if ok[0] { alts.append([m(.fragPresent, .eq, [0])]) }
        var left = Set(ok.indices.filter { ok[$0] })   // not all four: that returned [] above
        // One full row or column, if any, then the remaining single cells.
        let lines: [([Int], Match)] = [([0, 1], off(false)), ([2, 3], off(true)), ([0, 2], mf(false)), ([1, 3], mf(true))]
        if let line = lines.first(where: { $0.0.allSatisfy(left.contains) }) {
            alts.append([line.1]); left.subtract(line.0)
        }
        for i in left.sorted() { alts.append([off(cells[i].0), mf(cells[i].1)]) }
        return alts
    }
}

/// How nft loads an address prefix: whole octets without a mask when the prefix ends on an
/// octet, else the whole address under a mask; an IPv6 pattern with an offset loads the octets
/// covering bits [offset, length), masked unless octet aligned. The compiler's prefix match and
/// the destination match a dispatch chain implies (`ImpliedMatches`) are both made here.
struct PrefixLoad {
    /// The first octet loaded, in the network header.
    let offset: UInt32
    /// The octets of the address loaded.
    let octets: Range<Int>
    /// The mask over them, when the prefix does not cover them whole.
    let mask: [UInt8]?

    /// Nil for a prefix that matches every address (length equal to offset).
    init?(_ p: FlowPrefix, source: Bool) {
        let v4 = p.family == .ipv4
        let start: UInt32 = v4 ? (source ? 12 : 16) : (source ? 8 : 24)
        let width = v4 ? 4 : 16
        let o = Int(p.offset), L = Int(p.length)
        if L == o { return nil }
        var sb = 0, eb = width, masked = false
        if o == 0 {
            if L % 8 == 0 { eb = L / 8 } else { masked = true }
        } else {
            sb = o / 8; eb = (L + 7) / 8
            masked = o % 8 != 0 || L % 8 != 0
        }
        offset = start + UInt32(sb)
        octets = sb..<eb
        if masked {
            let m = IPAddress.mask(from: o, to: L)
            let maskAddress = IPAddress(family: p.family, high: m.high, low: m.low)
            mask = octets.map { maskAddress.byte($0) }
        } else {
            mask = nil
        }
    }

    /// The load, the mask if any, and the equality with `data` (the prefix's octets loaded).
    func expressions(comparing data: [UInt8]) -> [NftExpression] {
        let len = UInt32(octets.count)
        var e: [NftExpression] = []
        e.reserveCapacity(mask == nil ? 2 : 3)
        e.append(.payload(base: .network, offset: offset, length: len, dreg: .reg1))
        if let mask { e.append(.bitwise(sreg: .reg1, dreg: .reg1, length: len, mask: mask, xor: [UInt8](repeating: 0, count: octets.count))) }
        e.append(.cmp(op: .eq, sreg: .reg1, data: data))
        return e
    }
}
