import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
@testable import FlowSpecNetlink

/// The table expected to read back: elements in key order, and every element of a set with
/// `elementCounters` carrying a counter (the kernel copies the set's onto those that bring none,
/// from zero).
private func expectedReadBack(_ table: NftTable) -> NftTable {
    var table = normalized(table)
    for s in table.sets.indices where table.sets[s].elementCounters {
        for e in table.sets[s].elements.indices where table.sets[s].elements[e].counter == nil {
            table.sets[s].elements[e].counter = NftCounter()
        }
    }
    return table
}

/// Sets of every kind the merge pass makes (hash, concatenated interval, single-field interval,
/// object map), counted per element and commented, plus a set that is not counted but whose
/// elements have comments.
private func countedTable() -> NftTable {
    let limit = NftLimit(rate: 1_000_000, unit: .second, burst: 0, kind: .bytes, over: true)
    let sets = [
        NftSet(name: "hash", flags: [], keyFields: [.ipv4Address, .inetService], elementCounters: true, elements: [
            NftSetElement(key: [203, 0, 113, 10, 0, 80, 0, 0], comment: "4:0120cb00710a038106058150"),
            NftSetElement(key: [203, 0, 113, 11, 0, 80, 0, 0], comment: "4:0120cb00710b038106058150",
                          counter: NftCounter(packets: 5, bytes: 300)),
            NftSetElement(key: [203, 0, 113, 12, 0, 80, 0, 0]),
        ]),
        NftSet(name: "pipapo", flags: [.interval], keyFields: [.ipv4Address, .ipv4Address, .inetService], elementCounters: true,
               elements: [
                NftSetElement(key: [198, 51, 100, 0, 203, 0, 113, 0, 0, 22, 0, 0],
                              keyEnd: [198, 51, 100, 255, 203, 0, 113, 255, 0, 22, 0, 0], comment: "4:a"),
                NftSetElement(key: [198, 51, 100, 7, 192, 0, 2, 1, 0, 53, 0, 0],
                              keyEnd: [198, 51, 100, 7, 192, 0, 2, 1, 0, 53, 0, 0], comment: "6#00112233aabbccdd"),
               ]),
        NftSet(name: "rbtree", flags: [.interval], keyFields: [.ipv4Address], elementCounters: true, elements: [
            NftSetElement(key: [192, 0, 2, 0], keyEnd: [192, 0, 2, 127], comment: "4:lower half"),
            NftSetElement(key: [192, 0, 2, 200], comment: "4:one", counter: NftCounter(packets: 1, bytes: 1500)),
            NftSetElement(key: [255, 255, 255, 0], keyEnd: [255, 255, 255, 255], comment: "4:top"),
        ]),
        NftSet(name: "limits", flags: [.object], keyFields: [.ipv4Address, .inetService], objectType: .limit,
               elementCounters: true,
               elements: [NftSetElement(key: [203, 0, 113, 12, 0x13, 0x88, 0, 0], objectName: "police", comment: "4:limited")]),
        NftSet(name: "plain", flags: [], keyFields: [.inetService], elements: [
            NftSetElement(key: [0, 53], comment: "dns"), NftSetElement(key: [0, 54]),
        ]),
    ]
    let concat: [NftExpression] = isIPv4() + [.payload(base: .network, offset: 16, length: 4, dreg: .reg1),
                                              transportPort(into: .reg32(1))]
    let rules: [NftRule] = [
        NftRule(expressions: concat + [.lookup(set: "hash", sreg: .reg1, invert: false), .immediateVerdict(.drop)], comment: "merge hash"),
        NftRule(expressions: isIPv4() + [ipv4Source(), .payload(base: .network, offset: 16, length: 4, dreg: .reg32(1)),
                                         transportPort(into: .reg32(2)), .lookup(set: "pipapo", sreg: .reg1, invert: false),
                                         .immediateVerdict(.drop)], comment: "merge pipapo"),
        NftRule(expressions: isIPv4() + [ipv4Source(), .lookup(set: "rbtree", sreg: .reg1, invert: false), .immediateVerdict(.drop)]),
        NftRule(expressions: concat + [.lookup(set: "limits", sreg: .reg1, invert: false)] + concat.dropFirst(2)
                + [.objrefMap(set: "limits", sreg: .reg1), .immediateVerdict(.drop)], comment: "merge limits"),
        NftRule(expressions: [transportPort(), .lookup(set: "plain", sreg: .reg1, invert: false), .immediateVerdict(.accept)]),
    ]
    return NftTable(name: "flowspec", family: .inet, sets: sets, objects: [.limit(name: "police", limit)],
                    chains: [filterChain(rules: rules)])
}

