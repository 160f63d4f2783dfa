import FlowSpec
import FlowSpecBGP
import FlowSpecFormats
import Foundation

/// Follows GoBGP through BMP (RFC 7854): flowspec-nft is the monitoring station and gobgpd,
/// asked by `gobgp bmp add ADDRESS:PORT local-rib`, sends its Loc-RIB (RFC 9069 peer type 3:
/// the best path of every NLRI) as BGP UPDATEs of one path each, first all of it, then every
/// change. No JSON on the way: at 50,000 routes the `gobgp` command's JSON (~37 KB per path)
/// is what made `--source gobgp` fall behind (docs/e2e.md, "The GoBGP leaf").
///
/// gobgpd 3.10 marks no end of its Loc-RIB dump (RFC 9069 §5 asks for End-of-RIB; it sends one
/// only per monitored peer). So a session's routes are held apart until they are the whole
/// RIB: the station has been quiet for a moment and the routes held per family equal gobgpd's
/// own count (`gobgp global rib -a … summary`, milliseconds at any size), twice in a row with
/// nothing received between. Then they go to the agent as one snapshot, and every later UPDATE
/// as a change. Until then the agent keeps the table it has: a restarted gobgpd or a lost BMP
/// session never shows a partial table. An End-of-RIB for every family (a speaker that sends
/// them) also ends the dump. And, as for FRR, a dump counts only once one of gobgpd's BGP peers
/// has been Established for `settle` (BMP peer up messages, sent for every Established peer at
/// the start of the session and as sessions come up; gobgpd 3.10 stamps the first ones with the
/// time of the BMP session, so a new session waits `settle` at least): a gobgpd that has just
/// started holds what its peers have sent so far, an empty or partial RIB that is not the policy.
///
/// After the dump the counts are checked every `interval`; two mismatches in a row with the
/// held count standing still restart the BMP session (`bmp del`, `bmp add`: a fresh dump). While
/// gobgpd is not connected, `bmp add` is repeated every `interval` (a restarted gobgpd forgot
/// it). `bmp del` on the way out.
public struct GoBGPBMPSource: RouteSource {
    public let name = "gobgp-bmp"
    public let defaultDebounce: Duration = .milliseconds(200)
    public var gobgp: [String]
    public var address: IPAddress
    public var port: UInt16
    public var interval: Duration
    public var commandTimeout: Duration
    /// How long a BGP peer of gobgpd must have been Established before a dump counts (FRR's
    /// source waits as long).
    public var settle: Duration = .seconds(3)

    public init(gobgp: [String], address: IPAddress, port: UInt16, interval: Duration, commandTimeout: Duration? = nil) {
        self.gobgp = gobgp
        self.address = address
        self.port = port
        self.interval = interval
        self.commandTimeout = commandTimeout ?? max(interval * 2, .seconds(10))
    }

    /// How gobgp's `bmp add` wants the station: `host:port`, brackets around IPv6.
    static func target(_ a: IPAddress, _ port: UInt16) -> String {
        a.family == .ipv6 ? "[\(a)]:\(port)" : "\(a):\(port)"
    }

    private enum Input: Sendable { case station(BMPStationEvent), tick }

    public func run(_ sink: any SourceSink) async {
        let station = BMPStation(address: address, port: port)
        do { try station.start() } catch {
            await sink.deliver(.lost("cannot listen for BMP on \(Self.target(address, port)): \(error)"))
            return
        }
        let target = Self.target(address, station.boundPort)
        let (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
        let forward = Task {
            for await e in station.events { continuation.yield(.station(e)) }
            continuation.finish()
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                continuation.yield(.tick)
            }
        }
        var follower = Follower(source: self, target: target, sink: sink)
        await withTaskCancellationHandler {
            await follower.register()
            for await input in inputs {
                if Task.isCancelled { break }
                switch input {
                case .station(let e): await follower.handle(e)
                case .tick: await follower.tick()
                }
            }
        } onCancel: {
            station.stop()
            ticker.cancel()
        }
        forward.cancel()
        ticker.cancel()
        // Not cancelled with the task: gobgpd must stop sending to a station that is gone.
        let source = self
        _ = await Task.detached { await source.command(["bmp", "del", target], timeout: .seconds(5)) }.value
    }

