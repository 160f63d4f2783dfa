import FlowSpec
import FlowSpecAgent
import FlowSpecBGP
import FlowSpecCompiler
import FlowSpecNetlink
import Foundation
import Glibc
import Logging

/// `bench --daemon`: the `listen` daemon's path — its BGP speaker, the agent and the table
/// keeper, as `listen` wires them — in a private network namespace, fed by a scripted BGP peer
/// over the namespace's loopback. Measures, from the moment the peer sends an UPDATE to the
/// kernel commit it causes: the initial load, one route withdrawn or announced, 10% of the
/// routes replaced at once; the process CPU each single change costs; and the resident memory
/// after every replace-and-back cycle (whether it levels off); then `grow` more routes at once
/// and back (what a fabric leaf takes when the controller's policy grows, docs/e2e.md).
struct DaemonBench {
    var routes: Int
    var changes: Int
    var cycles: Int
    var grow: Int
    var dispatch: DispatchMode = .auto
    var debounce: Double
    var workload: Workload

    struct Row: Codable {
        var measurement: String
        var count: Int
        var medianMs: Double
        var minMs: Double
        var maxMs: Double
        /// Milliseconds beyond the speaker's debounce (median).
        var beyondDebounceMs: Double?
    }

    struct Result: Codable {
        var routes: Int
        var workload: String
        var dispatch: String
        var debounceSeconds: Double
        var rows: [Row]
        /// Resident set size in MB after the initial load, then after each cycle, then after the
        /// growth and back.
        var rssMB: [Double]
    }

