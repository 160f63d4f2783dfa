import ArgumentParser
import FlowSpec
import FlowSpecCompiler
import FlowSpecNetlink
import Foundation

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the installed routes in order, with packet and byte counters.")

    @Option(help: "Name of the tool's own inet table.")
    var table: String = "flowspec"

    @Flag(help: "Print JSON instead of text.")
    var json = false

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
            if json { print(#"{"table":null,"routes":[]}"#) } else { print("no table inet \(table)") }
            return
        }
        let summary = InstalledRoutes(installed.table)
        if json { print(summary.json()) } else {
            print(summary.text())
            if let peers = ListenStatus.peersText(path: statusFile) { print(peers) }
        }
    }
}

/// The installed table seen per route: consecutive rules with the same comment (route identity)
/// belong to one route.
struct InstalledRoutes {
    struct Entry {
        var identity: String
        var route: FlowRoute?
        var rules: Int
        var packets: UInt64
        var bytes: UInt64
        var actions: [String]
    }

    var table: String
    var chain: String
    var hook: String
    var policy: String
    var entries: [Entry] = []

    init(_ t: NftTable) {
        table = t.name
        let base = t.chains.first { $0.base != nil }
        chain = base?.name ?? "-"
        hook = base?.base?.hook.name ?? "-"
        policy = base?.base.map { $0.policy == .drop ? "drop" : "accept" } ?? "-"
        var limits = [String: NftLimit]()
        for case .limit(let name, let l) in t.objects { limits[name] = l }
        for rule in base?.rules ?? [] {
            let id = rule.comment ?? "(no comment)"
            var packets: UInt64 = 0, bytes: UInt64 = 0
            var actions = [String]()
            var policed = false
            for e in rule.expressions {
                switch e {
                case .counter(let p, let b): packets += p; bytes += b
                case .objref(_, let name):
                    policed = true
                    if let l = limits[name] {
                        actions.append("police \(l.rate) \(l.kind == .bytes ? "bytes" : "packets")/\(l.unit)")
                    } else {
                        actions.append("police (\(name))")
                    }
                case .immediateVerdict(let v) where !(policed && v == .drop): actions.append("\(v)")
                case .log(let g, _): actions.append("log group \(g)")
                case .payloadSet: actions.append("set dscp")
                case .metaSet(let k, _): actions.append("set \(k)")
                default: break
                }
            }
            if var last = entries.last, last.identity == id {
                last.rules += 1; last.packets += packets; last.bytes += bytes
                for a in actions where !last.actions.contains(a) { last.actions.append(a) }
                entries[entries.count - 1] = last
            } else {
                entries.append(Entry(identity: id, route: RouteIdentity.decode(id), rules: 1,
                                     packets: packets, bytes: bytes, actions: actions.isEmpty ? ["continue"] : actions))
            }
        }
    }

    func text() -> String {
        var lines = ["table inet \(table), chain \(chain) (hook \(hook)), policy \(policy), \(entries.count) routes"]
        for (i, e) in entries.enumerated() {
            let what = e.route?.description ?? e.identity
            lines.append(String(format: "%5d  %12llu pkts %14llu bytes  ", i + 1, e.packets, e.bytes) +
                         "\(what)  → \(e.actions.joined(separator: ", "))" + (e.rules > 1 ? "  (\(e.rules) rules)" : ""))
        }
        return lines.joined(separator: "\n")
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
            "{\"identity\":\(esc(e.identity)),\"match\":\(e.route.map { esc($0.description) } ?? "null"),\"rules\":\(e.rules),\"packets\":\(e.packets),\"bytes\":\(e.bytes),\"actions\":[\(e.actions.map(esc).joined(separator: ","))]}"
        }
        return "{\"table\":\(esc(table)),\"chain\":\(esc(chain)),\"hook\":\(esc(hook)),\"policy\":\(esc(policy)),\"routes\":[\n" +
            routes.joined(separator: ",\n") + "\n]}"
    }
}
