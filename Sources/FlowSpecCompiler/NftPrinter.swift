import FlowSpec

/// An expression list the printer cannot express as nft text, with the expression at fault.
public struct NftDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var index: Int
    public var reason: String
    public init(index: Int, reason: String) { self.index = index; self.reason = reason }
    public var description: String { "expression \(index): \(reason)" }
}

/// Renders the IR as `nft` text that `nft -f` loads.
///
/// Rules are decompiled from their expressions alone (a field is recognised by its base, offset,
/// length and mask; a relation by cmp / range / lookup), never from side information, so the same
/// code prints rules read back from the kernel. The text is chosen so that nft generates exactly
/// the expressions it was printed from (see docs/lowering.md for the idioms and nft's quirks).
public enum NftPrinter {
    /// The whole table. With `replace`, the file first creates (if absent) and deletes the table,
    /// so loading it swaps the old table for the new one in one transaction.
    public static func render(_ table: NftTable, replace: Bool = false) -> String {
        var out = ""
        let fam = table.family.name
        if replace { out += "table \(fam) \(table.name) {}\ndelete table \(fam) \(table.name)\n" }
        out += "table \(fam) \(table.name) {\n"
        // `typeof` for integer-keyed sets comes from a rule that looks the set up.
        var usage = [String: String]()
        for chain in table.chains {
            for rule in chain.rules { setUsage(rule.expressions, into: &usage) }
        }
        for set in table.sets { out += renderSet(set, typeof: usage[set.name]) }
        for obj in table.objects {
            switch obj {
            case .limit(let name, let l): out += "\tlimit \(name) {\n\t\t\(limitText(l))\n\t}\n"
            case .counter(let name): out += "\tcounter \(name) {\n\t}\n"
            }
        }
        var objectTypes = [String: NftObjectType]()
        for set in table.sets { if let t = set.objectType { objectTypes[set.name] = t } }
        for chain in table.chains {
            out += "\tchain \(chain.name) {\n"
            if let b = chain.base {
                let devices = b.devices.count == 1 ? " device \(quoted(b.devices[0]))"
                    : b.devices.isEmpty ? "" : " devices = { \(b.devices.map(quoted).joined(separator: ", ")) }"
                out += "\t\ttype \(b.type) hook \(b.hook.name)\(devices) priority \(b.priority); policy \(b.policy == .drop ? "drop" : "accept");\n"
                if b.offload { out += "\t\tflags offload;\n" }
            }
            for rule in chain.rules {
                out += "\t\t" + ruleText(rule, objectTypes: objectTypes)
                // nft has no place for it (the kernel keeps it beside the comment): a note for the reader.
                if let note = rule.routeComment { out += " # " + String(note.map { $0.isNewline ? " " : $0 }) }
                out += "\n"
            }
            out += "\t}\n"
        }
        out += "}\n"
        return out
    }

    /// One rule as a line of nft text (statements and comment); a rule that cannot be decoded
    /// becomes an nft comment line naming the expression at fault.
    public static func ruleText(_ rule: NftRule, objectTypes: [String: NftObjectType] = [:]) -> String {
        do {
            var d = Decompiler(exprs: rule.expressions)
            d.objectTypes = objectTypes
            var s = try d.run().joined(separator: " ")
            if let c = rule.comment { s += " comment " + quoted(c) }
            return s
        } catch {
            return "# undecodable rule: \(error)"
        }
    }

    /// The statements of an expression list, in nft syntax.
    public static func statements(_ exprs: [NftExpression]) throws(NftDecodeError) -> [String] {
        var d = Decompiler(exprs: exprs)
        return try d.run()
    }