    func run() throws -> Result {
        let connection = try NftConnection.inNewNamespace()
        guard let namespace = connection.namespace else { throw CLIError("no namespace") }
        let up = runChild(["/usr/bin/nsenter", "--net=\(namespace.path)", "ip", "link", "set", "lo", "up"])
        guard up.status == 0 else { throw CLIError("cannot bring up lo in the bench namespace: \(up.output)") }

        let clock = CommitClock(connection)
        let peerAddress = IPAddress("127.0.0.1")!
        let config = SpeakerConfig(localAS: 65001, routerID: 0x0202_0202, listenAddress: peerAddress, listenPort: 0,
                                   peers: [PeerConfig(address: peerAddress, peerAS: 65309, passive: true)],
                                   holdTime: 90, debounce: debounce, initialSyncTimeout: 120, staleTime: 120)
        // Quiet, as the measurement wants; FSN_BENCH_LOG=1 shows what the agent logs.
        let verbose = ProcessInfo.processInfo.environment["FSN_BENCH_LOG"] != nil
        var logger = Logger(label: "bench-daemon") { label -> any LogHandler in
            verbose ? StreamLogHandler.standardError(label: label) : SwiftLogNoOpLogHandler()
        }
        logger.logLevel = .info
        let source = BGPListenerSource(config: config, logger: logger)
        // The listening socket must be the namespace's: bound on a thread that is in it.
        let started: Swift.Result<Void, SocketError> = try namespace.run {
            do throws(SocketError) { try source.speaker.start(); return .success(()) } catch { return .failure(error) }
        }
        try started.get()
        let agent = Agent(configuration: AgentConfiguration(options: CompileOptions(dispatch: dispatch), debounce: .zero, sourceTimeout: .seconds(3600)), writer: clock, logger: logger)
        let task = Task { await agent.run(source) }
        defer {
            task.cancel()
            source.speaker.stop()
        }

        let peer = try BenchPeer.connect(in: namespace, port: source.speaker.boundPort)
        try peer.handshake()
        let keepalive = peer.keepAlive(every: 10)
        defer { keepalive.stop() }

        // The generators make route i the same whatever the count: base, spare and growth are
        // distinct routes, and base and spare those of the runs before growth was measured.
        let all = workload.routes(count: routes + routes / 10 + grow)
        let base = Array(all[..<routes]), spare = Array(all[routes..<(routes + routes / 10)])
        let growth = Array(all[(routes + routes / 10)...])
        var rows: [Row] = []

        // Initial load: every route, then End-of-RIB for both families.
        var t0 = ContinuousClock.now
        var before = clock.count
        try peer.announce(base)
        try peer.endOfRIB()
        guard let loaded = clock.waitCommit(after: before, timeout: 600) else { throw CLIError("the initial load was never committed") }
        rows.append(Self.row("initial load (\(routes) routes, End-of-RIB)", [(loaded - t0).seconds], debounce: nil))
        var rss = [residentMB()]

        // Single changes: withdraw a route, then announce it again.
        var withdrawTimes: [Double] = [], announceTimes: [Double] = [], cpu: [Double] = []
        for i in 0..<changes {
            let r = base[(i * 7919) % base.count]
            for withdraw in [true, false] {
                let c0 = processCPU()
                before = clock.count
                t0 = ContinuousClock.now
                try withdraw ? peer.withdraw([r]) : peer.announce([r])
                guard let t = clock.waitCommit(after: before, timeout: 30) else { throw CLIError("a single change was never committed") }
                // The CPU of the whole change: wait until the agent is idle again.
                _ = clock.waitQuiet(for: 0.05)
                cpu.append(processCPU() - c0)
                if withdraw { withdrawTimes.append((t - t0).seconds) } else { announceTimes.append((t - t0).seconds) }
            }
        }
        rows.append(Self.row("1 route withdrawn", withdrawTimes, debounce: debounce))
        rows.append(Self.row("1 route announced", announceTimes, debounce: debounce))
        rows.append(Self.row("1 route changed: process CPU", cpu, debounce: nil))

        /// A burst of UPDATEs (`send`): seconds to its last commit (a burst may be delivered in
        /// more than one piece: the commits until `quiet` passes without one) and the process CPU.
        func burst(_ what: String, timeout: Double, quiet: Double, _ send: () throws -> Void) throws -> (seconds: Double, cpu: Double) {
            let c0 = processCPU()
            let before = clock.count
            let t0 = ContinuousClock.now
            try send()
            guard clock.waitCommit(after: before, timeout: timeout) != nil else { throw CLIError("\(what) was never committed") }
            let last = clock.waitQuiet(for: debounce + quiet)
            return ((last - t0).seconds, processCPU() - c0)
        }

        // 10% replaced at once (withdrawn, and as many new routes announced), then back; the
        // resident memory after each cycle.
        let out = Array(base[..<spare.count])
        var replaceTimes: [Double] = [], backTimes: [Double] = []
        for _ in 0..<cycles {
            for (gone, new) in [(out, spare), (spare, out)] {
                let (seconds, _) = try burst("a 10% change", timeout: 120, quiet: 0.3) {
                    try peer.withdraw(gone)
                    try peer.announce(new)
                }
                if gone == out { replaceTimes.append(seconds) } else { backTimes.append(seconds) }
            }
            rss.append(residentMB())
        }
        if cycles > 0 {
            rows.append(Self.row("10% replaced (\(spare.count) out, \(spare.count) in)", replaceTimes, debounce: debounce))
            rows.append(Self.row("10% back", backTimes, debounce: debounce))
        }

        // Growth: `grow` more routes at once, then withdrawn.
        if !growth.isEmpty {
            for withdraw in [false, true] {
                let what = withdraw ? "\(growth.count) routes withdrawn at once (back to \(routes))" : "\(growth.count) routes announced at once (to \(routes + growth.count))"
                let (seconds, cpu) = try burst("the growth", timeout: 600, quiet: 0.5) {
                    try withdraw ? peer.withdraw(growth) : peer.announce(growth)
                }
                rows.append(Self.row(what, [seconds], debounce: debounce))
                rows.append(Self.row(what + ": process CPU", [cpu], debounce: nil))
            }
            rss.append(residentMB())
        }
        return Result(routes: routes, workload: workload.rawValue, dispatch: dispatch.rawValue, debounceSeconds: debounce, rows: rows, rssMB: rss)
    }

    static func row(_ name: String, _ seconds: [Double], debounce: Double?) -> Row {
        let ms = seconds.map { $0 * 1000 }.sorted()
        let median = ms.isEmpty ? 0 : ms[ms.count / 2]
        return Row(measurement: name, count: ms.count, medianMs: median, minMs: ms.first ?? 0, maxMs: ms.last ?? 0,
                   beyondDebounceMs: debounce.map { median - $0 * 1000 })
    }

