import Foundation

/// Runs `executable` with `arguments`, feeding it `stdin`, and returns its exit status, standard
/// output and standard error. Files, not pipes: a pipe's write end can leak into a child that
/// another test starts at the same moment (Foundation does not open pipes close-on-exec), and
/// then EOF never comes; and a child filling one pipe while the test drains the other would wait
/// forever.
public func runProcess(_ executable: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let inURL = dir.appendingPathComponent("in"), outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
    try Data((stdin ?? "").utf8).write(to: inURL)
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.standardInput = try FileHandle(forReadingFrom: inURL)
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = try FileHandle(forWritingTo: errURL)
    try p.run()
    p.waitUntilExit()
    return (p.terminationStatus, try String(contentsOf: outURL, encoding: .utf8), try String(contentsOf: errURL, encoding: .utf8))
}

/// The `flowspec-nft` binary `swift build` put next to the test bundle holding `marker`.
public func builtFlowspecNft(nextTo marker: AnyClass) -> String? {
    let bundle = Bundle(for: marker).bundleURL
    for dir in [bundle, bundle.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("flowspec-nft").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
