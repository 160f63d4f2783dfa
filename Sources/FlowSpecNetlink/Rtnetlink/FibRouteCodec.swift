import CNftnl
import FlowSpec
import FlowSpecCompiler

/// `FibRoute` <-> RTM_NEWROUTE / RTM_DELROUTE (struct rtmsg + RTA_* attributes), the encoder
/// beside the decoder, and `ip route get` (`writeGet`, `decodePath`).
enum FibRouteCodec {
    static func write(_ route: FibRoute, type: Int, flags: Int32, seq: UInt32,
                      into buffer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<nlmsghdr> {
        RtnlCodec.write(into: buffer, type: type, flags: flags, seq: seq, headerSize: flowspec_rtmsg_len(), header: { h in
            let rtm = h.assumingMemoryBound(to: rtmsg.self)
            rtm.pointee.rtm_family = RtnlCodec.af(route.family)
            rtm.pointee.rtm_dst_len = route.prefixLength
            rtm.pointee.rtm_table = route.table < 256 ? UInt8(route.table) : UInt8(RT_TABLE_UNSPEC.rawValue)
            rtm.pointee.rtm_protocol = route.protocolNumber
            switch route.kind {
            case .unicast(let gateway, _):
                rtm.pointee.rtm_type = UInt8(RTN_UNICAST)
                // A route straight out of a device reaches only that link (iproute2 does the same).
                rtm.pointee.rtm_scope = UInt8(gateway == nil ? RT_SCOPE_LINK.rawValue : RT_SCOPE_UNIVERSE.rawValue)
            case .unreachable:
                rtm.pointee.rtm_type = UInt8(RTN_UNREACHABLE)
                rtm.pointee.rtm_scope = UInt8(RT_SCOPE_UNIVERSE.rawValue)
            case .throw:
                rtm.pointee.rtm_type = UInt8(RTN_THROW)
                rtm.pointee.rtm_scope = UInt8(RT_SCOPE_UNIVERSE.rawValue)
            }
            // A delete matches any scope.
            if type == RTM_DELROUTE { rtm.pointee.rtm_scope = UInt8(RT_SCOPE_NOWHERE.rawValue) }
        }, body: { nlh in
            RtnlCodec.putU32(nlh, Int(RTA_TABLE.rawValue), route.table)
            if route.prefixLength > 0 { RtnlCodec.putAddress(nlh, Int(RTA_DST.rawValue), route.destination) }
            if case .unicast(let gateway, let device) = route.kind {
                if let gateway { RtnlCodec.putAddress(nlh, Int(RTA_GATEWAY.rawValue), gateway) }
                RtnlCodec.putU32(nlh, Int(RTA_OIF.rawValue), device)
            }
        })
    }

    /// The route a RTM_NEWROUTE message describes; nil for a route type the tool never makes
    /// (local, broadcast, multipath, ...), which it then leaves alone.
    static func decode(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> FibRoute? {
        guard Int(nlh.pointee.nlmsg_type) == RTM_NEWROUTE else { return nil }
        let rtm = header(nlh)
        guard let family = RtnlCodec.family(rtm.rtm_family) else { return nil }
        let attrs = try RtnlCodec.attributes(nlh, headerSize: flowspec_rtmsg_len())
        let kind: FibRoute.Kind
        switch Int(rtm.rtm_type) {
        case Int(RTN_UNICAST):
            guard let device = attrs.u32(Int(RTA_OIF.rawValue)) else { return nil }
            kind = .unicast(gateway: attrs.address(Int(RTA_GATEWAY.rawValue), family), device: device)
        case Int(RTN_UNREACHABLE): kind = .unreachable
        case Int(RTN_THROW): kind = .throw
        default: return nil
        }
        let destination = rtm.rtm_dst_len == 0 ? IPAddress.zero(family)
            : attrs.address(Int(RTA_DST.rawValue), family) ?? IPAddress.zero(family)
        return FibRoute(table: attrs.u32(Int(RTA_TABLE.rawValue)) ?? UInt32(rtm.rtm_table), destination: destination,
                        prefixLength: rtm.rtm_dst_len, kind: kind, protocolNumber: rtm.rtm_protocol)
    }

    /// A dump request for the tool's routes of `table` in `family`: the kernel filters on the table
    /// and the protocol (strict checking, `NETLINK_GET_STRICT_CHK`).
    static func writeDump(table: UInt32, family: AddressFamily, seq: UInt32,
                          into buffer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<nlmsghdr> {
        RtnlCodec.write(into: buffer, type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP, seq: seq,
                        headerSize: flowspec_rtmsg_len(), header: { h in
            let rtm = h.assumingMemoryBound(to: rtmsg.self)
            rtm.pointee.rtm_family = RtnlCodec.af(family)
            rtm.pointee.rtm_table = table < 256 ? UInt8(table) : UInt8(RT_TABLE_UNSPEC.rawValue)
        }, body: { nlh in RtnlCodec.putU32(nlh, Int(RTA_TABLE.rawValue), table) })
    }

    /// `ip route get ADDRESS`: RTM_GETROUTE for one destination.
    static func writeGet(_ address: IPAddress, seq: UInt32, into buffer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<nlmsghdr> {
        RtnlCodec.write(into: buffer, type: RTM_GETROUTE, flags: NLM_F_REQUEST, seq: seq, headerSize: flowspec_rtmsg_len(), header: { h in
            let rtm = h.assumingMemoryBound(to: rtmsg.self)
            rtm.pointee.rtm_family = RtnlCodec.af(address.family)
            rtm.pointee.rtm_dst_len = UInt8(address.family.bitWidth)
        }, body: { nlh in RtnlCodec.putAddress(nlh, Int(RTA_DST.rawValue), address) })
    }

    /// The answer to `writeGet`: out of which device, through which gateway. A local address
    /// (the next hop is this host) or a route of another type reaches no next hop.
    static func decodePath(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> NextHopPath {
        let rtm = header(nlh)
        guard Int(rtm.rtm_type) == Int(RTN_UNICAST), let family = RtnlCodec.family(rtm.rtm_family) else { return .unreachable }
        let attrs = try RtnlCodec.attributes(nlh, headerSize: flowspec_rtmsg_len())
        guard let device = attrs.u32(Int(RTA_OIF.rawValue)) else { return .unreachable }
        return .via(gateway: attrs.address(Int(RTA_GATEWAY.rawValue), family), device: device)
    }

    private static func header(_ nlh: UnsafePointer<nlmsghdr>) -> rtmsg {
        UnsafeRawPointer(nlh).advanced(by: Int(flowspec_nlmsghdr_len())).assumingMemoryBound(to: rtmsg.self).pointee
    }
}
