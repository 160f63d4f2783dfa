import Testing
import FlowSpec
@testable import FlowSpecBGP

@Suite struct RFC7606Tests {
    let d = UpdateDecoder()
    let a = hexBytes(nlriA), b = hexBytes(nlriB)

    @Test func wellFormedUpdateAnnouncesWithCommunities() {
        let u = BGPUpdate.flowspec(family: .ipv4, announce: [route(.ipv4, nlriA), route(.ipv4, nlriB)], extendedCommunities: [drop])
        let r = d.decode(body: body(u))
        #expect(r.reset == nil && r.faults.isEmpty)
        #expect(r.announced.map(\.nlriBytes) == [a, b])
        #expect(r.announced.allSatisfy { $0.extendedCommunities == [drop] })
    }

    @Test func malformedNLRIIsWithdrawnAloneOthersKept() {
        // Component type 2 before type 1: order violation inside an intact length.
        let bad: [UInt8] = [0x02, 0x18, 0xc6, 0x33, 0x64, 0x01, 0x18, 0xc6, 0x33, 0x64]
        let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv4, [a, bad, b]) + extComm([drop])))
        #expect(r.reset == nil)
        #expect(r.announced.map(\.nlriBytes) == [a, b])
        #expect(r.withdrawn == [RouteID(family: .ipv4, nlri: bad)])
        #expect(r.faults.map(\.action) == [.treatAsWithdraw])
    }

    @Test func malformedExtendedCommunitiesTreatAsWithdraw_7_14() {
        let badExt = attr(0xc0, 16, [0x80, 6, 0, 0, 0, 0, 0])   // 7 octets
        let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv4, [a, b]) + badExt))
        #expect(r.reset == nil && r.announced.isEmpty)
        #expect(r.withdrawn == [RouteID(family: .ipv4, nlri: a), RouteID(family: .ipv4, nlri: b)])
        #expect(r.faults.map(\.rule) == ["RFC 7606 §7.14"])
    }

    @Test func duplicateMPReachResets_3g() {
        let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv4, [a]) + mpReach(.ipv4, [b])))
        #expect(r.reset == .malformedAttributeList)
        #expect(r.announced.isEmpty && r.withdrawn.isEmpty)
    }

    @Test func duplicateOtherAttributeKeepsFirst_3g() {
        let r = d.decode(body: rawUpdate(origin + origin + asPath + mpReach(.ipv4, [a])))
        #expect(r.reset == nil && r.announced.count == 1)
        #expect(r.faults.map(\.action) == [.attributeDiscard])
    }

    @Test func mpReachNextHopOverrunResets_7_11() {
        let broken = attr(0x80, 14, [0, 1, 133, 9, 0, 0])   // next-hop length 9 in a 6-octet value
        let r = d.decode(body: rawUpdate(origin + asPath + broken))
        #expect(r.reset == .optionalAttributeError)
    }

    @Test func nlriLengthOverrunResets_5_3() {
        var v: [UInt8] = [0, 1, 133, 0, 0]
        v += [UInt8(a.count)] + a + [40, 1, 2]   // second NLRI claims 40 octets, 2 present
        let r = d.decode(body: rawUpdate(origin + asPath + attr(0x80, 14, v)))
        #expect(r.reset == .optionalAttributeError)
    }

    @Test func mpUnreachTooShortResets_7_12() {
        #expect(d.decode(body: rawUpdate(attr(0x80, 15, [0, 1]))).reset == .optionalAttributeError)
    }

    @Test func attributeOverrunBeforeMPResets_4() {
        // An attribute claiming 200 octets as the first one: nothing after it can be located.
        let r = d.decode(body: rawUpdate([0x40, 1, 200, 0] + mpReach(.ipv4, [a])))
        #expect(r.reset == .malformedAttributeList)
    }

    @Test func attributeOverrunAfterMPTreatsAsWithdraw_4() {
        let r = d.decode(body: rawUpdate(origin + asPath + mpReach(.ipv4, [a]) + [0xc0, 16, 200, 0]))
        #expect(r.reset == nil && r.announced.isEmpty)
        #expect(r.withdrawn == [RouteID(family: .ipv4, nlri: a)])
    }

    @Test func attributeFlagConflictTreatsAsWithdraw_3c() {
        let optionalOrigin = attr(0xc0, 1, [0])
        let r = d.decode(body: rawUpdate(optionalOrigin + asPath + mpReach(.ipv4, [a])))
        #expect(r.announced.isEmpty && r.withdrawn.count == 1)
        #expect(r.faults.map(\.rule) == ["RFC 7606 §3 (c)"])
    }

    @Test func missingMandatoryAttributeTreatsAsWithdraw_3d() {
        let r = d.decode(body: rawUpdate(asPath + mpReach(.ipv4, [a])))
        #expect(r.announced.isEmpty && r.withdrawn.count == 1)
        #expect(r.faults.map(\.rule) == ["RFC 7606 §3 (d)"])
    }

    @Test func malformedASPathAndOriginTreatAsWithdraw_7_1_7_2() {
        let badPath = attr(0x40, 2, [2, 2, 0, 0, 0xff, 0x1d])   // 2 ASNs announced, 1 present
        #expect(d.decode(body: rawUpdate(origin + badPath + mpReach(.ipv4, [a]))).faults.map(\.rule) == ["RFC 7606 §7.2"])
        let badOrigin = attr(0x40, 1, [7])
        #expect(d.decode(body: rawUpdate(badOrigin + asPath + mpReach(.ipv4, [a]))).announced.isEmpty)
    }

    @Test func malformedAtomicAggregateIsDiscardedRoutesKept_7_6() {
        let r = d.decode(body: rawUpdate(origin + asPath + attr(0x40, 6, [1]) + mpReach(.ipv4, [a])))
        #expect(r.announced.count == 1)
        #expect(r.faults.map(\.action) == [.attributeDiscard])
    }

    @Test func unrecognizedWellKnownAttributeResets_4271_6_3() {
        // Code 99 with the optional bit clear: an unknown attribute that says it is well-known.
        let unknown = attr(0x40, 99, [1, 2, 3])
        let r = d.decode(body: rawUpdate(origin + asPath + unknown + mpReach(.ipv4, [a])))
        #expect(r.reset == BGPNotification(3, 2, data: [0x40, 99, 3, 1, 2, 3]))
        #expect(r.announced.isEmpty && r.withdrawn.isEmpty)
        #expect(r.faults.map(\.rule) == ["RFC 4271 §6.3"] && r.faults.map(\.action) == [.sessionReset])
        // With the extended-length bit the data keeps the 2-octet length as received.
        let long: [UInt8] = [0x50, 99, 0, 1, 7]
        #expect(d.decode(body: rawUpdate(origin + asPath + long)).reset?.data == [0x50, 99, 0, 1, 7])
    }

    @Test func unrecognizedOptionalAttributesAreKeptOrSkipped() {
        // Optional transitive and optional non-transitive attributes we do not know: routes kept.
        for flags: UInt8 in [0xc0, 0x80] {
            let r = d.decode(body: rawUpdate(origin + asPath + attr(flags, 99, [1, 2, 3]) + mpReach(.ipv4, [a])))
            #expect(r.reset == nil && r.faults.isEmpty && r.announced.count == 1)
        }
    }

    @Test func sessionSendsTheUnrecognizedAttributeInItsNotification() {
        var s = Session(direction: .incoming, config: testConfig, peer: testConfig.peers[0])
        _ = s.start(now: 0)
        _ = s.receive(bytes(OpenMessage(localAS: 65309, holdTime: 6, identifier: 0xc000_0201).message), now: 0)
        _ = s.receive(bytes(.keepalive), now: 0)
        let body = rawUpdate(origin + asPath + attr(0x40, 99, [9]) + mpReach(.ipv4, [a]))
        let out = s.receive([UInt8](repeating: 0xff, count: 16) + [0, UInt8(19 + body.count), 2] + body, now: 1)
        let sent = out.compactMap { if case .send(let b) = $0, b[18] == 3 { b } else { nil } }
        #expect(sent.map { Array($0[19...]) } == [[3, 2, 0x40, 99, 1, 9]])
        #expect(s.isClosed)
    }

    @Test func endOfRIBPerFamily() {
        #expect(d.decode(body: body(BGPUpdate.flowspec(family: .ipv6))).endOfRIB == .ipv6)
        #expect(d.decode(body: rawUpdate(mpUnreach(.ipv4, [a]))).endOfRIB == nil)
    }

    @Test func familyNotNegotiatedIsIgnored() {
        let v4only = UpdateDecoder(families: [.ipv4])
        let r = v4only.decode(body: rawUpdate(origin + asPath + mpReach(.ipv6, [hexBytes(nlri6)])))
        #expect(r.reset == nil && r.announced.isEmpty && r.faults.map(\.action) == [.ignored])
    }
}

