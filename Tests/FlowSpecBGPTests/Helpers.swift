import FlowSpec
@testable import FlowSpecBGP

/// A whole message as bytes.
func bytes(_ m: BGPMessage) -> [UInt8] { try! m.encode() }

/// UPDATE body (after the header) of a message.
func body(_ u: BGPUpdate) -> [UInt8] { Array(bytes(.update(u))[19...]) }

/// A route from its RFC 8955 NLRI bytes (hex), decoded by the shared codec.
func route(_ family: AddressFamily, _ hex: String) -> [Component] {
    try! FlowNLRICodec.decodeComponents(hexBytes(hex), family: family)
}

func hexBytes(_ s: String) -> [UInt8] {
    let c = Array(s.filter { !$0.isWhitespace })
    return stride(from: 0, to: c.count, by: 2).map { UInt8(String(c[$0...$0 + 1]), radix: 16)! }
}

// dst 203.0.113.10/32, proto 6, dport 80
let nlriA = "0120cb00710a0381060581 50"
// dst 198.51.100.0/24, proto 17
let nlriB = "0118c63364038111"
// dst 2001:db8:113::10/128, next header 6
let nlri6 = "0180002001 0db8 0113 0000 0000 0000 0000 0010 038106"
let drop = ExtendedCommunity(rawValue: 0x8006_0000_0000_0000)

let testConfig = SpeakerConfig(localAS: 65001, routerID: 0xc000_0202, peers: [PeerConfig(address: IPAddress("192.0.2.1")!, peerAS: 65309)],
                               holdTime: 9)

/// A raw attribute: flags, code, value.
func attr(_ flags: UInt8, _ code: UInt8, _ value: [UInt8]) -> [UInt8] {
    value.count > 255 ? [flags | 0x10, code, UInt8(value.count >> 8), UInt8(value.count & 0xff)] + value
                      : [flags, code, UInt8(value.count)] + value
}

/// An UPDATE body from raw attribute octets.
func rawUpdate(_ attrs: [UInt8], withdrawn: [UInt8] = [], nlri: [UInt8] = []) -> [UInt8] {
    [UInt8(withdrawn.count >> 8), UInt8(withdrawn.count & 0xff)] + withdrawn
        + [UInt8(attrs.count >> 8), UInt8(attrs.count & 0xff)] + attrs + nlri
}

let origin = attr(0x40, 1, [0])
let asPath = attr(0x40, 2, [2, 1, 0, 0, 0xff, 0x1d])   // AS_SEQUENCE 65309, 4-octet
func mpReach(_ family: AddressFamily, _ nlris: [[UInt8]]) -> [UInt8] {
    var v: [UInt8] = [0, UInt8(family.rawValue), 133, 0, 0]
    for n in nlris { v += [UInt8(n.count)] + n }
    return attr(0x80, 14, v)
}
func mpUnreach(_ family: AddressFamily, _ nlris: [[UInt8]]) -> [UInt8] {
    var v: [UInt8] = [0, UInt8(family.rawValue), 133]
    for n in nlris { v += [UInt8(n.count)] + n }
    return attr(0x80, 15, v)
}
func extComm(_ c: [ExtendedCommunity]) -> [UInt8] { attr(0xc0, 16, c.flatMap(\.bytes)) }
