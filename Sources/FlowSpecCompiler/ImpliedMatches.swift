import FlowSpec

/// The matches a dispatch chain's rules may leave out: every packet that reaches the chain of
/// key `k` already passed them on its way (docs/merging.md, "Implied matches").
///
/// A destination chain is entered only through `meta nfproto ipv4 ip daddr vmap @…` with an
/// address inside its prefix, and holds exactly the rules for that prefix: their `meta nfproto`
/// and `ip daddr` matches always hold there. A protocol chain holds the rules matching exactly
/// that `meta l4proto`, a port chain those matching exactly that `th sport` (or `th dport`). The kernel's cost of loading a rule is per expression (it finds each
/// expression's type by name in a list), so leaving these out of ~190k rules saves about a third
/// of a mixed table's load, and a packet compares less in each rule it meets.
///
/// `stripped` and `restored` are each other's inverse, and `stripped` leaves a rule whole unless
/// `restored` gives it back exactly: `linearRules` (what `show` and `fetch` read) restores every
/// rule of a chain from the key it derives from the map alone, so a table read back means what
/// it meant.
enum ImpliedMatches {
    /// The expressions key `k` implies in its chain's rules, in rule order.
    static func expressions(of k: DispatchKey) -> [NftExpression] {
        switch k.field.kind {
        case .destination:
            // The route's own destination match: the prefix the key stands for, loaded as the
            // compiler loads it.
            let address = k.v6 ? IPAddress(family: .ipv6, high: UInt64(truncatingIfNeeded: k.value >> 64), low: UInt64(truncatingIfNeeded: k.value))
                               : IPAddress(ipv4: UInt32(truncatingIfNeeded: k.value))
            let load = PrefixLoad(FlowPrefix(address: address, length: k.length)!, source: false)!
            let bytes = k.bytes(k.value)
            return (k.v6 ? RouteCompiler.nfproto6 : RouteCompiler.nfproto4).exprs + load.expressions(comparing: Array(bytes[load.octets]))
        case .transportProtocol, .sourcePort, .destinationPort:
            return [k.field.load, .cmp(op: .eq, sreg: .reg1, data: k.bytes(k.value))]
        }
    }

    /// Where a protocol match stands once the destination's matches are gone: after the address
    /// matches the rule begins with (loads of the network header at offset 8 or more, that is an
    /// address, an optional mask, and an equality).
    static func afterAddresses(_ e: [NftExpression]) -> Int {
        var i = 0
        while i < e.count, case .payload(.network, let offset, _, _) = e[i], offset >= 8 {
            var j = i + 1
            if j < e.count, case .bitwise = e[j] { j += 1 }
            guard j < e.count, case .cmp(.eq, _, _) = e[j] else { break }
            i = j + 1
        }
        return i
    }

    /// Rule `rule` of key `k`'s chain without the matches `k` implies (`implied`, when already
    /// made); the rule as it is when those are not where `restored` would put them back.
    /// `restored(stripped(r)) == r` holds for every rule (checked without making the rule twice:
    /// this runs for every rule of a large table).
    static func stripped(_ rule: NftRule, of k: DispatchKey, implied: [NftExpression]? = nil) -> NftRule {
        let implied = implied ?? expressions(of: k)
        let e = rule.expressions
        var out = rule
        switch k.field.kind {
        case .destination:
            // nft's language has no words for a DSCP rewrite (`ip dscp set`, which brings its
            // checksum update) or an IPv6 extension header match (`frag …`) that do not bring a
            // `meta nfproto` with them: such a rule keeps its family and destination, or its nft
            // text would load as another rule.
            guard e.starts(with: implied), !e.contains(where: {
                switch $0 { case .payloadSet, .exthdr: true; default: false }
            }) else { return rule }
            // `restored` puts them back unless what is left begins with a family match itself.
            if e.count > implied.count, case .meta(.nfproto, _) = e[implied.count] { return rule }
            out.expressions = Array(e[implied.count...])
        case .transportProtocol, .sourcePort, .destinationPort:
            let at = position(of: k.field.kind, in: e)
            guard e[at...].starts(with: implied) else { return rule }
            let rest = Array(e[..<at]) + e[(at + implied.count)...]
            // `restored` puts the match back at the same place, and only when none is left.
            guard position(of: k.field.kind, in: rest) == at, !has(k.field.kind, rest) else { return rule }
            out.expressions = rest
        }
        return out
    }

