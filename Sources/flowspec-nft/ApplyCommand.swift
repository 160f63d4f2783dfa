import ArgumentParser
import FlowSpec
import FlowSpecAgent
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation
import Glibc

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

        Redirects (docs/lowering.md, "Redirect"): a redirect-to-IP route marks its flow, and the \
        tool makes an `ip rule fwmark M lookup T` and, in its table T, routes via the next hop as \
        the kernel reaches it now; --vrf RT=DEVICE sends a redirect route target into a VRF. The \
        rules and routes are made before the table that marks, and removed after the table that \
        stopped marking; the mark needs --hook prerouting (or ingress).

        Guards: an input whose every item was rejected (a wrong --from or --family?) is refused \
        (--allow-empty installs it as an empty table); with --strict nothing is committed when \
        any input item or route is rejected; a table of routes is not replaced by an empty one without --allow-empty; with \
        --max-withdraw PERCENT, an apply that would take out more than that share of the \
        installed routes is refused. A refused apply leaves the kernel and the saved state as \
        they were.

        Exit status: 0 the table was committed and nothing was rejected; 1 nothing changed \
        (unreadable input, a guard refused, kernel error, missing privilege); 2 nothing changed \
        because --strict and items were rejected (listed); 3 the table was committed but some \
        input items or routes were rejected (listed).
        """)

    @OptionGroup var input: InputOptions
    @OptionGroup var table: TableOptions

    @Flag(help: "All or nothing: commit nothing when any input item or route is rejected (exit status 2).")
    var strict = false

    @Flag(help: "Allow replacing a table of routes by an empty one (refused otherwise: an empty or all-invalid input is more often a fault than a wish).")
    var allowEmpty = false

    @OptionGroup var withdrawal: WithdrawalGuard

    @Flag(help: "Always replace the whole table (no delta update).")
    var full = false

    @Option(help: "Directory for the committed table's state (used for delta updates).")
    var stateDir: String = "/run/flowspec-nft"

    @Option(help: ArgumentHelp("Write this run's metrics there, in the Prometheus text format, for node_exporter's textfile collector (a name ending in .prom in its --collector.textfile.directory): whether it committed, how, how long it took, the table's size; written also when the run fails. docs/metrics.md.", valueName: "file"))
    var metricsFile: String?

    func run() throws {
        guard let metricsFile else { return try install() }
        let metrics = ProcessMetrics()
        metrics.bootstrap()
        var status: Int32 = 0
        defer {
            var out = PromText()
            out.family("flowspec_apply_exit_status", "gauge", "The exit status of the last apply (0 committed, 1 nothing changed, 2 --strict refused, 3 committed with rejections).")
            out.sample("flowspec_apply_exit_status", [("table", table.table)], Double(status))
            out.family("flowspec_apply_last_run_timestamp_seconds", "gauge", "When the last apply ran (Unix time).")
            out.sample("flowspec_apply_last_run_timestamp_seconds", [("table", table.table)], Date().timeIntervalSince1970.rounded())
            let text = out.text
            metrics.add { text }
            do { try metrics.write(to: metricsFile) } catch { printError("\(error)") }
        }
        do {
            try install()
        } catch let e as ExitCode {
            status = e.rawValue
            throw e
        } catch {
            status = 1
            throw error
        }
    }

    func install() throws {
        let start = ContinuousClock.now
        let guards = InstallGuards(allOrNothing: strict, allowEmpty: allowEmpty, maxWithdrawal: withdrawal.maxWithdrawal,
                                   acceptUnusableInput: allowEmpty)
        let configuration = KeeperConfiguration(order: table.routeOrder, scope: table.routeScope,
                                                options: table.compileOptions, guards: guards)
        let connection: NftConnection
        do { connection = try NftConnection() } catch { throw CLIError("nothing changed: \(error)") }
        // The previous run's state is read on other CPUs while the input is read.
        let keeper = TableKeeper(configuration: configuration, writer: connection,
                                 store: StateStore(directory: stateDir, table: table.table), trustStored: !full,
                                 policyRoutes: try table.redirect.policyRoutes())
        let outcome = try Self.refusals(table: table) { try keeper.install(try input.read()) }
        TableMetrics.recordCommit(kind: TableMetrics.kind(outcome.method), duration: ContinuousClock.now - start)
        TableMetrics.recordRoutes(installed: outcome.installed, rejected: outcome.rejected, outOfScope: outcome.outOfScope)
        if let figures = outcome.figures { TableMetrics.recordTable(figures) }
        report(outcome, start: start)
        for d in table.devices where if_nametoindex(d) == 0 {
            print("  warning: device \(d) does not exist (yet): the kernel hooks the table to it when it appears")
        }
        if !outcome.rejected.isEmpty { throw ExitCode(3) }
    }

    /// `body`'s result; a refusal (a guard's, the kernel's) printed as nothing changed, with
    /// exit status 2 for `--strict`, 1 otherwise.
    static func refusals<T>(table: TableOptions, nothing: String = "nothing changed", _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CLIError {
            throw error
        } catch KeeperRefusal.rejected(let errors) {
            for e in errors { print("  \(e.isRoute ? "rejected" : "unreadable") \(e)") }
            printError("\(nothing): \(KeeperRefusal.rejected(errors))")
            throw ExitCode(2)
        } catch KeeperRefusal.unusable(let errors) {
            for e in errors { print("  unreadable \(e)") }
            throw CLIError("\(nothing): \(KeeperRefusal.unusable(errors))")
        } catch let error as KeeperRefusal {
            throw CLIError("\(nothing): \(error)")
        } catch let error as NetlinkError {
            if table.offload, let why = error.offloadRefusal(devices: table.devices) { throw CLIError("\(nothing): \(why)") }
            throw CLIError("\(nothing): \(error)")
        }
    }

    func report(_ outcome: KeeperOutcome, start: ContinuousClock.Instant) {
        let total = ContinuousClock.now - start
        print("routes read \(outcome.read), installed \(outcome.installed), rejected \(outcome.rejectedRoutes)" +
              (outcome.rejected.count > outcome.rejectedRoutes ? ", unreadable input items \(outcome.rejected.count - outcome.rejectedRoutes)" : ""))
        let size = outcome.figures.map { "\($0.form.rawValue) form, \($0.rules) rules, \($0.sets) sets, \($0.chains) chains, a packet meets at most \($0.worstCaseRules) rules" } ?? ""
        let report = outcome.report
        let times = "read+compile \(format(outcome.prepareTime)) s, netlink build \(format(report.buildTime)) s, kernel \(format(report.kernelTime)) s"
        if outcome.method == .unchanged {
            print("table inet \(table.table): \(size.isEmpty ? "" : size + ", ")no change, the kernel holds this table already (\(format(total)) s; \(times))")
        } else {
            print("table inet \(table.table): \(size.isEmpty ? "" : size + ", ")committed in \(format(total)) s by \(outcome.method) (\(times))")
        }
        if outcome.outOfScope > 0 {
            print("  \(outcome.outOfScope) routes left out: their route targets are not this switch's")
        }
        for e in outcome.rejected { print("  \(e.isRoute ? "rejected" : "unreadable") \(e)") }
        for n in outcome.notes { print("  note: \(n)") }
        for w in outcome.warnings { print("  warning: \(w)") }
    }
}

func format(_ s: Double) -> String { Duration.secondsText(s) }

func format(_ d: Duration) -> String { d.secondsText }

