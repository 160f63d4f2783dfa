#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension GoBGPReader {
    /// `text` without the NLRI lists of its MP_REACH attributes (`{"type":14,…,"value":[…]}`).
    ///
    /// GoBGP prints with every path the whole MP_REACH of the UPDATE it came in: at ~130 routes
    /// per UPDATE that is ~40 KB of JSON per path, none of which the path's own route needs, and
    /// building it into values was most of the time a monitor line took. The lists are skipped
    /// by scanning bytes instead (memmem for the keys, so that a debug build, which the end-to-end
    /// lab runs, is fast too). The text comes back unchanged when a list holds an IPv6 `offset`
    /// other than 0 (`readPath` warns of the routes of such an UPDATE) or anything is not as
    /// GoBGP writes it (an attribute object that does not close, say), so that the reader sees,
    /// and reports, exactly what it would have seen.
    static func withoutReachNLRIs(_ text: String) -> String {
        var text = text
        let cuts: [Range<Int>]? = text.withUTF8 { u in Self.reachLists(in: u) }
        guard let cuts, !cuts.isEmpty else { return text }
        return text.withUTF8 { u in
            var out = [UInt8]()
            out.reserveCapacity(u.count - cuts.reduce(0) { $0 + $1.count })
            var copied = 0
            for cut in cuts {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: u[copied..<cut.lowerBound]))
                copied = cut.upperBound
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[copied...]))
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The byte ranges to cut: each MP_REACH's `"value":[…]` member with the comma that goes
    /// with it. Nil when the text must stay as it is (see `withoutReachNLRIs`).
    private static func reachLists(in u: UnsafeBufferPointer<UInt8>) -> [Range<Int>]? {
        guard let base = u.baseAddress else { return [] }
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var cuts: [Range<Int>] = []
        var i = 0
        /// The index after the string that starts at `s`.
        func skipString(_ s: Int) -> Int {
            var j = s + 1
            while j < u.count && u[j] != quote { j += u[j] == backslash ? 2 : 1 }
            return j + 1
        }
        while let p = ByteSearch.first(#"{"type":14,"#, in: base, count: u.count, from: i) {
            var j = p + 1, depth = 1
            var list: Range<Int>?
            while j < u.count && depth > 0 {
                switch u[j] {
                case quote:
                    let s = j
                    j = skipString(j)
                    if depth == 1, list == nil, j - s == 7, j + 1 < u.count, u[j] == UInt8(ascii: ":"), u[j + 1] == UInt8(ascii: "["),
                       memcmp(base + s, #""value""#, 7) == 0 {
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
                        guard d == 0, !hasNonZeroOffset(base, (j + 1)..<k) else { return nil }
                        list = s..<k
                        j = k
                    }
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; j += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1; j += 1
                default: j += 1
                }
            }
            guard depth == 0 else { return nil }
            if let list {
                // The member and the comma before it (or after it, when it is the first).
                if u[list.lowerBound - 1] == UInt8(ascii: ",") { cuts.append((list.lowerBound - 1)..<list.upperBound) }
                else if list.upperBound < u.count, u[list.upperBound] == UInt8(ascii: ",") { cuts.append(list.lowerBound..<(list.upperBound + 1)) }
                else { cuts.append(list) }
            }
            i = j
        }
        return cuts
    }

    /// Whether `range` of the bytes at `base` holds `"offset":N` with N other than 0.
    private static func hasNonZeroOffset(_ base: UnsafePointer<UInt8>, _ range: Range<Int>) -> Bool {
        let key: StaticString = #""offset":"#
        var from = range.lowerBound
        while let at = ByteSearch.first(key, in: base, count: range.upperBound, from: from) {
            let v = at + 9
            guard v < range.upperBound else { return true }
            let next = v + 1 < range.upperBound ? base[v + 1] : 0
            if base[v] != UInt8(ascii: "0") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) { return true }
            from = v
        }
        return false
    }
}
