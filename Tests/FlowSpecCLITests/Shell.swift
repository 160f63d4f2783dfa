import Foundation
import FlowSpecTestSupport

/// Runs a program (found on PATH) and collects its output; test helper only.
@discardableResult
func run(_ args: [String], stdin: String? = nil, check: Bool = true) throws -> (status: Int32, out: String, err: String) {
    let result = try runProcess("/usr/bin/env", args, stdin: stdin)
    if check && result.status != 0 {
        throw ShellError(command: args.joined(separator: " "), status: result.status, stderr: result.err)
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
    let fallback = Bundle(for: BundleLocator.self).bundleURL.appendingPathComponent("flowspec-nft").path
    return builtFlowspecNft(nextTo: BundleLocator.self) ?? fallback
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
