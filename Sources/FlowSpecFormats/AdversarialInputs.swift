import FlowSpec

/// Inputs built to hit each reader's costly paths: long runs of whitespace, nesting up to and
/// past the depth limit, long strings, very long lines. Every reader must read or refuse them
/// in time linear in their size (issue #18: the quadratic readers of before took 10 s on 40 KB
/// of such input). `ReaderCostTests` checks that linearity; `flowspec-nft bench --readers`
/// reports the time per reader at 10 MB in whatever build runs it.
public enum AdversarialInputs {
    /// One adversarial input for one reader.
    public struct Case: Sendable {
        public var name: String
        /// The input, about the given number of bytes.
        public var text: @Sendable (Int) -> String
        /// Reads it; whether it throws does not matter.
        public var read: @Sendable (String) -> Void
    }

    static func spaces(_ n: Int) -> String { String(repeating: " ", count: n) }

    static let update = "ffffffffffffffffffffffffffffffff" + "0017" + "02" + "0000" + "0000"

    public static let cases: [Case] = [
        Case(name: "exabgp: an open object, then whitespace",
             text: { #"{"type": "update""# + spaces($0) }, read: { _ = try? ExaBGPReader.read($0) }),
        Case(name: "exabgp: whitespace inside a string",
             text: { #"{"type": "update", "neighbor": {"message": {"update": {"announce": {"ipv4 flow": {"no-nexthop": [{"protocol": ["=tcp"], "string": "flow "# + spaces($0) + #"tcp-flags [ =syn ]"}]}}}}}}"# },
             read: { _ = try? ExaBGPReader.read($0) }),
        Case(name: "exabgp: whitespace inside a numeric value",
             text: { #"{"neighbor": {"message": {"update": {"announce": {"ipv4 flow": {"no-nexthop": [{"protocol": ["="# + spaces($0) + #"6"]}]}}}}}}"# },
             read: { _ = try? ExaBGPReader.read($0) }),
        Case(name: "exabgp: deep nesting", text: { String(repeating: "[", count: $0) }, read: { _ = try? ExaBGPReader.read($0) }),
        Case(name: "exabgp: one line, whitespace only", text: { spaces($0) },
             read: { _ = ExaBGPReader.readMessage($0) }),
        Case(name: "frr: whitespace inside a string",
             text: { "[\n  {\n    \"to\":\"203.0.113.1/32\",\n    \"proto\":\"= 6" + spaces($0) + "\"\n  }\n]\n" },
             read: { _ = try? FRRReader.read($0) }),
        Case(name: "frr: whitespace inside a bitmask and communities",
             text: { "[\n  {\n    \"to\":\"203.0.113.1/32\",\n    \"tcp\":\"= 2" + spaces($0 / 2) + ",&= 4\"\n  },\n  {\n    \"ecomlist\":\"FS:rate 0.000000" + spaces($0 / 2) + "FS:marking 10\"\n  }\n]\n" },
             read: { _ = try? FRRReader.read($0) }),
        Case(name: "frr: an open array, then whitespace", text: { "[" + spaces($0) }, read: { _ = try? FRRReader.read($0) }),
        Case(name: "frr: deep nesting", text: { String(repeating: "[", count: $0) }, read: { _ = try? FRRReader.read($0) }),
        Case(name: "gobgp: whitespace between members", text: { "{" + spaces($0) + "}" }, read: { _ = try? GoBGPReader.read($0) }),
        Case(name: "gobgp: an open object, then whitespace", text: { "{\"a\":" + spaces($0) }, read: { _ = try? GoBGPReader.read($0) }),
        Case(name: "gobgp: a long string",
             text: { #"{"a":[{"nlri":{"value":[{"type":1,"value":{"prefix":""# + spaces($0) + #""}}]},"attrs":[]}]}"# },
             read: { _ = try? GoBGPReader.read($0) }),
        Case(name: "gobgp: deep nesting", text: { "{\"a\":" + String(repeating: "[", count: $0) }, read: { _ = try? GoBGPReader.read($0) }),
        Case(name: "gobgp monitor: one long line", text: { "[" + spaces($0) }, read: { _ = GoBGPReader.readMonitorLine($0) }),
        Case(name: "bgp hex: one very long line", text: { String(repeating: "ff", count: $0 / 2) }, read: { _ = try? BGPHexReader.read($0) }),
        Case(name: "bgp hex: whitespace inside a line", text: { update.prefix(20) + spaces($0) + update.dropFirst(20) },
             read: { _ = try? BGPHexReader.read($0) }),
        Case(name: "nlri hex: one very long line", text: { String(repeating: "03038106", count: $0 / 8) },
             read: { _ = try? NLRIHexReader.read($0, family: .ipv4) }),
        Case(name: "nlri hex: whitespace-only lines", text: { String(repeating: " \t\n", count: $0 / 3) + "03038106" },
             read: { _ = try? NLRIHexReader.read($0, family: .ipv4) }),
        Case(name: "json: an open array, then whitespace", text: { "[" + spaces($0) }, read: { _ = try? CanonicalJSON.read($0) }),
        Case(name: "json: deep nesting", text: { String(repeating: "[", count: $0) }, read: { _ = try? CanonicalJSON.read($0) }),
    ]
}
