// A digest for naming and change detection that does not depend on the process.

/// FNV-1a, 64 bits: a digest that is the same in every process (Swift's `Hasher` is seeded per
/// process), so a table state can be written by one `apply` and trusted by the next.
package struct StableDigest {
    package init() {}

    package private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    /// The value as 16 hex digits.
    package var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    package mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    package mutating func add<S: Sequence>(bytes: S) where S.Element == UInt8 {
        for b in bytes { add(b) }
    }
    package mutating func add(_ v: UInt64) {
        var h = value
        for i in 0..<8 { h = (h ^ (v >> UInt64(i * 8) & 0xff)) &* 0x0000_0100_0000_01b3 }
        value = h
    }
    package mutating func add(_ v: UInt32) { add(UInt64(v)) }
    package mutating func add(_ v: Int32) { add(UInt64(UInt32(bitPattern: v))) }
    package mutating func add(_ s: String) {
        add(UInt64(s.utf8.count))
        // Native strings are contiguous UTF-8: one pass over the buffer, not the UTF8View.
        if s.utf8.withContiguousStorageIfAvailable({ add(buffer: $0) }) == nil { add(bytes: s.utf8) }
    }
    package mutating func add(_ d: [UInt8]) { add(UInt64(d.count)); d.withUnsafeBufferPointer { add(buffer: $0) } }
    package mutating func add(buffer: UnsafeBufferPointer<UInt8>) {
        var v = value
        for b in buffer { v = (v ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        value = v
    }
    package mutating func add(_ b: Bool) { add(UInt8(b ? 1 : 0)) }
    package mutating func add(_ v: NftVerdict) {
        add(UInt64(UInt32(bitPattern: v.code)))
        if let c = v.chain { add(c) }
    }
    package mutating func add(_ l: NftLimit) {
        add(l.rate); add(l.unit.rawValue); add(l.burst); add(l.kind.rawValue); add(l.over)
    }

    /// Every field of the expression, counters' values excepted (they are state, not rule).
    package mutating func add(_ e: NftExpression) {
        switch e {
        case .meta(let k, let r): add(UInt8(1)); add(k.rawValue); add(r.rawValue)
        case .metaSet(let k, let r): add(UInt8(2)); add(k.rawValue); add(r.rawValue)
        case .payload(let b, let o, let l, let r): add(UInt8(3)); add(b.rawValue); add(o); add(l); add(r.rawValue)
        case .payloadSet(let b, let o, let l, let r, let ct, let co):
            add(UInt8(4)); add(b.rawValue); add(o); add(l); add(r.rawValue); add(ct); add(co)
        case .exthdr(let x, let r): add(UInt8(5)); add(x.type); add(x.offset); add(x.length); add(x.presence); add(r.rawValue)
        case .cmp(let op, let r, let d): add(UInt8(6)); add(op.rawValue); add(r.rawValue); add(d)
        case .bitwise(let s, let d, let l, let m, let x): add(UInt8(7)); add(s.rawValue); add(d.rawValue); add(l); add(m); add(x)
        case .range(let op, let r, let f, let t): add(UInt8(8)); add(op.rawValue); add(r.rawValue); add(f); add(t)
        case .lookup(let s, let r, let i): add(UInt8(9)); add(s); add(r.rawValue); add(i)
        case .mapLookup(let s, let r, let d): add(UInt8(10)); add(s); add(r.rawValue); add(d.rawValue)
        case .objrefMap(let s, let r): add(UInt8(11)); add(s); add(r.rawValue)
        case .objref(let t, let n): add(UInt8(12)); add(t.rawValue); add(n)
        case .counter: add(UInt8(13))
        case .limit(let l): add(UInt8(14)); add(l)
        case .log(let g, let p): add(UInt8(15)); add(UInt64(g)); add(p ?? "\u{0}")
        case .immediateVerdict(let v): add(UInt8(16)); add(v)
        case .immediateData(let r, let d): add(UInt8(17)); add(r.rawValue); add(d)
        case .unknown(let name): add(UInt8(18)); add(name)
        case .ct(let k, let r): add(UInt8(19)); add(k.rawValue); add(r.rawValue)
        }
    }

    package mutating func add(_ object: NftObject) {
        switch object {
        case .counter(let n): add(UInt8(1)); add(n)
        case .limit(let n, let l): add(UInt8(2)); add(n); add(l)
        }
    }

    package mutating func add(_ set: NftSet, includingName: Bool) {
        if includingName { add(set.name) }
        addDefinition(set)
        add(UInt64(set.elements.count))
        for e in set.elements { add(e) }
    }

    /// What a set is, without its name and elements: flags, key, data or object type.
    package mutating func addDefinition(_ set: NftSet) {
        add(set.flags.rawValue)
        add(UInt64(set.keyFields.count))
        for f in set.keyFields { add(f.id); add(f.length) }
        add(set.dataType.map { UInt64($0.id) << 32 | UInt64($0.length) } ?? UInt64.max)
        add(set.objectType?.rawValue ?? UInt32.max)
        add(set.elementCounters)
    }

    /// An element's key, data, comment and route comment (counter values excepted: state, not content).
    package mutating func add(_ e: NftSetElement) {
        add(e.key); add(e.keyEnd ?? [0xff, 0xfe]); add(e.objectName ?? "\u{0}")
        if let v = e.verdict { add(v) } else { add(UInt8(0)) }
        add(e.comment ?? "\u{0}")
        if let note = e.routeComment { add(UInt8(0xc0)); add(note) }
    }
}
