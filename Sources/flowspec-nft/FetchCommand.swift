import ArgumentParser
import FlowSpec
import FlowSpecCompiler
import FlowSpecFetcher
import FlowSpecFormats
import FlowSpecNetlink
import Foundation

enum FetchSource: String, ExpressibleByArgument, CaseIterable {
    case nft
    case iptablesSave = "iptables-save"
}

enum FetchTarget: String, ExpressibleByArgument, CaseIterable {
    case bird, json, exabgp
}

/// `flowspec-nft fetch`: the reverse of `apply`. Reads an existing firewall chain (from the
/// kernel, or as `iptables-save` text) and writes the flowspec routes that mean the same, for a
/// BGP controller to announce. The mapping is in docs/fetcher.md.
struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn an nftables chain or iptables-save text into flowspec routes (BIRD, JSON or ExaBGP).",
        discussion: """
        The rule order becomes sequence numbers (rule i gets i × --sequence-step, the chain policy \
        the next one), carried as --sequence-carrier says; the chain policy becomes a \
        default-policy route (0/0 → 0/0). A rule with no flowspec form is reported on standard \
        error by position with the reason and left out; because a chain is evaluated in order, \
        leaving a rule out can change what later rules see. --strict refuses any such rule \
        (exit status 1, nothing written); --skip-unsupported also lists them as comments in the \
        output (BIRD, ExaBGP; JSON has no comments).

        Examples:
          flowspec-nft fetch --from nft --chain 'inet fw forward_filter' \\
            > /etc/bird/flowspec.conf
          iptables-save | flowspec-nft fetch --from iptables-save --to exabgp -
          ip6tables-save | flowspec-nft fetch --from iptables-save \\
            --chain INPUT --to json
        """)

    @Option(help: "Where the chain comes from: nft (the kernel, current network namespace) or iptables-save (text).")
    var from: FetchSource

    @Option(help: ArgumentHelp("nft: 'FAMILY TABLE CHAIN' (e.g. 'inet fw forward'); iptables-save: the chain of the filter table (default FORWARD).", valueName: "chain"))
    var chain: String?

    @Argument(help: "iptables-save / ip6tables-save input file; none or `-` reads standard input.")
    var file: String?

    @Option(help: "Output: bird (a BIRD 2 configuration fragment), json (canonical) or exabgp (an ExaBGP 4.2 flow section).")
    var to: FetchTarget = .bird

    @Flag(help: "Fail (exit status 1, no output) when any rule has no flowspec form.")
    var strict = false

    @Flag(help: "Leave out rules with no flowspec form and say so in comments in the output.")
    var skipUnsupported = false

    @Option(help: "Sequence number step: rule i gets i × step.")
    var sequenceStep: UInt64 = 10

    @Option(help: ArgumentHelp("Where the sequence number travels: large:GLOBAL (a large community GLOBAL:sequence:0; by default GLOBAL is AS 4294967295, reserved by RFC 7300, so no router acts on it), ext:TYPE:SUBTYPE (an extended community, e.g. ext:0x80:0x00), traffic-marking (the historical convention: an RFC-compliant router rewrites the traffic's DSCP to the number) or none. Read them back with apply/watch/listen --order sequence --sequence-carrier and the same value.", valueName: "carrier"))
    var sequenceCarrier: FetchSequenceCarrier = .carrier(.inert)

    @Option(parsing: .singleValue, help: ArgumentHelp("Read `meta mark set MARK` / `-j MARK --set-mark MARK` as a redirect to route target RT, e.g. 65309:100=0x10 ([2001:db8::1]:100=0x10: an rt-redirect-ipv6, which only --to json can write), the order of --redirect-mark (repeatable; MARK=RT is read too).", valueName: "rt=mark"))
    var markTarget: [MarkTarget] = []

    @Option(help: "The AS number put in traffic-rate communities (informational).")
    var rateAsn: UInt16 = 0

    @Option(name: .customLong("interface-group"), parsing: .singleValue,
            help: ArgumentHelp("Read a rule scoped to input interfaces (iifname) as carrying the route targets of the groups its interfaces make up, e.g. 65309:20=eth1,eth2 (repeatable; as the table was applied with). Without it such a rule is unsupported.", valueName: "rt=if,..."))
    var interfaceGroup: [InterfaceGroupOption] = []

    func validate() throws {
        if strict && skipUnsupported { throw ValidationError("--strict and --skip-unsupported exclude each other") }
        if sequenceStep == 0 { throw ValidationError("--sequence-step must be at least 1") }
        for o in interfaceGroup {
            for name in o.interfaces {
                if let problem = InterfaceGroups.problem(name) { throw ValidationError("--interface-group \(o.target): interface \"\(name)\": \(problem)") }
            }
        }
        switch from {
        case .nft:
            guard let chain else { throw ValidationError("--from nft needs --chain 'FAMILY TABLE CHAIN'") }
            _ = try NftChainName(chain)
            if file != nil { throw ValidationError("--from nft reads the kernel; it takes no input file") }
        case .iptablesSave:
            if let chain, chain.isEmpty || chain.contains(" ") {
                throw ValidationError("--chain for iptables-save is one chain name (e.g. FORWARD), not '\(chain)'")
            }
        }
    }

    func run() throws {
        let options = fetchOptions
        let result: FetchResult
        switch from {
        case .nft: result = try fetchNft(try NftChainName(chain ?? ""), options: options)
        case .iptablesSave: result = try fetchIptablesSave(options: options)
        }
        for problem in result.problems {
            printError("\(strict ? "error" : "unsupported"): \(problem)")
        }
        for route in result.routes {
            for warning in route.warnings { printError("warning: \(route.position): \(warning)") }
        }
        if strict && !result.problems.isEmpty {
            throw CLIError("\(result.problems.count) rule\(result.problems.count == 1 ? "" : "s") cannot be expressed as flowspec (--strict); nothing written")
        }
        print(FetchOutput.render(result, target: to, listSkipped: skipUnsupported, carrier: sequenceCarrier.carrier), terminator: "")
    }

    var fetchOptions: FetchOptions {
        var o = FetchOptions(sequenceStep: sequenceStep, sequenceCarrier: sequenceCarrier.carrier,
                             markTargets: Dictionary(markTarget.map { ($0.mark, $0.target) }, uniquingKeysWith: { _, last in last }),
                             rateASN: rateAsn)
        for g in interfaceGroup { try? o.interfaceGroups.add(g.target, g.interfaces) }
        return o
    }

    func fetchNft(_ name: NftChainName, options: FetchOptions) throws -> FetchResult {
        let installed: InstalledTable?
        do {
            installed = try NftConnection().listTable(name: name.table, family: name.family)
        } catch {
            throw CLIError("cannot read table \(name.family.name) \(name.table): \(error)")
        }
        guard let installed else { throw CLIError("no table \(name.family.name) \(name.table)") }
        do {
            return try ChainReader.read(table: installed.table, chain: name.chain,
                                        ruleHandles: installed.ruleHandles[name.chain], options: options)
        } catch {
            throw CLIError("\(name.family.name) \(error)")
        }
    }

    func fetchIptablesSave(options: FetchOptions) throws -> FetchResult {
        let data: Data
        if file == nil || file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: file!) else { throw CLIError("cannot read \(file!)") }
            data = d
        }
        let text = String(decoding: data, as: UTF8.self)
        let name = chain ?? "FORWARD"
        // A chain that is neither declared nor used is a mistake (a typo, or the wrong table).
        guard IptablesSaveText.declaresChain(text, name) else {
            throw CLIError("\(file.map { $0 == "-" ? "standard input" : $0 } ?? "standard input") has no chain \(name) in its filter table")
        }
        return IptablesSaveReader.read(text, chain: name, options: options)
    }
}

