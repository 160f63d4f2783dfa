extension GoBGPReader {
    /// `text` without the NLRI lists of its MP_REACH attributes (`{"type":14,…,"value":[…]}`).
    ///
    /// GoBGP prints with every path the whole MP_REACH of the UPDATE it came in: at ~130 routes
    /// per UPDATE that is ~37 KB of JSON per path, none of which the path's own route needs, and
    /// building it into values was most of the time a monitor line took. The lists are skipped
    /// by scanning bytes instead. The text comes back unchanged when a list holds an IPv6
    /// `offset` other than 0 (`readPath` warns of the routes of such an UPDATE) or anything is
    /// not as GoBGP writes it (an attribute object that does not close, say), so that the reader
    /// sees, and reports, exactly what it would have seen.
    static func withoutReachNLRIs(_ text: String) -> String {
        let pattern = Array(#"{"type":14,"#.utf8)
        var u = text.utf8.withContiguousStorageIfAvailable { Array($0) } ?? Array(text.utf8)
        var out = [UInt8]()
        var copied = 0, i = 0
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        /// The index after the string that starts at `s`.
        func skipString(_ s: Int) -> Int {
            var j = s + 1
            while j < u.count && u[j] != quote { j += u[j] == backslash ? 2 : 1 }
            return j + 1
        }
        while let p = Self.find(pattern, in: u, from: i) {
            var j = p + 1, depth = 1
            var list: Range<Int>?     // `"value":[…]`
            while j < u.count && depth > 0 {
                switch u[j] {
                case quote:
                    let s = j
                    j = skipString(j)
                    if depth == 1, list == nil, j + 1 < u.count, u[s..<j].elementsEqual(#""value""#.utf8),
                       u[j] == UInt8(ascii: ":"), u[j + 1] == UInt8(ascii: "[") {
                        var k = j + 1, d = 0
                        repeat {
                            switch u[k] {
                            case quote: k = skipString(k); continue
                            case UInt8(ascii: "["), UInt8(ascii: "{"): d += 1
                            case UInt8(ascii: "]"), UInt8(ascii: "}"): d -= 1
                            default: break
                            }
                            k += 1
                        } while d > 0 && k < u.count
                        guard d == 0 else { return text }
                        guard !Self.hasNonZeroOffset(u[(j + 1)..<k]) else { return text }
                        list = s..<k
                        j = k
                    }
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; j += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1; j += 1
                default: j += 1
                }
            }
            guard depth == 0 else { return text }
            if let list {
                // The member and the comma before it (or after it, when it is the first).
                var cut = list
                if u[list.lowerBound - 1] == UInt8(ascii: ",") { cut = (list.lowerBound - 1)..<list.upperBound }
                else if list.upperBound < u.count, u[list.upperBound] == UInt8(ascii: ",") { cut = list.lowerBound..<(list.upperBound + 1) }
                if out.isEmpty { out.reserveCapacity(u.count / 4) }
                out += u[copied..<cut.lowerBound]
                copied = cut.upperBound
            }
            i = j
        }
        guard copied > 0 else { return text }
        out += u[copied...]
        u = []
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `bytes` hold `"offset":N` with N other than 0.
    private static func hasNonZeroOffset(_ bytes: ArraySlice<UInt8>) -> Bool {
        let key = Array(#""offset":"#.utf8)
        var from = bytes.startIndex
        while let at = find(key, in: bytes, from: from) {
            let v = at + key.count
            guard v < bytes.endIndex else { return true }
            let zero = bytes[v] == UInt8(ascii: "0") && (v + 1 == bytes.endIndex || !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[v + 1]))
            if !zero { return true }
            from = v
        }
        return false
    }

    private static func find<C: RandomAccessCollection<UInt8>>(_ pattern: [UInt8], in u: C, from: C.Index) -> C.Index? where C.Index == Int {
        guard let first = pattern.first, pattern.count <= u.count else { return nil }
        var i = from
        let last = u.endIndex - pattern.count
        while i <= last {
            if u[i] == first && u[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
            i += 1
        }
        return nil
    }
}
