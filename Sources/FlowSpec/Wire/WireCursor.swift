/// A bounds-checked reader over raw bytes. Every read checks the remaining length first and
/// throws `WireError.truncated` instead of trapping, so no input can crash the decoder.
/// Offsets are absolute: `base` is the offset of `bytes[0]` in the caller's buffer.
struct WireCursor {
    let bytes: UnsafeRawBufferPointer
    var index: Int
    let end: Int
    let base: Int

    init(_ bytes: UnsafeRawBufferPointer, base: Int = 0) {
        self.bytes = bytes
        self.index = 0
        self.end = bytes.count
        self.base = base
    }

    var remaining: Int { end - index }
    var isAtEnd: Bool { index >= end }
    /// The absolute offset of the next octet.
    var offset: Int { base + index }

    mutating func u8(_ field: WireField) throws(WireError) -> UInt8 {
        guard index < end else { throw .truncated(offset: offset, field: field) }
        let b = bytes[index]
        index += 1
        return b
    }

    mutating func u16(_ field: WireField) throws(WireError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated(offset: offset, field: field) }
        let v = UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
        index += 2
        return v
    }

    /// A big-endian unsigned value of `n` (≤ 8) octets.
    mutating func uint(_ n: Int, _ field: WireField) throws(WireError) -> UInt64 {
        guard remaining >= n else { throw .truncated(offset: offset, field: field) }
        var v: UInt64 = 0
        for i in 0..<n { v = v << 8 | UInt64(bytes[index + i]) }
        index += n
        return v
    }

    /// A sub-cursor over the next `n` octets (absolute offsets kept), advancing past them.
    mutating func sub(_ n: Int, _ field: WireField) throws(WireError) -> WireCursor {
        guard n >= 0, remaining >= n else { throw .truncated(offset: offset, field: field) }
        var c = WireCursor(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + n)]), base: base + index)
        c.index = 0
        index += n
        return c
    }

    /// The next `n` octets copied out.
    mutating func array(_ n: Int, _ field: WireField) throws(WireError) -> [UInt8] {
        guard n >= 0, remaining >= n else { throw .truncated(offset: offset, field: field) }
        let out = [UInt8](bytes[index..<(index + n)])
        index += n
        return out
    }

    /// Everything left, copied out.
    mutating func rest() -> [UInt8] {
        let out = [UInt8](bytes[index..<end])
        index = end
        return out
    }
}

/// Runs `body` over the contiguous bytes of `bytes`, copying only when the collection has no
/// contiguous storage. Typed errors pass through.
@inline(__always)
func withRawBytes<C: Collection<UInt8>, R>(
    _ bytes: C, _ body: (UnsafeRawBufferPointer) throws(WireError) -> R
) throws(WireError) -> R {
    if let r = bytes.withContiguousStorageIfAvailable({ p in
        Result { () throws(WireError) -> R in try body(UnsafeRawBufferPointer(p)) }
    }) {
        return try r.get()
    }
    let copy = [UInt8](bytes)
    let r = copy.withUnsafeBytes { p in Result { () throws(WireError) -> R in try body(p) } }
    return try r.get()
}
