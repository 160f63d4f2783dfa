import FlowSpec

/// The RFC 4271 §8 state machine of one TCP connection to a peer, from OpenSent on (Idle,
/// Connect and Active concern the peer, which owns the connections: see `Speaker`).
/// Pure: bytes and time in, actions out, so every transition is testable without a socket.
struct Session {
    enum Direction: String, Sendable { case outgoing, incoming }

    enum Action: Equatable {
        case send([UInt8])
        case state(PeerState, reason: String)
        case openReceived(OpenMessage)
        case update(UpdateResult)
        /// The connection must be closed; the session is over.
        case closed(reason: String)
    }

    let direction: Direction
    let config: SpeakerConfig
    let peer: PeerConfig
    private(set) var state: PeerState = .idle
    private(set) var remoteOpen: OpenMessage?
    /// Negotiated hold time, 0 = no hold timer and no KEEPALIVEs.
    private(set) var holdTime: Double = 0
    private(set) var families: Set<AddressFamily> = []
    private(set) var holdDeadline: Double?
    private(set) var keepaliveDeadline: Double?
    private(set) var establishedAt: Double?
    private var buffer: [UInt8] = []
    private var decoder = UpdateDecoder()
    /// The longest message the peer may send: 4096, or 65535 once both OPENs carried the
    /// extended message capability (RFC 8654; we always send it). The OPEN comes before, and a
    /// KEEPALIVE is 19 octets (`lengthOK`).
    private(set) var maxMessageLength = BGPMessage.maxLength

    init(direction: Direction, config: SpeakerConfig, peer: PeerConfig) {
        self.direction = direction; self.config = config; self.peer = peer
    }

    var nextDeadline: Double? { [holdDeadline, keepaliveDeadline].compactMap { $0 }.min() }
    private var closedFlag = false
    var isClosed: Bool { closedFlag }

    /// TCP is up: send our OPEN and wait for the peer's (RFC 4271 §8.2.2, Connect → OpenSent).
    mutating func start(now: Double) -> [Action] {
        let open = OpenMessage(localAS: config.localAS, holdTime: config.holdTime, identifier: config.routerID)
        state = .openSent
        holdDeadline = now + config.openHoldTime
        return [.send(encode(open.message)), .state(.openSent, reason: "\(direction.rawValue) TCP connection up, OPEN sent")]
    }

    /// Sends a NOTIFICATION (when there is a session to send it on) and ends the session.
    mutating func close(_ n: BGPNotification?, reason: String) -> [Action] {
        guard !closedFlag else { return [] }
        closedFlag = true
        var out = [Action]()
        if let n, state >= .openSent { out.append(.send(encode(n.message))) }
        state = .idle
        holdDeadline = nil; keepaliveDeadline = nil
        out.append(.state(.idle, reason: reason))
        out.append(.closed(reason: reason))
        return out
    }

    /// The TCP connection ended or failed.
    mutating func connectionLost(_ reason: String) -> [Action] { close(nil, reason: reason) }

    mutating func tick(now: Double) -> [Action] {
        guard !closedFlag else { return [] }
        if let h = holdDeadline, h <= now {
            return close(.holdTimerExpiredNotification, reason: "hold timer expired (NOTIFICATION 4/0 sent)")
        }
        if let k = keepaliveDeadline, k <= now, state >= .openConfirm {
            keepaliveDeadline = now + holdTime / 3
            return [.send(encode(.keepalive))]
        }
        return []
    }

    /// Bytes from the socket: frames them and runs each message through the FSM.
    mutating func receive(_ bytes: [UInt8], now: Double) -> [Action] {
        guard !closedFlag else { return [] }
        buffer += bytes
        var out = [Action]()
        while !closedFlag {
            let length: Int
            do throws(WireError) {
                guard let l = try BGPMessage.frameLength(buffer, maxLength: maxMessageLength) else { break }
                length = l
            } catch {
                // RFC 4271 §6.1: marker → 1/1, length outside 19...4096 (65535 with RFC 8654)
                // → 1/2 with the length.
                let n: BGPNotification = if case .badMarker = error { .connectionNotSynchronized }
                    else { .badMessageLength(Int(buffer[16]) << 8 | Int(buffer[17])) }
                out += close(n, reason: "message header error: \(error) (NOTIFICATION \(n.code)/\(n.subcode) sent)")
                break
            }
            guard buffer.count >= length else { break }
            let message = Array(buffer[0..<length])
            buffer.removeFirst(length)
            out += handle(message, now: now)
        }
        return out
    }

