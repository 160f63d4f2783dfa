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

    /// The merge key parts: every row with a box dimension, and the dimensions a box holds.
    @Test func keyFieldsCoverTheRowsWithABoxDimension() {
        // The key parts' widths as the kernel lays the headers out, written out independently.
        let widths: [PacketField: Int] = [.source4: 4, .destination4: 4, .source6: 16, .destination6: 16, .l4proto: 1,
                                          .sourcePort: 2, .destinationPort: 2, .icmpType4: 1, .icmpCode4: 1,
                                          .icmpType6: 1, .icmpCode6: 1, .tcpFlags: 1, .tcpFlags16: 2,
                                          .length4: 2, .length6: 2, .dscp4: 1, .dscp6: 2, .fragOff4: 2, .flowLabel: 3,
                                          .inputInterface: 16]
        #expect(Dictionary(uniqueKeysWithValues: PacketField.allCases.compactMap { f in KeyField(f).map { (f, $0.width) } }) == widths)
        #expect(PacketField.allCases.filter { KeyField($0)?.inKey == false } == [.l4proto])
        // `KeyField.dims` is a literal (read on every overlap test): one more than the largest dimension.
        #expect(KeyField.dims == PacketField.allCases.compactMap(\.row.boxDim).max()! + 1)
        #expect(KeyField.top(dim: 0, v6: false) == 0xffff_ffff && KeyField.top(dim: 1, v6: true) == .max)
        #expect(KeyField.top(dim: 3, v6: true) == 0xffff && KeyField.top(dim: 6, v6: false) == 0xff)
        #expect(KeyField.top(dim: 8, v6: true) == 63 && KeyField.top(dim: 10, v6: true) == 0xfffff && KeyField.top(dim: 10, v6: false) == 0xffff && KeyField.top(dim: 9, v6: false) == 0xffff)
        // The input interface's name: 16 bytes in a 128-bit dimension of its own, for both families.
        #expect(KeyField.interfaceDim == KeyField.inputInterface.dim && KeyField.top(dim: KeyField.interfaceDim, v6: false) == .max)
        var b = Box.full(v6: false)
        b.r[KeyField.interfaceDim] = 5...5
        #expect(b.r[KeyField.interfaceDim] == 5...5 && b.r[10] == 0...0xffff && b.r[1] == 0...0xffff_ffff)
        // Every key part a set can hold has the `typeof` form nft records for it, but the
        // interface's name, which leaves a key declared by `typeof` (`MergePlanner.analyse`).
        for f in PacketField.allCases where KeyField(f)?.inKey == true && f != .inputInterface { #expect(f.row.typeof != nil, "\(f)") }
        // Masked fields: the mask is part of the key field (and so of the shape), a fixed mask is not.
        #expect(KeyField(.tcpFlags, mask: [0x12]) != KeyField(.tcpFlags, mask: [0x02]))
        #expect(KeyField(.dscp4, mask: [0xfc])?.mask == nil)
    }

    /// Boxes read under different masks of one field do not compare in it: `tcp flags & 0x02 ==
    /// 0x02` and `tcp flags & 0x10 == 0x10` share packets (SYN-ACK) though their masked values differ.
    @Test func boxesUnderDifferentMasksOverlapInTheMaskedField() {
        func box(_ mask: UInt8, _ value: UInt128) -> Box {
            var b = Box.full(v6: false)
            let k = KeyField(.tcpFlags, mask: [mask])!
            b.r[k.dim] = value...value
            b.masks = k.maskSignature
            return b
        }
        #expect(box(0x02, 0x02).overlaps(box(0x10, 0x10)))
        #expect(!box(0x12, 0x02).overlaps(box(0x12, 0x10)))
        #expect(box(0x12, 0x02).overlaps(Box.full(v6: false)))
    }
}
