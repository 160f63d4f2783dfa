import Foundation

/// A listener in a namespace: accepts TCP connections and counts UDP datagrams per port, on IPv4
/// and IPv6. `stop()` returns the UDP counts.
final class PacketServer {
    private let process = Process()
    private let outputFile: URL

    /// The Python every server script starts with: `serve(socks, result, handle)` reports
    /// "ready", calls `handle(entry)` for each readable `(socket, ...)` entry of `socks`, and on
    /// SIGTERM prints `result` as JSON and exits.
    static let prologue = #"""
import json, select, signal, socket, sys
# Started from a test thread that blocks signals; the mask is inherited across exec.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
def serve(socks, result, handle):
    def stop(*_):
        print(json.dumps(result), flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([x[0] for x in socks], [], [])
        for s in ready:
            handle(next(x for x in socks if x[0] is s))

"""#

    static let script = prologue + #"""
ports = [int(p) for p in sys.argv[1:]]
socks, counts = [], {}
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    for p in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(fam, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, p))
            if kind == socket.SOCK_STREAM:
                s.listen(64)
            socks.append((s, kind, p))
def handle(entry):
    s, kind, port = entry
    if kind == socket.SOCK_STREAM:
        c, _ = s.accept()
        c.close()
    else:
        data = s.recv(65535)
        c = counts.setdefault(str(port), [0, 0])
        c[0] += 1
        c[1] += len(data)
serve(socks, counts, handle)
"""#

    convenience init(namespace: String, ports: [Int]) throws {
        try self.init(namespace: namespace, script: PacketServer.script, arguments: ports.map(String.init))
    }

    /// Any Python `script` that prints "ready" once listening and a last line of JSON on SIGTERM.
    init(namespace: String, script: String, arguments: [String]) throws {
        outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-server-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace, "python3", "-u", "-c", script] + arguments
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !output.contains("ready") {
            guard process.isRunning, Date() < deadline else {
                throw ShellError(command: "packet server", status: -1, stderr: "did not start")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    private var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Stops the server; returns its last line of output.
    func stopOutput() -> String {
        process.terminate()
        process.waitUntilExit()
        defer { try? FileManager.default.removeItem(at: outputFile) }
        return output.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// Stops the server; returns UDP (packets, bytes) per port.
    func stop() -> [Int: (packets: Int, bytes: Int)] {
        let last = stopOutput()
        guard let obj = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: [Int]] else { return [:] }
        var out = [Int: (Int, Int)]()
        for (k, v) in obj where v.count == 2 { if let p = Int(k) { out[p] = (v[0], v[1]) } }
        return out
    }
}

/// Sends `count` UDP datagrams of `size` bytes from a namespace, `interval` seconds apart.
func sendUDP(lab: RouterLab, to host: String, port: Int, count: Int, size: Int, interval: Double) throws {
    let script = """
import socket, sys, time
host, port, count, size, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
for i in range(count):
    s.sendto(b"x" * size, (host, port))
    delay = start + (i + 1) * gap - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""
    try lab.exec(lab.h1, ["python3", "-c", script, host, "\(port)", "\(count)", "\(size)", "\(interval)"])
}
