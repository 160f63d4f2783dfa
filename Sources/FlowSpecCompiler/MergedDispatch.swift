/// Destination dispatch over the merged rule list (docs/merging.md, "Dispatch over merged
/// rules"): the base chain looks the destination up in an interval verdict map and goes to a
/// chain holding, in their order, exactly the merged table's rules whose elements (or, for a
/// single rule, its match) can reach that destination, and the rules that name no destination.
///
/// Why it is exact: a packet to `d` can only match a rule that has an element (or a match)
/// covering `d`, so leaving the other rules out changes nothing for it; the rules kept stay in
/// their order; and a chain ends as the merged chain does (with `goto`, the chain policy).
/// Packets to a destination no rule names miss the map and meet the rules without a
/// destination, which follow the maps in the base chain. Sets are shared: a rule in several
/// chains is one rule per chain over the same set, and its elements still count per route.

/// The destinations a rule of the merged table can match: its family and disjoint ascending
/// ranges of addresses; `ranges` empty for a rule that names none (it is in every chain).
struct DestinationCoverage {
    var v6: Bool?
    var ranges: [ClosedRange<UInt128>]

    static let everywhere = DestinationCoverage(v6: nil, ranges: [])

    /// The destinations of `boxes`' (a rule's elements', or its hull), merged; everywhere when one
    /// spans the whole address space.
    init(v6: Bool, boxes: some Sequence<Box>) {
        self.v6 = v6
        let top = KeyField.top(dim: 1, v6: v6)
        var rs: [ClosedRange<UInt128>] = []
        for b in boxes {
            let d = b.destination
            if d == 0...top { rs = []; self.ranges = []; return }
            rs.append(d)
        }
        rs.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt128>] = []
        for r in rs {
            if let last = merged.last, r.lowerBound <= last.upperBound || (last.upperBound < .max && r.lowerBound == last.upperBound + 1) {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        ranges = merged
    }

    init(v6: Bool?, ranges: [ClosedRange<UInt128>]) { self.v6 = v6; self.ranges = ranges }
}

enum MergedDispatch {
    /// The dispatch form of a merged chain: the base chain's new rules, the chains and the maps.
    /// `coverage[k]` is rule `k`'s. Nil when no rule names a destination.
    static func build(rules: [NftRule], coverage: [DestinationCoverage], base: String)
        -> (base: [NftRule], chains: [NftChain], maps: [NftSet])? {
        precondition(rules.count == coverage.count)
        var baseRules: [NftRule] = []
        var chains: [NftChain] = []
        var maps: [NftSet] = []
        for v6 in [false, true] {
            let field = DispatchField.destination(v6: v6)
            // Rules without a destination, of this family or of none: in every chain.
            let everywhere = coverage.indices.filter { coverage[$0].ranges.isEmpty && coverage[$0].v6 != !v6 }
            var starts: [UInt128: [Int]] = [:], ends: [UInt128: [Int]] = [:]
            var boundaries = Set<UInt128>()
            for k in coverage.indices where coverage[k].v6 == v6 {
                for r in coverage[k].ranges {
                    starts[r.lowerBound, default: []].append(k)
                    boundaries.insert(r.lowerBound)
                    if r.upperBound < KeyField.top(dim: 1, v6: v6) {
                        ends[r.upperBound + 1, default: []].append(k)
                        boundaries.insert(r.upperBound + 1)
                    }
                }
            }
            guard !starts.isEmpty else { continue }
            let points = boundaries.sorted()
            var active = Set<Int>()
            var chainOf: [[Int]: String] = [:]
            var elements: [NftSetElement] = []
            var open: (lo: UInt128, chain: String)?
            let mapName = "dispatch\(v6 ? 6 : 4)"
            func close(at hi: UInt128) {
                if let o = open {
                    elements.append(NftSetElement(key: bigEndianBytes(o.lo, width: field.width / 8),
                                                  keyEnd: o.lo == hi ? nil : bigEndianBytes(hi, width: field.width / 8),
                                                  verdict: .goto(o.chain)))
                }
                open = nil
            }
            // Each boundary starts a segment that runs to the next one (the last, to the top).
            for x in points {
                for k in ends[x] ?? [] { active.remove(k) }
                for k in starts[x] ?? [] { active.insert(k) }
                guard !active.isEmpty else { if x > 0 { close(at: x - 1) }; continue }
                let list = (Array(active) + everywhere).sorted()
                let name: String
                if let known = chainOf[list] {
                    name = known
                } else {
                    name = "\(base)_m\(v6 ? 6 : 4)_\(chainOf.count)"
                    chainOf[list] = name
                    chains.append(NftChain(name: name, rules: list.map { rules[$0] }))
                }
                if let o = open, o.chain == name { continue }
                if x > 0 { close(at: x - 1) }
                open = (x, name)
            }
            close(at: KeyField.top(dim: 1, v6: v6))
            maps.append(NftSet(name: mapName, flags: [.map, .interval], keyFields: [field.keyType], dataType: .verdict, elements: elements))
            baseRules.append(NftRule(expressions: (v6 ? RouteCompiler.nfproto6 : RouteCompiler.nfproto4).exprs
                                     + [field.load, .mapLookup(set: mapName, sreg: .reg1, dreg: .verdict)],
                                     comment: DispatchRule.comment(map: mapName)))
        }
        guard !maps.isEmpty else { return nil }
        baseRules += coverage.indices.filter { coverage[$0].ranges.isEmpty }.map { rules[$0] }
        return (baseRules, chains, maps)
    }
}
