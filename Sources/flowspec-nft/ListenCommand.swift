import ArgumentParser
import FlowSpec
import FlowSpecAgent
import FlowSpecKeeper
import FlowSpecBGP
import FlowSpecCompiler
import FlowSpecFormats
import Foundation
import Logging

enum PeerLossPolicy: String, ExpressibleByArgument, CaseIterable { case keep, flush }

extension RouteLimit.Action: ExpressibleByArgument {}

/// A value of --max-routes: `N`, `none`, `ipv4=N` or `ipv6=N`.
enum MaxRoutesOption: ExpressibleByArgument {
    case total(Int?)
    case family(AddressFamily, Int)

    /// As written on the command line.
    var text: String {
        switch self {
        case .total(let n): n.map(String.init) ?? "none"
        case .family(let f, let n): "\(f.name)=\(n)"
        }
    }

    init?(argument: String) {
        if argument == "none" { self = .total(nil); return }
        let parts = argument.split(separator: "=", maxSplits: 1)
        if parts.count == 1 {
            guard let n = Int(argument), n > 0 else { return nil }
            self = .total(n)
            return
        }
        guard let f = FamilyOption(rawValue: String(parts[0]))?.family, let n = Int(parts[1]), n > 0 else { return nil }
        self = .family(f, n)
    }
}

