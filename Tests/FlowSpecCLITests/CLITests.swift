import Foundation
import Testing
import FlowSpec
import FlowSpecFormats

/// The command-line interface as an operator uses it (no kernel needed).
@Suite struct CLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../FlowSpecFormatsTests/Fixtures").standardized.path

    @Test func everySubcommandExplainsItself() throws {
        for sub in ["", "parse", "compile", "apply", "check", "show", "explain", "flush", "watch", "listen", "fetch", "bench"] {
            let r = try run([flowspecNft] + (sub.isEmpty ? [] : [sub]) + ["--help"])
            #expect(r.out.contains("USAGE"), "\(sub) --help")
        }
    }

    /// Options take the forms nft prints: hook and priority names (with an offset), and the
    /// default values are shown by name in --help.
    @Test func optionsTakeNftNames() throws {
        for (given, priority) in [("raw", "-300"), ("filter-10", "-10"), ("mangle+5", "-145"), ("-7", "-7")] {
            let r = try run([flowspecNft, "compile", "--from", "json", "--hook", "prerouting", "--priority", given, "-"], stdin: #"{"routes":[]}"#)
            #expect(r.out.contains("type filter hook prerouting priority \(priority);"), "\(given): \(r.out)")
        }
        let bad = try run([flowspecNft, "compile", "--from", "json", "--priority", "fliter", "-"], stdin: #"{"routes":[]}"#, check: false)
        #expect(bad.status != 0 && bad.err.contains("--priority"))
        // Words joined by single spaces: --help wraps its lines.
        let help = try run([flowspecNft, "apply", "--help"]).out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("default: forward") && help.contains("default: filter") && !help.contains("default: 2)"))
    }

    /// Examples stay pasteable: an indented line of --help (an example, an option's text) is
    /// never followed by an unindented one, which is what a command wrapped at 80 columns gives.
    @Test func helpExamplesAreNotWrappedMidCommand() throws {
        for sub in ["", "parse", "compile", "apply", "check", "show", "explain", "flush", "watch", "listen", "fetch", "bench"] {
            let lines = try run([flowspecNft] + (sub.isEmpty ? [] : [sub]) + ["--help"]).out.split(separator: "\n", omittingEmptySubsequences: false)
            for (a, b) in zip(lines, lines.dropFirst()) where a.hasPrefix("  ") && !b.isEmpty {
                #expect(b.hasPrefix(" "), "\(sub) --help wraps `\(a)` onto `\(b)`")
            }
        }
    }

    /// listen takes --config and --no-flush-on-exit as watch does; what the file lacks is named.
    @Test func listenTakesAConfigFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "local-as = 65001\nrouter-id = 192.0.2.2\n".write(toFile: dir + "/a.conf", atomically: true, encoding: .utf8)
        let r = try run([flowspecNft, "listen", "--config", dir + "/a.conf", "--no-flush-on-exit"], check: false)
        #expect(r.status != 0 && r.err.contains(dir + "/a.conf: give at least one --peer"), "\(r.err)")
        try "local-as = 65001\nrouter-id = 192.0.2.2\npeer = 192.0.2.1\npeer-as = 65309\nhold-time = 2\n".write(toFile: dir + "/b.conf", atomically: true, encoding: .utf8)
        let b = try run([flowspecNft, "listen", "--config", dir + "/b.conf"], check: false)
        #expect(b.status != 0 && b.err.contains("--hold-time must be 0 or at least 3"), "\(b.err)")
        let missing = try run([flowspecNft, "listen", "--config", dir + "/none.conf"], check: false)
        #expect(missing.status != 0 && missing.err.contains("cannot read config file"), "\(missing.err)")
        let noRouterID = try run([flowspecNft, "listen", "--local-as", "65001", "--peer", "192.0.2.1", "--peer-as", "1"], check: false)
        #expect(noRouterID.status != 0 && noRouterID.err.contains("--router-id"), "\(noRouterID.err)")
    }

    /// listen refuses what it cannot honour before it binds anything: a --password that is not
    /// a readable key file (a key typed on the command line is refused as such), a key too long
    /// for TCP-MD5, counts of --password/--ttl-security that do not match the peers, a bad
    /// --max-routes.
    @Test func listenRefusesBadPeerProtectionAndLimits() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try String(repeating: "k", count: 81).write(toFile: dir + "/long.key", atomically: true, encoding: .utf8)
        try "good\n".write(toFile: dir + "/good.key", atomically: true, encoding: .utf8)
        let base = [flowspecNft, "listen", "--local-as", "65001", "--router-id", "192.0.2.2", "--status-file", "",
                    "--peer", "192.0.2.1", "--peer", "192.0.2.5", "--peer-as", "65309"]
        for (args, message) in [(["--password", "s3cret"], "cannot read the file"),
                                (["--password", dir + "/long.key"], "81 octets"),
                                (["--password", dir + "/good.key", "--password", "none", "--password", "none"], "one --password per --peer"),
                                (["--ttl-security", "1", "--ttl-security", "1", "--ttl-security", "2"], "one --ttl-security per --peer"),
                                (["--max-routes", "ipv5=3"], "--max-routes"),
                                (["--max-routes", "0"], "--max-routes"),
                                (["--import", dir + "/missing.json"], "--import"),
                                (["--import", dir + "/good.key"], "not JSON")] {
            let r = try run(base + args, check: false)
            #expect(r.status != 0 && r.err.contains(message), "\(args): \(r.err)")
        }
    }

    @Test func parsePrintsRoutesAndErrorsAsOneJSONObject() throws {
        let r = try run([flowspecNft, "parse", "--from", "json", Self.fixtures + "/json/default-routes.json"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect((obj["routes"] as? [Any])?.count == 55)
        #expect((obj["errors"] as? [Any])?.isEmpty == true)
    }

    @Test func aBadRouteIsReportedWithItsPositionAndTheRestIsRead() throws {
        let input = """
        {"routes":[
        {"family":"ipv4","match":{"destination":"203.0.113.10/32","protocol":"==6"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.300/32"},"actions":["drop"]},
        {"family":"ipv4","match":{"destination":"203.0.113.11/32"},"actions":["drop"]}
        ]}
        """
        let r = try run([flowspecNft, "parse", "--from", "json", "-"], stdin: input, check: false)
        #expect(r.status == 3, "read, with an item rejected")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect((obj["routes"] as? [Any])?.count == 2)
        let errors = try #require(obj["errors"] as? [[String: Any]])
        #expect(errors.count == 1 && errors[0]["position"] as? String == "route 2")
    }

    @Test func unreadableInputExitsNonZero() throws {
        let r = try run([flowspecNft, "parse", "--from", "json", "-"], stdin: "this is not json", check: false)
        #expect(r.status != 0)
        #expect(r.err.contains("not json input"))
    }

    @Test func parseDecodesEveryCapturedUpdate() throws {
        // The `hex` fields of what BIRD (192.0.2.1) sent, one BGP message per line.
        let text = try String(contentsOfFile: Self.fixtures + "/pcap/flowspec-updates.jsonl", encoding: .utf8)
        let hex = try text.split(separator: "\n").compactMap { line -> String? in
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (o?["src"] as? String)?.hasPrefix("192.0.2.1:") == true ? o?["hex"] as? String : nil
        }
        let r = try run([flowspecNft, "parse", "--from", "bgp", "-"], stdin: hex.joined(separator: "\n"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect((obj["routes"] as? [Any])?.count == 55)
        #expect((obj["errors"] as? [Any])?.isEmpty == true)
    }

    @Test func compileReadsSeveralFilesAsOneRouteSet() throws {
        let dir = Self.fixtures + "/frr-8.4/"
        let r = try run([flowspecNft, "compile", "--from", "frr", dir + "ipv4-flowspec-detail.json", dir + "ipv6-flowspec-detail.json",
                         "--table", "fs", "--hook", "input", "--priority=-5", "--policy", "drop"], check: false)
        #expect(r.status == 3, "printed, with routes rejected")
        #expect(r.out.hasPrefix("table inet fs {}\ndelete table inet fs\n"))
        #expect(r.out.contains("type filter hook input priority -5; policy drop;"))
        #expect(r.out.contains("meta nfproto == ipv4") && r.out.contains("meta nfproto == ipv6"))
        // FRR's dump holds the default-policy route (rate 0), which wins over --policy.
        #expect(r.err.contains("rejected"), "redirects without a mark are rejected, on stderr")
    }

    @Test func badOptionsAreRefusedWithAReason() throws {
        let r = try run([flowspecNft, "compile", "--from", "json", "--redirect-mark", "nonsense", "-"], stdin: "[]", check: false)
        #expect(r.status != 0)
        #expect(r.err.contains("--redirect-mark"))
    }
}

@Suite struct ScopingCLITests {
    static let routes = """
    {"routes":[
    {"family":"ipv4","match":{"destination":"203.0.113.10/32"},"actions":["drop",{"route-target":"65309:10"}]},
    {"family":"ipv4","match":{"destination":"203.0.113.11/32"},"actions":["drop",{"route-target":"65309:20"}]},
    {"family":"ipv4","match":{"destination":"203.0.113.12/32"},"actions":["drop"]}
    ]}
    """

    @Test func routeTargetScopingKeepsOnlyThisSwitchsRoutes() throws {
        let r = try run([flowspecNft, "compile", "--from", "json", "--route-target", "65309:10", "-"], stdin: Self.routes)
        #expect(r.out.contains("203.0.113.10") && !r.out.contains("203.0.113.11") && r.out.contains("203.0.113.12"))
        let ignore = try run([flowspecNft, "compile", "--from", "json", "--route-target", "65309:10", "--untargeted", "ignore", "-"], stdin: Self.routes)
        #expect(ignore.out.contains("203.0.113.10") && !ignore.out.contains("203.0.113.12"))
    }
}

/// `apply` run after `apply`: a delta from the saved state, unless someone else changed the
/// ruleset in between (private network namespace, throwaway state directory).
@Suite(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
struct ApplyDeltaCLITests {
    /// Canonical JSON of one drop route per port: TCP to 203.0.113.(port % 200), that port.
    static func portRoutes(_ ports: [Int]) -> String {
        "{\"routes\":[" + ports.map { """
            {"family":"ipv4","match":{"destination":"203.0.113.\($0 % 200)/32","protocol":"==6","destination-port":"==\($0)"},"actions":["drop"]}
            """ }.joined(separator: ",") + "]}"
    }

    @Test func aSecondApplyIsADeltaUnlessTheRulesetChanged() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-delta-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = dir.appendingPathComponent("old.json"), new = dir.appendingPathComponent("new.json")
        try Self.portRoutes(Array(1000..<1300)).write(to: old, atomically: true, encoding: .utf8)
        try Self.portRoutes(Array(1001..<1301)).write(to: new, atomically: true, encoding: .utf8)
        let apply = "\(flowspecNft) apply --from json --state-dir \(dir.path)/state"
        let r = try run(["unshare", "-n", "sh", "-c", """
            \(apply) \(old.path) && \(apply) \(new.path) && \(flowspecNft) show --json && echo ===== && \
            \(apply) \(old.path) && \(apply) \(new.path) && \(flowspecNft) show --json && echo ===== && \
            \(apply) --no-merge \(old.path) && \(apply) --no-merge \(new.path) && \
            nft add table ip other && \(apply) \(old.path) && \(flowspecNft) show --json
            """])
        // One line per `apply` of the script.
        let lines = r.out.split(separator: "\n").filter { $0.contains("committed") }
        #expect(lines.count == 7, "\(r.out)")
        guard lines.count == 7 else { return }
        #expect(lines[0].contains("by full replace (no current state of the table)"))
        // Merged (the default): only the changed routes compiled, one set element out, one in;
        // the later runs replay the journal of the earlier ones.
        for k in 1...3 {
            #expect(lines[k].contains("by delta in place: 1 set elements out, 1 in, 0 rules out, 0 in"), "\(lines[k])")
        }
        // --no-merge: a table of other options, compiled whole (the merged table's rule gives way to
        // 300 rules: the cost estimate picks a replace), then a delta of rules.
        #expect(lines[4].contains("by full replace (") && lines[4].contains("a full replace is cheaper"), "\(lines[4])")
        #expect(lines[5].contains("by delta in place: 0 set elements out, 0 in, 1 rules out, 1 in"), "\(lines[5])")
        #expect(lines[6].contains("by full replace (the ruleset changed since the state was taken)"), "\(lines[6])")
        let shows = r.out.components(separatedBy: "=====")
        try #require(shows.count == 3, "\(r.out)")
        #expect(shows[0].contains("destination-port ==1300") && !shows[0].contains("destination-port ==1000"))
        #expect(shows[1].contains("destination-port ==1300") && !shows[1].contains("destination-port ==1000"))
        #expect(shows[2].contains("destination-port ==1000") && !shows[2].contains("destination-port ==1300"))
    }

    /// `show --digest` in the kernel: the same routes give the same line merged and unmerged,
    /// another route another line; no table: `none` and status 1.
    @Test func showDigestComparesTables() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-digest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ ports: [Int]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try Self.portRoutes(ports).write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let a = try write("a.json", Array(1000..<1300)), b = try write("b.json", Array(1000..<1301))
        let apply = "\(flowspecNft) apply --from json --state-dir \(dir.path)/state"
        let r = try run(["unshare", "-n", "sh", "-c", """
            \(flowspecNft) show --digest; echo "status $?"; \
            \(apply) \(a) >/dev/null && \(flowspecNft) show --digest && \(apply) --no-merge \(a) >/dev/null && \(flowspecNft) show --digest && \
            \(apply) \(b) >/dev/null && \(flowspecNft) show --digest
            """])
        let lines = r.out.split(separator: "\n").map(String.init)
        try #require(lines.count == 5, "\(r.out)\(r.err)")
        #expect(lines[0] == "none" && lines[1] == "status 1")
        #expect(lines[2].hasPrefix("routes=300 policy=accept digest=") && lines[2] == lines[3], "merged and unmerged: \(lines)")
        #expect(lines[4].hasPrefix("routes=301 ") && lines[4] != lines[2])
        let both = try run([flowspecNft, "show", "--digest", "--json"], check: false)
        #expect(both.status != 0 && both.err.contains("choose one"), "\(both.err)")
    }

    /// The exit statuses of `show` without a table and of `apply` and its guards: 3 committed with a rejected item listed as
    /// unreadable, 2 nothing committed under --strict, 1 an empty input over a table of routes or
    /// too many withdrawn at once; the table stays as it was after each refusal.
    @Test func exitStatusesAndGuards() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-guards-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ destinations: [String]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try ("{\"routes\":[" + destinations.map { "{\"family\":\"ipv4\",\"match\":{\"destination\":\"\($0)\"},\"actions\":[\"drop\"]}" }
                .joined(separator: ",") + "]}").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let good = try write("good.json", (1...10).map { "203.0.113.\($0)/32" })
        let typo = try write("typo.json", (1...10).map { "203.0.113.\($0)/32" } + ["203.0.113.300/32"])
        let half = try write("half.json", (1...5).map { "203.0.113.\($0)/32" })
        let empty = try write("empty.json", [])
        let invalid = try write("invalid.json", ["203.0.113.300/32", "198.51.100.0/33"])
        let apply = "\(flowspecNft) apply --from json --state-dir \(dir.path)/state"
        let r = try run(["unshare", "-n", "sh", "-c", """
            \(flowspecNft) show; echo "status $?"; \(apply) \(good); echo "status $?"; \(apply) --strict \(typo); echo "status $?"; \(apply) \(typo); echo "status $?"; \
            \(apply) \(empty); echo "status $?"; \(apply) --max-withdraw 40 \(half); echo "status $?"; \
            \(apply) \(invalid); echo "status $?"; \
            \(flowspecNft) show --json | grep -c '"identity"'; \(apply) --allow-empty \(empty); echo "status $?"
            """])
        let statuses = r.out.split(separator: "\n").filter { $0.hasPrefix("status ") }
        // `show` of a missing table first: not 0 either.
        #expect(statuses == ["status 1", "status 0", "status 2", "status 3", "status 1", "status 1", "status 1", "status 0"], "\(r.out)\(r.err)")
        #expect(r.out.contains("unreadable route 11: destination \"203.0.113.300/32\""), "\(r.out)")
        #expect(r.err.contains("nothing changed: 1 input items or routes rejected and all or nothing asked for (--strict)"), "\(r.err)")
        #expect(r.err.contains("would replace one of 10 routes (--allow-empty allows it)"), "\(r.err)")
        #expect(r.err.contains("5 of the 10 installed routes would be withdrawn at once, more than 40% (--max-withdraw)"), "\(r.err)")
        #expect(r.err.contains("nothing changed: no item of the input is a usable route (2 rejected)"), "\(r.err)")
        #expect(r.out.contains("unreadable route 2: destination \"198.51.100.0/33\""), "\(r.out)")
        // After the refusals the table still holds the ten routes.
        #expect(r.out.contains("\n10\n"), "\(r.out)")
    }

    /// When the kernel refuses an apply (here: no CAP_NET_ADMIN), no state or snapshot stays
    /// behind: not the previous one (taken away before the batch is sent: whatever the kernel
    /// did, the ruleset may not be what it describes) and not a new one.
    @Test func aFailedApplyLeavesNoStateOrSnapshot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-fail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let routes = dir.appendingPathComponent("routes.json")
        try CanonicalJSON.write(RouteGenerator().routes(count: 200)).write(to: routes, atomically: true, encoding: .utf8)
        let state = dir.appendingPathComponent("state")
        let apply = "\(flowspecNft) apply --from json --state-dir \(state.path) \(routes.path)"
        let r = try run(["unshare", "-n", "sh", "-c", """
            \(apply) && ls \(state.path) | wc -l && \
            setpriv --bounding-set -net_admin --inh-caps -net_admin \(apply); echo "status $?" && ls \(state.path) | wc -l
            """])
        let lines = r.out.split(separator: "\n").map(String.init)
        // The first apply left a state and a snapshot; the refused one left nothing.
        #expect(lines.contains("2"), "\(r.out)")
        #expect(lines.contains("status 1"), "\(r.out)")
        #expect(lines.last == "0", "\(r.out)")
        #expect(r.err.contains("nothing changed"), "\(r.err)")
    }
}
