import ArgumentParser
import FlowSpecAgent
import FlowSpecKeeper
import FlowSpecCompiler
import FlowSpecNetlink

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the nft text of the table that `apply` would install.",
        discussion: """
        The text loads with `nft -f` and replaces the table atomically (it starts with \
        `table inet NAME {}` and `delete table inet NAME`). Rejected routes are listed on standard \
        error, as comments.

        Exit status: 0 every route compiled; 1 the input is unreadable; 3 the table was printed \
        but input items or routes were rejected (listed).
        """)

    @OptionGroup var input: InputOptions
    @OptionGroup var table: TableOptions

    func run() throws {
        let p = PreparedTable(input: try input.read(), order: table.routeOrder, scope: table.routeScope, options: table.compileOptions)
        for e in p.rejected { printError("# \(e.isRoute ? "rejected" : "unreadable") \(e)") }
        printError("# \(p.compiled.figures)")
        for w in TableAdvice.warnings(p.compiled.table) { printError("# warning: \(w)") }
        print(NftPrinter.render(ContentSetNames.apply(p.compiled.table), replace: true), terminator: "")
        if !p.rejected.isEmpty { throw ExitCode(3) }
    }
}
