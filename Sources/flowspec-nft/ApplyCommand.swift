import ArgumentParser
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
        let pipeline = try Pipeline(input: try input.read(), options: table)
        let prepared = seconds(since: start)
        let report: ApplyReport
        do {
            report = try NftConnection().apply(pipeline.compiled.table)
        } catch {
            throw CLIError("nothing changed: \(error)")
        }
        let total = seconds(since: start)
        print("routes read \(pipeline.read.count), installed \(pipeline.installedCount), rejected \(pipeline.rejectedRouteCount)" +
              (pipeline.rejected.count > pipeline.rejectedRouteCount ? ", unreadable input items \(pipeline.rejected.count - pipeline.rejectedRouteCount)" : ""))
        print("table inet \(table.table): \(pipeline.compiled.table.ruleCount) rules, \(pipeline.compiled.table.sets.count) sets, committed in \(format(total)) s (read+compile \(format(prepared)) s, netlink build \(format(report.buildTime)) s, kernel \(format(report.kernelTime)) s)")
        for e in pipeline.rejected { print("  rejected \(e.position): \(e.reason)") }
        for n in pipeline.compiled.notes { print("  note: \(n)") }
        if strict && !pipeline.rejected.isEmpty { throw ExitCode(2) }
    }
}

func format(_ s: Double) -> String {
    let ms = (s * 1000).rounded() / 1000
    return "\(ms)"
}

func format(_ d: Duration) -> String {
    format(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
}