@Suite struct RouteBookTests {
    let a = route(.ipv4, nlriA), b = route(.ipv4, nlriB)

    func announce(_ c: [[Component]], _ ext: [ExtendedCommunity] = [drop]) -> UpdateResult {
        var r = UpdateResult()
        r.announced = c.map { FlowRoute(family: .ipv4, components: $0, extendedCommunities: ext) }
        return r
    }

    @Test func adjRIBInReplaceAndWithdraw() {
        var rib = AdjRIBIn()
        let first = rib.apply(announce([a, b]))
        let again = rib.apply(announce([a]))   // same route again: no change
        let rate = ExtendedCommunity(rawValue: 0x8006_0000_47f4_2400)
        let replaced = rib.apply(announce([a], [rate]))
        #expect(first && !again && replaced)
        #expect(rib.routes[RouteID(FlowRoute(family: .ipv4, components: a))]?.extendedCommunities == [rate])
        var w = UpdateResult(); w.withdrawn = [RouteID(FlowRoute(family: .ipv4, components: b))]
        let withdrew = rib.apply(w)
        #expect(withdrew)
        #expect(rib.count(.ipv4) == 1)
        // A family withdrawn to nothing: the same RIB as one that never held it.
        var last = UpdateResult(); last.withdrawn = [RouteID(FlowRoute(family: .ipv4, components: a))]
        rib.apply(last)
        #expect(rib.count(.ipv4) == 0 && rib.count(.ipv4) == rib.routes.count)
        #expect(rib == AdjRIBIn())
    }