    /// A comment as an nft string (nft has no escape for `"`, so it becomes `'`).
    static func quoted(_ comment: String) -> String {
        // By UTF-8 byte: a `"` is one byte in UTF-8 and never part of another character's
        // encoding. Mapping the `Character`s (grapheme breaking) cost a quarter of `compile`'s
        // instructions at 20k routes.
        var out = [UInt8]()
        out.reserveCapacity(comment.utf8.count + 2)
        out.append(UInt8(ascii: "\""))
        for b in comment.utf8 { out.append(b == UInt8(ascii: "\"") ? UInt8(ascii: "'") : b) }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    /// What follows an element's key: its own counter and its comment, in nft's order
    /// (`1.2.3.4 counter packets 1 bytes 60 comment "c"`). An element without a counter of its
    /// own in a set with `counter` gets the set's, from zero, when loaded. nft refuses a counter
    /// in a set declared without one, so there (a foreign table read back) it is left out.
    static func elementSuffix(_ e: NftSetElement, in set: NftSet) -> String {
        var s = ""
        if set.elementCounters, let c = e.counter {
            s += c.packets == 0 && c.bytes == 0 ? " counter" : " counter packets \(c.packets) bytes \(c.bytes)"
        }
        if let comment = e.comment { s += " comment " + quoted(comment) }
        return s
    }

    static func limitText(_ l: NftLimit) -> String {
        var s = "rate \(l.over ? "over " : "")\(l.rate)"
        s += l.kind == .bytes ? " bytes/\(l.unit)" : "/\(l.unit)"
        if l.kind == .packets && l.burst != 5 { s += " burst \(l.burst) packets" }
        if l.kind == .bytes && l.burst != 0 { s += " burst \(l.burst) bytes" }
        return s
    }

    static func renderSet(_ set: NftSet, typeof: String?) -> String {
        if set.keyFields.count > 1 || set.flags.contains(.object) || set.flags.contains(.map) || set.keyFields.contains(where: { $0.name.hasSuffix("_addr") }) {
            return renderTypedSet(set, typeof: set.typeof == nil ? nil : typeof)
        }
        var out = "\tset \(set.name) {\n"
        let key = set.keyFields.first ?? .integer
        if key.name == "integer" || set.keyFields.count != 1, let t = typeof {
            out += "\t\ttypeof \(t)\n"
        } else {
            out += "\t\ttype \(set.keyFields.map(\.name).joined(separator: " . "))\n"
        }
        if set.flags.contains(.interval) { out += "\t\tflags interval\n" }
        if set.elementCounters { out += "\t\tcounter\n" }
        if !set.elements.isEmpty {
            let decimal = ["inet_service", "inet_proto", "icmp_type", "icmpv6_type", "icmp_code", "icmpv6_code"].contains(key.name)
            // An interval that runs to the top of the key (no end element in the kernel) is
            // written up to the top of nft's own type: 20 bits for `ip6 flowlabel`.
            let top = PacketField.allCases.first { $0.row.nftBits != nil && $0.row.name == typeof }
                .map { Field($0).encode(UInt64(clamping: $0.row.maxValue)) }
            func v(_ b: [UInt8]) -> String {
                if key == .ifname { return ifnameText(b) }
                let b = top.map { t in b.allSatisfy { $0 == 0xff } ? t : b } ?? b
                return decimal ? String(beValue(b)) : hexText(b)
            }
            let items = set.elements.map { e in (e.keyEnd.map { v(e.key) + "-" + v($0) } ?? v(e.key)) + elementSuffix(e, in: set) }
            out += "\t\telements = { " + items.joined(separator: ", ") + " }\n"
        }
        out += "\t}\n"
        return out
    }

    /// A concatenated set or an object map (the merge pass's sets): named key types only, each
    /// element field printed in its type's syntax, ranges as `a-b`.
    static func renderTypedSet(_ set: NftSet, typeof: String? = nil) -> String {
        let objects = set.flags.contains(.object)
        let verdicts = set.flags.contains(.map) && set.dataType?.id == NftDataType.verdict.id
        var out = "\t\(objects || verdicts ? "map" : "set") \(set.name) {\n"
        // A key with plain-integer parts is declared by the expressions it is read from.
        out += typeof.map { "\t\ttypeof \($0)" } ?? "\t\ttype \(set.keyFields.map(\.name).joined(separator: " . "))"
        if objects { out += " : \(set.objectType == .counter ? "counter" : set.objectType == .quota ? "quota" : "limit")" }
        if verdicts { out += " : verdict" }
        out += "\n"
        if set.flags.contains(.interval) { out += "\t\tflags interval\n" }
        if set.elementCounters { out += "\t\tcounter\n" }
        if !set.elements.isEmpty {
            let concat = set.keyFields.count > 1
            func fields(_ b: [UInt8]) -> [[UInt8]] {
                var at = 0
                return set.keyFields.map { f in
                    let w = Int(f.length)
                    defer { at += concat ? (w + 3) / 4 * 4 : w }
                    return Array(b[at..<min(b.count, at + w)])
                }
            }
            func text(_ f: NftDataType, _ b: [UInt8]) -> String {
                switch f.name {
                case "ipv4_addr": IPAddress(family: .ipv4, bytes: b).description
                case "ipv6_addr": IPAddress(family: .ipv6, bytes: b).description
                case "ifname": ifnameText(b)
                // An integer wider than 64 bits (an IPv6 offset prefix's octets) in hex.
                default: b.count > 8 ? hexText(b) : String(beValue(b))
                }
            }
            let items = set.elements.map { e in
                let lo = fields(e.key), hi = e.keyEnd.map(fields) ?? lo
                var s = zip(set.keyFields, zip(lo, hi)).map { f, v in
                    v.0 == v.1 ? text(f, v.0) : text(f, v.0) + "-" + text(f, v.1)
                }.joined(separator: " . ")
                s += elementSuffix(e, in: set)
                if objects, let o = e.objectName { s += " : \"\(o)\"" }
                if verdicts, let v = e.verdict { s += " : " + verdictText(v) }
                return s
            }
            out += "\t\telements = { " + items.joined(separator: ", ") + " }\n"
        }
        out += "\t}\n"
        return out
    }

    static func setUsage(_ exprs: [NftExpression], into usage: inout [String: String]) {
        var d = Decompiler(exprs: exprs)
        d.recordUsage = true
        _ = try? d.run()
        for (k, v) in d.usage where usage[k] == nil { usage[k] = v }
    }
}

/// A verdict in nft syntax.
func verdictText(_ v: NftVerdict) -> String {
    switch v {
    case .accept: "accept"
    case .drop: "drop"
    case .continue: "continue"
    case .return: "return"
    case .jump(let c): "jump \(c)"
    case .goto(let c): "goto \(c)"
    }
}

/// An interface name as nft writes it: the bytes before the first zero, quoted.
func ifnameText(_ b: [UInt8]) -> String {
    "\"" + String(decoding: b.prefix { $0 != 0 }, as: UTF8.self) + "\""
}

/// Big-endian integer of up to 8 bytes.
func beValue(_ b: some Collection<UInt8>) -> UInt64 { b.reduce(0) { $0 << 8 | UInt64($1) } }

/// `0x...` of a big-endian byte string of any length, without leading zeros.
func hexText(_ b: [UInt8]) -> String {
    var s = hexString(b)
    while s.count > 1 && s.first == "0" { s.removeFirst() }
    return "0x" + s
}

/// Shifts a big-endian byte string right by `n` bits (n < 8 per step).
func shiftRight(_ b: [UInt8], _ n: Int) -> [UInt8] {
    var out = b
    var n = n
    while n > 0 {
        let s = min(n, 7)
        var carry: UInt8 = 0
        for i in out.indices {
            let x = out[i]
            out[i] = (x >> UInt8(s)) | carry
            carry = x << UInt8(8 - s)
        }
        n -= s
    }
    return out
}

struct Decompiler {
    let exprs: [NftExpression]
    var i = 0
    var out = [String]()
    var nfproto: UInt8?
    var l4proto: UInt8?
    var recordUsage = false
    var usage = [String: String]()
    /// Object maps' object types (the printer knows them from the table; read alone, `limit`).
    var objectTypes = [String: NftObjectType]()

