import CNftnl
import FlowSpecCompiler
import Glibc

/// rtnetlink notifications that may move a redirect next hop: routes (IPv4, IPv6), addresses,
/// links. The tool's own routes (protocol 245) are not news: a change it made itself would
/// otherwise wake it again.
///
/// Not Sendable: one owner at a time (a `NextHopFollower`'s thread).
public final class RouteMonitor {
    let socket: NetlinkSocket

    /// Subscribes in the calling thread's network namespace.
    public init() throws(NetlinkError) {
        let groups = UInt32(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE)
        socket = try NetlinkSocket(protocol: NETLINK_ROUTE, groups: groups)
    }

    /// Waits up to `milliseconds` for notifications and reads all that are queued. True when one
    /// of them may move a next hop, or the queue overflowed (something may have been missed).
    public func waitForChange(milliseconds: Int32) throws(NetlinkError) -> Bool {
        guard socket.poll(milliseconds: milliseconds) else { return false }
        var relevant = false
        while true {
            let count: Int?
            do { count = try socket.receive(wait: false) } catch {
                if case .system(_, let code) = error, code == ENOBUFS { relevant = true; continue }
                throw error
            }
            guard let count else { return relevant }
            try socket.forEachMessage(count) { nlh in
                if Self.isNews(nlh) { relevant = true }
            }
        }
    }

    /// Whether a notification may move a next hop: any link or address change, a route change
    /// that is not the tool's own.
    static func isNews(_ nlh: UnsafePointer<nlmsghdr>) -> Bool {
        switch Int(nlh.pointee.nlmsg_type) {
        case RTM_NEWROUTE, RTM_DELROUTE:
            guard Int(nlh.pointee.nlmsg_len) >= Int(flowspec_nlmsghdr_len()) + Int(flowspec_rtmsg_len()) else { return false }
            let rtm = UnsafeRawPointer(nlh).advanced(by: Int(flowspec_nlmsghdr_len())).assumingMemoryBound(to: rtmsg.self).pointee
            return rtm.rtm_protocol != PolicyRouting.protocolNumber
        case RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR: return true
        default: return false
        }
    }
}