    static func render(_ r: Result) -> String {
        var out = "listen path, \(r.routes) \(r.workload) routes, --dispatch \(r.dispatch), speaker debounce \(r.debounceSeconds) s (from the UPDATE sent to the commit)\n"
        out += "| measurement | n | median ms | min ms | max ms | beyond debounce ms (median) |\n|---|---|---|---|---|---|\n"
        for row in r.rows {
            let beyond = row.beyondDebounceMs.map { String(format: "%.1f", $0) } ?? ""
            out += "| \(row.measurement) | \(row.count) | \(String(format: "%.1f", row.medianMs)) | \(String(format: "%.1f", row.minMs)) | \(String(format: "%.1f", row.maxMs)) | \(beyond) |\n"
        }
        out += "resident MB after the load, then after each 10% replace-and-back cycle (and after the growth and back): "
        out += r.rssMB.map { String(format: "%.0f", $0) }.joined(separator: " ") + "\n"
        return out
    }
}

/// The kernel writer `listen` uses, noting when each commit returns.
final class CommitClock: TableWriter, @unchecked Sendable {
    private let inner: NftConnection
    private let condition = NSCondition()
    private var times: [ContinuousClock.Instant] = []

    init(_ inner: NftConnection) { self.inner = inner }

    var count: Int { condition.lock(); defer { condition.unlock() }; return times.count }

    private func note() {
        condition.lock()
        times.append(.now)
        condition.broadcast()
        condition.unlock()
    }

    /// The time of the first commit after the first `after`, waiting up to `timeout` seconds.
    func waitCommit(after: Int, timeout: Double) -> ContinuousClock.Instant? {
        let end = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while times.count <= after { if !condition.wait(until: end) { return nil } }
        return times[after]
    }

    /// Waits until no commit came for `quiet` seconds; returns the time of the last commit.
    func waitQuiet(for quiet: Double) -> ContinuousClock.Instant {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let seen = times.count
            _ = condition.wait(until: Date(timeIntervalSinceNow: quiet))
            if times.count == seen { return times.last ?? .now }
        }
    }

    func generation() throws -> UInt32 { try inner.generation() }
    func stamp(ofTable name: String, family: NftFamily) throws -> UInt64? { try inner.stamp(ofTable: name, family: family) }
    func replace(_ table: consuming NftTable, shape: TableShape?) throws -> (ApplyReport, TableState?) {
        let r = try inner.replace(table, shape: shape)
        note()
        return r
    }
    func apply(_ change: TableChange, over state: inout TableState) throws -> ApplyReport {
        let r = try inner.apply(change, over: &state)
        note()
        return r
    }
    func tableExists(name: String, family: NftFamily) throws -> Bool { try inner.tableExists(name: name, family: family) }
    func deleteTable(name: String, family: NftFamily) throws { try inner.deleteTable(name: name, family: family) }
}

