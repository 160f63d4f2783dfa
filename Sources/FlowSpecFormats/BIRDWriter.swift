import FlowSpec

/// Writes routes as a BIRD 2 configuration fragment that announces them: `flow4 table` /
/// `flow6 table` declarations and one `protocol static` per family with a `route flow4 { … }`
/// per route, its extended communities added as `(generic, HIGH, LOW)` (the form BIRD 2.0.12
/// accepts for every flowspec community; see /work/shared/fixtures/bird-2.0/flowspec.conf).
///
/// The fragment is meant to be included in (or appended to) a config that has the `router id`
/// and the BGP sessions, which export the tables (`flow4 { table flowtab4; export all; }`).
public enum BIRDWriter {
    public struct Options: Sendable {
        public var table4: String
        public var table6: String
        public var protocol4: String
        public var protocol6: String
        /// Write the `flow4 table` / `flow6 table` declarations (turn off when the main config
        /// already declares them).
        public var declareTables: Bool

        public init(table4: String = "flowtab4", table6: String = "flowtab6", protocol4: String = "flowroutes4",
                    protocol6: String = "flowroutes6", declareTables: Bool = true) {
            self.table4 = table4; self.table6 = table6; self.protocol4 = protocol4; self.protocol6 = protocol6
            self.declareTables = declareTables
        }
    }

    /// The configuration text. `comments[i]`, when given, is written above route *i*
    /// (e.g. where the route came from). A route BIRD cannot express is written as a comment
    /// that says why, never dropped silently.
    public static func write(_ routes: [FlowRoute], comments: [String?]? = nil, options: Options = Options()) -> String {
        var out = "# Flowspec routes written by flowspec-nft for BIRD 2.0.\n"
        if options.declareTables {
            out += "flow4 table \(options.table4);\nflow6 table \(options.table6);\n"
        }
        for family in AddressFamily.allCases {
            let indexed = routes.enumerated().filter { $0.element.family == family }
            guard !indexed.isEmpty else { continue }
            let v4 = family == .ipv4
            out += "\nprotocol static \(v4 ? options.protocol4 : options.protocol6) {\n"
            out += "  \(v4 ? "flow4" : "flow6") { table \(v4 ? options.table4 : options.table6); };\n"
            for (i, route) in indexed {
                out += "\n"
                if let comment = comments?[safe: i] ?? nil {
                    for line in comment.split(separator: "\n") { out += "  # \(line)\n" }
                }
                switch routeText(route) {
                case .success(let text): out += text
                case .failure(let reason):
                    out += "  # NOT WRITTEN: \(reason.reason)\n"
                    out += "  #   \(route.components.map(describe).joined(separator: "; "))\n"
                }
            }
            out += "}\n"
        }
        return out
    }

    public struct Unwritable: Error, Sendable { public var reason: String }

    /// One `route flow4 { … } { … };` statement (two-space indented), or why BIRD cannot take it.
    public static func routeText(_ route: FlowRoute) -> Result<String, Unwritable> {
        var parts: [String] = []
        for c in route.components {
            switch componentText(c, family: route.family) {
            case .success(let t): parts.append(t)
            case .failure(let e): return .failure(e)
            }
        }
        if let c = route.ipv6ExtendedCommunities.first {
            return .failure(Unwritable(reason: "\(c.action): BIRD's filters have no IPv6 address-specific extended communities (attribute 25), so the route cannot be given with it"))
        }
        let v4 = route.family == .ipv4
        var text = "  route \(v4 ? "flow4" : "flow6") { \(parts.map { $0 + ";" }.joined(separator: " ")) }"
        var attributes: [String] = []
        for c in route.extendedCommunities {
            let high = UInt32(truncatingIfNeeded: c.rawValue >> 32), low = UInt32(truncatingIfNeeded: c.rawValue)
            attributes.append("bgp_ext_community.add((generic, \(hex32(high)), \(hex32(low))));")
        }
        for l in route.largeCommunities {
            attributes.append("bgp_large_community.add((\(l.global), \(l.local1), \(l.local2)));")
        }
        if attributes.isEmpty { text += ";\n" }
        else {
            text += " {\n" + attributes.map { "    " + $0 + "\n" }.joined() + "  };\n"
        }
        return .success(text)
    }

