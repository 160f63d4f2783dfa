import Foundation
import Testing
import FlowSpecCompiler
@testable import FlowSpecNetlink

/// A manual measurement, not a timed test: runs only with FLOWSPEC_NETLINK_BENCH=<rules>
/// (e.g. `FLOWSPEC_NETLINK_BENCH=100000 swift test -c release --filter Benchmark`), applies a
/// linear table fresh and then replaces it, and prints the reports. It asserts only that the
/// rules arrived.
@Suite("Benchmark", .enabled(if: Kernel.available && ProcessInfo.processInfo.environment["FLOWSPEC_NETLINK_BENCH"] != nil))
struct Benchmark {
    @Test func linearRulesFreshAndReplace() throws {
        let count = Int(ProcessInfo.processInfo.environment["FLOWSPEC_NETLINK_BENCH"] ?? "") ?? 10_000
        let rules = (0..<count).map { n -> NftRule in
            let a = UInt8((n >> 8) & 0xff), b = UInt8(n & 0xff)
            return NftRule(expressions: isIPv4() + [
                ipv4Source(), .cmp(op: .eq, sreg: .reg1, data: [198, 51, a, b]),
                .payload(base: .network, offset: 16, length: 4, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [203, 0, 113, b]),
                .meta(key: .l4proto, dreg: .reg1), .cmp(op: .eq, sreg: .reg1, data: [17]),
                transportPort(), .cmp(op: .eq, sreg: .reg1, data: [0, 53]),
                .immediateVerdict(.drop)], comment: "route-\(n)")
        }
        let table = NftTable(name: "bench", family: .inet, chains: [filterChain(rules: rules)])
        let connection = try NftConnection.inNewNamespace()
        let fresh = try connection.apply(table)
        let replace = try connection.apply(table)
        print("rules=\(count) fresh: build \(fresh.buildTime) kernel \(fresh.kernelTime) bytes \(fresh.bytes)")
        print("rules=\(count) replace: build \(replace.buildTime) kernel \(replace.kernelTime) bytes \(replace.bytes)")
        let clock = ContinuousClock()
        let start = clock.now
        let installed = try connection.listTable(name: "bench", family: .inet)
        print("rules=\(count) list: \(clock.now - start)")
        let nftStart = clock.now
        let text = try nft(["list", "table", "inet", "bench"], in: try #require(connection.namespace))
        print("rules=\(count) nft list table: \(clock.now - nftStart) (\(text.utf8.count) bytes)")
        #expect(installed?.table.chains.first?.rules.count == count)
    }
}
