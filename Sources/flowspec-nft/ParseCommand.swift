import ArgumentParser
import FlowSpecFormats

struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what the tool understood from an input, as canonical JSON.",
        discussion: """
        Prints one JSON object: `routes` holds every route read (canonical format, with its input \
        position; withdrawn ones marked), `errors` every rejected input item with its position and \
        reason.

        Exit status: 0 every input item was read; 1 the input as a whole is unreadable; 3 the \
        object was printed but some items were rejected (in `errors`).
        """)

    @OptionGroup var input: InputOptions

    func run() throws {
        let result = try input.read()
        print(ParseOutput.render(result))
        if !result.errors.isEmpty { throw ExitCode(3) }
    }
}
