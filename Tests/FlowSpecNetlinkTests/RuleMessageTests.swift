import CNftnl
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecTestSupport
@testable import FlowSpecNetlink

/// The NEWRULE messages `RuleMessage` writes equal libnftnl's, byte for byte (attribute padding
/// aside: libmnl 1.0.4 leaves it as it finds it).
enum RuleMessageCheck {
    /// Both encodings of every rule of `table` (appended, and inserted before a handle with an
    /// echo); a description of the first difference, or nil.
    static func difference(in table: NftTable) throws -> String? {
        let cTable = TableEncoder.cName(table.name)
        for (c, chain) in table.chains.enumerated() {
            for (i, rule) in chain.rules.enumerated() {
                for before in [nil, 77] as [UInt64?] {
                    let direct = BatchBuffer(firstSequence: 9, capacity: 1 << 16, expectedMessages: 1)
                    let reference = BatchBuffer(firstSequence: 9, capacity: 1 << 16, expectedMessages: 1)
                    try TableEncoder.rule(rule, table: cTable, family: table.family.rawValue, chain: chain.name,
                                          cChain: TableEncoder.cName(chain.name), chainIndex: c, index: i,
                                          batch: direct, before: before, echo: before != nil)
                    try TableEncoder.libnftnlRule(rule, table: table.name, family: table.family.rawValue, chain: chain.name,
                                                  chainIndex: c, index: i, batch: reference, before: before, echo: before != nil)
                    let a = withoutPadding(direct), b = withoutPadding(reference)
                    if a != b {
                        let at = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
                        return "rule \(i) of \(chain.name) (\(rule.expressions)), before \(String(describing: before)): " +
                            "\(a.count) vs \(b.count) bytes, first difference at byte \(at)"
                    }
                }
            }
        }
        return nil
    }

    /// The batch's bytes with every attribute's padding zeroed (nested attributes included).
    static func withoutPadding(_ batch: BatchBuffer) -> [UInt8] {
        var bytes = Array(UnsafeRawBufferPointer(start: batch.base, count: batch.length))
        func walk(_ start: Int, _ end: Int) {
            var o = start
            while o + 4 <= end {
                let length = Int(bytes[o]) | Int(bytes[o + 1]) << 8
                let type = Int(bytes[o + 2]) | Int(bytes[o + 3]) << 8
                guard length >= 4, o + length <= end else { return }
                if type & 0x8000 != 0 { walk(o + 4, o + length) }
                let aligned = (length + 3) & ~3
                for k in (o + length)..<min(o + aligned, end) { bytes[k] = 0 }
                o += aligned
            }
        }
        walk(20, bytes.count)   // after nlmsghdr and nfgenmsg
        return bytes
    }
}

@Suite("NEWRULE messages written directly (no kernel)")
struct RuleMessageTests {
    @Test func everyExpressionKindEncodesLikeLibnftnl() throws {
        let table = everythingTable()
        let used = Set(table.chains.flatMap(\.rules).flatMap(\.expressions).map(Self.form))
        #expect(used == Self.everyForm, "the table lacks \(Self.everyForm.subtracting(used).sorted())")
        #expect(try RuleMessageCheck.difference(in: table) == nil)
    }

    /// Every form an expression is encoded in, so that the check above covers each encoder (and
    /// each branch of one: with and without a prefix, a chain, an inversion).
    static let everyForm: Set<String> = [
        "meta", "meta set", "ct", "payload", "payload set", "exthdr", "cmp", "bitwise", "range",
        "lookup", "lookup inverted", "map lookup", "objref", "objref map", "counter", "limit",
        "log", "log with prefix", "immediate verdict", "immediate verdict with chain", "immediate data",
    ]

    /// Exhaustive over the IR: a new expression case does not compile here until it is named.
    static func form(_ e: NftExpression) -> String {
        switch e {
        case .meta: "meta"
        case .metaSet: "meta set"
        case .ct: "ct"
        case .payload: "payload"
        case .payloadSet: "payload set"
        case .exthdr: "exthdr"
        case .cmp: "cmp"
        case .bitwise: "bitwise"
        case .range: "range"
        case .lookup(_, _, let invert): invert ? "lookup inverted" : "lookup"
        case .mapLookup: "map lookup"
        case .objref: "objref"
        case .objrefMap: "objref map"
        case .counter: "counter"
        case .limit: "limit"
        case .log(_, let prefix): prefix == nil ? "log" : "log with prefix"
        case .immediateVerdict(let verdict): verdict.chain == nil ? "immediate verdict" : "immediate verdict with chain"
        case .immediateData: "immediate data"
        case .unknown: "unknown"
        }
    }

    @Test func anExpressionReadFromTheKernelOnlyIsNotEncoded() throws {
        let batch = BatchBuffer(firstSequence: 1, capacity: 1 << 16, expectedMessages: 1)
        #expect(throws: NetlinkError.self) {
            try TableEncoder.rule(NftRule(expressions: [.unknown(name: "ct")]), table: TableEncoder.cName("flowspec"),
                                  family: 1, chain: "filter", cChain: TableEncoder.cName("filter"), chainIndex: 0,
                                  index: 0, batch: batch)
        }
    }

    @Test func compiledRoutesEncodeLikeLibnftnl() throws {
        let routes = (RouteGenerator().routes(count: 200) + RouteGenerator(family: .ipv6).routes(count: 200)).ordered(.rfc)
        for merge in [false, true] {
            var options = CompileOptions(merge: merge)
            options.logGroup = 3
            let table = ContentSetNames.apply(compile(routes, options: options).table)
            #expect(try RuleMessageCheck.difference(in: table) == nil)
        }
    }

    /// The random routes of the compiler's oracle tests: every component, action and operator.
    @Test func randomRoutesEncodeLikeLibnftnl() throws {
        var r = SplitMix(state: 0x5eed_4e17)
        let routes = (0..<600).map { _ in RandomRoutes.route(&r) }.ordered(.rfc)
        for merge in [false, true] {
            let options = CompileOptions(redirectMarks: [RandomRoutes.redirectTarget: 0x64], merge: merge)
            let table = ContentSetNames.apply(compile(routes, options: options).table)
            #expect(table.ruleCount > 100)
            #expect(try RuleMessageCheck.difference(in: table) == nil)
        }
    }

    @Test func aMessageThatDoesNotFitItsRoomFailsCleanly() throws {
        let batch = BatchBuffer(firstSequence: 1, capacity: 1 << 16, expectedMessages: 1)
        let nlh = batch.begin(NFT_MSG_NEWRULE, family: 1, flags: 0, origin: .batch, estimate: 64)
        var message = RuleMessage(nlh, room: 64)
        try message.write(NftRule(expressions: [.counter(packets: 0, bytes: 0), .immediateVerdict(.accept)],
                                  comment: String(repeating: "x", count: 100)),
                          table: TableEncoder.cName("flowspec"), chain: TableEncoder.cName("filter"), before: nil)
        #expect(!message.fits)
        #expect(Int(nlh.pointee.nlmsg_len) <= 64)
    }
}
