import Foundation
import Testing

/// `watch --bmp`: the station's address as `--listen` reads addresses, a bare port on the loopback.
/// Good values get past parsing (and stop at `--source frr`, which `--bmp` does not follow);
/// bad ones are usage errors (exit 64) naming the option.
@Suite struct WatchBMPOptionTests {
    @Test(arguments: ["11019", "127.0.0.1:11019", "[::1]:11019", "192.0.2.1:11019"])
    func goodStationsParse(_ value: String) throws {
        let r = try run([flowspecNft, "watch", "--source", "frr", "--bmp", value, "--status-file", ""], check: false)
        #expect(r.status != 0 && r.err.contains("--bmp follows GoBGP"), "\(r.err)")
    }

    @Test(arguments: ["0", "192.0.2.1", "[::1]", "nope:11019", "192.0.2.1:70000", "[::1"])
    func badStationsAreUsageErrors(_ value: String) throws {
        let r = try run([flowspecNft, "watch", "--source", "gobgp", "--bmp", value, "--status-file", ""], check: false)
        #expect(r.status == 64 && r.err.contains("--bmp"), "\(value): \(r.status) \(r.err)")
    }
}

/// `watch --vty-socket`: bgpd's, so only with `--source frr`; an empty path is a usage error.
@Suite struct WatchVtySocketOptionTests {
    @Test func itIsBgpdsAndNeedsAPath() throws {
        let gobgp = try run([flowspecNft, "watch", "--source", "gobgp", "--vty-socket", "/run/frr", "--status-file", ""], check: false)
        #expect(gobgp.status != 0 && gobgp.err.contains("--vty-socket is bgpd's: it needs --source frr"), "\(gobgp.err)")
        let empty = try run([flowspecNft, "watch", "--source", "frr", "--vty-socket", "", "--status-file", ""], check: false)
        #expect(empty.status == 64 && empty.err.contains("--vty-socket needs a path"), "\(empty.status) \(empty.err)")
    }
}