    /// Rule `rule` of key `k`'s chain with the matches `k` implies, where `stripped` took them
    /// from; a rule that still has them is returned as it is.
    static func restored(_ rule: NftRule, of k: DispatchKey, implied: [NftExpression]? = nil) -> NftRule {
        guard rule.gotoTarget == nil else { return rule }
        let implied = implied ?? expressions(of: k)
        var out = rule
        switch k.field.kind {
        case .destination:
            guard case .meta(.nfproto, _)? = rule.expressions.first else {
                out.expressions.insert(contentsOf: implied, at: 0)
                return out
            }
        case .transportProtocol, .sourcePort, .destinationPort:
            guard !has(k.field.kind, rule.expressions) else { return rule }
            out.expressions.insert(contentsOf: implied, at: position(of: k.field.kind, in: rule.expressions))
        }
        return out
    }

    /// Where the match of a protocol or port key stands once the keys above it are gone: after
    /// the address matches the rule begins with (the compiler's order: addresses, protocol,
    /// destination port, source port), and for a source port also after a destination port's
    /// load and its comparisons.
    static func position(of kind: DispatchField.Kind, in e: [NftExpression]) -> Int {
        var at = afterAddresses(e)
        if kind == .sourcePort, at < e.count, case .payload(.transport, 2, 2, _) = e[at] {
            at += 1
            while at < e.count {
                switch e[at] { case .cmp, .range: at += 1; default: return at }
            }
        }
        return at
    }

    /// Whether the rule loads the field of a protocol or port key anywhere.
    static func has(_ kind: DispatchField.Kind, _ e: [NftExpression]) -> Bool {
        e.contains { x in
            switch (kind, x) {
            case (.transportProtocol, .meta(.l4proto, _)): true
            case (.sourcePort, .payload(.transport, 0, _, _)), (.destinationPort, .payload(.transport, 2, _, _)): true
            default: false
            }
        }
    }
}

extension NftTable {
    /// The key of each chain a dispatch map leads to, as the map alone says it (nil for a map
    /// that is not a dispatch map of this form): an exact map's element is the key; in an
    /// interval map of destinations, a prefix's chain receives the addresses of its prefix not
    /// in a more specific prefix, whose chains `goto` it, so the prefix is the smallest range
    /// holding the intervals of its chain and of the chains that go to it.
    func dispatchKeys(of map: NftSet, field: DispatchField, chainIndex: [String: Int]) -> [String: DispatchKey] {
        var keys: [String: DispatchKey] = [:]
        func value(_ b: [UInt8]) -> UInt128 { b.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
        guard field.kind == .destination else {
            for e in map.elements {
                guard let c = e.verdict?.chain, e.keyEnd == nil, e.key.count == field.width / 8 else { continue }
                keys[c] = DispatchKey(field: field, value: value(e.key), length: field.width)
            }
            return keys
        }
        var hull: [String: (lo: UInt128, hi: UInt128)] = [:]
        func widen(_ c: String, _ lo: UInt128, _ hi: UInt128) {
            if let h = hull[c] { hull[c] = (min(h.lo, lo), max(h.hi, hi)) } else { hull[c] = (lo, hi) }
        }
        for e in map.elements {
            guard let c = e.verdict?.chain else { continue }
            widen(c, value(e.key), value(e.keyEnd ?? e.key))
        }
        // Child → parent edges (`goto`), then each chain's hull widened by its descendants'.
        var parent: [String: String] = [:]
        var pending = Array(hull.keys)
        var seen = Set(pending)
        while let c = pending.popLast() {
            guard let i = chainIndex[c], let up = chains[i].rules.last?.gotoTarget else { continue }
            parent[c] = up
            if seen.insert(up).inserted { pending.append(up) }
        }
        for c in seen {
            guard let own = hull[c] else { continue }
            var up = parent[c]
            var steps = 0
            while let p = up, steps < 129 { widen(p, own.lo, own.hi); up = parent[p]; steps += 1 }
        }
        for (c, h) in hull {
            let size = h.hi &- h.lo &+ 1
            let hostBits = size == 0 ? field.width : size.trailingZeroBitCount
            guard size == 0 || size.nonzeroBitCount == 1, hostBits <= field.width,
                  hostBits == field.width || h.lo & ((UInt128(1) << UInt128(hostBits)) &- 1) == 0 else { continue }
            keys[c] = DispatchKey(field: field, value: h.lo, length: field.width - hostBits)
        }
        return keys
    }
}
