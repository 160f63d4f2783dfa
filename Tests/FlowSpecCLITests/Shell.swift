import Foundation

/// Runs a program and collects its output; test helper only.
@discardableResult
func run(_ args: [String], stdin: String? = nil, check: Bool = true) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try p.run()
    if let s = stdin {
        input.fileHandleForWriting.write(Data(s.utf8))
        try input.fileHandleForWriting.close()
    }
    // Read both pipes before waiting, so a large output cannot block the child.
    final class Box: @unchecked Sendable { var data = Data() }
    let outBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    let result = (p.terminationStatus, String(decoding: outBox.data, as: UTF8.self), String(decoding: errData, as: UTF8.self))
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

/// The `flowspec-nft` binary built next to this test bundle.
var flowspecNft: String {
    let bundle = Bundle(for: BundleLocator.self).bundleURL
    return bundle.deletingLastPathComponent().appendingPathComponent("flowspec-nft").path
}

private final class BundleLocator {}

/// Kernel tests need root and a kernel that lets us create network namespaces.
let canUseNamespaces: Bool = {
    guard getuid() == 0 else { return false }
    return (try? run(["unshare", "-n", "true"], check: false).status) == 0
}()
