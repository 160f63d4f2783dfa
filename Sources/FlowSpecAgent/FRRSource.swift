import FlowSpec
import FlowSpecFormats
import Foundation

/// Polls FRR: `VTYSH -c 'show bgp ipv4 flowspec detail json'` and the same for ipv6, every
/// `interval`. Each poll is a snapshot of the whole flowspec RIB — unless the families'
/// summaries, read first, show nothing changed since the last one (`Poll.unchanged`).
///
/// The families are read by two invocations rather than one with two `-c`: the two outputs
/// would run together, and a route without a prefix (a port-only match) could then not be told
/// apart as IPv4 or IPv6. A dump of 50k routes costs bgpd ~0.2 s, so polling every 1–5 s is cheap.
public struct FRRSource: RouteSource {
    public let name = "frr"
    public let defaultDebounce: Duration = .zero
    public var vtysh: [String]
    public var interval: Duration
    /// A vtysh command slower than this is killed (with what it started) and the poll counts as
    /// a failed read: vtysh hangs while a busy bgpd does not answer.
    public var commandTimeout: Duration
    /// Each family's routes as the last poll read them (`FRRReadMemo`): a poll after one change
    /// parses that route, not the RIB.
    private let memos = [AddressFamily.ipv4: FRRReadMemo(), .ipv6: FRRReadMemo()]

    /// `commandTimeout` nil: twice the interval, at least 10 s.
    public init(vtysh: [String], interval: Duration, commandTimeout: Duration? = nil) {
        self.vtysh = vtysh
        self.interval = interval
        self.commandTimeout = commandTimeout ?? Self.defaultCommandTimeout(interval: interval)
    }

    public static func defaultCommandTimeout(interval: Duration) -> Duration { max(interval * 2, .seconds(10)) }

    /// A poll whose summaries are those of the last full read skips reading the routes, but
    /// at least this often they are read whole anyway.
    static let fullReadInterval: Duration = .seconds(60)

