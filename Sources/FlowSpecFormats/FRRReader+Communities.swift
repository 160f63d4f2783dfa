import FlowSpec

/// FRR 8.4's `ecomlist` text (`ecommunity_ecom2str` with the route-map format), read back into
/// extended communities.
extension FRRReader {
    /// The items of an `ecomlist`, each with its words: `FS:rate 125000.000000`,
    /// `FS:redirect VRF RT:65309:100`, `FS:action eval stops`, `NH:192.0.2.1:0`, `65309:100`.
    ///
    /// Items are separated by single spaces but some items contain spaces, so a word starts a new
    /// item when it has the `NAME:` shape (or is a bare `A:N` route target) and does not follow
    /// `VRF` (whose `RT:` word belongs to the redirect).
    static func items(_ list: String) -> [[Substring]] {
        var out = [[Substring]]()
        let words = list.split(separator: " ", omittingEmptySubsequences: true)
        for (i, w) in words.enumerated() {
            let startsItem = out.isEmpty || (startsNewItem(w) && words[i - 1] != "VRF")
            if startsItem { out.append([w]) } else { out[out.count - 1].append(w) }
        }
        return out
    }

    private static func startsNewItem(_ w: Substring) -> Bool {
        guard let colon = w.firstIndex(of: ":"), colon != w.startIndex else { return false }
        let head = w[..<colon]
        if head.allSatisfy({ $0.isLetter || $0 == "-" }) { return true }
        // Route targets and site-of-origin print bare in this format: `65309:100`, `192.0.2.1:10`.
        return head.allSatisfy { $0.isNumber || $0 == "." } && w[w.index(after: colon)...].allSatisfy(\.isNumber)
    }

    /// The communities FRR's text allows to rebuild, and warnings for what it does not.
    static func communitiesFrom(_ list: String) -> ([ExtendedCommunity], [String]) {
        var out = [ExtendedCommunity]()
        var warnings = [String]()
        for item in items(list) {
            let text = item.joined(separator: " ")
            let head = item[0]
            if head == "FS:rate", item.count == 2, let rate = Float(String(item[1])) {
                out.append(FlowAction.trafficRateBytes(asn: 0, bytesPerSecond: rate).community)
            } else if head == "FS:marking", item.count == 2, let v = UInt8(item[1]) {
                out.append(FlowAction.trafficMarking(dscp: v & 0x3f, value: UInt64(v)).community)
            } else if head == "FS:action" {
                out.append(FlowAction.trafficAction(sample: false, terminal: false).community)
                warnings.append("\"\(text)\": FRR 8.4 prints this for every traffic-action (0x8007) it receives — terminal (0x1), sample (0x2) and both (0x3) alike — because it tests the wrong octet; the T and S bits cannot be recovered from this output, so the community is read as traffic-action with no bit set (evaluation stops, no sampling), which is only what the text literally says")
            } else if head == "FS:redirect", item.count == 3, item[1] == "VRF", item[2].hasPrefix("RT:") {
                let rtText = item[2].dropFirst(3)
                guard let rt = RouteTarget(rtText) else {
                    warnings.append("\"\(text)\": redirect target not understood; dropped"); continue
                }
                out.append(FlowAction.redirect(rt).community)
                if item[2].count >= 15 {
                    warnings.append("\"\(text)\": FRR 8.4 prints redirect targets into a 16-byte buffer, so this text may be truncated (e.g. 0x8108 192.0.2.1:100 shows as RT:192.0.2.1:10); the local part read (\(rt.local)) may be missing digits")
                }
            } else if head.hasPrefix("NH:"), item.count == 1 {
                // Redirect-to-IP (0x010c): `NH:<IPv4>:<last octet>`, whose bit 0 is the copy flag.
                let body = head.dropFirst(3)
                guard let colon = body.lastIndex(of: ":"), let ip = IPAddress(body[..<colon]), ip.family == .ipv4,
                      let flags = UInt8(body[body.index(after: colon)...]) else {
                    warnings.append("\"\(text)\": not understood; dropped"); continue
                }
                out.append(ExtendedCommunity(type: 0x01, subtype: 0x0c, value: UInt64(ip.ipv4Value) << 16 | UInt64(flags)))
            } else if item.count == 1, let rt = RouteTarget(head.hasPrefix("RT:") ? head.dropFirst(3) : head) {
                out.append(FlowAction.routeTarget(rt).community)
                if !head.hasPrefix("RT:") {
                    warnings.append("\"\(text)\": read as a route target; in this output FRR prints route targets and site-of-origin the same way")
                }
            } else {
                warnings.append("extended community \"\(text)\" not understood; dropped")
            }
        }
        return (out, warnings)
    }

    /// FRR 8.4's `ecom6list` (the IPv6 address-specific extended communities, attribute 25, in
    /// `ecommunity_ecom2str`'s route-map format), read back where the text allows.
    ///
    /// FRR 8.4 prints its own rt-redirect-ipv6 code 0x800d as `FS:redirect VRF RT:<IPv6>:<N>`,
    /// which gives the 20 octets back. It prints the draft's redirect-to-IPv6 0x000c and RFC 8956's
    /// rt-redirect-ipv6 0x000d as `UNK:0, 12` and `UNK:0, 13`, without the address: such a route
    /// cannot be read from this output (its redirect would be lost), so it is an error. Other
    /// `UNK:` items are unknown communities, dropped with a warning; anything else (FRR 8.4 prints
    /// a 20-octet route target through its 8-octet code, garbling it) too.
    static func ipv6CommunitiesFrom(_ list: String) -> Result<([IPv6ExtendedCommunity], [String]), SpeakerProblem> {
        var out = [IPv6ExtendedCommunity]()
        var warnings = [String]()
        let words = list.split(separator: " ", omittingEmptySubsequences: true)
        var i = 0
        while i < words.count {
            var item = [words[i]]
            if words[i] == "FS:redirect" { item += words[(i + 1)..<min(i + 3, words.count)] }
            else if words[i].hasPrefix("UNK:"), words[i].hasSuffix(","), i + 1 < words.count { item.append(words[i + 1]) }
            i += item.count
            let text = item.joined(separator: " ")
            if item.count == 3, item[0] == "FS:redirect", item[1] == "VRF", item[2].hasPrefix("RT:") {
                guard let c = IPv6ExtendedCommunity(type: 0x80, subtype: 0x0d, addressAndLocal: item[2].dropFirst(3)) else {
                    warnings.append("\"\(text)\": redirect target not understood; dropped"); continue
                }
                out.append(c)
            } else if text == "UNK:0, 12" {
                return .failure("\"\(text)\": FRR 8.4 prints a redirect to an IPv6 next hop (0x000c, draft-ietf-idr-flowspec-redirect-ip) this way, without the next hop, so the route cannot be read from this output (read it from the wire: the listener or a capture)")
            } else if text == "UNK:0, 13" {
                return .failure("\"\(text)\": FRR 8.4 prints rt-redirect-ipv6 (0x000d, RFC 8956 §6.1) this way, without the route target, so the route cannot be read from this output (read it from the wire: the listener or a capture)")
            } else {
                warnings.append("IPv6 extended community \"\(text)\" not understood; dropped")
            }
        }
        return .success((out, warnings))
    }
}