struct Listen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive flowspec routes over BGP and keep the kernel table in step (a daemon).",
        discussion: """
        flowspec-nft runs its own receive-only BGP-4 speaker: it peers with the switch's speaker \
        (FRR, BIRD, GoBGP re-advertise flowspec to a neighbour with the family activated) or with a \
        controller, negotiates IPv4 and IPv6 flowspec (AFI 1/2, SAFI 133), 4-octet AS numbers and \
        route refresh, and advertises nothing. Each peer is connected to and also accepted from \
        (collision detection per RFC 4271) unless --passive. A malformed route is treated as \
        withdrawn (RFC 7606), never a reason to reset the peering.

        The table is rebuilt after the peers' End-of-RIB and after every later UPDATE \
        (debounced) and swapped in atomically. When a peer is lost its routes stay for \
        --peer-loss-time seconds, then --on-peer-loss decides: flush drops them, keep keeps them \
        until the peer is back; with --redundant-peers (route reflectors sending the same routes) \
        they go at once while another peer is synchronized. Peer states and applied changes are logged to standard error; \
        the status file (--status-file) lets `flowspec-nft show` list the peers. SIGTERM/SIGINT \
        exit (the table stays unless --flush-on-exit); SIGHUP re-reads --config and asks the peers \
        for their routes again (route refresh). See docs/listener.md.

        Example (peering with FRR on the same switch over loopback):
          flowspec-nft listen --local-as 65105 --router-id 192.0.2.2 \\
            --listen 127.0.0.1:1179 --peer 127.0.0.1 --peer-as 65105 --passive
        """)

    @Option(help: "Our AS number (4-octet ASNs allowed; required, here or in --config).")
    var localAs: UInt32?

    @Option(help: "Our BGP identifier, an IPv4 address (required, here or in --config).")
    var routerId: String?

    @Option(parsing: .singleValue, help: ArgumentHelp("A peer address (repeatable; pair each with a --peer-as, in order).", valueName: "address"))
    var peer: [String] = []

    @Option(parsing: .singleValue, help: ArgumentHelp("The peer's AS number (one per --peer, or one for all).", valueName: "asn"))
    var peerAs: [UInt32] = []

    @Option(parsing: .singleValue, help: ArgumentHelp("A file holding the TCP-MD5 key (RFC 2385) of the session: its first line, 1 to 80 octets; the key itself never goes on a command line. One per --peer (in order; `none` for a peer without), or one for all.", valueName: "file"))
    var password: [String] = []

    @Option(parsing: .singleValue, help: ArgumentHelp("GTSM (RFC 5082): the peer is at most HOPS hops away (1: directly connected); our packets leave with TTL 255 and the kernel drops the peer's that arrive with less than 256 - HOPS. One per --peer (in order; 0 for a peer without), or one for all.", valueName: "hops"))
    var ttlSecurity: [UInt8] = []

    @Option(help: ArgumentHelp("Where to accept connections: ADDR:PORT, ADDR or :PORT ([v6]:PORT for IPv6).", valueName: "addr:port"))
    var listen: String = "0.0.0.0:179"

    @Option(help: "TCP port to connect to on the peers.")
    var peerPort: UInt16 = 179

    @Flag(help: "Only accept the peers' connections; never connect out.")
    var passive = false

    @Option(help: "Hold time to offer, seconds (0, or 3 and more).")
    var holdTime: UInt16 = 90

    @Option(help: "Seconds to wait for a peer's OPEN once its TCP connection is up; a silent connection is closed then (and gives its peer's one pending place to a newer one at once).")
    var openTimeout: Double = 5

    @Option(parsing: .singleValue, help: ArgumentHelp("Most routes each peer may hold: N for all its families together, ipv4=N or ipv6=N for one family (repeatable), none for no limit. Default \(Listen.defaultMaxRoutes) in all.", valueName: "n"))
    var maxRoutes: [MaxRoutesOption] = []

    @Option(help: "What a peer going over --max-routes gets: refuse (the new routes beyond the limit are left out, counted and logged; the session stays) or restart (Cease 6/1, RFC 4486, and the session is restarted after --max-routes-restart-delay).")
    var maxRoutesAction: RouteLimit.Action = .refuse

    @Option(help: "Seconds a peer is neither connected to nor accepted from after going over --max-routes with --max-routes-action restart.")
    var maxRoutesRestartDelay: Double = 60

    @Option(help: "Seconds to collect UPDATEs before rebuilding the table.")
    var debounce: Double = 0.2

    @Option(help: "Seconds a lost peer's routes are kept (graceful-restart style).")
    var peerLossTime: Double = 120

    @Option(help: "After --peer-loss-time: flush (drop the lost peer's routes) or keep them until it is back.")
    var onPeerLoss: PeerLossPolicy = .flush

    @Flag(help: "The peers send the same routes (redundant route reflectors): a lost peer's routes go at once while another peer is Established with its End-of-RIB of the family, so the table follows the live one (a route it withdraws goes); --peer-loss-time and --on-peer-loss apply only while no other peer is. Without it a lost peer's routes stay for --peer-loss-time whatever the others say.")
    var redundantPeers = false

    @Option(name: .customLong("import"), help: ArgumentHelp("An import filter: a JSON file of protected traffic in the canonical match vocabulary, {\"protect\": [{\"name\": ..., \"match\": {...}}, ...]}; a received route that could match any of it is refused (treated as withdrawn), counted and logged with the entry's name (docs/listener.md).", valueName: "file"))
    var importFile: String?

    @Flag(help: "With --hook input, output, prerouting or ingress: let received routes filter the listener's own BGP sessions too. By default the table's first rules accept TCP between each peer and us on the BGP ports, so that no route (a drop-everything one, say) can cut the session it came over (docs/lowering.md).")
    var filterOwnSessions = false

    @Flag(inversion: .prefixedNo, exclusivity: .chooseLast, help: "Remove the table when exiting on SIGTERM/SIGINT.")
    var flushOnExit = false

    @Option(help: ArgumentHelp("A config file (key = value lines, or a JSON object, as for watch) with any of these options; flags override it. SIGHUP re-reads it: table options, --max-withdraw and --flush-on-exit take effect at once, the other settings on restart.", valueName: "file"))
    var config: String?

    @Option(help: "Where to write the peers' status for `flowspec-nft show` (empty: none).")
    var statusFile: String = ListenStatus.defaultPath

    @OptionGroup var daemon: DaemonOptions
    @OptionGroup var table: TableOptions
    @OptionGroup var withdrawal: WithdrawalGuard

    func validate() throws {
        // With a config file the settings are checked once merged with it (`merged`).
        if config != nil { return }
        _ = try speakerConfig()
        if debounce < 0 || !debounce.isFinite { throw ValidationError("--debounce must be 0 or more seconds") }
        if peerLossTime < 0 || !peerLossTime.isFinite { throw ValidationError("--peer-loss-time must be 0 or more seconds") }
    }

    func speakerConfig() throws -> SpeakerConfig {
        guard let localAs else { throw ValidationError("listen needs --local-as N (or `local-as` in --config)") }
        guard let routerId else { throw ValidationError("listen needs --router-id A (or `router-id` in --config)") }
        guard let id = IPAddress(routerId), id.family == .ipv4 else {
            throw ValidationError("--router-id must be an IPv4 address, not '\(routerId)'")
        }
        guard !peer.isEmpty else { throw ValidationError("give at least one --peer ADDR with its --peer-as N") }
        guard peerAs.count == peer.count || peerAs.count == 1 else {
            throw ValidationError("give one --peer-as per --peer (in order), or a single --peer-as for all")
        }
        let limit = try routeLimit()
        guard password.count <= 1 || password.count == peer.count else {
            throw ValidationError("give one --password per --peer (in order, `none` for a peer without), or a single one for all")
        }
        guard ttlSecurity.count <= 1 || ttlSecurity.count == peer.count else {
            throw ValidationError("give one --ttl-security per --peer (in order, 0 for a peer without), or a single one for all")
        }
        var keys: [String: [UInt8]] = [:]
        for file in Set(password) where file != "none" { keys[file] = try Self.readKey(file) }
        var peers = [PeerConfig]()
        for (i, p) in peer.enumerated() {
            guard let address = IPAddress(p) else { throw ValidationError("--peer must be an IP address, not '\(p)'") }
            let keyFile = password.isEmpty ? "none" : password[password.count == 1 ? 0 : i]
            let hops = ttlSecurity.isEmpty ? 0 : ttlSecurity[ttlSecurity.count == 1 ? 0 : i]
            peers.append(PeerConfig(address: address, peerAS: peerAs.count == 1 ? peerAs[0] : peerAs[i],
                                    port: peerPort, passive: passive, routeLimit: limit,
                                    md5Key: keys[keyFile], ttlSecurityHops: hops == 0 ? nil : hops))
        }
        let (address, port) = try Self.listenAddress(listen)
        if holdTime != 0 && holdTime < 3 { throw ValidationError("--hold-time must be 0 or at least 3 seconds") }
        guard openTimeout > 0, openTimeout.isFinite else { throw ValidationError("--open-timeout must be a positive number of seconds") }
        var config = SpeakerConfig(localAS: localAs, routerID: id.ipv4Value, listenAddress: address, listenPort: port,
                                   peers: peers, holdTime: holdTime, openHoldTime: openTimeout, debounce: debounce,
                                   staleTime: onPeerLoss == .keep ? .infinity : peerLossTime, importFilter: try importFilter())
        config.redundantPeers = redundantPeers
        return config
    }

    /// The default of --max-routes: a peer's routes of all families together. A flowspec peer
    /// normally sends hundreds or thousands of routes; this bounds what a broken or hostile one
    /// costs (memory, docs/listener.md "Limits and their defaults") while leaving room for large
    /// DDoS mitigation sets.
    static let defaultMaxRoutes = 200_000

    /// The route limit of every peer, from --max-routes and its action; nil for `none`.
    func routeLimit() throws -> RouteLimit? {
        guard maxRoutesRestartDelay >= 0, maxRoutesRestartDelay.isFinite else {
            throw ValidationError("--max-routes-restart-delay must be 0 or more seconds")
        }
        var limit = RouteLimit(total: Self.defaultMaxRoutes, action: maxRoutesAction, restartDelay: maxRoutesRestartDelay)
        var totalGiven = false
        for option in maxRoutes {
            switch option {
            case .total(let n): limit.total = n; totalGiven = true
            case .family(let f, let n): limit.perFamily[f] = n
            }
        }
        // Family limits alone replace the default total.
        if !totalGiven && !limit.perFamily.isEmpty { limit.total = nil }
        return limit.total == nil && limit.perFamily.isEmpty ? nil : limit
    }

    /// The import filter of --import, if any.
    func importFilter() throws -> ImportFilter? {
        guard let importFile else { return nil }
        guard let data = FileManager.default.contents(atPath: importFile) else {
            throw ValidationError("--import \(importFile): cannot read the file")
        }
        do throws(ImportFilterProblem) {
            return try ImportFilterReader.read(data)
        } catch {
            throw ValidationError("--import \(importFile): \(error)")
        }
    }

    /// The TCP-MD5 key in `path`: its first line (without the line end), 1 to 80 octets.
    static func readKey(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--password \(path): cannot read the file (--password takes a file holding the key, not the key)")
        }
        let key = Array(data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first ?? [])
        let trimmed = key.last == UInt8(ascii: "\r") ? Array(key.dropLast()) : key
        guard (1...80).contains(trimmed.count) else {
            throw ValidationError("--password \(path): the key (first line) has \(trimmed.count) octets; TCP-MD5 takes 1 to 80")
        }
        return trimmed
    }

    /// Key files others than the owner may read, for a warning at start.
    func readableKeyFiles() -> [String] {
        Set(password).filter { file in
            guard file != "none", let mode = (try? FileManager.default.attributesOfItem(atPath: file))?[.posixPermissions] as? Int else { return false }
            return mode & 0o077 != 0
        }.sorted()
    }

    /// `ADDR:PORT`, `ADDR`, `:PORT`, `[v6]:PORT` for `option`; without a port, `defaultPort`
    /// (an error when there is none); `:PORT` is every IPv4 address. `--listen`, `--metrics` and
    /// `watch --bmp` read their addresses with it.
    static func listenAddress(_ text: String, option: String = "--listen", defaultPort: UInt16? = 179) throws -> (IPAddress, UInt16) {
        var host = Substring(text), port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw ValidationError("bad \(option) '\(text)'") }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") {
                guard let p = UInt16(rest.dropFirst()) else { throw ValidationError("bad port in \(option) '\(text)'") }
                port = p
            }
        } else if let colon = host.lastIndex(of: ":"), host.filter({ $0 == ":" }).count == 1 {
            guard let p = UInt16(host[host.index(after: colon)...]) else { throw ValidationError("bad port in \(option) '\(text)'") }
            port = p
            host = host[..<colon]
        }
        guard let port else { throw ValidationError("no port in \(option) '\(text)'") }
        if host.isEmpty { return (.zero(.ipv4), port) }
        guard let a = IPAddress(host) else { throw ValidationError("bad address in \(option) '\(text)'") }
        return (a, port)
    }

    /// The compile options: the table's, with the peers' sessions protected on a hook that sees
    /// the host's own traffic unless --filter-own-sessions.
    func compileOptions(_ speaker: SpeakerConfig) -> CompileOptions {
        var o = table.compileOptions
        guard !filterOwnSessions, [.input, .output, .prerouting, .ingress].contains(o.hook) else { return o }
        o.protectedSessions = speaker.peers.map { p in
            ProtectedSession(peer: p.address, local: p.localAddress ?? (speaker.listenAddress.isUnspecified ? nil : speaker.listenAddress),
                             localPort: speaker.listenPort, peerPort: p.port)
        }
        return o
    }

    /// Listen's own flags, for its config file.
    static let configFlags: [String: String?] = ["flush-on-exit": "no-flush-on-exit", "passive": nil, "filter-own-sessions": nil,
                                                 "redundant-peers": nil]

    /// The settings of the command line over those of --config (which is left out of the
    /// result, so that the merged settings are validated whole).
    static func merged(commandLine: [String], configPath: String?) throws -> Listen {
        var rest = [String](), i = 0
        while i < commandLine.count {
            let a = commandLine[i]
            if a == "--config" { i += 2; continue }
            if !a.hasPrefix("--config=") { rest.append(a) }
            i += 1
        }
        return try merged(commandLine: configPath == nil ? commandLine : rest, configPath: configPath, flags: configFlags)
    }

    /// What only a restart changes: everything but the table options, the withdrawal guard and
    /// --flush-on-exit.
    var restartSettings: [String] {
        let copy = self
        return ["\(copy.localAs ?? 0)", copy.routerId ?? "", "\(copy.peer)", "\(copy.peerAs)", "\(copy.password)", "\(copy.ttlSecurity)",
                copy.listen, "\(copy.peerPort)", "\(copy.passive)", "\(copy.holdTime)", "\(copy.openTimeout)", "\(copy.maxRoutes.map(\.text))",
                "\(copy.maxRoutesAction)", "\(copy.maxRoutesRestartDelay)", "\(copy.debounce)", "\(copy.peerLossTime)", "\(copy.onPeerLoss)", "\(copy.redundantPeers)",
                copy.importFile ?? "", "\(copy.filterOwnSessions)", copy.statusFile] + copy.daemon.settings
    }

    func agentConfiguration(_ speaker: SpeakerConfig) -> AgentConfiguration {
        AgentConfiguration(order: table.routeOrder, scope: table.routeScope, options: compileOptions(speaker),
                           debounce: .zero, sourceTimeout: .seconds(3600), onSourceLoss: .keep,
                           guards: InstallGuards(maxWithdrawal: withdrawal.maxWithdrawal))
    }

    func run() throws {
        let commandLine = Self.arguments(after: "listen")
        let configPath = config
        let settings = try Self.merged(commandLine: commandLine, configPath: configPath)
        let logger = startLogging(label: "flowspec-nft.listen", level: settings.daemon.logLevel, format: settings.daemon.logFormat)
        for file in settings.readableKeyFiles() { logger.warning("--password \(file): the key file is readable by others than its owner (chmod 600)") }
        let speakerConfig = try settings.speakerConfig()
        let source = BGPListenerSource(config: speakerConfig, logger: logger)
        let configuration = settings.agentConfiguration(speakerConfig)
        let tableName = Unchecked(configuration.options.tableName)
        let speaker = source.speaker
        let endpoint = try startMetrics(settings.daemon, table: tableName, logger: logger, extra: [{ PeerMetrics.text(speaker.status()) }])
        defer { endpoint?.stop() }
        let (agent, follower) = try startAgent(configuration, table: settings.table, logger: logger)
        defer { follower.stop() }
        let status = ListenStatus(path: settings.statusFile, speaker: source.speaker, logger: logger)
        status.start()
        defer { status.stop() }
        let flushOnExit = Unchecked(settings.flushOnExit)
        let started = settings.restartSettings
        runDaemon(agent: agent, source: source, logger: logger, flushOnExit: flushOnExit, observer: { status.update($0) }) {
            if configPath != nil {
                do {
                    let fresh = try Self.merged(commandLine: commandLine, configPath: configPath)
                    if fresh.restartSettings != started {
                        logger.warning("SIGHUP: peer, speaker, status file, log and metrics changes take effect on restart only")
                    }
                    flushOnExit.value = fresh.flushOnExit
                    let c = fresh.agentConfiguration(speakerConfig)
                    tableName.value = c.options.tableName
                    Task { await agent.reconfigure(c) }
                } catch {
                    logger.error("SIGHUP: configuration not reloaded, keeping the current one: \(error)")
                }
            }
            logger.notice("SIGHUP: asking the peers to send their routes again (route refresh)")
            source.speaker.requestRefresh()
        }
    }
}
