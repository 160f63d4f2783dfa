import Foundation
import Glibc
import Testing
import FlowSpec
import FlowSpecTestSupport
@testable import FlowSpecBGP

@Suite("BMP: framing, peer headers, the station")
struct BMPTests {
    static let routes = RouteGenerator().routes(count: 3)

    static func frames(_ bytes: [UInt8], chunk: Int) throws -> [BMPMessage] {
        var f = BMPFramer(), out = [BMPMessage]()
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            f.append(Array(bytes[start..<min(start + chunk, bytes.count)]))
            while let m = try f.next() { out.append(m) }
        }
        #expect(f.pending == 0)
        return out
    }

    @Test("a stream cut anywhere gives the same messages; a route monitoring message carries its UPDATE's body")
    func framing() throws {
        let stream = BMPEncoding.initiation(sysName: "leaf8") + BMPEncoding.announce(Self.routes[0])
            + BMPEncoding.message(type: 1, body: BMPEncoding.peerHeader(type: 0) + [0, 0, 0, 0])
            + BMPEncoding.withdraw(Self.routes[1]) + BMPEncoding.message(type: 6, body: []) + BMPEncoding.termination()
        let whole = try Self.frames(stream, chunk: stream.count)
        for chunk in [1, 2, 5, 7, 41, 64] { #expect(try Self.frames(stream, chunk: chunk) == whole) }
        #expect(whole.count == 6)
        guard case .initiation(let texts) = whole[0] else { Issue.record("not an initiation: \(whole[0])"); return }
        #expect(texts == ["leaf8", "test"])
        guard case .routeMonitoring(let peer, let body) = whole[1] else { Issue.record("not route monitoring"); return }
        #expect(peer.type == BMPPeer.locRIB)
        let u = UpdateDecoder(external: false).decode(body: body)
        #expect(u.announced == [Self.routes[0]])
        guard case .routeMonitoring(_, let body2) = whole[3] else { Issue.record("not route monitoring"); return }
        #expect(UpdateDecoder().decode(body: body2).withdrawn == [RouteID(Self.routes[1])])
        #expect(whole[4] == .other(type: 6))
        #expect(whole[5] == .termination)
    }

    @Test("per-peer headers: the V flag gives an IPv6 address, A a 2-octet AS_PATH; Loc-RIB's 0x80 is F (filtered), not V")
    func peerHeaders() throws {
        let v6 = [UInt8](repeating: 0, count: 15) + [1]
        let v4 = [UInt8](repeating: 0, count: 12) + [192, 0, 2, 1]
        func peer(_ type: UInt8, _ flags: UInt8, _ address: [UInt8]) throws -> BMPPeer {
            let m = BMPEncoding.message(type: 3, body: BMPEncoding.peerHeader(type: type, flags: flags, address: address))
            guard case .peerUp(let p) = try Self.frames(m, chunk: 100)[0] else { throw BMPError("not a peer up") }
            return p
        }
        #expect(try peer(0, 0x80, v6).address == IPAddress("::1"))
        #expect(try peer(0, 0x00, v4).address == IPAddress("192.0.2.1"))
        #expect(try peer(0, 0x20, v4).twoOctetASPath)
        #expect(try !peer(0, 0x00, v4).twoOctetASPath)
        #expect(try peer(3, 0x80, v4).address == IPAddress("192.0.2.1"))
        #expect(try !peer(3, 0x20, v4).twoOctetASPath)
    }

    @Test("what breaks the framing is an error: version, lengths, a route monitoring message without an UPDATE")
    func framingErrors() {
        let update = BMPEncoding.announce(Self.routes[0])
        var badVersion = update; badVersion[0] = 2
        var short = update; short[1...4] = [0, 0, 0, 5]
        var long = update; long[1...4] = [0, 0x10, 0, 0]
        var open = update; open[6 + 42 + 18] = 1
        var marker = update; marker[6 + 42] = 0
        let cut = BMPEncoding.message(type: 0, body: BMPEncoding.peerHeader() + Array(repeating: 0xff, count: 16) + [0, 40, 2])
        let noPeer = BMPEncoding.message(type: 0, body: [3, 0])
        for (bytes, what) in [(badVersion, "version 2"), (short, "length 5"), (long, "over"), (open, "type 1"),
                              (marker, "without a BGP message"), (cut, "length 40"), (noPeer, "42-octet")] {
            var f = BMPFramer()
            f.append(bytes)
            #expect(throws: BMPError.self, "\(what)") { _ = try f.next() }
            do { _ = try BMPFramer.decodeAll(bytes) } catch { #expect(error.description.contains(what), "\(error)") }
        }
    }

    @Test("AdjRIBIn.applyChanges: new and replaced routes announced, withdrawn ones as held, unknown withdrawals nothing")
    func ribChanges() {
        var rib = AdjRIBIn()
        let (a, b) = (Self.routes[0], Self.routes[1])
        var c = rib.applyChanges(UpdateResult(announced: [a, b]))
        #expect(c.announced == [a, b] && c.withdrawn.isEmpty)
        var b2 = b
        b2.extendedCommunities = [ExtendedCommunity(rawValue: 0x8009_0000_0000_002e)]   // DSCP 46, not the generator's action
        #expect(b2 != b)
        c = rib.applyChanges(UpdateResult(announced: [b2, a]))
        #expect(c.announced == [b2] && c.withdrawn.isEmpty)
        c = rib.applyChanges(UpdateResult(withdrawn: [RouteID(a), RouteID(Self.routes[2])]))
        #expect(c.announced.isEmpty && c.withdrawn == [a])
        c = rib.applyChanges(UpdateResult(announced: [b2], withdrawn: [RouteID(b2)]))
        #expect(c.announced == [b2] && c.withdrawn.isEmpty)
        #expect(rib.routes.count == 1)
    }

    @Test("the station: messages in order, a newer connection replaces the older, a framing error closes the connection")
    func station() async throws {
        let station = BMPStation(address: IPAddress("127.0.0.1")!, port: 0)
        try station.start()
        defer { station.stop() }
        var events = station.events.makeAsyncIterator()
        func next() async -> BMPStationEvent? {
            await withTaskGroup(of: BMPStationEvent?.self) { g in
                g.addTask { try? await Task.sleep(for: .seconds(5)); return nil }
                let e = await events.next()
                g.cancelAll()
                return e
            }
        }
        let first = try TestSocket.connect(station.boundPort)
        guard case .connected = await next() else { Issue.record("no connected event"); return }
        // 300 one-route UPDATEs in one write: they may come in several reads, in order.
        let many = RouteGenerator().routes(count: 300)
        TestSocket.send(first, BMPEncoding.initiation() + many.flatMap { BMPEncoding.announce($0) })
        var got = [BMPMessage]()
        while got.count < 301, case .messages(let m)? = await next() { got += m }
        #expect(got.count == 301)
        let announced = got.dropFirst().compactMap { m -> FlowRoute? in
            guard case .routeMonitoring(_, let body) = m else { return nil }
            return UpdateDecoder().decode(body: body).announced.first
        }
        #expect(announced == many)

        let second = try TestSocket.connect(station.boundPort)
        guard case .disconnected(let why) = await next() else { Issue.record("the first connection was not dropped"); return }
        #expect(why.contains("replaced"))
        guard case .connected = await next() else { Issue.record("no connected event for the second"); return }
        var bad = BMPEncoding.initiation(); bad[0] = 1
        TestSocket.send(second, bad)
        guard case .disconnected(let why2) = await next() else { Issue.record("a bad version did not close the connection"); return }
        #expect(why2.contains("version 1"))
        close(first); close(second)
    }
}

extension BMPFramer {
    /// Every message of `bytes`, for error texts.
    static func decodeAll(_ bytes: [UInt8]) throws(BMPError) -> [BMPMessage] {
        var f = BMPFramer(), out = [BMPMessage]()
        f.append(bytes)
        while let m = try f.next() { out.append(m) }
        return out
    }
}
