import CNftnl
import Foundation
import Testing
import FlowSpec
import FlowSpecCompiler
import FlowSpecKeeper
@testable import FlowSpecNetlink

/// The rtnetlink encoders and decoders (Rtnetlink/): the bytes of the uapi layout written out by
/// hand (struct nlmsghdr, fib_rule_hdr, rtmsg, ifinfomsg; host-order attributes, 4-byte
/// aligned), and every object read back as it was written.
@Suite("rtnetlink encoders and decoders (no kernel)")
struct RtnetlinkCodecTests {
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    /// One attribute: length, type, payload, padding to 4.
    static func attr(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        var a = le16(UInt16(4 + payload.count)) + le16(type) + payload
        while a.count % 4 != 0 { a.append(0) }
        return a
    }
    static func header(length: Int, type: UInt16, flags: UInt16, seq: UInt32) -> [UInt8] {
        le32(UInt32(length)) + le16(type) + le16(flags) + le32(seq) + le32(0)
    }

    static func encoded(_ write: (UnsafeMutableRawPointer) -> UnsafeMutablePointer<nlmsghdr>) -> [UInt8] {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return RtnlCodec.bytes(write(buffer))
    }

    static func decoded<T>(_ bytes: [UInt8], _ decode: (UnsafePointer<nlmsghdr>) throws(NetlinkError) -> T) throws -> T {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 8)
        defer { buffer.deallocate() }
        buffer.copyMemory(from: bytes, byteCount: bytes.count)
        return try decode(buffer.assumingMemoryBound(to: nlmsghdr.self))
    }

    static let tool = FibRule(family: .ipv4, priority: 100, mark: 0x4653_0000, table: 0x4653_0000)

    @Test("RTM_NEWRULE: fib_rule_hdr (table in FRA_TABLE past 255), FRA_PRIORITY, FWMARK, FWMASK, TABLE, PROTOCOL")
    func ruleBytes() throws {
        let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
        let bytes = Self.encoded { FibRuleCodec.write(Self.tool, type: RTM_NEWRULE, flags: flags, seq: 7, into: $0) }
        // family AF_INET, dst_len, src_len, tos, table (0: in FRA_TABLE), res1, res2, action FR_ACT_TO_TBL, flags
        let frh: [UInt8] = [2, 0, 0, 0, 0, 0, 0, 1] + Self.le32(0)
        let attrs = Self.attr(6, Self.le32(100)) + Self.attr(10, Self.le32(0x4653_0000)) + Self.attr(16, Self.le32(0xffff_ffff))
            + Self.attr(15, Self.le32(0x4653_0000)) + Self.attr(21, [245])
        let expected = Self.header(length: 16 + frh.count + attrs.count, type: 32, flags: 0x601, seq: 7) + frh + attrs
        #expect(bytes == expected)
        #expect(try Self.decoded(bytes, FibRuleCodec.decode) == Self.tool)
    }

    @Test("a rule reads back as written: IPv6, a table below 256 also in the header, a mask")
    func ruleRoundTrip() throws {
        for rule in [FibRule(family: .ipv6, priority: 32000, mark: 0x10, mask: 0xff, table: 10),
                     FibRule(family: .ipv4, priority: 0, mark: 1, table: 254, protocolNumber: 3)] {
            let bytes = Self.encoded { FibRuleCodec.write(rule, type: RTM_NEWRULE, flags: NLM_F_REQUEST, seq: 1, into: $0) }
            #expect(bytes[16 + 4] == UInt8(rule.table), "the 8-bit header table")
            #expect(try Self.decoded(bytes, FibRuleCodec.decode) == rule)
        }
    }

    @Test("RTM_NEWROUTE: rtmsg, RTA_TABLE, RTA_DST, RTA_GATEWAY, RTA_OIF")
    func routeBytes() throws {
        let route = FibRoute(table: 0x4653_0001, destination: IPAddress("0.0.0.0")!, prefixLength: 0,
                             kind: .unicast(gateway: IPAddress("192.0.2.10")!, device: 3))
        let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE
        let bytes = Self.encoded { FibRouteCodec.write(route, type: RTM_NEWROUTE, flags: flags, seq: 9, into: $0) }
        // family, dst_len 0, src_len, tos, table RT_TABLE_UNSPEC, protocol 245, scope universe, type unicast, flags
        let rtm: [UInt8] = [2, 0, 0, 0, 0, 245, 0, 1] + Self.le32(0)
        let attrs = Self.attr(15, Self.le32(0x4653_0001)) + Self.attr(5, [192, 0, 2, 10]) + Self.attr(4, Self.le32(3))
        #expect(bytes == Self.header(length: 16 + rtm.count + attrs.count, type: 24, flags: 0x501, seq: 9) + rtm + attrs)
        #expect(try Self.decoded(bytes, FibRouteCodec.decode) == route)
    }

    @Test("routes read back as written: a host route out of a device (scope link), unreachable, throw, IPv6")
    func routeRoundTrip() throws {
        let routes = [
            FibRoute(table: 7, destination: IPAddress("192.0.2.10")!, prefixLength: 32, kind: .unicast(gateway: nil, device: 5)),
            FibRoute(table: 300, destination: IPAddress("0.0.0.0")!, prefixLength: 0, kind: .unreachable),
            FibRoute(table: 300, destination: IPAddress("192.0.2.10")!, prefixLength: 32, kind: .throw),
            FibRoute(table: 0x4653_0002, destination: IPAddress("2001:db8::1")!, prefixLength: 128,
                     kind: .unicast(gateway: IPAddress("2001:db8::ff")!, device: 9)),
        ]
        for route in routes {
            let bytes = Self.encoded { FibRouteCodec.write(route, type: RTM_NEWROUTE, flags: NLM_F_REQUEST, seq: 1, into: $0) }
            #expect(try Self.decoded(bytes, FibRouteCodec.decode) == route, "\(route)")
        }
        let direct = Self.encoded { FibRouteCodec.write(routes[0], type: RTM_NEWROUTE, flags: NLM_F_REQUEST, seq: 1, into: $0) }
        #expect(direct[16 + 6] == 253, "RT_SCOPE_LINK for a route without a gateway")
        let delete = Self.encoded { FibRouteCodec.write(routes[1], type: RTM_DELROUTE, flags: NLM_F_REQUEST, seq: 1, into: $0) }
        #expect(delete[16 + 6] == 255 && delete[16 + 7] == 7, "a delete matches any scope (RT_SCOPE_NOWHERE), type unreachable")
    }

    @Test("ip route get: the request, and the path of its answer")
    func routeGet() throws {
        let get = Self.encoded { FibRouteCodec.writeGet(IPAddress("192.0.2.10")!, seq: 4, into: $0) }
        let rtm: [UInt8] = [2, 32, 0, 0, 0, 0, 0, 0] + Self.le32(0)
        let attrs = Self.attr(1, [192, 0, 2, 10])
        #expect(get == Self.header(length: 16 + rtm.count + attrs.count, type: 26, flags: 1, seq: 4) + rtm + attrs)
        // The kernel's answer: RTM_NEWROUTE, unicast, with RTA_OIF and RTA_GATEWAY when routed via one.
        func answer(type: UInt8, gateway: [UInt8]?) -> [UInt8] {
            let header: [UInt8] = [2, 32, 0, 0, 254, 2, 0, type] + Self.le32(0x200)
            var a = Self.attr(15, Self.le32(254)) + Self.attr(1, [192, 0, 2, 10]) + Self.attr(4, Self.le32(6))
            if let gateway { a += Self.attr(5, gateway) }
            return Self.header(length: 16 + header.count + a.count, type: 24, flags: 0, seq: 4) + header + a
        }
        #expect(try Self.decoded(answer(type: 1, gateway: [198, 51, 100, 1]), FibRouteCodec.decodePath)
                == .via(gateway: IPAddress("198.51.100.1")!, device: 6))
        #expect(try Self.decoded(answer(type: 1, gateway: nil), FibRouteCodec.decodePath) == .via(gateway: nil, device: 6))
        #expect(try Self.decoded(answer(type: 2, gateway: nil), FibRouteCodec.decodePath) == .unreachable, "a local address is no next hop")
    }

    @Test("RTM_GETLINK by name; RTM_NEWLINK gives a VRF's table (IFLA_LINKINFO, INFO_KIND vrf, INFO_DATA, VRF_TABLE)")
    func link() throws {
        let get = Self.encoded { LinkCodec.writeGet(name: "vrf-x", seq: 2, into: $0) }
        let ifi = [UInt8](repeating: 0, count: 16)
        let name = Self.attr(3, Array("vrf-x\0".utf8))
        #expect(get == Self.header(length: 16 + 16 + name.count, type: 18, flags: 1, seq: 2) + ifi + name)
        func newlink(kind: String, data: [UInt8]) -> [UInt8] {
            let info = Self.attr(18, Self.attr(1, Array((kind + "\0").utf8)) + Self.attr(2, data))
            let body: [UInt8] = [0, 0] + Self.le16(1) + Self.le32(12) + Self.le32(0) + Self.le32(0)
            return Self.header(length: 16 + 16 + name.count + info.count, type: 16, flags: 0, seq: 2) + body + name + info
        }
        let vrf = try Self.decoded(newlink(kind: "vrf", data: Self.attr(1, Self.le32(10))), LinkCodec.decode)
        #expect(vrf == LinkCodec.Link(name: "vrf-x", index: 12, vrfTable: 10))
        let bridge = try Self.decoded(newlink(kind: "bridge", data: Self.attr(1, Self.le32(10))), LinkCodec.decode)
        #expect(bridge?.vrfTable == nil, "only a vrf has a table")
    }
}