    init(exprs: [NftExpression]) { self.exprs = exprs }

    enum Format { case decimal, hex, nfproto, ipv4, ipv6, ifname }

    /// A recognised field: its nft name, the mask part printed after it (`& 0x12`), the value
    /// format and the shift that turns register bytes into field values.
    struct FieldText {
        var name: String
        var maskText: String = ""
        var format: Format = .decimal
        var shift = 0
        var prefix: Int? = nil
        /// Split of a merged load into its fields (name, byte length).
        var split: [(String, Int)]? = nil
    }

    func fail(_ r: String) -> NftDecodeError { NftDecodeError(index: i, reason: r) }

    mutating func run() throws(NftDecodeError) -> [String] {
        while i < exprs.count {
            let e = exprs[i]
            switch e {
            case .meta(let k, _): try relation(.meta(k), mask: takeMask())
            case .ct(.state, _):
                // nft's `ct state a,b`: the state bits masked, compared with 0.
                guard i + 2 < exprs.count, case .bitwise(_, _, 4, let mask, let xor) = exprs[i + 1], xor.allSatisfy({ $0 == 0 }),
                      case .cmp(.neq, _, let zero) = exprs[i + 2], zero == [0, 0, 0, 0] else { throw fail("ct state without its mask test") }
                let bits = mask.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                let names: [(UInt32, String)] = [(NftCtState.invalid, "invalid"), (NftCtState.established, "established"),
                                                 (NftCtState.related, "related"), (NftCtState.new, "new"), (NftCtState.untracked, "untracked")]
                guard bits != 0, bits & ~names.reduce(0, { $0 | $1.0 }) == 0 else { throw fail("ct state bits 0x\(String(bits, radix: 16))") }
                out.append("ct state " + names.filter { bits & $0.0 != 0 }.map(\.1).joined(separator: ","))
                i += 3
            case .exthdr(let x, _): try relation(.exthdr(x), mask: takeMask())
            case .payload where concatLoads() > 1:
                try concatenation()
                continue
            case .payload(let b, let o, let l, _):
                if i + 2 < exprs.count, case .bitwise(_, _, _, let m, let x) = exprs[i + 1],
                   case .payloadSet(let b2, let o2, let l2, _, let ct, _) = exprs[i + 2], b2 == b, o2 == o, l2 == l {
                    try dscpSet(b, o, l, mask: m, xor: x, checksum: ct)
                    i += 3
                    continue
                }
                try relation(.payload(b, offset: o, length: l), mask: takeMask())
            case .counter(let p, let b):
                out.append(p == 0 && b == 0 ? "counter" : "counter packets \(p) bytes \(b)"); i += 1
            case .log(let g, let p):
                out.append((p.map { "log prefix \"\($0)\" " } ?? "log ") + "group \(g)"); i += 1
            case .objref(let t, let n):
                let kind = t == .limit ? "limit" : t == .counter ? "counter" : "quota"
                out.append("\(kind) name \"\(n)\""); i += 1
            case .limit(let l): out.append("limit " + NftPrinter.limitText(l)); i += 1
            case .immediateVerdict(let v):
                out.append(verdictText(v))
                i += 1
            case .immediateData(_, let data):
                guard i + 1 < exprs.count, case .metaSet(.mark, _) = exprs[i + 1], data.count == 4 else {
                    throw fail("immediate data not followed by meta mark set")
                }
                let v = UInt32(data[0]) | UInt32(data[1]) << 8 | UInt32(data[2]) << 16 | UInt32(data[3]) << 24
                out.append("meta mark set 0x" + String(v, radix: 16)); i += 2
            case .unknown(let name):
                throw fail("kernel expression \(name) has no IR form")
            default:
                throw fail("no nft text for \(e)")
            }
        }
        return out
    }

