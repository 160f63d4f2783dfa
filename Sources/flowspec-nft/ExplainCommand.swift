import ArgumentParser
import FlowSpec
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecNetlink

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say which installed route decides a packet, and why.",
        discussion: """
        Reads the table from the kernel and runs the packet through it as the kernel would (the \
        rule interpreter the tests check against RFC 8955/8956): the routes whose match holds, in \
        the order the chain meets them, what each does (a rate limit measures the packet and lets \
        it go on while under its rate; a marking rewrites its DSCP; a route with the \
        traffic-action terminal bit lets evaluation continue), and the verdict with the route that \
        gave it, or the chain policy. When the packet meets a rate limit, the verdict over the \
        rate is given too.

        The packet: PROTO SRC -> DST (quote it: unquoted, a shell takes > as a redirection; or \
        write to for ->), then any of length N, dscp N, flags F,F, type T, code C, \
        fragment none|first|middle|last, df, label N, iif NAME, established.

        Examples:
          flowspec-nft explain 'tcp 198.51.100.7:40000 -> 203.0.113.10:443 flags syn'
          flowspec-nft explain 'udp [2001:db8::7]:1 -> [2001:db8::10]:53 dscp 46'
          flowspec-nft explain icmp 198.51.100.7 to 203.0.113.10 type echo-request

        Exit status: 0 explained; 1 there is no such table, or it could not be read.
        """)

    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The packet, e.g. 'tcp 198.51.100.7:40000 -> 203.0.113.10:443 flags syn' (one argument or several).", valueName: "packet"))
    var packet: [String] = []

    func validate() throws {
        do { _ = try PacketText.parse(packet.joined(separator: " ")) } catch { throw ValidationError("the packet: \(error)") }
    }

    func run() throws {
        let packet = try PacketText.parse(self.packet.joined(separator: " "))
        let installed: InstalledTable?
        do { installed = try NftConnection().listTable(name: table, family: .inet) } catch { throw CLIError("\(error)") }
        guard let installed else {
            printError("no table inet \(table)")
            throw ExitCode(1)
        }
        let e = PacketExplanation(table: installed.table, packet: packet)
        print(json ? Self.json(e) : Self.text(e, words: self.packet.joined(separator: " ")))
    }

    static func name(_ m: PacketExplanation.Match) -> String {
        (m.row.map { "route \($0): " } ?? "") + (m.route?.description ?? m.identity)
    }

    static func text(_ e: PacketExplanation, words: String) -> String {
        var lines = ["packet: \(words) (\(e.packet.family.name), \(e.packet.totalLength) octets)",
                     "table inet \(e.table), chain \(e.chain) (hook \(e.hook)), policy \(e.policy), \(e.routes) routes"]
        if e.matched.isEmpty {
            lines.append("no route matches it")
        } else {
            lines.append("routes whose match holds, in the order the chain meets them:")
            for m in e.matched {
                var line = "  \(name(m))  → \(m.actions.joined(separator: ", "))"
                if m != e.decidedBy {
                    if m.actions.contains(where: { $0.hasPrefix("police") }) {
                        line += "  (measures the packet against its rate; under it, evaluation goes on)"
                    } else if m.actions.contains("continue") || m.actions.allSatisfy({ !$0.hasPrefix("drop") && !$0.hasPrefix("accept") }) {
                        line += "  (does not end evaluation)"
                    }
                }
                lines.append(line)
            }
        }
        if let by = e.decidedBy {
            lines.append("verdict: \(e.verdict), by \(name(by)) (\(by.identity)): the first route in the chain's order whose match holds and whose action ends evaluation")
        } else {
            lines.append("verdict: \(e.verdict), by the chain policy: no route ended evaluation")
        }
        if let over = e.verdictOverRate {
            lines.append("over the rate (\(e.limiters.joined(separator: ", "))): \(over), by " + (e.decidedOverRateBy.map { "\(name($0)) (\($0.identity))" } ?? "the chain policy"))
        }
        if let d = e.dscp { lines.append("its DSCP is rewritten to \(d)") }
        if let m = e.mark { lines.append("its mark is set to 0x\(String(m, radix: 16)) (a redirect)") }
        if e.logged { lines.append("its headers are logged (traffic-action sample)") }
        for p in e.problems { lines.append("warning: \(p); the kernel may do otherwise") }
        return lines.joined(separator: "\n")
    }

    static func json(_ e: PacketExplanation) -> String {
        let q = CanonicalJSON.quoted
        func m(_ x: PacketExplanation.Match?) -> String {
            guard let x else { return "null" }
            return "{\"identity\":\(q(x.identity)),\"row\":\(x.row.map(String.init) ?? "null"),"
                + "\"family\":\(x.route.map { q($0.family.name) } ?? "null"),\"match\":\(x.route.map(CanonicalJSON.matchJSON) ?? "null"),"
                + "\"description\":\(q(x.route?.description ?? x.identity)),\"actions\":[\(x.actions.map(q).joined(separator: ","))]}"
        }
        return "{\"table\":\(q(e.table)),\"chain\":\(q(e.chain)),\"hook\":\(q(e.hook)),\"policy\":\(q(e.policy)),"
            + "\"verdict\":\(q(e.verdict)),\"decidedBy\":\(m(e.decidedBy)),\"matched\":[\(e.matched.map(m).joined(separator: ","))],"
            + "\"limiters\":[\(e.limiters.map(q).joined(separator: ","))],\"verdictOverRate\":\(e.verdictOverRate.map(q) ?? "null"),"
            + "\"decidedOverRateBy\":\(m(e.decidedOverRateBy)),\"dscp\":\(e.dscp.map(String.init) ?? "null"),"
            + "\"mark\":\(e.mark.map(String.init) ?? "null"),\"logged\":\(e.logged),\"problems\":[\(e.problems.map(q).joined(separator: ","))]}"
    }
}
