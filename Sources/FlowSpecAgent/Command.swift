import FlowSpec
import Foundation
import Glibc

/// What a finished command printed.
public struct CommandOutput: Sendable {
    /// Its exit code, or 128 + the signal that ended it; -1 if it could not be reaped in time.
    public var status: Int32
    public var stdout: Data
    public var stderr: String
    /// It ran past its timeout and was killed (with what it had started).
    public var timedOut: Bool
}

/// A command run to its end within a bound: `vtysh -c …`, `gobgp global rib …`.
///
/// Every wait is bounded by `timeout`: reading the pipes (a child that never writes, or a
/// grandchild that keeps them open), and waiting for the exit. When the timeout passes, or the
/// task awaiting `run` is cancelled (a daemon shutting down), the child's whole process group
/// gets SIGKILL and `run` returns at once — a hung vtysh can neither stall the polls nor keep a
/// daemon from exiting.
public struct Command: Sendable {
    public var argv: [String]
    public var timeout: Duration

    public init(_ argv: [String], timeout: Duration) {
        self.argv = argv
        self.timeout = timeout
    }

    /// How long a killed child is waited for before it is left to a thread of its own to reap
    /// (SIGKILL ends a process unless it is stuck in the kernel).
    static let reapAfterKill: Duration = .seconds(1)

    /// Runs the command on a thread of its own (the blocking calls stay off the concurrency
    /// pool). Throws when it cannot start or when the calling task is cancelled (it is killed
    /// then); a timeout is reported in the output (`timedOut`).
    public func run() async throws(SourceError) -> CommandOutput {
        let child = try ChildProcess(argv)
        let run = try CommandRun(child: child, deadline: .now + timeout)
        let result: Result<CommandOutput, SourceError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: run.body()) }
            }
        } onCancel: {
            run.cancel()
        }
        return try result.get()
    }

    /// The standard output of the command run to its end, or why it is no good read: it could
    /// not start, took longer than `timeout` (killed), exited non-zero (with its standard error),
    /// or was cancelled. `what` names the command in the message.
    public func output(what: String) async -> Result<Data, SourceError> {
        let output: CommandOutput
        do { output = try await run() } catch { return .failure(SourceError("\(what): \(error)")) }
        if output.timedOut { return .failure(SourceError("\(what) took over \(timeout.secondsText) s; killed")) }
        let stderr = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        if output.status != 0 {
            return .failure(SourceError("\(what) exited with status \(output.status)" + (stderr.isEmpty ? "" : ": \(stderr)")))
        }
        return .success(output.stdout)
    }
}

/// One run of a `Command`: the child, its deadline, and the pipe that wakes the reading thread
/// when the run is cancelled.
private final class CommandRun: @unchecked Sendable {
    let child: ChildProcess
    let deadline: ContinuousClock.Instant
    private var wake: [Int32] = [-1, -1]

    init(child: ChildProcess, deadline: ContinuousClock.Instant) throws(SourceError) {
        self.child = child
        self.deadline = deadline
        guard pipe(&wake) == 0 else {
            let e = errno
            child.signalGroup(SIGKILL)
            close(child.stdout); close(child.stderr)
            Thread.detachNewThread { _ = child.waitForExit() }
            throw SourceError("cannot run \(child.name): pipe: \(String(cString: strerror(e)))")
        }
        for fd in wake { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// Wakes `body`, which kills the child and gives up. Safe at any time: the pipe lives as
    /// long as this object.
    func cancel() {
        var byte: UInt8 = 1
        _ = write(wake[1], &byte, 1)
    }

    deinit { close(wake[0]); close(wake[1]) }

    /// Reads both pipes to their end and waits for the exit, all before the deadline.
    func body() -> Result<CommandOutput, SourceError> {
        var fds = [pollfd(fd: child.stdout, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: child.stderr, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
        var collected: [[UInt8]] = [[], []]
        var buffer = [UInt8](repeating: 0, count: 65536)
        var open = 2, timedOut = false, cancelled = false
        defer { for i in 0..<2 where fds[i].fd >= 0 { close(fds[i].fd) } }
        while open > 0 {
            let left = deadline - .now
            if left <= .zero { timedOut = true; break }
            let ms = Int32(min(left.milliseconds + 1, Int64(Int32.max)))
            let n = poll(&fds, nfds_t(fds.count), ms)
            if n < 0 { if errno == EINTR { continue }; timedOut = true; break }
            if fds[2].revents != 0 { cancelled = true; break }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let r = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if r > 0 {
                    collected[i].append(contentsOf: buffer[0..<r])
                } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(fds[i].fd)
                    fds[i].fd = -1
                    open -= 1
                }
            }
        }
        var status: Int32?
        if !timedOut && !cancelled {
            status = child.waitForExit(until: deadline)
            timedOut = status == nil
        }
        if timedOut || cancelled {
            child.signalGroup(SIGKILL)
            status = child.waitForExit(until: .now + Command.reapAfterKill)
            if status == nil {
                let child = self.child
                Thread.detachNewThread { _ = child.waitForExit() }
            }
        }
        if cancelled { return .failure(SourceError("cancelled; killed")) }
        return .success(CommandOutput(status: status ?? -1, stdout: Data(collected[0]),
                                      stderr: String(decoding: collected[1], as: UTF8.self), timedOut: timedOut))
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
