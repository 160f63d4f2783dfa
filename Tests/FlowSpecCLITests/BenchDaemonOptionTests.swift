import Foundation
import Testing

/// `bench --daemon`'s counts: a negative one (or no routes) is a usage error (exit 64) naming
/// the option, before any namespace is made; it used to trap generating a negative number of
/// routes.
@Suite struct BenchDaemonOptionTests {
    @Test(arguments: [("--daemon-grow=-3", "--daemon-grow"), ("--daemon-cycles=-1", "--daemon-cycles"),
                      ("--daemon-changes=-2", "--daemon-changes"), ("--daemon-routes=0", "--daemon-routes")])
    func negativeCountsAreUsageErrors(_ option: String, _ name: String) throws {
        let r = try run([flowspecNft, "bench", "--daemon", option, "--out", NSTemporaryDirectory()], check: false)
        #expect(r.status == 64 && r.err.contains(name), "\(option): \(r.status) \(r.err)")
    }
}
