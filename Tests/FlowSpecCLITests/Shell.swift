import Foundation

/// Runs a program and collects its output; test helper only.
@discardableResult
func run(_ args: [String], stdin: String? = nil, check: Bool = true) throws -> (status: Int32, out: String, err: String) {
    // Files, not pipes: a pipe's write end can leak into a child that another test starts at the
    // same moment (Foundation does not open pipes close-on-exec), and then EOF never comes.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let inURL = dir.appendingPathComponent("in"), outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
    try Data((stdin ?? "").utf8).write(to: inURL)
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    p.standardInput = try FileHandle(forReadingFrom: inURL)
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = try FileHandle(forWritingTo: errURL)
    try p.run()
    p.waitUntilExit()
    let result = (p.terminationStatus, try String(contentsOf: outURL, encoding: .utf8), try String(contentsOf: errURL, encoding: .utf8))
    if check && result.0 != 0 {
        throw ShellError(command: args.joined(separator: " "), status: result.0, stderr: result.2)
    }
    return result
}

struct ShellError: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var stderr: String
    var description: String { "`\(command)` exited \(status): \(stderr)" }
}

/// The `flowspec-nft` binary built next to this test bundle (in the same build folder).
let flowspecNft: String = {
    // A child that exits before reading its standard input must not kill the test process.
    signal(SIGPIPE, SIG_IGN)
    let bundle = Bundle(for: BundleLocator.self).bundleURL
    for dir in [bundle, bundle.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("flowspec-nft").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return bundle.appendingPathComponent("flowspec-nft").path
}()

private final class BundleLocator {}

/// Kernel tests need root and a kernel that lets us create network namespaces.
let canUseNamespaces: Bool = {
    guard getuid() == 0 else { return false }
    return (try? run(["unshare", "-n", "true"], check: false).status) == 0
}()

/// Runs a shell command line with system(3) and returns its exit status. For commands that start
/// daemons (BIRD forks into the background): Foundation's Process can wait forever on a child whose
/// daemonised grandchild inherited its descriptors.
@discardableResult
func sh(_ command: String) -> Int32 {
    let status = system(command)
    return status == -1 ? -1 : (status >> 8) & 0xff
}
