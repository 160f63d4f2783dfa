import Foundation
import Glibc

/// A child process started with `posix_spawn`, in a process group of its own, its standard
/// output and error on pipes and its standard input `/dev/null`.
///
/// Not Foundation's `Process`: that one learns of its child's exit through a CFRunLoop source,
/// and in a network namespace whose `lo` is down CoreFoundation could not make its wakeup
/// socket pair ("Could not create wakeup socket pair for CFSocket"): the child became a zombie
/// nobody reaped, `waitUntilExit` never returned, and the daemon waiting on it could not stop.
/// Here the exit is learnt with `waitid`, nothing depends on a run loop, and every wait has a
/// bound (`Command`).
///
/// The child gets the default disposition of the signals the daemons ignore or handle
/// (SIGTERM, SIGINT, SIGHUP, SIGPIPE) and an empty signal mask: ignored signals are inherited
/// across exec, so a vtysh started by a daemon would otherwise ignore SIGTERM. Its own process
/// group lets `signal` reach what it started too (a shell script's `sleep`, holding the pipes).
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    /// Read ends of the child's standard output and error (close-on-exec); whoever reads them
    /// closes them.
    let stdout: Int32
    let stderr: Int32
    let name: String

    private let lock = NSLock()
    /// The exit status once reaped (after which the pid is no longer ours to signal).
    private var reaped: Int32?

    /// Serialises the making of pipes and the spawn: a child spawned by another thread between
    /// `pipe` and `FD_CLOEXEC` would hold the write ends, and the reader would see no EOF.
    private static let spawnLock = NSLock()

    /// Starts `argv` (argv[0] a path, or a name found on PATH).
    init(_ argv: [String]) throws(SourceError) {
        precondition(!argv.isEmpty)
        name = argv[0]
        let path = try Self.executable(argv[0])
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        var defaults = sigset_t(), empty = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, s) }
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var argvC: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in argvC { free(p) } }
        var child = pid_t()
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        guard pipe(&out) == 0 else { throw SourceError("cannot start \(argv[0]): pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&err) == 0 else {
            let e = errno
            close(out[0]); close(out[1])
            throw SourceError("cannot start \(argv[0]): pipe: \(String(cString: strerror(e)))")
        }
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        // Nothing else of this process goes with the child: not a netlink socket, not another
        // command's pipe, not a file another thread is writing (whose exec would then fail
        // with ETXTBSY for as long as the child lives).
        _ = Self.addCloseFrom.map { $0(&actions, 3) }
        var rc = posix_spawn(&child, path, &actions, &attributes, &argvC, environ)
        // A file just written may still be open for writing in a child another thread is
        // starting (between its fork and its exec): the kernel refuses to run it meanwhile.
        var tries = 0
        while rc == ETXTBSY && tries < 20 {
            usleep(5_000)
            tries += 1
            rc = posix_spawn(&child, path, &actions, &attributes, &argvC, environ)
        }
        close(out[1]); close(err[1])
        guard rc == 0 else {
            close(out[0]); close(err[0])
            throw SourceError("cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        pid = child
        stdout = out[0]
        stderr = err[0]
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift cannot
    /// see (it is declared under _GNU_SOURCE only): the child closes every descriptor from the
    /// given one up. Nil on a C library without it.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// The executable for `name`: as given when it holds a slash, else the first match on PATH.
    static func executable(_ name: String) throws(SourceError) -> String {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw SourceError("\(name): command not found on PATH")
    }

    /// Sends `sig` to the child's process group: the child and what it started. Only until the
    /// child is reaped: while it is a zombie its group id cannot be taken by another process,
    /// afterwards it could.
    func signalGroup(_ sig: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if reaped == nil { _ = kill(-pid, sig) }
    }

    /// The exit status if the child has exited (reaping it), else nil; never blocks.
    func exitStatus() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let reaped { return reaped }
        var status: Int32 = 0
        var r: pid_t
        repeat { r = waitpid(pid, &status, WNOHANG) } while r < 0 && errno == EINTR
        if r == pid {
            reaped = Self.decode(status)
        } else if r < 0 {
            // ECHILD: someone else reaped it (a SIGCHLD set to SIG_IGN); nothing to report.
            reaped = -1
        }
        return reaped
    }

    /// Waits for the child to exit, at most until `deadline` (polling every few milliseconds:
    /// it is called once the pipes are at their end, when the child is exiting).
    func waitForExit(until deadline: ContinuousClock.Instant) -> Int32? {
        while true {
            if let s = exitStatus() { return s }
            if ContinuousClock.now >= deadline { return nil }
            usleep(2_000)
        }
    }

    /// Waits for the child to exit, however long it takes (without reaping it first, so that
    /// `signalGroup` stays safe meanwhile).
    func waitForExit() -> Int32 {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        return exitStatus() ?? -1
    }

    /// An exit code, or 128 + the signal that ended the child (as a shell reports it).
    static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