    func book(staleTime: Double = 5) -> RouteBook {
        RouteBook(peers: ["p1", "p2"], debounce: 0.2, maxDelay: 1, initialTimeout: 30, staleTime: staleTime, now: 0)
    }

    func eor(_ f: AddressFamily) -> UpdateResult { var r = UpdateResult(); r.endOfRIB = f; return r }

    @Test func firstDeliveryWaitsForEveryEndOfRIB() {
        var bk = book()
        bk.sessionUp("p1", families: [.ipv4, .ipv6], now: 0)
        bk.apply("p1", announce([a]), now: 0.1)
        bk.apply("p1", eor(.ipv4), now: 0.1)
        bk.apply("p1", eor(.ipv6), now: 0.1)
        #expect(bk.tick(now: 1) == nil)   // p2 not synchronised yet
        bk.sessionUp("p2", families: [.ipv4], now: 1)
        bk.apply("p2", eor(.ipv4), now: 1.1)
        let s = bk.tick(now: 1.1)
        #expect(s?.initial == true && s?.synchronized == true && s?.routes.count == 1)
    }

    @Test func firstDeliveryOnTimeoutWhenAPeerNeverComes() {
        var bk = book()
        bk.sessionUp("p1", families: [.ipv4], now: 0)
        bk.apply("p1", announce([a]), now: 0)
        #expect(bk.tick(now: 29) == nil)
        #expect(bk.tick(now: 30)?.synchronized == false)
    }

    @Test func debounceMergesBurstIntoOneDelivery() {
        var bk = book()
        for p in ["p1", "p2"] { bk.sessionUp(p, families: [.ipv4], now: 0); bk.apply(p, eor(.ipv4), now: 0) }
        #expect(bk.tick(now: 0)?.routes.isEmpty == true)
        bk.apply("p1", announce([a]), now: 1.0)
        #expect(bk.tick(now: 1.1) == nil)
        bk.apply("p1", announce([b]), now: 1.15)
        #expect(bk.tick(now: 1.3) == nil)         // quiet for 0.15 s only
        #expect(abs(bk.nextDeadline! - 1.35) < 1e-9)
        #expect(bk.tick(now: 1.35)?.routes.count == 2)
        #expect(bk.tick(now: 2) == nil)
        // A continuous stream is delivered at the latest maxDelay after its first change.
        var delivered = [Double]()
        for i in 0...11 {
            let t = 3 + Double(i) / 10
            bk.apply("p1", announce([i < 5 ? a : b], [ExtendedCommunity(rawValue: UInt64(i))]), now: t)
            if bk.tick(now: t) != nil { delivered.append(t) }
        }
        #expect(delivered == [4.0])
    }

