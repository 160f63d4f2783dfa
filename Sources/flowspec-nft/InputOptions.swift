import ArgumentParser
import FlowSpec
import FlowSpecFormats
import Foundation

enum InputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, bgp, nlri, frr, gobgp, exabgp

    static let help = ArgumentHelp(
        "Input format: json (canonical), bgp (BGP messages as hex, one per line), nlri (bare NLRI hex, with --afi), frr (show bgp ipv4|ipv6 flowspec detail json), gobgp (gobgp global rib -a ipv4-flowspec -j), exabgp (ExaBGP JSON API stream).",
        valueName: "format")
}

/// Where routes come from: a format and files (none, or `-`, is standard input). Several files
/// form one route set (e.g. an IPv4 and an IPv6 dump).
struct InputOptions: ParsableArguments {
    @Option(help: InputFormat.help)
    var from: InputFormat

    @Option(help: "Address family of `--from nlri` input: ipv4 or ipv6.")
    var afi: FamilyOption = .ipv4

    @Argument(help: "Input files; none or `-` reads standard input.")
    var files: [String] = []

    /// Reads every input. Per-route problems end up in the result; only unreadable input throws.
    func read() throws -> ReadResult {
        var result = ReadResult()
        let names = files.isEmpty ? ["-"] : files
        for name in names {
            let data: Data
            if name == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: name) else {
                    throw CLIError("cannot read \(name)")
                }
                data = d
            }
            do {
                var part = try InputOptions.parse(data, format: from, family: afi.family)
                if names.count > 1 { part.prefixPositions(with: name) }
                result.append(part)
            } catch let e as UnreadableInput {
                throw CLIError("\(name == "-" ? "standard input" : name) is not \(from.rawValue) input: \(e.reason)")
            }
        }
        return result
    }

    static func parse(_ data: Data, format: InputFormat, family: AddressFamily) throws -> ReadResult {
        let text = { String(decoding: data, as: UTF8.self) }
        switch format {
        case .json: return try CanonicalJSON.read(data)
        case .bgp: return try BGPHexReader.read(text())
        case .nlri: return try NLRIHexReader.read(text(), family: family)
        case .frr: return try FRRReader.read(text())
        case .gobgp: return try GoBGPReader.read(text())
        case .exabgp: return try ExaBGPReader.read(text())
        }
    }
}

extension ReadResult {
    mutating func prefixPositions(with file: String) {
        for i in routes.indices { routes[i].position = "\(file): \(routes[i].position)" }
        for i in errors.indices { errors[i].position = "\(file): \(errors[i].position)" }
    }
}

/// An error the CLI reports as `flowspec-nft: <message>` with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
