import ArgumentParser
import FlowSpec
import FlowSpecCompiler
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say what `apply` would change, checked by the kernel and committed nowhere (like nft -c).",
        discussion: """
        Takes apply's options. Compiles the routes, compares them with the table the kernel holds \
        and lists the routes that would be added (+), removed (-) and changed (~: the same match, \
        other actions); then plans the change as apply would (in place from the saved state, or \
        a full replace) and sends its batch to the kernel without the batch's end, so that the \
        kernel validates every message and then drops them all, as `nft -c` does. Neither the \
        kernel's ruleset nor the saved state (--state-dir) changes.

        Exit status: 0 apply would commit this and reject nothing; 1 apply would change nothing \
        (unreadable input, a guard or the kernel refusing, missing privilege); 2 --strict and \
        items were rejected; 3 apply would commit, but some items or routes would be rejected.
        """)

    @OptionGroup var input: InputOptions
    @OptionGroup var table: TableOptions

    @Flag(help: "All or nothing, as apply --strict (exit status 2 when anything would be rejected).")
    var strict = false

    @Flag(help: "Allow replacing a table of routes by an empty one, as apply --allow-empty.")
    var allowEmpty = false

    @OptionGroup var withdrawal: WithdrawalGuard

    @Flag(help: "Plan a whole replace, as apply --full.")
    var full = false

    @Option(help: "Directory of the committed table's state (read, never written).")
    var stateDir: String = "/run/flowspec-nft"

    func run() throws {
        let guards = InstallGuards(allOrNothing: strict, allowEmpty: allowEmpty, maxWithdrawal: withdrawal.maxWithdrawal,
                                   acceptUnusableInput: allowEmpty)
        let configuration = KeeperConfiguration(order: table.routeOrder, scope: table.routeScope,
                                                options: table.compileOptions, guards: guards)
        let connection: NftConnection
        do { connection = try NftConnection() } catch { throw CLIError("nothing checked: \(error)") }
        connection.checkOnly = true
        let keeper = TableKeeper(configuration: configuration, writer: connection,
                                 store: StateStore(directory: stateDir, table: table.table, readOnly: true), trustStored: !full,
                                 policyRoutes: try table.redirect.policyRoutes(checking: true))
        let report = try Apply.refusals(table: table, nothing: "apply would change nothing") { try keeper.check(try input.read()) }
        print(Self.text(report, table: table.table))
        if !report.outcome.rejected.isEmpty { throw ExitCode(3) }
    }

    static func text(_ report: CheckReport, table: String) -> String {
        let d = report.diff, o = report.outcome
        var lines = ["routes read \(o.read), would be installed \(o.installed), rejected \(o.rejectedRoutes)"
                     + (o.rejected.count > o.rejectedRoutes ? ", unreadable input items \(o.rejected.count - o.rejectedRoutes)" : "")]
        func row(_ mark: String, _ e: InstalledRoutes.Entry, was: InstalledRoutes.Entry? = nil) -> String {
            "  \(mark) \(e.route?.description ?? e.identity)  → \(e.actions.joined(separator: ", "))"
                + (was.map { "  (was \($0.actions.joined(separator: ", ")))" } ?? "")
        }
        lines.append("table inet \(table): \(d.added.count) routes added, \(d.removed.count) removed, \(d.changed.count) changed, \(d.kept) kept"
                     + (d.policy.map { "; chain policy \($0.before) → \($0.after)" } ?? ""))
        lines += d.added.map { row("+", $0) } + d.removed.map { row("-", $0) } + d.changed.map { row("~", $0.after, was: $0.before) }
        let size = o.figures.map { "\($0.form.rawValue) form, \($0.rules) rules, \($0.sets) sets, \($0.chains) chains; " } ?? ""
        if case .unchanged = o.method {
            lines.append("apply would send nothing: the kernel holds this table already (\(size)nothing committed)")
        } else {
            lines.append("apply would commit it by \(o.method): one batch of \(o.report.messages) messages, \(o.report.bytes) bytes, "
                         + "which the kernel validated (\(size)nothing committed)")
        }
        if o.outOfScope > 0 { lines.append("  \(o.outOfScope) routes left out: their route targets are not this switch's") }
        for e in o.rejected { lines.append("  \(e.isRoute ? "rejected" : "unreadable") \(e)") }
        for n in o.notes { lines.append("  note: \(n)") }
        for w in o.warnings { lines.append("  warning: \(w)") }
        return lines.joined(separator: "\n")
    }
}
