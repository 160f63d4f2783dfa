import FlowSpec

/// Why a packet description could not be read: the word at fault and what was expected.
public struct PacketTextError: Error, Sendable, Hashable, CustomStringConvertible {
    public var word: String
    public var reason: String
    public init(word: String, _ reason: String) { self.word = word; self.reason = reason }
    public var description: String { word.isEmpty ? reason : "'\(word)': \(reason)" }
}

/// A packet written as people write one (`flowspec-nft explain`):
///
///     tcp 198.51.100.7:40000 -> 203.0.113.10:443 flags syn length 60
///     udp [2001:db8::7]:5353 -> [2001:db8:113::10]:53 dscp 46
///     icmp 198.51.100.7 -> 203.0.113.10 type echo-request
///     udp 198.51.100.7 -> 203.0.113.10 fragment middle
///
/// The protocol first (`tcp`, `udp`, `icmp`, `icmpv6`, `sctp`, `gre`, `esp`, `ah`, or a number),
/// then the source and the destination (`ADDRESS:PORT`, `[IPv6]:PORT`, or an address alone),
/// joined by `->` (or `to`, which a shell leaves alone: unquoted, `>` redirects); then any of: `length N` (the whole packet, IP header included; by default the
/// headers alone), `dscp N`, `flags F,F…` (TCP: `fin syn rst psh ack urg ece cwr` or a number),
/// `type T` and `code C` (ICMP: the names nft gives the family's types, or numbers),
/// `fragment none|first|middle|last`, `df`, `label N` (IPv6 flow label), `iif NAME` (the
/// interface it came in on), `established` (the reply of a flow connection tracking knows).
public enum PacketText {
    public static func parse(_ text: String) throws(PacketTextError) -> Packet {
        var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)[...]
        guard let protoWord = words.popFirst() else { throw PacketTextError(word: "", "empty: give PROTO SRC -> DST, e.g. tcp 198.51.100.7:40000 -> 203.0.113.10:443") }
        let proto = try number(protoWord, max: 255, names: ValueNames.protocols, what: "a protocol (tcp, udp, icmp, icmpv6, sctp, gre, esp, ah) or its number")
        guard let srcWord = words.popFirst() else { throw PacketTextError(word: protoWord, "the source address is missing") }
        let arrow = words.popFirst()
        guard let arrow, arrow == "->" || arrow == "to" else {
            throw PacketTextError(word: arrow ?? srcWord, "expected -> (or to) between the source and the destination")
        }
        guard let dstWord = words.popFirst() else { throw PacketTextError(word: arrow, "the destination address is missing") }
        let (src, sport) = try endpoint(srcWord), (dst, dport) = try endpoint(dstWord)
        guard src.family == dst.family else { throw PacketTextError(word: dstWord, "the source is \(src.family.name), the destination \(dst.family.name)") }
        let family = src.family
        let icmp: UInt8 = family == .ipv4 ? 1 : 58
        if proto == 1 && family == .ipv6 || proto == 58 && family == .ipv4 {
            throw PacketTextError(word: protoWord, "\(family.name) packets carry \(family == .ipv4 ? "icmp" : "icmpv6")")
        }
        var p = Packet(family: family, src: src, dst: dst, proto: UInt8(proto))
        let ported: Set<UInt8> = [6, 17, 132]
        if sport != nil || dport != nil, !ported.contains(p.proto) {
            throw PacketTextError(word: sport != nil ? srcWord : dstWord, "a port needs tcp, udp or sctp")
        }
        p.sport = sport ?? 0
        p.dport = dport ?? 0
        var length: UInt32?
        while let word = words.popFirst() {
            func value() throws(PacketTextError) -> String {
                guard let v = words.popFirst() else { throw PacketTextError(word: word, "a value must follow") }
                return v
            }
            switch word {
            case "length", "len": let v = try value(); length = UInt32(try number(v, max: 65535 + 40, what: "a length in octets"))
            case "dscp": p.dscp = UInt8(try number(try value(), max: 63, what: "a DSCP value, 0 to 63"))
            case "flags":
                guard p.proto == 6 else { throw PacketTextError(word: word, "TCP flags need tcp") }
                var flags: UInt64 = 0
                let v = try value()
                for f in v.split(whereSeparator: { $0 == "," || $0 == "+" || $0 == "|" }) {
                    flags |= try number(String(f), max: 0xfff, names: ValueNames.tcpFlags, what: "a TCP flag (fin syn rst psh ack urg ece cwr) or a number")
                }
                p.tcpFlags = UInt16(flags)
            case "type":
                guard p.proto == icmp else { throw PacketTextError(word: word, "an ICMP type needs \(family == .ipv4 ? "icmp" : "icmpv6")") }
                p.icmpType = UInt8(try number(try value(), max: 255, names: family == .ipv4 ? ValueNames.icmpTypes : ValueNames.icmpv6Types,
                                              what: "an ICMP type name or number"))
            case "code":
                guard p.proto == icmp else { throw PacketTextError(word: word, "an ICMP code needs \(family == .ipv4 ? "icmp" : "icmpv6")") }
                p.icmpCode = UInt8(try number(try value(), max: 255, what: "an ICMP code, 0 to 255"))
            case "fragment":
                let v = try value()
                switch v {
                case "none": p.mf = false; p.fragOffset = 0
                case "first": p.mf = true; p.fragOffset = 0
                case "middle": p.mf = true; p.fragOffset = 185
                case "last": p.mf = false; p.fragOffset = 185
                default: throw PacketTextError(word: v, "a fragment is none, first, middle or last")
                }
                if family == .ipv6 { p.fragHeader = v != "none" }
            case "df":
                guard family == .ipv4 else { throw PacketTextError(word: word, "only IPv4 has a don't-fragment bit") }
                p.df = true
            case "label":
                guard family == .ipv6 else { throw PacketTextError(word: word, "only IPv6 has a flow label") }
                p.flowLabel = UInt32(try number(try value(), max: 0xfffff, what: "a flow label, 0 to 0xfffff"))
            case "iif":
                let v = try value()
                guard !v.isEmpty, v.utf8.count <= 15 else { throw PacketTextError(word: v, "not an interface name (1 to 15 characters)") }
                p.inputInterface = v
            case "established": p.established = true
            default:
                throw PacketTextError(word: word, "expected length, dscp, flags, type, code, fragment, df, label, iif or established")
            }
        }
        p.totalLength = length ?? headers(p)
        let least = UInt32(family == .ipv4 ? 20 : 40)
        guard p.totalLength >= least else { throw PacketTextError(word: "\(p.totalLength)", "\(family.name) packets are at least \(least) octets") }
        return p
    }

    /// The headers' length: what a packet of no payload measures.
    static func headers(_ p: Packet) -> UInt32 {
        let ip: UInt32 = p.family == .ipv4 ? 20 : 40 + (p.fragHeader ? 8 : 0)
        guard p.isTransport else { return ip + 8 }
        switch p.proto {
        case 6: return ip + 20
        case 17, 1, 58: return ip + 8
        case 132: return ip + 12
        default: return ip
        }
    }

    /// `ADDRESS`, `ADDRESS:PORT` (IPv4), `[ADDRESS]:PORT` or `[ADDRESS]` (IPv6), `ADDRESS` (IPv6).
    static func endpoint(_ word: String) throws(PacketTextError) -> (IPAddress, UInt16?) {
        var host = Substring(word), port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw PacketTextError(word: word, "an IPv6 address in brackets needs its ]") }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw PacketTextError(word: word, "expected :PORT after ]") }
                port = rest.dropFirst()
            }
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard let address = IPAddress(host) else { throw PacketTextError(word: word, "not an IPv4 or IPv6 address") }
        guard let port else { return (address, nil) }
        guard let n = UInt16(port) else { throw PacketTextError(word: word, "the port must be 0 to 65535") }
        return (address, n)
    }

    /// A decimal or 0x number up to `max`, or one of `names`.
    static func number(_ word: String, max: UInt64, names: [String: UInt64] = [:], what: String) throws(PacketTextError) -> UInt64 {
        if let v = UInt64(decimalOrHex: Substring(word)) {
            guard v <= max else { throw PacketTextError(word: word, "\(what): at most \(max)") }
            return v
        }
        if let v = names[ValueNames.normalized(word)] { return v }
        throw PacketTextError(word: word, "expected \(what)")
    }
}
