import FlowSpec
import FlowSpecFormats
import Foundation

/// `bench --readers`: each reader on its adversarial inputs of `size` bytes (issue #18 asks
/// for 10 MB within a second).
struct ReaderBench {
    var size: Int
    var runs: Int

    struct Row: Codable {
        var reader: String
        var bytes: Int
        var bestSeconds: Double
        var medianSeconds: Double
    }

    func run() -> [Row] {
        AdversarialInputs.cases.map { c in
            let text = c.text(size)
            let times = (0..<max(runs, 1)).map { _ in ContinuousClock().measure { c.read(text) }.seconds }.sorted()
            return Row(reader: c.name, bytes: text.utf8.count, bestSeconds: times[0], medianSeconds: times[times.count / 2])
        }
    }

    static func render(_ rows: [Row]) -> String {
        var out = "| reader and input | MB | best s | median s |\n|---|---|---|---|\n"
        for r in rows {
            out += "| \(r.reader) | \(String(format: "%.1f", Double(r.bytes) / 1_000_000)) | \(String(format: "%.3f", r.bestSeconds)) | \(String(format: "%.3f", r.medianSeconds)) |\n"
        }
        let worst = rows.map(\.medianSeconds).max() ?? 0
        out += String(format: "slowest median: %.3f s", worst)
        return out
    }
}