    /// How many loads from `i` on feed one concatenated lookup; 0 when they do not.
    func concatLoads() -> Int {
        exprs[i..<(i + concatLength())].reduce(0) { n, e in if case .bitwise = e { n } else { n + 1 } }
    }

    /// How many expressions from `i` on feed one concatenated lookup (loads straight into
    /// consecutive registers, each maybe masked, ended by a lookup or object map); 0 when they do not.
    func concatLength() -> Int {
        var j = i
        while j < exprs.count {
            switch exprs[j] {
            case .payload, .meta: j += 1
            case .bitwise where j > i: j += 1
            case .lookup, .objrefMap: return j - i
            default: return 0
            }
        }
        return 0
    }

    /// `f1 . f2 @set`, or for an object map `limit name f1 . f2 map @set`.
    mutating func concatenation() throws(NftDecodeError) {
        let n = concatLength()
        var names = [String]()
        var typeofNames = [String]()
        let end = i + n
        while i < end {
            let load: PacketField.Load
            switch exprs[i] {
            case .payload(let b, let o, let l, _): load = .payload(b, offset: o, length: l)
            case .meta(let m, _): load = .meta(m)
            default: throw fail("not a load")
            }
            // A masked address (the merge pass's prefix keys) prints as `ip saddr & 255.255.255.0`;
            // a field a set's `typeof` names raw prints raw (`@th,104,8 & 0x12`).
            let mask = try takeMask()
            let f = try keyPart(load, mask: mask)
            names.append(f.name + f.maskText)
            typeofNames.append(f.name)
            i += 1
        }
        var key = names.joined(separator: " . ")
        // In `limit name KEY map @m` nft's grammar takes no `&` in a part: a masked part goes in
        // parentheses there (`(ip saddr & 255.255.255.0) . ip daddr`), the same expressions.
        if case .objrefMap = exprs[i] { key = names.map { $0.contains(" & ") ? "(\($0))" : $0 }.joined(separator: " . ") }
        if recordUsage, case .lookup(let set, _, _) = exprs[i] { usage[set] = typeofNames.joined(separator: " . ") }
        if recordUsage, case .objrefMap(let set, _) = exprs[i] { usage[set] = typeofNames.joined(separator: " . ") }
        switch exprs[i] {
        case .lookup(let set, _, let invert): out.append("\(key) \(invert ? "!= " : "")@\(set)")
        case .objrefMap(let set, _): out.append("\(objectKind(set)) name \(key) map @\(set)")
        default: throw fail("concatenation without a lookup")
        }
        i += 1
    }

