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
        let tools = ["frr": ["bird", "birdc", "/usr/lib/frr/bgpd", "vtysh"], "gobgp": ["bird", "birdc", "gobgpd", "gobgp"],
                     "exabgp": ["bird", "birdc", "exabgp"]][kind]!
        for t in tools {
            let found = t.hasPrefix("/") ? FileManager.default.isExecutableFile(atPath: t)
                : ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(t)") }
            if !found { return "\(t) not installed (scripts/setup installs bird2, frr, gobgpd, exabgp)" }
        }
        return nil
    }

    func run(_ kind: String) throws {
        if let why = Self.missing(kind) {
            print("SKIPPED watch --source \(kind): \(why)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Self.script.path, kind, Self.binary!.path, "\(getpid() % 10000)\(kind.prefix(1))"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "watch --source \(kind) scenario failed:\n\(text)")
    }

    @Test func frr() throws { try run("frr") }
    @Test func gobgp() throws { try run("gobgp") }
    @Test func exabgp() throws { try run("exabgp") }
}