@Suite("Set element counters and comments against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct SetCounterTests {
    @Test("counted sets and element comments read back as applied, counters' initial values included")
    func countersAndCommentsReadBack() throws {
        let connection = try NftConnection.inNewNamespace()
        let table = countedTable()
        try connection.apply(table)
        let installed = try #require(try connection.listTable(name: table.name, family: .inet))
        #expect(installed.table == expectedReadBack(table))
        // nft itself sees the same: a `counter` statement in the set, each element's counter and comment.
        let json = try nft(["-j", "list", "set", "inet", "flowspec", "hash"], in: try #require(connection.namespace))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let set = try #require((obj["nftables"] as? [[String: Any]])?.compactMap { $0["set"] as? [String: Any] }.first)
        #expect((set["stmt"] as? [[String: Any]])?.first?["counter"] != nil, "\(json)")
        let elements = (set["elem"] as? [[String: Any]] ?? []).compactMap { $0["elem"] as? [String: Any] }
        let commented = elements.first { $0["comment"] as? String == "4:0120cb00710b038106058150" }
        #expect((commented?["counter"] as? [String: Any])?["packets"] as? Int == 5, "\(json)")
        #expect(elements.count == 3 && elements.allSatisfy { $0["counter"] != nil }, "\(json)")
    }

    @Test("the printed text of a read-back counted table loads into nft and lists the same")
    func readBackPrintsAsLoadableText() throws {
        let connection = try NftConnection.inNewNamespace()
        try connection.apply(countedTable())
        let installed = try #require(try connection.listTable(name: "flowspec", family: .inet))
        let text = NftPrinter.render(installed.table, replace: true)
        let second = try NftConnection.inNewNamespace()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-counted-\(UUID().uuidString).nft")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let out = try nft(["-f", file.path], in: try #require(second.namespace))
        #expect(out.isEmpty, "nft -f refused the printed read-back table: \(out)\n\(text)")
        #expect(try second.listTable(name: "flowspec", family: .inet)?.table == installed.table)
    }

    @Test("an element comment longer than nft allows is refused before anything is sent")
    func longCommentRefused() throws {
        let connection = try NftConnection.inNewNamespace()
        let old = NftTable(name: "flowspec", family: .inet, chains: [filterChain(rules: [dropSource(1)])])
        try connection.apply(old)
        var bad = countedTable()
        bad.sets[0].elements[2].comment = String(repeating: "x", count: NftSetElement.maxCommentBytes + 1)
        #expect(throws: NetlinkError.unencodable(object: .setElements(set: "hash", elements: 2..<3, element: 2),
                                                 reason: "comment longer than 128 bytes (nft's limit)")) {
            try connection.apply(bad)
        }
        bad.sets[0].elements[2].comment = String(repeating: "x", count: NftSetElement.maxCommentBytes)
        bad.sets[4].elements[1].counter = NftCounter(packets: 1, bytes: 2)
        #expect(throws: NetlinkError.unencodable(object: .setElements(set: "plain", elements: 1..<2, element: 1),
                                                 reason: "an element counter in a set declared without `counter`")) {
            try connection.apply(bad)
        }
        #expect(try connection.listTable(name: "flowspec", family: .inet)?.table == old)
        bad.sets[4].elements[1].counter = nil
        try connection.apply(bad)
        #expect(try connection.listTable(name: "flowspec", family: .inet)?.table.sets[0].elements.contains {
            $0.comment?.utf8.count == NftSetElement.maxCommentBytes
        } == true)
    }

    @Test("a merged table reads back with each element's route identity and a zero counter, and its delta state")
    func mergedTableReadsBack() throws {
        let routes = RouteGenerator().routes(count: 3000).ordered(.rfc)
        let result = compile(routes, options: CompileOptions(merge: true))
        let connection = try NftConnection.inNewNamespace()
        try connection.apply(result.table)
        let installed = try #require(try connection.listTable(name: "flowspec", family: .inet))
        let expected = expectedReadBack(result.table)
        #expect(installed.table.chains == expected.chains)
        #expect(installed.table.sets.map(\.name) == expected.sets.map(\.name))
        for (got, want) in zip(installed.table.sets, expected.sets) where got != want {
            let first = zip(got.elements, want.elements).first { $0.0 != $0.1 }
            let kernel = "\(got.flags) \(got.keyFields.map(\.name)) \(got.elementCounters), \(got.elements.count) elements"
            let ir = "\(want.flags) \(want.keyFields.map(\.name)) \(want.elementCounters), \(want.elements.count) elements"
            Issue.record("set \(want.name) reads back as \(kernel), not \(ir); first differing element: \(String(describing: first))")
        }
        for m in result.merged {
            let set = try #require(installed.table.sets.first { $0.name == m.set })
            #expect(set.elementCounters)
            #expect(Set(set.elements.compactMap(\.comment)) == Set(m.elementRoutes.map { routes[$0].identity }))
        }
        // The state read back is the one a tracked apply of the same table keeps (delta works
        // from either).
        let state = try #require(TableState(installed: installed))
        let tracked = try NftConnection.inNewNamespace()
        let kept = try #require(try tracked.applyTracked(result.table).1)
        #expect(state.mergeSets == kept.mergeSets)
        #expect(state.routes.map(\.identity) == kept.routes.map(\.identity))
        #expect(state.routes.map(\.digest) == kept.routes.map(\.digest))
    }
}

