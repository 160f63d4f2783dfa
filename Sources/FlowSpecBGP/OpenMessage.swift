import FlowSpec

/// A NOTIFICATION this speaker sends or receives (RFC 4271 §4.5, §6).
public struct BGPNotification: Hashable, Sendable, Error, CustomStringConvertible {
    public var code: UInt8
    public var subcode: UInt8
    public var data: [UInt8]

    public init(_ code: UInt8, _ subcode: UInt8, data: [UInt8] = []) {
        self.code = code; self.subcode = subcode; self.data = data
    }

    // Codes (RFC 4271 §4.5) and the subcodes this speaker uses.
    public static let messageHeaderError: UInt8 = 1
    public static let openMessageError: UInt8 = 2
    public static let updateMessageError: UInt8 = 3
    public static let holdTimerExpired: UInt8 = 4
    public static let fsmError: UInt8 = 5
    public static let cease: UInt8 = 6

    /// 1/1: the marker is not all ones.
    public static let connectionNotSynchronized = BGPNotification(Self.messageHeaderError, 1)
    /// 1/2 with the erroneous length field as data.
    public static func badMessageLength(_ length: Int) -> BGPNotification {
        BGPNotification(Self.messageHeaderError, 2, data: [UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)])
    }
    /// 1/3 with the erroneous type as data.
    public static func badMessageType(_ type: UInt8) -> BGPNotification { BGPNotification(Self.messageHeaderError, 3, data: [type]) }
    /// 2/1 with the largest supported version (4) as a 2-octet data field.
    public static let unsupportedVersion = BGPNotification(Self.openMessageError, 1, data: [0, 4])
    public static let badPeerAS = BGPNotification(Self.openMessageError, 2)
    public static let badBGPIdentifier = BGPNotification(Self.openMessageError, 3)
    public static let unsupportedOptionalParameter = BGPNotification(Self.openMessageError, 4)
    public static let unacceptableHoldTime = BGPNotification(Self.openMessageError, 6)
    public static let malformedAttributeList = BGPNotification(Self.updateMessageError, 1)
    /// 3/2 with the unrecognized attribute (flags, type, length and value) as data.
    public static func unrecognizedWellKnownAttribute(_ attribute: [UInt8]) -> BGPNotification {
        BGPNotification(Self.updateMessageError, 2, data: attribute)
    }
    public static let optionalAttributeError = BGPNotification(Self.updateMessageError, 9)
    public static let holdTimerExpiredNotification = BGPNotification(Self.holdTimerExpired, 0)
    /// 5/x: a message not expected in the state (RFC 6608 subcodes 1 OpenSent, 2 OpenConfirm, 3 Established).
    public static func unexpectedMessage(in state: PeerState) -> BGPNotification {
        BGPNotification(Self.fsmError, state == .openSent ? 1 : state == .openConfirm ? 2 : 3)
    }
    public static let administrativeShutdown = BGPNotification(Self.cease, 2)
    /// 6/1 (RFC 4486 §4): Maximum Number of Prefixes Reached, with AFI, SAFI and the limit.
    public static func maximumPrefixesReached(family: AddressFamily, limit: Int) -> BGPNotification {
        let l = UInt32(clamping: limit)
        return BGPNotification(Self.cease, 1, data: [UInt8(family.rawValue >> 8), UInt8(family.rawValue & 0xff), MPNLRIs.flowspecSAFI,
                                                     UInt8(l >> 24), UInt8((l >> 16) & 0xff), UInt8((l >> 8) & 0xff), UInt8(l & 0xff)])
    }
    /// 6/5 (RFC 4486): sent on a connection the speaker will not keep (another from the same
    /// peer replaced it).
    public static let connectionRejected = BGPNotification(Self.cease, 5)
    public static let connectionCollision = BGPNotification(Self.cease, 7)

    public var message: BGPMessage { .notification(code: code, subcode: subcode, data: data) }

    public var description: String {
        let names: [UInt8: String] = [1: "Message Header Error", 2: "OPEN Message Error", 3: "UPDATE Message Error",
                                      4: "Hold Timer Expired", 5: "Finite State Machine Error", 6: "Cease"]
        return "\(code)/\(subcode) \(names[code] ?? "unknown")" + (data.isEmpty ? "" : " data \(hexString(data))")
    }
}

