import Foundation
import Testing

/// `flowspec-nft check`: what apply would change, checked by the kernel, committed nowhere. In
/// a private network namespace; the ruleset and the state directory are compared byte for byte
/// before and after.
@Suite(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
struct CheckTests {
    @Test func checkListsTheChangeAndCommitsNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fsn-check-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ routes: [String]) throws -> String {
            try ("{\"routes\":[" + routes.joined(separator: ",") + "]}").write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            return dir + "/" + name
        }
        func drop(_ n: Int) -> String {
            #"{"family":"ipv4","match":{"destination":"203.0.113.\#(n)/32","protocol":"==6","destination-port":"==\#(1000 + n)"},"actions":["drop"]}"#
        }
        let old = try write("old.json", (1...40).map(drop))
        let policed = #"{"family":"ipv4","match":{"destination":"203.0.113.3/32","protocol":"==6","destination-port":"==1003"},"actions":[{"traffic-rate-bytes":1000}]}"#
        let new = try write("new.json", [drop(1), policed] + (4...40).map(drop) + [drop(77)])
        let empty = try write("empty.json", [])
        let fsn = "\(flowspecNft)", state = "--state-dir \(dir)/state"
        let r = try run(["unshare", "-n", "sh", "-c", """
            \(fsn) check --from json \(old) \(state); echo "status $?"; nft list ruleset | wc -l; \
            \(fsn) apply --from json \(old) \(state) > /dev/null; \
            nft list ruleset > \(dir)/before.nft; cat \(dir)/state/* | md5sum > \(dir)/before.state; \
            echo =====; \(fsn) check --from json \(new) \(state); echo "status $?"; \
            nft list ruleset > \(dir)/after.nft; cat \(dir)/state/* | md5sum > \(dir)/after.state; \
            echo =====; \(fsn) check --from json \(old) \(state); echo "status $?"; \
            \(fsn) check --from json \(empty) \(state); echo "status $?"; \
            \(fsn) check --from json \(old) \(state) --hook ingress --device lo --offload; echo "status $?"; \
            nft list ruleset > \(dir)/last.nft
            """])
        let parts = r.out.components(separatedBy: "=====\n")
        try #require(parts.count == 3, "\(r.out)\(r.err)")
        // No table yet: all 40 added, the chain policy with them; nothing made.
        #expect(parts[0].contains("40 routes added, 0 removed, 0 changed, 0 kept; chain policy - → accept"), "\(parts[0])")
        #expect(parts[0].contains("apply would commit it by full replace (no current state of the table)"))
        #expect(parts[0].contains("status 0\n0\n"), "the ruleset stayed empty: \(parts[0])")
        // Against the applied table: +1 -1 ~1, planned in place from the saved state.
        let lines = parts[1].split(separator: "\n")
        #expect(lines.contains("table inet flowspec: 1 routes added, 1 removed, 1 changed, 38 kept"), "\(parts[1])")
        #expect(lines.contains("  + ipv4 destination 203.0.113.77/32 protocol ==6 destination-port ==1077  → drop"))
        #expect(lines.contains("  - ipv4 destination 203.0.113.2/32 protocol ==6 destination-port ==1002  → drop"))
        #expect(lines.contains { $0.hasPrefix("  ~ ipv4 destination 203.0.113.3/32 protocol ==6 destination-port ==1003  → police 1000 bytes/second") && $0.hasSuffix("(was drop)") })
        #expect(parts[1].contains("apply would commit it by delta in place:") && parts[1].contains("which the kernel validated"), "\(parts[1])")
        #expect(parts[1].contains("status 0"))
        // Nothing committed, nothing stored.
        #expect(try String(contentsOfFile: dir + "/before.nft", encoding: .utf8) == String(contentsOfFile: dir + "/after.nft", encoding: .utf8))
        #expect(try String(contentsOfFile: dir + "/before.state", encoding: .utf8) == String(contentsOfFile: dir + "/after.state", encoding: .utf8))
        // The same routes: nothing to send. An empty input: the guard's refusal (status 1). An
        // offload the kernel refuses for lo: its refusal, found by the kernel's validation.
        #expect(parts[2].contains("0 routes added, 0 removed, 0 changed, 40 kept") && parts[2].contains("apply would send nothing"))
        #expect(parts[2].components(separatedBy: "status ").dropFirst().map { $0.prefix(1) } == ["0", "1", "1"], "\(parts[2])")
        #expect(r.err.contains("apply would change nothing: the new table holds no route and would replace one of 40 routes"), "\(r.err)")
        #expect(r.err.contains("apply would change nothing: --offload: the kernel refused to run chain filter in hardware on lo"), "\(r.err)")
        #expect(try String(contentsOfFile: dir + "/before.nft", encoding: .utf8) == String(contentsOfFile: dir + "/last.nft", encoding: .utf8))
    }
}
