/// The rules a unit may not move back over, found through their destinations rather than by
/// scanning every slot between a group and the unit (docs/merging.md, "Joining").
///
/// Every box the planner places — a single rule's hull, a group's element — is filed with its
/// slot and action under its destination: a single address under itself, a range of at most
/// `blockSize` addresses inside one aligned block under that block, anything wider (no
/// destination at all, say) in one list of wide boxes. A unit's box can only overlap boxes filed
/// under the addresses it covers, their block, or the wide list; those after the group's slot
/// are the possible blockers. Within an address or block, boxes of one transport protocol are
/// filed apart too: a UDP route never meets the TCP routes of its victim.
struct BlockerIndex {
    /// Addresses per block (a /24 of IPv4, a /120 of IPv6).
    static let blockSize: UInt128 = 256
    /// Past this many wide boxes a query is not answered (the caller falls back to a bounded
    /// scan): routes without a destination are then better kept apart than searched.
    static let wideLimit = 512

    /// An address or block, and a protocol (`anyProtocol`: the box does not fix one).
    private struct Key: Hashable { var v6: Bool; var value: UInt128; var proto: UInt16 }
    private static let anyProtocol: UInt16 = 0x100
    private static let protocolDim = 6
    private var slots: [Int32] = []
    private var tails: [Int32] = []
    private var boxes: [Box] = []
    private var byAddress: [Key: [Int32]] = [:]
    private var byBlock: [Key: [Int32]] = [:]
    private var wide: [Int32] = []

    mutating func insert(_ b: Box, slot: Int, tail: Int) {
        let id = Int32(boxes.count)
        boxes.append(b); slots.append(Int32(slot)); tails.append(Int32(tail))
        let d = b.r[1]
        let proto = Self.proto(b)
        if d.lowerBound == d.upperBound {
            byAddress[Key(v6: b.v6, value: d.lowerBound, proto: proto), default: []].append(id)
            if proto != Self.anyProtocol { byAddress[Key(v6: b.v6, value: d.lowerBound, proto: Self.everyProtocol), default: []].append(id) }
        } else if let block = Self.block(d) {
            byBlock[Key(v6: b.v6, value: block, proto: proto), default: []].append(id)
            if proto != Self.anyProtocol { byBlock[Key(v6: b.v6, value: block, proto: Self.everyProtocol), default: []].append(id) }
        } else {
            wide.append(id)
        }
    }

    /// The key of every box of an address or block that fixes its protocol (what a query that
    /// fixes none must see, besides those under `anyProtocol`).
    private static let everyProtocol: UInt16 = 0x101

    private static func proto(_ b: Box) -> UInt16 {
        let p = b.r[protocolDim]
        return p.lowerBound == p.upperBound ? UInt16(p.lowerBound) : anyProtocol
    }

    /// The keys a query box must look under, at `value`: its own protocol and boxes fixing none,
    /// or, when it fixes none itself, all of them.
    private static func keys(_ q: Box, _ value: UInt128) -> (Key, Key) {
        let p = proto(q)
        return (Key(v6: q.v6, value: value, proto: anyProtocol),
                Key(v6: q.v6, value: value, proto: p == anyProtocol ? everyProtocol : p))
    }

    /// The block holding all of `d`, when `d` spans at most `blockSize` addresses of one block.
    private static func block(_ d: ClosedRange<UInt128>) -> UInt128? {
        let b = d.lowerBound / blockSize
        return d.upperBound / blockSize == b && d.upperBound - d.lowerBound < blockSize ? b : nil
    }

    /// The last slot holding a box that overlaps one of `query` and stops it (another action,
    /// or any action when rules count per route), -1 for none; nil when the index cannot tell
    /// (a destination wider than a block, or too many wide boxes).
    func lastBlocker(_ query: [Box], tail: Int, exactCounters: Bool) -> Int? {
        guard wide.count <= Self.wideLimit else { return nil }
        let tail = Int32(tail)
        var last: Int32 = -1
        func visit(_ ids: [Int32], _ q: Box) {
            for id in ids where slots[Int(id)] > last && (exactCounters || tails[Int(id)] != tail) && boxes[Int(id)].overlaps(q) {
                last = slots[Int(id)]
            }
        }
        for q in query {
            let d = q.r[1]
            guard let block = Self.block(d) else { return nil }
            visit(wide, q)
            let (anyKey, ownKey) = Self.keys(q, block)
            if let ids = byBlock[anyKey] { visit(ids, q) }
            if let ids = byBlock[ownKey] { visit(ids, q) }
            var a = d.lowerBound
            while true {
                let (anyKey, ownKey) = Self.keys(q, a)
                if let ids = byAddress[anyKey] { visit(ids, q) }
                if let ids = byAddress[ownKey] { visit(ids, q) }
                if a == d.upperBound { break }
                a += 1
            }
        }
        return Int(last)
    }
}