    private func encode(_ m: BGPMessage) -> [UInt8] {
        // Our messages are small and well-formed; encode cannot fail for them.
        (try? m.encode()) ?? []
    }

    /// RFC 4271 §6.1: type-specific minimum (or exact) lengths.
    private static func lengthOK(type: UInt8, length: Int) -> Bool {
        switch type {
        case 1: length >= 29
        case 2: length >= 23
        case 3: length >= 21
        case 4: length == 19
        case 5: length >= 23
        default: true
        }
    }

    private mutating func handle(_ m: [UInt8], now: Double) -> [Action] {
        let type = m[18]
        guard (1...5).contains(type) else {
            return close(.badMessageType(type), reason: "unknown message type \(type) (NOTIFICATION 1/3 sent)")
        }
        guard Self.lengthOK(type: type, length: m.count) else {
            return close(.badMessageLength(m.count), reason: "message type \(type) of length \(m.count) (NOTIFICATION 1/2 sent)")
        }
        let body = Array(m[19...])
        if type == BGPMessage.MessageType.notification.rawValue {
            let n = BGPNotification(body[0], body[1], data: Array(body[2...]))
            return close(nil, reason: "NOTIFICATION received: \(n)")
        }
        // Every other message proves the peer alive (RFC 4271 §8.2.2: restart the hold timer).
        if state >= .openConfirm, holdTime > 0 { holdDeadline = now + holdTime }
        switch (state, type) {
        case (.openSent, 1):
            return receiveOpen(body, now: now)
        case (.openConfirm, 4):
            state = .established
            establishedAt = now
            return [.state(.established, reason: "KEEPALIVE received")]
        case (.established, 4):
            return []
        case (.established, 2):
            let r = decoder.decode(body: body)
            if let n = r.reset {
                let why = r.faults.last.map(\.description) ?? "UPDATE error"
                return [.update(r)] + close(n, reason: "\(why) (NOTIFICATION \(n.code)/\(n.subcode) sent)")
            }
            return [.update(r)]
        case (.established, 5):
            // A ROUTE-REFRESH asks us to re-send our Adj-RIB-Out, which is empty.
            return []
        default:
            let n = BGPNotification.unexpectedMessage(in: state)
            return close(n, reason: "message type \(type) unexpected in \(state.rawValue) (NOTIFICATION 5/\(n.subcode) sent)")
        }
    }

    private mutating func receiveOpen(_ body: [UInt8], now: Double) -> [Action] {
        let open: OpenMessage
        do throws(BGPNotification) {
            open = try OpenMessage.decode(body: body)
            try open.validate(expectedAS: peer.peerAS, localAS: config.localAS, localIdentifier: config.routerID)
        } catch {
            return close(error, reason: "OPEN rejected: NOTIFICATION \(error) sent")
        }
        remoteOpen = open
        if open.supportsExtendedMessages { maxMessageLength = BGPMessage.maxExtendedLength }
        holdTime = Double(min(config.holdTime, open.holdTime))
        families = open.flowspecFamilies.intersection(SpeakerConfig.families)
        decoder = UpdateDecoder(families: families, fourOctetAS: open.supportsFourOctetAS,
                                external: peer.peerAS != config.localAS)
        state = .openConfirm
        holdDeadline = holdTime > 0 ? now + holdTime : nil
        keepaliveDeadline = holdTime > 0 ? now + holdTime / 3 : nil
        let fams = families.sorted().map(\.name).joined(separator: ",")
        return [.send(encode(.keepalive)), .openReceived(open),
                .state(.openConfirm, reason: "OPEN received (hold \(Int(holdTime)) s, flowspec families [\(fams)])")]
    }
}

/// RFC 4271 §6.8 connection collision: which of two connections to one peer to close.
/// The connection initiated by the speaker with the higher BGP identifier survives (the
/// identifiers compared as unsigned 32-bit integers); an Established one always survives, the
/// new one is closed "unconditionally" whatever its direction (a second incoming connection
/// while the session is up: the peer restarted and the old connection is not dead yet).
enum Collision {
    static func loser(localID: UInt32, remoteID: UInt32, existing: (Session.Direction, PeerState),
                      new: Session.Direction) -> Session.Direction? {
        if existing.1 == .established { return new }
        guard existing.0 != new else { return nil }
        guard existing.1 >= .openConfirm else { return nil }
        // Local higher: keep the connection we initiated (outgoing), close the incoming one.
        return localID > remoteID ? .incoming : .outgoing
    }
}