/// A BGP capability (RFC 5492) this speaker knows, or any other kept raw.
public enum Capability: Hashable, Sendable {
    /// Code 1 (RFC 4760).
    case multiprotocol(afi: UInt16, safi: UInt8)
    /// Code 2 (RFC 2918).
    case routeRefresh
    /// Code 65 (RFC 6793).
    case fourOctetAS(UInt32)
    /// Code 6 (RFC 8654): messages other than OPEN and KEEPALIVE may be up to 65535 octets.
    case extendedMessage
    case other(code: UInt8, value: [UInt8])

    var code: UInt8 {
        switch self {
        case .multiprotocol: 1
        case .routeRefresh: 2
        case .extendedMessage: 6
        case .fourOctetAS: 65
        case .other(let c, _): c
        }
    }

    var value: [UInt8] {
        switch self {
        case .multiprotocol(let afi, let safi): [UInt8(afi >> 8), UInt8(afi & 0xff), 0, safi]
        case .routeRefresh, .extendedMessage: []
        case .fourOctetAS(let a): [UInt8(a >> 24), UInt8((a >> 16) & 0xff), UInt8((a >> 8) & 0xff), UInt8(a & 0xff)]
        case .other(_, let v): v
        }
    }

    static func decode(code: UInt8, value: ArraySlice<UInt8>) -> Capability {
        let v = Array(value)
        switch code {
        case 1 where v.count == 4: return .multiprotocol(afi: UInt16(v[0]) << 8 | UInt16(v[1]), safi: v[3])
        case 2 where v.isEmpty: return .routeRefresh
        case 6 where v.isEmpty: return .extendedMessage
        case 65 where v.count == 4: return .fourOctetAS(v.reduce(0) { $0 << 8 | UInt32($1) })
        default: return .other(code: code, value: v)
        }
    }
}

/// An OPEN message body (RFC 4271 §4.2) with its capabilities (optional parameter type 2).
public struct OpenMessage: Hashable, Sendable {
    public static let asTrans: UInt16 = 23456

    public var version: UInt8
    /// The 2-octet "My Autonomous System" field as sent.
    public var myAS: UInt16
    public var holdTime: UInt16
    public var identifier: UInt32
    public var capabilities: [Capability]

    public init(version: UInt8 = 4, myAS: UInt16, holdTime: UInt16, identifier: UInt32, capabilities: [Capability]) {
        self.version = version; self.myAS = myAS; self.holdTime = holdTime
        self.identifier = identifier; self.capabilities = capabilities
    }

    /// Our OPEN: multiprotocol for both flowspec families, route refresh, extended messages
    /// (RFC 8654: FRR 8.4 packs flowspec UPDATEs past 4096 octets, a reflector's 4097-octet
    /// UPDATE reset every session in the fabric lab), 4-octet AS, and the graceful-restart
    /// capability (RFC 4724) with no restart time and no families: it asks nothing of the peer
    /// but makes FRR and GoBGP send End-of-RIB, which they send only to GR-aware peers — without
    /// it the first table waits for the initial-sync timeout.
    public init(localAS: UInt32, holdTime: UInt16, identifier: UInt32) {
        self.init(myAS: localAS > 0xffff ? OpenMessage.asTrans : UInt16(localAS), holdTime: holdTime,
                  identifier: identifier,
                  capabilities: SpeakerConfig.families.map { .multiprotocol(afi: $0.rawValue, safi: MPNLRIs.flowspecSAFI) }
                      + [.routeRefresh, .extendedMessage, .fourOctetAS(localAS), OpenMessage.gracefulRestartAware])
    }

    /// Graceful restart (code 64): restart flags 0, restart time 0, no AFI/SAFI entries.
    public static let gracefulRestartAware = Capability.other(code: 64, value: [0x00, 0x00])

    /// The AS the peer claims: the 4-octet capability when present, else the 2-octet field.
    public var autonomousSystem: UInt32 {
        for c in capabilities { if case .fourOctetAS(let a) = c { return a } }
        return UInt32(myAS)
    }

    public var supportsFourOctetAS: Bool { capabilities.contains { if case .fourOctetAS = $0 { true } else { false } } }
    /// The peer takes messages up to 65535 octets (RFC 8654).
    public var supportsExtendedMessages: Bool { capabilities.contains(.extendedMessage) }
    /// Code 2, or the pre-standard code 128 some speakers still send.
    public var supportsRouteRefresh: Bool {
        capabilities.contains { c in
            if case .routeRefresh = c { return true }
            if case .other(128, _) = c { return true }
            return false
        }
    }