/// A BGP peer for the bench: OPEN, KEEPALIVEs, and flowspec UPDATEs over a blocking socket
/// made in the bench's namespace.
final class BenchPeer: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()

    private init(fd: Int32) { self.fd = fd }

    static func connect(in namespace: NetworkNamespace, port: UInt16) throws -> BenchPeer {
        let fd: Int32 = try namespace.run {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let rc = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc != 0 { close(fd); return -1 }
            return fd
        }
        guard fd >= 0 else { throw CLIError("the bench peer cannot connect to the speaker") }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return BenchPeer(fd: fd)
    }

    func send(_ m: BGPMessage) throws {
        let bytes = try m.encode()
        try lock.withLock {
            var at = 0
            while at < bytes.count {
                let k = bytes[at...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard k > 0 else { throw CLIError("the bench peer's connection closed") }
                at += k
            }
        }
    }

    private func read() -> [UInt8]? {
        func exactly(_ n: Int) -> [UInt8]? {
            var out = [UInt8](), buf = [UInt8](repeating: 0, count: n)
            while out.count < n {
                let k = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, n - out.count, 0) }
                guard k > 0 else { return nil }
                out += buf[0..<k]
            }
            return out
        }
        guard let h = exactly(19) else { return nil }
        let len = Int(h[16]) << 8 | Int(h[17])
        guard len > 19 else { return h }
        return exactly(len - 19).map { h + $0 }
    }

    /// Up to Established: the speaker's OPEN, ours, KEEPALIVEs both ways.
    func handshake() throws {
        guard let open = read(), open[18] == 1 else { throw CLIError("the speaker sent no OPEN") }
        try send(OpenMessage(localAS: 65309, holdTime: 90, identifier: 0x0101_0101).message)
        try send(.keepalive)
        while let m = read() { if m[18] == 4 { return } }
        throw CLIError("the speaker never confirmed the session")
    }

    /// Sends a KEEPALIVE every `seconds` on a thread of its own, until `stop`.
    func keepAlive(every seconds: Double) -> KeepAlive {
        let k = KeepAlive()
        Thread.detachNewThread { [self] in
            var last = ContinuousClock.now
            while !k.stopped {
                Thread.sleep(forTimeInterval: 0.2)
                if ContinuousClock.now - last >= .seconds(seconds) { try? send(.keepalive); last = .now }
            }
        }
        return k
    }

    final class KeepAlive: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        var stopped: Bool { lock.withLock { done } }
        func stop() { lock.withLock { done = true } }
    }

    /// Announces `routes`: one UPDATE per family and set of communities, at most `perUpdate`
    /// NLRIs each (60 is well inside 4,096 bytes).
    func announce(_ routes: [FlowRoute], perUpdate: Int = 60) throws {
        struct Key: Hashable { var family: AddressFamily; var communities: [ExtendedCommunity] }
        var groups: [Key: [[Component]]] = [:], order: [Key] = []
        for r in routes {
            let k = Key(family: r.family, communities: r.extendedCommunities)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(r.components)
        }
        for k in order {
            let nlris = groups[k]!
            for chunk in stride(from: 0, to: nlris.count, by: perUpdate) {
                try send(.update(.flowspec(family: k.family, announce: Array(nlris[chunk..<min(chunk + perUpdate, nlris.count)]),
                                           extendedCommunities: k.communities)))
            }
        }
    }

    func withdraw(_ routes: [FlowRoute], perUpdate: Int = 60) throws {
        for family in AddressFamily.allCases {
            let nlris = routes.filter { $0.family == family }.map(\.components)
            for chunk in stride(from: 0, to: nlris.count, by: perUpdate) {
                try send(.update(.flowspec(family: family, withdraw: Array(nlris[chunk..<min(chunk + perUpdate, nlris.count)]))))
            }
        }
    }

    /// The messages `announce` would send, encoded beforehand (so that a flood goes out at the
    /// socket's pace, not the encoder's).
    static func encodedAnnouncements(_ routes: [FlowRoute], perUpdate: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        struct Key: Hashable { var family: AddressFamily; var communities: [ExtendedCommunity] }
        var groups: [Key: [[Component]]] = [:], order: [Key] = []
        for r in routes {
            let k = Key(family: r.family, communities: r.extendedCommunities)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(r.components)
        }
        for k in order {
            let nlris = groups[k]!
            for chunk in stride(from: 0, to: nlris.count, by: perUpdate) {
                out += try BGPMessage.update(.flowspec(family: k.family, announce: Array(nlris[chunk..<min(chunk + perUpdate, nlris.count)]),
                                                       extendedCommunities: k.communities)).encode()
            }
        }
        return out
    }

    static func encodedWithdrawals(_ routes: [FlowRoute], perUpdate: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        for family in AddressFamily.allCases {
            let nlris = routes.filter { $0.family == family }.map(\.components)
            for chunk in stride(from: 0, to: nlris.count, by: perUpdate) {
                out += try BGPMessage.update(.flowspec(family: family, withdraw: Array(nlris[chunk..<min(chunk + perUpdate, nlris.count)]))).encode()
            }
        }
        return out
    }

    /// Sends bytes already encoded (several messages).
    func sendRaw(_ bytes: [UInt8]) throws {
        try lock.withLock {
            var at = 0
            while at < bytes.count {
                let k = bytes[at...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard k > 0 else { throw CLIError("the bench peer's connection closed") }
                at += k
            }
        }
    }

    func endOfRIB() throws {
        for family in AddressFamily.allCases { try send(.update(.flowspec(family: family))) }
    }
}

/// User + system CPU seconds of this process so far.
func processCPU() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// The resident set size now, in MB (/proc/self/statm).
func residentMB() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}
