import CNftnl
import FlowSpec

/// RTM_GETLINK by name, and the VRF table of the RTM_NEWLINK answer (IFLA_LINKINFO →
/// IFLA_INFO_KIND "vrf", IFLA_INFO_DATA → IFLA_VRF_TABLE): the encoder beside the decoder.
enum LinkCodec {
    static func writeGet(name: String, seq: UInt32, into buffer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<nlmsghdr> {
        RtnlCodec.write(into: buffer, type: RTM_GETLINK, flags: NLM_F_REQUEST, seq: seq, headerSize: flowspec_ifinfomsg_len(), header: { h in
            h.assumingMemoryBound(to: ifinfomsg.self).pointee.ifi_family = UInt8(AF_UNSPEC)
        }, body: { nlh in RtnlCodec.putString(nlh, Int(IFLA_IFNAME), name) })
    }

    /// What an RTM_NEWLINK says of the device: its name, index, and its table when it is a VRF.
    struct Link: Hashable {
        var name: String
        var index: Int32
        /// The VRF's table (IFLA_VRF_TABLE); nil for any other kind of device.
        var vrfTable: UInt32?
    }

    static func decode(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> Link? {
        guard Int(nlh.pointee.nlmsg_type) == RTM_NEWLINK else { return nil }
        let ifi = UnsafeRawPointer(nlh).advanced(by: Int(flowspec_nlmsghdr_len())).assumingMemoryBound(to: ifinfomsg.self).pointee
        let attrs = try RtnlCodec.attributes(nlh, headerSize: flowspec_ifinfomsg_len())
        var table: UInt32?
        if let info = attrs[Int(IFLA_LINKINFO)] {
            let inner = try RtnlCodec.nested(info)
            if inner.string(Int(IFLA_INFO_KIND)) == "vrf", let data = inner[Int(IFLA_INFO_DATA)] {
                table = try RtnlCodec.nested(data).u32(Int(IFLA_VRF_TABLE))
            }
        }
        return Link(name: attrs.string(Int(IFLA_IFNAME)) ?? "", index: ifi.ifi_index, vrfTable: table)
    }
}
