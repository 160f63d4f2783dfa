import Foundation
import Testing
import FlowSpec
@testable import FlowSpecFormats

/// The default route set of /work/shared/fixtures (41 IPv4 + 14 IPv6 routes), hand-written in
/// canonical JSON, checked against the UPDATE messages BIRD actually sent (bird-wire-updates.jsonl,
/// BIRD's side of pcap/flowspec-updates.pcap): every route's NLRI octets and extended communities
/// must be exactly what was on the wire.
@Suite("Canonical JSON default route set")
struct CanonicalJSONFixtureTests {
    static func data(_ name: String, _ ext: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/json"))
        return try Data(contentsOf: url)
    }

    struct WireRoute: Hashable {
        var family: AddressFamily
        var nlri: [UInt8]
        var communities: [UInt64]
    }

    /// The flowspec NLRIs of each BGP UPDATE (MP_REACH_NLRI, AFI 1/2, SAFI 133) with the UPDATE's
    /// extended communities.
    static func wireRoutes() throws -> [WireRoute] {
        var out = [WireRoute]()
        let text = String(decoding: try data("bird-wire-updates", "jsonl"), as: UTF8.self)
        for line in text.split(separator: "\n") {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let hex = try #require(obj["hex"] as? String)
            var bytes = [UInt8]()
            var it = hex.utf8.makeIterator()
            while let a = it.next(), let b = it.next() { bytes.append(hexDigit(a)! << 4 | hexDigit(b)!) }
            var p = 19
            let withdrawnLength = Int(bytes[p]) << 8 | Int(bytes[p + 1]); p += 2 + withdrawnLength
            let attrLength = Int(bytes[p]) << 8 | Int(bytes[p + 1]); p += 2
            let end = p + attrLength
            var communities = [UInt64]()
            var reach: ArraySlice<UInt8>? = nil
            while p < end {
                let flags = bytes[p], code = bytes[p + 1]; p += 2
                var len = Int(bytes[p]); p += 1
                if flags & 0x10 != 0 { len = len << 8 | Int(bytes[p]); p += 1 }
                let value = bytes[p..<(p + len)]; p += len
                if code == 16 {
                    communities = stride(from: value.startIndex, to: value.endIndex, by: 8).map { s in
                        value[s..<(s + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    }
                }
                if code == 14 { reach = value }
            }
            guard let reach else { continue }
            let r = Array(reach)
            let family: AddressFamily = r[1] == 1 ? .ipv4 : .ipv6
            #expect(r[2] == 133)
            var q = 4 + Int(r[3]) + 1
            while q < r.count {
                var n = Int(r[q]); q += 1
                if n >= 0xf0 { n = (n & 0x0f) << 8 | Int(r[q]); q += 1 }
                out.append(WireRoute(family: family, nlri: Array(r[q..<(q + n)]), communities: communities))
                q += n
            }
        }
        return out
    }

    @Test("default-routes.json: 41 IPv4 + 14 IPv6 routes, no errors or warnings")
    func readsCleanly() throws {
        let result = try CanonicalJSON.read(try Self.data("default-routes", "json"))
        #expect(result.errors.isEmpty)
        #expect(result.routes.count == 55)
        #expect(result.routes.filter { $0.route.family == .ipv4 }.count == 41)
        #expect(result.routes.filter { $0.route.family == .ipv6 }.count == 14)
        #expect(result.routes.allSatisfy { $0.warnings.isEmpty && !$0.withdrawn })
        // Exactly two default-policy routes (v4-31, v6-14).
        #expect(result.routes.filter(\.route.isDefaultPolicy).map(\.position) == ["route 31", "route 55"])
    }

    @Test("every route equals, octet for octet, what BIRD sent on the wire")
    func matchesTheWire() throws {
        let wire = try Self.wireRoutes()
        #expect(wire.count == 55)
        let routes = try CanonicalJSON.read(try Self.data("default-routes", "json")).routes.map(\.route)
        let mine = routes.map { WireRoute(family: $0.family, nlri: $0.nlriBytes, communities: $0.extendedCommunities.map(\.rawValue)) }
        // Both sides hold 55 distinct routes, so "none missing" means the sets are equal.
        #expect(Set(mine).count == 55)
        #expect(Set(wire).count == 55)
        let onWire = Set(wire)
        let missing = mine.filter { !onWire.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) route(s) differ from the wire")
        for r in missing {
            Issue.record("not on the wire: \(r.family) \(hexString(r.nlri)) \(r.communities.map { String($0, radix: 16) })")
        }
    }

    @Test("the fixture survives write → read unchanged")
    func fixtureRoundTrip() throws {
        let routes = try CanonicalJSON.read(try Self.data("default-routes", "json")).routes.map(\.route)
        let back = try CanonicalJSON.read(CanonicalJSON.write(routes))
        #expect(back.errors.isEmpty)
        #expect(back.routes.map(\.route) == routes)
    }
}
