import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
@testable import FlowSpecNetlink

/// The own-session rules (`CompileOptions.protectedSessions`) in the kernel: installed first,
/// read back as the state the keeper keeps, and still first after changes in place.
@Suite("Own-session rules against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct OwnSessionKernelTests {
    @Test func ownSessionRulesStayFirstThroughChangesInPlace() throws {
        let session = ProtectedSession(peer: IPAddress("192.0.2.1")!, local: IPAddress("192.0.2.2")!)
        let configuration = KeeperConfiguration(options: CompileOptions(hook: .input, merge: true, protectedSessions: [session]))
        let connection = try NftConnection.inNewNamespace()
        let keeper = TableKeeper(configuration: configuration, writer: connection)
        let routes = RouteGenerator().routes(count: 400)
        _ = try keeper.install(ReadResult(routes: routes.map { ReadRoute(route: $0, position: "g") }))

        func firstComments() throws -> [String?] {
            let t = try #require(try connection.listTable(name: "flowspec", family: .inet)).table
            return Array(t.chains[0].rules.prefix(3).map(\.comment))
        }
        #expect(try firstComments().prefix(2) == ["own-session 192.0.2.1", "own-session 192.0.2.1"])
        #expect(try firstComments()[2].map(OwnSessions.isComment) == false)
        // The table read back is one the keeper can change in place (the own-session rules are
        // a kept run of rules of their own).
        let installed = try #require(try connection.listTable(name: "flowspec", family: .inet))
        #expect(TableState(installed: installed) != nil)

        let first = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("192.0.2.2/32")!), .sourcePrefix(FlowPrefix("192.0.2.9/32")!),
                                                          .numeric(.ipProtocol, [.equal(17)])],
                              actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let update = try keeper.update(removing: [], adding: [(first, routes.count)], changedRoutes: 1, totalRoutes: routes.count + 1)
        #expect(update != nil, "\(keeper.givenUp ?? "")")
        #expect(try firstComments().prefix(2) == ["own-session 192.0.2.1", "own-session 192.0.2.1"])
        // The whole set again: nothing to change, the own-session rules included.
        let again = try keeper.install(ReadResult(routes: (routes + [first]).map { ReadRoute(route: $0, position: "g") }))
        #expect(again.method == .unchanged, "\(again.method)")
    }
}
