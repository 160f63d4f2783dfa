extension Dictionary {
    /// Makes the storage fit again once the dictionary holds fewer than an eighth of what it
    /// has room for (and room for more than 1,024): a dictionary keeps its capacity as entries
    /// go, so the tables of a daemon that held 100k routes would stay that large after they
    /// were withdrawn. The copy costs the entries left, at most an eighth of the removals that
    /// made it due.
    public mutating func shrinkIfSparse() {
        guard capacity > 1024, count < capacity / 8 else { return }
        self = Dictionary(minimumCapacity: count).merging(self) { a, _ in a }
    }
}
