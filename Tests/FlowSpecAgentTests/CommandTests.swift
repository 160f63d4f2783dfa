import FlowSpec
import FlowSpecFormats
import Foundation
import Testing
@testable import FlowSpecAgent

/// The sources' commands (`vtysh -c …`, `gobgp …`) run within a bound: a command that hangs is
/// killed with what it started, a cancelled one at once, and a poll that hangs is a failed read.
@Suite struct CommandTests {
    /// A directory with an executable `name` holding `body` (a /bin/sh script).
    static func script(_ body: String, name: String = "cmd") throws -> (path: String, dir: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return (path, dir)
    }

    /// Whether process `pid` is gone (or a zombie left to init, which is gone for our purpose).
    static func gone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        let state = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ").first
        return state == "Z" || state == "X"
    }

    /// The pid a script wrote into `file` of `dir`.
    static func pid(_ dir: URL, _ file: String) -> Int32? {
        (try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    @Test func outputStatusAndStandardErrorAreCollected() async throws {
        let (path, dir) = try Self.script(#"echo out; echo err >&2; exit 3"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = try await Command([path], timeout: .seconds(30)).run()
        #expect(output.status == 3 && !output.timedOut)
        #expect(String(decoding: output.stdout, as: UTF8.self) == "out\n" && output.stderr == "err\n")
        guard case .failure(let e) = await Command([path], timeout: .seconds(30)).output(what: "cmd") else { Issue.record("status 3 read as good"); return }
        #expect(e.description == "cmd exited with status 3: err")
    }

    /// Megabytes on both pipes at once: neither blocks the other.
    @Test func bothPipesAreDrainedTogether() async throws {
        let (path, dir) = try Self.script(#"head -c 3000000 /dev/zero >&2 & head -c 5000000 /dev/zero; wait"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = try await Command([path], timeout: .seconds(60)).run()
        #expect(output.status == 0 && output.stdout.count == 5_000_000 && output.stderr.utf8.count == 3_000_000)
    }

    /// The child and the children it started hold the pipe open and never exit: at the
    /// timeout all of them are killed and the run returns.
    @Test func aCommandThatHangsIsKilledWithWhatItStarted() async throws {
        let (path, dir) = try Self.script("""
            trap '' TERM
            echo $$ > "$(dirname "$0")/shell"
            sleep 300 &
            echo $! > "$(dirname "$0")/sleep"
            echo partial
            wait
            """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let start = ContinuousClock.now
        let output = try await Command([path], timeout: .seconds(1)).run()
        let took = ContinuousClock.now - start
        // Well under the children's 300 s; loose, for a loaded machine running tests in parallel.
        #expect(output.timedOut && took < .seconds(30), "took \(took)")
        #expect(String(decoding: output.stdout, as: UTF8.self) == "partial\n")
        let shell = try #require(Self.pid(dir, "shell")), sleeper = try #require(Self.pid(dir, "sleep"))
        #expect(await eventually(.seconds(30)) { Self.gone(shell) && Self.gone(sleeper) }, "left running: \(shell) \(sleeper)")
        guard case .failure(let e) = await Command([path], timeout: .milliseconds(300)).output(what: "`show`: vtysh") else {
            Issue.record("a timeout read as good"); return
        }
        #expect(e.description == "`show`: vtysh took over 0.3 s; killed")
    }

    /// A child that has exited but left a grandchild holding its standard output: the run ends
    /// at the timeout, not when the grandchild does.
    @Test func anOrphanHoldingThePipeDoesNotHoldTheRun() async throws {
        let (path, dir) = try Self.script(#"sleep 300 & echo $! > "$(dirname "$0")/sleep"; exit 0"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let start = ContinuousClock.now
        let output = try await Command([path], timeout: .seconds(1)).run()
        #expect(output.timedOut && ContinuousClock.now - start < .seconds(30))
        let sleeper = try #require(Self.pid(dir, "sleep"))
        #expect(await eventually(.seconds(30)) { Self.gone(sleeper) })
    }

    /// Cancelling the task that runs a command (a daemon shutting down) kills it at once.
    @Test func cancellingTheTaskKillsTheCommand() async throws {
        let (path, dir) = try Self.script(#"echo $$ > "$(dirname "$0")/shell"; exec sleep 300"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let task = Task { try await Command([path], timeout: .seconds(300)).run() }
        #expect(await eventually(.seconds(10)) { Self.pid(dir, "shell") != nil })
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(30))
        guard case .failure(let e) = result else { Issue.record("a cancelled command gave output"); return }
        #expect("\(e)".contains("cancelled"))
        let shell = try #require(Self.pid(dir, "shell"))
        #expect(await eventually(.seconds(30)) { Self.gone(shell) })
    }

    /// The child does not inherit the daemons' ignored signals: SIGTERM ends it.
    @Test func theChildTakesSignalsByDefault() async throws {
        signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, SIG_DFL) }
        let (path, dir) = try Self.script(#"kill -TERM $$; sleep 5; echo survived"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = try await Command([path], timeout: .seconds(30)).run()
        #expect(output.status == 128 + SIGTERM && output.stdout.isEmpty)
    }

    /// The child gets standard input, output and error, nothing else of this process (a
    /// descriptor another thread has open is not held open by a long-running child).
    @Test func theChildInheritsNoOtherDescriptor() async throws {
        let fd = open("/dev/null", O_RDONLY)  // no O_CLOEXEC
        defer { close(fd) }
        #expect(fd > 2)
        let output = try await Command(["/bin/sh", "-c", "ls /proc/$$/fd"], timeout: .seconds(30)).run()
        #expect(String(decoding: output.stdout, as: UTF8.self).split(separator: "\n") == ["0", "1", "2"], "\(String(decoding: output.stdout, as: UTF8.self))")
    }

    @Test func aMissingCommandIsNamed() async {
        guard case .failure(let e) = await Command(["fsn-no-such-command"], timeout: .seconds(1)).output(what: "x") else {
            Issue.record("a missing command ran"); return
        }
        #expect(e.description.contains("fsn-no-such-command: command not found on PATH"))
    }

    /// A vtysh that never answers: the poll is killed after `commandTimeout` and the source
    /// tells the agent it failed (the table stays, fail-static).
    @Test func aHangingVtyshIsAFailedRead() async throws {
        let (path, dir) = try Self.script("exec sleep 300", name: "vtysh")
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = FRRSource(vtysh: [path], interval: .seconds(60), commandTimeout: .milliseconds(500))
        let sink = RecordingSink()
        let run = Task { await source.run(sink) }
        defer { run.cancel() }
        #expect(await eventually(.seconds(10)) { await sink.events.count >= 1 })
        guard case .failed(let why)? = await sink.events.first else { Issue.record("\(await sink.events)"); return }
        #expect(why.contains("took over 0.5 s; killed"), "\(why)")
        // The source stops at once when its task is cancelled, hung command or not.
        let slow = FRRSource(vtysh: [path], interval: .seconds(60), commandTimeout: .seconds(300))
        let hung = Task { await slow.run(sink) }
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        hung.cancel()
        await hung.value
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect(await sink.events.count == 1, "a cancelled poll is not reported as a failed read")
    }
}

/// Records what a source delivers.
actor RecordingSink: SourceSink {
    var events: [SourceEvent] = []
    func deliver(_ event: SourceEvent) { events.append(event) }
    func routeCount(_ family: AddressFamily) -> Int { 0 }
}