    /// One part of a concatenated key: the field's text, raw when a set's `typeof` names the
    /// field raw (`PacketField.Row.typeof`).
    func keyPart(_ load: PacketField.Load, mask: [UInt8]?) throws(NftDecodeError) -> FieldText {
        let family: AddressFamily? = nfproto == 2 ? .ipv4 : nfproto == 10 ? .ipv6 : nil
        if case .field(let p, 0)? = PacketField.reading(load, mask: mask, family: family, l4proto: l4proto),
           case .raw? = p.row.typeof, case .payload(let b, let o, let l) = load {
            return raw(b, o, l, mask: mask, forLookup: true)
        }
        return try field(load, mask: mask, forLookup: true)
    }

    func objectKind(_ set: String) -> String {
        switch objectTypes[set] { case .counter: "counter"; case .quota: "quota"; default: "limit" }
    }

    /// The mask of a `bitwise` right after the load at `i` (consumed), or nil.
    mutating func takeMask() throws(NftDecodeError) -> [UInt8]? {
        guard i + 1 < exprs.count, case .bitwise(_, _, _, let m, let x) = exprs[i + 1] else { return nil }
        guard x.allSatisfy({ $0 == 0 }) else { throw NftDecodeError(index: i + 1, reason: "bitwise with a non-zero xor") }
        i += 1
        return m
    }

    mutating func dscpSet(_ b: NftPayloadBase, _ o: UInt32, _ l: UInt32, mask: [UInt8], xor: [UInt8], checksum: UInt32) throws(NftDecodeError) {
        guard b == .network, o == 0, l == 2, xor.count == 2 else { throw fail("payload write other than DSCP") }
        if nfproto == 2, mask == [0xff, 0x03], checksum == 1 {
            out.append("ip dscp set \(xor[1] >> 2)")
        } else if nfproto == 10, mask == [0xf0, 0x3f] {
            out.append("ip6 dscp set \((UInt16(xor[0]) << 8 | UInt16(xor[1])) >> 6)")
        } else { throw fail("payload write other than DSCP") }
    }