/// The rtnetlink connection against the kernel, in private namespaces: what it writes, `ip` and
/// its own decoders read back.
@Suite("rtnetlink against the kernel (private namespaces)", .enabled(if: Kernel.available, Kernel.reason))
struct RoutingConnectionKernelTests {
    static func ip(_ arguments: [String], in namespace: NetworkNamespace) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=\(namespace.path)", "ip"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// A namespace with a veth pair rt-a/rt-b up, rt-a holding 192.0.2.1/24.
    static func namespace() throws -> (NetworkNamespace, RoutingConnection) {
        let ns = try NetworkNamespace.create()
        _ = try ip(["link", "add", "rt-a", "type", "veth", "peer", "name", "rt-b"], in: ns)
        _ = try ip(["addr", "add", "192.0.2.1/24", "dev", "rt-a"], in: ns)
        for d in ["rt-a", "rt-b"] { _ = try ip(["link", "set", d, "up"], in: ns) }
        return (ns, try RoutingConnection.inNamespace(ns))
    }

    @Test("rules and routes written are what ip shows and what the decoders read back; deletes remove them")
    func rulesAndRoutes() throws {
        let (ns, c) = try Self.namespace()
        let rule4 = RtnetlinkCodecTests.tool
        let rule6 = FibRule(family: .ipv6, priority: 100, mark: 0x4653_0001, table: 20)
        try c.add(rule4)
        try c.add(rule6)
        #expect(try Self.ip(["rule", "show"], in: ns).contains("100:\tfrom all fwmark 0x46530000 lookup 1179844608 proto 245"))
        #expect(try Self.ip(["-6", "rule", "show"], in: ns).contains("fwmark 0x46530001 lookup 20 proto 245"))
        #expect(try c.rules(family: .ipv4).contains(rule4))
        #expect(try c.rules(family: .ipv6).contains(rule6))
        #expect(throws: NetlinkError.self, "add fails when the rule exists") { try c.add(rule4) }

        let device = UInt32(try #require(UInt32(Self.ip(["-o", "link", "show", "rt-a"], in: ns).split(separator: ":")[0])))
        let routes = [
            FibRoute(table: 0x4653_0000, destination: IPAddress("192.0.2.10")!, prefixLength: 32, kind: .unicast(gateway: nil, device: device)),
            FibRoute(table: 0x4653_0000, destination: .zero(.ipv4), prefixLength: 0, kind: .unicast(gateway: IPAddress("192.0.2.10")!, device: device)),
        ]
        for r in routes { try c.replace(r) }
        let shown = try Self.ip(["route", "show", "table", "1179844608"], in: ns)
        #expect(shown.contains("default via 192.0.2.10 dev rt-a proto 245") && shown.contains("192.0.2.10 dev rt-a proto 245 scope link"), "\(shown)")
        #expect(Set(try c.routes(table: 0x4653_0000, family: .ipv4)) == Set(routes))
        #expect(try c.routes(table: 0x4653_0009, family: .ipv4).isEmpty, "a table that does not exist has no routes")
        // Replaced by another kind in place.
        let unreachable = FibRoute(table: 0x4653_0000, destination: .zero(.ipv4), prefixLength: 0, kind: .unreachable)
        try c.replace(unreachable)
        #expect(Set(try c.routes(table: 0x4653_0000, family: .ipv4)) == [routes[0], unreachable])
        for r in [routes[0], unreachable] { try c.delete(r) }
        try c.delete(rule4)
        try c.delete(rule6)
        #expect(try c.routes(table: 0x4653_0000, family: .ipv4).isEmpty)
        #expect(try !c.rules(family: .ipv4).contains(rule4))
    }

    @Test("path: a connected next hop, one via a gateway, an unreachable one; a device that is not a VRF")
    func paths() throws {
        let (ns, c) = try Self.namespace()
        let a = try #require(UInt32(Self.ip(["-o", "link", "show", "rt-a"], in: ns).split(separator: ":")[0]))
        #expect(try c.path(to: IPAddress("192.0.2.10")!) == .via(gateway: nil, device: a))
        _ = try Self.ip(["route", "add", "203.0.113.0/24", "via", "192.0.2.254"], in: ns)
        #expect(try c.path(to: IPAddress("203.0.113.5")!) == .via(gateway: IPAddress("192.0.2.254")!, device: a))
        #expect(try c.path(to: IPAddress("198.51.100.1")!) == .unreachable)
        #expect(try c.path(to: IPAddress("192.0.2.1")!) == .unreachable, "this host's own address is no next hop")
        #expect(throws: NetlinkError.self) { try c.vrfTable(device: "rt-a") }
        #expect(throws: NetlinkError.self) { try c.vrfTable(device: "nosuchdev") }
    }

    @Test("PolicyRoutes: ensure makes routes before the rule, a second process reads the mark back, prune and follow")
    func policyRoutes() throws {
        let (ns, c) = try Self.namespace()
        let nh = IPAddress("192.0.2.10")!
        let p = try PolicyRoutes(configuration: PolicyRoutes.Configuration(), writer: c)
        let target = RedirectTarget.nextHop(nh, copy: false)
        #expect(p.assign([target]))
        #expect(p.nextHopMarks == [nh: 0x4653_0000])
        try p.ensure([target])
        #expect(try Self.ip(["route", "show", "table", "1179844608"], in: ns).contains("default via 192.0.2.10 dev rt-a"))
        // Another process: the mark comes back from the kernel.
        let again = try PolicyRoutes(configuration: PolicyRoutes.Configuration(), writer: try RoutingConnection.inNamespace(ns))
        #expect(again.nextHopMarks == [nh: 0x4653_0000])
        #expect(!again.assign([target]), "nothing new to assign")
        // The next hop goes away (its link down): follow makes the table unreachable; back, via it again.
        _ = try Self.ip(["link", "set", "rt-a", "down"], in: ns)
        #expect(try again.follow().count == 1)
        #expect(try Self.ip(["route", "show", "table", "1179844608"], in: ns).contains("unreachable default"))
        #expect(try again.follow().isEmpty, "nothing changed since")
        _ = try Self.ip(["link", "set", "rt-a", "up"], in: ns)
        #expect(try again.follow().count == 1)
        #expect(try Self.ip(["route", "show", "table", "1179844608"], in: ns).contains("default via 192.0.2.10 dev rt-a"))
        try again.prune(keeping: [])
        #expect(try again.list().isEmpty)
        #expect(try Self.ip(["route", "show", "table", "1179844608"], in: ns).isEmpty)
    }
}
