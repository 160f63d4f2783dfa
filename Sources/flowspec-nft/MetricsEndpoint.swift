import FlowSpec
import FlowSpecBGP
import Foundation
import Glibc

/// `--metrics ADDR:PORT`: the HTTP endpoint Prometheus scrapes. `GET /metrics` answers the
/// Prometheus text format (exposition format 0.0.4) that `body` makes at that moment; any other
/// path is 404, any other method 405. One request per connection, one connection at a time (a
/// scrape is one request): each has 5 s to send its request line and headers, then is answered
/// and closed. A thread of its own; no part of the daemon waits for it.
final class MetricsEndpoint: @unchecked Sendable {
    let address: IPAddress
    /// The bound port (the one asked for, or the kernel's choice for port 0).
    let port: UInt16
    private let fd: Int32
    private var wake: [Int32] = [-1, -1]
    private let body: @Sendable () -> String

    /// How long a connection may take to send its request.
    static let requestTimeout: Int32 = 5_000

    init(address: IPAddress, port: UInt16, body: @escaping @Sendable () -> String) throws {
        do {
            fd = try Sock.listen(address, port: port)
        } catch {
            throw CLIError("--metrics \(address.family == .ipv6 ? "[\(address)]" : "\(address)"):\(port): \(error)")
        }
        self.address = address
        self.port = Sock.localPort(fd)
        self.body = body
        guard pipe(&wake) == 0 else { close(fd); throw CLIError("--metrics: pipe: \(String(cString: strerror(errno)))") }
        for w in wake { _ = fcntl(w, F_SETFD, FD_CLOEXEC) }
    }

    func start() {
        Thread.detachNewThread { [self] in serve() }
    }

    /// Stops serving (the thread closes the listening socket).
    func stop() {
        var byte: UInt8 = 1
        _ = write(wake[1], &byte, 1)
    }

    private func serve() {
        defer { close(fd); close(wake[0]); close(wake[1]) }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            switch Sock.accept(fd) {
            case .connection(let c, _, _): answer(c)
            case .none, .skipped: continue
            case .failed: usleep(100_000)
            }
        }
    }

    /// Reads one request (up to its blank line) and answers it.
    private func answer(_ c: Int32) {
        defer { close(c) }
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + .milliseconds(Int(Self.requestTimeout))
        while request.count < 16384, !request.ends(with: Array("\r\n\r\n".utf8)) && !request.ends(with: Array("\n\n".utf8)) {
            let left = deadline - .now
            guard left > .zero else { return }
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000) + 1) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(c, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { return }
            request += buffer[0..<n]
        }
        let line = String(decoding: request.prefix { $0 != 0x0d && $0 != 0x0a }, as: UTF8.self).split(separator: " ")
        let response: String
        if line.count < 2 {
            response = Self.response(400, "Bad Request", "bad request\n")
        } else if line[0] != "GET" && line[0] != "HEAD" {
            response = Self.response(405, "Method Not Allowed", "GET /metrics\n")
        } else if line[1] != "/metrics" && !line[1].hasPrefix("/metrics?") {
            response = Self.response(404, "Not Found", "flowspec-nft serves /metrics\n")
        } else {
            response = Self.response(200, "OK", body(), type: "text/plain; version=0.0.4; charset=utf-8", head: line[0] == "HEAD")
        }
        var bytes = Array(response.utf8)[...]
        let end = ContinuousClock.now + .seconds(10)
        while !bytes.isEmpty, ContinuousClock.now < end {
            let n = bytes.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
            if n > 0 { bytes = bytes.dropFirst(n); continue }
            if n < 0 && errno != EAGAIN && errno != EINTR { return }
            var p = pollfd(fd: c, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 1000)
        }
    }

    static func response(_ code: Int, _ reason: String, _ body: String, type: String = "text/plain; charset=utf-8", head: Bool = false) -> String {
        "HTTP/1.1 \(code) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + (head ? "" : body)
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix) }
}
