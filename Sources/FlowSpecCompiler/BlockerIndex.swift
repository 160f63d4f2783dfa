/// The rules a unit may not move back over, found through their destinations rather than by
/// scanning every slot between a group and the unit (docs/merging.md, "Joining").
///
/// Every box the planner places — a single rule's hull, a group's element — is filed with its
/// slot and action under the smallest aligned block of addresses holding its destination range
/// (a single address is a block of one, a /28 a block of 16), up to blocks of 256 addresses;
/// anything wider (no destination at all, say) goes to one list of wide boxes. A unit's box can
/// only overlap boxes filed under blocks its range meets, or the wide list; those after the
/// group's slot are the possible blockers. Within a block, boxes of one transport protocol are
/// filed apart too: a UDP route never meets the TCP routes of its victim.
struct BlockerIndex {
    /// The widest destination range filed by address (2^maxLevel addresses: a /24 of IPv4, a
    /// /120 of IPv6); wider ones go to the list of wide boxes.
    static let maxLevel = 8
    /// Past this many wide boxes a query is not answered (the caller falls back to a bounded
    /// scan): routes without a destination are then better kept apart than searched.
    static let wideLimit = 512

    /// An aligned block of 2^level addresses (`value` is its first address shifted right by
    /// `level`), and a protocol (`anyProtocol`: the box does not fix one).
    private struct Key: Hashable { var v6: Bool; var level: UInt8; var value: UInt128; var proto: UInt16 }
    private static let anyProtocol: UInt16 = 0x100
    private static let protocolDim = 6
    private var slots: [Int32] = []
    private var tails: [Int32] = []
    private var boxes: [Box] = []
    private var byBlock: [Key: [Int32]] = [:]
    /// Per family, the levels some box is filed at: a query looks only there.
    private var levels: [UInt16] = [0, 0]
    private var wide: [Int32] = []

    mutating func insert(_ b: Box, slot: Int, tail: Int) {
        let id = Int32(boxes.count)
        boxes.append(b); slots.append(Int32(slot)); tails.append(Int32(tail))
        let d = b.destination
        guard let level = Self.level(d) else { wide.append(id); return }
        levels[b.v6 ? 1 : 0] |= 1 << level
        let proto = Self.proto(b)
        let value = d.lowerBound >> UInt128(level)
        byBlock[Key(v6: b.v6, level: UInt8(level), value: value, proto: proto), default: []].append(id)
        if proto != Self.anyProtocol {
            byBlock[Key(v6: b.v6, level: UInt8(level), value: value, proto: Self.everyProtocol), default: []].append(id)
        }
    }

    /// The key of every box of a block that fixes its protocol (what a query that fixes none
    /// must see, besides those under `anyProtocol`).
    private static let everyProtocol: UInt16 = 0x101

    private static func proto(_ b: Box) -> UInt16 {
        let p = b.r[protocolDim]
        return p.lowerBound == p.upperBound ? UInt16(p.lowerBound) : anyProtocol
    }

    /// The smallest level whose aligned block holds all of `d`; nil past `maxLevel`.
    private static func level(_ d: ClosedRange<UInt128>) -> Int? {
        let differing = d.lowerBound ^ d.upperBound
        let level = differing == 0 ? 0 : 128 - differing.leadingZeroBitCount
        return level <= maxLevel ? level : nil
    }

    /// The last slot holding a box that overlaps one of `query` and stops it (another action,
    /// or any action when rules count per route), -1 for none; nil when the index cannot tell
    /// (a destination wider than `maxLevel`, or too many wide boxes).
    ///
    /// A box filed at level k overlaps a query's destination only if its block is one of the
    /// blocks of that level the query's range meets: those are all looked at, level by level.
    func lastBlocker(_ query: [Box], tail: Int, exactCounters: Bool) -> Int? {
        guard wide.count <= Self.wideLimit else { return nil }
        let tail = Int32(tail)
        var last: Int32 = -1
        // Through a buffer pointer: an array subscript copied each 150-byte box before comparing
        // it (a third of the planner's time on the mixed workload).
        return boxes.withUnsafeBufferPointer { boxes -> Int? in
            func visit(_ ids: [Int32], _ q: Box) {
                for id in ids where slots[Int(id)] > last && (exactCounters || tails[Int(id)] != tail) && boxes[Int(id)].overlaps(q) {
                    last = slots[Int(id)]
                }
            }
            for q in query {
                let d = q.destination
                guard Self.level(d) != nil else { return nil }
                visit(wide, q)
                let p = Self.proto(q)
                let protos = (Self.anyProtocol, p == Self.anyProtocol ? Self.everyProtocol : p)
                var used = levels[q.v6 ? 1 : 0]
                while used != 0 {
                    let level = used.trailingZeroBitCount
                    used &= used - 1
                    let shift = UInt128(level)
                    var block = d.lowerBound >> shift
                    while true {
                        if let ids = byBlock[Key(v6: q.v6, level: UInt8(level), value: block, proto: protos.0)] { visit(ids, q) }
                        if let ids = byBlock[Key(v6: q.v6, level: UInt8(level), value: block, proto: protos.1)] { visit(ids, q) }
                        if block == d.upperBound >> shift { break }
                        block += 1
                    }
                }
            }
            return Int(last)
        }
    }
}
