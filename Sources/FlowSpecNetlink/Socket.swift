import CNftnl
import Glibc

/// One netlink socket (libmnl): NETLINK_NETFILTER for nf_tables, NETLINK_ROUTE for policy
/// routing. Extended acks on and acks capped so that an error carries the offset of the attribute
/// at fault but not a copy of our message.
///
/// Not Sendable: one owner at a time, like a file descriptor.
final class NetlinkSocket {
    let mnl: OpaquePointer
    let fd: Int32
    let portID: UInt32
    private var sequence: UInt32
    private var sendBufferSize = 0
    private var receiveBufferSize = 0
    /// One datagram at a time is read into this; kernel dump datagrams stay below 32 KiB.
    let receiveBuffer: UnsafeMutableRawPointer
    static let receiveBufferCapacity = 256 * 1024

    /// `groups`: the multicast groups (a bit mask of the first 32) to listen to (`RouteMonitor`).
    init(protocol family: Int32 = NETLINK_NETFILTER, groups: UInt32 = 0) throws(NetlinkError) {
        guard let mnl = mnl_socket_open(family) else { throw .call(family == NETLINK_ROUTE ? "socket(NETLINK_ROUTE)" : "socket(NETLINK_NETFILTER)") }
        guard mnl_socket_bind(mnl, groups, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = errno
            mnl_socket_close(mnl)
            throw .call("bind(netlink)", code)
        }
        var on: Int32 = 1
        // Best effort: older kernels lack these; errors are then reported without offsets.
        _ = mnl_socket_setsockopt(mnl, NETLINK_EXT_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(mnl, NETLINK_CAP_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        // rtnetlink dumps filtered by the kernel (a route dump of one table, not of a full table).
        if family == NETLINK_ROUTE { _ = mnl_socket_setsockopt(mnl, NETLINK_GET_STRICT_CHK, &on, socklen_t(MemoryLayout<Int32>.size)) }
        self.mnl = mnl
        self.fd = mnl_socket_get_fd(mnl)
        self.portID = mnl_socket_get_portid(mnl)
        self.sequence = UInt32(truncatingIfNeeded: time(nil))
        self.receiveBuffer = UnsafeMutableRawPointer.allocate(byteCount: Self.receiveBufferCapacity, alignment: 8)
    }

    deinit {
        mnl_socket_close(mnl)
        receiveBuffer.deallocate()
    }

    /// Reserves `count` consecutive sequence numbers and returns the first.
    func reserveSequence(_ count: Int) -> UInt32 {
        let first = sequence &+ 1
        sequence = sequence &+ UInt32(truncatingIfNeeded: count)
        return first
    }

    /// Grows the socket buffers (never shrinks them) so a batch of `send` bytes fits one
    /// sendmsg and `receive` bytes of replies fit the queue. Uses the FORCE variants, which
    /// may exceed wmem_max/rmem_max (needs CAP_NET_ADMIN, which nftables needs anyway).
    func ensureBuffers(send: Int, receive: Int) throws(NetlinkError) {
        if send > sendBufferSize {
            var value = Int32(clamping: send)
            guard setsockopt(fd, SOL_SOCKET, flowspec_so_sndbufforce(), &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw .call("setsockopt(SO_SNDBUFFORCE)")
            }
            sendBufferSize = send
        }
        if receive > receiveBufferSize {
            var value = Int32(clamping: receive)
            guard setsockopt(fd, SOL_SOCKET, flowspec_so_rcvbufforce(), &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw .call("setsockopt(SO_RCVBUFFORCE)")
            }
            receiveBufferSize = receive
        }
    }

    func send(_ bytes: UnsafeRawPointer, count: Int) throws(NetlinkError) {
        let sent = mnl_socket_sendto(mnl, bytes, count)
        guard sent == count else { throw .call("sendto(netlink, \(count) bytes)", sent < 0 ? errno : EMSGSIZE) }
    }

    /// Reads one datagram; nil when `wait` is false and nothing is queued.
    func receive(wait: Bool) throws(NetlinkError) -> Int? {
        while true {
            let n = recv(fd, receiveBuffer, Self.receiveBufferCapacity, wait ? 0 : flowspec_msg_dontwait())
            if n >= 0 { return n }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return nil }
            throw .call("recv(netlink)", code)
        }
    }

    /// Waits up to `milliseconds` for something to read.
    func poll(milliseconds: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&pfd, 1, milliseconds) > 0
    }