    /// Changes are taken in progress only from `minimum` keys on and after the first delivery;
    /// the debounce goes on, and its delivery completes them even when nothing is left.
    @Test func aChangeTakenInProgressIsCompletedEvenWhenNothingIsLeft() {
        var bk = book()
        bk.sessionUp("p1", families: [.ipv4], now: 0)
        bk.apply("p1", announce([a, b]), now: 0)
        #expect(bk.takeChangesInProgress(minimum: 1) == nil, "before the first delivery")
        for p in ["p1", "p2"] { bk.sessionUp(p, families: [.ipv4], now: 0); bk.apply(p, eor(.ipv4), now: 0) }
        #expect(bk.tick(now: 0)?.initial == true)
        let c = route(.ipv4, "0120cb007103")
        bk.apply("p2", announce([c]), now: 1)
        #expect(bk.takeChangesInProgress(minimum: 2) == nil)
        bk.apply("p1", announce([a], [ExtendedCommunity(rawValue: 7)]), now: 1.05)
        let part = bk.takeChangesInProgress(minimum: 2)
        #expect(part?.announced.count == 2 && part?.withdrawn.isEmpty == true)
        #expect(bk.tick(now: 1.1) == nil, "the debounce goes on")
        let last = bk.tick(now: 1.25)
        #expect(last?.changes == RouteChanges(announced: [], withdrawn: []) && last?.routesByKey.count == 2)
        #expect(bk.tick(now: 2) == nil)
        // Without a part taken, a change undone within the debounce delivers nothing.
        bk.apply("p1", announce([a]), now: 3)
        bk.apply("p1", announce([a], [ExtendedCommunity(rawValue: 7)]), now: 3.05)
        #expect(bk.tick(now: 3.3) == nil)
    }

    @Test func unionOrderAndFirstPeerWins() {
        var bk = book()
        for p in ["p1", "p2"] { bk.sessionUp(p, families: [.ipv4], now: 0) }
        bk.apply("p2", announce([b, a], [ExtendedCommunity(rawValue: 2)]), now: 0)
        bk.apply("p1", announce([a], [ExtendedCommunity(rawValue: 1)]), now: 0)
        let m = bk.merged.keys.sorted().map { bk.merged[$0]! }
        #expect(m.map(\.nlriBytes) == [hexBytes(nlriA), hexBytes(nlriB)].sorted { $0.lexicographicallyPrecedes($1) })
        #expect(m.first { $0.nlriBytes == hexBytes(nlriA) }?.extendedCommunities == [ExtendedCommunity(rawValue: 1)])
    }

