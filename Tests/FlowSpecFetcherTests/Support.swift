import Foundation
import FlowSpecTestSupport
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink

enum Kernel {
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") else { return false }
        return (try? NetworkNamespace.create()) != nil
    }()
    static let reason: Comment = "needs uid 0, nft and unshare(CLONE_NEWNET); skipped"
}

enum Bird {
    static let path = "/usr/sbin/bird"
    static let available = FileManager.default.isExecutableFile(atPath: path)
    static let reason: Comment = "bird2 is not installed (apt-get install bird2); skipped"

    /// `bird -p -c` on the fragment wrapped in a minimal config; nil when BIRD accepts it,
    /// else its message.
    static func check(_ fragment: String) throws -> String? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fetcher-bird-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bird.conf")
        try ("router id 192.0.2.1;\nprotocol device { }\n" + fragment).write(to: file, atomically: true, encoding: .utf8)
        let (status, output) = try run(path, ["-p", "-c", file.path])
        return status == 0 ? nil : output
    }
}

/// Exit status and everything the tool printed (standard output, then standard error).
func run(_ tool: String, _ arguments: [String], input: String? = nil) throws -> (Int32, String) {
    let r = try runProcess(tool, arguments, stdin: input)
    return (r.status, r.out + r.err)
}

/// Loads `ruleset` with `nft -f -` in a fresh namespace and reads table `name` back.
func loadAndList(_ ruleset: String, table name: String, family: NftFamily) throws -> InstalledTable {
    let connection = try NftConnection.inNewNamespace()
    let namespace = try #require(connection.namespace)
    let (status, output) = try run("/usr/bin/nsenter", ["--net=\(namespace.path)", "nft", "-f", "-"], input: ruleset)
    #expect(status == 0, "nft -f failed: \(output)")
    return try #require(try connection.listTable(name: name, family: family))
}

// Route builders.
func p(_ s: String) -> FlowPrefix { FlowPrefix(s)! }
func eq(_ values: UInt64...) -> [NumericTerm] { values.map { .equal($0) } }
func between(_ a: UInt64, _ b: UInt64) -> [NumericTerm] {
    [NumericTerm(gt: true, eq: true, value: a), NumericTerm(and: true, lt: true, eq: true, value: b)]
}
let drop = FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: 0)
func seq(_ n: UInt64) -> FlowAction { .trafficMarking(dscp: UInt8(n & 0x3f), value: n) }
func route(_ components: [Component], _ actions: [FlowAction]) -> FlowRoute {
    FlowRoute(family: .ipv4, components: components, actions: actions)
}
func route6(_ components: [Component], _ actions: [FlowAction]) -> FlowRoute {
    FlowRoute(family: .ipv6, components: components, actions: actions)
}