    /// Calls `body` for every netlink message in the first `count` bytes of the receive buffer.
    func forEachMessage(_ count: Int, _ body: (UnsafeMutablePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        var offset = 0
        let header = MemoryLayout<nlmsghdr>.size
        while count - offset >= header {
            let nlh = (receiveBuffer + offset).assumingMemoryBound(to: nlmsghdr.self)
            let length = Int(nlh.pointee.nlmsg_len)
            guard length >= header, length <= count - offset else { return }
            try body(nlh)
            offset += (length + 3) & ~3
        }
    }

    /// Sends one request built by `build` (into a scratch buffer, with the given sequence number)
    /// and feeds each reply message carrying that sequence number to `handle`, until the dump's
    /// NLMSG_DONE or the request's ack. A kernel error becomes `NetlinkError` via `onError`.
    func request(dump: Bool,
                 build: (UnsafeMutablePointer<CChar>, UInt32) -> UnsafeMutablePointer<nlmsghdr>,
                 onError: (Int32) -> NetlinkError,
                 handle: (UnsafeMutablePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        let scratch = UnsafeMutablePointer<CChar>.allocate(capacity: 16 * 1024)
        defer { scratch.deallocate() }
        scratch.initialize(repeating: 0, count: 16 * 1024)
        let seq = reserveSequence(1)
        let nlh = build(scratch, seq)
        if !dump { nlh.pointee.nlmsg_flags |= UInt16(NLM_F_ACK) }
        try send(scratch, count: Int(nlh.pointee.nlmsg_len))
        var finished = false
        while !finished {
            guard let n = try receive(wait: true) else { continue }
            try forEachMessage(n) { (reply) throws(NetlinkError) in
                guard !finished, reply.pointee.nlmsg_seq == seq else { return }
                switch Int32(reply.pointee.nlmsg_type) {
                case NLMSG_DONE:
                    finished = true
                case NLMSG_ERROR:
                    let code = reply.payload.assumingMemoryBound(to: Int32.self).pointee
                    finished = true
                    if code != 0 { throw onError(-code) }
                default:
                    try handle(reply)
                }
            }
        }
    }
}

extension UnsafeMutablePointer where Pointee == nlmsghdr {
    /// The bytes after the 16-byte header.
    var payload: UnsafeMutableRawPointer { UnsafeMutableRawPointer(self) + MemoryLayout<nlmsghdr>.size }
}

/// A connection to nf_tables in one network namespace: applies tables atomically, reads them
/// back, deletes them. Every write is one batch sent with one sendmsg.
///
/// Not Sendable (it owns a socket and its sequence numbers); use it from one task at a time.
public final class NftConnection {
    let socket: NetlinkSocket
    /// The private namespace this connection lives in, if it made one (`inNewNamespace`).
    public let namespace: NetworkNamespace?
    /// Every batch is sent without its end message, as `nft -c` does: the kernel runs all of it,
    /// reports what it refuses, and then drops it (NFNL_ABORT_VALIDATE): nothing is committed, the
    /// generation does not move. A change's new rule handles are then unknown (no echo comes
    /// from an aborted batch), so the state passed to `apply(_:over:)` stays as it was.
    public var checkOnly = false
    /// For tests: runs within each read of `listTable`, after the sets and before the chains and
    /// rules, where another writer's commit makes a read that `listTable` must not return.
    var betweenListingDumps: (() -> Void)?

    /// A connection in the calling thread's network namespace.
    public init() throws(NetlinkError) {
        socket = try NetlinkSocket()
        namespace = nil
    }

    private init(socket: NetlinkSocket, namespace: NetworkNamespace) {
        self.socket = socket
        self.namespace = namespace
    }

    /// A connection in a fresh private network namespace (see `NetworkNamespace`): nothing it
    /// does is visible to the host. Commands can join it through `namespace!.path`.
    public static func inNewNamespace() throws(NetlinkError) -> NftConnection {
        let namespace = try NetworkNamespace.create()
        return try inNamespace(namespace)
    }

    /// A connection bound to an existing namespace.
    public static func inNamespace(_ namespace: NetworkNamespace) throws(NetlinkError) -> NftConnection {
        let opened: Result<SocketBox, NetlinkError> = try namespace.run {
            do throws(NetlinkError) { return .success(SocketBox(try NetlinkSocket())) } catch { return .failure(error) }
        }
        return NftConnection(socket: try opened.get().socket, namespace: namespace)
    }

    /// The ruleset generation (NFT_MSG_GETGEN); a batch carrying it commits only if no other
    /// writer committed in between.
    public func generation() throws(NetlinkError) -> UInt32 {
        var generation: UInt32?
        try socket.request(dump: false, build: { buffer, seq in
            nftnl_nlmsg_build_hdr(buffer, UInt16(NFT_MSG_GETGEN.rawValue), UInt16(AF_UNSPEC), 0, seq)
        }, onError: { code in code == EPERM ? .permissionDenied(operation: "read the nftables generation") : .system(call: "NFT_MSG_GETGEN", errno: code) },
           handle: { (nlh) throws(NetlinkError) in
            guard let gen = nftnl_gen_alloc() else { throw .system(call: "nftnl_gen_alloc", errno: ENOMEM) }
            defer { nftnl_gen_free(gen) }
            guard nftnl_gen_nlmsg_parse(nlh, gen) >= 0 else { throw .undecodable(object: "generation", reason: "malformed NEWGEN") }
            generation = nftnl_gen_get_u32(gen, UInt16(NFTNL_GEN_ID))
        })
        guard let generation else { throw .unacknowledged(detail: "no NEWGEN reply") }
        return generation
    }
}

/// Carries a socket out of the namespace thread; the socket has a single owner throughout.
private final class SocketBox: @unchecked Sendable {
    let socket: NetlinkSocket
    init(_ socket: NetlinkSocket) { self.socket = socket }
}
