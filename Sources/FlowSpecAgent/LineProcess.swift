import FlowSpec
import Foundation
import Glibc

/// A line of a stream, or its end.
enum StreamLine: Sendable {
    case line(String)
    /// The stream ended; for a child process, its exit status and what it printed on stderr.
    case ended(String)
}

/// Reads lines from a file descriptor on a thread of its own until EOF.
func readLines(fd: Int32, into continuation: AsyncStream<StreamLine>.Continuation, onEnd: @escaping @Sendable () -> String) {
    Thread.detachNewThread {
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var start = 0
            for i in 0..<n where buffer[i] == 0x0a {
                pending.append(contentsOf: buffer[start..<i])
                continuation.yield(.line(String(decoding: pending, as: UTF8.self)))
                pending.removeAll(keepingCapacity: true)
                start = i + 1
            }
            pending.append(contentsOf: buffer[start..<n])
        }
        if !pending.isEmpty { continuation.yield(.line(String(decoding: pending, as: UTF8.self))) }
        continuation.yield(.ended(onEnd()))
        continuation.finish()
    }
}

/// A long-running child process whose stdout is read line by line (`gobgp monitor`). It ends
/// with `terminate()` (or when released): SIGTERM to its process group, SIGKILL a moment later
/// if it is still there.
final class LineProcess: @unchecked Sendable {
    private let child: ChildProcess
    let lines: AsyncStream<StreamLine>

    /// How long a terminated child has to exit before it gets SIGKILL.
    static let killAfter: Duration = .seconds(2)

    init(_ argv: [String]) throws(SourceError) {
        let child = try ChildProcess(argv)
        self.child = child
        let (stream, continuation) = AsyncStream.makeStream(of: StreamLine.self)
        lines = stream
        // Standard error is read to its end on a thread of its own (a child filling that pipe
        // would block), and reported with the exit.
        let stderr = Unchecked([UInt8]())
        let stderrDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(child.stderr, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                // What a failing command says fits in its first 64 KB.
                if stderr.value.count < 65536 { stderr.value.append(contentsOf: buffer[0..<n]) }
            }
            close(child.stderr)
            stderrDone.signal()
        }
        let name = argv.joined(separator: " ")
        readLines(fd: child.stdout, into: continuation) {
            close(child.stdout)
            // Past the end of stdout the child is exiting; one still there after the grace time
            // (it closed stdout but lives on) is killed.
            if child.waitForExit(until: .now + Self.killAfter) == nil { child.signalGroup(SIGKILL) }
            let status = child.waitForExit()
            stderrDone.wait()
            let text = String(decoding: stderr.value, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(name)` exited with status \(status)" + (text.isEmpty ? "" : ": \(text)")
        }
    }

    func terminate() {
        child.signalGroup(SIGTERM)
        let child = self.child
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.killAfter.seconds) {
            if child.exitStatus() == nil { child.signalGroup(SIGKILL) }
        }
    }

    deinit { terminate() }
}
