import Foundation
import Testing
import FlowSpec
import FlowSpecAgent
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecNetlink
import FlowSpecTestSupport

// The embedding example of docs/library.md: the text between the markers must stand in the doc
// word for word (checked below), and it runs against the kernel in a private namespace.

// BEGIN library example
/// Reads routes in the canonical JSON format, installs them as table `flowspec` through
/// `connection`, and returns what the kernel now holds.
func installRoutes(json: String, on connection: NftConnection) throws -> (PreparedTable, InstalledTable?) {
    // 1. Read: any reader gives a ReadResult (routes with positions, per-route errors).
    let input = try CanonicalJSON.read(json)
    // 2. Validate, scope, order (RFC 8955 §5.1) and compile into one nft table.
    var options = CompileOptions()
    options.tableName = "flowspec"
    options.defaultPolicy = .accept
    let prepared = PreparedTable(input: input, order: .rfc, scope: .all, options: options)
    // 3. Swap the table in atomically: one netlink batch, all or nothing.
    try connection.apply(prepared.compiled.table)
    // 4. Read it back: rules in order, with their route identities and counters.
    return (prepared, try connection.listTable(name: "flowspec", family: .inet))
}
// END library example

// BEGIN keeper example
/// Keeps table `flowspec` in step with each route set in turn: the first is installed whole,
/// each later one only by what changed (set elements and rules), in one atomic batch each.
func keepInStep(with routeSets: [ReadResult], on connection: NftConnection) throws -> [KeeperOutcome] {
    let keeper = TableKeeper(configuration: KeeperConfiguration(order: .rfc, options: CompileOptions(merge: true)),
                             writer: connection)
    return try routeSets.map { try keeper.install($0) }
}
// END keeper example

@Suite struct LibraryExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    @Test func theDocShowsTheExampleThatIsCompiledHere() throws {
        let me = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/library.md"), encoding: .utf8)
        let begin = try #require(me.range(of: "// BEGIN library example\n"))
        let end = try #require(me.range(of: "// END library example"))
        let example = String(me[begin.upperBound..<end.lowerBound])
        #expect(doc.contains(example), "docs/library.md must contain the example exactly as compiled here")
        let keeperBegin = try #require(me.range(of: "// BEGIN keeper example\n"))
        let keeperEnd = try #require(me.range(of: "// END keeper example"))
        #expect(doc.contains(String(me[keeperBegin.upperBound..<keeperEnd.lowerBound])),
                "docs/library.md must contain the keeper example exactly as compiled here")
        // The DocC landing article (scripts/docs) shows both too, and the import lines.
        let article = try String(contentsOf: Self.root.appendingPathComponent("Sources/FlowSpecKeeper/FlowSpecKeeper.docc/FlowSpecKeeper.md"), encoding: .utf8)
        #expect(article.contains(example) && article.contains(String(me[keeperBegin.upperBound..<keeperEnd.lowerBound])),
                "the DocC article must contain both examples exactly as compiled here")
        for module in ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecKeeper", "FlowSpecNetlink"] {
            #expect(article.contains("import \(module) "), "the DocC article shows `import \(module)`")
        }
    }

    @Test(.enabled(if: NFT.available, "needs root (applies a table in a private network namespace)"))
    func theKeeperExampleSendsOnlyTheChange() throws {
        var routes = RouteGenerator().routes(count: 500)
        let first = ReadResult(routes: routes.map { ReadRoute(route: $0, position: "") })
        routes[42] = RouteGenerator().route(9000)
        let second = ReadResult(routes: routes.map { ReadRoute(route: $0, position: "") })
        let outcomes = try keepInStep(with: [first, second, second], on: try NftConnection.inNewNamespace())
        #expect(outcomes[0].method == .replace(reason: "no current state of the table"))
        guard case .inPlace(_, _, let out, let into) = outcomes[1].method else { Issue.record("\(outcomes[1].method)"); return }
        #expect(out >= 1 && into >= 1 && outcomes[1].report.messages > 0)
        #expect(outcomes[2].method == .unchanged && outcomes[2].report.messages == 0)
    }

    @Test(.enabled(if: NFT.available, "needs root (applies a table in a private network namespace)"))
    func theExampleInstallsRoutes() throws {
        let json = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6","destination-port":"==80"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.300/32"},"actions":["drop"]}
        ]}
        """
        let (prepared, installed) = try installRoutes(json: json, on: try NftConnection.inNewNamespace())
        #expect(prepared.installedCount == 1 && prepared.rejected.count == 1)
        let rules = try #require(installed?.table.chains.first?.rules)
        #expect(rules.map(\.comment) == [prepared.read[0].route.identity])
    }
}
