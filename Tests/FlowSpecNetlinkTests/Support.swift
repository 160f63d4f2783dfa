import Foundation
import Testing
import FlowSpecCompiler
@testable import FlowSpecNetlink

/// Kernel tests need root and network namespaces; each runs in its own fresh namespace.
enum Kernel {
    static let available: Bool = {
        guard getuid() == 0 else { return false }
        return (try? NetworkNamespace.create()) != nil
    }()
    static let reason: Comment = "needs uid 0 and unshare(CLONE_NEWNET); skipped"
}

/// Runs `nft` inside the connection's namespace (nsenter on the namespace's fd path).
func nft(_ arguments: [String], in namespace: NetworkNamespace) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
    process.arguments = ["--net=\(namespace.path)", "nft"] + arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// The same table with every set's elements in key order (the order read-back returns).
func normalized(_ table: NftTable) -> NftTable {
    var table = table
    for i in table.sets.indices {
        table.sets[i].elements.sort { $0.key.lexicographicallyPrecedes($1.key) }
    }
    return table
}

/// A read-back table without what only the kernel knows: counter values.
func withoutCounterValues(_ t: NftTable) -> NftTable {
    var t = t
    for c in t.chains.indices {
        for r in t.chains[c].rules.indices {
            t.chains[c].rules[r].expressions = t.chains[c].rules[r].expressions.map {
                if case .counter = $0 { .counter(packets: 0, bytes: 0) } else { $0 }
            }
        }
    }
    return t
}

// Small builders for readable tables.
let ipv4: [UInt8] = [2]      // NFPROTO_IPV4
let ipv6: [UInt8] = [10]     // NFPROTO_IPV6

func ipv4Source(into reg: NftRegister = .reg1) -> NftExpression {
    .payload(base: .network, offset: 12, length: 4, dreg: reg)
}
func transportPort(destination: Bool = true, into reg: NftRegister = .reg1) -> NftExpression {
    .payload(base: .transport, offset: destination ? 2 : 0, length: 2, dreg: reg)
}
func isIPv4() -> [NftExpression] { [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: ipv4)] }

