import FlowSpec

/// What a table does to a packet: the verdict (nil: the chain policy), every side effect in
/// order, and which routes did it.
public struct PacketOutcome: Sendable, Equatable {
    public var verdict: NftVerdict?
    public var mark: UInt32?
    public var dscp: UInt8?
    public var logs = 0
    /// The limit objects the packet was measured against, in order.
    public var limiters: [String] = []
    /// The counters the packet was counted by, in order, each named by the route it counts for:
    /// a rule's counter by the rule's comment, a set element's own counter (sets with
    /// `elementCounters`, found by a plain lookup; object maps do not count) by the element's.
    public var counted: [String] = []
    /// The routes whose rules matched the packet, in the order evaluation met them, each named
    /// by its identity (the matching set element's comment in a merged rule, else the rule's
    /// comment), each once.
    public var matched: [String] = []
    /// The route whose rule gave the verdict (nil with the policy's, or a rule without comment).
    public var decidedBy: String?
    /// What the interpreter could not follow (a jump to a missing chain, an expression it does
    /// not know); empty for every table the compiler makes.
    public var problems: [String] = []

    public init() {}

    /// Equal verdicts and side effects; `matched`, `decidedBy` and `problems` say how, not what.
    public static func == (a: PacketOutcome, b: PacketOutcome) -> Bool {
        a.verdict == b.verdict && a.mark == b.mark && a.dscp == b.dscp && a.logs == b.logs && a.limiters == b.limiters && a.counted == b.counted
    }
}

