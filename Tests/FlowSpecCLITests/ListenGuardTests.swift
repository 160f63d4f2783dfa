import Foundation
import Testing

/// `flowspec-nft listen` as a peer that stands its ground: connection floods under a low
/// descriptor limit. The listener runs as a daemon in a private namespace; floods and the real
/// peer are Python scripts there (`BGPScript`), all on loopback addresses.
@Suite("listen: connection floods", .enabled(if: canUseNamespaces, "needs root and network namespaces"), .serialized)
struct ListenGuardTests {
    /// 60 passive peers, 127.0.0.2 to 127.0.0.61, under a limit of 40 descriptors (the daemon
    /// needs ~15 of its own): 600 silent connections, 10 from each peer's address, would take the
    /// one pending place of every peer and then every descriptor. The listener keeps 16 of them
    /// free (a process out of descriptors is aborted by libdispatch), refuses what would eat
    /// into them, must not spin, must stay alive, and the real peer, connecting from 127.0.0.2
    /// into that flood, must reach Established (its connection replaces the silent one there).
    @Test("a connection flood under 40 descriptors: no busy loop, the real peer is served")
    func floodUnderLowDescriptorLimit() throws {
        let lab = try LoopbackLab(name: "fsg")
        defer { lab.close() }
        let peers = (2...61).map { "127.0.0.\($0)" }
        let daemon = try lab.startListener(limit: 40, peers: peers, extra: ["--open-timeout", "5"])

        let flood = try lab.python(BGPScript.flood, ["1179", "10"] + peers)
        defer { flood.stop() }
        #expect(flood.waitForLine(prefix: "flooded", timeout: 20) != nil, "\(flood.output)")
        // The descriptors are nearly gone now: 3 s of the daemon's CPU, busy loop or not.
        try #require(daemon.isRunning, "the listener exited (status \(daemon.isRunning ? 0 : daemon.terminationStatus)): \(lab.log)")
        let cpu0 = try processCPUSeconds(daemon.processIdentifier)
        Thread.sleep(forTimeInterval: 3)
        try #require(daemon.isRunning, "the listener exited under the flood (status \(daemon.isRunning ? 0 : daemon.terminationStatus)): \(lab.log)")
        let cpu = try processCPUSeconds(daemon.processIdentifier) - cpu0
        #expect(cpu < 0.6, "the listener used \(cpu) s of CPU in 3 s under the flood")

        let real = try lab.python(BGPScript.peer, ["127.0.0.2", "1179", "65309", "20"])
        defer { real.stop() }
        let line = real.waitForLine(prefix: "established", timeout: 25)
        #expect(line != nil, "real peer: \(real.output)\nlistener: \(lab.log)")
        print("flood: listener CPU \(cpu) s in 3 s; real peer: \(line ?? "-")")
        // The status file is rewritten every second.
        let status = try lab.waitForStatus { status in
            (status["peers"] as? [[String: Any]])?.contains { $0["peer"] as? String == "127.0.0.2" && $0["state"] as? String == "Established" } == true
        }
        // The flood took the listener to its descriptor headroom (it keeps a sixteenth of the
        // limit, at least 16, for the rest of the process, which libdispatch needs).
        #expect((status["low-descriptor-refusals"] as? Int ?? 0) > 0, "the flood never took the listener near its limit: \(status)")
        let peer = (status["peers"] as? [[String: Any]])?.first { $0["peer"] as? String == "127.0.0.2" }
        #expect(peer?["state"] as? String == "Established", "\(status)")
        #expect((peer?["refused-connections"] as? Int ?? 0) > 0)
    }
}

/// One private namespace with loopback up, a directory for files, and the listener daemon on
/// 127.0.0.1:1179. `close()` stops everything started there and removes both.
final class LoopbackLab {
    let ns: String, dir: String
    private var processes: [Process] = []

    init(name: String) throws {
        let tag = "\(name)\(getpid() % 100_000)"
        ns = tag; dir = "/tmp/\(tag)"
        try run(["sh", "-c", "rm -rf \(dir); mkdir -p \(dir); ip netns add \(ns); ip -n \(ns) link set lo up"])
    }

