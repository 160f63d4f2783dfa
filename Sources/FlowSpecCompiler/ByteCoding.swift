/// Little-endian fixed-width integers and length-prefixed byte strings: the files `apply` keeps
/// between runs (`TableState`, `IncrementalTable` snapshots).
package struct ByteWriter {
    package init() {}
    package var bytes: [UInt8] = []
    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    package mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    package mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    package mutating func data(_ d: [UInt8]) { u32(UInt32(d.count)); bytes += d }
    package mutating func string(_ s: String) { data(Array(s.utf8)) }
}

/// Reads what `ByteWriter` wrote; every read is nil past the end.
package struct ByteReader {
    package init(bytes: [UInt8]) { self.bytes = bytes }
    let bytes: [UInt8]
    var at = 0

    package var atEnd: Bool { at == bytes.count }

    package mutating func take(_ n: Int) -> ArraySlice<UInt8>? {
        guard n >= 0, bytes.count - at >= n else { return nil }
        defer { at += n }
        return bytes[at..<(at + n)]
    }
    package mutating func u8() -> UInt8? { take(1)?.first }
    package mutating func u16() -> UInt16? { load(UInt16.self).map { UInt16(littleEndian: $0) } }
    package mutating func u32() -> UInt32? { load(UInt32.self).map { UInt32(littleEndian: $0) } }
    package mutating func u64() -> UInt64? { load(UInt64.self).map { UInt64(littleEndian: $0) } }

    private mutating func load<T: FixedWidthInteger>(_: T.Type) -> T? {
        let n = MemoryLayout<T>.size
        guard bytes.count - at >= n else { return nil }
        defer { at += n }
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: T.self) }
    }
    /// A count, bounded by the bytes left (each counted item takes at least one byte).
    package mutating func count() -> Int? {
        guard let n = u32(), Int(n) <= bytes.count - at else { return nil }
        return Int(n)
    }
    package mutating func data() -> [UInt8]? { count().flatMap { take($0) }.map(Array.init) }
    package mutating func string() -> String? { data().map { String(decoding: $0, as: UTF8.self) } }
}
