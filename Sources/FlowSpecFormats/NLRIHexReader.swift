import FlowSpec

/// Reads flowspec NLRIs written as hex, exactly as they appear inside MP_REACH_NLRI:
///
///     # v4-01 and v4-41, one line
///     0c0120cb00710a038106058150
///     0f0120cb0071610381060591138806800000
///
/// Each non-blank line that does not start with `#` holds one or more NLRIs, each with its
/// length prefix (one octet below 240, else two octets `0xfnnn`, RFC 8955 §4.1). Spaces, tabs,
/// `:` and a leading `0x` are ignored. All lines are read for one address family, given by the
/// caller, since the octets do not say which. Routes come back without communities, at
/// position `line N, NLRI K`; a malformed NLRI is a `ReadError` at the same kind of position and
/// does not hide the others on the line.
public enum NLRIHexReader {
    /// - Throws: `UnreadableInput` when the input has content lines and none looks like hex, when
    ///   it is empty (not even a comment), or when its last line is cut short: half an octet, or
    ///   an NLRI (or its length) running past the line's end. A cut input would otherwise read as
    ///   fewer routes; a short line before others is that line's error.
    public static func read(_ text: String, family: AddressFamily, options: WireOptions = .standard) throws(UnreadableInput) -> ReadResult {
        var result = ReadResult()
        var contentLines = 0, hexLines = 0
        let lines = try HexText.lines(text)
        for (n, raw) in lines {
            contentLines += 1
            let position = "line \(n)"
            let isLast = contentLines == lines.count
            switch HexText.decode(raw) {
            case .notHex:
                result.errors.append(ReadError(position: position, reason: "not hex"))
            case .halfOctet(let reason) where isLast:
                throw HexText.cut(line: n, reason)
            case .bad(let reason), .halfOctet(let reason):
                hexLines += 1
                result.errors.append(ReadError(position: position, reason: reason))
            case .bytes(let bytes):
                hexLines += 1
                let list = FlowNLRICodec.decodeList(bytes, family: family, options: options)
                if isLast, let error = list.framingError, case .truncated = error { throw HexText.cut(line: n, error.description) }
                var index = 0
                let prefix = position + ", NLRI "
                result.routes.reserveCapacity(result.routes.count + list.entries.count)
                for e in list.entries {
                    index += 1
                    let pos = prefix + String(index)
                    switch e.content {
                    case .components(let c):
                        result.routes.append(ReadRoute(route: FlowRoute(family: family, components: c), position: pos))
                    case .malformed(_, let error):
                        result.errors.append(ReadError(position: pos, reason: error.description))
                    }
                }
                if let error = list.framingError {
                    result.errors.append(ReadError(position: "\(position), NLRI \(index + 1)", reason: error.description))
                }
            }
        }
        if contentLines > 0 && hexLines == 0 { throw UnreadableInput("no line of the input is hex") }
        return result
    }
}
