/// The rules a unit may not move back over, found through their destinations rather than by
/// scanning every slot between a group and the unit (docs/merging.md, "Joining").
///
/// Every box the planner places — a single rule's hull, a group's element — is filed with its
/// slot and action under the smallest aligned block of addresses holding its destination range
/// (a single address is a block of one, a /28 a block of 16), up to blocks of 256 addresses;
/// anything wider (no destination at all, say) goes to one list of wide boxes. A unit's box can
/// only overlap boxes filed under blocks its range meets, or the wide list; those after the
/// group's slot are the possible blockers. Within a block, boxes of one transport protocol are
/// filed apart too: a UDP route never meets the TCP routes of its victim; and within a protocol,
/// boxes of one destination port: at a million routes the uniform workload has ~2,000 per victim,
/// which every query of that victim compared (30% of a 1M load's samples).
struct BlockerIndex {
    /// The widest destination range filed by address (2^maxLevel addresses: a /24 of IPv4, a
    /// /120 of IPv6); wider ones go to the list of wide boxes.
    static let maxLevel = 8
    /// Past this many wide boxes a query is not answered (the caller falls back to a bounded
    /// scan): routes without a destination are then better kept apart than searched.
    static let wideLimit = 512

    /// An aligned block of 2^level addresses (`value` is its first address shifted right by
    /// `level`), a protocol (`anyProtocol`: the box does not fix one) and a destination port
    /// (`anyPort`: the box does not fix one; boxes without a protocol are filed under `anyPort`).
    private struct Key: WordHashable {
        var v6: Bool; var level: UInt8; var value: UInt128; var proto: UInt16; var port: UInt32
        /// One word instead of six (every insert files a box under three keys).
        var word: UInt64 {
            BoxIndex.mix(BoxIndex.fold(value), UInt64(port) << 24 | UInt64(proto) << 8 | UInt64(level) << 1 | (v6 ? 1 : 0))
        }
    }
    private static let anyProtocol: UInt16 = 0x100
    private static let protocolDim = 6
    private static let portDim = 3
    private static let anyPort: UInt32 = 0x1_0000
    /// The key of every box of a protocol that fixes its port (what a query that fixes none
    /// must see, besides those under `anyPort`).
    private static let everyPort: UInt32 = 0x1_0001
    private var slots: [Int32] = []
    private var tails: [Int32] = []
    private var boxes: [Box] = []
    /// The boxes filed under each key, as a list through the filings (newest first): a box is
    /// filed under up to three keys, and an array per key — most keys hold one or two boxes —
    /// cost more memory than the boxes (160 MB at a million routes).
    private var heads = WordTable<Key, Int32>()
    private var filedBox: [Int32] = []
    private var filedNext: [Int32] = []
    /// Per family, the levels some box is filed at: a query looks only there.
    private var levels: [UInt16] = [0, 0]
    private var wide: [Int32] = []

    /// Makes room for `n` more boxes, and for as many keys: at 100k routes of distinct
    /// destinations the key table's doublings, each rehashing every key, were 3% of a load.
    mutating func reserve(_ n: Int) {
        boxes.reserveCapacity(boxes.count + n)
        slots.reserveCapacity(slots.count + n)
        tails.reserveCapacity(tails.count + n)
        heads.reserveCapacity(heads.count + n)
    }

    mutating func insert(_ b: Box, slot: Int, tail: Int) {
        let id = Int32(boxes.count)
        boxes.append(b); slots.append(Int32(slot)); tails.append(Int32(tail))
        let d = b.destination
        guard let level = Self.level(d) else { wide.append(id); return }
        levels[b.v6 ? 1 : 0] |= 1 << level
        let proto = Self.proto(b)
        let value = d.lowerBound >> UInt128(level)
        func file(_ proto: UInt16, _ port: UInt32) {
            let f = Int32(filedBox.count)
            let next = heads.updateValue(f, forKey: Key(v6: b.v6, level: UInt8(level), value: value, proto: proto, port: port))
            filedBox.append(id)
            filedNext.append(next ?? -1)
        }
        guard proto != Self.anyProtocol else { file(Self.anyProtocol, Self.anyPort); return }
        let port = Self.port(b)
        file(proto, port)
        if port != Self.anyPort { file(proto, Self.everyPort) }
        file(Self.everyProtocol, Self.everyPort)
    }

    /// The key of every box of a block that fixes its protocol (what a query that fixes none
    /// must see, besides those under `anyProtocol`).
    private static let everyProtocol: UInt16 = 0x101

    private static func proto(_ b: Box) -> UInt16 {
        let p = b.r[protocolDim]
        return p.lowerBound == p.upperBound ? UInt16(p.lowerBound) : anyProtocol
    }

    private static func port(_ b: Box) -> UInt32 {
        let p = b.r[portDim]
        return p.lowerBound == p.upperBound ? UInt32(p.lowerBound) : anyPort
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
        // Through a buffer pointer: an array subscript copied each 160-byte box before comparing
        // it (a third of the planner's time on the mixed workload).
        return boxes.withUnsafeBufferPointer { boxes -> Int? in
            func consider(_ id: Int, _ q: Box) {
                if slots[id] > last && (exactCounters || tails[id] != tail) && boxes[id].overlaps(q) { last = slots[id] }
            }
            for q in query {
                let d = q.destination
                guard Self.level(d) != nil else { return nil }
                for id in wide { consider(Int(id), q) }
                // The lists that can hold a box overlapping q: boxes without a protocol; then,
                // for a protocol, its boxes of q's port (or of every port) and those without one.
                let p = Self.proto(q), port = Self.port(q)
                let lists: InlineArray<3, (proto: UInt16, port: UInt32)> = p == Self.anyProtocol
                    ? [(Self.anyProtocol, Self.anyPort), (Self.everyProtocol, Self.everyPort), (Self.everyProtocol, Self.everyPort)]
                    : [(Self.anyProtocol, Self.anyPort), (p, port == Self.anyPort ? Self.everyPort : port), (p, Self.anyPort)]
                let listCount = p == Self.anyProtocol ? 2 : 3
                var used = levels[q.v6 ? 1 : 0]
                while used != 0 {
                    let level = used.trailingZeroBitCount
                    used &= used - 1
                    let shift = UInt128(level)
                    var block = d.lowerBound >> shift
                    while true {
                        for i in 0..<listCount {
                            var f = heads[Key(v6: q.v6, level: UInt8(level), value: block, proto: lists[i].proto, port: lists[i].port)] ?? -1
                            while f >= 0 {
                                consider(Int(filedBox[Int(f)]), q)
                                f = filedNext[Int(f)]
                            }
                        }
                        if block == d.upperBound >> shift { break }
                        block += 1
                    }
                }
            }
            return Int(last)
        }
    }
}
