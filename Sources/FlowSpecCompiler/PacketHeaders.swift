import FlowSpec

/// A packet's headers as bytes, where nft payload and exthdr loads read them
/// (`TableInterpreter`): the network header (IPv4 without options, or IPv6), the first 20 bytes
/// of the transport header, and the IPv6 Fragment header.
extension Packet {
    public var network: [UInt8] {
        if family == .ipv4 {
            var h = [UInt8](repeating: 0, count: 20)
            h[0] = 0x45; h[1] = dscp << 2
            h[2] = UInt8(totalLength >> 8 & 0xff); h[3] = UInt8(totalLength & 0xff)
            let fo = (df ? 0x4000 : 0) | (mf ? 0x2000 : 0) | fragOffset
            h[6] = UInt8(fo >> 8); h[7] = UInt8(fo & 0xff)
            h[9] = proto
            h.replaceSubrange(12..<16, with: src.bytes); h.replaceSubrange(16..<20, with: dst.bytes)
            return h
        }
        var h = [UInt8](repeating: 0, count: 40)
        h[0] = 0x60 | dscp >> 2; h[1] = (dscp & 3) << 6 | UInt8((flowLabel >> 16) & 0x0f)
        h[2] = UInt8((flowLabel >> 8) & 0xff); h[3] = UInt8(flowLabel & 0xff)
        let pl = totalLength >= 40 ? totalLength - 40 : 0
        h[4] = UInt8(pl >> 8 & 0xff); h[5] = UInt8(pl & 0xff)
        h.replaceSubrange(8..<24, with: src.bytes); h.replaceSubrange(24..<40, with: dst.bytes)
        return h
    }

    public var transport: [UInt8] {
        var t = [UInt8](repeating: 0, count: 20)
        if proto == 1 || proto == 58 { t[0] = icmpType; t[1] = icmpCode; return t }
        t[0] = UInt8(sport >> 8); t[1] = UInt8(sport & 0xff); t[2] = UInt8(dport >> 8); t[3] = UInt8(dport & 0xff)
        t[12] = UInt8(tcpFlags >> 8); t[13] = UInt8(tcpFlags & 0xff)
        return t
    }

    /// The Fragment header bytes (next header, reserved, offset<<3 | M, id), IPv6 only.
    public var fragmentHeader: [UInt8]? {
        guard family == .ipv6, fragHeader else { return nil }
        let v = fragOffset << 3 | (mf ? 1 : 0)
        return [proto, 0, UInt8(v >> 8), UInt8(v & 0xff), 0, 0, 0, 1]
    }
}
