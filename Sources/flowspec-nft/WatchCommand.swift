import ArgumentParser
import Dispatch
import FlowSpec
import FlowSpecAgent
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation
import Logging

enum WatchSourceKind: String, ExpressibleByArgument, CaseIterable { case frr, gobgp, exabgp }
extension SourceLossPolicy: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep the kernel table in step with a BGP speaker on this switch (a daemon).",
        discussion: """
        --source frr polls `vtysh -c 'show bgp ipv4|ipv6 flowspec detail json'` every --interval \
        seconds (with --vty-socket, the same commands straight on bgpd's socket, without vtysh); --source gobgp reads GoBGP's RIB once and then follows `gobgp monitor global rib`, \
        checking the route counts every --interval seconds (with --bmp, gobgpd sends its Loc-RIB to \
        watch over BMP instead, for large RIBs); --source exabgp reads ExaBGP's JSON API \
        stream on standard input (run it as an ExaBGP API process). The table is rebuilt after each \
        change (debounced) and swapped in atomically; when it comes out the same, nothing is touched. \
        Redirect next hops (docs/lowering.md, "Redirect") are followed through rtnetlink: after a \
        route, address or link change they are resolved again and their routes changed. \
        --vrf, --unreachable-next-hop and the --redirect-* ranges take effect on restart only.

        Fail-static: when the speaker cannot be read or its output does not parse, the last good \
        table stays; after --source-timeout seconds without a good read, --on-source-loss keep|flush \
        decides. SIGTERM/SIGINT exit (the table stays unless --flush-on-exit); SIGHUP re-reads \
        --config and re-applies. Logs go to standard error. See docs/watch.md.
        """)

    @Option(help: "The speaker: frr, gobgp or exabgp (required, here or in --config).")
    var source: WatchSourceKind?

    @Option(help: "Seconds between FRR polls / GoBGP count checks (fractions allowed).")
    var interval: Double = 5

    @Option(help: ArgumentHelp("Seconds a vtysh or gobgp command may take; one slower is killed (with what it started) and counts as a failed read. Default: twice --interval, at least 10 s (frr) or 30 s (gobgp).", valueName: "seconds"))
    var commandTimeout: Double?

    @Option(help: ArgumentHelp("The vtysh command, split into words like a shell would, e.g. \"vtysh --vty_socket /run/frr\".", valueName: "command"))
    var vtysh: String = "vtysh"

    @Option(help: ArgumentHelp("With --source frr: read bgpd's vty socket (bgpd.vty, or the directory holding it, as vtysh's --vty_socket) instead of running vtysh: no process per poll. Takes precedence over --vtysh.", valueName: "path"))
    var vtySocket: String?

    @Option(help: ArgumentHelp("The gobgp command, split like --vtysh, e.g. \"gobgp -u 127.0.0.1 -p 50051\".", valueName: "command"))
    var gobgp: String = "gobgp"

    @Option(help: ArgumentHelp("With --source gobgp: follow gobgpd through BMP instead of `gobgp monitor` (for large RIBs). watch listens on ADDRESS:PORT (127.0.0.1 when only a PORT is given; [v6]:PORT for IPv6) and asks gobgpd to send its Loc-RIB there (`gobgp bmp add … local-rib`; `bmp del` on exit). See docs/watch.md.", valueName: "[address:]port"))
    var bmp: String?

    @Option(help: "Seconds to collect changes before rebuilding the table (default: 0 for frr, 0.2 for streams).")
    var debounce: Double?

    @Option(help: "Seconds without a good read before --on-source-loss acts.")
    var sourceTimeout: Double = 30

    @Option(help: "When the source stays unreadable: keep (fail-static, default) or flush the table.")
    var onSourceLoss: SourceLossPolicy = .keep

    @Flag(inversion: .prefixedNo, exclusivity: .chooseLast, help: "Remove the table when exiting on SIGTERM/SIGINT.")
    var flushOnExit = false

    @Option(help: ArgumentHelp("A config file (key = value lines, or a JSON object) with any of these options; flags override it. SIGHUP re-reads it.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Where to write watch's status (source, last commit) at every commit, for `flowspec-nft show` and monitoring (empty: none).", valueName: "file"))
    var statusFile: String = WatchStatus.defaultPath

    @OptionGroup var daemon: DaemonOptions
    @OptionGroup var table: TableOptions
    @OptionGroup var withdrawal: WithdrawalGuard

    func validate() throws {
        if interval <= 0 || !interval.isFinite { throw ValidationError("--interval must be a positive number of seconds") }
        if let d = debounce, d < 0 || !d.isFinite { throw ValidationError("--debounce must be 0 or more seconds") }
        if let t = commandTimeout, t <= 0 || !t.isFinite { throw ValidationError("--command-timeout must be a positive number of seconds") }
        if sourceTimeout <= 0 || !sourceTimeout.isFinite { throw ValidationError("--source-timeout must be a positive number of seconds") }
        if let bmp { _ = try Self.bmpStation(bmp) }
        if vtySocket?.isEmpty == true { throw ValidationError("--vty-socket needs a path") }
    }

    /// `--bmp`: `PORT` (on the loopback), or `ADDR:PORT` and `[v6]:PORT` as `--listen` reads them.
    static func bmpStation(_ text: String) throws -> (IPAddress, UInt16) {
        let (address, port) = try UInt16(text).map { (IPAddress("127.0.0.1")!, $0) }
            ?? Listen.listenAddress(text, option: "--bmp", defaultPort: nil)
        guard port > 0 else { throw ValidationError("--bmp '\(text)': port 0") }
        return (address, port)
    }

    /// Watch's own flags, for its config file.
    static let configFlags: [String: String?] = ["flush-on-exit": "no-flush-on-exit"]

    /// This command with the config file's settings under the command line's.
    static func merged(commandLine: [String], configPath: String?) throws -> Watch {
        try merged(commandLine: commandLine, configPath: configPath, flags: configFlags)
    }

    /// The arguments after `watch` on this process's command line.
    static var commandLineArguments: [String] { arguments(after: "watch") }

    func makeSource() throws -> any RouteSource {
        guard let source else { throw CLIError("watch needs --source frr|gobgp|exabgp (or `source` in --config)") }
        if bmp != nil, source != .gobgp { throw CLIError("--bmp follows GoBGP: it needs --source gobgp") }
        if vtySocket != nil, source != .frr { throw CLIError("--vty-socket is bgpd's: it needs --source frr") }
        let timeout = commandTimeout.map { Duration.seconds($0) }
        switch source {
        case .frr: return FRRSource(vtysh: try shellWords(vtysh), vtySocket: vtySocket, interval: .seconds(interval), commandTimeout: timeout)
        case .gobgp:
            if let bmp {
                let (address, port) = try Self.bmpStation(bmp)
                return GoBGPBMPSource(gobgp: try shellWords(gobgp), address: address, port: port, interval: .seconds(interval), commandTimeout: timeout)
            }
            return GoBGPSource(gobgp: try shellWords(gobgp), interval: .seconds(interval), commandTimeout: timeout)
        case .exabgp: return ExaBGPSource()
        }
    }

    func agentConfiguration(defaultDebounce: Duration) throws -> AgentConfiguration {
        AgentConfiguration(order: table.routeOrder, scope: table.routeScope, options: table.compileOptions,
                           debounce: debounce.map { .seconds($0) } ?? defaultDebounce,
                           sourceTimeout: .seconds(sourceTimeout), onSourceLoss: onSourceLoss,
                           guards: InstallGuards(maxWithdrawal: withdrawal.maxWithdrawal))
    }

    /// What only a restart changes.
    var sourceSettings: [String] { [source?.rawValue ?? "", "\(interval)", "\(commandTimeout ?? 0)", vtysh, vtySocket ?? "", gobgp, bmp ?? "", statusFile] + daemon.settings }

    func run() throws {
        let commandLine = Self.commandLineArguments
        let settings = try Self.merged(commandLine: commandLine, configPath: config)
        let logger = startLogging(label: "flowspec-nft.watch", level: settings.daemon.logLevel, format: settings.daemon.logFormat)
        let source = try settings.makeSource()
        let configuration = try settings.agentConfiguration(defaultDebounce: source.defaultDebounce)
        let tableName = Unchecked(configuration.options.tableName)
        let endpoint = try startMetrics(settings.daemon, table: tableName, logger: logger)
        defer { endpoint?.stop() }
        let (agent, follower) = try startAgent(configuration, table: settings.table, logger: logger)
        defer { follower.stop() }
        let status = WatchStatus(path: settings.statusFile, source: source.name, logger: logger)
        defer { status.stop() }
        let flushOnExit = Unchecked(settings.flushOnExit)
        let started = Unchecked(settings.sourceSettings)
        let configPath = config
        runDaemon(agent: agent, source: source, logger: logger, flushOnExit: flushOnExit, observer: { status.update($0) }) {
            do {
                let fresh = try Self.merged(commandLine: commandLine, configPath: configPath)
                if fresh.sourceSettings != started.value {
                    logger.warning("SIGHUP: source, interval, command, status file, log and metrics changes take effect on restart only")
                }
                flushOnExit.value = fresh.flushOnExit
                let c = try fresh.agentConfiguration(defaultDebounce: source.defaultDebounce)
                tableName.value = c.options.tableName
                Task { await agent.reconfigure(c) }
            } catch {
                logger.error("SIGHUP: configuration not reloaded, keeping the current one: \(error)")
            }
        }
    }
}
