/// What puts a compiled table into the kernel, as `TableKeeper` uses it: replace a table whole,
/// send a change over the state of the installed one, delete it. FlowSpecNetlink's
/// `NftConnection` is the real one (one netlink batch each); tests give the keeper their own.
public protocol TableWriter: AnyObject {
    /// The ruleset generation now: a state taken at another one no longer describes the kernel.
    func generation() throws -> UInt32
    /// The stamp of the table in the kernel (`TableState.stamp`), nil when it is absent or has
    /// none: a state with another stamp does not describe it.
    func stamp(ofTable name: String, family: NftFamily) throws -> UInt64?
    /// Replaces table `table.name` whole, atomically, and returns what it cost and the table's
    /// new state (nil when the table cannot be followed change by change). `table` carries
    /// content set names (`ContentSetNames`); `shape`, when given, is `TableShape(table)`. The
    /// writer owns the table: a large one's rules may be freed as they are encoded, so a caller
    /// that keeps a copy pays for it.
    func replace(_ table: consuming NftTable, shape: TableShape?) throws -> (ApplyReport, TableState?)
    /// Sends `change` in one batch made against `state`, which becomes the new state; throws,
    /// with nothing committed and `state` as it was, when the state is stale or the kernel refuses.
    func apply(_ change: TableChange, over state: inout TableState) throws -> ApplyReport
    /// Whether the table exists (empty or not).
    func tableExists(name: String, family: NftFamily) throws -> Bool
    /// Removes the table (quietly when absent).
    func deleteTable(name: String, family: NftFamily) throws
    /// Whether what it is given reaches the kernel. A checking writer (`NftConnection` with
    /// `checkOnly`) has every batch validated by the kernel and then dropped: nothing commits.
    var commits: Bool { get }
    /// The table as the kernel holds it now, read back; nil when absent or when the writer
    /// cannot read (`TableKeeper.check` lists what would change against it).
    func installedTable(name: String, family: NftFamily) throws -> NftTable?
}

extension TableWriter {
    public var commits: Bool { true }
    public func installedTable(name: String, family: NftFamily) throws -> NftTable? { nil }
}
