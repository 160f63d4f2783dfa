import FlowSpec
import Foundation

/// Splits a command line the way a POSIX shell splits words: blanks separate words, single
/// quotes keep everything literally, double quotes keep blanks (a backslash there escapes
/// `"`, `\`, `$` and `` ` ``), a backslash outside quotes escapes the next character. No
/// expansion of any kind: `--vtysh "vtysh --vty_socket /run/frr -N 'site a'"` is four words.
public func shellWords(_ line: String) throws(SourceError) -> [String] {
    var words = [String]()
    var word = ""
    var inWord = false
    var quote: Character?
    var escaped = false
    for c in line {
        if escaped {
            if quote == "\"" && !"\"\\$`".contains(c) { word.append("\\") }
            word.append(c); escaped = false; inWord = true
            continue
        }
        switch (quote, c) {
        case ("'", "'"), ("\"", "\""): quote = nil
        case ("'", _): word.append(c)
        case ("\"", "\\"): escaped = true
        case ("\"", _): word.append(c)
        case (nil, "'"), (nil, "\""): quote = c; inWord = true
        case (nil, "\\"): escaped = true
        case (nil, " "), (nil, "\t"), (nil, "\n"):
            if inWord { words.append(word); word = ""; inWord = false }
        default: word.append(c); inWord = true
        }
    }
    if escaped { throw SourceError("command line ends with a lone backslash: \(line)") }
    if quote != nil { throw SourceError("unclosed quote in command line: \(line)") }
    if inWord { words.append(word) }
    if words.isEmpty { throw SourceError("empty command line") }
    return words
}

/// A value moved across threads (or shared with signal handlers) by hand; the code using it
/// orders the accesses itself.
public final class Unchecked<T>: @unchecked Sendable {
    public var value: T
    public init(_ value: T) { self.value = value }
}

/// What a finished command printed.
public struct CommandOutput: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: String
    public var timedOut: Bool
}

enum ChildProcess {
    /// Reads `handle` to its end on another thread (so a child filling both pipes cannot block);
    /// the returned function waits for it and gives the bytes.
    static func readInBackground(_ handle: FileHandle) -> @Sendable () -> Data {
        let data = Unchecked(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            data.value = handle.readDataToEndOfFile()
            group.leave()
        }
        return { group.wait(); return data.value }
    }

    /// The executable for `name`: as given when it holds a slash, else the first match on PATH.
    static func executable(_ name: String) throws(SourceError) -> URL {
        if name.contains("/") { return URL(fileURLWithPath: name) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        throw SourceError("\(name): command not found on PATH")
    }

    static func make(_ argv: [String]) throws(SourceError) -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = try executable(argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        return (p, out, err)
    }

    /// The standard output of `argv` run to its end (`run`), or why it is no good read: it could
    /// not start, took longer than `timeout` (killed), or exited non-zero (with its standard
    /// error). `what` names the command in the message.
    static func output(_ argv: [String], timeout: Duration, what: String) async -> Result<Data, SourceError> {
        let output: CommandOutput
        do { output = try await run(argv, timeout: timeout) } catch { return .failure(error) }
        if output.timedOut { return .failure(SourceError("\(what) took over \(seconds(timeout)) s; killed")) }
        let stderr = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        if output.status != 0 {
            return .failure(SourceError("\(what) exited with status \(output.status)" + (stderr.isEmpty ? "" : ": \(stderr)")))
        }
        return .success(output.stdout)
    }

    /// Runs `argv` to its end on a thread of its own (the blocking reads stay off the
    /// concurrency pool), killing it after `timeout`.
    static func run(_ argv: [String], timeout: Duration) async throws(SourceError) -> CommandOutput {
        let (process, out, err) = try make(argv)
        let box = Unchecked((process, out, err))
        let result: Result<CommandOutput, SourceError> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let (p, out, err) = box.value
                do { try p.run() } catch {
                    continuation.resume(returning: .failure(SourceError("cannot start \(argv[0]): \(error)")))
                    return
                }
                let timedOut = Unchecked(false)
                let killer = DispatchWorkItem {
                    if p.isRunning { timedOut.value = true; kill(p.processIdentifier, SIGKILL) }
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds, execute: killer)
                let stderr = ChildProcess.readInBackground(err.fileHandleForReading)
                let data = out.fileHandleForReading.readDataToEndOfFile()
                let errData = stderr()
                p.waitUntilExit()
                killer.cancel()
                continuation.resume(returning: .success(CommandOutput(
                    status: p.terminationStatus, stdout: data,
                    stderr: String(decoding: errData, as: UTF8.self), timedOut: timedOut.value)))
            }
        }
        return try result.get()
    }
}

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

/// A long-running child process whose stdout is read line by line (`gobgp monitor`).
final class LineProcess: @unchecked Sendable {
    private let process: Process
    let lines: AsyncStream<StreamLine>

    init(_ argv: [String]) throws(SourceError) {
        let (p, out, err) = try ChildProcess.make(argv)
        process = p
        let (stream, continuation) = AsyncStream.makeStream(of: StreamLine.self)
        lines = stream
        do { try p.run() } catch { throw SourceError("cannot start \(argv[0]): \(error)") }
        let stderr = ChildProcess.readInBackground(err.fileHandleForReading)
        let name = argv.joined(separator: " ")
        readLines(fd: out.fileHandleForReading.fileDescriptor, into: continuation) {
            let errData = stderr()
            p.waitUntilExit()
            let text = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(name)` exited with status \(p.terminationStatus)" + (text.isEmpty ? "" : ": \(text)")
        }
    }

    func terminate() {
        if process.isRunning { process.terminate() }
    }

    deinit { terminate() }
}
