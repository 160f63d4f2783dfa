import FlowSpecFormats
import Foundation
import Logging

/// `--log-format json`: each log line one JSON object on standard error, for a log shipper:
/// `{"time":"2026-12-06T08:33:56.235Z","level":"info","logger":"flowspec-nft.watch","source":"FlowSpecAgent","message":"…"}`,
/// with the metadata as further string members.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "{\"time\":\(CanonicalJSON.quoted(Self.time()))"
        line += ",\"level\":\(CanonicalJSON.quoted(event.level.rawValue))"
        line += ",\"logger\":\(CanonicalJSON.quoted(label))"
        line += ",\"source\":\(CanonicalJSON.quoted(event.source))"
        line += ",\"message\":\(CanonicalJSON.quoted(event.message.description))"
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (k, v) in all.sorted(by: { $0.key < $1.key }) where !["time", "level", "logger", "source", "message"].contains(k) {
            line += ",\(CanonicalJSON.quoted(k)):\(CanonicalJSON.quoted(v.description))"
        }
        FileHandle.standardError.write(Data((line + "}\n").utf8))
    }

    /// Now in RFC 3339 UTC, to the millisecond.
    static func time() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int(ts.tv_nsec / 1_000_000))
    }
}
