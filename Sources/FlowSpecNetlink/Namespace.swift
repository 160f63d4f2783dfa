import CNftnl
import Glibc

/// A private network namespace, held open by a file descriptor.
///
/// Network namespaces are per thread, so the namespace is created with `unshare(CLONE_NEWNET)`
/// on a throwaway thread: the calling thread (and the host's ruleset) are never touched. A
/// netlink socket opened there stays bound to the namespace after the thread exits, and the
/// descriptor keeps the namespace alive for commands (`nsenter --net=<path>`) and closures run
/// inside it. Closed (and the namespace freed once nothing else uses it) on deinit.
public final class NetworkNamespace: @unchecked Sendable {
    /// An `O_RDONLY` descriptor of the namespace (`/proc/thread-self/ns/net` of its creator).
    public let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Creates a fresh, empty network namespace (only a down loopback interface).
    public static func create() throws(NetlinkError) -> NetworkNamespace {
        let result: Result<Int32, NetlinkError> = try onFreshThread {
            guard unshare(flowspec_clone_newnet()) == 0 else { return .failure(.call("unshare(CLONE_NEWNET)")) }
            let fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .failure(.call("open /proc/thread-self/ns/net")) }
            return .success(fd)
        }
        return NetworkNamespace(fd: try result.get())
    }

    /// A path naming the namespace for other programs while this object lives, e.g.
    /// `nsenter --net=\(path) nft list ruleset`.
    public var path: String { "/proc/\(getpid())/fd/\(fd)" }

    /// Runs `body` on a thread that has entered this namespace; the caller's thread stays where
    /// it is. Sockets `body` opens belong to this namespace.
    public func run<T>(_ body: @escaping () -> T) throws(NetlinkError) -> T {
        let fd = self.fd
        let result: Result<T, NetlinkError> = try onFreshThread {
            guard setns(fd, flowspec_clone_newnet()) == 0 else { return .failure(.call("setns(CLONE_NEWNET)")) }
            return .success(body())
        }
        return try result.get()
    }
}

/// Runs `body` to completion on a new thread and returns its result. Used so that namespace
/// changes (which are per thread) never leak into the caller's or a pool thread.
func onFreshThread<T>(_ body: @escaping () -> T) throws(NetlinkError) -> T {
    let slot = ResultSlot<T>()
    let rc = runJoined(ThreadTask { slot.value = body() })
    // Never fall back to the caller's thread: a namespace change would stick to it.
    guard rc == 0, let value = slot.value else { throw .system(call: "pthread_create", errno: rc) }
    return value
}

/// Starts a thread for `task` and joins it; returns pthread_create's result.
private func runJoined(_ task: ThreadTask) -> Int32 {
    let context = Unmanaged.passRetained(task).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadTask>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, context)
    guard rc == 0 else {
        Unmanaged<ThreadTask>.fromOpaque(context).release()
        return rc
    }
    pthread_join(thread, nil)
    return 0
}

/// A closure handed to a new thread; the starter joins before using anything it wrote.
private final class ThreadTask: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

private final class ResultSlot<T>: @unchecked Sendable {
    var value: T?
}
