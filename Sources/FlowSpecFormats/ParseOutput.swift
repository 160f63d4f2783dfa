import FlowSpec

/// The document `flowspec-nft parse` prints: what a reader understood, in the canonical format,
/// so it can be fed back as input (`CanonicalJSON.read` ignores `position`, `identity`,
/// `warnings` and the top-level `errors`).
public enum ParseOutput {
    /// `{"routes":[...],"errors":[...]}`, one route or error per line. Each route is the canonical
    /// form plus `withdrawn` (when true), `position`, `identity` (`FlowRoute.identity`, the name
    /// rules carry) and `warnings` (when any); each error has `position` and `reason`.
    public static func render(_ result: ReadResult) -> String {
        var out = "{\"routes\":["
        for (i, r) in result.routes.enumerated() {
            out += i == 0 ? "\n" : ",\n"
            CanonicalJSON.appendRoute(r.route, to: &out)
            if r.withdrawn { out += ",\"withdrawn\":true" }
            out += ",\"position\":"
            out += CanonicalJSON.quoted(r.position)
            out += ",\"identity\":\""
            out += r.route.identity
            out += "\""
            if !r.warnings.isEmpty {
                out += ",\"warnings\":["
                out += r.warnings.map(CanonicalJSON.quoted).joined(separator: ",")
                out += "]"
            }
            out += "}"
        }
        out += result.routes.isEmpty ? "],\n\"errors\":[" : "\n],\n\"errors\":["
        for (i, e) in result.errors.enumerated() {
            out += i == 0 ? "\n" : ",\n"
            out += "{\"position\":" + CanonicalJSON.quoted(e.position) + ",\"reason\":" + CanonicalJSON.quoted(e.reason) + "}"
        }
        out += result.errors.isEmpty ? "]}\n" : "\n]}\n"
        return out
    }
}
