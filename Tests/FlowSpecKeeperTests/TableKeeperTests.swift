import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecTestSupport
import Foundation
import Testing

/// A kernel in memory: holds one table, applies changes to it as nf_tables would (rules by
/// comment, elements by key), hands out handles, and has a generation that any write moves.
final class MemoryKernel: TableWriter {
    var table: NftTable?
    var generationNow: UInt32 = 1
    var replaces = 0
    var changes: [TableChange] = []
    var refuse = false
    /// Checking, as `NftConnection.checkOnly`: writes are validated (counted) and dropped.
    var checking = false
    var checked = 0
    private var nextHandle: UInt64 = 1

    var commits: Bool { !checking }
    func installedTable(name: String, family: NftFamily) throws -> NftTable? { table?.name == name ? table : nil }

    func generation() throws -> UInt32 { generationNow }
    func stamp(ofTable name: String, family: NftFamily) throws -> UInt64? { table == nil ? nil : UInt64(replaces) }

    func replace(_ table: consuming NftTable, shape: TableShape?) throws -> (ApplyReport, TableState?) {
        if refuse { throw KernelRefusal() }
        if checking { checked += 1; return (.nothing(generation: generationNow), nil) }
        let table = copy table
        self.table = table
        replaces += 1
        generationNow += 1
        let first = nextHandle
        nextHandle += UInt64(table.ruleCount)
        let stamp = UInt64(replaces)
        let state = TableShape(table).map { TableState(shape: $0, handles: { first + UInt64($0) }, generation: generationNow, stamp: stamp) }
        return (.nothing(generation: generationNow - 1), state)
    }

    func apply(_ change: TableChange, over state: inout TableState) throws -> ApplyReport {
        if refuse { throw KernelRefusal() }
        guard state.generation == generationNow else { throw KernelRefusal() }
        if checking { checked += 1; return .nothing(generation: generationNow) }
        changes.append(change)
        table = table.map { applyingChange(change, to: $0) }
        let handles = change.insertedRules.indices.map { nextHandle + UInt64($0) }
        nextHandle += UInt64(handles.count)
        state.update(by: change, handles: handles)
        generationNow += 1
        state.generation = generationNow
        return .nothing(generation: generationNow - 1)
    }

    func tableExists(name: String, family: NftFamily) throws -> Bool { table?.name == name }

    func deleteTable(name: String, family: NftFamily) throws {
        if table?.name == name { table = nil }
        generationNow += 1
    }

    struct KernelRefusal: Error {}
}

/// A table with its sets and elements in one order, to compare what changes made with a compile.
func canonical(_ table: NftTable?) -> NftTable? {
    guard var t = table else { return nil }
    t.sets.sort { $0.name < $1.name }
    for i in t.sets.indices { t.sets[i].elements.sort { $0.key.lexicographicallyPrecedes($1.key) } }
    t.objects.sort { $0.name < $1.name }
    return t
}

