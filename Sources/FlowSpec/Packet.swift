/// A packet reduced to what flowspec looks at: addresses, protocol, ports or ICMP type and code,
/// TCP flags, length, DSCP, fragmentation, the IPv6 flow label, and the interface it came in on.
/// `flowspec-nft explain` runs one through the installed table (`TableInterpreter`); the tests
/// run thousands through compiled tables against the RFC's meaning.
public struct Packet: Sendable, Hashable, CustomStringConvertible {
    public var family: AddressFamily
    public var src: IPAddress
    public var dst: IPAddress
    /// The IP protocol (IPv4) or the upper-layer next header (IPv6).
    public var proto: UInt8
    public var sport: UInt16 = 0, dport: UInt16 = 0
    public var icmpType: UInt8 = 0, icmpCode: UInt8 = 0
    /// The TCP flags, 12 bits as on the wire (NS, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN and
    /// the reserved bits).
    public var tcpFlags: UInt16 = 0
    /// The whole packet's length, IP header included (RFC 8955 packet length).
    public var totalLength: UInt32 = 60
    public var dscp: UInt8 = 0
    /// IPv4 don't-fragment; more-fragments (IPv4, or the IPv6 Fragment header's M bit).
    public var df = false, mf = false
    /// The fragment offset in 8-octet units: not 0 for a fragment other than the first.
    public var fragOffset: UInt16 = 0
    /// IPv6: the packet carries a Fragment header.
    public var fragHeader = false
    public var flowLabel: UInt32 = 0
    /// The interface the packet arrived on (`meta iifname`); empty: none (a local packet).
    public var inputInterface = ""
    /// Connection tracking has seen the packet's flow both ways (`ct state established`), as the
    /// reply of an allowed flow; false: the first packet of a flow (`ct state new`).
    public var established = false

    public init(family: AddressFamily, src: IPAddress, dst: IPAddress, proto: UInt8) {
        self.family = family; self.src = src; self.dst = dst; self.proto = proto
    }

    /// Whether the transport header is there to be read: not in a non-first fragment.
    public var isTransport: Bool { fragOffset == 0 }

    public var description: String {
        "\(src)→\(dst) proto \(proto) sport \(sport) dport \(dport) icmp \(icmpType)/\(icmpCode) flags 0x\(String(tcpFlags, radix: 16)) len \(totalLength) dscp \(dscp) df \(df) mf \(mf) off \(fragOffset) fh \(fragHeader) label \(flowLabel)\(inputInterface.isEmpty ? "" : " iif " + inputInterface)"
    }
}
