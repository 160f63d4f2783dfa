/// The packet marks and routing tables the tool owns for its redirects, with the priority of its
/// `ip rule`s. Slot *i* is mark `firstMark + i` and, for a next hop, table `firstTable + i`; a
/// VRF's rule looks up the VRF's own table. Everything in these ranges with the tool's routing
/// protocol number (`PolicyRouting.protocolNumber`) is the tool's: created, changed and removed by
/// it alone, and listed by `show`.
///
/// The defaults ("FS" = 0x4653 in the upper half) keep clear of the marks and tables that common
/// software uses (the main/local/default tables 253–255, the low table numbers people choose by
/// hand, the low mark bits of kube-proxy, Cilium and firewalld).
public struct RedirectRanges: Sendable, Hashable {
    public var firstMark: UInt32
    public var firstTable: UInt32
    /// Slots: how many marks (and tables) the tool may use.
    public var count: Int
    /// The priority (preference) of the tool's rules: before `main` (32766), after `local` (0).
    public var rulePriority: UInt32

    public static let defaultFirstMark: UInt32 = 0x4653_0000
    public static let defaultFirstTable: UInt32 = 0x4653_0000
    public static let defaultCount = 256
    public static let defaultRulePriority: UInt32 = 100

    public init(firstMark: UInt32 = Self.defaultFirstMark, firstTable: UInt32 = Self.defaultFirstTable,
                count: Int = Self.defaultCount, rulePriority: UInt32 = Self.defaultRulePriority) {
        self.firstMark = firstMark; self.firstTable = firstTable; self.count = count; self.rulePriority = rulePriority
    }

    public func mark(_ slot: Int) -> UInt32 { firstMark &+ UInt32(slot) }
    public func table(_ slot: Int) -> UInt32 { firstTable &+ UInt32(slot) }

    /// The slot of a mark in the range, or nil.
    public func slot(ofMark mark: UInt32) -> Int? {
        mark >= firstMark && UInt64(mark) < UInt64(firstMark) + UInt64(count) ? Int(mark - firstMark) : nil
    }

    /// The slot of a table in the range, or nil.
    public func slot(ofTable table: UInt32) -> Int? {
        table >= firstTable && UInt64(table) < UInt64(firstTable) + UInt64(count) ? Int(table - firstTable) : nil
    }

    /// Why the ranges cannot be used, or nil: an empty range, one that wraps past 2^32, tables
    /// that reach the kernel's reserved ones (0, 253–255).
    public var problem: String? {
        if count < 1 { return "the redirect ranges hold no slot" }
        if UInt64(firstMark) + UInt64(count) > 1 << 32 { return "the mark range passes 0xffffffff" }
        if UInt64(firstTable) + UInt64(count) > 1 << 32 { return "the table range passes 4294967295" }
        if firstTable == 0 || (firstTable <= 255 && UInt64(firstTable) + UInt64(count) > 253) {
            return "the table range includes a reserved table (0, 253 default, 254 main, 255 local)"
        }
        if firstMark == 0 { return "mark 0 is every unmarked packet's" }
        return nil
    }
}
