import FlowSpec

/// One RFC 7606 case met in an UPDATE, and what was done about it.
public struct UpdateFault: Hashable, Sendable, CustomStringConvertible {
    public enum Action: String, Sendable {
        /// The UPDATE's announced routes (or one NLRI) were handled as withdrawn.
        case treatAsWithdraw = "treat-as-withdraw"
        /// The attribute was dropped, the routes kept.
        case attributeDiscard = "attribute-discard"
        /// The session was closed with a NOTIFICATION.
        case sessionReset = "session-reset"
        /// Something not negotiated (family, IPv4 unicast NLRI) was skipped.
        case ignored
    }

    /// The clause applied, e.g. "RFC 7606 §7.14".
    public var rule: String
    public var action: Action
    public var detail: String

    public var description: String { "\(action.rawValue) (\(rule)): \(detail)" }
}

/// What one UPDATE means for the Adj-RIB-In.
public struct UpdateResult: Hashable, Sendable {
    /// Routes to add or replace, with the UPDATE's extended, IPv6 extended and large communities.
    public var announced: [FlowRoute] = []
    /// Keys to remove: MP_UNREACH_NLRI entries and everything treated as withdrawn.
    public var withdrawn: [RouteID] = []
    /// The family whose End-of-RIB marker this UPDATE is (RFC 4724 §2).
    public var endOfRIB: AddressFamily?
    public var faults: [UpdateFault] = []
    /// Set when RFC 7606 leaves no choice but a session reset.
    public var reset: BGPNotification?
}

/// A tolerant UPDATE decoder (RFC 7606): unlike `BGPUpdate.decode`, which throws for the whole
/// message, it handles each fault the way RFC 7606 prescribes and keeps every route it can.
public struct UpdateDecoder: Sendable {
    /// The flowspec families negotiated on the session; others are ignored (RFC 4760 §6).
    public var families: Set<AddressFamily>
    /// AS numbers in AS_PATH / AGGREGATOR are 4 octets (both sides sent the RFC 6793 capability).
    public var fourOctetAS: Bool
    public var external: Bool
    public var options: WireOptions
    /// Whether a route needs ORIGIN and AS_PATH (RFC 7606 §3 (d)). Not for what a router relays
    /// from its Loc-RIB over BMP (RFC 9069): a route it originated itself carries only what it
    /// keeps (GoBGP keeps no AS_PATH for a route added with `gobgp global rib add`).
    public var requiresOriginAndASPath = true

    public init(families: Set<AddressFamily> = [.ipv4, .ipv6], fourOctetAS: Bool = true, external: Bool = true,
                options: WireOptions = .standard) {
        self.families = families; self.fourOctetAS = fourOctetAS; self.external = external; self.options = options
    }

    private enum Category { case wellKnown, optionalTransitive, optionalNonTransitive }

    /// The attributes this decoder recognises, by category. Every well-known attribute is
    /// here (RFC 4271 §5: ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF, ATOMIC_AGGREGATE); an attribute
    /// outside this list that claims to be well-known (optional bit clear) is the "unrecognized
    /// well-known attribute" of RFC 4271 §6.3.
    private static func category(_ code: UInt8) -> Category? {
        switch code {
        case 1, 2, 3, 5, 6: .wellKnown
        case 7, 8, 16, 17, 18, 25, 32, 35: .optionalTransitive
        case 4, 9, 10, 14, 15: .optionalNonTransitive
        default: nil
        }
    }