/// A rule that drops one IPv4 source address (for bulk tables).
func dropSource(_ n: Int, comment: String? = nil) -> NftRule {
    let address: [UInt8] = [198, 51, UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
    return NftRule(expressions: isIPv4() + [ipv4Source(), .cmp(op: .eq, sreg: .reg1, data: address),
                                            .immediateVerdict(.drop)], comment: comment ?? "route-\(n)")
}

func filterChain(_ name: String = "input", rules: [NftRule]) -> NftChain {
    NftChain(name: name, base: .init(hook: .input, priority: 0, policy: .accept), rules: rules)
}

/// A table that uses every expression kind, every set shape and both object kinds.
func everythingTable(name: String = "flowspec") -> NftTable {
    let limit = NftLimit(rate: 125_000, unit: .second, burst: 0, kind: .bytes, over: true)
    let sets = [
        NftSet(name: "ports", flags: [], keyFields: [.inetService],
               elements: [NftSetElement(key: [0x01, 0xbb]), NftSetElement(key: [0x00, 0x50])]),
        NftSet(name: "sources", flags: [.interval], keyFields: [.ipv4Address],
               elements: [NftSetElement(key: [192, 0, 2, 0], keyEnd: [192, 0, 2, 255]),
                          NftSetElement(key: [198, 51, 100, 7])]),
        NftSet(name: "pairs", flags: [.interval], keyFields: [.ipv4Address, .inetService],
               elements: [NftSetElement(key: [203, 0, 113, 0, 0, 80, 0, 0], keyEnd: [203, 0, 113, 255, 0, 90, 0, 0]),
                          NftSetElement(key: [192, 0, 2, 9, 0x01, 0xbb, 0, 0], keyEnd: [192, 0, 2, 9, 0x01, 0xbb, 0, 0])]),
        NftSet(name: "verdicts", flags: [.map], keyFields: [.inetService], dataType: .verdict,
               elements: [NftSetElement(key: [0, 22], verdict: .accept), NftSetElement(key: [0, 23], verdict: .drop),
                          NftSetElement(key: [0, 24], verdict: .jump("sub"))]),
        NftSet(name: "limits", flags: [.object], keyFields: [.ipv4Address], objectType: .limit,
               elements: [NftSetElement(key: [192, 0, 2, 1], objectName: "police")]),
    ]
    let input: [NftRule] = [
        NftRule(expressions: isIPv4() + [ipv4Source(),
                .bitwise(sreg: .reg1, dreg: .reg1, length: 4, mask: [255, 255, 255, 0], xor: [0, 0, 0, 0]),
                .cmp(op: .eq, sreg: .reg1, data: [192, 0, 2, 0]), .counter(packets: 0, bytes: 0),
                .immediateVerdict(.accept)], comment: "route-prefix"),
        NftRule(expressions: isIPv4() + [.meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [6]),
                transportPort(), .range(op: .eq, sreg: .reg1, from: [0, 80], to: [0, 90]),
                .lookup(set: "ports", sreg: .reg1, invert: false), .objref(type: .limit, name: "police"),
                .objref(type: .counter, name: "hits"), .log(group: 5, prefix: "flowspec "),
                .immediateVerdict(.drop)], comment: "route-ports"),
        NftRule(expressions: [transportPort(), .lookup(set: "ports", sreg: .reg1, invert: true),
                              .mapLookup(set: "verdicts", sreg: .reg1, dreg: .verdict)], comment: "route-vmap"),
        // A concatenation from NFT_REG32_00, written as .reg1: the kernel reports a 4-byte
        // register on a 16-byte boundary as the 16-byte register (nft_dump_register).
        NftRule(expressions: isIPv4() + [ipv4Source(into: .reg1), transportPort(into: .reg32(1)),
                .lookup(set: "pairs", sreg: .reg1, invert: false), .immediateVerdict(.drop)], comment: "route-concat"),
        NftRule(expressions: isIPv4() + [ipv4Source(), .lookup(set: "sources", sreg: .reg1, invert: false),
                .objrefMap(set: "limits", sreg: .reg1)], comment: "route-objmap"),
        NftRule(expressions: isIPv4() + [.immediateData(dreg: .reg1, data: [0x28]),
                .payloadSet(base: .network, offset: 1, length: 1, sreg: .reg1, checksumType: 1, checksumOffset: 10),
                .immediateData(dreg: .reg1, data: [0, 0, 0, 7]), .metaSet(key: .mark, sreg: .reg1)],
                comment: "route-mark"),
        NftRule(expressions: [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: ipv6),
                .exthdr(NftExthdr(type: 44, offset: 0, length: 1, presence: true), dreg: .reg1),
                .cmp(op: .neq, sreg: .reg1, data: [0]), .immediateVerdict(.goto("sub"))], comment: "route-fragment"),
        NftRule(expressions: [.ct(key: .state, dreg: .reg1),
                              .bitwise(sreg: .reg1, dreg: .reg1, length: 4, mask: [6, 0, 0, 0], xor: [0, 0, 0, 0]),
                              .cmp(op: .neq, sreg: .reg1, data: [0, 0, 0, 0]), .immediateVerdict(.accept)], comment: "established"),
        NftRule(expressions: [.immediateVerdict(.jump("sub"))]),
    ]
    let sub: [NftRule] = [
        NftRule(expressions: [.limit(NftLimit(rate: 10, unit: .minute, burst: 5, kind: .packets, over: false)),
                              .log(group: 2, prefix: nil), .immediateVerdict(.continue)], comment: "route-anon-limit"),
        NftRule(expressions: [.immediateVerdict(.return)]),
    ]
    return NftTable(name: name, family: .inet, sets: sets,
                    objects: [.counter(name: "hits"), .limit(name: "police", limit)],
                    chains: [filterChain(rules: input), NftChain(name: "sub", rules: sub)])
}
