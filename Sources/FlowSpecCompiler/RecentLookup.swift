/// Numbers keys (0, 1, … in the order first seen), with the last few keys looked up compared
/// first, by equality, before the dictionary is asked.
///
/// The merge planner numbers every unit's tail and shape. Hashing one — arrays of expressions,
/// each byte of their data combined on its own — cost ~5,000 instructions, and consecutive
/// units mostly repeat one of a few shapes and tails: an equality test that finds the key among
/// the recent ones costs a tenth of that, one that fails stops at the first difference.
struct RecentLookup<Key: Hashable> {
    private(set) var ids: [Key: Int] = [:]
    private var recent: [(key: Key, id: Int)] = []
    static var recentCount: Int { 8 }

    var count: Int { ids.count }

    /// The number of `key`, given the next one when it is new.
    mutating func id(of key: Key) -> Int {
        if let id = find(key) { return id }
        let id = ids.count
        ids[key] = id
        remember(key, id)
        return id
    }

    /// The number of `key`, nil when it has none.
    mutating func find(_ key: Key) -> Int? {
        for i in recent.indices.reversed() where recent[i].key == key {
            let id = recent[i].id
            if i != recent.count - 1 { recent.append(recent.remove(at: i)) }
            return id
        }
        guard let id = ids[key] else { return nil }
        remember(key, id)
        return id
    }

    /// Gives `key` the number `id` (a snapshot's planner read back).
    mutating func set(_ key: Key, _ id: Int) {
        ids[key] = id
        recent.removeAll()
    }

    private mutating func remember(_ key: Key, _ id: Int) {
        if recent.count == Self.recentCount { recent.removeFirst() }
        recent.append((key, id))
    }
}
