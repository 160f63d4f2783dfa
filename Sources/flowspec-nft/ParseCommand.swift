import ArgumentParser
import FlowSpecFormats

struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what the tool understood from an input, as canonical JSON.",
        discussion: """
        Prints one JSON object: `routes` holds every route read (canonical format, with its input \
        position; withdrawn ones marked), `errors` every rejected input item with its position and \
        reason. Exits non-zero only when the input as a whole is unreadable.
        """)

    @OptionGroup var input: InputOptions

    func run() throws {
        print(ParseOutput.render(try input.read()))
    }
}
