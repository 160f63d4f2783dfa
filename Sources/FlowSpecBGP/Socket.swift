#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FlowSpec

/// A failed socket call, with the call's name and errno.
public struct SocketError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Thin wrappers over the POSIX socket calls the speaker needs. Every descriptor is
/// non-blocking; the event loop in `Speaker` waits with poll(2). (The CLI's metrics endpoint
/// listens and accepts through them too.)
package enum Sock {
    static func storage(_ a: IPAddress, port: UInt16) -> (sockaddr_storage, socklen_t) {
        var ss = sockaddr_storage()
        if a.family == .ipv4 {
            withUnsafeMutableBytes(of: &ss) { raw in
                let sin = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                sin.pointee.sin_family = sa_family_t(AF_INET)
                sin.pointee.sin_port = port.bigEndian
                sin.pointee.sin_addr.s_addr = a.ipv4Value.bigEndian
            }
            return (ss, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
        withUnsafeMutableBytes(of: &ss) { raw in
            let sin6 = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
            sin6.pointee.sin6_family = sa_family_t(AF_INET6)
            sin6.pointee.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.pointee.sin6_addr) { b in
                for i in 0..<16 { b[i] = a.byte(i) }
            }
        }
        return (ss, socklen_t(MemoryLayout<sockaddr_in6>.size))
    }

    /// The address and port in a sockaddr; IPv4-mapped IPv6 addresses come back as IPv4.
    static func address(_ ss: sockaddr_storage) -> (IPAddress, UInt16)? {
        var ss = ss
        let family = Int32(ss.ss_family)
        return withUnsafeBytes(of: &ss) { raw -> (IPAddress, UInt16)? in
            switch family {
            case AF_INET:
                let sin = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self).pointee
                return (IPAddress(ipv4: UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self).pointee
                var bytes = [UInt8](repeating: 0, count: 16)
                withUnsafeBytes(of: sin6.sin6_addr) { b in for i in 0..<16 { bytes[i] = b[i] } }
                let port = UInt16(bigEndian: sin6.sin6_port)
                if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                    return (IPAddress(family: .ipv4, bytes: bytes[12...]), port)
                }
                return (IPAddress(family: .ipv6, bytes: bytes), port)
            default:
                return nil
            }
        }
    }

    private static func socketFor(_ family: AddressFamily) throws(SocketError) -> Int32 {
        #if canImport(Glibc)
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        let fd = socket(family == .ipv4 ? AF_INET : AF_INET6, type, 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", errno: errno) }
        return fd
    }

    private static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func bindTo(_ fd: Int32, _ a: IPAddress, _ port: UInt16) throws(SocketError) {
        var (ss, len) = storage(a, port: port)
        let rc = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard rc == 0 else { let e = errno; close(fd); throw SocketError(operation: "bind \(a) port \(port)", errno: e) }
    }

    /// A listening socket; on `::` it also accepts IPv4 (IPV6_V6ONLY off). `configure` runs
    /// on the bound socket before it listens (keys and TTLs must be there before the first SYN).
    package static func listen(_ a: IPAddress, port: UInt16,
                       configure: (Int32) throws(SocketError) -> Void = { _ throws(SocketError) in }) throws(SocketError) -> Int32 {
        let fd = try socketFor(a.family)
        setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if a.family == .ipv6 { setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
        try bindTo(fd, a, port)
        do throws(SocketError) { try configure(fd) } catch { close(fd); throw error }
        #if canImport(Glibc)
        let rc = Glibc.listen(fd, 64)
        #else
        let rc = Darwin.listen(fd, 64)
        #endif
        guard rc == 0 else { let e = errno; close(fd); throw SocketError(operation: "listen", errno: e) }
        return fd
    }

    /// The port a socket is bound to (for listeners on port 0).
    package static func localPort(_ fd: Int32) -> UInt16 {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return address(ss)?.1 ?? 0
    }

    package enum Accepted {
        case connection(fd: Int32, address: IPAddress, port: UInt16)
        /// No connection waiting.
        case none
        /// This one went away before it was accepted (or was refused by a policy): try the next.
        case skipped
        /// accept(2) failed in a way the next call will repeat (EMFILE, ENFILE, ENOBUFS, ENOMEM):
        /// the listener stays readable, so the caller must stop polling it for a while.
        case failed(Int32)
    }

    /// One pending connection, if any.
    package static func accept(_ fd: Int32) -> Accepted {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let c = withUnsafeMutablePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                #if canImport(Glibc)
                Glibc.accept(fd, $0, &len)
                #else
                Darwin.accept(fd, $0, &len)
                #endif
            }
        }
        guard c >= 0 else {
            let e = errno
            switch e {
            case EAGAIN, EWOULDBLOCK: return .none
            case EINTR, ECONNABORTED, EPROTO, EPERM: return .skipped
            default: return .failed(e)
            }
        }
        _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
        _ = fcntl(c, F_SETFD, FD_CLOEXEC)
        guard let (a, p) = address(ss) else { close(c); return .skipped }
        setInt(c, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        return .connection(fd: c, address: a, port: p)
    }

    /// The process's limit of open descriptors (RLIMIT_NOFILE, soft); `Int.max` when unlimited.
    static func descriptorLimit() -> Int {
        var rl = rlimit()
        #if canImport(Glibc)
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return .max }
        #else
        guard getrlimit(RLIMIT_NOFILE, &rl) == 0 else { return .max }
        #endif
        return rl.rlim_cur >= UInt64(Int.max) ? .max : Int(rl.rlim_cur)
    }

    /// Starts a non-blocking connect; completion is signalled by POLLOUT, then `connectError`.
    /// `configure` runs on the socket before the SYN goes out.
    static func connect(to a: IPAddress, port: UInt16, from local: IPAddress?,
                        configure: (Int32) throws(SocketError) -> Void = { _ throws(SocketError) in }) throws(SocketError) -> Int32 {
        let fd = try socketFor(a.family)
        if let local, local.family == a.family { try bindTo(fd, local, 0) }
        setInt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        do throws(SocketError) { try configure(fd) } catch { close(fd); throw error }
        var (ss, len) = storage(a, port: port)
        let rc = withUnsafePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                #if canImport(Glibc)
                Glibc.connect(fd, $0, len)
                #else
                Darwin.connect(fd, $0, len)
                #endif
            }
        }
        if rc != 0 && errno != EINPROGRESS {
            let e = errno; close(fd); throw SocketError(operation: "connect \(a) port \(port)", errno: e)
        }
        return fd
    }

    /// 0 when the connect succeeded, else its errno.
    static func connectError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 else { return errno }
        return err
    }

    /// Sets an integer socket option, or says which one failed.
    static func set(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ what: String) throws(SocketError) {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SocketError(operation: "setsockopt \(what)", errno: errno)
        }
    }

    /// Installs the TCP-MD5 key (RFC 2385) for `peer` on `fd`, whose address family is
    /// `socketFamily`: a connecting socket signs its segments and checks the peer's; on a
    /// listener, every segment from `peer` (the SYN first) must carry a valid signature, and the
    /// connections it accepts inherit the key. An IPv4 peer on an IPv6 socket is named by its
    /// IPv4-mapped address, as the kernel sees it there.
    static func setMD5Key(_ fd: Int32, socketFamily: AddressFamily, peer: IPAddress, key: [UInt8]) throws(SocketError) {
        guard (1...Int(TCP_MD5SIG_MAXKEYLEN)).contains(key.count) else {
            throw SocketError(operation: "TCP-MD5 key for \(peer): \(key.count) octets (1 to \(TCP_MD5SIG_MAXKEYLEN))", errno: EINVAL)
        }
        var sig = tcp_md5sig()
        let address = socketFamily == .ipv6 && peer.family == .ipv4 ? peer.ipv4Mapped : peer
        (sig.tcpm_addr, _) = storage(address, port: 0)
        sig.tcpm_keylen = UInt16(key.count)
        withUnsafeMutableBytes(of: &sig.tcpm_key) { for (i, b) in key.enumerated() { $0[i] = b } }
        guard setsockopt(fd, Int32(IPPROTO_TCP), TCP_MD5SIG, &sig, socklen_t(MemoryLayout<tcp_md5sig>.size)) == 0 else {
            throw SocketError(operation: "setsockopt TCP_MD5SIG for \(peer)", errno: errno)
        }
    }

    /// GTSM (RFC 5082) on `fd`: our segments leave with TTL (hop limit) 255, and the peer's are
    /// dropped by the kernel unless they arrive with at least 256 − `hops` (IP_MINTTL,
    /// IPV6_MINHOPCOUNT), i.e. from at most `hops` hops away. `minimum` nil sets only the
    /// outgoing TTL (a listener serving peers without GTSM too). IPv4 options apply to an IPv6
    /// socket's IPv4-mapped traffic, so an IPv6 socket gets both.
    static func setTTLSecurity(_ fd: Int32, socketFamily: AddressFamily, hops: UInt8?) throws(SocketError) {
        let minimum = hops.map { Int32(256 - Int($0)) }
        try set(fd, Int32(IPPROTO_IP), IP_TTL, 255, "IP_TTL 255")
        if let minimum { try set(fd, Int32(IPPROTO_IP), IP_MINTTL, minimum, "IP_MINTTL \(minimum)") }
        guard socketFamily == .ipv6 else { return }
        try set(fd, Int32(IPPROTO_IPV6), IPV6_UNICAST_HOPS, 255, "IPV6_UNICAST_HOPS 255")
        if let minimum { try set(fd, Int32(IPPROTO_IPV6), IPV6_MINHOPCOUNT, minimum, "IPV6_MINHOPCOUNT \(minimum)") }
    }

    enum ReadResult { case data([UInt8]), wouldBlock, closed(String) }

    static func read(_ fd: Int32) -> ReadResult {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { return .data(Array(buf[0..<n])) }
        if n == 0 { return .closed("connection closed by peer") }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return .wouldBlock }
        return .closed(SocketError(operation: "recv", errno: errno).description)
    }

    /// Writes what the socket takes now; returns the count written, or nil on error.
    static func write(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Int? {
        #if canImport(Glibc)
        let flags = Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)
        #else
        let flags = MSG_DONTWAIT
        #endif
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, flags) }
        if n >= 0 { return n }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return 0 }
        return nil
    }
}

/// A pthread mutex; the speaker's shared state (commands, status) is small and rarely touched.
final class Lock: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&m); defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}

/// Monotonic seconds.
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A plain pthread: created by the calling thread, so it shares that thread's network
/// namespace (which Dispatch's pooled threads would not guarantee).
final class PThread: @unchecked Sendable {
    private var thread: pthread_t?
    private final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }

    init(_ body: @escaping @Sendable () -> Void) throws(SocketError) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Glibc)
        var t = pthread_t()
        #else
        var t: pthread_t? = nil
        #endif
        let rc = pthread_create(&t, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SocketError(operation: "pthread_create", errno: rc)
        }
        thread = t
    }

    func join() {
        if let t = thread { pthread_join(t, nil) }
        thread = nil
    }
}
