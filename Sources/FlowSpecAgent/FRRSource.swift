import FlowSpec
import FlowSpecFormats
import Foundation

/// Polls FRR: `VTYSH -c 'show bgp ipv4 flowspec detail json'` and the same for ipv6 (or the
/// same commands on bgpd's vty socket, `vtySocket`), every `interval`. The first poll, and the
/// first after a failed one, gives the whole flowspec RIB; the next ones give what changed
/// (`Poll.changes`), or nothing when the families' summaries, read first, show no change since
/// the last read (`Poll.unchanged`).
///
/// The families' routes are read by two invocations rather than one with two `-c`: the two
/// outputs would run together, and a route without a prefix (a port-only match) could then not
/// be told apart as IPv4 or IPv6 (the summaries, which name no route, come from one). bgpd's
/// dump of 50k routes takes 0.2–0.5 s (one or two paths each): polling every 1–5 s is cheap.
public struct FRRSource: RouteSource {
    public let name = "frr"
    public let defaultDebounce: Duration = .zero
    public var vtysh: [String]
    /// bgpd's vty socket, spoken to directly instead of running vtysh (`VtySocket`); nil: vtysh.
    public var vtySocket: VtySocket?
    public var interval: Duration
    /// A vtysh command slower than this is killed (with what it started) and the poll counts as
    /// a failed read: vtysh hangs while a busy bgpd does not answer.
    public var commandTimeout: Duration
    /// Each family's routes as the last poll read them (`FRRReadMemo`): a poll after one change
    /// parses that route, not the RIB.
    private let memos = [AddressFamily.ipv4: FRRReadMemo(), .ipv6: FRRReadMemo()]

    /// `commandTimeout` nil: twice the interval, at least 10 s.
    /// `vtySocket`: the path of bgpd's vty socket (or of the directory holding `bgpd.vty`), to
    /// read from without vtysh.
    public init(vtysh: [String], vtySocket: String? = nil, interval: Duration, commandTimeout: Duration? = nil) {
        self.vtysh = vtysh
        self.interval = interval
        self.commandTimeout = commandTimeout ?? Self.defaultCommandTimeout(interval: interval)
        self.vtySocket = vtySocket.map { VtySocket(path: $0, timeout: self.commandTimeout) }
    }

    public static func defaultCommandTimeout(interval: Duration) -> Duration { max(interval * 2, .seconds(10)) }

    /// A poll whose summaries are those of the last full read skips reading the routes, but
    /// at least this often they are read whole anyway.
    static let fullReadInterval: Duration = .seconds(60)

    public func run(_ sink: any SourceSink) async {
        var last: (fingerprint: [String], at: ContinuousClock.Instant)?
        // The agent holds the routes of the memos' last read: the next poll may hand it only
        // what changed (`FRRReadMemo.lastChanges`). False until a snapshot, and after a failed
        // poll (its read may have moved the memos on without being delivered).
        var inStep = false
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let known = last.flatMap { now - $0.at < Self.fullReadInterval ? $0.fingerprint : nil }
            switch await poll(unless: known, changesOnly: inStep) {
            case .success(.routes(let result, let fingerprint)):
                last = fingerprint.map { ($0, now) }
                inStep = true
                await sink.deliver(.snapshot(result))
            case .success(.changes(let changes, let fingerprint)):
                last = fingerprint.map { ($0, now) }
                await sink.deliver(.update(changes))
            case .success(.unchanged):
                // A good read that found nothing new: the agent stays healthy, nothing is compared.
                await sink.deliver(.update(ReadResult()))
            case .failure(let e):
                // A poll cut short by a shutdown is no news about the speaker.
                if Task.isCancelled { return }
                last = nil
                inStep = false
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
        /// Both families' routes, and the fingerprints of the summaries read before them (nil
        /// when FRR's summary has none).
        case routes(ReadResult, fingerprint: [String]?)
        /// What changed in both families since the last read, as an update of its routes
        /// (`FRRReadMemo.lastChanges`), when asked for and known.
        case changes(ReadResult, fingerprint: [String]?)
        /// The summaries are those of the last full read (`FRRReader.summaryFingerprint`): the
        /// routes were not read. A poll of an idle 10k-route RIB every second cost ~0.1 s of
        /// bgpd's and vtysh's CPU and as much of ours; now it costs the two summaries (one vtysh
        /// run, or two requests on bgpd's socket).
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
        case .success(.unchanged), .success(.changes): .failure(SourceError("unreachable: a poll without a fingerprint reads the routes"))
        case .failure(let e): .failure(e)
        }
    }

