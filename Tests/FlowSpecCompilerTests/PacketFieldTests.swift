import Testing
import FlowSpec
@testable import FlowSpecCompiler

/// The field table is the one description of the packet fields: every row must read back as
/// itself, print under its own name, and agree with the compiler's and the merge pass's use of it.
@Suite struct PacketFieldTests {
    /// The statements that put a row's field in context: `meta nfproto` and `meta l4proto`.
    static func context(_ row: PacketField.Row) -> [NftExpression] {
        var e: [NftExpression] = []
        if let f = row.family { e += [.meta(key: .nfproto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [f == .ipv4 ? 2 : 10])] }
        if let p = row.l4proto { e += [.meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [p])] }
        return e
    }

    @Test(arguments: PacketField.allCases)
    func rowReadsBackAsItself(_ f: PacketField) {
        let row = f.row
        let field = Field(f)
        #expect(PacketField.reading(row.load, mask: field.mask, family: row.family, l4proto: row.l4proto) == .field(f, start: 0))
    }

    @Test(arguments: PacketField.allCases)
    func printerNamesTheRow(_ f: PacketField) throws {
        let row = f.row
        let field = Field(f)
        let exprs = Self.context(row) + field.load + [.cmp(op: .eq, sreg: .reg1, data: field.encode(0))]
        let text = try #require(try NftPrinter.statements(exprs).last)
        // Rows without a name print as the raw load nft would read back the same.
        #expect(text.hasPrefix(row.name ?? "@"), "\(f): \(text)")
    }

    @Test func mergedLoadsSplitIntoTheirRows() {
        #expect(PacketField.reading(.payload(.transport, offset: 0, length: 4), mask: nil, family: .ipv4, l4proto: 6)
                == .fields([.sourcePort, .destinationPort]))
        #expect(PacketField.reading(.payload(.transport, offset: 0, length: 2), mask: nil, family: .ipv6, l4proto: 58)
                == .fields([.icmpType6, .icmpCode6]))
        #expect(PacketField.reading(.payload(.transport, offset: 0, length: 2), mask: nil, family: .ipv4, l4proto: 17)
                == .field(.sourcePort, start: 0))
    }

    /// The merge key parts: a snapshot names them by (box dimension, IPv6), which must name one row each.
    @Test func keyFieldsRoundTripThroughTheirSnapshotForm() {
        for f in PacketField.allCases {
            guard let k = KeyField(f) else { continue }
            #expect(KeyField(dim: k.dim, v6: k.v6) == k)
        }
        // The key parts' widths as the kernel lays the headers out, written out independently.
        let widths: [PacketField: Int] = [.source4: 4, .destination4: 4, .source6: 16, .destination6: 16, .l4proto: 1,
                                          .sourcePort: 2, .destinationPort: 2, .icmpType4: 1, .icmpCode4: 1,
                                          .icmpType6: 1, .icmpCode6: 1]
        #expect(Dictionary(uniqueKeysWithValues: PacketField.allCases.compactMap { f in KeyField(f).map { (f, $0.width) } }) == widths)
        #expect(PacketField.allCases.filter { KeyField($0)?.inKey == false } == [.l4proto])
        #expect(KeyField.dims == 7)
        #expect(KeyField.top(dim: 0, v6: false) == 0xffff_ffff && KeyField.top(dim: 1, v6: true) == .max)
        #expect(KeyField.top(dim: 3, v6: true) == 0xffff && KeyField.top(dim: 6, v6: false) == 0xff)
    }
}