    /// A load (and mask) followed by its relation: cmp, a gte/lte pair, range or lookup.
    mutating func relation(_ load: PacketField.Load, mask: [UInt8]?) throws(NftDecodeError) {
        i += 1
        guard i < exprs.count else { throw fail("load without a relation") }
        // An object map's key is a lookup key too: a masked prefix prints with its mask.
        let isLookup: Bool = switch exprs[i] { case .lookup, .objrefMap: true; default: false }
        let f = try field(load, mask: mask, forLookup: isLookup)
        func value(_ d: [UInt8]) -> String { format(d, f) }
        switch exprs[i] {
        case .cmp(let op, _, let data):
            if case .meta(.nfproto) = load, op == .eq, let v = data.first { nfproto = v }
            if case .meta(.l4proto) = load, op == .eq, let v = data.first { l4proto = v }
            if case .exthdr(let x) = load, x.presence {
                guard op == .eq, let v = data.first else { throw fail("exthdr presence with \(op)") }
                out.append("exthdr \(x.type == 44 ? "frag" : String(x.type)) \(v == 0 ? "missing" : "exists")")
                i += 1; return
            }
            if op == .gte, i + 1 < exprs.count, case .cmp(.lte, _, let hi) = exprs[i + 1] {
                out.append("\(f.name)\(f.maskText) \(value(data))-\(value(hi))"); i += 2; return
            }
            if let split = f.split, op == .eq {
                var at = 0
                for (name, n) in split {
                    out.append("\(name) == \(beValue(data[at..<(at + n)]))"); at += n
                }
                i += 1; return
            }
            let sym: String = switch op { case .eq: "=="; case .neq: "!="; case .lt: "<"; case .lte: "<="; case .gt: ">"; case .gte: ">=" }
            out.append("\(f.name)\(f.maskText) \(sym) \(value(data))")
        case .range(let op, _, let from, let to):
            out.append("\(f.name)\(f.maskText) \(op == .neq ? "!= " : "")\(value(from))-\(value(to))")
        case .lookup(let set, _, let invert):
            if recordUsage { usage[set] = f.name }
            out.append("\(f.name)\(f.maskText) \(invert ? "!= " : "")@\(set)")
        case .objrefMap(let set, _):
            out.append("\(objectKind(set)) name \(f.maskText.isEmpty ? f.name : "(\(f.name)\(f.maskText))") map @\(set)")
        case .mapLookup(let set, _, .verdict):
            out.append("\(f.name)\(f.maskText) vmap @\(set)")
        default:
            throw fail("load not followed by a relation")
        }
        i += 1
    }

    func format(_ d: [UInt8], _ f: FieldText) -> String {
        let v = f.shift > 0 ? shiftRight(d, f.shift) : d
        switch f.format {
        case .nfproto: return v.first == 2 ? "ipv4" : v.first == 10 ? "ipv6" : String(beValue(v))
        case .ipv4, .ipv6:
            let w = f.format == .ipv4 ? 4 : 16
            let a = IPAddress(family: f.format == .ipv4 ? .ipv4 : .ipv6, bytes: v + [UInt8](repeating: 0, count: max(0, w - v.count)))
            if let p = f.prefix, p < w * 8 { return "\(a)/\(p)" }
            return "\(a)"
        case .hex: return hexText(v)
        case .decimal: return v.count <= 8 ? String(beValue(v)) : hexText(v)
        case .ifname: return ifnameText(v)
        }
    }

