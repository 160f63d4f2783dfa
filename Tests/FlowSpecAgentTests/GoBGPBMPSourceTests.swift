import Foundation
import Glibc
import Testing
import FlowSpec
import FlowSpecFormats
import FlowSpecTestSupport
@testable import FlowSpecAgent

/// `GoBGPBMPSource` against a stand-in `gobgp` (a shell script: `bmp add`/`del` logged, and
/// refused as gobgpd refuses a station it has; `summary` gives the count a test sets) and a test
/// playing gobgpd's BMP side.
@Suite("GoBGP over BMP: the dump held apart until whole, then changes", .serialized)
struct GoBGPBMPSourceTests {
    static func fakeGobgp(in dir: String) throws -> String {
        let script = """
        #!/bin/bash
        D=\(dir)
        case "$1 $2" in
          "bmp add")
            echo "add $3 $4" >> $D/bmp.log
            if [ -e $D/registered ]; then echo "rpc error: code = Unknown desc = bmp client $3 is already configured" >&2; exit 1; fi
            echo "$3" > $D/target; touch $D/registered ;;
          "bmp del")
            echo "del $3" >> $D/bmp.log
            rm -f $D/registered ;;
          "global rib")
            n=$(cat $D/count-$4 2>/dev/null || echo 0)
            echo "Table $4"; echo "Destination: $n, Path: $n" ;;
        esac
        """
        let path = dir + "/gobgp"
        try script.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// A scratch directory with the stand-in gobgp in it (the caller removes it).
    static func scratch() throws -> (dir: String, gobgp: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-bmp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (dir, try fakeGobgp(in: dir))
    }

    static func log(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/bmp.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The station's `host:port` as watch registered it with the stand-in gobgp, and its port.
    static func registered(_ dir: String) async throws -> (target: String, port: UInt16) {
        #expect(await until(20) { FileManager.default.fileExists(atPath: dir + "/target") })
        let target = try String(contentsOfFile: dir + "/target", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return (target, try #require(target.split(separator: ":").last.flatMap { UInt16($0) }))
    }

    static func until(_ seconds: Double, _ condition: () async -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await condition()
    }

    @Test("a partial dump never reaches the agent; the whole one does as one snapshot; then changes; a lost session keeps the table; drift restarts the session; exit unregisters")
    func dumpThenChanges() async throws {
        let (dir, gobgp) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func count(_ n: Int) throws { try "\(n)".write(toFile: dir + "/count-ipv4-flowspec", atomically: true, encoding: .utf8) }
        func log() -> [String] { Self.log(dir) }
        let routes = RouteGenerator().routes(count: 8)
        try count(5)

        let sink = HoldingSink()
        let source = GoBGPBMPSource(gobgp: [gobgp], address: IPAddress("127.0.0.1")!, port: 0, interval: .milliseconds(300))
        let task = Task { await source.run(sink) }
        let (target, port) = try await Self.registered(dir)
        #expect(target.hasPrefix("127.0.0.1:"))
        #expect(log() == ["add \(target) local-rib"])

        // Three of five: held apart, however long the station stays quiet.
        let c1 = try TestSocket.connect(port)
        TestSocket.send(c1, BMPEncoding.initiation() + BMPEncoding.peerUp() + routes[0..<3].flatMap { BMPEncoding.announce($0) })
        try await Task.sleep(for: .seconds(1.2))
        #expect(await sink.snapshotSizes.isEmpty)
        // The rest: one snapshot of five.
        TestSocket.send(c1, routes[3..<5].flatMap { BMPEncoding.announce($0) })
        #expect(await Self.until(20) { await sink.snapshotSizes == [5] })
        #expect(await sink.held == Set(routes[0..<5].map(\.identity)))

        // Changes go as updates.
        try count(5)
        TestSocket.send(c1, BMPEncoding.withdraw(routes[0]) + BMPEncoding.announce(routes[5]))
        #expect(await Self.until(20) { await sink.held == Set(routes[1..<6].map(\.identity)) })
        #expect(await sink.snapshotSizes == [5])

        // The session lost: a failure, the routes held as they were.
        close(c1)
        #expect(await Self.until(20) { await sink.failures.contains { $0.contains("BMP session with gobgpd ended") } })
        #expect(await sink.held == Set(routes[1..<6].map(\.identity)))

        // A new session: its partial dump is not shown, its whole one replaces everything.
        try count(3)
        let c2 = try TestSocket.connect(port)
        TestSocket.send(c2, BMPEncoding.initiation() + BMPEncoding.peerUp() + routes[5..<7].flatMap { BMPEncoding.announce($0) })
        try await Task.sleep(for: .seconds(1.2))
        #expect(await sink.snapshotSizes == [5])
        #expect(await sink.held == Set(routes[1..<6].map(\.identity)))
        TestSocket.send(c2, BMPEncoding.announce(routes[7]))
        #expect(await Self.until(20) { await sink.snapshotSizes == [5, 3] })
        #expect(await sink.held == Set(routes[5..<8].map(\.identity)))

        // gobgpd's count drifts away and stands: the session is restarted (del, add).
        let logged = log().count
        try count(4)
        #expect(await Self.until(20) { await sink.failures.contains { $0.contains("restarting the session") } })
        #expect(await Self.until(20) { log().count >= logged + 2 && log().suffix(2) == ["del \(target)", "add \(target) local-rib"] }, "\(log())")
        #expect(await sink.held == Set(routes[5..<8].map(\.identity)))
        close(c2)

        task.cancel()
        await task.value
        #expect(log().last == "del \(target)")
    }

    @Test("a whole dump waits for one of gobgpd's peers to have been up for the settle time; without one it is held and said once")
    func dumpWaitsForASettledPeer() async throws {
        let (dir, gobgp) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "2".write(toFile: dir + "/count-ipv4-flowspec", atomically: true, encoding: .utf8)
        let routes = RouteGenerator().routes(count: 2)
        let sink = HoldingSink()
        var source = GoBGPBMPSource(gobgp: [gobgp], address: IPAddress("127.0.0.1")!, port: 0, interval: .milliseconds(300))
        source.settle = .seconds(2)
        let task = Task { await source.run(sink) }
        let (_, port) = try await Self.registered(dir)

        // No peer up: the whole dump is held, and after 5 s that is said.
        let c1 = try TestSocket.connect(port)
        TestSocket.send(c1, BMPEncoding.initiation() + routes.flatMap { BMPEncoding.announce($0) })
        #expect(await Self.until(20) { await sink.failures.contains { $0.contains("no BGP peer Established") } })
        #expect(await sink.snapshotSizes.isEmpty)
        close(c1)

        // A peer that has just come up: held for the settle time, then delivered.
        let c2 = try TestSocket.connect(port)
        let sent = Date()
        TestSocket.send(c2, BMPEncoding.initiation() + BMPEncoding.peerUp(secondsAgo: 0) + routes.flatMap { BMPEncoding.announce($0) })
        #expect(await Self.until(20) { await sink.snapshotSizes == [2] })
        #expect(Date().timeIntervalSince(sent) >= 1.0, "delivered \(Date().timeIntervalSince(sent)) s after the peer came up")
        close(c2)
        task.cancel()
        await task.value
    }

    @Test("a station gobgpd already has (a watch that did not exit cleanly) is removed and added again")
    func alreadyConfigured() async throws {
        let (dir, gobgp) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/registered", contents: nil)
        let sink = HoldingSink()
        let source = GoBGPBMPSource(gobgp: [gobgp], address: IPAddress("127.0.0.1")!, port: 0, interval: .seconds(1))
        let task = Task { await source.run(sink) }
        func log() -> [String] { Self.log(dir) }
        #expect(await Self.until(20) { log().count >= 3 })
        let l = log()
        #expect(l.count == 3 && l[0].hasPrefix("add ") && l[1].hasPrefix("del ") && l[2].hasPrefix("add "), "\(l)")
        #expect(await sink.failures.isEmpty)
        task.cancel()
        await task.value
    }

    @Test("--bmp: PORT, ADDRESS:PORT, [IPv6]:PORT; gobgp's target form")
    func stationText() {
        #expect(GoBGPBMPSource.target(IPAddress("127.0.0.1")!, 11019) == "127.0.0.1:11019")
        #expect(GoBGPBMPSource.target(IPAddress("::1")!, 11019) == "[::1]:11019")
    }
}
