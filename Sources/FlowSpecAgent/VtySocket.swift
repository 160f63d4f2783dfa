import Foundation
import Glibc

/// An FRR daemon's vty socket (`bgpd.vty`), spoken to as vtysh speaks to it: the command line
/// and a NUL byte out; back, the command's output, then three NUL bytes and its status (0: done).
///
/// Why not vtysh: every vtysh run builds its whole command tree before it sends anything,
/// ~50 ms of CPU per poll of an idle FRR, and then relays the output a second time (15 MB after
/// each change at 50,000 routes with two paths). Spoken to directly, bgpd answers a summary in
/// about a millisecond.
///
/// Every wait is bounded by `timeout`, and a cancelled task (a daemon shutting down) ends the
/// wait at once: the socket is shut down under the blocked read.
public struct VtySocket: Sendable {
    /// The socket's path.
    public var path: String
    public var timeout: Duration

    /// `path` is bgpd's socket, or the directory that holds it as `bgpd.vty` (what vtysh's
    /// `--vty_socket` takes).
    public init(path: String, timeout: Duration) {
        var isDirectory: ObjCBool = false
        let directory = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        self.path = directory ? (path.hasSuffix("/") ? path : path + "/") + "bgpd.vty" : path
        self.timeout = timeout
    }

    /// The output of `command`, or why there is none: the socket cannot be reached, the answer
    /// took longer than `timeout`, the daemon refused the command (its message), or the task
    /// was cancelled.
    public func output(_ command: String) async -> Result<Data, SourceError> {
        let exchange = VtyExchange(path: path, command: command, deadline: .now + timeout)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: exchange.run()) }
            }
        } onCancel: {
            exchange.cancel()
        }
        return result.mapError { SourceError("`\(command)` on \(path): \($0.description)") }
    }
}

/// One command over one connection, on a thread of its own (its calls block).
private final class VtyExchange: @unchecked Sendable {
    let path: String
    let command: String
    let deadline: ContinuousClock.Instant
    private let lock = NSLock()
    private var fd: Int32 = -1
    private var cancelled = false

    init(path: String, command: String, deadline: ContinuousClock.Instant) {
        self.path = path; self.command = command; self.deadline = deadline
    }

    func cancel() {
        lock.withLock {
            cancelled = true
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    func run() -> Result<Data, SourceError> {
        // Non-blocking: a unix-socket connect would otherwise wait, without any bound, on a
        // daemon whose backlog is full; every wait here goes through `wait(for:on:)`.
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard s >= 0 else { return .failure(SourceError("socket: \(String(cString: strerror(errno)))")) }
        let started = lock.withLock { () -> Bool in
            if cancelled { return false }
            fd = s
            return true
        }
        defer { lock.withLock { fd = -1 }; close(s) }
        guard started else { return .failure(SourceError("cancelled")) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return .failure(SourceError("the socket path is too long")) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let why = errno == EAGAIN ? "the daemon takes no connection (its backlog is full)" : String(cString: strerror(errno))
            return .failure(SourceError("cannot connect: \(why)"))
        }

        var out = Array(command.utf8)
        out.append(0)
        var sent = 0
        while sent < out.count {
            guard wait(for: Int16(POLLOUT), on: s) else { return .failure(timedOutOrCancelled) }
            let n = out[sent...].withUnsafeBytes { send(s, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { return .failure(SourceError("send: \(String(cString: strerror(errno)))")) }
            sent += n
        }

        var answer = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            guard wait(for: Int16(POLLIN), on: s) else { return .failure(timedOutOrCancelled) }
            let n = chunk.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else {
                return .failure(lock.withLock { cancelled } ? SourceError("cancelled") : SourceError("the daemon closed the connection before the end of its answer"))
            }
            answer.append(contentsOf: chunk[..<n])
            // The end: three NULs and the status (output text holds no NUL).
            let c = answer.count
            if c >= 4, answer[c - 4] == 0, answer[c - 3] == 0, answer[c - 2] == 0 {
                let status = answer[c - 1]
                answer.removeLast(4)
                guard status == 0 else {
                    let text = String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    return .failure(SourceError("the daemon answered with status \(status)" + (text.isEmpty ? "" : ": \(text)")))
                }
                return .success(answer)
            }
        }
    }

    private var timedOutOrCancelled: SourceError {
        lock.withLock { cancelled } ? SourceError("cancelled") : SourceError("no answer within the command timeout")
    }

    /// Waits until `s` is ready for `events` or the deadline passes (false then, or when
    /// cancelled: the shut-down socket is ready and the call after this one sees it).
    private func wait(for events: Int16, on s: Int32) -> Bool {
        while true {
            if lock.withLock({ cancelled }) { return false }
            let left = deadline - .now
            guard left > .zero else { return false }
            var p = pollfd(fd: s, events: events, revents: 0)
            let ms = Int32(min(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000), 60_000))
            let r = poll(&p, 1, ms)
            if r > 0 { return true }
            if r < 0 && errno != EINTR { return false }
        }
    }
}