    /// Recognises the field of a load (and mask), in the context of the nfproto and l4proto
    /// matched before it (`PacketField.reading`); any other payload prints raw (`@nh,bit,len`).
    func field(_ load: PacketField.Load, mask: [UInt8]?, forLookup: Bool) throws(NftDecodeError) -> FieldText {
        if let f = known(load, mask: mask, forLookup: forLookup) { return f }
        switch load {
        case .meta(let k):
            switch k {
            case .nfproto: return FieldText(name: "meta nfproto", format: .nfproto)
            case .mark: return FieldText(name: "meta mark", format: .hex)
            case .length: return FieldText(name: "meta length")
            default: throw fail("meta key \(k) not printed")
            }
        case .exthdr(let x):
            guard x.type == 44 else { throw fail("exthdr type \(x.type)") }
            throw fail("fragment header field at \(x.offset)")
        case .payload(let b, let o, let l):
            return raw(b, o, l, mask: mask, forLookup: forLookup)
        }
    }

    /// The text of a packet field of the field table, or nil.
    func known(_ load: PacketField.Load, mask: [UInt8]?, forLookup: Bool) -> FieldText? {
        let family: AddressFamily? = nfproto == 2 ? .ipv4 : nfproto == 10 ? .ipv6 : nil
        switch PacketField.reading(load, mask: mask, family: family, l4proto: l4proto) {
        case nil:
            return nil
        case .fields(let parts)?:
            // nft's merge of adjacent equalities: printed raw, an equality split into its fields.
            guard case .payload(let b, let o, let l) = load else { return nil }
            var f = raw(b, o, l, mask: mask, forLookup: forLookup)
            f.split = parts.map { ($0.row.name!, $0.row.width) }
            return f
        case .field(let p, let start)?:
            let r = p.row
            guard let name = r.name, !(forLookup && r.rawInLookups) else { return nil }
            if r.partial {
                // An address: its first octets (a prefix nft trims the load to), or all of it
                // under a prefix mask.
                guard start == 0, case .payload(_, _, let l) = load else { return nil }
                let fmt: Format = r.family == .ipv4 ? .ipv4 : .ipv6
                guard let m = mask else { return FieldText(name: name, format: fmt, prefix: Int(l) * 8) }
                guard l == r.width, let prefix = prefixLength(m) else { return nil }
                // A set of masked addresses (the merge pass's prefix keys): `ip saddr & 255.255.255.0 @s`.
                if forLookup {
                    return FieldText(name: name, maskText: " & \(IPAddress(family: r.family ?? .ipv4, bytes: m))", format: fmt)
                }
                return FieldText(name: name, format: fmt, prefix: prefix)
            }
            if r.mask == .chosen {
                return FieldText(name: name, maskText: mask.map { " & " + hexText($0) } ?? "", format: .hex)
            }
            if r.keyType == .ifname { return FieldText(name: name, format: .ifname) }
            return FieldText(name: name, shift: r.shift)
        }
    }

    func raw(_ b: NftPayloadBase, _ o: UInt32, _ l: UInt32, mask: [UInt8]?, forLookup: Bool) -> FieldText {
        let bn = switch b { case .link: "ll"; case .network: "nh"; case .transport: "th"; case .inner: "ih" }
        let bit = Int(o) * 8, bits = Int(l) * 8
        guard let m = mask else { return FieldText(name: "@\(bn),\(bit),\(bits)", format: .hex) }
        return FieldText(name: "@\(bn),\(bit),\(bits)", maskText: " & " + hexText(m), format: .hex)
    }
}

/// The prefix length of a mask of leading ones, or nil.
func prefixLength(_ m: [UInt8]) -> Int? {
    guard let (lead, count) = contiguous(m), lead == 0 else { return nil }
    return count
}

/// (leading zero bits, ones) when the mask's set bits are one contiguous run.
func contiguous(_ m: [UInt8]) -> (Int, Int)? {
    var bits = [Bool]()
    for b in m { for k in (0..<8).reversed() { bits.append(b >> UInt8(k) & 1 == 1) } }
    guard let first = bits.firstIndex(of: true), let last = bits.lastIndex(of: true) else { return nil }
    guard bits[first...last].allSatisfy({ $0 }) else { return nil }
    return (first, last - first + 1)
}
