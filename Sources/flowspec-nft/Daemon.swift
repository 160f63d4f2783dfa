import Dispatch
import FlowSpecAgent
import FlowSpecNetlink
import Foundation
import Logging

/// swift-log to standard error at `level`, as text or JSON lines; the daemons' only output.
func startLogging(label: String, level: Logger.Level, format: LogFormat = .text) -> Logger {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        case .json:
            return JSONLogHandler(label: label, logLevel: level)
        }
    }
    return Logger(label: label)
}

/// The process's metrics (the agent's through swift-metrics, the table's route counters, and
/// `extra` collectors), served at `--metrics` when given; nil without it.
func startMetrics(_ options: DaemonOptions, table: Unchecked<String>, logger: Logger,
                  extra: [@Sendable () -> String] = []) throws -> MetricsEndpoint? {
    let metrics = ProcessMetrics()
    metrics.bootstrap()
    guard let at = options.metrics else { return nil }
    let counters = try RouteCounters(table: table, top: options.metricsTop)
    metrics.add { counters.text() }
    for e in extra { metrics.add(e) }
    let endpoint = try MetricsEndpoint(address: at.address, port: at.port) { metrics.text() }
    endpoint.start()
    logger.info("metrics at http://\(at.address.family == .ipv6 ? "[\(at.address)]" : "\(at.address)"):\(endpoint.port)/metrics")
    return endpoint
}

func netlinkWriter() throws -> NftConnection {
    do { return try NftConnection() } catch { throw CLIError("cannot open netlink: \(error)") }
}

/// How long shutting down may take after SIGTERM/SIGINT (the source stopped, `--flush-on-exit`
/// done) before the process exits anyway, status 1: a daemon must stop when it is told to,
/// whatever a source or the kernel is stuck in. The sources' children are killed at once
/// (`Command`), and removing a table takes milliseconds, so only a fault gets here.
let shutdownLimit: Duration = .seconds(10)

func nextHopFollower(_ agent: Agent) throws -> NextHopFollower {
    do { return try NextHopFollower(agent: agent) } catch { throw CLIError("cannot listen to rtnetlink for redirect next hops: \(error)") }
}

/// The daemons' agent on the kernel, with its redirect next hops followed through rtnetlink
/// (docs/lowering.md, "Redirect"); the caller stops the follower.
func startAgent(_ configuration: AgentConfiguration, table: TableOptions, logger: Logger) throws -> (Agent, NextHopFollower) {
    // Before the daemon's threads allocate: see `FreedMemory.limitHeaps`.
    FreedMemory.limitHeaps(to: 2)
    let agent = Agent(configuration: configuration, writer: try netlinkWriter(), logger: logger,
                      policyRoutes: try table.redirect.policyRoutes())
    let follower = try nextHopFollower(agent)
    follower.start()
    return (agent, follower)
}

/// Runs `agent` on `source` until the source ends or SIGTERM/SIGINT arrives; then shuts the
/// agent down (removing the table if `flushOnExit`). SIGHUP calls `onHangup`. A second
/// SIGTERM/SIGINT, or a shutdown longer than `shutdownLimit`, exits at once.
func runDaemon(agent: Agent, source: any RouteSource, logger: Logger, flushOnExit: Unchecked<Bool>,
               observer: (@Sendable (AgentStatus) -> Void)? = nil, onHangup: @escaping @Sendable () -> Void) {
    let done = DispatchSemaphore(value: 0)
    let runner = Task {
        if let observer { await agent.observe(observer) }
        await agent.run(source)
    }
    Task {
        await runner.value
        await agent.shutdown(flush: flushOnExit.value)
        done.signal()
    }
    let queue = DispatchQueue(label: "flowspec-nft.signals")
    var sources = [DispatchSourceSignal]()
    let stopping = Unchecked(false)
    for sig in [SIGTERM, SIGINT, SIGHUP] {
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler {
            let name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP"
            if sig == SIGHUP {
                onHangup()
            } else if stopping.value {
                logger.critical("signal \(name) again while shutting down: exiting now")
                exit(1)
            } else {
                stopping.value = true
                logger.notice("signal \(name): shutting down")
                runner.cancel()
                queue.asyncAfter(deadline: .now() + shutdownLimit.seconds) {
                    logger.critical("shutdown not finished after \(shutdownLimit.secondsText) s: exiting now")
                    exit(1)
                }
            }
        }
        s.resume()
        sources.append(s)
    }
    done.wait()
    sources.forEach { $0.cancel() }
}
