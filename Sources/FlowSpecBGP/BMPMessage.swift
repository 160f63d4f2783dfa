import FlowSpec

/// A BGP Monitoring Protocol message (RFC 7854, version 3), as far as a station that follows a
/// speaker's routes needs it: the route monitoring messages carry whole BGP UPDATEs, the rest
/// frame the session.
public enum BMPMessage: Sendable, Hashable {
    /// Type 0: one UPDATE the monitored router has (in the RIB the peer header names).
    /// `update` is the UPDATE's body, the octets after its 19-octet BGP header.
    case routeMonitoring(BMPPeer, update: [UInt8])
    /// Type 1: statistics.
    case statisticsReport(BMPPeer)
    /// Type 2: a monitored peer's session went down.
    case peerDown(BMPPeer)
    /// Type 3: a monitored peer's session came up.
    case peerUp(BMPPeer)
    /// Type 4: the first message of a session; its information TLVs (sysName, sysDescr, …) as text.
    case initiation([String])
    /// Type 5: the router ends the session.
    case termination
    /// Type 6, or a type this station does not know (RFC 7854 §4: skipped).
    case other(type: UInt8)
}

/// The per-peer header (RFC 7854 §4.2): which RIB of which peer a message speaks of.
public struct BMPPeer: Sendable, Hashable {
    /// 0 global instance peer, 1 RD instance, 2 local instance, 3 Loc-RIB (RFC 9069).
    public var type: UInt8
    public var flags: UInt8
    public var address: IPAddress
    public var asNumber: UInt32
    public var bgpID: UInt32
    /// When the router says the event happened (seconds since 1970; 0 when it gives none). For a
    /// peer up sent at the start of a session, GoBGP gives the time the session came up.
    public var timestamp: UInt32 = 0

    public static let locRIB: UInt8 = 3

    /// The A flag (RFC 7854 §4.2): the UPDATEs' AS_PATH uses 2-octet AS numbers. Not defined
    /// for Loc-RIB (RFC 9069 §4.2 uses the bit as F, filtered): 4-octet there.
    public var twoOctetASPath: Bool { type != Self.locRIB && flags & 0x20 != 0 }
}

/// A message that breaks the framing: the station closes the session (RFC 7854 has no error
/// message; the router reconnects).
public struct BMPError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Cuts a BMP byte stream into messages. Feed it what the socket gave; take messages until nil.
public struct BMPFramer: Sendable {
    /// The largest message accepted: a route monitoring message around one extended BGP
    /// message (RFC 8654: 65,535 octets) with its headers, with room to spare.
    public static let maximumLength = 6 + 42 + 65_535 + 1_024

    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Octets received and not yet taken as messages.
    public var pending: Int { buffer.count - start }

    public mutating func append(_ bytes: [UInt8]) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer += bytes
    }

    /// The next whole message, nil when more octets are needed.
    public mutating func next() throws(BMPError) -> BMPMessage? {
        guard buffer.count - start >= 6 else { return nil }
        let version = buffer[start]
        guard version == 3 else { throw BMPError("BMP version \(version), not 3") }
        let length = Int(be32(buffer, start + 1))
        guard length >= 6 else { throw BMPError("BMP message length \(length), below the 6-octet header") }
        guard length <= Self.maximumLength else { throw BMPError("BMP message length \(length), over \(Self.maximumLength)") }
        guard buffer.count - start >= length else { return nil }
        let type = buffer[start + 5]
        let body = Array(buffer[(start + 6)..<(start + length)])
        start += length
        return try Self.decode(type: type, body: body)
    }

    static func decode(type: UInt8, body: [UInt8]) throws(BMPError) -> BMPMessage {
        switch type {
        case 0, 1, 2, 3:
            guard body.count >= 42 else { throw BMPError("BMP message type \(type): \(body.count) octets, no room for the 42-octet peer header") }
            let peer = peerHeader(body)
            switch type {
            case 0: return .routeMonitoring(peer, update: try update(in: body[42...]))
            case 1: return .statisticsReport(peer)
            case 2: return .peerDown(peer)
            default: return .peerUp(peer)
            }
        case 4:
            var texts = [String]()
            var i = 0
            while i + 4 <= body.count {
                let n = Int(be16(body, i + 2))
                guard i + 4 + n <= body.count else { throw BMPError("BMP initiation: a TLV runs past the message") }
                texts.append(String(decoding: body[(i + 4)..<(i + 4 + n)], as: UTF8.self))
                i += 4 + n
            }
            return .initiation(texts)
        case 5: return .termination
        default: return .other(type: type)
        }
    }

    private static func peerHeader(_ b: [UInt8]) -> BMPPeer {
        let flags = b[1]
        // The V flag: an IPv6 address; else IPv4 in the last four of the 16 octets.
        let address = flags & 0x80 != 0 && b[0] != BMPPeer.locRIB
            ? IPAddress(family: .ipv6, bytes: b[10..<26])
            : IPAddress(family: .ipv4, bytes: b[22..<26])
        return BMPPeer(type: b[0], flags: flags, address: address, asNumber: be32(b, 26), bgpID: be32(b, 30), timestamp: be32(b, 34))
    }

    /// The body of the BGP UPDATE a route monitoring message carries.
    private static func update(in pdu: ArraySlice<UInt8>) throws(BMPError) -> [UInt8] {
        let s = pdu.startIndex
        guard pdu.count >= 19, pdu[s..<(s + 16)].allSatisfy({ $0 == 0xff }) else {
            throw BMPError("BMP route monitoring without a BGP message")
        }
        let length = Int(pdu[s + 16]) << 8 | Int(pdu[s + 17])
        guard length >= 19, length <= pdu.count else {
            throw BMPError("BMP route monitoring: BGP message length \(length) in \(pdu.count) octets")
        }
        guard pdu[s + 18] == 2 else { throw BMPError("BMP route monitoring: BGP message type \(pdu[s + 18]), not UPDATE") }
        return Array(pdu[(s + 19)..<(s + length)])
    }
}

private func be16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
private func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}
