import ArgumentParser
import FlowSpecAgent
import FlowSpecCompiler
import FlowSpecNetlink

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile routes and swap them into the kernel atomically (this network namespace).",
        discussion: """
        Replaces the tool's own table in one netlink batch: the packet path sees the old table or \
        the new one, never a mix. Invalid routes and routes the kernel cannot express are rejected \
        alone, with their reasons; the others are installed. Needs CAP_NET_ADMIN.

        Exit status: 0 when the table was committed (with --strict: and no route was rejected); \
        1 when nothing changed (unreadable input, kernel error, missing privilege); 2 with \
        --strict when the table was committed but routes were rejected.
        """)

    @OptionGroup var input: InputOptions
    @OptionGroup var table: TableOptions

    @Flag(help: "Exit with status 2 if any route was rejected (the table is still committed).")
    var strict = false

    func run() throws {
        let start = ContinuousClock.now
        let prepared = PreparedTable(input: try input.read(), order: table.routeOrder, scope: try table.routeScope(), options: try table.compileOptions())
        let preparedTime = seconds(since: start)
        let report: ApplyReport
        do {
            report = try NftConnection().apply(prepared.compiled.table)
        } catch {
            throw CLIError("nothing changed: \(error)")
        }
        let total = seconds(since: start)
        print("routes read \(prepared.read.count), installed \(prepared.installedCount), rejected \(prepared.rejectedRouteCount)" +
              (prepared.rejected.count > prepared.rejectedRouteCount ? ", unreadable input items \(prepared.rejected.count - prepared.rejectedRouteCount)" : ""))
        print("table inet \(table.table): \(prepared.compiled.table.ruleCount) rules, \(prepared.compiled.table.sets.count) sets, committed in \(format(total)) s (read+compile \(format(preparedTime)) s, netlink build \(format(report.buildTime)) s, kernel \(format(report.kernelTime)) s)")
        if !prepared.outOfScope.isEmpty {
            print("  \(prepared.outOfScope.count) routes left out: their route targets are not this switch's")
        }
        for e in prepared.rejected { print("  rejected \(e.position): \(e.reason)") }
        for n in prepared.notes { print("  note: \(n)") }
        if strict && !prepared.rejected.isEmpty { throw ExitCode(2) }
    }
}

func format(_ s: Double) -> String {
    let ms = (s * 1000).rounded() / 1000
    return "\(ms)"
}

func format(_ d: Duration) -> String {
    format(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
}
