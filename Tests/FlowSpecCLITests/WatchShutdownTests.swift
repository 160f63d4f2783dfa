import Foundation
import Testing

/// `watch --source frr` stops when told to, whatever vtysh does: in a private network namespace
/// whose `lo` is down (`unshare -n`: where Foundation's Process once left the vtysh child a
/// zombie and the daemon deaf to SIGTERM) with a vtysh stand-in that never answers.
@Suite(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
struct WatchShutdownTests {
    @Test func sigtermEndsWatchWhileVtyshHangs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-hang-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Ignores SIGTERM, starts a child that holds the pipes, records both pids per call.
        let vtysh = dir + "/vtysh"
        try """
            #!/bin/sh
            trap '' TERM
            sleep 300 &
            echo "$$ $!" >> \(dir)/pids
            wait
            """.write(toFile: vtysh, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: vtysh)
        let log = dir + "/watch.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        daemon.arguments = ["-n", flowspecNft, "watch", "--source", "frr", "--vtysh", vtysh, "--interval", "0.2",
                            "--command-timeout", "1", "--table", "fsnhang"]
        daemon.standardInput = FileHandle.nullDevice
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func wait(_ seconds: Double, _ ok: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while !ok() && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
            return ok()
        }

        // A hung poll is killed after --command-timeout and is a failed read; the next poll hangs again.
        #expect(wait(20) { logText().contains("vtysh took over 1.0 s; killed") }, "\(logText())")
        #expect(logText().contains("source unreadable, table left as it is"))
        #expect(wait(10) { ((try? String(contentsOfFile: dir + "/pids", encoding: .utf8)) ?? "").split(separator: "\n").count >= 2 })

        // SIGTERM while a poll hangs: the daemon exits, status 0, within a bound.
        let start = Date()
        kill(daemon.processIdentifier, SIGTERM)
        #expect(wait(5) { !daemon.isRunning }, "still running 5 s after SIGTERM:\n\(logText())")
        print("watch exited \(Date().timeIntervalSince(start)) s after SIGTERM")
        if daemon.isRunning { return }
        daemon.waitUntilExit()
        #expect(daemon.terminationReason == .exit && daemon.terminationStatus == 0, "\(logText())")
        #expect(logText().contains("signal SIGTERM: shutting down") && logText().contains("exiting; table inet fsnhang left in place"))
        #expect(!logText().contains("source unreadable, table left as it is: `show bgp ipv4 flowspec summary json`: vtysh: cancelled"))

        // Every vtysh started, and what it started, is gone.
        let pids = ((try? String(contentsOfFile: dir + "/pids", encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        #expect(!pids.isEmpty)
        #expect(wait(5) { pids.allSatisfy(processGone) }, "left running: \(pids.filter { !processGone($0) })")
    }
}

/// Whether process `pid` is gone (or a zombie left to init, which is gone for our purpose).
func processGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    let state = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ").first
    return state == "Z" || state == "X"
}
