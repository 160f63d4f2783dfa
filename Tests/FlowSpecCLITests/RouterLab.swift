import Foundation

/// Three private network namespaces, h1 → r → h2, with documentation addresses only:
///   h1  198.51.100.10/24  2001:db8:5100::10/64   (gateway r: .1 / ::1)
///   h2  203.0.113.10/24 (+ 203.0.113.11–.13/32)  2001:db8:113::10/64
/// r forwards between them; flowspec-nft runs inside r, and `apply` keeps its state in a
/// directory of the lab's. `close()` deletes everything (the veths go with their namespaces).
final class RouterLab {
    let h1: String, r: String, h2: String
    let stateDirectory: URL
    private static let counter = Counter()

    init() throws {
        let tag = "fsn\(getpid() % 100_000)n\(RouterLab.counter.next())"
        h1 = tag + "h1"; r = tag + "r"; h2 = tag + "h2"
        stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(tag + "-state")
        do {
            for ns in [h1, r, h2] { try run(["ip", "netns", "add", ns]) }
            try run(["ip", "link", "add", "eth0", "netns", h1, "type", "veth", "peer", "name", "to-h1", "netns", r])
            try run(["ip", "link", "add", "eth0", "netns", h2, "type", "veth", "peer", "name", "to-h2", "netns", r])
            try ip(h1, "addr add 198.51.100.10/24 dev eth0")
            try ip(h1, "-6 addr add 2001:db8:5100::10/64 dev eth0 nodad")
            try ip(h2, "addr add 203.0.113.10/24 dev eth0")
            for a in 11...13 { try ip(h2, "addr add 203.0.113.\(a)/32 dev eth0") }
            try ip(h2, "-6 addr add 2001:db8:113::10/64 dev eth0 nodad")
            try ip(r, "addr add 198.51.100.1/24 dev to-h1")
            try ip(r, "-6 addr add 2001:db8:5100::1/64 dev to-h1 nodad")
            try ip(r, "addr add 203.0.113.1/24 dev to-h2")
            try ip(r, "-6 addr add 2001:db8:113::1/64 dev to-h2 nodad")
            for (ns, devs) in [(h1, ["lo", "eth0"]), (h2, ["lo", "eth0"]), (r, ["lo", "to-h1", "to-h2"])] {
                for d in devs { try ip(ns, "link set \(d) up") }
            }
            try ip(h1, "route add default via 198.51.100.1")
            try ip(h1, "-6 route add default via 2001:db8:5100::1")
            try ip(h2, "route add default via 203.0.113.1")
            try ip(h2, "-6 route add default via 2001:db8:113::1")
            try exec(r, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
        } catch {
            close()
            throw error
        }
    }

    func close() {
        for ns in [h1, r, h2] { _ = try? run(["ip", "netns", "del", ns], check: false) }
        try? FileManager.default.removeItem(at: stateDirectory)
    }

    private func ip(_ ns: String, _ args: String) throws {
        try run(["ip", "-n", ns] + args.split(separator: " ").map(String.init))
    }

    @discardableResult
    func exec(_ ns: String, _ args: [String], stdin: String? = nil, check: Bool = true) throws -> (status: Int32, out: String, err: String) {
        try run(["ip", "netns", "exec", ns] + args, stdin: stdin, check: check)
    }

    /// Runs flowspec-nft inside the router namespace.
    @discardableResult
    func flowspecNft(_ args: [String], stdin: String? = nil, check: Bool = true) throws -> (status: Int32, out: String, err: String) {
        // Not the default /run/flowspec-nft: a state there would outlive the lab's namespaces.
        let state = args.first == "apply" && !args.contains("--state-dir") ? ["--state-dir", stateDirectory.path] : []
        return try exec(r, [FlowSpecCLITests.flowspecNft] + args + state, stdin: stdin, check: check)
    }

    /// Whether h1 can open a TCP connection to `host:port` (h2 must be listening).
    func tcpConnects(to host: String, port: Int) throws -> Bool {
        try exec(h1, ["nc", "-z", "-w", "1", host, "\(port)"], check: false).status == 0
    }

    /// Whether one ICMP echo from h1 is answered.
    func pings(_ host: String) throws -> Bool {
        try exec(h1, ["ping", "-c", "1", "-W", "1", host], check: false).status == 0
    }
}

final class Counter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}
