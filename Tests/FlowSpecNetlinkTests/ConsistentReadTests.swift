import Foundation
import Testing
import FlowSpecCompiler
@testable import FlowSpecNetlink

/// A table read while another writer replaces it is either the old or the new table, never a mix
/// (`listTable` reads the generation before and after and reads again when it moved).
@Suite("Reading a table while it is replaced (private namespace)", .enabled(if: Kernel.available, Kernel.reason))
struct ConsistentReadTests {
    /// A table whose set has `n` elements (198.51.100.x, port) and whose rule's comment says `n`.
    static func table(_ n: Int) -> NftTable {
        let elements = (0..<n).map { (i: Int) -> NftSetElement in
            let host = UInt8(truncatingIfNeeded: i), port = UInt16(i / 256)
            let key: [UInt8] = [198, 51, 100, host, UInt8(port >> 8), UInt8(port & 0xff), 0, 0]
            return NftSetElement(key: key)
        }
        let set = NftSet(name: "hash", flags: [], keyFields: [.ipv4Address, .inetService], elements: elements)
        let rule = NftRule(expressions: isIPv4() + [.payload(base: .network, offset: 16, length: 4, dreg: .reg1), transportPort(into: .reg32(1)),
                                                    .lookup(set: "hash", sreg: .reg1, invert: false), .immediateVerdict(.drop)],
                           comment: "\(n) elements")
        return NftTable(name: "flowspec", family: .inet, sets: [set], chains: [filterChain(rules: [rule])])
    }

    static func describe(_ t: InstalledTable) -> String {
        "\(t.table.sets.first?.elements.count ?? -1) elements, rule \(t.table.chains.first?.rules.first?.comment ?? "none")"
    }

    @Test("a commit between a read's dumps (sets read, rules not yet) is not returned: the table is read again, whole")
    func commitBetweenDumps() throws {
        let reader = try NftConnection.inNewNamespace()
        let writer = try NftConnection.inNamespace(try #require(reader.namespace))
        try reader.apply(Self.table(3_000))
        var commits = 0
        reader.betweenListingDumps = {
            guard commits == 0 else { return }
            commits += 1
            try? writer.apply(Self.table(1_000))
        }
        let t = try #require(try reader.listTable(name: "flowspec", family: .inet))
        #expect(commits == 1)
        // Without the generation check: 3,000 elements (read before the commit) and the rule of
        // the 1,000-element table (read after it).
        #expect(Self.describe(t) == "1000 elements, rule 1000 elements")
    }

    @Test("a writer that never stops: changedWhileReading after the time given, not a mixed table")
    func endlessCommits() throws {
        let reader = try NftConnection.inNewNamespace()
        let writer = try NftConnection.inNamespace(try #require(reader.namespace))
        try reader.apply(Self.table(100))
        var flip = false
        reader.betweenListingDumps = {
            flip.toggle()
            try? writer.apply(Self.table(flip ? 200 : 100))
        }
        #expect(throws: NetlinkError.self) { _ = try reader.listTable(name: "flowspec", family: .inet, consistentWithin: 0.2) }
        do { _ = try reader.listTable(name: "flowspec", family: .inet, consistentWithin: 0.2) } catch {
            guard case .changedWhileReading(let n) = error else { Issue.record("\(error)"); return }
            #expect(n >= NftConnection.consistentReadMinimumAttempts)
        }
        reader.betweenListingDumps = nil
        let t = try #require(try reader.listTable(name: "flowspec", family: .inet))
        #expect(["100 elements, rule 100 elements", "200 elements, rule 200 elements"].contains(Self.describe(t)))
    }
}
