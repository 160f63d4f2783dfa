import FlowSpec
import Testing
@testable import FlowSpecFormats

/// `explain`'s packet: protocol, endpoints, and the optional fields, each refused by the word at fault.
@Suite struct PacketTextTests {
    @Test func aTCPPacketWithItsFields() throws {
        let p = try PacketText.parse("tcp 198.51.100.7:40000 -> 203.0.113.10:443 flags syn,ack length 1400 dscp 46 df iif eth0")
        #expect(p.family == .ipv4 && p.src == IPAddress("198.51.100.7") && p.dst == IPAddress("203.0.113.10"))
        #expect(p.proto == 6 && p.sport == 40000 && p.dport == 443 && p.tcpFlags == 0x12)
        #expect(p.totalLength == 1400 && p.dscp == 46 && p.df && p.inputInterface == "eth0" && !p.established)
        // Without a length: the headers alone.
        #expect(try PacketText.parse("tcp 198.51.100.7:1 -> 203.0.113.10:2").totalLength == 40)
        #expect(try PacketText.parse("udp 198.51.100.7 to 203.0.113.10 established").established)
    }

    @Test func ipv6ICMPAndFragments() throws {
        let u = try PacketText.parse("udp [2001:db8::7]:5353 -> [2001:db8:113::10]:53 label 0x8e5 fragment first")
        #expect(u.family == .ipv6 && u.sport == 5353 && u.dport == 53 && u.flowLabel == 0x8e5)
        #expect(u.fragHeader && u.mf && u.fragOffset == 0 && u.totalLength == 40 + 8 + 8)
        let later = try PacketText.parse("udp 2001:db8::7 -> 2001:db8:113::10 fragment middle")
        #expect(later.fragOffset != 0 && later.mf && !later.isTransport)
        // ICMP type names by family: echo-request is 8 in ICMP, 128 in ICMPv6.
        #expect(try PacketText.parse("icmp 198.51.100.7 -> 203.0.113.10 type echo-request code 0").icmpType == 8)
        #expect(try PacketText.parse("icmpv6 2001:db8::7 -> 2001:db8::10 type echo-request").icmpType == 128)
        #expect(try PacketText.parse("58 2001:db8::7 -> 2001:db8::10 type 135").icmpType == 135)
    }

    @Test func mistakesNameTheirWord() {
        for (text, word) in [("", ""), ("tcp 198.51.100.7:1", "198.51.100.7:1"), ("tcp 198.51.100.7 => 203.0.113.10", "=>"),
                             ("tcp 198.51.100.7 -> 2001:db8::1", "2001:db8::1"), ("icmp 198.51.100.7:80 -> 203.0.113.10", "198.51.100.7:80"),
                             ("icmpv6 198.51.100.7 -> 203.0.113.10", "icmpv6"), ("tcp 198.51.100.7 -> 203.0.113.10 dscp 64", "64"),
                             ("udp 198.51.100.7 -> 203.0.113.10 flags syn", "flags"), ("tcp 198.51.100.7 -> 203.0.113.10 flags syn,bogus", "bogus"),
                             ("tcp 198.51.100.7 -> 203.0.113.10 label 1", "label"), ("tcp 198.51.100.7 -> 203.0.113.10 color red", "color"),
                             ("tcp 198.51.100.7 -> 203.0.113.10 length 10", "10"), ("ftp 198.51.100.7 -> 203.0.113.10", "ftp"),
                             ("tcp 198.51.100.300 -> 203.0.113.10", "198.51.100.300")] {
            do {
                _ = try PacketText.parse(text)
                Issue.record("\(text) was read")
            } catch {
                #expect(error.word == word, "\(text): \(error)")
            }
        }
    }
}
