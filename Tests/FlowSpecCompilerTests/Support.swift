import Foundation
import FlowSpec
import FlowSpecFormats
import FlowSpecTestSupport
import Testing
@testable import FlowSpecCompiler

// MARK: nft --debug=netlink syntax of the IR

/// Data as nft's debug output prints it: 4-byte words, each as a little-endian u32 (`0x…` in
/// expressions; set elements print them without the prefix).
func debugWords(_ d: [UInt8], prefix: String = "0x") -> String {
    var words = [String]()
    var i = 0
    while i < d.count {
        var v: UInt32 = 0
        for k in 0..<4 where i + k < d.count { v |= UInt32(d[i + k]) << UInt32(8 * k) }
        words.append(prefix + String(format: "%08x", v))
        i += 4
    }
    return words.joined(separator: " ")
}

func regName(_ r: NftRegister) -> String { "reg \(r.rawValue)" }

/// One expression in the syntax of `nft --debug=netlink` (libnftnl's snprintf).
func debugLine(_ e: NftExpression) -> String {
    func base(_ b: NftPayloadBase) -> String {
        switch b { case .link: "link layer"; case .network: "network header"; case .transport: "transport header"; case .inner: "inner header" }
    }
    func metaKey(_ k: NftMetaKey) -> String {
        switch k { case .length: "len"; case .nfproto: "nfproto"; case .l4proto: "l4proto"; case .mark: "mark"
        case .iif: "iif"; case .iifname: "iifname"; case .oifname: "oifname" }
    }
    let s: String
    switch e {
    case .meta(let k, let r): s = "meta load \(metaKey(k)) => \(regName(r))"
    case .metaSet(let k, let r): s = "meta set \(metaKey(k)) with \(regName(r))"
    case .payload(let b, let o, let l, let r): s = "payload load \(l)b @ \(base(b)) + \(o) => \(regName(r))"
    case .payloadSet(let b, let o, let l, let r, let ct, let co):
        s = "payload write \(regName(r)) => \(l)b @ \(base(b)) + \(o) csum_type \(ct) csum_off \(co) csum_flags 0x0"
    case .exthdr(let x, let r):
        s = "exthdr load ipv6 \(x.length)b @ \(x.type) + \(x.offset)\(x.presence ? " present" : "") => \(regName(r))"
    case .cmp(let op, let r, let d):
        let o = switch op { case .eq: "eq"; case .neq: "neq"; case .lt: "lt"; case .lte: "lte"; case .gt: "gt"; case .gte: "gte" }
        s = "cmp \(o) \(regName(r)) \(debugWords(d))"
    case .bitwise(let sr, let dr, _, let m, let x):
        s = "bitwise \(regName(dr)) = ( \(regName(sr)) & \(debugWords(m)) ) ^ \(debugWords(x))"
    case .range(let op, let r, let f, let t):
        s = "range \(op == .eq ? "eq" : "neq") \(regName(r)) \(debugWords(f)) \(debugWords(t))"
    case .lookup(let set, let r, let inv): s = "lookup \(regName(r)) set \(set)\(inv ? " 0x1" : "")"
    case .counter(let p, let b): s = "counter pkts \(p) bytes \(b)"
    case .log(let g, _): s = "log group \(g) snaplen 0 qthreshold 0"
    case .objref(let t, let n): s = "objref type \(t.rawValue) name \(n)"
    case .objrefMap(let set, let r): s = "objref sreg \(r.rawValue) set \(set)"
    case .immediateVerdict(let v):
        let n = switch v { case .accept: "accept"; case .drop: "drop"; case .continue: "continue"; case .return: "return"
        case .jump(let c): "jump -> \(c)"; case .goto(let c): "goto -> \(c)" }
        s = "immediate reg 0 \(n)"
    case .immediateData(let r, let d): s = "immediate \(regName(r)) \(debugWords(d))"
    default: s = "unsupported \(e)"
    }
    return "[ \(s) ]"
}

// MARK: running nft in a private network namespace

enum NFT {
    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
    }

    /// Runs `unshare -n nft <args>` (a fresh network namespace, so the host ruleset is never
    /// touched) and returns (status, stdout + stderr).
    static func run(_ args: [String], input text: String) throws -> (Int32, String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fsc-\(UUID().uuidString).nft")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try runProcess("/usr/bin/unshare", ["-n", "/usr/sbin/nft"] + args + ["-f", file.path])
        return (r.status, r.out + r.err)
    }
}

/// What `nft --debug=netlink -f` sent: rules (expression lines) in order, set elements, limits.
/// (libnftnl prints an element's key, flags and userdata, not its expressions: element counters
/// are checked by the netlink oracle, which compares `nft -j list` output.)
struct NftDebugDump {
    var rules: [[String]] = []
    /// set name -> elements as `key/flag`, plus ` userdata …` when the element has userdata
    /// (its comment), sorted.
    var elements: [String: [String]] = [:]
    var limits: [String] = []

    init(_ text: String, table: String, chain: String) {
        var current: [String]? = nil
        var lastSet: String? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "inet \(table) \(chain)" {
                if let c = current { rules.append(c) }
                current = []
                continue
            }
            if line.hasPrefix("  [ "), current != nil {
                current!.append(String(line.dropFirst(2)))
                continue
            }
            if line.hasPrefix("table (null) name (null) use 0 [ limit") {
                limits.append(String(line.dropFirst("table (null) name (null) use 0 ".count)))
                continue
            }
            let parts = line.split(separator: " ")
            if parts.count == 3, parts[1] == Substring(table), Int(parts[2]) != nil { lastSet = String(parts[0]); continue }
            if line.hasPrefix("\telement"), let s = lastSet {
                var items = [String]()
                for chunk in line.split(separator: "\t") where chunk.hasPrefix("element ") {
                    let body = chunk.dropFirst("element ".count)
                    let halves = body.components(separatedBy: ":")
                    let key = halves[0].trimmingCharacters(in: .whitespaces)
                    let flag = halves.count > 1 ? halves[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? "0" : "0"
                    var comment = ""
                    if let open = body.range(of: "userdata = { "), let close = body.range(of: " }", options: .backwards),
                       let text = Self.elementComment(String(body[open.upperBound..<close.lowerBound])) {
                        comment = " comment " + text
                    }
                    items.append(key + "/" + flag + comment)
                }
                elements[s, default: []] += items
            }
        }
        if let c = current { rules.append(c) }
        for k in elements.keys { elements[k]!.sort() }
    }

