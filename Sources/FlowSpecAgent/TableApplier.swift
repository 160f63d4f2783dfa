import FlowSpecCompiler
import FlowSpecNetlink

/// What happened in the kernel, for the change log line.
public struct AppliedChange: Sendable, Hashable {
    /// Netlink messages sent (0 when the applier does not know).
    public var messages: Int
    public init(messages: Int = 0) { self.messages = messages }
}

/// Puts a table into the kernel. The agent owns one and calls it from one task at a time. An
/// applier that keeps the state of what it installed (`NetlinkApplier`) sends only the difference.
public protocol TableApplier: Sendable {
    func apply(_ table: NftTable) throws -> AppliedChange
    /// Sends a change of the table this applier installed last (`IncrementalTable.update`);
    /// throws, with nothing changed, when it cannot (the agent then applies the whole table).
    func apply(_ change: TableChange) throws -> AppliedChange
    /// Removes the tool's table (quietly when absent).
    func remove(table name: String) throws
}

/// Why an applier could not send a change.
public struct ApplierError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}

extension TableApplier {
    /// Appliers that only install whole tables.
    public func apply(_ change: TableChange) throws -> AppliedChange {
        throw ApplierError("this applier installs whole tables only")
    }
}

/// The real applier: one netlink connection in the current network namespace. It remembers the
/// state of the table it committed last (rules' handles per route) and sends only the difference
/// when that is cheaper (`DeltaPlan`); otherwise, or when anyone else changed the ruleset in the
/// meantime (the generation moved), or when a delta fails, it swaps the whole table atomically.
/// Either way the packet path sees the old table or the new one, never a mix.
public final class NetlinkApplier: TableApplier, @unchecked Sendable {
    // Used by the agent actor only, one call at a time, so the connection needs no lock.
    private let connection: NftConnection
    private var state: TableState?

    public init() throws {
        connection = try NftConnection()
    }

    public func apply(_ table: NftTable) throws -> AppliedChange {
        let (report, next, _) = try connection.install(ContentSetNames.apply(table), over: state)
        state = next
        return AppliedChange(messages: report.messages)
    }

    /// Fails when no state of the installed table is known, when the ruleset changed since, or
    /// when the kernel refuses the change; the state is then left as it was (nothing changed).
    public func apply(_ change: TableChange) throws -> AppliedChange {
        guard state != nil else { throw ApplierError("no state of the installed table") }
        let report = try connection.apply(change, over: &state!)
        return AppliedChange(messages: report.messages)
    }

    public func remove(table name: String) throws {
        state = nil
        try connection.deleteTable(name: name, family: .inet)
    }
}