/// `--chain 'FAMILY TABLE CHAIN'` of `--from nft`.
struct NftChainName: Equatable {
    var family: NftFamily
    var table: String
    var chain: String

    init(_ text: String) throws {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard words.count == 3 else {
            throw ValidationError("--chain for nft is 'FAMILY TABLE CHAIN' (e.g. 'inet fw forward'), not '\(text)'")
        }
        guard let f = [NftFamily.inet, .ip, .ip6].first(where: { $0.name == words[0] }) else {
            throw ValidationError("nft family must be inet, ip or ip6, not '\(words[0])'")
        }
        family = f; table = words[1]; chain = words[2]
    }
}

enum IptablesSaveText {
    /// True when the filter table of `text` declares `:CHAIN POLICY …` or appends to the chain.
    static func declaresChain(_ text: String, _ chain: String) -> Bool {
        var inFilter = false
        for raw in text.split(separator: "\n") {
            let line = raw.drop(while: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("*") { inFilter = line.hasPrefix("*filter"); continue }
            guard inFilter else { continue }
            if line.hasPrefix(":"), line.dropFirst().split(separator: " ").first.map(String.init) == chain { return true }
            let words = line.split(separator: " ")
            if let a = words.firstIndex(of: "-A"), a + 1 < words.count, words[a + 1] == Substring(chain) { return true }
        }
        return false
    }
}
