import CNftnl
import FlowSpec

/// What the rtnetlink encoders and decoders share: a message written with libmnl into a buffer
/// (host-order attributes, unlike nfnetlink's), and a message's attributes read with
/// `mnl_attr_parse`. Each object's encoder and decoder live together (`FibRuleCodec`,
/// `FibRouteCodec`, `LinkCodec`), as the nft expressions' do.
enum RtnlCodec {
    /// Writes one message at `buffer`: the netlink header (`type`, `flags`, `seq`), a family
    /// header of `headerSize` bytes filled by `header`, then the attributes `body` puts.
    static func write(into buffer: UnsafeMutableRawPointer, type: Int, flags: Int32, seq: UInt32, headerSize: Int,
                      header: (UnsafeMutableRawPointer) -> Void,
                      body: (UnsafeMutablePointer<nlmsghdr>) -> Void) -> UnsafeMutablePointer<nlmsghdr> {
        let nlh = mnl_nlmsg_put_header(buffer)!
        nlh.pointee.nlmsg_type = UInt16(type)
        nlh.pointee.nlmsg_flags = UInt16(flags)
        nlh.pointee.nlmsg_seq = seq
        let extra = mnl_nlmsg_put_extra_header(nlh, headerSize)!
        header(extra)
        body(nlh)
        return nlh
    }

    /// The message `write` makes, as bytes (for tests and for the connection's scratch buffer).
    static func bytes(_ nlh: UnsafeMutablePointer<nlmsghdr>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: nlh, count: Int(nlh.pointee.nlmsg_len)))
    }

    static func putU32(_ nlh: UnsafeMutablePointer<nlmsghdr>, _ type: Int, _ value: UInt32) {
        mnl_attr_put_u32(nlh, UInt16(type), value)
    }
    static func putU8(_ nlh: UnsafeMutablePointer<nlmsghdr>, _ type: Int, _ value: UInt8) {
        mnl_attr_put_u8(nlh, UInt16(type), value)
    }
    static func putAddress(_ nlh: UnsafeMutablePointer<nlmsghdr>, _ type: Int, _ address: IPAddress) {
        address.bytes.withUnsafeBytes { mnl_attr_put(nlh, UInt16(type), $0.count, $0.baseAddress) }
    }
    static func putString(_ nlh: UnsafeMutablePointer<nlmsghdr>, _ type: Int, _ s: String) {
        mnl_attr_put_strz(nlh, UInt16(type), s)
    }

    /// The attributes after a family header of `headerSize` bytes, by type (the last of a type wins).
    static func attributes(_ nlh: UnsafePointer<nlmsghdr>, headerSize: Int) throws(NetlinkError) -> Attributes {
        let found = Attributes()
        let box = Unmanaged.passUnretained(found).toOpaque()
        guard Int(nlh.pointee.nlmsg_len) >= Int(flowspec_nlmsghdr_len()) + headerSize,
              mnl_attr_parse(nlh, UInt32(headerSize), { attr, data in
                  Unmanaged<Attributes>.fromOpaque(data!).takeUnretainedValue().byType[mnl_attr_get_type(attr!)] = attr!
                  return MNL_CB_OK
              }, box) >= 0 else {
            throw .undecodable(object: "rtnetlink message \(nlh.pointee.nlmsg_type)", reason: "malformed attributes")
        }
        return found
    }

    /// The attributes nested in `attr`.
    static func nested(_ attr: UnsafePointer<nlattr>) throws(NetlinkError) -> Attributes {
        let found = Attributes()
        let box = Unmanaged.passUnretained(found).toOpaque()
        guard mnl_attr_parse_nested(attr, { attr, data in
            Unmanaged<Attributes>.fromOpaque(data!).takeUnretainedValue().byType[mnl_attr_get_type(attr!)] = attr!
            return MNL_CB_OK
        }, box) >= 0 else { throw .undecodable(object: "rtnetlink attribute \(mnl_attr_get_type(attr))", reason: "malformed nest") }
        return found
    }

    /// A message's attributes, borrowed from its buffer (valid while the message is).
    final class Attributes {
        var byType: [UInt16: UnsafePointer<nlattr>] = [:]

        subscript(_ type: Int) -> UnsafePointer<nlattr>? { byType[UInt16(type)] }

        func u32(_ type: Int) -> UInt32? {
            guard let a = self[type], mnl_attr_get_payload_len(a) >= 4 else { return nil }
            return mnl_attr_get_u32(a)
        }
        func u8(_ type: Int) -> UInt8? {
            guard let a = self[type], mnl_attr_get_payload_len(a) >= 1 else { return nil }
            return mnl_attr_get_u8(a)
        }
        func string(_ type: Int) -> String? {
            guard let a = self[type] else { return nil }
            let count = Int(mnl_attr_get_payload_len(a))
            let bytes = UnsafeRawBufferPointer(start: mnl_attr_get_payload(a), count: count)
            return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        /// An address attribute of `family` (4 or 16 bytes), or nil when absent or of another length.
        func address(_ type: Int, _ family: AddressFamily) -> IPAddress? {
            guard let a = self[type] else { return nil }
            let count = Int(mnl_attr_get_payload_len(a))
            guard count == (family == .ipv4 ? 4 : 16) else { return nil }
            return IPAddress(family: family, bytes: UnsafeRawBufferPointer(start: mnl_attr_get_payload(a), count: count))
        }
    }

    static func family(_ af: UInt8) -> AddressFamily? {
        switch Int32(af) { case AF_INET: .ipv4; case AF_INET6: .ipv6; default: nil }
    }

    static func af(_ family: AddressFamily) -> UInt8 { UInt8(family == .ipv4 ? AF_INET : AF_INET6) }
}
