import Foundation
import Testing

/// `flowspec-nft --version`: the source tree's version baked in at build time (scripts/version,
/// run by the VersionPlugin before every build), from git in a checkout and from the VERSION
/// file git fills in for a `git archive` tarball.
@Suite struct VersionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
    static let isCheckout = (try? run(["git", "-C", root, "rev-parse", "--show-toplevel"], check: false))
        .map { $0.status == 0 && URL(fileURLWithPath: $0.out.trimmingCharacters(in: .whitespacesAndNewlines)).standardized.path == root } ?? false

    @Test func versionIsTheTreesVersion() throws {
        let printed = try run([flowspecNft, "--version"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        let now = try run(["sh", Self.root + "/scripts/version"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!printed.isEmpty && !printed.contains("\n") && !now.isEmpty)
        guard Self.isCheckout else { return }
        // The tree may have moved on since the build (a commit, an edit): the version names a
        // commit of this repository, by `git describe` (TAG-N-gHASH, TAG, or HASH), "-dirty" aside.
        #expect(printed != "unknown")
        let name = printed.replacingOccurrences(of: "-dirty", with: "")
        let commit = name.range(of: "-g", options: .backwards).map { String(name[$0.upperBound...]) } ?? name
        #expect(try run(["git", "-C", Self.root, "rev-parse", "--verify", "--quiet", commit + "^{commit}"], check: false).status == 0,
                "\(printed) names no commit of \(Self.root)")
    }

    /// A tarball of the committed tree (no .git): the version comes from VERSION, which git
    /// filled in; a copy that is neither says "unknown".
    @Test(.enabled(if: VersionTests.isCheckout, "needs the source tree as a git checkout"))
    func aTarballKnowsItsVersion() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-version-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(sh("git -C '\(Self.root)' archive HEAD VERSION scripts/version | tar -x -C '\(dir)'") == 0)
        let fromTarball = try run(["sh", dir + "/scripts/version"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        let described = try run(["git", "-C", Self.root, "describe", "--tags", "--always", "HEAD"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fromTarball == described)
        try "$Format:%h %(describe:tags)$\n".write(toFile: dir + "/VERSION", atomically: true, encoding: .utf8)
        #expect(try run(["sh", dir + "/scripts/version"]).out == "unknown\n")
    }
}
