import CNftnl
import FlowSpec
import FlowSpecCompiler

/// `FibRule` <-> RTM_NEWRULE / RTM_DELRULE (struct fib_rule_hdr + FRA_* attributes), the
/// encoder beside the decoder. The header's 8-bit table is the table when it fits (as iproute2
/// writes it), RT_TABLE_UNSPEC otherwise; FRA_TABLE always carries the whole 32 bits.
enum FibRuleCodec {
    static func write(_ rule: FibRule, type: Int, flags: Int32, seq: UInt32,
                      into buffer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<nlmsghdr> {
        RtnlCodec.write(into: buffer, type: type, flags: flags, seq: seq, headerSize: flowspec_fib_rule_hdr_len(), header: { h in
            let frh = h.assumingMemoryBound(to: fib_rule_hdr.self)
            frh.pointee.family = RtnlCodec.af(rule.family)
            frh.pointee.table = rule.table < 256 ? UInt8(rule.table) : 0
            frh.pointee.action = UInt8(FR_ACT_TO_TBL)
        }, body: { nlh in
            RtnlCodec.putU32(nlh, Int(FRA_PRIORITY), rule.priority)
            RtnlCodec.putU32(nlh, Int(FRA_FWMARK), rule.mark)
            RtnlCodec.putU32(nlh, Int(FRA_FWMASK), rule.mask)
            RtnlCodec.putU32(nlh, Int(FRA_TABLE), rule.table)
            RtnlCodec.putU8(nlh, Int(FRA_PROTOCOL), rule.protocolNumber)
        })
    }

    /// The rule a RTM_NEWRULE message describes, or nil when it is not a fwmark → table rule of
    /// IPv4 or IPv6 (the tool makes no other kind, and leaves every other rule alone).
    static func decode(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> FibRule? {
        guard Int(nlh.pointee.nlmsg_type) == RTM_NEWRULE else { return nil }
        let attrs = try RtnlCodec.attributes(nlh, headerSize: flowspec_fib_rule_hdr_len())
        let frh = UnsafeRawPointer(nlh).advanced(by: Int(flowspec_nlmsghdr_len())).assumingMemoryBound(to: fib_rule_hdr.self).pointee
        guard let family = RtnlCodec.family(frh.family), Int(frh.action) == Int(FR_ACT_TO_TBL),
              let mark = attrs.u32(Int(FRA_FWMARK)) else { return nil }
        return FibRule(family: family, priority: attrs.u32(Int(FRA_PRIORITY)) ?? 0, mark: mark,
                       mask: attrs.u32(Int(FRA_FWMASK)) ?? 0xffff_ffff,
                       table: attrs.u32(Int(FRA_TABLE)) ?? UInt32(frh.table),
                       protocolNumber: attrs.u8(Int(FRA_PROTOCOL)) ?? 0)
    }

    /// A dump request for every rule of `family`.
    static func writeDump(family: AddressFamily, seq: UInt32, into buffer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<nlmsghdr> {
        RtnlCodec.write(into: buffer, type: RTM_GETRULE, flags: NLM_F_REQUEST | NLM_F_DUMP, seq: seq,
                        headerSize: flowspec_fib_rule_hdr_len(), header: { h in
            h.assumingMemoryBound(to: fib_rule_hdr.self).pointee.family = RtnlCodec.af(family)
        }, body: { _ in })
    }
}