func input(_ routes: [FlowRoute]) -> ReadResult {
    ReadResult(routes: routes.enumerated().map { ReadRoute(route: $0.element, position: "route \($0.offset + 1)") })
}

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("keeper-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct TableKeeperTests {
    let generator = RouteGenerator()

    @Test(arguments: [true, false])
    func aChangedRouteGoesInPlaceAndTheResultIsTheFreshCompile(merge: Bool) throws {
        let kernel = MemoryKernel()
        let keeper = TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: merge)), writer: kernel)
        var routes = generator.routes(count: 400)
        let first = try keeper.install(input(routes))
        #expect(first.method == .replace(reason: "no current state of the table"))
        #expect(first.installed == 400 && kernel.replaces == 1)
        // The same routes again: nothing sent.
        #expect(try keeper.install(input(routes)).method == .unchanged)
        #expect(kernel.replaces == 1 && kernel.changes.isEmpty)
        // One route replaced: a change in place, and the kernel's table is the fresh compile's.
        routes[123] = generator.route(5000)
        let second = try keeper.install(input(routes))
        guard case .inPlace = second.method else { Issue.record("\(second.method)"); return }
        #expect(kernel.replaces == 1 && kernel.changes.count == 1)
        let fresh = ContentSetNames.apply(compile(routes.ordered(.rfc), options: CompileOptions(merge: merge)).table)
        #expect(canonical(kernel.table)?.sets == canonical(fresh)?.sets)
        #expect(kernel.table?.chains[0].rules.map(\.comment) == fresh.chains[0].rules.map(\.comment))
    }

    @Test func updatesPlaceOnlyTheChangedRoutes() throws {
        let kernel = MemoryKernel()
        let keeper = TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: true)), writer: kernel)
        let routes = generator.routes(count: 300)
        _ = try keeper.install(input(routes))
        #expect(keeper.followsChanges)
        let added = generator.route(900)
        let update = try #require(try keeper.update(removing: [routes[7].id], adding: [(added, 301)],
                                                changedRoutes: 2, totalRoutes: 300))
        #expect(update.installed == 300)
        #expect(kernel.changes.count == 1 && kernel.replaces == 1)
        let now = routes.enumerated().filter { $0.offset != 7 }.map(\.element) + [added]
        let fresh = ContentSetNames.apply(compile(now.ordered(.rfc), options: CompileOptions(merge: true)).table)
        #expect(canonical(kernel.table)?.sets == canonical(fresh)?.sets)
        // More than the policy places: nothing sent, the caller installs the whole set.
        #expect(try keeper.update(removing: [], adding: [], changedRoutes: 1001, totalRoutes: 1200) == nil)
        #expect(keeper.givenUp?.contains("1001 routes changed") == true)
        #expect(kernel.changes.count == 1)
    }

    /// Routes withdrawn and announced again and again leave their places in the planner; past
    /// `rebuildAfterRetired` (and past the routes held) the keeper rebuilds the table whole, so a
    /// daemon's memory levels off under churn. The rebuilt table is the fresh compile's, sent as
    /// a difference.
    @Test func churnRebuildsThePlannerOnce() throws {
        let kernel = MemoryKernel()
        var configuration = KeeperConfiguration(options: CompileOptions(merge: true))
        configuration.policy.rebuildAfterRetired = 50
        let keeper = TableKeeper(configuration: configuration, writer: kernel)
        let routes = generator.routes(count: 100)
        _ = try keeper.install(input(routes))
        let spare = (0..<30).map { generator.route(1000 + $0) }
        var held = routes, placed = 0, tiebreak = 100
        for cycle in 0..<5 {
            let (gone, new) = cycle % 2 == 0 ? (Array(routes[..<30]), spare) : (spare, Array(routes[..<30]))
            let adding = new.map { r -> (route: FlowRoute, tiebreak: Int) in tiebreak += 1; return (r, tiebreak) }
            guard try keeper.update(removing: gone.map(\.id), adding: adding, changedRoutes: 60, totalRoutes: 100) != nil else {
                // 4 × 30 withdrawn > max(50, 100): the fifth change goes whole.
                #expect(placed == 4 && keeper.givenUp?.contains("120 routes withdrawn since the table was built") == true, "\(placed) \(keeper.givenUp ?? "")")
                held = held.filter { r in !gone.contains(r) } + new
                let outcome = try keeper.install(input(held))
                guard case .inPlace = outcome.method else { Issue.record("\(outcome.method)"); return }
                #expect(keeper.followsChanges)
                let fresh = ContentSetNames.apply(compile(held.ordered(.rfc), options: CompileOptions(merge: true)).table)
                #expect(canonical(kernel.table)?.sets == canonical(fresh)?.sets)
                return
            }
            placed += 1
            held = held.filter { r in !gone.contains(r) } + new
        }
        Issue.record("the planner was never rebuilt")
    }

    @Test func aRefusedChangeFallsBackToAReplaceAndAFailedReplaceChangesNothing() throws {
        let kernel = MemoryKernel()
        let keeper = TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: false)), writer: kernel)
        var routes = generator.routes(count: 50)
        _ = try keeper.install(input(routes))
        // Someone else committed: the state is stale, the table is replaced and says why.
        kernel.generationNow += 5
        routes[3] = generator.route(700)
        #expect(try keeper.install(input(routes)).method == .replace(reason: "the ruleset changed since the state was taken"))
        kernel.refuse = true
        routes[4] = generator.route(701)
        let before = kernel.table
        #expect(throws: MemoryKernel.KernelRefusal.self) { try keeper.install(input(routes)) }
        #expect(kernel.table == before)
        kernel.refuse = false
        // Nothing of the failed install is believed: the next one replaces.
        #expect(try keeper.install(input(routes)).method == .replace(reason: "no current state of the table"))
    }

    /// Two keepers on one store are two `apply` runs: the second continues from the first's
    /// stored table, in place, unless told not to trust it.
    @Test func aStoredTableIsContinuedByTheNextProcess() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kernel = MemoryKernel()
        let configuration = KeeperConfiguration(options: CompileOptions(merge: true))
        var routes = generator.routes(count: 200)
        let store = StateStore(directory: directory + "/state", table: "flowspec")
        _ = try TableKeeper(configuration: configuration, writer: kernel, store: store).install(input(routes))
        // The state and the snapshot, private to root.
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/state")
        #expect(files.count == 2)
        for f in files {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: directory + "/state/" + f)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(f)")
        }
        routes[9] = generator.route(3000)
        let keeper = TableKeeper(configuration: configuration, writer: kernel, store: store)
        let second = try keeper.install(input(routes))
        #expect(second.method == .inPlace(rulesOut: 0, rulesIn: 0, elementsOut: 1, elementsIn: 2))
        // The same keeper again, after a whole install (more than 1,000 routes changed: its
        // planner then lives in the store) and then one route changed: in place again.
        var many = (10_000..<11_500).map(generator.route)
        #expect(try keeper.install(input(many)).method != .unchanged)
        let replaces = kernel.replaces, changes = kernel.changes.count
        many[3] = generator.route(3003)
        guard case .inPlace = try keeper.install(input(many)).method else { Issue.record("not in place after a stored install"); return }
        #expect(kernel.replaces == replaces && kernel.changes.count == changes + 1)
        routes[10] = generator.route(3001)
        let full = try TableKeeper(configuration: configuration, writer: kernel, store: store, trustStored: false).install(input(routes))
        #expect(full.method == .replace(reason: "asked for (--full)"))
        #expect(kernel.changes.count == changes + 1)
    }

    /// `check` lists the routes a new route set adds, removes and changes against the table the
    /// kernel holds, plans the change as `install` would (in place here), has the writer check it,
    /// and commits nothing: the kernel's table, its generation and the stored state stay.
    @Test(arguments: [true, false])
    func checkListsTheChangeAndCommitsNothing(merge: Bool) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kernel = MemoryKernel()
        let configuration = KeeperConfiguration(options: CompileOptions(merge: merge))
        let store = StateStore(directory: directory + "/state", table: "flowspec")
        var routes = generator.routes(count: 200)
        _ = try TableKeeper(configuration: configuration, writer: kernel, store: store).install(input(routes))
        let before = kernel.table, generation = kernel.generationNow
        func files() throws -> [String: Data] {
            var out: [String: Data] = [:]
            for f in try FileManager.default.contentsOfDirectory(atPath: directory + "/state") {
                out[f] = try Data(contentsOf: URL(fileURLWithPath: directory + "/state/" + f))
            }
            return out
        }
        let stored = try files()
        let removed = routes.remove(at: 17)
        let added = generator.route(7000)
        routes.append(added)
        var changed = routes[3]
        changed.extendedCommunities = [FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 12_500).community]
        routes[3] = changed

        kernel.checking = true
        let keeper = TableKeeper(configuration: configuration, writer: kernel,
                                 store: StateStore(directory: directory + "/state", table: "flowspec", readOnly: true))
        let report = try keeper.check(input(routes))
        #expect(report.diff.added.map(\.identity) == [added.identity])
        #expect(report.diff.removed.map(\.identity) == [removed.identity])
        #expect(report.diff.changed.map(\.after.identity) == [changed.identity])
        #expect(report.diff.changed.first?.after.actions.first?.hasPrefix("police 12500 bytes/second") == true, "\(report.diff.changed)")
        #expect(report.diff.kept == 198 && report.diff.policy == nil)
        guard case .inPlace = report.outcome.method else { Issue.record("\(report.outcome.method)"); return }
        #expect(kernel.checked == 1)
        #expect(kernel.table == before && kernel.generationNow == generation && kernel.changes.isEmpty && kernel.replaces == 1)
        #expect(try files() == stored)
        // Nothing installed: every route is added, and the policy appears.
        let empty = MemoryKernel()
        empty.checking = true
        let first = try TableKeeper(configuration: configuration, writer: empty).check(input(routes))
        #expect(first.diff.added.count == 200 && first.diff.removed.isEmpty && first.diff.policy?.before == "-")
        #expect(empty.table == nil && empty.checked == 1)
    }

    /// Each guard refuses before anything is sent, in place (merged) and whole (unmerged); the
    /// kernel keeps its table and the next allowed install goes through.
    @Test(arguments: [true, false])
    func guardsRefuseBeforeAnythingIsSent(merge: Bool) throws {
        let kernel = MemoryKernel()
        var configuration = KeeperConfiguration(options: CompileOptions(merge: merge))
        configuration.guards = InstallGuards(allOrNothing: true, allowEmpty: false, maxWithdrawal: 0.2)
        let keeper = TableKeeper(configuration: configuration, writer: kernel)
        let routes = generator.routes(count: 100)
        _ = try keeper.install(input(routes))
        let installed = kernel.table, writes = (kernel.replaces, kernel.changes.count)
        // A rejected item: nothing committed.
        var withError = input(routes)
        withError.errors.append(ReadError(position: "line 7", reason: "not a route"))
        #expect(throws: KeeperRefusal.rejected([Rejection(position: "line 7", cause: .unreadable("not a route"))])) { try keeper.install(withError) }
        // Everything withdrawn.
        #expect(throws: KeeperRefusal.empty(installed: 100)) { try keeper.install(input([])) }
        // 30 of 100 withdrawn (20% allowed); changed routes do not count as withdrawn.
        var changed = Array(routes[30...])
        changed[0] = FlowRoute(family: .ipv4, components: changed[0].components, actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 1000)])
        #expect(throws: KeeperRefusal.tooManyWithdrawn(withdrawn: 30, installed: 100, limit: 0.2)) { try keeper.install(input(changed)) }
        #expect(kernel.table == installed && kernel.replaces == writes.0 && kernel.changes.count == writes.1)
        // 20 withdrawn is allowed.
        let method = try keeper.install(input(Array(routes[20...]))).method
        #expect(method != .unchanged)
        #expect(kernel.replaces + kernel.changes.count == writes.0 + writes.1 + 1)
    }

    /// Without knowing the installed table, an empty install is refused when a table exists.
    @Test func anEmptyInstallOverATableOfUnknownContentIsRefused() throws {
        let kernel = MemoryKernel()
        _ = try TableKeeper(configuration: KeeperConfiguration(), writer: kernel).install(input(generator.routes(count: 5)))
        var configuration = KeeperConfiguration()
        configuration.guards.allowEmpty = false
        #expect(throws: KeeperRefusal.empty(installed: nil)) {
            try TableKeeper(configuration: configuration, writer: kernel).install(input([]))
        }
        configuration.guards.allowEmpty = true
        _ = try TableKeeper(configuration: configuration, writer: kernel).install(input([]))
        #expect(kernel.table?.chains.first?.rules.isEmpty == true)
    }

    /// An input whose every item was rejected is refused whole, with no table and over one
    /// (a wrong `--from` or family, a broken speaker), unless accepted explicitly.
    @Test func anInputWithNothingUsableIsRefused() throws {
        let kernel = MemoryKernel()
        let unusable = ReadResult(routes: [], errors: [ReadError(position: "line 1", reason: "not a route"),
                                                       ReadError(position: "line 2", reason: "not a route")])
        let refusal = KeeperRefusal.unusable([Rejection(position: "line 1", cause: .unreadable("not a route")),
                                              Rejection(position: "line 2", cause: .unreadable("not a route"))])
        #expect(throws: refusal) { try TableKeeper(configuration: KeeperConfiguration(), writer: kernel).install(unusable) }
        #expect(kernel.table == nil && kernel.replaces == 0)
        let keeper = TableKeeper(configuration: KeeperConfiguration(), writer: kernel)
        _ = try keeper.install(input(generator.routes(count: 5)))
        let installed = kernel.table
        #expect(throws: refusal) { try keeper.install(unusable) }
        #expect(kernel.table == installed)
        var configuration = KeeperConfiguration()
        configuration.guards.acceptUnusableInput = true
        let outcome = try TableKeeper(configuration: configuration, writer: kernel).install(unusable)
        #expect(outcome.installed == 0 && outcome.rejected.count == 2)
        #expect(kernel.table?.chains.first?.rules.isEmpty == true)
    }

    /// Every rejection says by its cause what went wrong: an unreadable item, a route that
    /// breaks the RFC, a route the kernel cannot express; the others are installed.
    @Test func rejectionsCarryTheirCause() throws {
        let good = generator.route(1)
        let outOfOrder = FlowRoute(family: .ipv4, components: [.numeric(.ipProtocol, [.equal(6)]),
                                                               .destinationPrefix(FlowPrefix("203.0.113.9/32")!)],
                                   actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let redirectToIP = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.8/32")!)],
                                     actions: [.redirectToIP(IPAddress(ipv4: 0xc000_0201), copy: false)])
        var read = input([good, outOfOrder, redirectToIP])
        read.errors.append(ReadError(position: "route 4", reason: "not JSON"))
        let outcome = try TableKeeper(configuration: KeeperConfiguration(), writer: MemoryKernel()).install(read)
        #expect(outcome.installed == 1 && outcome.rejectedRoutes == 2 && outcome.rejected.count == 3)
        let causes = Dictionary(uniqueKeysWithValues: outcome.rejected.map { ($0.position, $0.cause) })
        #expect(causes["route 4"] == .unreadable("not JSON"))
        guard case .invalid(.componentOutOfOrder)? = causes["route 2"] else { Issue.record("\(causes)"); return }
        guard case .inexpressible(let why)? = causes["route 3"] else { Issue.record("\(causes)"); return }
        #expect(why.contains("redirect to IP"))
        #expect(outcome.rejected.first { $0.position == "route 3" }?.route == redirectToIP)
    }

    /// The files of namespaces that no longer exist go when a table is replaced; this
    /// namespace's stay.
    @Test func filesOfDeadNamespacesArePruned() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dead = directory + "/1-4294967290-flowspec.state"
        let other = directory + "/notes.txt"
        try "x".write(toFile: dead, atomically: true, encoding: .utf8)
        try "x".write(toFile: dead + ".journal", atomically: true, encoding: .utf8)
        try "x".write(toFile: other, atomically: true, encoding: .utf8)
        let store = StateStore(directory: directory, table: "flowspec")
        _ = try TableKeeper(configuration: KeeperConfiguration(options: CompileOptions(merge: true)), writer: MemoryKernel(), store: store)
            .install(input(generator.routes(count: 20)))
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        #expect(!left.contains("1-4294967290-flowspec.state") && !left.contains("1-4294967290-flowspec.state.journal"))
        #expect(left.contains("notes.txt"))
        #expect(left.contains(String(store.path.split(separator: "/").last!)))
    }

    /// A link planted where the journal goes is replaced or refused, never followed: the file it
    /// points at is not written.
    @Test func theStoreFollowsNoSymbolicLink() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kernel = MemoryKernel()
        let configuration = KeeperConfiguration(options: CompileOptions(merge: true))
        let store = StateStore(directory: directory + "/state", table: "flowspec")
        var routes = generator.routes(count: 100)
        _ = try TableKeeper(configuration: configuration, writer: kernel, store: store).install(input(routes))
        let victim = directory + "/victim"
        try "untouched".write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: store.path + ".journal", withDestinationPath: victim)
        try FileManager.default.createSymbolicLink(atPath: store.path + ".incremental.\(getpid()).new", withDestinationPath: victim)
        routes[1] = generator.route(4000)
        _ = try TableKeeper(configuration: configuration, writer: kernel, store: store).install(input(routes))
        routes[2] = generator.route(4001)
        _ = try TableKeeper(configuration: configuration, writer: kernel, store: store, trustStored: false).install(input(routes))
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "untouched")
    }
}
