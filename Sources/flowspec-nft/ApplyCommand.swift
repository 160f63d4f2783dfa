import ArgumentParser
import FlowSpecAgent
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecNetlink
import Foundation

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile routes and swap them into the kernel atomically (this network namespace).",
        discussion: """
        Replaces the tool's own table in one netlink batch: the packet path sees the old table or \
        the new one, never a mix. Invalid routes and routes the kernel cannot express are rejected \
        alone, with their reasons; the others are installed. Needs CAP_NET_ADMIN.

        When the previous apply left the table's state (rule handles, set elements; in --state-dir) \
        and nothing changed the ruleset since (same generation), only the difference is sent, \
        still in one atomic batch: set elements of removed or changed routes deleted and new ones \
        added (merged rules, the default), rules of removed or changed routes deleted by handle \
        and new ones inserted at their place. A large difference, a table of another shape, or an unknown or \
        stale state gives a full replace (docs/benchmarks.md explains the threshold); --full \
        forces it.

        Exit status: 0 when the table was committed (with --strict: and no route was rejected); \
        1 when nothing changed (unreadable input, kernel error, missing privilege); 2 with \
        --strict when the table was committed but routes were rejected.
        """)

    @OptionGroup var input: InputOptions
    @OptionGroup var table: TableOptions

    @Flag(help: "Exit with status 2 if any route was rejected (the table is still committed).")
    var strict = false

    @Flag(help: "Always replace the whole table (no delta update).")
    var full = false

    @Option(help: "Directory for the committed table's state (used for delta updates).")
    var stateDir: String = "/run/flowspec-nft"

    func run() throws {
        let start = ContinuousClock.now
        // The routes read are only needed for the summary printed at the end: the prepared table
        // goes out of scope before the netlink batch is built (a million routes' batch needs that
        // memory), leaving the compiled table, renamed in place.
        let compiled: NftTable
        let summary: Summary
        do {
            var prepared = PreparedTable(input: try input.read(), order: table.routeOrder, scope: try table.routeScope(),
                                         options: try table.compileOptions())
            ContentSetNames.apply(to: &prepared.compiled.table)
            compiled = prepared.compiled.table
            summary = Summary(prepared)
        }
        let ruleCount = compiled.ruleCount, setCount = compiled.sets.count
        let preparedTime = seconds(since: start)
        let store = StateStore(directory: stateDir, table: table.table)
        let report: ApplyReport
        let how: String
        do {
            let connection = try NftConnection()
            let state = full ? nil : store.load()
            store.remove()
            // The last use of the table: on a full replace its rules are released as they are encoded.
            let (r, next, method) = try connection.install(consume compiled, over: state, releasingRules: true)
            report = r
            how = full ? "full replace" : "\(method)"
            if let next { store.save(next) }
        } catch {
            throw CLIError("nothing changed: \(error)")
        }
        let total = seconds(since: start)
        print("routes read \(summary.read), installed \(summary.installed), rejected \(summary.rejectedRoutes)" +
              (summary.rejected.count > summary.rejectedRoutes ? ", unreadable input items \(summary.rejected.count - summary.rejectedRoutes)" : ""))
        print("table inet \(table.table): \(ruleCount) rules, \(setCount) sets, committed in \(format(total)) s by \(how) (read+compile \(format(preparedTime)) s, netlink build \(format(report.buildTime)) s, kernel \(format(report.kernelTime)) s)")
        if summary.outOfScope > 0 {
            print("  \(summary.outOfScope) routes left out: their route targets are not this switch's")
        }
        for e in summary.rejected { print("  rejected \(e.position): \(e.reason)") }
        for n in summary.notes { print("  note: \(n)") }
        if strict && !summary.rejected.isEmpty { throw ExitCode(2) }
    }

    /// What `apply` reports about the routes, kept when the routes themselves are freed.
    struct Summary {
        var read: Int
        var installed: Int
        var rejectedRoutes: Int
        var rejected: [ReadError]
        var notes: [String]
        var outOfScope: Int

        init(_ p: PreparedTable) {
            read = p.read.count; installed = p.installedCount; rejectedRoutes = p.rejectedRouteCount
            rejected = p.rejected; notes = p.notes; outOfScope = p.outOfScope.count
        }
    }
}

/// Where `apply` keeps the state of the table it committed: one file per network namespace
/// (by the inode of /proc/self/ns/net) and table. Best effort: a state that cannot be written
/// only costs the next run a full replace.
struct StateStore {
    let path: String

    init(directory: String, table: String) {
        var st = stat()
        let ns = stat("/proc/self/ns/net", &st) == 0 ? "\(st.st_dev)-\(st.st_ino)" : "unknown"
        path = "\(directory)/\(ns)-\(table).state"
    }

    /// The state saved in this namespace, if any (`install` checks that nothing was committed since).
    func load() -> TableState? {
        FileManager.default.contents(atPath: path).flatMap { TableState(serialized: [UInt8]($0)) }
    }

    func save(_ state: TableState) {
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        try? Data(state.serialized()).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

func format(_ s: Double) -> String {
    let ms = (s * 1000).rounded() / 1000
    return "\(ms)"
}

func format(_ d: Duration) -> String {
    format(d.seconds)
}