/// Sets keyed by plain integers (packet length, DSCP, TCP flags, fragment bits) carry nft's
/// `typeof` in their userdata: they read back with it (so a hash set's concatenation, which has no
/// field lengths, reads back with its parts' widths), and nft lists them.
@Suite("typeof sets against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct TypeofSetTests {
    @Test("sets with integer key parts read back as applied, and nft lists their elements")
    func typeofSetsReadBack() throws {
        var routes: [FlowRoute] = []
        for i in 0..<40 {
            let d = Component.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0xcb00_7100 | UInt32(i)), length: 32)!)
            let drop: [FlowAction] = [.trafficRateBytes(asn: 0, bytesPerSecond: 0)]
            routes.append(FlowRoute(family: .ipv4, components: [d, .numeric(.ipProtocol, [.equal(17)]), .numeric(.packetLength, [.equal(UInt64(100 + i))])],
                                    actions: drop))
            routes.append(FlowRoute(family: .ipv4, components: [d, .bitmask(.fragment, [BitmaskTerm(match: true, value: 0x04)]), .numeric(.dscp, [.equal(UInt64(i % 64))])],
                                    actions: drop))
            let d6 = Component.destinationPrefix(FlowPrefix(address: IPAddress("2001:db8::\(i + 1)")!, length: 128)!)
            routes.append(FlowRoute(family: .ipv6, components: [d6, .numeric(.flowLabel, [.equal(UInt64(0x12340 + i))])], actions: drop))
        }
        let table = compile(routes.ordered(.rfc), options: CompileOptions(dispatch: .never)).table
        let typed = table.sets.filter { $0.typeof != nil }
        // A hash set (single values only) and a concatenation among them.
        #expect(typed.contains { !$0.flags.contains(.interval) && $0.keyFields.count > 1 }, "\(table.sets.map(\.name))")
        let connection = try NftConnection.inNewNamespace()
        try connection.apply(table)
        let installed = try #require(try connection.listTable(name: table.name, family: .inet))
        #expect(installed.table == expectedReadBack(table))
        let text = try nft(["list", "ruleset"], in: try #require(connection.namespace))
        #expect(text.contains("typeof ip daddr . @nh,8,8 . ip frag-off") && text.contains("203.0.113.7 . 0x1c . 8192"), "\(text)")
        #expect(text.contains("typeof ip6 daddr . ip6 flowlabel") && text.contains("2001:db8::8 . 74567"), "\(text)")
    }
}
