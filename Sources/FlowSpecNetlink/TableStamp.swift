import CNftnl

/// A random number a tracked replace writes into its table's userdata (NFTA_TABLE_USERDATA), so
/// that a `TableState` can prove it describes the table in the kernel: the ruleset generation
/// alone cannot, since young namespaces count from the same small numbers and a state file named
/// by a namespace inode outlives its namespace. A change in place keeps the table (and its
/// userdata); only a replace makes a new stamp.
///
/// Stored as one TLV of libnftnl's udata format, of a type nft does not know (`nft list` shows
/// no comment for it and keeps it when it lists): type 0xf5, length 8, the number big-endian.
enum TableStamp {
    static let type: UInt8 = 0xf5

    static func userdata(_ stamp: UInt64) -> [UInt8] {
        [type, 8] + withUnsafeBytes(of: stamp.bigEndian) { Array($0) }
    }

    /// The stamp in a table's userdata, if it carries one.
    static func read(_ userdata: UnsafeRawBufferPointer) -> UInt64? {
        var i = 0
        while i + 2 <= userdata.count {
            let t = userdata[i], n = Int(userdata[i + 1])
            guard i + 2 + n <= userdata.count else { return nil }
            if t == type && n == 8 {
                return userdata[(i + 2)..<(i + 10)].reduce(0) { $0 << 8 | UInt64($1) }
            }
            i += 2 + n
        }
        return nil
    }

    /// A new stamp: never 0 (a state's "unknown").
    static func make() -> UInt64 { UInt64.random(in: 1...UInt64.max) }
}