/// Runs a packet through a table's base chain as the kernel would: registers as bytes,
/// concatenated keys, interval and concatenated (per-field) set lookups, object maps, verdict
/// maps, jumps and gotos to regular chains, DSCP rewrites. A load that cannot be made (no
/// transport header in a non-first fragment, no Fragment header) ends the rule without a match.
/// The tests check it against RFC 8955/8956 on random routes and packets (merged, dispatched and
/// linear tables); `flowspec-nft explain` runs it on the table read back from the kernel.
public enum TableInterpreter {
    /// `over` says whether a limit object (by name) is over its rate for this packet.
    public static func evaluate(_ table: NftTable, _ packet: Packet, over: (String) -> Bool) -> PacketOutcome {
        var p = packet
        var out = PacketOutcome()
        let sets = Dictionary(table.sets.map { ($0.name, $0) }) { a, _ in a }
        let chains = Dictionary(table.chains.map { ($0.name, $0) }) { a, _ in a }
        func offset(_ r: NftRegister) -> Int { r.rawValue >= 8 ? Int(r.rawValue - 8) * 4 : Int(r.rawValue - 1) * 16 }
        func less(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
            for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
            return 0
        }
        func find(_ s: NftSet, _ reg: [UInt8], _ at: Int) -> NftSetElement? {
            let concat = s.keyFields.count > 1
            let widths = s.keyFields.map { Int($0.length) }
            return s.elements.first { e in
                var o = 0
                for w in widths {
                    guard at + o + w <= reg.count, o + w <= e.key.count else { return false }
                    let x = reg[(at + o)..<(at + o + w)]
                    let lo = e.key[o..<(o + w)], hi = (e.keyEnd ?? e.key)[o..<(o + w)]
                    if less(x, lo) < 0 || less(x, hi) > 0 { return false }
                    o += concat ? (w + 3) / 4 * 4 : w
                }
                return true
            }
        }
        /// Runs `chain`; a terminal verdict, or nil when the chain ends (evaluation goes on in the
        /// chain that jumped). A goto ends this chain with the chain it goes to.
        func run(_ chain: NftChain, depth: Int) -> NftVerdict? {
            if depth > 16 { out.problems.append("chains nest deeper than the kernel allows"); return .drop }
            rules: for rule in chain.rules {
                var reg = [UInt8](repeating: 0, count: 64)
                func write(_ r: NftRegister, _ b: [UInt8]) {
                    let o = offset(r)
                    for k in 0..<((b.count + 3) / 4 * 4) where o + k < reg.count { reg[o + k] = k < b.count ? b[k] : 0 }
                }
                var effects = out
                /// The route of this rule: the comment of the element its lookup found, if any.
                var element: String?
                var touched = false
                /// The rule's match part held: its route matched.
                func touch() {
                    guard !touched else { return }
                    touched = true
                    if let id = element ?? rule.comment, !effects.matched.contains(id) { effects.matched.append(id) }
                }
                /// Follows a jump or goto of this rule; the verdict to return, or nil to go on with
                /// the next rule.
                func follow(_ v: NftVerdict) -> NftVerdict?? {
                    out = effects
                    switch v {
                    case .accept, .drop:
                        out.decidedBy = element ?? rule.comment
                        return .some(v)
                    case .jump(let c):
                        guard let next = chains[c] else { out.problems.append("jump to missing chain \(c)"); return .some(.drop) }
                        if let v = run(next, depth: depth + 1) { return .some(v) }
                        return nil
                    case .goto(let c):
                        guard let next = chains[c] else { out.problems.append("goto missing chain \(c)"); return .some(.drop) }
                        return .some(run(next, depth: depth + 1))
                    case .return: return .some(nil)
                    case .continue: return nil
                    }
                }
                for e in rule.expressions {
                    switch e {
                    case .meta(let k, let r):
                        switch k {
                        case .nfproto: write(r, [p.family == .ipv4 ? 2 : 10])
                        case .l4proto: write(r, [p.proto])
                        case .iifname: write(r, InterfaceGroups.bytes(p.inputInterface))
                        default: continue rules
                        }
                    case .ct(let key, let r):
                        // A host-order u32 of the packet's ctinfo bits, as the kernel loads it.
                        guard key == .state else { continue rules }
                        write(r, withUnsafeBytes(of: p.established ? NftCtState.established : NftCtState.new) { Array($0) })
                    case .payload(let b, let o, let l, let r):
                        let src: [UInt8]
                        if b == .network { src = p.network } else if b == .transport, p.isTransport { src = p.transport } else { continue rules }
                        guard Int(o + l) <= src.count else { continue rules }
                        write(r, Array(src[Int(o)..<Int(o + l)]))
                    case .exthdr(let x, let r):
                        let h = p.fragmentHeader
                        if x.presence { write(r, [h == nil ? 0 : 1]) } else {
                            guard let h, Int(x.offset + x.length) <= h.count else { continue rules }
                            write(r, Array(h[Int(x.offset)..<Int(x.offset + x.length)]))
                        }
                    case .bitwise(let s, let d, let l, let m, let x):
                        let o = offset(s)
                        write(d, (0..<Int(l)).map { (reg[o + $0] & m[$0]) ^ x[$0] })
                    case .cmp(let op, let r, let d):
                        let c = less(reg[offset(r)..<(offset(r) + d.count)], d[...])
                        let ok = switch op { case .eq: c == 0; case .neq: c != 0; case .lt: c < 0; case .lte: c <= 0; case .gt: c > 0; case .gte: c >= 0 }
                        if !ok { continue rules }
                    case .range(let op, let r, let from, let to):
                        let x = reg[offset(r)..<(offset(r) + from.count)]
                        if (less(x, from[...]) >= 0 && less(x, to[...]) <= 0) != (op == .eq) { continue rules }
                    case .lookup(let name, let r, let invert):
                        guard let s = sets[name] else { continue rules }
                        let found = find(s, reg, offset(r))
                        if (found != nil) == invert { continue rules }
                        if let c = found?.comment { element = c }
                        if s.elementCounters, let e = found { effects.counted.append(e.comment ?? "(element without comment)") }
                    case .mapLookup(let name, let r, .verdict):
                        guard let s = sets[name], let el = find(s, reg, offset(r)), let v = el.verdict else { continue rules }
                        if let result = follow(v) { return result }
                        continue rules
                    case .objrefMap(let name, let r):
                        guard let s = sets[name], let el = find(s, reg, offset(r)), let o = el.objectName else { continue rules }
                        if let c = el.comment { element = c }
                        touch()
                        effects.limiters.append(o)
                        if !over(o) { out = effects; continue rules }
                    case .objref(_, let name):
                        touch()
                        effects.limiters.append(name)
                        if !over(name) { out = effects; continue rules }
                    case .counter:
                        touch()
                        effects.counted.append(rule.comment ?? "(rule without comment)")
                    case .log: touch(); effects.logs += 1
                    case .immediateData(_, let d):
                        touch()
                        guard d.count >= 4 else { continue }
                        effects.mark = UInt32(d[0]) | UInt32(d[1]) << 8 | UInt32(d[2]) << 16 | UInt32(d[3]) << 24
                    case .metaSet: touch()
                    case .payloadSet(_, _, _, let r, _, _):
                        touch()
                        let b0 = reg[offset(r)], b1 = reg[offset(r) + 1]
                        let d = p.family == .ipv4 ? b1 >> 2 : (b0 & 0x0f) << 2 | b1 >> 6
                        p.dscp = d; effects.dscp = d
                    case .immediateVerdict(let v):
                        touch()
                        if let result = follow(v) { return result }
                        continue rules
                    default:
                        out.problems.append("an expression the interpreter does not know: \(e)")
                        return .drop
                    }
                }
                touch()
                out = effects
            }
            return nil
        }
        guard let base = table.chains.first(where: { $0.base != nil }) else { return out }
        out.verdict = run(base, depth: 0)
        return out
    }
}
