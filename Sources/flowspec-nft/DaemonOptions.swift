import ArgumentParser
import FlowSpec
import Logging

/// How a daemon (`watch`, `listen`) reports: its log, its metrics endpoint.
struct DaemonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log lines as text, or as one JSON object each (time, level, logger, source, message, metadata).")
    var logFormat: LogFormat = .text

    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR:PORT, [v6]:PORT, or :PORT for every IPv4 address); docs/metrics.md.", valueName: "addr:port"))
    var metrics: MetricsAddress?

    @Option(help: "With --metrics: the routes counted one by one (packets and bytes), the N that matched most packets; the others count in the totals only. 0: totals only.")
    var metricsTop: Int = 10

    func validate() throws {
        if metricsTop < 0 { throw ValidationError("--metrics-top must be 0 or more") }
    }

    /// What only a restart changes.
    var settings: [String] { ["\(logLevel)", logFormat.rawValue, metrics?.text ?? "", "\(metricsTop)"] }
}

enum LogFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

/// `--metrics ADDR:PORT`.
struct MetricsAddress: ExpressibleByArgument {
    var address: IPAddress
    var port: UInt16
    var text: String

    init?(argument: String) {
        guard let (a, p) = try? Listen.listenAddress(argument, option: "--metrics", defaultPort: nil) else { return nil }
        address = a
        port = p
        text = argument
    }
}
