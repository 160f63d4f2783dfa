import Dispatch
import FlowSpecAgent
import FlowSpecNetlink
import Foundation
import Logging

/// swift-log to standard error at `level`; the daemons' only output.
func startLogging(label: String, level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
    return Logger(label: label)
}

func netlinkWriter() throws -> NftConnection {
    do { return try NftConnection() } catch { throw CLIError("cannot open netlink: \(error)") }
}

func nextHopFollower(_ agent: Agent) throws -> NextHopFollower {
    do { return try NextHopFollower(agent: agent) } catch { throw CLIError("cannot listen to rtnetlink for redirect next hops: \(error)") }
}

/// Runs `agent` on `source` until the source ends or SIGTERM/SIGINT arrives; then shuts the
/// agent down (removing the table if `flushOnExit`). SIGHUP calls `onHangup`.
func runDaemon(agent: Agent, source: any RouteSource, logger: Logger, flushOnExit: Unchecked<Bool>,
               onHangup: @escaping @Sendable () -> Void) {
    let done = DispatchSemaphore(value: 0)
    let runner = Task { await agent.run(source) }
    Task {
        await runner.value
        await agent.shutdown(flush: flushOnExit.value)
        done.signal()
    }
    let queue = DispatchQueue(label: "flowspec-nft.signals")
    var sources = [DispatchSourceSignal]()
    for sig in [SIGTERM, SIGINT, SIGHUP] {
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler {
            if sig == SIGHUP {
                onHangup()
            } else {
                logger.notice("signal \(sig == SIGTERM ? "SIGTERM" : "SIGINT"): shutting down")
                runner.cancel()
            }
        }
        s.resume()
        sources.append(s)
    }
    done.wait()
    sources.forEach { $0.cancel() }
}

