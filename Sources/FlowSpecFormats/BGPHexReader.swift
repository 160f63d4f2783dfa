import FlowSpec

/// Reads BGP messages written as hex, one whole message per line (marker included), as
/// `tcpdump -X` users, pcap extractors and the `hex` field of lab/pcap-bgp-messages.py give them.
///
/// Format: blank lines and lines starting with `#` are skipped; on the other lines spaces, tabs,
/// `:` and a leading `0x` are ignored, so `ffff ffff ...` and `ff:ff:...` both read.
/// UPDATE messages give their flowspec routes: announced routes carry the UPDATE's extended and
/// large communities, MP_UNREACH_NLRI routes come back with `withdrawn: true`. OPEN, KEEPALIVE,
/// NOTIFICATION and other message types, End-of-RIB markers, and non-flowspec AFI/SAFI NLRIs are
/// skipped. A line that is not a valid message gives a `ReadError` at `line N`; a malformed NLRI
/// inside an otherwise good UPDATE gives one at `line N, NLRI K` (`withdrawn NLRI K` in
/// MP_UNREACH_NLRI) and the other routes of the message are still returned.
public enum BGPHexReader {
    /// - Throws: `UnreadableInput` when the input has content lines and none looks like hex, when
    ///   it is empty (not even a comment), or when its last line is cut short: half an octet, or
    ///   fewer octets than its BGP header's length. A cut capture would otherwise read as fewer
    ///   routes; a short line before others is that line's error.
    public static func read(_ text: String, options: WireOptions = .standard) throws(UnreadableInput) -> ReadResult {
        var result = ReadResult()
        var contentLines = 0, hexLines = 0
        let lines = try HexText.lines(text)
        for (n, raw) in lines {
            contentLines += 1
            let position = "line \(n)"
            let isLast = contentLines == lines.count
            let bytes: [UInt8]
            switch HexText.decode(raw) {
            case .notHex:
                result.errors.append(ReadError(position: position, reason: "not hex"))
                continue
            case .halfOctet(let reason) where isLast:
                throw HexText.cut(line: n, reason)
            case .bad(let reason), .halfOctet(let reason):
                hexLines += 1
                result.errors.append(ReadError(position: position, reason: reason))
                continue
            case .bytes(let b):
                hexLines += 1
                bytes = b
            }
            let message: BGPMessage
            do { message = try BGPMessage.decode(bytes, options: options) } catch {
                if isLast, case .truncated(_, .messageHeader) = error { throw HexText.cut(line: n, error.description) }
                if isLast, case .truncated(_, .message) = error { throw HexText.cut(line: n, error.description) }
                result.errors.append(ReadError(position: position, reason: error.description))
                continue
            }
            guard case .update(let update) = message else { continue }
            let content = update.flowspec
            for item in content.routes {
                let pos = "\(position), \(item.withdrawn ? "withdrawn " : "")NLRI \(item.index)"
                result.routes.append(ReadRoute(route: item.route, withdrawn: item.withdrawn, position: pos))
            }
            for failure in content.errors {
                let pos = "\(position), \(failure.withdrawn ? "withdrawn " : "")NLRI \(failure.index)"
                result.errors.append(ReadError(position: pos, reason: failure.error.description))
            }
        }
        if contentLines > 0 && hexLines == 0 { throw UnreadableInput("no line of the input is hex") }
        return result
    }
}

/// Hex text helpers shared by the hex readers.
enum HexText {
    enum Line {
        case bytes([UInt8])
        /// Hex digits, but otherwise unusable.
        case bad(String)
        /// Hex digits ending in half an octet: as the input's last line, it was cut.
        case halfOctet(String)
        /// Not hex at all.
        case notHex
    }

    /// The non-blank, non-comment lines with their 1-based numbers.
    ///
    /// - Throws: `UnreadableInput` for input with nothing at all in it (a comment counts): a
    ///   capture that wrote nothing, or a copy cut before its first line, is not an empty table.
    static func lines(_ text: String) throws(UnreadableInput) -> [(Int, Substring)] {
        var out = [(Int, Substring)]()
        var n = 0, anything = false
        // On the UTF-8 code units: splitting by Characters costs grapheme breaking on every byte.
        let utf8 = text.utf8
        var start = utf8.startIndex
        while true {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "\n")) ?? utf8.endIndex
            n += 1
            var first = start
            while first < end, [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r")].contains(utf8[first]) {
                first = utf8.index(after: first)
            }
            if first < end {
                anything = true
                if utf8[first] != UInt8(ascii: "#") { out.append((n, text[first..<end])) }
            }
            guard end < utf8.endIndex else { break }
            start = utf8.index(after: end)
        }
        if !anything { throw UnreadableInput("empty input: no line at all") }
        return out
    }

    /// The input's last line is cut short: the whole input was truncated.
    static func cut(line n: Int, _ reason: String) -> UnreadableInput {
        UnreadableInput("truncated input: line \(n), the last one, is cut short (\(reason))")
    }

    /// Decodes a line of hex, ignoring spaces, tabs, `:` and a leading `0x`.
    static func decode(_ line: Substring) -> Line {
        var digits = [UInt8]()
        digits.reserveCapacity(line.utf8.count)
        var u = Substring(line).utf8[...]
        if u.starts(with: "0x".utf8) || u.starts(with: "0X".utf8) { u = u.dropFirst(2) }
        var nonHex = 0
        for c in u {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digits.append(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digits.append(c - UInt8(ascii: "A") + 10)
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ":"), UInt8(ascii: "\r"): continue
            default: nonHex += 1
            }
        }
        // A stray character in a long run of hex is a typo in a hex line; more is not hex.
        if nonHex > 0 { return nonHex * 20 <= digits.count ? .bad("\(nonHex) character(s) other than hex digits") : .notHex }
        if digits.isEmpty { return .notHex }
        guard digits.count % 2 == 0 else { return .halfOctet("odd number of hex digits (\(digits.count))") }
        var out = [UInt8]()
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count { out.append(digits[i] << 4 | digits[i + 1]); i += 2 }
        return .bytes(out)
    }
}
