import ArgumentParser
import FlowSpec
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the installed routes in order, with packet and byte counters.",
        discussion: """
        One row per route, read from the kernel alone: rules carry their route's identity as \
        their comment, and a merged rule (the default form) stands for every route with an element in its \
        set, each element commented with its route's identity and counted by its own counter. A \
        route's packets and bytes add up all its rules and elements (a rate-limited route counts \
        every packet before the limit and again what conforms, merged or not). Rows follow the \
        chain; within one merged rule the routes are in RFC 8955 order. A route scoped to interfaces \
        (--interface-group) says `on IF,...`; a route's comment (the `comment` of the canonical \
        format, kept in the kernel beside the identity) follows its row after `#`. The last row counts the packets no route decided, \
        which the chain policy took. --json gives the same rows with each route's identity, \
        family, match object (as `parse` writes it), rule count, the merged sets it is in, its \
        interfaces and comment, and a running listener's peers (--status-file) and watch's status \
        (--watch-status-file). --digest prints one line instead, `routes=N policy=P digest=H`, that \
        is the same on two switches exactly when their tables filter the same routes the same \
        way (identities, actions, interfaces, comments and the chain policy; not the counters, \
        the table's form or set names): compare a fabric's leaves with it, or a switch before \
        and after a change. It skips decoding the routes, so it costs a fraction of a listing.

        Exit status: 0 the table was listed; 1 there is no such table, or it could not be read.
        """)

    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Print one line, routes=N policy=P digest=H, that two switches share exactly when their tables filter the same routes the same way.")
    var digest = false

    @OptionGroup(title: "Redirect") var redirect: RedirectRangeOptions

    @Option(help: "The status file of a running `flowspec-nft listen`, whose peers are listed too.")
    var statusFile: String = ListenStatus.defaultPath

    @Option(help: "The status file of a running `flowspec-nft watch`, whose source and last commit are shown too.")
    var watchStatusFile: String = WatchStatus.defaultPath

    func validate() throws {
        if json && digest { throw ValidationError("--json and --digest: choose one") }
    }

    func run() throws {
        let installed: InstalledTable?
        do {
            installed = try NftConnection().listTable(name: table, family: .inet)
        } catch {
            throw CLIError("\(error)")
        }
        guard let installed else {
            // Exit status 1: a missing table is not an empty one.
            if json { print(#"{"table":null,"routes":[]}"#) } else if digest { print("none") } else { printError("no table inet \(table)") }
            throw ExitCode(1)
        }
        if digest {
            print(InstalledRoutes(installed.table, decodingRoutes: false).digest)
            return
        }
        let base = installed.table.chains.first { $0.base != nil }
        let counted = base.flatMap { installed.policyCounters[$0.name] }.map { (packets: $0.packets, bytes: $0.bytes) }
        let summary = InstalledRoutes(installed.table, policyCounted: counted)
        let listener = StatusFile.live(path: statusFile), watch = StatusFile.live(path: watchStatusFile)
        if json { print(summary.json(listener: listener?.json, watch: watch?.json)) } else {
            print(summary.text())
            // The redirects' rules and routes (docs/lowering.md, "Redirect"): best effort, the table is what was asked for.
            if let routes = try? PolicyRoutes(configuration: PolicyRoutes.Configuration(ranges: redirect.ranges), writer: RoutingConnection()),
               let lines = try? routes.text() {
                for line in lines { print(line) }
            }
            if let listener { print(ListenStatus.peersText(listener.document)) }
            if let watch { print(WatchStatus.text(watch.document)) }
        }
    }
}

extension InstalledRoutes {
    func text() -> String {
        let where_ = devices.isEmpty ? "hook \(hook)" : "hook \(hook) on \(devices.joined(separator: ", "))"
        var lines = ["table inet \(table), chain \(chain) (\(where_)\(offload ? ", offloaded" : "")), policy \(policy), \(entries.count) routes"]
        if let a = acceptedEstablished {
            lines.append(String(format: "    -  %12llu pkts %14llu bytes  ", a.packets, a.bytes) + "replies of allowed flows (ct state established,related)  → accept")
        }
        for (i, e) in entries.enumerated() {
            var what = e.route?.description ?? e.identity
            if !e.interfaces.isEmpty { what += " on " + e.interfaces.joined(separator: ",") }
            lines.append(String(format: "%5d  %12llu pkts %14llu bytes  ", i + 1, e.packets, e.bytes) +
                         "\(what)  → \(e.actions.joined(separator: ", "))" + Self.note(e)
                         + (e.comment.map { "  # " + Self.oneLine($0) } ?? ""))
        }
        if let p = policyCounted {
            lines.append(String(format: "    -  %12llu pkts %14llu bytes  ", p.packets, p.bytes) + "no route decided: chain policy  → \(policy)")
        }
        return lines.joined(separator: "\n")
    }

    /// A comment on one line: control characters (a newline, say) as spaces.
    static func oneLine(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    /// `(2 rules)`, `(merged)`, `(2 rules, merged)` or nothing.
    static func note(_ e: Entry) -> String {
        var parts = [String]()
        if e.rules > 1 { parts.append("\(e.rules) rules") }
        if !e.sets.isEmpty { parts.append("merged") }
        return parts.isEmpty ? "" : "  (" + parts.joined(separator: ", ") + ")"
    }

    /// The rows as JSON: per route its identity, family, canonical match object (as `parse`
    /// writes it; null for a hashed identity), display text, counts, actions, sets, interfaces and
    /// comment; the policy
    /// row's counts; and `listener`, a live listener's status document (peers), when given.
    func json(listener: String? = nil, watch: String? = nil) -> String {
        let esc = CanonicalJSON.quoted
        let routes = entries.map { e in
            "{\"identity\":\(esc(e.identity)),\"family\":\(e.route.map { esc($0.family.name) } ?? "null"),"
                + "\"match\":\(e.route.map(CanonicalJSON.matchJSON) ?? "null"),\"description\":\(esc(e.route?.description ?? e.identity)),"
                + "\"rules\":\(e.rules),\"packets\":\(e.packets),\"bytes\":\(e.bytes),"
                + "\"actions\":[\(e.actions.map(esc).joined(separator: ","))],\"sets\":[\(e.sets.map(esc).joined(separator: ","))],"
                + "\"interfaces\":[\(e.interfaces.map(esc).joined(separator: ","))],\"comment\":\(e.comment.map(esc) ?? "null")}"
        }
        let established = acceptedEstablished.map { "{\"packets\":\($0.packets),\"bytes\":\($0.bytes)}" } ?? "null"
        let counted = policyCounted.map { "{\"packets\":\($0.packets),\"bytes\":\($0.bytes)}" } ?? "null"
        return "{\"table\":\(esc(table)),\"chain\":\(esc(chain)),\"hook\":\(esc(hook)),\"devices\":[\(devices.map(esc).joined(separator: ","))],"
            + "\"offload\":\(offload),\"policy\":\(esc(policy)),\"policyCounter\":\(counted),\"acceptEstablished\":\(established),"
            + "\"listener\":\(listener ?? "null"),\"watch\":\(watch ?? "null"),\"routes\":[\n" + routes.joined(separator: ",\n") + "\n]}"
    }
}
