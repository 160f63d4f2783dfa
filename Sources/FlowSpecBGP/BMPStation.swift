#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FlowSpec

/// What a `BMPStation` reports, in the order it happened.
public enum BMPStationEvent: Sendable {
    /// A router connected; what it sends next starts from nothing (RFC 7854 §3.3: it sends its
    /// RIB again on every session). A newer connection replaces an older one.
    case connected(IPAddress, port: UInt16)
    /// Messages read from the current connection, in order (one read's worth).
    case messages([BMPMessage])
    /// The current connection ended: closed by the router, or by the station on a framing error.
    case disconnected(String)
}

/// A BMP monitoring station (RFC 7854): it listens, takes one router's session at a time and
/// hands its messages on. It never writes to the router (BMP is one-way).
///
/// One thread runs a poll(2) loop, like `Speaker`; `events` carries what it read.
public final class BMPStation: @unchecked Sendable {
    public let events: AsyncStream<BMPStationEvent>
    private let continuation: AsyncStream<BMPStationEvent>.Continuation
    public let address: IPAddress
    public private(set) var boundPort: UInt16 = 0
    private var listener: Int32 = -1
    private var thread: PThread?
    private let stopping = Lock()
    private var stopRequested = false

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        boundPort = port
        (events, continuation) = AsyncStream.makeStream(of: BMPStationEvent.self, bufferingPolicy: .unbounded)
    }

    /// Binds (on the calling thread, so in its network namespace) and starts the loop.
    public func start() throws(SocketError) {
        listener = try Sock.listen(address, port: boundPort)
        boundPort = Sock.localPort(listener)
        let fd = listener
        thread = try PThread { [self] in run(listener: fd) }
    }

    /// Closes the connection and the listener; ends `events`.
    public func stop() {
        stopping.withLock { stopRequested = true }
        thread?.join()
        thread = nil
    }

    private var shouldStop: Bool { stopping.withLock { stopRequested } }

    private func run(listener: Int32) {
        var connection: Int32 = -1
        var framer = BMPFramer()
        func drop(_ why: String) {
            close(connection)
            connection = -1
            continuation.yield(.disconnected(why))
        }
        while !shouldStop {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            if connection >= 0 { fds.append(pollfd(fd: connection, events: Int16(POLLIN), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), 100)
            if fds[0].revents != 0 {
                switch Sock.accept(listener) {
                case .connection(let fd, let a, let p):
                    if connection >= 0 { drop("replaced by a new connection from \(a) port \(p)") }
                    connection = fd
                    framer = BMPFramer()
                    continuation.yield(.connected(a, port: p))
                case .none, .skipped: break
                case .failed:
                    // Out of descriptors: the listener stays readable; do not spin on it.
                    usleep(100_000)
                }
            }
            guard connection >= 0, fds.count > 1, fds[1].revents != 0 else { continue }
            // Read what is there (up to a few MB per wake-up, so a long dump is handed on in
            // pieces) and pass on every whole message.
            var closedBecause: String?
            reading: for _ in 0..<64 {
                switch Sock.read(connection) {
                case .data(let bytes): framer.append(bytes)
                case .wouldBlock: break reading
                case .closed(let why): closedBecause = why; break reading
                }
                var probe = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
                if poll(&probe, 1, 0) <= 0 { break }
            }
            var messages = [BMPMessage]()
            do throws(BMPError) {
                while let m = try framer.next() { messages.append(m) }
            } catch {
                if !messages.isEmpty { continuation.yield(.messages(messages)) }
                drop("closed by the station: \(error)")
                continue
            }
            if !messages.isEmpty { continuation.yield(.messages(messages)) }
            if let why = closedBecause { drop(why) }
        }
        if connection >= 0 { close(connection) }
        close(listener)
        continuation.finish()
    }
}
