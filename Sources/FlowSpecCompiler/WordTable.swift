/// A key that hashes itself to one well-mixed 64-bit word.
protocol WordHashable: Equatable {
    var word: UInt64 { get }
}

/// A hash table, insert and look up only, for keys that make their own word (`WordHashable`).
///
/// The merge planner files and looks up several boxes per route by small keys (a destination
/// block, a port); each key already folds to one word, but `Dictionary` seeds and runs SipHash
/// over that word on every access: 15% of the planner's samples in a 100k-route flood. Here a
/// key's slot is its word times a constant, high bits first (Fibonacci hashing), probed
/// linearly; entries live in insertion order in two arrays, the slots hold their indexes.
struct WordTable<Key: WordHashable, Value> {
    private var keys: [Key] = []
    private var values: [Value] = []
    /// Indexes into `keys`, -1 for an empty slot; a power of two long, at most half full.
    private var slots: [Int32] = []
    private var shift: UInt64 = 64

    init() {}

    var count: Int { keys.count }

    /// Makes room for `n` entries in all without growing.
    mutating func reserveCapacity(_ n: Int) {
        keys.reserveCapacity(n)
        values.reserveCapacity(n)
        if 2 * n > slots.count { rehash(atLeast: 2 * n) }
    }

    private func home(_ word: UInt64) -> Int {
        Int(truncatingIfNeeded: (word &* 0x9e37_79b9_7f4a_7c15) >> shift)
    }

    /// The index in `keys` of `key`, or the empty slot it would take.
    private func find(_ key: Key) -> (entry: Int?, slot: Int) {
        let mask = slots.count - 1
        var s = home(key.word)
        while true {
            let e = slots[s]
            if e < 0 { return (nil, s) }
            if keys[Int(e)] == key { return (Int(e), s) }
            s = (s + 1) & mask
        }
    }

    subscript(key: Key) -> Value? {
        guard !slots.isEmpty, let e = find(key).entry else { return nil }
        return values[e]
    }

    /// Sets the value of `key`; returns the one it replaced.
    @discardableResult
    mutating func updateValue(_ value: Value, forKey key: Key) -> Value? {
        let e = entry(for: key) { value }
        if e.inserted { return nil }
        let old = values[e.index]
        values[e.index] = value
        return old
    }

    subscript(key: Key, default value: @autoclosure () -> Value) -> Value {
        get { self[key] ?? value() }
        _modify {
            let e = entry(for: key, value)
            yield &values[e.index]
        }
    }

    /// The index of `key`'s entry, made with `value()` when there was none.
    private mutating func entry(for key: Key, _ value: () -> Value) -> (index: Int, inserted: Bool) {
        if 2 * (keys.count + 1) > slots.count { rehash(atLeast: 2 * (keys.count + 1)) }
        let (e, s) = find(key)
        if let e { return (e, false) }
        slots[s] = Int32(keys.count)
        keys.append(key)
        values.append(value())
        return (keys.count - 1, true)
    }

    private mutating func rehash(atLeast n: Int) {
        var size = max(slots.count, 8)
        while size < n { size *= 2 }
        shift = UInt64(64 - size.trailingZeroBitCount)
        slots = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for (i, k) in keys.enumerated() {
            var s = home(k.word)
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(i)
        }
    }
}