    /// `poll`, skipping the routes when the summaries' fingerprints are `known`, and giving only
    /// their changes when `changesOnly` and the memos know them. Then a family whose summary is
    /// as `known` has no change and is not read (its dump is the speaker's cost, and vtysh's).
    func poll(unless known: [String]?, changesOnly: Bool = false) async -> Result<Poll, SourceError> {
        let before: Summary
        switch await summaries() {
        case .failure(let e): return .failure(e)
        case .success(let s) where s.established == 0:
            return .failure(SourceError("no flowspec BGP peer has been Established in FRR for \(Self.settleMilliseconds / 1000) s; keeping the last table"))
        case .success(let s): before = s
        }
        if let known, before.fingerprint == known { return .success(.unchanged) }
        var unchanged: [AddressFamily] = []
        if changesOnly, let known, let now = before.fingerprint, known.count == now.count {
            unchanged = Self.families.indices.filter { known[$0] == now[$0] }.map { Self.families[$0] }
        }
        var parts: [FamilyRead]
        switch await routes(Self.families.filter { !unchanged.contains($0) }) {
        case .failure(let e): return .failure(e)
        case .success(let r): parts = r
        }
        // A family left unread has no change; but if the others cannot be told as changes, the
        // whole routes are given, and those need its dump too.
        let asChanges = changesOnly && parts.allSatisfy { $0.changes != nil }
        if !asChanges && !unchanged.isEmpty {
            switch await routes(unchanged) {
            case .failure(let e): return .failure(e)
            case .success(let r): parts += r
            }
            parts.sort { $0.family < $1.family }
        }
        switch await summaries() {
        case .failure(let e): return .failure(e)
        case .success(let after) where after.established < before.established:
            return .failure(SourceError("a flowspec BGP peer went down while its routes were read; keeping the last table"))
        case .success:
            // Positions are prefixed with the family only in what is delivered (50,000 strings
            // made again on every read otherwise).
            if asChanges { return .success(.changes(parts.joined { $0.changes! }, fingerprint: before.fingerprint)) }
            return .success(.routes(parts.joined(\.all), fingerprint: before.fingerprint))
        }
    }

    static let families: [AddressFamily] = [.ipv4, .ipv6]

    /// One family's read: all its routes, and what changed since the last read when the memo
    /// knows it (`FRRReadMemo.lastChanges`).
    struct FamilyRead {
        var family: AddressFamily
        var all: ReadResult
        var changes: ReadResult?
    }

    /// The routes of `families`.
    func routes(_ families: [AddressFamily] = Self.families) async -> Result<[FamilyRead], SourceError> {
        var parts: [FamilyRead] = []
        for family in families {
            let command = "show bgp \(family.name) flowspec detail json"
            let stdout: Data
            switch await vtyshOutput([command]) {
            case .failure(let e): return .failure(e)
            case .success(let d): stdout = d
            }
            do {
                let memo = memos[family]!
                let all = try memo.read(String(decoding: stdout, as: UTF8.self), family: family)
                parts.append(FamilyRead(family: family, all: all, changes: memo.lastChanges))
            } catch {
                return .failure(SourceError("`\(command)` output is not FRR's flowspec detail JSON: \(error.reason)"))
            }
        }
        return .success(parts)
    }
}

extension [FRRSource.FamilyRead] {
    /// `part` of each family, positions prefixed with the family (`ipv6 route 3`), in one result.
    func joined(_ part: (FRRSource.FamilyRead) -> ReadResult) -> ReadResult {
        var out = ReadResult()
        for p in self {
            var r = part(p)
            r.prefix(p.family.name)
            out.append(r)
        }
        return out
    }
}

extension FRRSource {
    /// Both families' `show bgp ipv4|ipv6 flowspec summary json`: the peers Established in
    /// either, and the fingerprint of each family (nil when one has none).
    struct Summary {
        var established: Int
        var fingerprint: [String]?
    }

    func summaries() async -> Result<Summary, SourceError> {
        let commands = Self.families.map { "show bgp \($0.name) flowspec summary json" }
        // Both in one vtysh (its start is most of a summary's cost: ~50 ms of CPU, every poll),
        // unless its output cannot be cut into the two documents; then one at a time.
        var texts: [String] = []
        switch await vtyshOutput(commands) {
        case .failure(let e): return .failure(e)
        case .success(let stdout):
            if let documents = FRRReader.documents(String(decoding: stdout, as: UTF8.self)), documents.count == commands.count {
                texts = documents
            }
        }
        if texts.isEmpty {
            for command in commands {
                switch await vtyshOutput([command]) {
                case .failure(let e): return .failure(e)
                case .success(let stdout): texts.append(String(decoding: stdout, as: UTF8.self))
                }
            }
        }
        var established = 0
        var fingerprints: [String?] = []
        for text in texts {
            established += FRRReader.establishedPeers(inSummary: text, upForAtLeast: Self.settleMilliseconds)
            fingerprints.append(FRRReader.summaryFingerprint(text))
        }
        let all = fingerprints.compactMap { $0 }
        return .success(Summary(established: established, fingerprint: all.count == fingerprints.count ? all : nil))
    }

    /// How long a session must have been Established before its routes count (FRR 8.4 receives
    /// a few thousand routes from BIRD in well under this; FRR shows no End-of-RIB in the
    /// summary, so a young session is not yet a good read).
    static let settleMilliseconds = 3000

    /// The output of `commands`, one after the other as vtysh prints them: from one vtysh run,
    /// or from bgpd's vty socket, a connection per command.
    func vtyshOutput(_ commands: [String]) async -> Result<Data, SourceError> {
        guard let vtySocket else {
            return await Command(vtysh + commands.flatMap { ["-c", $0] }, timeout: commandTimeout)
                .output(what: commands.map { "`\($0)`" }.joined(separator: " and ") + ": vtysh")
        }
        var all = Data()
        for command in commands {
            switch await vtySocket.output(command) {
            case .failure(let e): return .failure(e)
            case .success(let d): all.append(d)
            }
        }
        return .success(all)
    }
}

extension ReadResult {
    /// Prefixes positions with where they came from (`ipv6 route 3`).
    mutating func prefix(_ origin: String) {
        for i in routes.indices { routes[i].position = "\(origin) \(routes[i].position)" }
        for i in errors.indices { errors[i].position = "\(origin) \(errors[i].position)" }
    }
}
