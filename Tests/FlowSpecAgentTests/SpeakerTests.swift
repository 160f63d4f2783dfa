import Foundation
import Testing

/// `flowspec-nft watch` against real speakers: BIRD announces routes to FRR, GoBGP or ExaBGP in
/// namespaces of their own, watch runs next to the speaker, and the kernel table (read with
/// `flowspec-nft show --json` in that namespace) must follow BIRD's changes and stay when the
/// speaker dies. The scenario is a bash script (watch-lab.sh, next to this file) that removes its
/// namespaces and daemons on any exit.
@Suite struct SpeakerTests {
    static let binary: URL? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("flowspec-nft")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }()

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Lab/watch-lab.sh")

    static func missing(_ kind: String) -> String? {
        if getuid() != 0 { return "not root: real-daemon watch tests need namespaces" }
        if binary == nil { return "flowspec-nft binary not built" }
        let tools = ["frr": ["bird", "birdc", "/usr/lib/frr/bgpd", "vtysh"], "gobgp": ["bird", "birdc", "gobgpd", "gobgp"], "gobgp-bmp": ["bird", "birdc", "gobgpd", "gobgp"],
                     "exabgp": ["bird", "birdc", "exabgp"]][kind]!
        for t in tools {
            let found = t.hasPrefix("/") ? FileManager.default.isExecutableFile(atPath: t)
                : ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(t)") }
            if !found { return "\(t) not installed (scripts/setup installs bird2, frr, gobgpd, exabgp)" }
        }
        return nil
    }

    /// Runs the scenario on a thread of its own: a blocking wait here would hold one of the
    /// (two, in CI) cooperative threads for seconds and starve the timing-sensitive agent tests.
    func run(_ kind: String) async throws {
        // The traits below skip (visibly) when a piece is missing; reaching here without one is a failure.
        if let why = Self.missing(kind) {
            Issue.record("watch --source \(kind) cannot run: \(why)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Self.script.path, kind, Self.binary!.path, "\(getpid() % 10000)\(kind == "gobgp-bmp" ? "b" : kind.prefix(1))"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let handle = out.fileHandleForReading
        let (text, status): (String, Int32) = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                continuation.resume(returning: (text, p.terminationStatus))
            }
        }
        #expect(status == 0, "watch --source \(kind) scenario failed:\n\(text)")
    }

    @Test(.enabled(if: SpeakerTests.missing("frr") == nil, "needs root, the built binary, BIRD and FRR (scripts/setup --e2e)"))
    func frr() async throws { try await run("frr") }
    @Test(.enabled(if: SpeakerTests.missing("gobgp") == nil, "needs root, the built binary, BIRD and GoBGP (scripts/setup --e2e)"))
    func gobgp() async throws { try await run("gobgp") }
    /// `watch --source gobgp --bmp`: gobgpd's Loc-RIB over BMP; also gobgpd restarted (the
    /// station registered again) and `bmp del` on exit.
    @Test(.enabled(if: SpeakerTests.missing("gobgp-bmp") == nil, "needs root, the built binary, BIRD and GoBGP (scripts/setup --e2e)"))
    func gobgpBMP() async throws { try await run("gobgp-bmp") }
    @Test(.enabled(if: SpeakerTests.missing("exabgp") == nil, "needs root, the built binary, BIRD and ExaBGP (scripts/setup --e2e)"))
    func exabgp() async throws { try await run("exabgp") }
}