    /// After the first delivery each one carries only what changed: an application that applies
    /// the changes to the first delivery's routes holds every delivery's routes. Random
    /// announcements, replacements and withdrawals by two peers over a few NLRIs, sessions lost
    /// and back, stale routes expiring. With `inProgress`, changes are also taken while the
    /// debounce runs (`takeChangesInProgress`, as the speaker does in a flood): applied too,
    /// they and the delivery that completes them give the same routes, and every change taken
    /// so is completed by a delivery, empty or not.
    @Test(arguments: [false, true]) func changesCarryTheDifferenceBetweenDeliveries(inProgress: Bool) {
        var bk = book(staleTime: 3)
        for p in ["p1", "p2"] { bk.sessionUp(p, families: [.ipv4], now: 0); bk.apply(p, eor(.ipv4), now: 0) }
        let nlris: [[Component]] = (0..<6).map { i in [.destinationPrefix(FlowPrefix(address: IPAddress(ipv4: 0xcb00_7100 | UInt32(i)), length: 32)!)] }
        let initial = bk.tick(now: 0)!
        #expect(initial.initial && initial.changes == nil)
        var mirror = initial.routesByKey
        var r = UInt64(42)
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int(r >> 33) % n }
        var t = 1.0, deliveries = 0, parts = 0, partTaken = false
        for _ in 0..<400 {
            let peer = next(2) == 0 ? "p1" : "p2"
            switch next(10) {
            case 0: bk.sessionDown(peer, now: t)
            case 1: bk.sessionUp(peer, families: [.ipv4], now: t)
            case 2: bk.apply(peer, eor(.ipv4), now: t)
            case 3, 4, 5:
                var w = UpdateResult(); w.withdrawn = [RouteID(FlowRoute(family: .ipv4, components: nlris[next(6)]))]
                bk.apply(peer, w, now: t)
            default: bk.apply(peer, announce([nlris[next(6)]], [ExtendedCommunity(rawValue: UInt64(next(3)))]), now: t)
            }
            // The union kept as the RIBs change is the union made from scratch.
            var union = [RouteID: FlowRoute]()
            for name in bk.order {
                let p = bk.peers[name]!
                for (k, v) in p.current.routes where union[k] == nil { union[k] = v }
                for (k, v) in p.stale.routes where union[k] == nil { union[k] = v }
            }
            #expect(bk.merged == union)
            if inProgress, next(3) == 0, let c = bk.takeChangesInProgress(minimum: 1 + next(2)) {
                parts += 1
                partTaken = true
                #expect(!c.announced.isEmpty || !c.withdrawn.isEmpty)
                for w in c.withdrawn { #expect(mirror.removeValue(forKey: w.id) == w) }
                for a in c.announced { #expect(mirror[a.id] != a); mirror[a.id] = a }
                #expect(mirror == bk.merged && mirror.count == bk.deliveredCount)
                #expect(bk.nextDeadline != nil, "a change taken in progress is completed by a delivery")
            }
            t += [0.05, 0.1, 0.3, 1.0][next(4)]
            if let s = bk.tick(now: t) {
                deliveries += 1
                let c = s.changes!
                #expect(!c.announced.isEmpty || !c.withdrawn.isEmpty || partTaken)
                partTaken = false
                for w in c.withdrawn { #expect(mirror.removeValue(forKey: w.id) == w) }
                for a in c.announced { #expect(mirror[a.id] != a); mirror[a.id] = a }
                #expect(mirror == s.routesByKey)
                #expect(s.routesByKey == bk.merged && s.routesByKey.count == bk.deliveredCount)
            }
        }
        #expect(deliveries > 50)
        #expect(inProgress == (parts > 20))
    }

    @Test func lostPeerRoutesStayStaleThenDrop() {
        var bk = book(staleTime: 5)
        for p in ["p1", "p2"] { bk.sessionUp(p, families: [.ipv4], now: 0); bk.apply(p, eor(.ipv4), now: 0) }
        bk.apply("p1", announce([a]), now: 0)
        _ = bk.tick(now: 0)
        bk.sessionDown("p1", now: 1)
        #expect(bk.tick(now: 2) == nil)   // unchanged set: nothing to deliver
        #expect(bk.stalePeers(now: 2).map(\.peer) == ["p1"])
        #expect(bk.nextDeadline == 6)
        #expect(bk.tick(now: 6) == nil)   // expiry is a change like any other: debounced
        #expect(bk.tick(now: 6.2)?.routes.isEmpty == true)
    }

    @Test func restartedPeerReplacesStaleRoutesAtEndOfRIB() {
        var bk = book(staleTime: 60)
        for p in ["p1", "p2"] { bk.sessionUp(p, families: [.ipv4], now: 0); bk.apply(p, eor(.ipv4), now: 0) }
        bk.apply("p1", announce([a, b]), now: 0)
        _ = bk.tick(now: 1)
        bk.sessionDown("p1", now: 2)
        bk.sessionUp("p1", families: [.ipv4], now: 3)
        bk.apply("p1", announce([a]), now: 3)
        #expect(bk.merged.count == 2)   // b still stale until End-of-RIB
        bk.apply("p1", eor(.ipv4), now: 3.1)
        #expect(bk.tick(now: 4)?.routes.map(\.nlriBytes) == [hexBytes(nlriA)])
    }

    /// Two reflectors send the same routes; one is lost (kept forever, `--on-peer-loss keep`),
    /// then the other withdraws a route. Without `redundant` the lost reflector's copy keeps it;
    /// with it the table follows the live reflector, and is kept whole when both are lost.
    @Test(arguments: [false, true]) func aWithdrawalThroughTheLiveReflector(redundant: Bool) {
        var bk = book(staleTime: .infinity)
        bk.redundant = redundant
        for p in ["p1", "p2"] {
            bk.sessionUp(p, families: [.ipv4], now: 0)
            bk.apply(p, announce([a, b]), now: 0)
            bk.apply(p, eor(.ipv4), now: 0)
        }
        #expect(bk.tick(now: 1)?.routes.count == 2)
        bk.sessionDown("p1", now: 2)
        #expect(bk.tick(now: 3) == nil, "the same routes: nothing to deliver")
        var w = UpdateResult(); w.withdrawn = [RouteID(FlowRoute(family: .ipv4, components: b))]
        bk.apply("p2", w, now: 4)
        #expect(bk.tick(now: 5)?.routes.map(\.nlriBytes) == (redundant ? [hexBytes(nlriA)] : nil))
        #expect(bk.stalePeers(now: 5).map(\.peer) == (redundant ? [] : ["p1"]))
        // The other one lost too: what it held stays (fail-static).
        bk.sessionDown("p2", now: 6)
        _ = bk.tick(now: 7)
        #expect(bk.merged.count == (redundant ? 1 : 2))
        // p1 back with its routes (b withdrawn at the controller): a stays, b goes at its End-of-RIB.
        bk.sessionUp("p1", families: [.ipv4], now: 8)
        bk.apply("p1", announce([a]), now: 8)
        bk.apply("p1", eor(.ipv4), now: 8)
        #expect(bk.merged.count == 1)
    }
}
