import ArgumentParser
import FlowSpecCompiler
import FlowSpecNetlink

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the tool's table (quietly succeeds if it is not there). No other table is touched.")

    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    func run() throws {
        do {
            let connection = try NftConnection()
            guard try connection.tableExists(name: table, family: .inet) else {
                print("no table inet \(table); nothing to remove")
                return
            }
            try connection.deleteTable(name: table, family: .inet)
        } catch {
            throw CLIError("\(error)")
        }
        print("table inet \(table) removed")
    }
}