    /// The state of one station: the session's RIB and where its dump stands.
    private struct Follower {
        let source: GoBGPBMPSource
        let target: String
        let sink: any SourceSink
        var rib = AdjRIBIn()
        var connected = false
        var synced = false
        var endOfRIB = Set<AddressFamily>()
        /// Reader errors of the session's UPDATEs before the snapshot, delivered with it.
        var errors = [ReadError]()
        var updates = 0
        var otherMonitoring = 0
        var lastMessage = ContinuousClock.now
        var lastCheck = ContinuousClock.now
        var lastRegistration = ContinuousClock.now
        /// Count checks during the dump that found our counts equal to gobgpd's, in a row with
        /// nothing received between.
        var equalChecks = 0
        var mismatches = 0
        var heldAtLastCheck: Int?
        /// gobgpd's Established BGP peers, with when they came up (wall-clock seconds).
        var peersUp: [IPAddress: Double] = [:]
        /// When the dump was first found whole but no peer had settled, and whether that was said.
        var waitingForPeersSince: ContinuousClock.Instant?
        var reportedNoPeer = false

        init(source: GoBGPBMPSource, target: String, sink: any SourceSink) {
            self.source = source; self.target = target; self.sink = sink
        }

        /// `bmp add`; one gobgpd already has is removed and added again, which makes it
        /// connect now rather than after its back-off (up to 30 s).
        mutating func register() async {
            lastRegistration = .now
            let add = ["bmp", "add", target, "local-rib"]
            if case .failure(let e) = await source.command(add) {
                guard e.description.contains("already configured") else {
                    await sink.deliver(.failed("`gobgp \(add.joined(separator: " "))`: \(e.description)"))
                    return
                }
                _ = await source.command(["bmp", "del", target])
                if case .failure(let e) = await source.command(add) {
                    await sink.deliver(.failed("`gobgp \(add.joined(separator: " "))`: \(e.description)"))
                }
            }
        }

        mutating func handle(_ e: BMPStationEvent) async {
            switch e {
            case .connected:
                rib = AdjRIBIn()
                connected = true; synced = false
                endOfRIB = []; errors = []; updates = 0; otherMonitoring = 0
                equalChecks = 0; mismatches = 0; heldAtLastCheck = nil
                peersUp = [:]; waitingForPeersSince = nil; reportedNoPeer = false
                lastMessage = .now
            case .disconnected(let why):
                connected = false
                synced = false
                rib = AdjRIBIn()
                lastRegistration = .now
                await sink.deliver(.failed("BMP session with gobgpd ended (\(why)): the table stays until it is back"))
            case .messages(let messages):
                lastMessage = .now
                equalChecks = 0
                var change = ReadResult()
                for m in messages {
                    switch m {
                    case .peerUp(let p):
                        let now = Date().timeIntervalSince1970
                        peersUp[p.address] = p.timestamp > 0 ? min(Double(p.timestamp), now) : now
                    case .peerDown(let p): peersUp[p.address] = nil
                    default: break
                    }
                    guard case .routeMonitoring(let peer, let body) = m else { continue }
                    guard peer.type == BMPPeer.locRIB else { otherMonitoring += 1; continue }
                    updates += 1
                    var decoder = UpdateDecoder(fourOctetAS: !peer.twoOctetASPath, external: false)
                    decoder.requiresOriginAndASPath = false
                    let u = decoder.decode(body: body)
                    let position = "BMP UPDATE \(updates)"
                    for f in u.faults { change.errors.append(ReadError(position: position, reason: f.description)) }
                    if let n = u.reset { change.errors.append(ReadError(position: position, reason: "unusable UPDATE: \(n)")) }
                    if let f = u.endOfRIB { endOfRIB.insert(f) }
                    let c = rib.applyChanges(u)
                    guard synced else { continue }
                    change.routes += c.announced.map { ReadRoute(route: $0, position: position) }
                    change.routes += c.withdrawn.map { ReadRoute(route: $0, withdrawn: true, position: position) }
                }
                if synced {
                    if !change.routes.isEmpty || !change.errors.isEmpty { await sink.deliver(.update(change)) }
                } else {
                    errors += change.errors
                    if endOfRIB.isSuperset(of: [.ipv4, .ipv6]), peerSettled { await deliverSnapshot() }
                }
            }
        }

