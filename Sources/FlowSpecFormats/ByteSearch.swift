#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finding an ASCII pattern in a reader's bytes without a byte-by-byte loop (the GoBGP and FRR
/// readers skip or key large dumps by it).
enum ByteSearch {
    /// The index of the first `pattern` in bytes `from..<count` at `base`: memchr for its byte at
    /// `anchor` (choose a byte that is rare in the text), memcmp for the whole pattern.
    static func first(_ pattern: StaticString, anchor: Int = 0, in base: UnsafePointer<UInt8>, count: Int, from: Int) -> Int? {
        let n = pattern.utf8CodeUnitCount
        var at = from + anchor
        while at <= count - n + anchor {
            guard let hit = memchr(base + at, Int32(pattern.utf8Start[anchor]), count - n + anchor - at + 1) else { return nil }
            let q = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + q - anchor, pattern.utf8Start, n) == 0 { return q - anchor }
            at = q + 1
        }
        return nil
    }
}
