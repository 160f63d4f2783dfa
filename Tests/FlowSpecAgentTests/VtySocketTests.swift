import Foundation
import Testing
import FlowSpec
import FlowSpecFormats
@testable import FlowSpecAgent

/// `VtySocket` and `FRRSource` with `vtySocket` against a stand-in bgpd (a Python unix-socket
/// server answering as bgpd 8.4 does: the output, three NULs, the status byte).
@Suite(.serialized) struct VtySocketTests {
    static let routes = 20_000

    /// Starts the stand-in in a fresh directory; its socket is `bgpd.vty` there.
    static func standIn(full: Bool = false) throws -> (dir: String, server: Process) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-vty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = #"""
            import os, socket, sys, threading, time
            path = sys.argv[1] + "/bgpd.vty"
            summary4 = '{"tableVersion":9,"peers":{"192.0.2.2":{"state":"Established","peerUptimeMsec":60000,"pfxRcd":%d}}}' % int(sys.argv[2])
            detail4 = "".join('[\n  {\n    "to":"203.0.%d.%d/32",\n    "proto":"= 6 "\n  },\n  {\n    "ecomlist":"FS:rate 0.000000"\n  },\n  {\n    "time":"00:00:09"\n  }\n]\n' % (i // 256, i % 256) for i in range(int(sys.argv[2])))
            answers = {"show bgp ipv4 flowspec summary json": summary4, "show bgp ipv6 flowspec summary json": "{}",
                       "show bgp ipv4 flowspec detail json": detail4, "show bgp ipv6 flowspec detail json": ""}
            def serve(c):
                data = b""
                while b"\0" not in data:
                    d = c.recv(4096)
                    if not d: return
                    data += d
                cmd = data.split(b"\0")[0].decode()
                if cmd == "hang": time.sleep(3600)
                if cmd == "close": c.close(); return
                if cmd in answers:
                    out = answers[cmd].encode()
                    for i in range(0, len(out), 100000): c.sendall(out[i:i + 100000])
                    c.sendall(b"\0\0\0\0")
                else:
                    c.sendall(("% [BGP] Unknown command: " + cmd + "\n").encode() + b"\0\0\0\x02")
                c.close()
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            if len(sys.argv) > 3:
                # A daemon that takes no connection: its backlog filled, nothing accepted.
                s.listen(0)
                held = []
                while True:
                    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.setblocking(False)
                    try: c.connect(path)
                    except BlockingIOError: break
                    held.append(c)
                open(sys.argv[1] + "/ready", "w").close()
                time.sleep(3600)
            s.listen(16)
            open(sys.argv[1] + "/ready", "w").close()
            while True:
                c, _ = s.accept()
                threading.Thread(target=serve, args=(c,), daemon=True).start()
            """#
        try script.write(toFile: dir + "/bgpd.py", atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", dir + "/bgpd.py", dir, "\(routes)"] + (full ? ["full"] : [])
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: dir + "/ready") && Date() < deadline { usleep(20_000) }
        return (dir, server)
    }

    static func stop(_ s: (dir: String, server: Process)) {
        // SIGKILL: the test process may run with SIGTERM ignored, which its children inherit.
        kill(s.server.processIdentifier, SIGKILL)
        s.server.waitUntilExit()
        try? FileManager.default.removeItem(atPath: s.dir)
    }

    @Test func answersAreTheOutputWithoutTheEndMark() async throws {
        let s = try Self.standIn()
        defer { Self.stop(s) }
        // The directory, as vtysh's --vty_socket takes it, or the socket itself.
        let vty = VtySocket(path: s.dir, timeout: .seconds(30))
        #expect(vty.path == s.dir + "/bgpd.vty")
        let summary = try await vty.output("show bgp ipv4 flowspec summary json").get()
        #expect(String(decoding: summary, as: UTF8.self).hasPrefix(#"{"tableVersion":9,"#) && summary.last == UInt8(ascii: "}"))
        let detail = try await VtySocket(path: s.dir + "/bgpd.vty", timeout: .seconds(30)).output("show bgp ipv4 flowspec detail json").get()
        #expect(detail.count > 2_000_000 && !detail.contains(0))
        #expect(try FRRReader.read(String(decoding: detail, as: UTF8.self), family: .ipv4).routes.count == Self.routes)
        #expect(try await vty.output("show bgp ipv6 flowspec detail json").get().isEmpty)
    }

    @Test func refusalsTimeoutsHangUpsAndCancellationAreFailedReads() async throws {
        let s = try Self.standIn()
        defer { Self.stop(s) }
        let vty = VtySocket(path: s.dir, timeout: .milliseconds(500))
        guard case .failure(let refused) = await vty.output("show nonsense") else { Issue.record("an unknown command gave output"); return }
        #expect(refused.description.contains("status 2: % [BGP] Unknown command: show nonsense"), "\(refused)")
        let start = ContinuousClock.now
        guard case .failure(let slow) = await vty.output("hang") else { Issue.record("a daemon that never answers gave output"); return }
        #expect(slow.description.contains("no answer within the command timeout") && ContinuousClock.now - start < .seconds(10), "\(slow)")
        guard case .failure(let closed) = await vty.output("close") else { Issue.record("a closed connection gave output"); return }
        #expect(closed.description.contains("closed the connection"), "\(closed)")
        guard case .failure(let nowhere) = await VtySocket(path: s.dir + "/nothing.vty", timeout: .seconds(1)).output("show bgp ipv4 flowspec summary json") else {
            Issue.record("a socket that is not there gave output"); return
        }
        #expect(nowhere.description.contains("cannot connect"), "\(nowhere)")
        // A daemon shutting down does not wait for the answer.
        let patient = VtySocket(path: s.dir, timeout: .seconds(300))
        let task = Task { await patient.output("hang") }
        try await Task.sleep(for: .milliseconds(300))
        let cancelledAt = ContinuousClock.now
        task.cancel()
        guard case .failure(let cancelled) = await task.value else { Issue.record("a cancelled read gave output"); return }
        #expect(cancelled.description.contains("cancelled") && ContinuousClock.now - cancelledAt < .seconds(5), "\(cancelled)")
    }

    /// A daemon that takes no connection (its backlog full) is a failed read at once, not a
    /// connect that waits without a bound.
    @Test func aDaemonTakingNoConnectionIsAFailedRead() async throws {
        let s = try Self.standIn(full: true)
        defer { Self.stop(s) }
        let start = ContinuousClock.now
        guard case .failure(let e) = await VtySocket(path: s.dir, timeout: .seconds(300)).output("show bgp ipv4 flowspec summary json") else {
            Issue.record("a daemon with a full backlog gave output"); return
        }
        #expect(e.description.contains("takes no connection") && ContinuousClock.now - start < .seconds(10), "\(e)")
    }

    /// With `vtySocket`, polls read bgpd's socket; vtysh (here one that does not exist) is not run.
    @Test func pollsReadTheSocketWithoutVtysh() async throws {
        let s = try Self.standIn()
        defer { Self.stop(s) }
        let source = FRRSource(vtysh: [s.dir + "/no-vtysh"], vtySocket: s.dir, interval: .seconds(1))
        guard case .success(let result) = await source.poll() else { Issue.record("no routes through the socket"); return }
        #expect(result.currentRoutes().count == Self.routes && result.errors.isEmpty)
    }
}