        /// One of gobgpd's BGP peers has been Established for `settle`.
        var peerSettled: Bool {
            let now = Date().timeIntervalSince1970
            return peersUp.values.contains { now - $0 >= source.settle.seconds }
        }

        mutating func deliverSnapshot() async {
            synced = true
            let routes = rib.routes.values.map { ReadRoute(route: $0, position: "BMP Loc-RIB") }
            await sink.deliver(.snapshot(ReadResult(routes: routes, errors: errors)))
            errors = []
            lastCheck = .now
        }

        mutating func tick() async {
            let now = ContinuousClock.now
            if !connected {
                if now - lastRegistration >= source.interval { await register() }
                return
            }
            if !synced {
                // Checked once the station has been quiet for a moment (a dump comes in one go).
                guard now - lastMessage >= .milliseconds(150), now - lastCheck >= .milliseconds(150) else { return }
                lastCheck = now
                switch await counts() {
                case .failure(let e): await sink.deliver(.failed(e.description))
                case .success(let theirs):
                    let ours = [AddressFamily.ipv4: rib.count(.ipv4), .ipv6: rib.count(.ipv6)]
                    // A message that came while the command ran makes the next check count
                    // from zero (`handle` resets it).
                    equalChecks = theirs == ours ? equalChecks + 1 : 0
                    guard equalChecks >= 2 else {
                        if theirs != ours, otherMonitoring > 0, updates == 0, now - lastMessage >= .seconds(5) {
                            await sink.deliver(.failed("gobgpd sends BMP route monitoring but no Loc-RIB (\(otherMonitoring) messages of other RIBs): its BMP server \(target) must use route-monitoring-policy local-rib"))
                            otherMonitoring = 0
                        }
                        return
                    }
                    if peerSettled { await deliverSnapshot(); return }
                    // Whole, but gobgpd's RIB may still be filling: held, and said once.
                    let since = waitingForPeersSince ?? now
                    waitingForPeersSince = since
                    if !reportedNoPeer, now - since >= .seconds(5) {
                        reportedNoPeer = true
                        await sink.deliver(.failed("gobgpd has no BGP peer Established for \(source.settle.secondsText) s (its RIB holds \(ours[.ipv4] ?? 0) + \(ours[.ipv6] ?? 0) routes): keeping the last table"))
                    }
                }
                return
            }
            guard now - lastCheck >= source.interval else { return }
            lastCheck = now
            switch await counts() {
            case .failure(let e): await sink.deliver(.failed(e.description))
            case .success(let theirs):
                let held = rib.routes.count
                defer { heldAtLastCheck = held }
                let ours = [AddressFamily.ipv4: rib.count(.ipv4), .ipv6: rib.count(.ipv6)]
                if theirs == ours || heldAtLastCheck != held { mismatches = 0; return }
                mismatches += 1
                guard mismatches >= 2 else { return }
                mismatches = 0
                await sink.deliver(.failed("gobgpd holds \(theirs[.ipv4] ?? 0) + \(theirs[.ipv6] ?? 0) routes, the BMP session \(ours[.ipv4] ?? 0) + \(ours[.ipv6] ?? 0): restarting the session"))
                _ = await source.command(["bmp", "del", target])
                connected = false
                await register()
            }
        }

        func counts() async -> Result<[AddressFamily: Int], SourceError> {
            var r = [AddressFamily: Int]()
            for family in [AddressFamily.ipv4, .ipv6] {
                switch await source.gobgpCommand.destinations(family) {
                case .failure(let e): return .failure(e)
                case .success(let n): r[family] = n
                }
            }
            return .success(r)
        }
    }

    var gobgpCommand: GoBGPCommand { GoBGPCommand(gobgp: gobgp, timeout: commandTimeout) }

    func command(_ args: [String], timeout: Duration? = nil) async -> Result<String, SourceError> {
        await GoBGPCommand(gobgp: gobgp, timeout: timeout ?? commandTimeout).run(args)
    }
}