    static func hex32(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - s.count) + s
    }

    static func componentText(_ c: Component, family: AddressFamily) -> Result<String, Unwritable> {
        switch c {
        case .destinationPrefix(let p): return .success("dst \(p)")
        case .sourcePrefix(let p): return .success("src \(p)")
        case .numeric(let type, let terms):
            guard let keyword = keyword(type, family: family) else {
                return .failure(Unwritable(reason: "BIRD has no \(type.name) component for \(family.name)"))
            }
            if terms.contains(where: { $0.valueLength == 8 }) {
                return .failure(Unwritable(reason: "\(type.name) uses an 8-octet value, which BIRD does not write"))
            }
            // BIRD 2.0.12 writes the flow label as a numeric value of at most 2 octets: a larger
            // label would go out truncated (fixtures: q6-03).
            if type == .flowLabel, terms.contains(where: { $0.value > 0xffff }) {
                return .failure(Unwritable(reason: "flow label value above 0xffff: BIRD 2.0.12 truncates it to 2 octets on the wire"))
            }
            return .success("\(keyword) \(numericText(terms))")
        case .bitmask(let type, let terms):
            guard let keyword = keyword(type, family: family) else {
                return .failure(Unwritable(reason: "BIRD has no \(type.name) component"))
            }
            if type == .fragment {
                if family == .ipv6, terms.contains(where: { $0.value & 0x01 != 0 }) {
                    return .failure(Unwritable(reason: "BIRD refuses the dont-fragment bit in an IPv6 flow"))
                }
                guard let t = fragmentText(terms, family: family) else {
                    return .failure(Unwritable(reason: "fragment terms BIRD cannot name"))
                }
                return .success("fragment \(t)")
            }
            return .success("\(keyword) \(bitmaskText(terms))")
        }
    }

    static func keyword(_ type: ComponentType, family: AddressFamily) -> String? {
        switch type {
        case .destinationPrefix: "dst"
        case .sourcePrefix: "src"
        case .ipProtocol: family == .ipv4 ? "proto" : "next header"
        case .port: "port"
        case .destinationPort: "dport"
        case .sourcePort: "sport"
        case .icmpType: "icmp type"
        case .icmpCode: "icmp code"
        case .tcpFlags: "tcp flags"
        case .packetLength: "length"
        case .dscp: "dscp"
        case .fragment: "fragment"
        case .flowLabel: family == .ipv6 ? "label" : nil
        }
    }

    /// `80 || 443 || 8000..8999`, `> 1024 && < 2048`, `false 0`.
    static func numericText(_ terms: [NumericTerm]) -> String {
        var out = ""
        var i = 0
        while i < terms.count {
            let t = terms[i]
            if i > 0 { out += t.and ? " && " : " || " }
            // `a..b` is BIRD's spelling of `>= a && <= b`.
            if t.symbol == ">=", i + 1 < terms.count, terms[i + 1].and, terms[i + 1].symbol == "<=",
               terms[i + 1].value >= t.value {
                out += "\(t.value)..\(terms[i + 1].value)"
                i += 2
                continue
            }
            switch t.symbol {
            case "==": out += "= \(t.value)"
            default: out += "\(t.symbol) \(t.value)"
            }
            i += 1
        }
        return out
    }

    /// BIRD's `V/M` means (flags & M) == V and `!V/M` its negation; one term each:
    /// match → `v/v`, match+not → `!v/v`, any → `!0/v`, any+not (none set) → `0/v`.
    static func bitmaskText(_ terms: [BitmaskTerm]) -> String {
        var out = ""
        for (i, t) in terms.enumerated() {
            if i > 0 { out += t.and ? " && " : " || " }
            let v = "0x" + String(t.value, radix: 16)
            switch (t.match, t.not) {
            case (true, false): out += "\(v)/\(v)"
            case (true, true): out += "!\(v)/\(v)"
            case (false, false): out += "!0x0/\(v)"
            case (false, true): out += "0x0/\(v)"
            }
        }
        return out
    }

    /// Fragment terms with BIRD's names (`is_fragment`, `!dont_fragment`, joined by `&&`/`||`);
    /// nil when a term tests several bits with the match bit (BIRD's names test one bit each).
    static func fragmentText(_ terms: [BitmaskTerm], family: AddressFamily) -> String? {
        let names: [(UInt64, String)] = [(0x01, "dont_fragment"), (0x02, "is_fragment"), (0x04, "first_fragment"), (0x08, "last_fragment")]
        var out = ""
        for (i, t) in terms.enumerated() {
            let bits = names.filter { t.value & $0.0 != 0 }
            guard !bits.isEmpty, t.value & ~0x0f == 0 else { return nil }
            // One bit: any == match. Several: `any` = OR of bits, `not any` = AND of negations.
            let piece: String
            if bits.count == 1 {
                piece = (t.not ? "!" : "") + bits[0].1
            } else if !t.match && !t.not {
                piece = bits.map(\.1).joined(separator: " || ")
                // (a || b) inside an AND group: BIRD has no parentheses.
                if (i > 0 && t.and) || (i + 1 < terms.count && terms[i + 1].and) { return nil }
            } else if !t.match && t.not {
                piece = bits.map { "!" + $0.1 }.joined(separator: " && ")
            } else if t.match && !t.not {
                piece = bits.map(\.1).joined(separator: " && ")
            } else { return nil }
            if i > 0 { out += t.and ? " && " : " || " }
            out += piece
        }
        return out
    }

    static func describe(_ c: Component) -> String {
        switch c {
        case .destinationPrefix(let p): "destination \(p)"
        case .sourcePrefix(let p): "source \(p)"
        case .numeric(let t, let terms): "\(t.name) " + terms.map { "\($0.and ? "&& " : "")\($0.symbol) \($0.value)" }.joined(separator: " ")
        case .bitmask(let t, let terms): "\(t.name) " + terms.map { "\($0.and ? "&& " : "")\($0.not ? "!" : "")\($0.match ? "=" : "any") 0x\(String($0.value, radix: 16))" }.joined(separator: " ")
        }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
