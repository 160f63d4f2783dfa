import Foundation
import Testing

/// `listen --config FILE`, as `watch` has it: the file's settings under the command line's
/// (`--no-flush-on-exit` overriding the file's `flush-on-exit = true`), SIGHUP re-reading it.
@Suite(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
struct ListenConfigTests {
    @Test func listenTakesAConfigFileAndSIGHUPReReadsIt() throws {
        let lab = try LoopbackLab(name: "fsc")
        defer { lab.close() }
        let config = lab.dir + "/listen.conf"
        func write(table: String, holdTime: Int) throws {
            try """
                # the listener of the test
                local-as = 65001
                router-id = 192.0.2.2
                peer = 127.0.0.2
                peer-as = 65309
                passive = true
                listen = 127.0.0.1:1179
                hold-time = \(holdTime)
                status-file = \(lab.dir)/listen.json
                table = \(table)
                flush-on-exit = true
                metrics = 127.0.0.1:9343
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(table: "fsncfg", holdTime: 90)
        let log = lab.dir + "/listen.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        daemon.arguments = ["ip", "netns", "exec", lab.ns, flowspecNft, "listen", "--config", config, "--no-flush-on-exit"]
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

        #expect(wait(30) { FileManager.default.fileExists(atPath: lab.dir + "/listen.json") }, "\(logText())")
        let status = try lab.status()
        #expect(status["local-as"] as? Int == 65001 && status["port"] as? Int == 1179, "\(status)")
        #expect((status["peers"] as? [[String: Any]])?.first?["peer"] as? String == "127.0.0.2")
        #expect((status["agent"] as? [String: Any])?["table"] as? String == "fsncfg", "the agent's status beside the peers: \(status)")
        // The peers in the metrics (from the config file's `metrics`).
        let scrape = "import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:9343/metrics', timeout=20).read().decode())"
        let metrics = try run(["ip", "netns", "exec", lab.ns, "python3", "-c", scrape]).out
        #expect(metrics.contains("flowspec_bgp_peer_established{peer=\"127.0.0.2\"} 0"), "\(metrics)")
        #expect(metrics.contains("flowspec_bgp_peer_state{peer=\"127.0.0.2\",state=\"Active\"} 1"))
        #expect(metrics.contains("flowspec_bgp_updates_received_total{peer=\"127.0.0.2\"} 0"))
        #expect(metrics.contains("flowspec_table_present{table=\"fsncfg\"} 0"))

        try write(table: "fsncfg2", holdTime: 60)
        kill(daemon.processIdentifier, SIGHUP)
        #expect(wait(10) { logText().contains("configuration reloaded: table inet fsncfg2") }, "\(logText())")
        #expect(logText().contains("SIGHUP: peer, speaker, status file, log and metrics changes take effect on restart only"))

        kill(daemon.processIdentifier, SIGTERM)
        #expect(wait(10) { !daemon.isRunning }, "\(logText())")
        daemon.waitUntilExit()
        #expect(daemon.terminationStatus == 0)
        // --no-flush-on-exit on the command line wins over the file's flush-on-exit = true.
        #expect(logText().contains("exiting; table inet fsncfg2 left in place"), "\(logText())")
    }
}
