import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// The operator's comment on a route (`FlowRoute.comment`) goes onto the route's rules and set
/// elements beside its identity, in every form, through deltas, snapshots and journals.
@Suite("route comments") struct RouteCommentTests {
    /// Every rule and element carrying a route identity, with the route comment beside it.
    static func commented(_ table: NftTable) -> [(identity: String, routeComment: String?)] {
        var out = table.chains.flatMap(\.rules).compactMap { r in r.comment.flatMap { RouteIdentity.isIdentity($0) ? ($0, r.routeComment) : nil } }
        for s in table.sets { out += s.elements.compactMap { e in e.comment.map { ($0, e.routeComment) } } }
        return out
    }

    static func withComments(_ routes: [FlowRoute], every n: Int) -> [FlowRoute] {
        routes.enumerated().map { i, r in
            var r = r
            if i % n == 0 { r.comment = "rack \(i % 7), ticket #\(i)" }
            return r
        }
    }

    @Test("every rule and element of a commented route carries its comment, and only those", arguments: [
        (true, DispatchMode.never), (false, .never), (true, .always), (false, .auto),
    ])
    func everyForm(merge: Bool, dispatch: DispatchMode) throws {
        let routes = Self.withComments(IncrementalTests.unique(RouteGenerator().routes(count: 300) + MixedRouteGenerator().routes(count: 300)), every: 3)
        var options = CompileOptions(merge: merge)
        options.dispatch = dispatch
        let result = compile(routes.ordered(.rfc), options: options)
        let byIdentity = Dictionary(routes.map { ($0.identity, $0.comment) }) { a, _ in a }
        let carried = Self.commented(result.table)
        #expect(carried.count >= routes.count / 2)
        for (identity, note) in carried {
            let want = try #require(byIdentity[identity], "\(identity) is no route's identity")
            #expect(note == want, "\(identity)")
        }
        // Every commented route that compiled to something shows its comment somewhere.
        let shown = Set(carried.filter { $0.routeComment != nil }.map(\.identity))
        let installed = Set(carried.map(\.identity))
        #expect(Set(routes.filter { $0.comment != nil }.map(\.identity)).intersection(installed) == shown)
    }

    @Test("what the kernel keeps: at most 128 bytes, cut at a character boundary, no NUL")
    func kept() {
        #expect(RouteComments.kept("web tier") == "web tier")
        let long = String(repeating: "é", count: 100)      // 200 bytes
        let cut = RouteComments.kept(long)
        #expect(cut.utf8.count == 128 && cut == String(repeating: "é", count: 64))
        let odd = "x" + String(repeating: "é", count: 100)  // a 2-byte character across the limit
        #expect(RouteComments.kept(odd).utf8.count == 127)
        #expect(RouteComments.kept("a\u{0}b") == "ab")
        // With the longest identity it fits the kernel's 256 bytes of userdata.
        #expect((120 + 3) + (FlowRoute.maxCommentBytes + 3) <= 256)
    }

    @Test("a changed comment is a changed route: the delta replaces its element with the new comment")
    func deltaCarriesTheNewComment() throws {
        let routes = Self.withComments(RouteGenerator().routes(count: 300), every: 10)
        let (_, built) = IncrementalTable.build(routes, order: .rfc, options: IncrementalTests.options)
        let table = try #require(built)
        var next = routes
        next[20].comment = "moved to rack 9"
        next[21].comment = "now commented"
        next[30].comment = nil
        let update = try #require(table.update(to: next))
        var pairs: [(String, String?)] = (update.change.addedElements + update.change.newSets).flatMap(\.elements).compactMap { e in
            e.comment.map { ($0, e.routeComment) }
        }
        pairs += update.change.insertedRules.compactMap { i in i.rule.comment.map { ($0, i.rule.routeComment) } }
        let byIdentity: [String: String?] = Dictionary(pairs, uniquingKeysWith: { a, _ in a })
        #expect(byIdentity[routes[20].identity] == Optional(Optional("moved to rack 9")))
        #expect(byIdentity[routes[21].identity] == Optional(Optional("now commented")))
        #expect(byIdentity[routes[30].identity] == Optional(Optional<String>.none))
        #expect(Set(byIdentity.keys) == [routes[20].identity, routes[21].identity, routes[30].identity])
        // The whole table now says what a fresh compile of the new routes says.
        let fresh = compile(next.ordered(.rfc), options: IncrementalTests.options)
        #expect(Dictionary(Self.commented(table.table).map { ($0.identity, $0.routeComment) }) { a, _ in a }
                == Dictionary(Self.commented(fresh.table).map { ($0.identity, $0.routeComment) }) { a, _ in a })
        #expect(try #require(table.update(to: next)).change.isEmpty)
    }

    @Test("snapshots and journals keep the comments")
    func snapshotAndJournal() throws {
        let generator = RouteGenerator()
        let routes = Self.withComments(generator.routes(count: 300), every: 4)
        let (_, built) = IncrementalTable.build(routes, order: .rfc, options: IncrementalTests.options)
        let table = try #require(built)
        let base = table.serialized()
        var next = routes
        next[8].comment = "changed"
        var added = generator.route(700)
        added.comment = "added with a comment"
        next.append(added)
        let update = try #require(table.update(to: next))
        let journal = IncrementalTable.journalRecord(removed: update.removed, added: update.added)
        let restored = try #require(IncrementalTable.restore(base, options: IncrementalTests.options, order: .rfc))
        #expect(restored.replay(journal))
        #expect(difference(restored.table, table.table) == nil)
        #expect(restored.serialized() == table.serialized())
        #expect(Self.commented(restored.table).contains { $0.identity == added.identity && $0.routeComment == "added with a comment" })
    }

    @Test("a route's comment does not change the identity, and a route without one digests as before")
    func identityAndDigest() {
        var r = RouteGenerator().route(5)
        let id = r.identity, digest = contentDigest(r)
        r.comment = "x"
        #expect(r.identity == id)
        #expect(contentDigest(r) != digest)
        r.comment = nil
        #expect(contentDigest(r) == digest)
    }
}
