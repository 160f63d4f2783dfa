import Foundation
import FlowSpec

/// A problem in an import filter file: where (`entry N`, or the file) and what.
public struct ImportFilterProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public var position: String
    public var reason: String
    public init(position: String, reason: String) { self.position = position; self.reason = reason }
    public var description: String { "\(position): \(reason)" }
}

/// Reads an import filter (`listen --import FILE`, docs/listener.md "Import filter"):
///
///     {"protect": [
///       {"name": "the switch's own addresses", "match": {"destination": "192.0.2.2/32"}},
///       {"name": "BGP to the switch", "match": {"destination": "192.0.2.2/32", "protocol": "==6", "port": "==179"}},
///       {"name": "management network", "family": "ipv4", "match": {"source": "198.51.100.0/24"}}
///     ]}
///
/// `match` is a route's match in the canonical JSON vocabulary (docs/format.md), read by the
/// canonical reader itself; `family` is optional: without it (and without a prefix that tells
/// it) the entry protects that traffic in both families. Unknown keys are errors: a typo must
/// not silently protect less.
public enum ImportFilterReader {
    public static func read(_ data: Data) throws(ImportFilterProblem) -> ImportFilter {
        let file = "import filter"
        let top: Any
        do { top = try JSONSerialization.jsonObject(with: data) } catch {
            throw ImportFilterProblem(position: file, reason: "not JSON: \(error.localizedDescription)")
        }
        guard let object = top as? [String: Any], let list = object["protect"] as? [Any], object.count == 1 else {
            throw ImportFilterProblem(position: file, reason: #"expected an object with one member, "protect": an array of entries"#)
        }
        var entries: [ImportFilter.Entry] = []
        for (i, item) in list.enumerated() {
            let position = "entry \(i + 1)"
            guard let e = item as? [String: Any] else { throw ImportFilterProblem(position: position, reason: "not an object") }
            if let unknown = e.keys.first(where: { !["name", "family", "match"].contains($0) }) {
                throw ImportFilterProblem(position: position, reason: "unknown key \"\(unknown)\" (name, family, match)")
            }
            guard let name = e["name"] as? String, !name.isEmpty else {
                throw ImportFilterProblem(position: position, reason: "needs a \"name\" (the reason logged for a refused route)")
            }
            guard let match = e["match"] as? [String: Any], !match.isEmpty else {
                throw ImportFilterProblem(position: position, reason: "needs a \"match\" object with at least one component")
            }
            let families: [String]
            switch e["family"] {
            case nil: families = ["ipv4", "ipv6"]
            case let f as String where f == "ipv4" || f == "ipv6": families = [f]
            default: throw ImportFilterProblem(position: position, reason: #""family" must be "ipv4" or "ipv6""#)
            }
            var problems: [String] = []
            for family in families {
                let route: Data
                do { route = try JSONSerialization.data(withJSONObject: ["family": family, "match": match]) } catch {
                    throw ImportFilterProblem(position: position, reason: "match: \(error.localizedDescription)")
                }
                let result: ReadResult
                do { result = try CanonicalJSON.read(route) } catch {
                    throw ImportFilterProblem(position: position, reason: "\(error)")
                }
                if let r = result.routes.first {
                    entries.append(ImportFilter.Entry(name: name, family: r.route.family, components: r.route.components))
                } else {
                    problems.append("\(family): " + (result.errors.first?.reason ?? "no match read"))
                }
            }
            if problems.count == families.count {
                throw ImportFilterProblem(position: position, reason: problems.joined(separator: "; "))
            }
        }
        return ImportFilter(entries: entries)
    }
}
