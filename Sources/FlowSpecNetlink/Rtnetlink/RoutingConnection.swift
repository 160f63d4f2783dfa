import CNftnl
import FlowSpec
import FlowSpecCompiler
import Glibc

/// A NETLINK_ROUTE connection in one network namespace: the policy-routing rules and routes of
/// the tool's redirects (`PolicyRoutes` in FlowSpecKeeper), written and read with the encoders
/// and decoders of Rtnetlink/. One request at a time, each acknowledged before the next: the
/// kernel has no batch for rules and routes (docs/lowering.md, "What is atomic").
///
/// Not Sendable (it owns a socket and its sequence numbers); use it from one task at a time.
public final class RoutingConnection: PolicyRoutingWriter {
    let socket: NetlinkSocket

    /// A connection in the calling thread's network namespace.
    public init() throws(NetlinkError) {
        socket = try NetlinkSocket(protocol: NETLINK_ROUTE)
    }

    private init(socket: NetlinkSocket) { self.socket = socket }

    /// A connection bound to `namespace`.
    public static func inNamespace(_ namespace: NetworkNamespace) throws(NetlinkError) -> RoutingConnection {
        let opened: Result<RoutingSocketBox, NetlinkError> = try namespace.run {
            do throws(NetlinkError) { return .success(RoutingSocketBox(try NetlinkSocket(protocol: NETLINK_ROUTE))) } catch { return .failure(error) }
        }
        return RoutingConnection(socket: try opened.get().socket)
    }

    public func rules(family: AddressFamily) throws -> [FibRule] {
        var rules: [FibRule] = []
        try socket.request(dump: true, build: { buffer, seq in
            FibRuleCodec.writeDump(family: family, seq: seq, into: buffer)
        }, onError: { .routing(operation: "list the \(family.name) rules", errno: $0) }, handle: { (nlh) throws(NetlinkError) in
            if let rule = try FibRuleCodec.decode(nlh) { rules.append(rule) }
        })
        return rules
    }

    public func routes(table: UInt32, family: AddressFamily) throws -> [FibRoute] {
        var routes: [FibRoute] = []
        do {
            try socket.request(dump: true, build: { buffer, seq in
                FibRouteCodec.writeDump(table: table, family: family, seq: seq, into: buffer)
            }, onError: { .routing(operation: "list the \(family.name) routes of table \(table)", errno: $0) },
               handle: { (nlh) throws(NetlinkError) in
                if let route = try FibRouteCodec.decode(nlh), route.table == table { routes.append(route) }
            })
        } catch {
            if case .routing(_, let code) = error, code == ENOENT { return [] }  // no such table yet: no routes
            throw error
        }
        return routes
    }

    public func add(_ rule: FibRule) throws {
        try send("add \(rule)") { buffer, seq in
            FibRuleCodec.write(rule, type: RTM_NEWRULE, flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, seq: seq, into: buffer)
        }
    }

    public func delete(_ rule: FibRule) throws {
        try send("delete \(rule)") { buffer, seq in
            FibRuleCodec.write(rule, type: RTM_DELRULE, flags: NLM_F_REQUEST, seq: seq, into: buffer)
        }
    }

    public func replace(_ route: FibRoute) throws {
        try send("install route \(describe(route))") { buffer, seq in
            FibRouteCodec.write(route, type: RTM_NEWROUTE, flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, seq: seq, into: buffer)
        }
    }

    public func delete(_ route: FibRoute) throws {
        try send("delete route \(describe(route))") { buffer, seq in
            FibRouteCodec.write(route, type: RTM_DELROUTE, flags: NLM_F_REQUEST, seq: seq, into: buffer)
        }
    }

    public func path(to address: IPAddress) throws -> NextHopPath {
        var path = NextHopPath.unreachable
        do {
            try socket.request(dump: false, build: { buffer, seq in
                FibRouteCodec.writeGet(address, seq: seq, into: buffer)
            }, onError: { .routing(operation: "look up the route to \(address)", errno: $0) }, handle: { (nlh) throws(NetlinkError) in
                path = try FibRouteCodec.decodePath(nlh)
            })
        } catch {
            // No route, or an unreachable, prohibit or blackhole one.
            if case .routing(_, let code) = error, [ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL, ENETDOWN].contains(code) { return .unreachable }
            throw error
        }
        return path
    }

    public func vrfTable(device: String) throws -> UInt32 {
        var link: LinkCodec.Link?
        try socket.request(dump: false, build: { buffer, seq in
            LinkCodec.writeGet(name: device, seq: seq, into: buffer)
        }, onError: { .routing(operation: "look up device \(device)", errno: $0) }, handle: { (nlh) throws(NetlinkError) in
            link = try LinkCodec.decode(nlh) ?? link
        })
        guard let table = link?.vrfTable else {
            throw NetlinkError.routing(operation: "device \(device) is not a VRF (ip link add \(device) type vrf table N)", errno: EINVAL)
        }
        return table
    }

    public func deviceName(_ index: UInt32) -> String? {
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &name) != nil else { return nil }
        return String(cString: name)
    }

    private func describe(_ route: FibRoute) -> String {
        guard case .unicast(let gateway, let device) = route.kind else { return route.description }
        let dst = route.isDefault ? "default" : "\(route.destination)/\(route.prefixLength)"
        return dst + (gateway.map { " via \($0)" } ?? "") + " dev \(deviceName(device) ?? "#\(device)") table \(route.table)"
    }

    /// One request, acknowledged.
    private func send(_ what: String, _ build: @escaping (UnsafeMutableRawPointer, UInt32) -> UnsafeMutablePointer<nlmsghdr>) throws(NetlinkError) {
        try socket.request(dump: false, build: { buffer, seq in build(UnsafeMutableRawPointer(buffer), seq) },
                           onError: { code in code == EPERM ? .permissionDenied(operation: what) : .routing(operation: what, errno: code) },
                           handle: { _ in })
    }
}

/// Carries a socket out of the namespace thread; the socket has a single owner throughout.
private final class RoutingSocketBox: @unchecked Sendable {
    let socket: NetlinkSocket
    init(_ socket: NetlinkSocket) { self.socket = socket }
}
