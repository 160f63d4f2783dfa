import ArgumentParser
import FlowSpecCompiler
import FlowSpecKeeper
import FlowSpecNetlink

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the tool's table (quietly succeeds if it is not there), then its redirect rules and routes. No other table, rule or route is touched.")

    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    @OptionGroup(title: "Redirect") var redirect: RedirectRangeOptions

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
        // The marks are gone with the table: now the rules and routes they selected.
        do {
            let routes = try PolicyRoutes(configuration: PolicyRoutes.Configuration(ranges: redirect.ranges), writer: try RoutingConnection())
            let count = try routes.list().count
            try routes.removeAll()
            if count > 0 { print("\(count) redirect rules and their routes removed") }
        } catch {
            throw CLIError("the redirect rules and routes could not all be removed: \(error)")
        }
    }
}