    /// The NFTNL_UDATA_SET_ELEM_COMMENT TLV (type 0) of an element's userdata as libnftnl prints
    /// it (`isprint` bytes as themselves, others as `\xNN`). Other TLVs are left out: nft also
    /// writes NFTNL_UDATA_SET_ELEM_FLAGS for an interval open at the top, which the IR does not model.
    static func elementComment(_ printed: String) -> String? {
        var bytes = [UInt8]()
        var u = Array(printed.utf8)[...]
        while let c = u.first {
            if c == UInt8(ascii: "\\"), u.count >= 4, u.dropFirst().first == UInt8(ascii: "x"),
               let v = UInt8(String(decoding: u.dropFirst(2).prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v); u = u.dropFirst(4)
            } else {
                bytes.append(c); u = u.dropFirst()
            }
        }
        var i = 0
        while i + 2 <= bytes.count {
            let type = bytes[i], length = Int(bytes[i + 1])
            guard i + 2 + length <= bytes.count else { return nil }
            if type == 0 { return String(decoding: bytes[(i + 2)..<(i + 2 + length)].prefix { $0 != 0 }, as: UTF8.self) }
            i += 2 + length
        }
        return nil
    }
}

/// The elements nft 1.0.6 sends for a set, in its debug syntax: plain keys, or for interval
/// sets a start element per interval and an interval-end element one past its end (omitted at
/// the top of the domain), plus a leading end element at 0 when the first interval starts above 0.
/// An element's comment is in its userdata, on the element (never on an interval-end element).
func expectedDebugElements(_ set: NftSet) -> [String] {
    func userdata(_ e: NftSetElement) -> String { e.comment.map { " comment " + $0 } ?? "" }
    func word(_ b: [UInt8]) -> String { debugWords(b, prefix: "") }
    func inc(_ b: [UInt8]) -> [UInt8]? {
        var out = b
        for i in out.indices.reversed() { if out[i] == 0xff { out[i] = 0 } else { out[i] += 1; break } }
        // The top of the field's domain: all ones, or 20 bits for the flow label (3-byte keys).
        let top: [UInt8] = b.count == 3 ? [0x0f, 0xff, 0xff] : [UInt8](repeating: 0xff, count: b.count)
        return b == top || b.allSatisfy({ $0 == 0xff }) ? nil : out
    }
    var out = [String]()
    if set.flags.contains(.interval) && set.keyFields.count > 1 {
        // A concatenated interval element is one line: `element K  - KEYEND  : 0`.
        return set.elements.map { word($0.key) + "  - " + word($0.keyEnd ?? $0.key) + "/0" + userdata($0) }.sorted()
    }
    if !set.flags.contains(.interval) {
        return set.elements.map { word($0.key) + "/0" + userdata($0) }.sorted()
    }
    if let first = set.elements.first, first.key.contains(where: { $0 != 0 }) {
        out.append(word([UInt8](repeating: 0, count: first.key.count)) + "/1")
    }
    for e in set.elements {
        out.append(word(e.key) + "/0" + userdata(e))
        if let end = inc(e.keyEnd ?? e.key) { out.append(word(end) + "/1") }
    }
    return out.sorted()
}

func expectedDebugLimit(_ l: NftLimit) -> String {
    "[ limit rate \(l.rate) unit \(l.unit.rawValue) burst \(l.burst) type \(l.kind.rawValue) flags \(l.over ? 1 : 0) ]"
}

// MARK: the captured fixture routes (BIRD -> FRR UPDATEs, in this repository)

enum FixtureRoutes {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../FlowSpecFormatsTests/Fixtures/pcap/flowspec-updates.jsonl").standardized

    /// The 55 routes of the default set, as BIRD sent them (41 IPv4 + 14 IPv6).
    static func load() throws -> [FlowRoute] {
        let text = try String(contentsOf: file, encoding: .utf8)
        var hex = [String]()
        for line in text.split(separator: "\n") {
            guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  obj["type"] as? Int == 2, let h = obj["hex"] as? String else { continue }
            hex.append(h)
        }
        let result = try BGPHexReader.read(hex.joined(separator: "\n"))
        #expect(result.errors.isEmpty)
        let routes = result.currentRoutes().map(\.route)
        #expect(routes.count == 55, "the fixture holds the 55 routes of the default set")
        return routes
    }
}

// MARK: redirect marks

/// The marks a table's rules set: `immediate reg1 <mark>` then `meta mark set reg1`.
func marks(_ r: CompileResult) -> [UInt32] {
    r.table.chains[0].rules.flatMap { rule in
        zip(rule.expressions, rule.expressions.dropFirst()).compactMap { pair -> UInt32? in
            guard case .immediateData(_, let d) = pair.0, case .metaSet(.mark, _) = pair.1, d.count == 4 else { return nil }
            return UInt32(d[0]) | UInt32(d[1]) << 8 | UInt32(d[2]) << 16 | UInt32(d[3]) << 24
        }
    }
}