    /// Decodes the body of an UPDATE (the octets after the 19-octet header).
    public func decode(body b: [UInt8]) -> UpdateResult {
        var r = UpdateResult()
        func reset(_ n: BGPNotification, _ rule: String, _ detail: String) -> UpdateResult {
            var out = UpdateResult()
            out.faults = r.faults + [UpdateFault(rule: rule, action: .sessionReset, detail: detail)]
            out.reset = n
            return out
        }
        guard b.count >= 4 else { return reset(.malformedAttributeList, "RFC 4271 §6.3", "UPDATE body of \(b.count) octets") }
        let wLength = Int(b[0]) << 8 | Int(b[1])
        guard 2 + wLength + 2 <= b.count else {
            return reset(.malformedAttributeList, "RFC 4271 §6.3", "withdrawn routes length \(wLength) overruns the message")
        }
        let aStart = 2 + wLength + 2
        let aLength = Int(b[aStart - 2]) << 8 | Int(b[aStart - 1])
        guard aStart + aLength <= b.count else {
            return reset(.malformedAttributeList, "RFC 4271 §6.3, RFC 7606 §4",
                         "total path attribute length \(aLength) overruns the message")
        }
        let aEnd = aStart + aLength
        if wLength > 0 || aEnd < b.count {
            r.faults.append(UpdateFault(rule: "RFC 4760 §6", action: .ignored,
                                        detail: "IPv4 unicast withdrawn/NLRI fields (family not negotiated)"))
        }

        var treatAsWithdraw = false
        var seen = Set<UInt8>()
        var reach: (family: AddressFamily, list: NLRIList)?
        var unreach: (family: AddressFamily, list: NLRIList)?
        var mpUnreachEmpty: AddressFamily?
        var ext = [ExtendedCommunity](), large = [LargeCommunity](), ext6 = [IPv6ExtendedCommunity]()
        var attributeCount = 0
        var framing: String?
        var i = aStart
        while i < aEnd {
            // Attribute header; a length running past the attribute block means the rest cannot
            // be located (RFC 7606 §4).
            let start = i
            guard i + 3 <= aEnd else {
                framing = "attribute header at octet \(start + 19) truncated"; break
            }
            let flags = b[i], code = b[i + 1]
            let extended = flags & PathAttribute.extendedLength != 0
            guard !extended || i + 4 <= aEnd else {
                framing = "attribute header at octet \(start + 19) truncated"; break
            }
            let length = extended ? Int(b[i + 2]) << 8 | Int(b[i + 3]) : Int(b[i + 2])
            let vStart = i + (extended ? 4 : 3)
            guard vStart + length <= aEnd else {
                framing = "attribute \(code) at octet \(start + 19): length \(length) overruns the attribute block"; break
            }
            let value = b[vStart..<(vStart + length)]
            i = vStart + length
            attributeCount += 1

            // RFC 7606 §3 (g): MP_REACH/MP_UNREACH twice → reset; any other repeat → keep the first.
            if seen.contains(code) {
                if code == PathAttribute.mpReachCode || code == PathAttribute.mpUnreachCode {
                    return reset(.malformedAttributeList, "RFC 7606 §3 (g)", "attribute \(code) appears twice")
                }
                r.faults.append(UpdateFault(rule: "RFC 7606 §3 (g)", action: .attributeDiscard,
                                            detail: "attribute \(code) repeated; later copies discarded"))
                continue
            }
            seen.insert(code)

            // RFC 4271 §6.3: an attribute we do not know that says it is well-known (optional
            // bit clear) cannot be skipped the way an unknown optional one is; RFC 7606 leaves
            // this case as it was: NOTIFICATION 3/2 with the attribute (type, length, value).
            guard Self.category(code) != nil || flags & PathAttribute.optional != 0 else {
                return reset(.unrecognizedWellKnownAttribute(Array(b[start..<i])), "RFC 4271 §6.3",
                             "unrecognized well-known attribute \(code) (flags 0x\(hexString([flags])))")
            }

            // RFC 7606 §3 (c): optional/transitive bits that contradict the attribute type.
            if let cat = Self.category(code) {
                let optional = flags & PathAttribute.optional != 0, transitive = flags & PathAttribute.transitive != 0
                let ok = switch cat {
                case .wellKnown: !optional && transitive
                case .optionalTransitive: optional && transitive
                case .optionalNonTransitive: optional && !transitive
                }
                if !ok {
                    treatAsWithdraw = true
                    r.faults.append(UpdateFault(rule: "RFC 7606 §3 (c)", action: .treatAsWithdraw,
                                                detail: "attribute \(code) has flags 0x\(hexString([flags]))"))
                }
            }

            func withdrawAll(_ rule: String, _ detail: String) {
                treatAsWithdraw = true
                r.faults.append(UpdateFault(rule: rule, action: .treatAsWithdraw, detail: detail))
            }
            func discard(_ rule: String, _ detail: String) {
                r.faults.append(UpdateFault(rule: rule, action: .attributeDiscard, detail: detail))
            }

            switch code {
            case 1: // ORIGIN
                if length != 1 || value.first! > 2 { withdrawAll("RFC 7606 §7.1", "ORIGIN of length \(length)") }
            case 2: // AS_PATH
                if let problem = asPathProblem(value) { withdrawAll("RFC 7606 §7.2", "AS_PATH: \(problem)") }
            case 3: // NEXT_HOP: only meaningful for IPv4 unicast NLRI, which we ignore
                if length != 4 { withdrawAll("RFC 7606 §7.3", "NEXT_HOP of length \(length)") }
            case 4:
                if length != 4 { withdrawAll("RFC 7606 §7.4", "MULTI_EXIT_DISC of length \(length)") }
            case 5:
                if external { discard("RFC 7606 §7.5", "LOCAL_PREF from an external peer") }
                else if length != 4 { withdrawAll("RFC 7606 §7.5", "LOCAL_PREF of length \(length)") }
            case 6:
                if length != 0 { discard("RFC 7606 §7.6", "ATOMIC_AGGREGATE of length \(length)") }
            case 7:
                if length != (fourOctetAS ? 8 : 6) { discard("RFC 7606 §7.7", "AGGREGATOR of length \(length)") }
            case 8:
                if length == 0 || length % 4 != 0 { withdrawAll("RFC 7606 §7.8", "COMMUNITIES of length \(length)") }
            case PathAttribute.mpReachCode:
                // AFI, SAFI, next-hop length, next hop, reserved octet: if these do not fit, the
                // NLRI cannot be located (RFC 7606 §7.11).
                let v = Array(value)
                guard v.count >= 5, 4 + Int(v[3]) + 1 <= v.count else {
                    return reset(.optionalAttributeError, "RFC 7606 §7.11",
                                 "MP_REACH_NLRI header malformed (length \(v.count))")
                }
                let afi = UInt16(v[0]) << 8 | UInt16(v[1]), safi = v[2]
                guard let family = MPNLRIs.flowspecFamily(afi: afi, safi: safi), families.contains(family) else {
                    r.faults.append(UpdateFault(rule: "RFC 4760 §6", action: .ignored,
                                                detail: "MP_REACH_NLRI for AFI \(afi) SAFI \(safi) (not negotiated)"))
                    continue
                }
                let list = FlowNLRICodec.decodeList(v[(4 + Int(v[3]) + 1)...], family: family, options: options)
                if let e = list.framingError {
                    return reset(.optionalAttributeError, "RFC 7606 §5.3, §7.11",
                                 "MP_REACH_NLRI \(family.name) flowspec NLRI overrun: \(e)")
                }
                reach = (family, list)
            case PathAttribute.mpUnreachCode:
                let v = Array(value)
                guard v.count >= 3 else {
                    return reset(.optionalAttributeError, "RFC 7606 §7.12", "MP_UNREACH_NLRI of length \(v.count)")
                }
                let afi = UInt16(v[0]) << 8 | UInt16(v[1]), safi = v[2]
                guard let family = MPNLRIs.flowspecFamily(afi: afi, safi: safi), families.contains(family) else {
                    r.faults.append(UpdateFault(rule: "RFC 4760 §6", action: .ignored,
                                                detail: "MP_UNREACH_NLRI for AFI \(afi) SAFI \(safi) (not negotiated)"))
                    continue
                }
                let list = FlowNLRICodec.decodeList(v[3...], family: family, options: options)
                if let e = list.framingError {
                    return reset(.optionalAttributeError, "RFC 7606 §5.3, §7.12",
                                 "MP_UNREACH_NLRI \(family.name) flowspec NLRI overrun: \(e)")
                }
                unreach = (family, list)
                if v.count == 3 { mpUnreachEmpty = family }
            case PathAttribute.extendedCommunitiesCode:
                if length == 0 || length % 8 != 0 {
                    withdrawAll("RFC 7606 §7.14", "EXTENDED_COMMUNITIES of length \(length) (not a non-zero multiple of 8)")
                } else {
                    ext = stride(from: value.startIndex, to: value.endIndex, by: 8).map {
                        ExtendedCommunity(rawValue: value[$0..<($0 + 8)].reduce(0) { $0 << 8 | UInt64($1) })
                    }
                }
            case PathAttribute.ipv6ExtendedCommunitiesCode:
                let size = IPv6ExtendedCommunity.octets
                if length == 0 || length % size != 0 {
                    withdrawAll("RFC 7606 §7.15", "IPv6 extended communities of length \(length) (not a non-zero multiple of 20)")
                } else {
                    ext6 = stride(from: value.startIndex, to: value.endIndex, by: size).map {
                        IPv6ExtendedCommunity(bytes: value[$0..<($0 + size)])!
                    }
                }
            case PathAttribute.largeCommunitiesCode:
                if length == 0 || length % 12 != 0 {
                    withdrawAll("RFC 8092 §6", "LARGE_COMMUNITIES of length \(length)")
                } else {
                    large = stride(from: value.startIndex, to: value.endIndex, by: 12).map { s in
                        func u32(_ k: Int) -> UInt32 { value[(s + k)..<(s + k + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
                        return LargeCommunity(global: u32(0), local1: u32(4), local2: u32(8))
                    }
                }
            default:
                break
            }
        }

        // RFC 7606 §4: an attribute block that cannot be walked to its end. Treat-as-withdraw is
        // possible only when the NLRI could be located: an MP attribute seen before the fault makes
        // it so; otherwise one may lie behind the fault, and the session is reset.
        if let framing {
            guard reach != nil || unreach != nil else { return reset(.malformedAttributeList, "RFC 7606 §4", framing) }
            treatAsWithdraw = true
            mpUnreachEmpty = nil
            r.faults.append(UpdateFault(rule: "RFC 7606 §4", action: .treatAsWithdraw, detail: framing))
        }

        // End-of-RIB: nothing but an empty MP_UNREACH_NLRI (RFC 4724 §2).
        if attributeCount == 1, let f = mpUnreachEmpty, wLength == 0, aEnd == b.count {
            r.endOfRIB = f
            return r
        }

        if let u = unreach {
            for e in u.list.entries { r.withdrawn.append(key(e, u.family)) }
            for e in u.list.entries { if let err = e.error {
                r.faults.append(UpdateFault(rule: "RFC 7606 §5.2", action: .treatAsWithdraw,
                                            detail: "malformed NLRI in MP_UNREACH_NLRI withdrawn as received: \(err)"))
            } }
        }
        guard let reach else { return r }
        // RFC 7606 §3 (d): routes without the well-known mandatory ORIGIN and AS_PATH.
        if requiresOriginAndASPath, !reach.list.entries.isEmpty, !treatAsWithdraw, !(seen.contains(1) && seen.contains(2)) {
            treatAsWithdraw = true
            r.faults.append(UpdateFault(rule: "RFC 7606 §3 (d)", action: .treatAsWithdraw,
                                        detail: "ORIGIN or AS_PATH missing"))
        }
        for e in reach.list.entries {
            switch e.content {
            case .components(let c) where !treatAsWithdraw:
                r.announced.append(FlowRoute(family: reach.family, components: c, extendedCommunities: ext, largeCommunities: large,
                                             ipv6ExtendedCommunities: ext6))
            case .components:
                r.withdrawn.append(key(e, reach.family))
            case .malformed(_, let err):
                // The NLRI's length is intact, so only this route is affected (RFC 7606 §5.3 last
                // paragraph applies to unlocatable NLRI; RFC 8955 §4 gives per-NLRI handling).
                r.withdrawn.append(key(e, reach.family))
                r.faults.append(UpdateFault(rule: "RFC 7606 §2, RFC 8955 §4", action: .treatAsWithdraw,
                                            detail: "malformed \(reach.family.name) flowspec NLRI at octet \(err.offset): \(err)"))
            }
        }
        return r
    }

    private func key(_ e: NLRIEntry, _ family: AddressFamily) -> RouteID {
        switch e.content {
        case .components(let c): RouteID(FlowRoute(family: family, components: c))
        case .malformed(let body, _): RouteID(family: family, nlri: body)
        }
    }

    /// Why an AS_PATH is malformed (RFC 7606 §7.2), or nil.
    func asPathProblem(_ v: ArraySlice<UInt8>) -> String? {
        let size = fourOctetAS ? 4 : 2
        var i = v.startIndex
        while i < v.endIndex {
            guard i + 2 <= v.endIndex else { return "segment header truncated" }
            let type = v[i], count = Int(v[i + 1])
            guard (1...4).contains(type) else { return "segment type \(type)" }
            guard count > 0 else { return "empty segment" }
            guard i + 2 + count * size <= v.endIndex else { return "segment overruns the attribute" }
            i += 2 + count * size
        }
        return nil
    }
}
