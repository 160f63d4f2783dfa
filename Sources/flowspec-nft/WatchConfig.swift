import ArgumentParser
import Foundation

/// The `--config FILE` of `watch`: every setting a flag can carry, as command-line arguments that
/// go before the real ones (so flags override the file, the last occurrence of an option wins).
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
enum WatchConfigFile {
    /// Options that are flags (no value): `true` writes the flag, `false` its negation if any.
    static let flags: [String: String?] = [
        "flush-on-exit": "no-flush-on-exit",
        "no-counters": nil,
        "offload": nil,
        "accept-established": nil,
    ]

    static func arguments(path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read config file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let pairs = text.first { !$0.isWhitespace } == "{" ? try jsonPairs(data, path: path) : try keyValuePairs(text, path: path)
        var args = [String]()
        for (key, value) in pairs {
            if key == "config" { throw CLIError("\(path): `config` cannot be set in a config file") }
            if let negation = flags[key] {
                switch value.lowercased() {
                case "true", "yes", "1": args.append("--\(key)")
                case "false", "no", "0": if let n = negation { args.append("--\(n)") }
                default: throw CLIError("\(path): \(key) wants true or false, not '\(value)'")
                }
            } else {
                args.append("--\(key)=\(value)")
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
