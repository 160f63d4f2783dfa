import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
@testable import FlowSpecNetlink

private func input(_ routes: [FlowRoute]) -> ReadResult {
    ReadResult(routes: routes.enumerated().map { ReadRoute(route: $0.element, position: "route \($0.offset + 1)") })
}

/// Route identities a merged table holds: set element comments and rule comments.
private func held(_ table: NftTable?) -> Set<String> {
    guard let table else { return [] }
    var out = Set(table.chains.flatMap { $0.rules.compactMap(\.comment) }.filter(RouteIdentity.isIdentity))
    for s in table.sets { out.formUnion(s.elements.compactMap(\.comment)) }
    return out
}

@Suite("The keeper against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct KeeperKernelTests {
    let generator = RouteGenerator()
    let configuration = KeeperConfiguration(options: CompileOptions(merge: true))

    /// A state file of another namespace whose generation equals the live ruleset's (young
    /// namespaces count from the same small numbers; state files are named by namespace inode,
    /// and inodes are reused) must not be trusted: it describes 1,000 routes while the kernel
    /// holds 1,050, so a delta from it would find nothing to do and leave 50 routes that are not
    /// in the input active. The table's stamp tells the two tables apart.
    @Test func aForeignStateWithTheSameGenerationIsNotTrusted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keeper-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Both keepers run in this process: one store path for both namespaces, as a reused inode gives.
        let store = StateStore(directory: directory, table: "flowspec")
        let routes = generator.routes(count: 1000)
        let more = routes + (5000..<5050).map(generator.route)

        let a = try NftConnection.inNewNamespace()
        _ = try TableKeeper(configuration: configuration, writer: a, store: store).install(input(routes))
        let b = try NftConnection.inNewNamespace()
        try b.apply(ContentSetNames.apply(compile(more.ordered(.rfc), options: configuration.options).table))
        try #require(try a.generation() == b.generation(), "the scenario needs equal generations")
        try #require(held(try b.listTable(name: "flowspec", family: .inet)?.table).count == 1050)

        let outcome = try TableKeeper(configuration: configuration, writer: b, store: store).install(input(routes))
        #expect(outcome.method == .replace(reason: "the table in the kernel is not the one the state describes"))
        #expect(held(try b.listTable(name: "flowspec", family: .inet)?.table) == Set(routes.map(\.identity)))
    }

    /// The stamp is written by a replace, kept by changes in place, read back with the table,
    /// and `nft` lists a stamped table as any other (no comment shows).
    @Test func theStampSurvivesChangesAndNftListsTheTable() throws {
        let connection = try NftConnection.inNewNamespace()
        let keeper = TableKeeper(configuration: configuration, writer: connection)
        var routes = generator.routes(count: 300)
        _ = try keeper.install(input(routes))
        let stamp = try #require(try connection.stamp(ofTable: "flowspec", family: .inet))
        routes[5] = generator.route(900)
        guard case .inPlace = try keeper.install(input(routes)).method else { Issue.record("not in place"); return }
        #expect(try connection.stamp(ofTable: "flowspec", family: .inet) == stamp)
        #expect(try connection.listTable(name: "flowspec", family: .inet)?.stamp == stamp)
        let listed = try nft(["list", "table", "inet", "flowspec"], in: try #require(connection.namespace))
        // The table's own comment would be the line after its name.
        let lines = listed.split(separator: "\n")
        #expect(lines.first == "table inet flowspec {" && lines.count > 2 && !lines[1].contains("comment"), "\(listed.prefix(300))")
        // A table replaced by anyone else has no stamp, or another: the next install replaces.
        try connection.apply(ContentSetNames.apply(compile(routes.ordered(.rfc), options: configuration.options).table))
        #expect(try connection.stamp(ofTable: "flowspec", family: .inet) == nil)
        routes[6] = generator.route(901)
        #expect(try keeper.install(input(routes)).method == .replace(reason: "the ruleset changed since the state was taken"))
        #expect(try connection.stamp(ofTable: "flowspec", family: .inet) != stamp)
    }

    /// The route's comment (the canonical format's `comment`) is kept in the kernel beside the
    /// identity: `show`'s rows (`InstalledRoutes`) carry it, a changed comment goes in place as
    /// a changed route, and a keeper with no state of its own finds the table unchanged.
    @Test func routeCommentsAreKeptAndChangedInPlace() throws {
        let connection = try NftConnection.inNewNamespace()
        let keeper = TableKeeper(configuration: configuration, writer: connection)
        var routes = generator.routes(count: 200)
        for i in stride(from: 0, to: routes.count, by: 5) { routes[i].comment = "customer \(i)" }
        _ = try keeper.install(input(routes))
        func shown() throws -> [String: String] {
            let table = try #require(try connection.listTable(name: "flowspec", family: .inet)).table
            return Dictionary(InstalledRoutes(table).entries.compactMap { e in e.comment.map { (e.identity, $0) } }) { a, _ in a }
        }
        #expect(try shown() == Dictionary(uniqueKeysWithValues: routes.compactMap { r in r.comment.map { (r.identity, $0) } }))

        // The elements of the three routes changed, and nothing else, go out and in again.
        let changed: Set<String> = [routes[5].identity, routes[6].identity, routes[10].identity]
        let before = try #require(try connection.listTable(name: "flowspec", family: .inet)).table
        let theirs = before.sets.flatMap(\.elements).count { $0.comment.map(changed.contains) ?? false }
            + before.chains.flatMap(\.rules).count { $0.comment.map(changed.contains) ?? false }
        routes[5].comment = "customer 5, moved"
        routes[6].comment = "newly commented"
        routes[10].comment = nil
        let outcome = try keeper.install(input(routes))
        guard case .inPlace(let rulesOut, let rulesIn, let out, let into) = outcome.method else { Issue.record("\(outcome.method)"); return }
        #expect(theirs >= 3 && rulesOut + out == theirs && rulesIn + into == theirs, "\(outcome.method), \(theirs) elements and rules")
        let now = try shown()
        #expect(now[routes[5].identity] == "customer 5, moved" && now[routes[6].identity] == "newly commented")
        #expect(now[routes[10].identity] == nil && now[routes[15].identity] == "customer 15")
        // The same routes again: nothing to change (the digests of the comments agree).
        let again = try keeper.install(input(routes))
        #expect(again.method.description == "no change", "\(again.method)")
        // nft lists the table (it skips the TLV it does not know).
        let listed = try nft(["-j", "list", "table", "inet", "flowspec"], in: try #require(connection.namespace))
        #expect(listed.hasPrefix("{\"nftables\""), "\(listed.prefix(300))")
    }
}

@Suite("The size a daemon reports, kept per commit (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct KeptSizeKernelTests {
    /// Mixed routes (value sets, limit maps, singles and merge sets), then changes in place
    /// through both of the keeper's paths — a whole route set (`install`) and routes changed
    /// (`update`) — and a whole replace: after each, the size the keeper carried over the commit
    /// equals the installed table counted, and the table the kernel lists.
    @Test func theKeptSizeIsTheTablesSize() throws {
        let connection = try NftConnection.inNewNamespace()
        let keeper = TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: true)), writer: connection)
        let generator = MixedRouteGenerator()
        let pool = generator.routes(count: 1600)
        var routes = Array(pool[..<1200])
        func check(_ step: String) throws {
            let kept = try #require(keeper.installedSize, "\(step): no size")
            let counted = TableSize(try #require(keeper.installed))
            #expect(kept == counted, "\(step): kept \(kept), counted \(counted)")
            let listed = try #require(try connection.listTable(name: "flowspec", family: .inet)?.table)
            #expect(kept.rules == listed.ruleCount && kept.sets == listed.sets.count
                    && kept.setElements == listed.sets.reduce(0) { $0 + $1.elements.count }, "\(step): kept \(kept), listed \(TableSize(listed))")
        }
        _ = try keeper.install(input(routes))
        try check("the first install")
        var inPlace = 0
        for step in 0..<12 {
            let out = Array(routes[(step * 37 % 1100)..<(step * 37 % 1100 + 5)])
            let new = Array(pool[(1200 + step * 30)..<(1200 + step * 30 + 8)])
            if step % 2 == 0 {
                routes.removeAll { r in out.contains { $0.identity == r.identity } }
                routes += new
                if case .inPlace = try keeper.install(input(routes)).method { inPlace += 1 }
            } else {
                let made = try keeper.update(removing: out.map(\.id), adding: new.enumerated().map { ($0.element, 5000 + step * 10 + $0.offset) },
                                             changedRoutes: out.count + new.count, totalRoutes: routes.count)
                routes.removeAll { r in out.contains { $0.identity == r.identity } }
                routes += new
                if made != nil { inPlace += 1 } else { _ = try keeper.install(input(routes)) }
            }
            try check("step \(step)")
        }
        #expect(inPlace >= 10, "only \(inPlace) of 12 changes in place")
        _ = try keeper.install(input(Array(pool[400...])))
        try check("a whole replace")
    }
}
