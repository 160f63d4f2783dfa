import FlowSpec
import FlowSpecFormats
import Foundation

/// Polls FRR: `VTYSH -c 'show bgp ipv4 flowspec detail json'` and the same for ipv6, every
/// `interval`. Each poll is a snapshot of the whole flowspec RIB.
///
/// The families are read by two invocations rather than one with two `-c`: the two outputs
/// would run together, and a route without a prefix (a port-only match) could then not be told
/// apart as IPv4 or IPv6. A dump of 50k routes costs bgpd ~0.2 s, so polling every 1–5 s is cheap.
public struct FRRSource: RouteSource {
    public let name = "frr"
    public let defaultDebounce: Duration = .zero
    public var vtysh: [String]
    public var interval: Duration
    /// A poll slower than this is killed and counts as a failed read (vtysh hangs while a busy
    /// bgpd does not answer).
    public var commandTimeout: Duration

    public init(vtysh: [String], interval: Duration) {
        self.vtysh = vtysh
        self.interval = interval
        commandTimeout = max(interval * 2, .seconds(10))
    }

    public func run(_ sink: any SourceSink) async {
        while !Task.isCancelled {
            switch await poll() {
            case .success(let result): await sink.deliver(.snapshot(result))
            case .failure(let e): await sink.deliver(.failed(e.description))
            }
            try? await Task.sleep(for: interval)
        }
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
        let before: Int
        switch await establishedPeers() {
        case .failure(let e): return .failure(e)
        case .success(0): return .failure(SourceError("no flowspec BGP peer has been Established in FRR for \(Self.settleMilliseconds / 1000) s; keeping the last table"))
        case .success(let n): before = n
        }
        let all: ReadResult
        switch await routes() {
        case .failure(let e): return .failure(e)
        case .success(let r): all = r
        }
        switch await establishedPeers() {
        case .failure(let e): return .failure(e)
        case .success(let after) where after < before:
            return .failure(SourceError("a flowspec BGP peer went down while its routes were read; keeping the last table"))
        case .success: return .success(all)
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
                var part = try FRRReader.read(String(decoding: stdout, as: UTF8.self), family: family)
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
    /// Peers Established in either flowspec family, from `show bgp ipv4|ipv6 flowspec summary json`.
    func establishedPeers() async -> Result<Int, SourceError> {
        var established = 0
        for family in [AddressFamily.ipv4, .ipv6] {
            let command = "show bgp \(family.name) flowspec summary json"
            switch await vtyshOutput(command) {
            case .failure(let e): return .failure(e)
            case .success(let stdout):
                established += FRRReader.establishedPeers(inSummary: String(decoding: stdout, as: UTF8.self),
                                                          upForAtLeast: Self.settleMilliseconds)
            }
        }
        return .success(established)
    }

    /// How long a session must have been Established before its routes count (FRR 8.4 receives
    /// a few thousand routes from BIRD in well under this; FRR shows no End-of-RIB in the
    /// summary, so a young session is not yet a good read).
    static let settleMilliseconds = 3000

    /// The output of one vtysh `command`.
    func vtyshOutput(_ command: String) async -> Result<Data, SourceError> {
        await ChildProcess.output(vtysh + ["-c", command], timeout: commandTimeout, what: "`\(command)`: vtysh")
    }
}

extension ReadResult {
    /// Prefixes positions with where they came from (`ipv6 route 3`).
    mutating func prefix(_ origin: String) {
        for i in routes.indices { routes[i].position = "\(origin) \(routes[i].position)" }
        for i in errors.indices { errors[i].position = "\(origin) \(errors[i].position)" }
    }
}
