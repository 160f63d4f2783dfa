import ArgumentParser
import FlowSpec
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
        still in one atomic batch. Merged tables (the default) change in place: the routes whose \
        content changed since the previous apply are the only ones compiled, and their set \
        elements (or a rule) go out and in; the previous apply's compiled table is kept next to \
        the state for that (up to 300,000 routes). Otherwise the whole file is compiled and the \
        difference sent: set elements of removed or changed routes deleted and new ones added, \
        rules of removed or changed routes deleted by handle and new ones inserted at their place. \
        A large difference, a table of another shape, or an unknown or stale state gives a full \
        replace (docs/benchmarks.md explains the threshold); --full forces it.

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

    /// The largest route set whose `IncrementalTable` a full apply keeps for the next run: the
    /// table's planner stays in memory until it is written, which a million-route apply cannot
    /// afford within its memory budget (docs/benchmarks.md).
    static let snapshotMaxRoutes = 300_000

    func run() throws {
        let start = ContinuousClock.now
        let options = try table.compileOptions(), order = table.routeOrder, scope = try table.routeScope()
        let store = StateStore(directory: stateDir, table: table.table)
        // The previous run's state (and merged, its table) are read and restored on other CPUs
        // while the input is read.
        let stateLoading = full ? nil : Background { store.load() }
        let previous = !full && options.merge ? Background { Self.previous(store, options: options, order: order) } : nil
        var read: ReadResult? = try input.read()
        if let stateLoading, let previous,
           let done = inPlace(read!, stateLoading, previous, scope: scope, store: store, start: start) {
            try report(done.summary, rules: nil, sets: nil, how: done.how, prepared: done.prepared, apply: done.report,
                       start: start)
            return
        }
        // The routes read are only needed for the summary printed at the end: the prepared table
        // goes out of scope before the netlink batch is built (a million routes' batch needs that
        // memory), leaving the compiled table, renamed in place.
        let compiled: NftTable
        let summary: Summary
        var incremental: IncrementalTable?
        do {
            var prepared = PreparedTable(input: read.take()!, order: order, scope: scope, options: options,
                                         keysUpTo: Self.snapshotMaxRoutes, build: options.merge ? { routes, keys in
                let result: CompileResult
                (result, incremental) = IncrementalTable.buildForSnapshot(routes, keys: keys, order: order, options: options)
                return result
            } : nil)
            ContentSetNames.apply(to: &prepared.compiled.table)
            compiled = prepared.compiled.table
            summary = Summary(prepared)
        }
        let ruleCount = compiled.ruleCount, setCount = compiled.sets.count
        let preparedTime = seconds(since: start)
        let applyReport: ApplyReport
        let how: String
        var snapshotWritten: Background<Bool>?
        do {
            let connection = try NftConnection()
            // A change in place that was not made left the state as it was read.
            let state = stateLoading?.wait()
            store.remove()
            // The snapshot is serialized and written on another CPU while the batch is built and
            // committed; the state, written last, is what makes a later run trust it.
            snapshotWritten = incremental.map { table in Background { store.saveSnapshot(table.serialized()) } }
            incremental = nil
            // The last use of the table: on a full replace of a large one its rules are released
            // as they are encoded.
            let (r, next, method) = try connection.install(consume compiled, over: state, releasingRules: true)
            applyReport = r
            how = full ? "full replace" : "\(method)"
            let snapshotSaved = snapshotWritten?.wait() ?? false
            if let next { store.save(next) } else if snapshotSaved { store.remove() }
        } catch {
            // No state: a snapshot alone is never trusted, but it is not left behind half written.
            if snapshotWritten?.wait() == true { store.remove() }
            throw CLIError("nothing changed: \(error)")
        }
        try report(summary, rules: ruleCount, sets: setCount, how: how, prepared: preparedTime, apply: applyReport, start: start)
    }

    func report(_ summary: Summary, rules: Int?, sets: Int?, how: String, prepared: Double, apply: ApplyReport,
                start: ContinuousClock.Instant) throws {
        let total = seconds(since: start)
        print("routes read \(summary.read), installed \(summary.installed), rejected \(summary.rejectedRoutes)" +
              (summary.rejected.count > summary.rejectedRoutes ? ", unreadable input items \(summary.rejected.count - summary.rejectedRoutes)" : ""))
        let size = [rules.map { "\($0) rules" }, sets.map { "\($0) sets" }].compactMap { $0 }.joined(separator: ", ")
        print("table inet \(table.table): \(size.isEmpty ? "" : size + ", ")committed in \(format(total)) s by \(how) (read+compile \(format(prepared)) s, netlink build \(format(apply.buildTime)) s, kernel \(format(apply.kernelTime)) s)")
        if summary.outOfScope > 0 {
            print("  \(summary.outOfScope) routes left out: their route targets are not this switch's")
        }
        for e in summary.rejected { print("  rejected \(e.position): \(e.reason)") }
        for n in summary.notes { print("  note: \(n)") }
        if strict && !summary.rejected.isEmpty { throw ExitCode(2) }
    }

    /// What the previous apply left for a change in place, besides the state of the table it
    /// committed: its `IncrementalTable`, restored from the snapshot with the journal replayed.
    struct Previous {
        var incremental: IncrementalTable
        var snapshotBytes: Int
        var journalBytes: Int
    }

    /// Nil when there is no snapshot, or it is of other options or another order.
    static func previous(_ store: StateStore, options: CompileOptions, order: RouteOrder) -> Previous? {
        guard let bytes = store.loadSnapshot(),
              let incremental = IncrementalTable.restore(bytes, options: options, order: order) else { return nil }
        let journal = store.loadJournal()
        guard incremental.replay(journal) else { return nil }
        incremental.prepareForUpdates()
        return Previous(incremental: incremental, snapshotBytes: bytes.count, journalBytes: journal.count)
    }

    /// The one-shot incremental path: with the previous run's table state and `IncrementalTable`
    /// snapshot, and nothing committed to the ruleset since, only the routes whose content
    /// changed are compiled and placed, and their change is sent in one batch. Nil when that
    /// cannot be done (no or stale state, other options, a change the table cannot make in
    /// place, a change of more than a quarter of the routes, the kernel refusing it); then
    /// nothing was changed and the whole table is compiled.
    func inPlace(_ input: ReadResult, _ stateLoading: Background<TableState?>, _ previousLoading: Background<Previous?>,
                 scope: RouteScope, store: StateStore, start: ContinuousClock.Instant)
        -> (summary: Summary, how: String, prepared: Double, report: ApplyReport)? {
        // The routes as `PreparedTable` takes them: current, in scope, valid.
        let admitted = AdmittedRoutes(input, scope: scope)
        let valid = admitted.valid
        // Both waited for: the files they read may be replaced once this returns.
        let loaded = stateLoading.wait(), restored = previousLoading.wait()
        guard var state = loaded, let previous = restored else { return nil }
        let incremental = previous.incremental
        var summary = Summary(read: admitted.read.count, installed: 0, rejectedRoutes: 0, rejected: input.errors + admitted.invalid,
                              notes: [], outOfScope: admitted.outOfScope.count)
        guard let connection = try? NftConnection(), (try? connection.generation()) == state.generation,
              let update = incremental.update(to: valid) else { return nil }
        let change = update.change
        let changed = change.addedElementCount + change.removedElementCount + change.insertedRules.count + change.deletedRules.count
        guard IncrementalTable.worthChangingInPlace(changed, of: valid.count) else { return nil }
        let prepared = seconds(since: start)
        // Without the state file no later run trusts the snapshot and journal: it is written
        // again only once they describe the table committed.
        store.removeState()
        var report = ApplyReport.nothing(generation: state.generation)
        if !change.isEmpty {
            do {
                report = try connection.apply(change, over: &state)
            } catch {
                store.save(state)
                return nil
            }
        }
        // A record in the journal; the whole snapshot again once the journal is a quarter of it.
        let record = IncrementalTable.journalRecord(removed: update.removed, added: update.added)
        if previous.journalBytes + record.count > previous.snapshotBytes / 4 {
            // A state is only ever saved next to the snapshot it was made with.
            if store.saveSnapshot(incremental.serialized()) { store.save(state) }
        } else {
            store.save(state, journal: record)
        }
        // Reasons and notes by the routes' positions in this input.
        var position: [String: String] = [:]
        if !incremental.refusals.isEmpty || !incremental.notes.isEmpty {
            for (r, k) in zip(valid, admitted.validSource) { position[r.identity] = admitted.read[k].position }
        }
        for (id, reason) in incremental.refusals.sorted(by: { $0.key < $1.key }) {
            summary.rejected.append(ReadError(position: position[id] ?? id, reason: reason))
        }
        for (id, notes) in incremental.notes.sorted(by: { $0.key < $1.key }) {
            for n in notes { summary.notes.append("\(position[id] ?? id): \(n)") }
        }
        summary.rejectedRoutes = admitted.invalid.count + incremental.refusals.count
        summary.installed = incremental.installedRouteCount
        let how = "delta in place: \(change.removedElementCount) set elements out, \(change.addedElementCount) in, \(change.deletedRules.count) rules out, \(change.insertedRules.count) in"
        return (summary, how, prepared, report)
    }

    /// What `apply` reports about the routes, kept when the routes themselves are freed.
    struct Summary {
        var read: Int
        var installed: Int
        var rejectedRoutes: Int
        var rejected: [ReadError]
        var notes: [String]
        var outOfScope: Int

        init(read: Int, installed: Int, rejectedRoutes: Int, rejected: [ReadError], notes: [String], outOfScope: Int) {
            self.read = read; self.installed = installed; self.rejectedRoutes = rejectedRoutes
            self.rejected = rejected; self.notes = notes; self.outOfScope = outOfScope
        }

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
        Self.bytes(atPath: path).flatMap { TableState(serialized: $0) }
    }

    /// The `IncrementalTable` snapshot the state was saved with, if any, and the journal of the
    /// updates made since (`IncrementalTable.replay`).
    func loadSnapshot() -> [UInt8]? {
        Self.bytes(atPath: snapshotPath)
    }

    func loadJournal() -> [UInt8] {
        Self.bytes(atPath: journalPath) ?? []
    }

    /// A file's bytes, read straight into the array (through `Data` they were copied once more:
    /// 12 ms for a 26 MB snapshot).
    static func bytes(atPath path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int(info.st_size)
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            while count < size {
                let n = read(fd, buffer.baseAddress! + count, size - count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failed = n < 0; break }
                count += n
            }
        }
        return failed || bytes.count != size ? nil : bytes
    }

    var snapshotPath: String { path + ".incremental" }
    var journalPath: String { path + ".journal" }

    /// Saves the state and, when given, the snapshot of the table's `IncrementalTable` with an
    /// empty journal, or one more journal record. The state goes last: a state is only ever
    /// found next to the snapshot and journal of the table it describes, or none.
    func save(_ state: TableState, journal record: [UInt8]? = nil) {
        makeDirectory()
        if let record {
            guard let handle = FileHandle(forWritingAtPath: journalPath) ?? {
                FileManager.default.createFile(atPath: journalPath, contents: nil) ? FileHandle(forWritingAtPath: journalPath) : nil
            }() else { return }
            defer { try? handle.close() }
            guard (try? handle.seekToEnd()) != nil, (try? handle.write(contentsOf: Data(record))) != nil else { return }
        }
        try? Data(state.serialized()).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Writes `snapshot` as the table's snapshot, with an empty journal (no state: `save` comes
    /// after). False when it could not be written.
    func saveSnapshot(_ snapshot: [UInt8]) -> Bool {
        makeDirectory()
        try? FileManager.default.removeItem(atPath: journalPath)
        return (try? Data(snapshot).write(to: URL(fileURLWithPath: snapshotPath), options: .atomic)) != nil
    }

    private func makeDirectory() {
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
    }

    /// Removes the state (so that no run trusts the snapshot and journal until it is saved again).
    func removeState() { try? FileManager.default.removeItem(atPath: path) }

    /// Removes the state, the snapshot and the journal.
    func remove() {
        removeState()
        try? FileManager.default.removeItem(atPath: journalPath)
        try? FileManager.default.removeItem(atPath: snapshotPath)
    }
}

func format(_ s: Double) -> String { Duration.secondsText(s) }

func format(_ d: Duration) -> String { d.secondsText }

