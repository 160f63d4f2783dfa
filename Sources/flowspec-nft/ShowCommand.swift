import ArgumentParser
import FlowSpec
import FlowSpecCompiler
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
        (--interface-group) says `on IF,...`. --json gives the same rows with each route's identity, \
        rule count, the merged sets it is in and its interfaces.

        Exit status: 0 the table was listed; 1 there is no such table, or it could not be read.
        """)

    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup(title: "Redirect") var redirect: RedirectRangeOptions

    @Option(help: "The status file of a running `flowspec-nft listen`, whose peers are listed too.")
    var statusFile: String = ListenStatus.defaultPath

    func run() throws {
        let installed: InstalledTable?
        do {
            installed = try NftConnection().listTable(name: table, family: .inet)
        } catch {
            throw CLIError("\(error)")
        }
        guard let installed else {
            // Exit status 1: a missing table is not an empty one.
            if json { print(#"{"table":null,"routes":[]}"#) } else { print("no table inet \(table)") }
            throw ExitCode(1)
        }
        let summary = InstalledRoutes(installed.table)
        if json { print(summary.json()) } else {
            print(summary.text())
            // The redirects' rules and routes (docs/lowering.md, "Redirect"): best effort, the table is what was asked for.
            if let routes = try? PolicyRoutes(configuration: PolicyRoutes.Configuration(ranges: redirect.ranges), writer: RoutingConnection()),
               let lines = try? routes.text() {
                for line in lines { print(line) }
            }
            if let peers = ListenStatus.peersText(path: statusFile) { print(peers) }
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
                         "\(what)  → \(e.actions.joined(separator: ", "))" + Self.note(e))
        }
        return lines.joined(separator: "\n")
    }

    /// `(2 rules)`, `(merged)`, `(2 rules, merged)` or nothing.
    static func note(_ e: Entry) -> String {
        var parts = [String]()
        if e.rules > 1 { parts.append("\(e.rules) rules") }
        if !e.sets.isEmpty { parts.append("merged") }
        return parts.isEmpty ? "" : "  (" + parts.joined(separator: ", ") + ")"
    }

    func json() -> String {
        func esc(_ s: String) -> String {
            var o = ""
            for c in s.unicodeScalars {
                switch c {
                case "\"": o += "\\\""
                case "\\": o += "\\\\"
                case _ where c.value < 0x20: o += String(format: "\\u%04x", c.value)
                default: o.unicodeScalars.append(c)
                }
            }
            return "\"" + o + "\""
        }
        let routes = entries.map { e in
            "{\"identity\":\(esc(e.identity)),\"match\":\(e.route.map { esc($0.description) } ?? "null"),\"rules\":\(e.rules),\"packets\":\(e.packets),\"bytes\":\(e.bytes),\"actions\":[\(e.actions.map(esc).joined(separator: ","))],\"sets\":[\(e.sets.map(esc).joined(separator: ","))],\"interfaces\":[\(e.interfaces.map(esc).joined(separator: ","))]}"
        }
        let established = acceptedEstablished.map { "{\"packets\":\($0.packets),\"bytes\":\($0.bytes)}" } ?? "null"
        return "{\"table\":\(esc(table)),\"chain\":\(esc(chain)),\"hook\":\(esc(hook)),\"devices\":[\(devices.map(esc).joined(separator: ","))],"
            + "\"offload\":\(offload),\"policy\":\(esc(policy)),\"acceptEstablished\":\(established),\"routes\":[\n" +
            routes.joined(separator: ",\n") + "\n]}"
    }
}
