import Foundation
import Testing
import FlowSpecCompiler
@testable import FlowSpecNetlink

@Suite("Netlink backend against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct KernelTests {
    @Test func everyExpressionKindReadsBackEqual() throws {
        let connection = try NftConnection.inNewNamespace()
        let table = everythingTable()
        let report = try connection.apply(table)
        #expect(report.messages > 3 + table.ruleCount)
        let installed = try #require(try connection.listTable(name: table.name, family: .inet))
        #expect(installed.table == normalized(table))
        #expect(installed.ruleHandles["input"]?.count == table.chains[0].rules.count)
        #expect(installed.counters["hits"] == CounterValue(packets: 0, bytes: 0))
        #expect(Set(installed.setHandles.keys) == Set(table.sets.map(\.name)))
    }

    @Test func nftSeesTheTableInTheSameNamespace() throws {
        let connection = try NftConnection.inNewNamespace()
        try connection.apply(everythingTable(name: "visible"))
        let json = try nft(["-j", "list", "ruleset"], in: try #require(connection.namespace))
        #expect(json.contains("\"name\": \"visible\""))
        #expect(json.contains("route-ports"))
        // The host's namespace does not see it.
        #expect(!(try hostRulesetMentions("visible")))
    }

    @Test func aSecondTableReplacesTheFirstWhole() throws {
        let connection = try NftConnection.inNewNamespace()
        try connection.apply(everythingTable())
        let second = NftTable(name: "flowspec", family: .inet,
                              sets: [NftSet(name: "other", flags: [], keyFields: [.inetService],
                                            elements: [NftSetElement(key: [0, 53])])],
                              chains: [filterChain(rules: [dropSource(1), dropSource(2)])])
        try connection.apply(second)
        #expect(try connection.listTable(name: "flowspec", family: .inet)?.table == second)
    }

    @Test func aFailingRuleLeavesTheOldTableAndNamesTheRoute() throws {
        let connection = try NftConnection.inNewNamespace()
        let old = everythingTable()
        try connection.apply(old)
        var bad = NftTable(name: "flowspec", family: .inet,
                           chains: [filterChain(rules: [dropSource(1), dropSource(2)])])
        bad.chains[0].rules.append(NftRule(expressions: [transportPort(), .lookup(set: "missing", sreg: .reg1, invert: false),
                                                         .immediateVerdict(.drop)], comment: "route-bad"))
        do {
            try connection.apply(bad)
            Issue.record("a lookup of a missing set was committed")
        } catch let error {
            guard case .rejected(let faults) = error else { Issue.record("unexpected \(error)"); return }
            let fault = try #require(faults.first)
            #expect(fault.object == .rule(chain: "input", index: 2, comment: "route-bad"))
            #expect(fault.errno == ENOENT)
            #expect(fault.expressionIndex == 1)
            #expect(error.description.contains("route-bad"))
        }
        #expect(try connection.listTable(name: "flowspec", family: .inet)?.table == normalized(old))
    }

    @Test func overlappingIntervalsAreRejectedNamingTheSet() throws {
        let connection = try NftConnection.inNewNamespace()
        let old = NftTable(name: "flowspec", family: .inet, chains: [filterChain(rules: [dropSource(7)])])
        try connection.apply(old)
        let overlapping = NftTable(name: "flowspec", family: .inet, sets: [
            NftSet(name: "pairs", flags: [.interval], keyFields: [.ipv4Address, .inetService], elements: [
                NftSetElement(key: [192, 0, 2, 0, 0, 80, 0, 0], keyEnd: [192, 0, 2, 255, 0, 80, 0, 0]),
                NftSetElement(key: [192, 0, 2, 7, 0, 80, 0, 0], keyEnd: [192, 0, 2, 9, 0, 80, 0, 0]),
            ]),
        ])
        #expect {
            try connection.apply(overlapping)
        } throws: { error in
            guard case .rejected(let faults) = error as? NetlinkError else { return false }
            return faults.contains { if case .setElements(set: "pairs", _, _) = $0.object { true } else { false } }
        }
        #expect(try connection.listTable(name: "flowspec", family: .inet)?.table == old)
    }

    @Test func twentyThousandRulesCommitInOneBatch() throws {
        let connection = try NftConnection.inNewNamespace()
        let table = NftTable(name: "bulk", family: .inet, chains: [filterChain(rules: (0..<20_000).map { dropSource($0) })])
        let report = try connection.apply(table)
        #expect(report.messages == 20_000 + 6)
        let installed = try #require(try connection.listTable(name: "bulk", family: .inet))
        #expect(installed.table.chains[0].rules.count == 20_000)
        #expect(installed.table.chains[0].rules.last == table.chains[0].rules.last)
    }

    @Test func deleteTableIsQuietWhenAbsentAndTouchesNoOtherTable() throws {
        let connection = try NftConnection.inNewNamespace()
        try connection.deleteTable(name: "flowspec", family: .inet)
        let keep = NftTable(name: "keep", family: .inet, chains: [filterChain(rules: [dropSource(3)])])
        try connection.apply(keep)
        try connection.apply(NftTable(name: "flowspec", family: .inet, chains: [filterChain(rules: [dropSource(4)])]))
        try connection.deleteTable(name: "flowspec", family: .inet)
        #expect(try connection.listTable(name: "flowspec", family: .inet) == nil)
        #expect(try connection.listTable(name: "keep", family: .inet)?.table == keep)
        try connection.deleteTable(name: "flowspec", family: .inet)
    }

    @Test func aBatchFromAStaleGenerationIsRefused() throws {
        let connection = try NftConnection.inNewNamespace()
        let before = try connection.generation()
        try connection.apply(NftTable(name: "flowspec", family: .inet))
        #expect(try connection.generation() != before)
        #expect(throws: NetlinkError.generationChanged(expected: before)) {
            try connection.apply(NftTable(name: "late", family: .inet), basedOn: before)
        }
        #expect(try connection.listTable(name: "late", family: .inet) == nil)
    }

    /// Whether the host's own ruleset mentions `name` (read only; must stay false).
    private func hostRulesetMentions(_ name: String) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nft")
        process.arguments = ["-j", "list", "tables"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).contains("\"name\": \"\(name)\"")
    }
}