    /// The flowspec families the peer offers.
    public var flowspecFamilies: Set<AddressFamily> {
        var out = Set<AddressFamily>()
        for c in capabilities {
            if case .multiprotocol(let afi, let safi) = c, let f = MPNLRIs.flowspecFamily(afi: afi, safi: safi) { out.insert(f) }
        }
        return out
    }

    public func encodeBody() -> [UInt8] {
        var params = [UInt8]()
        for c in capabilities {
            let v = c.value
            params += [2, UInt8(v.count + 2), c.code, UInt8(v.count)] + v
        }
        var out: [UInt8] = [version, UInt8(myAS >> 8), UInt8(myAS & 0xff), UInt8(holdTime >> 8), UInt8(holdTime & 0xff)]
        out += [UInt8(identifier >> 24), UInt8((identifier >> 16) & 0xff), UInt8((identifier >> 8) & 0xff), UInt8(identifier & 0xff)]
        out.append(UInt8(params.count))
        return out + params
    }

    public var message: BGPMessage { .open(body: encodeBody()) }

    /// Decodes an OPEN body; a structural fault is the NOTIFICATION to send (RFC 4271 §6.2).
    /// Field values (version, AS, hold time) are checked by `validate`, not here.
    public static func decode(body b: [UInt8]) throws(BGPNotification) -> OpenMessage {
        // 10 octets of fixed fields; the header check already required 29 octets in all.
        guard b.count >= 10 else { throw .badMessageLength(19 + b.count) }
        let version = b[0]
        let myAS = UInt16(b[1]) << 8 | UInt16(b[2])
        let hold = UInt16(b[3]) << 8 | UInt16(b[4])
        let id = UInt32(b[5]) << 24 | UInt32(b[6]) << 16 | UInt32(b[7]) << 8 | UInt32(b[8])
        let optLength = Int(b[9])
        // A version we do not speak is reported before anything else (RFC 4271 §6.2).
        guard version == 4 else { throw .unsupportedVersion }
        guard 10 + optLength == b.count else { throw BGPNotification(BGPNotification.openMessageError, 0) }
        var caps = [Capability]()
        var i = 10
        while i < b.count {
            guard i + 2 <= b.count else { throw BGPNotification(BGPNotification.openMessageError, 0) }
            let type = b[i], len = Int(b[i + 1])
            guard i + 2 + len <= b.count else { throw BGPNotification(BGPNotification.openMessageError, 0) }
            guard type == 2 else { throw .unsupportedOptionalParameter }
            var j = i + 2
            while j < i + 2 + len {
                guard j + 2 <= i + 2 + len else { throw BGPNotification(BGPNotification.openMessageError, 0) }
                let code = b[j], clen = Int(b[j + 1])
                guard j + 2 + clen <= i + 2 + len else { throw BGPNotification(BGPNotification.openMessageError, 0) }
                caps.append(Capability.decode(code: code, value: b[(j + 2)..<(j + 2 + clen)]))
                j += 2 + clen
            }
            i += 2 + len
        }
        return OpenMessage(version: version, myAS: myAS, holdTime: hold, identifier: id, capabilities: caps)
    }

    /// Checks a received OPEN against what we expect of the peer (RFC 4271 §6.2, RFC 6793 §4).
    public func validate(expectedAS: UInt32, localAS: UInt32, localIdentifier: UInt32) throws(BGPNotification) {
        guard version == 4 else { throw .unsupportedVersion }
        guard autonomousSystem == expectedAS else { throw .badPeerAS }
        // With the 4-octet capability, a 4-octet AS must come with AS_TRANS in the old field.
        if supportsFourOctetAS, autonomousSystem > 0xffff, myAS != OpenMessage.asTrans { throw .badPeerAS }
        guard holdTime == 0 || holdTime >= 3 else { throw .unacceptableHoldTime }
        guard identifier != 0 else { throw .badBGPIdentifier }
        // Same identifier as ours is an error only inside one AS (RFC 6286 §2.2).
        if identifier == localIdentifier, autonomousSystem == localAS { throw .badBGPIdentifier }
    }
}