    func close() {
        for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() }
        sh("ip netns pids \(ns) 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del \(ns) 2>/dev/null; rm -rf \(dir)")
    }

    var log: String { (try? String(contentsOfFile: dir + "/listen.log", encoding: .utf8)) ?? "" }

    /// The listener, passive towards `peers` (all AS 65309), under `limit` open descriptors.
    @discardableResult
    func startListener(limit: Int? = nil, peers: [String], peerAS: String = "65309", extra: [String] = []) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let limited = limit.map { ["prlimit", "--nofile=\($0):\($0)"] } ?? []
        p.arguments = ["ip", "netns", "exec", ns] + limited + [flowspecNft, "listen", "--local-as", "65001",
                       "--router-id", "192.0.2.2", "--listen", "127.0.0.1:1179", "--passive", "--hold-time", "30",
                       "--status-file", dir + "/listen.json", "--log-level", "info", "--peer-as", peerAS]
            + peers.flatMap { ["--peer", $0] } + extra
        p.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: dir + "/listen.log", contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/listen.log"))
        try p.run()
        processes.append(p)
        // Listening once the status file is there (written a second after the start).
        let end = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: dir + "/listen.json") && Date() < end { Thread.sleep(forTimeInterval: 0.1) }
        try #require(FileManager.default.fileExists(atPath: dir + "/listen.json"), "listener did not start: \(log)")
        return p
    }

    /// The listener's status file as JSON.
    func status() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/listen.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The status file once `ok` holds for it (at most `timeout` seconds), else as it is then.
    func waitForStatus(timeout: Double = 5, _ ok: ([String: Any]) -> Bool) throws -> [String: Any] {
        let end = Date().addingTimeInterval(timeout)
        var s = try status()
        while !ok(s) && Date() < end {
            Thread.sleep(forTimeInterval: 0.2)
            s = try status()
        }
        return s
    }

    func python(_ script: String, _ args: [String]) throws -> ScriptProcess {
        let s = try ScriptProcess(["ip", "netns", "exec", ns, "python3", "-u", "-c", script] + args, dir: dir)
        processes.append(s.process)
        return s
    }
}

/// A background process whose standard output is collected in a file.
final class ScriptProcess {
    let process = Process()
    private let outputFile: String

    init(_ args: [String], dir: String) throws {
        outputFile = dir + "/out-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: outputFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = args
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputFile))
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "" }

    /// The first output line starting with `prefix`, waiting up to `timeout` seconds.
    func waitForLine(prefix: String, timeout: Double) -> String? {
        let end = Date().addingTimeInterval(timeout)
        repeat {
            if let l = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(l) }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < end
        return nil
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}

/// User + system CPU seconds a process has used (/proc/PID/stat fields 14 and 15).
func processCPUSeconds(_ pid: Int32) throws -> Double {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // The command name is in parentheses and may hold blanks: count fields after the last ')'.
    let rest = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
    let ticks = Double(rest[11])! + Double(rest[12])!
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// BGP from Python, for the daemon tests: message framing, an OPEN, and the two scripts.
enum BGPScript {
    static let prologue = #"""
import signal, socket, struct, sys, time
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
def message(kind, body=b""):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body
def open_message(asn, hold, ident):
    caps = bytes([1, 4, 0, 1, 0, 133, 1, 4, 0, 2, 0, 133, 65, 4]) + struct.pack("!I", asn)
    opt = bytes([2, len(caps)]) + caps
    return message(1, struct.pack("!BHH4sB", 4, min(asn, 23456) if asn > 65535 else asn, hold, socket.inet_aton(ident), len(opt)) + opt)
def read_message(s):
    def exactly(n):
        b = b""
        while len(b) < n:
            k = s.recv(n - len(b))
            if not k:
                raise EOFError("closed")
            b += k
        return b
    h = exactly(19)
    n = struct.unpack("!H", h[16:18])[0]
    return h[18], exactly(n - 19)

"""#

    /// Arguments: port, connections per address, addresses. Opens them all (non-blocking: a
    /// full accept queue must not stall the flood), prints "flooded N", then holds them.
    static let flood = prologue + #"""
port, per, addrs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
socks = []
# Round robin over the addresses: the listener's accept queue holds 64 connections, so in
# this order the first ones queued come from 60 different peers, each taking a descriptor
# (a peer's next connection replaces its silent one and costs nothing more).
for _ in range(per):
    for a in addrs:
        s = socket.socket()
        s.bind((a, 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
print("flooded", len(socks), flush=True)
while True:
    time.sleep(1)
"""#

    /// Arguments: source address, port, AS, seconds to keep trying. Connects (again and again
    /// until the deadline: a connection refused by the listener is retried), exchanges OPENs
    /// and KEEPALIVEs and prints "established SECONDS", then keeps the session up.
    static let peer = prologue + #"""
src, port, asn, patience = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
start = time.monotonic()
while True:
    try:
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(3)
        s.connect(("127.0.0.1", port))
        s.sendall(open_message(asn, 30, "198.51.100.1") + message(4))
        while True:
            kind, body = read_message(s)
            if kind == 3:
                raise EOFError("NOTIFICATION %d/%d" % (body[0], body[1]))
            if kind == 4:
                break
        break
    except (OSError, EOFError) as e:
        print("retry", repr(e), flush=True)
        s.close()
        if time.monotonic() - start > patience:
            sys.exit(1)
        time.sleep(0.2)
print("established %.2f" % (time.monotonic() - start), flush=True)
s.settimeout(None)
while True:
    time.sleep(5)
    s.sendall(message(4))
"""#
}
