import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecCompiler

/// Evaluates the match part of a rule against a packet (its header bytes: `Packet.network`,
/// `transport`, `fragmentHeader`, from the library), as the kernel would: a failing
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