@Suite("Netlink encoding details (no kernel)")
struct EncodingTests {
    @Test func rbtreeIntervalsBecomeStartAndExclusiveEnd() {
        let set = NftSet(name: "s", flags: [.interval], keyFields: [.ipv4Address], elements: [
            NftSetElement(key: [192, 0, 2, 0], keyEnd: [192, 0, 2, 255]),
            NftSetElement(key: [255, 255, 255, 0], keyEnd: [255, 255, 255, 255]),
        ])
        let kernel = SetCodec.kernelElements(set, 0..<2)
        #expect(kernel.map(\.key) == [[192, 0, 2, 0], [192, 0, 3, 0], [255, 255, 255, 0]])
        #expect(kernel.map(\.isEnd) == [false, true, false])
        #expect(kernel.map(\.source) == [0, 0, 1])
    }

    @Test func concatenatedKeyTypeUsesSixBitsPerField() {
        let set = NftSet(name: "s", flags: [.interval], keyFields: [.ipv4Address, .inetService])
        #expect(SetCodec.keyType(set) == (7 << 6) | 13)
        #expect(SetCodec.kernelFlags(set) == NftSet.Flags([.interval, .concat]).rawValue)
        #expect(SetCodec.dataType(id: 13, length: 2) == .inetService)
        #expect(SetCodec.dataType(id: 4, length: 3) == .integer(bytes: 3))
    }

    @Test func aHashSetsConcatenatedKeyIsSplitByItsType() {
        // A hash set carries no field lengths: the fields come from the 6-bit type ids.
        #expect(SetCodec.concatenatedFields(keyType: (7 << 12) | (7 << 6) | 13, keyLength: 12)
                == [.ipv4Address, .ipv4Address, .inetService])
        #expect(SetCodec.concatenatedFields(keyType: (8 << 6) | 33, keyLength: 20)?.map(\.name) == ["ipv6_addr", "icmpv6_code"])
        #expect(SetCodec.concatenatedFields(keyType: 13, keyLength: 2) == nil, "a single type")
        #expect(SetCodec.concatenatedFields(keyType: (7 << 6) | 13, keyLength: 6) == nil, "lengths that do not add up")
        #expect(SetCodec.concatenatedFields(keyType: (7 << 6) | 63, keyLength: 8) == nil, "an unknown type")
    }

    @Test func longCommentsAreRefusedBeforeAnythingIsSent() {
        func rule(_ comment: Int, _ routeComment: Int? = nil) -> NftRule {
            NftRule(expressions: [], comment: String(repeating: "x", count: comment), routeComment: routeComment.map { String(repeating: "y", count: $0) })
        }
        // The kernel takes 256 bytes of userdata (NFT_USERDATA_MAXLEN): a TLV is the text, its NUL,
        // a type and a length byte.
        #expect(RuleComment.problem(rule(253)) == nil)
        #expect(RuleComment.problem(rule(254))?.contains("256 bytes of userdata") == true)
        #expect(RuleComment.problem(rule(255)) == "comment longer than 254 bytes")
        // Both TLVs: the longest identity (120 bytes) and the longest kept comment fit.
        #expect(RuleComment.problem(rule(120, 128)) == nil)
        #expect(RuleComment.problem(rule(124, 126)) == nil)
        #expect(RuleComment.problem(rule(125, 126))?.contains("256 bytes of userdata") == true)
    }
}