    public func run(_ sink: any SourceSink) async {
        var last: (fingerprint: String, at: ContinuousClock.Instant)?
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let known = last.flatMap { now - $0.at < Self.fullReadInterval ? $0.fingerprint : nil }
            switch await poll(unless: known) {
            case .success(.routes(let result, let fingerprint)):
                last = fingerprint.map { ($0, now) }
                await sink.deliver(.snapshot(result))
            case .success(.unchanged):
                // A good read that found nothing new: the agent stays healthy, nothing is compared.
                await sink.deliver(.update(ReadResult()))
            case .failure(let e):
                // A poll cut short by a shutdown is no news about the speaker.
                if Task.isCancelled { return }
                last = nil
                await sink.deliver(.failed(e.description))
            }
            // Polls start every `interval` (a poll longer than that is followed by the next at
            // once), not `interval` after the last one ended: a poll of a large RIB takes a good
            // part of a second, which would otherwise be added to every change's wait.
            try? await Task.sleep(until: now + interval, clock: .continuous)
        }
    }

    /// What one poll found.
    enum Poll {
        /// Both families' routes, and the fingerprint of the summaries read before them (nil
        /// when FRR's summary has none).
        case routes(ReadResult, fingerprint: String?)
        /// The summaries are those of the last full read (`FRRReader.summaryFingerprint`): the
        /// routes were not read. A poll of an idle 10k-route RIB every second cost ~0.1 s of
        /// bgpd's and vtysh's CPU and as much of ours; now it costs two summaries.
        case unchanged
    }

    /// One poll of both families.
    ///
    /// FRR forgets a peer's routes when its session goes down, so a poll while no flowspec peer
    /// is Established would install an empty table: that counts as a failed read instead (the
    /// last good table stays, fail-static), checked with the cheap summary first. The summary is
    /// read again after the routes: a session that went down while they were read (FRR dropping
    /// its routes family by family) would otherwise give half a table — the end-to-end lab
    /// caught one without its IPv4 default-policy route, so with the chain policy accept.
    public func poll() async -> Result<ReadResult, SourceError> {
        switch await poll(unless: nil) {
        case .success(.routes(let r, _)): .success(r)
        case .success(.unchanged): .failure(SourceError("unreachable: a poll without a fingerprint reads the routes"))
        case .failure(let e): .failure(e)
        }
    }

    /// `poll`, skipping the routes when the summaries' fingerprint is `known`.
    func poll(unless known: String?) async -> Result<Poll, SourceError> {
        let before: Summary
        switch await summaries() {
        case .failure(let e): return .failure(e)
        case .success(let s) where s.established == 0:
            return .failure(SourceError("no flowspec BGP peer has been Established in FRR for \(Self.settleMilliseconds / 1000) s; keeping the last table"))
        case .success(let s): before = s
        }
        if let known, before.fingerprint == known { return .success(.unchanged) }
        let all: ReadResult
        switch await routes() {
        case .failure(let e): return .failure(e)
        case .success(let r): all = r
        }
        switch await summaries() {
        case .failure(let e): return .failure(e)
        case .success(let after) where after.established < before.established:
            return .failure(SourceError("a flowspec BGP peer went down while its routes were read; keeping the last table"))
        case .success: return .success(.routes(all, fingerprint: before.fingerprint))
        }
    }

    /// The routes of both families.
    func routes() async -> Result<ReadResult, SourceError> {
        var all = ReadResult()
        for family in [AddressFamily.ipv4, .ipv6] {
            let command = "show bgp \(family.name) flowspec detail json"
            let stdout: Data
            switch await vtyshOutput(command) {
            case .failure(let e): return .failure(e)
            case .success(let d): stdout = d
            }
            do {
                var part = try memos[family]!.read(String(decoding: stdout, as: UTF8.self), family: family)
                part.prefix(family.name)
                all.append(part)
            } catch {
                return .failure(SourceError("`\(command)` output is not FRR's flowspec detail JSON: \(error.reason)"))
            }
        }
        return .success(all)
    }
}

extension FRRSource {
    /// Both families' `show bgp ipv4|ipv6 flowspec summary json`: the peers Established in
    /// either, and the fingerprint of both (nil when one has none).
    struct Summary {
        var established: Int
        var fingerprint: String?
    }

    func summaries() async -> Result<Summary, SourceError> {
        var established = 0
        var fingerprints: [String?] = []
        for family in [AddressFamily.ipv4, .ipv6] {
            let command = "show bgp \(family.name) flowspec summary json"
            switch await vtyshOutput(command) {
            case .failure(let e): return .failure(e)
            case .success(let stdout):
                let text = String(decoding: stdout, as: UTF8.self)
                established += FRRReader.establishedPeers(inSummary: text, upForAtLeast: Self.settleMilliseconds)
                fingerprints.append(FRRReader.summaryFingerprint(text))
            }
        }
        let all = fingerprints.compactMap { $0 }
        return .success(Summary(established: established, fingerprint: all.count == fingerprints.count ? all.joined(separator: "|") : nil))
    }

    /// How long a session must have been Established before its routes count (FRR 8.4 receives
    /// a few thousand routes from BIRD in well under this; FRR shows no End-of-RIB in the
    /// summary, so a young session is not yet a good read).
    static let settleMilliseconds = 3000

    /// The output of one vtysh `command`.
    func vtyshOutput(_ command: String) async -> Result<Data, SourceError> {
        await Command(vtysh + ["-c", command], timeout: commandTimeout).output(what: "`\(command)`: vtysh")
    }
}

extension ReadResult {
    /// Prefixes positions with where they came from (`ipv6 route 3`).
    mutating func prefix(_ origin: String) {
        for i in routes.indices { routes[i].position = "\(origin) \(routes[i].position)" }
        for i in errors.indices { errors[i].position = "\(origin) \(errors[i].position)" }
    }
}
