import Foundation
import Testing

/// The issue's flood against the `listen` daemon itself: `flowspec-nft bench --bgp-flood` runs the
/// built binary's `listen` as a child process in a private namespace and a scripted peer sends
/// 100,000 routes in 25,000 UPDATEs as fast as the socket takes them, then withdraws them all.
/// Every route must reach the kernel table and leave it again, the daemon's memory must come
/// back near where it was, and the time from the last UPDATE to the last commit must stay
/// proportional to the flood (the release build's figures, ~3.5 s on the 2-vCPU test VM, are in
/// docs/listener.md; this suite runs the debug build, ~10 times slower, hence its bound).
@Suite("listen: a 100k-route flood", .enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct ListenFloodTests {
    @Test("100,000 routes in 25,000 UPDATEs reach the kernel and leave it; memory comes back")
    func floodOf100kRoutes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-flood-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run([flowspecNft, "bench", "--bgp-flood", "--bgp-flood-routes", "100000", "--bgp-flood-per-update", "4", "--out", dir], check: false)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        print(r.out)
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/bgp-flood.json"))
        let o = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let phases = try #require(o["phases"] as? [[String: Any]])
        #expect(phases.map { $0["installedRoutes"] as? Int } == [100_000, 0])
        #expect(phases.map { $0["updates"] as? Int } == [25_000, 25_000])
        let debug = flowspecNft.contains("/debug/")
        let bound = debug ? 90.0 : 5.0
        for p in phases {
            let t = p["afterLastUpdateSeconds"] as? Double ?? .infinity
            #expect(t < bound, "\(p["name"] ?? ""): \(t) s from the last UPDATE to the last commit")
        }
        let before = o["rssBeforeMB"] as? Double ?? 0, installed = o["rssInstalledMB"] as? Double ?? 0
        let after = o["rssAfterWithdrawMB"] as? Double ?? .infinity
        // Memory held for the routes is given back once they are withdrawn (it stayed at 220 MB).
        #expect(installed > before + 100, "the routes took no memory? \(o)")
        #expect(after < before + 64 && after < installed / 4, "resident MB before \(before), installed \(installed), after \(after)")
    }
}
