import ArgumentParser
import Foundation

/// The `--config FILE` of `watch` and `listen`: every setting a flag can carry, as command-line
/// arguments that go before the real ones (so flags override the file, the last occurrence of an
/// option wins).
///
/// Two spellings, told apart by the first character:
///
///     # key=value: one setting per line, keys are the long option names
///     source = frr
///     interval = 0.5
///     vtysh = vtysh --vty_socket /run/frr
///     redirect-mark = 65309:100=0x10      # repeatable options: repeat the key
///     flush-on-exit = true                # flags: true or false
///
///     {"source": "gobgp", "interval": 2, "redirect-mark": ["65309:100=0x10"], "no-counters": true}
///
/// Values are taken literally up to the end of the line (a `#` after a blank starts a comment),
/// with surrounding blanks removed; quotes are not needed and are not removed.
enum ConfigFile {
    /// The flags (options without a value) of the table options, which both daemons take:
    /// `true` writes the flag, `false` its negation if any.
    static let tableFlags: [String: String?] = [
        "no-counters": nil,
        "offload": nil,
        "accept-established": nil,
        "merge": "no-merge",
        "no-merge": nil,
    ]

    /// The file's settings as arguments; `flags` are the command's flags (name → negation).
    static func arguments(path: String, flags: [String: String?]) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read config file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let pairs = text.first { !$0.isWhitespace } == "{" ? try jsonPairs(data, path: path) : try keyValuePairs(text, path: path)
        var args = [String]()
        for (key, value) in pairs {
            if key == "config" { throw CLIError("\(path): `config` cannot be set in a config file") }
            if let negation = flags[key] ?? tableFlags[key] {
                switch value.lowercased() {
                case "true", "yes", "1": args.append("--\(key)")
                case "false", "no", "0": if let n = negation { args.append("--\(n)") }
                default: throw CLIError("\(path): \(key) wants true or false, not '\(value)'")
                }
            } else {
                // `--key=` would read as a missing value: an empty one goes as its own argument.
                args += value.isEmpty ? ["--\(key)", ""] : ["--\(key)=\(value)"]
            }
        }
        return args
    }

    static func keyValuePairs(_ text: String, path: String) throws -> [(String, String)] {
        var pairs = [(String, String)]()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if line.hasPrefix("#") { continue }
            if let r = line.range(of: " #") ?? line.range(of: "\t#") { line = line[..<r.lowerBound] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw CLIError("\(path), line \(i + 1): expected key = value, not '\(trimmed)'")
            }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw CLIError("\(path), line \(i + 1): empty key") }
            pairs.append((key, value))
        }
        return pairs
    }

    /// A JSON config value: JSONDecoder keeps booleans and numbers apart, unlike JSONSerialization.
    enum Value: Decodable {
        case bool(Bool), number(Double), string(String), list([Value])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else { self = .list(try c.decode([Value].self)) }
        }
    }

    static func jsonPairs(_ data: Data, path: String) throws -> [(String, String)] {
        let dict: [String: Value]
        do { dict = try JSONDecoder().decode([String: Value].self, from: data) } catch {
            throw CLIError("\(path) is not a JSON object of strings, numbers, booleans and lists: \(error)")
        }
        func text(_ key: String, _ v: Value) throws -> String {
            switch v {
            case .bool(let b): return b ? "true" : "false"
            case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
            case .string(let s): return s
            case .list: throw CLIError("\(path): \(key): lists may hold only strings, numbers and booleans")
            }
        }
        var pairs = [(String, String)]()
        for key in dict.keys.sorted() {
            if case .list(let items) = dict[key]! {
                for item in items { pairs.append((key, try text(key, item))) }
            } else {
                pairs.append((key, try text(key, dict[key]!)))
            }
        }
        return pairs
    }
}

extension ParsableCommand {
    /// The arguments after `name` (the subcommand) on this process's command line.
    static func arguments(after name: String) -> [String] {
        let all = CommandLine.arguments
        guard let i = all.firstIndex(of: name) else { return Array(all.dropFirst()) }
        return Array(all[(i + 1)...])
    }

    /// This command parsed from `configPath`'s settings (`flags`: its flags) followed by
    /// `commandLine`; without a config file, from the command line alone.
    static func merged(commandLine: [String], configPath: String?, flags: [String: String?]) throws -> Self {
        guard let configPath else { return try parseAsRoot(commandLine) as! Self }
        let fromFile = try ConfigFile.arguments(path: configPath, flags: flags)
        do {
            return try parseAsRoot(fromFile + commandLine) as! Self
        } catch {
            throw CLIError("\(configPath): \(message(for: error))")
        }
    }
}
