import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// The packet's header bytes, for the IR interpreter below.
extension TestPacket {
    var network: [UInt8] {
        if family == .ipv4 {
            var h = [UInt8](repeating: 0, count: 20)
            h[0] = 0x45; h[1] = dscp << 2
            h[2] = UInt8(totalLength >> 8); h[3] = UInt8(totalLength & 0xff)
            let fo = (df ? 0x4000 : 0) | (mf ? 0x2000 : 0) | fragOffset
            h[6] = UInt8(fo >> 8); h[7] = UInt8(fo & 0xff)
            h[9] = proto
            h.replaceSubrange(12..<16, with: src.bytes); h.replaceSubrange(16..<20, with: dst.bytes)
            return h
        }
        var h = [UInt8](repeating: 0, count: 40)
        h[0] = 0x60 | dscp >> 2; h[1] = (dscp & 3) << 6 | UInt8((flowLabel >> 16) & 0x0f)
        h[2] = UInt8((flowLabel >> 8) & 0xff); h[3] = UInt8(flowLabel & 0xff)
        let pl = totalLength - 40
        h[4] = UInt8(pl >> 8); h[5] = UInt8(pl & 0xff)
        h.replaceSubrange(8..<24, with: src.bytes); h.replaceSubrange(24..<40, with: dst.bytes)
        return h
    }

    var transport: [UInt8] {
        var t = [UInt8](repeating: 0, count: 20)
        if proto == 1 || proto == 58 { t[0] = icmpType; t[1] = icmpCode; return t }
        t[0] = UInt8(sport >> 8); t[1] = UInt8(sport & 0xff); t[2] = UInt8(dport >> 8); t[3] = UInt8(dport & 0xff)
        t[12] = UInt8(tcpFlags >> 8); t[13] = UInt8(tcpFlags & 0xff)
        return t
    }

    /// The Fragment header bytes (next header, reserved, offset<<3 | M, id).
    var fragmentHeader: [UInt8]? {
        guard family == .ipv6, fragHeader else { return nil }
        let v = fragOffset << 3 | (mf ? 1 : 0)
        return [proto, 0, UInt8(v >> 8), UInt8(v & 0xff), 0, 0, 0, 1]
    }
}


/// Evaluates the match part of a rule against a packet, as the kernel would: a failing
/// expression or a load that cannot be made (no transport header in a non-first fragment, no
/// Fragment header) ends the rule without a match. Returns at the first statement.
func ruleMatches(_ rule: NftRule, _ p: TestPacket, sets: [String: NftSet]) -> Bool {
    var reg = [UInt8]()
    func cmpBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return 0
    }
    for e in rule.expressions {
        switch e {
        case .meta(let k, _):
            switch k {
            case .nfproto: reg = [p.family == .ipv4 ? 2 : 10]
            case .l4proto: reg = [p.proto]
            case .iifname: reg = InterfaceGroups.bytes(p.inputInterface)
            default: return false
            }
        case .payload(let b, let o, let l, _):
            let src: [UInt8]
            if b == .network { src = p.network } else if b == .transport, p.isTransport { src = p.transport } else { return false }
            reg = Array(src[Int(o)..<Int(o + l)])
        case .exthdr(let x, _):
            let h = p.fragmentHeader
            if x.presence { reg = [h == nil ? 0 : 1] } else {
                guard let h else { return false }
                reg = Array(h[Int(x.offset)..<Int(x.offset + x.length)])
            }
        case .bitwise(_, _, _, let m, let x):
            reg = zip(zip(reg, m), x).map { ($0.0 & $0.1) ^ $1 }
        case .cmp(let op, _, let d):
            let c = cmpBytes(reg, d)
            let ok = switch op { case .eq: c == 0; case .neq: c != 0; case .lt: c < 0; case .lte: c <= 0; case .gt: c > 0; case .gte: c >= 0 }
            if !ok { return false }
        case .range(let op, _, let from, let to):
            let inside = cmpBytes(reg, from) >= 0 && cmpBytes(reg, to) <= 0
            if inside != (op == .eq) { return false }
        case .lookup(let name, _, let invert):
            guard let s = sets[name] else { return false }
            let found = s.elements.contains { el in
                cmpBytes(reg, el.key) >= 0 && cmpBytes(reg, el.keyEnd ?? el.key) <= 0
            }
            if found == invert { return false }
        default:
            return true
        }
    }
    return true
}
