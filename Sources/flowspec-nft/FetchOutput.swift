import FlowSpec
import FlowSpecFetcher
import FlowSpecFormats

/// The text `fetch` writes for one target. Every route is labelled with the rule it came from
/// (a comment for BIRD, the route name for ExaBGP) so that an operator can find it in the chain.
enum FetchOutput {
    static func render(_ result: FetchResult, target: FetchTarget, listSkipped: Bool, carrier: SequenceCarrier?) -> String {
        switch target {
        case .json:
            // Canonical JSON has no comments: skipped rules are reported on standard error only.
            return CanonicalJSON.write(result.flowRoutes)
        case .bird:
            let comments: [String?] = result.routes.map { r in
                ([r.position.description + (r.sequence.map { ", sequence \($0)" } ?? "")]
                    + r.warnings.map { "warning: \($0)" }).map(oneLine).joined(separator: "\n")
            }
            var text = BIRDWriter.write(result.flowRoutes, comments: comments)
            // After the writer's first (title) line.
            let head = carrierLine(carrier) + header(result, listSkipped: listSkipped)
            if !head.isEmpty, let newline = text.firstIndex(of: "\n") {
                text.insert(contentsOf: head, at: text.index(after: newline))
            }
            return text
        case .exabgp:
            return carrierLine(carrier) + header(result, listSkipped: listSkipped)
                + ExaBGPConfigWriter.write(result.flowRoutes, names: routeNames(result.routes))
        }
    }

    /// Where the sequence numbers travel and how a switch reads them back, for whoever loads
    /// the output.
    static func carrierLine(_ carrier: SequenceCarrier?) -> String {
        guard let carrier else { return "# No sequence numbers: receivers order the routes by RFC 8955.\n" }
        let place = switch carrier {
        case .trafficMarking: "in traffic-marking (a router that applies it rewrites DSCP)"
        case .extendedCommunity(let type, let subtype): "in extended community type \(type) sub-type \(subtype)"
        case .largeCommunity(let global): "in large community \(global):SEQUENCE:0"
        }
        return "# Sequence numbers \(place); read with --order sequence --sequence-carrier \(carrier.argument).\n"
    }

    /// `# …` lines saying which rules are missing: each of them (with --skip-unsupported), or
    /// one line pointing at standard error.
    static func header(_ result: FetchResult, listSkipped: Bool) -> String {
        guard !result.problems.isEmpty else { return "" }
        let n = result.problems.count
        var out = "# INCOMPLETE: \(n) rule\(n == 1 ? "" : "s") of the chain \(n == 1 ? "has" : "have") no flowspec form and \(n == 1 ? "is" : "are") left out;\n"
        out += "# the routes below may not mean what the chain means (rules after a skipped one see other traffic).\n"
        if listSkipped {
            for p in result.problems { out += "# SKIPPED \(oneLine(p.description))\n" }
        } else {
            out += "# The rules are listed on standard error; --skip-unsupported lists them here.\n"
        }
        return out
    }

    /// `rule-3`, `rule-3-2` (a second route of rule 3), `policy-ipv6`.
    static func routeNames(_ routes: [FetchedRoute]) -> [String] {
        var seen: [String: Int] = [:]
        return routes.map { r in
            let base = r.position.isPolicy ? "policy-\(r.route.family.name)" : "rule-\(r.position.index)"
            let k = seen[base, default: 0] + 1
            seen[base] = k
            return k == 1 ? base : "\(base)-\(k)"
        }
    }

    static func oneLine(_ s: String) -> String {
        String(s.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
