import FlowSpec
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// BMP messages (RFC 7854) as a monitored router sends them, for tests of the station and of
/// `watch --bmp`. GoBGP's Loc-RIB export sends one path per UPDATE, as `announce` does here.
public enum BMPEncoding {
    public static func message(type: UInt8, body: [UInt8]) -> [UInt8] {
        [3] + be32(UInt32(6 + body.count)) + [type] + body
    }

    /// The 42-octet per-peer header; Loc-RIB (type 3) by default, with a zero address.
    public static func peerHeader(type: UInt8 = 3, flags: UInt8 = 0, address: [UInt8] = Array(repeating: 0, count: 16),
                                  asNumber: UInt32 = 65105, bgpID: UInt32 = 0xc000_0202) -> [UInt8] {
        [type, flags] + Array(repeating: 0, count: 8) + address + be32(asNumber) + be32(bgpID) + be32(1_765_000_000) + be32(0)
    }

    public static func initiation(sysName: String = "gobgp", sysDescr: String = "test") -> [UInt8] {
        func tlv(_ t: UInt16, _ s: String) -> [UInt8] { let b = Array(s.utf8); return be16(t) + be16(UInt16(b.count)) + b }
        return message(type: 4, body: tlv(2, sysName) + tlv(1, sysDescr))
    }

    /// A global peer's session up, stamped `secondsAgo` before now (RFC 7854 §4.10; the open
    /// messages and addresses are not read by the station, so they are left empty here).
    public static func peerUp(_ address: [UInt8] = Array(repeating: 0, count: 12) + [192, 0, 2, 1], secondsAgo: UInt32 = 60) -> [UInt8] {
        var header = peerHeader(type: 0, address: address)
        let now = UInt32(Date().timeIntervalSince1970)
        header.replaceSubrange(34..<38, with: be32(now - secondsAgo))
        return message(type: 3, body: header + Array(repeating: 0, count: 20))
    }

    public static func peerDown(_ address: [UInt8] = Array(repeating: 0, count: 12) + [192, 0, 2, 1]) -> [UInt8] {
        message(type: 2, body: peerHeader(type: 0, address: address) + [4])
    }

    public static func termination() -> [UInt8] { message(type: 5, body: be16(0) + be16(2) + be16(0)) }

    public static func routeMonitoring(_ update: BGPUpdate, peer: [UInt8] = peerHeader()) -> [UInt8] {
        message(type: 0, body: peer + (try! BGPMessage.update(update).encode(maxLength: 65_535)))
    }

    /// One route announced, alone in its UPDATE.
    public static func announce(_ r: FlowRoute, peer: [UInt8] = peerHeader()) -> [UInt8] {
        routeMonitoring(.flowspec(family: r.family, announce: [r.components], extendedCommunities: r.extendedCommunities), peer: peer)
    }

    public static func withdraw(_ r: FlowRoute, peer: [UInt8] = peerHeader()) -> [UInt8] {
        routeMonitoring(.flowspec(family: r.family, withdraw: [r.components]), peer: peer)
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
}

/// A plain TCP client on the loopback, for tests that play a router towards a station.
public enum TestSocket {
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    public static func connect(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { let e = errno; close(fd); throw Failed(description: "connect to port \(port): errno \(e)") }
        return fd
    }

    public static func send(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
