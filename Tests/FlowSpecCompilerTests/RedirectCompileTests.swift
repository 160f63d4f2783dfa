import Testing
import FlowSpec
@testable import FlowSpecCompiler

private let dst = Component.destinationPrefix(FlowPrefix("203.0.113.10/32")!)
private let dst6 = Component.destinationPrefix(FlowPrefix("2001:db8::1/128")!)
private let nextHop = IPAddress("192.0.2.10")!
private let rt = RouteTarget("65000:666")!

private func route(_ a: [FlowAction], family: AddressFamily = .ipv4) -> FlowRoute {
    FlowRoute(family: family, components: [family == .ipv4 ? dst : dst6], actions: a)
}

/// Redirects as the compiler lowers them (issue #22; docs/lowering.md, "Redirect").
@Suite struct RedirectCompileTests {
    @Test("redirect-to-IP sets the next hop's mark, merged or not")
    func nextHopMark() {
        for merge in [true, false] {
            let r = compile([route([.redirectToIP(nextHop, copy: false)])],
                            options: { var o = CompileOptions(merge: merge); o.nextHopMarks = [nextHop: 0x4653_0000]; return o }())
            #expect(r.rejected.isEmpty, "\(r.rejected)")
            #expect(marks(r) == [0x4653_0000])
        }
    }

    @Test("redirect-to-IP is rejected with its reason: the copy bit, a next hop of the other family, no mark")
    func refused() {
        var o = CompileOptions()
        o.nextHopMarks = [nextHop: 0x4653_0000]
        let copy = compile([route([.redirectToIP(nextHop, copy: true)])], options: o)
        #expect(copy.rejected.first?.reason.contains("copy bit") == true)
        let family = compile([route([.redirectToIP(nextHop, copy: false)], family: .ipv6)], options: o)
        #expect(family.rejected.first?.reason.contains("other family") == true)
        let unmapped = compile([route([.redirectToIP(IPAddress("192.0.2.11")!, copy: false)])], options: o)
        #expect(unmapped.rejected.first?.reason.contains("has no mark") == true)
    }

    @Test("rate and redirect-to-IP: the conforming rule marks, the excess is dropped")
    func rateAndRedirect() {
        var o = CompileOptions(merge: false)
        o.nextHopMarks = [nextHop: 0x4653_0001]
        let r = compile([route([.trafficRateBytes(asn: 0, bytesPerSecond: 10000), .redirectToIP(nextHop, copy: false)])], options: o)
        #expect(r.rejected.isEmpty)
        #expect(r.table.chains[0].rules.count == 2 && r.table.objects.count == 1)
        #expect(marks(r) == [0x4653_0001])
    }

    @Test("--unmapped-redirect: reject rejects the route, ignore applies its other actions with a note")
    func unmappedRedirect() {
        let routes = [route([.redirect(rt), .trafficRateBytes(asn: 0, bytesPerSecond: 0)])]
        let rejected = compile(routes)
        #expect(rejected.rejected.count == 1 && rejected.table.chains[0].rules.isEmpty)
        var o = CompileOptions()
        o.unmappedRedirect = .ignore
        let ignored = compile(routes, options: o)
        #expect(ignored.rejected.isEmpty)
        #expect(ignored.notes.contains { $0.message.contains("redirect is ignored") })
        #expect(marks(ignored).isEmpty)
        #expect(ignored.table.chains[0].rules.first?.expressions.contains(.immediateVerdict(.drop)) == true, "the drop applies")
    }

    @Test("the first redirect of either kind applies; a second is noted")
    func firstRedirectWins() {
        var o = CompileOptions(redirectMarks: [rt: 0x66])
        o.nextHopMarks = [nextHop: 0x4653_0000]
        let r = compile([route([.redirectToIP(nextHop, copy: false), .redirect(rt)])], options: o)
        #expect(marks(r) == [0x4653_0000])
        #expect(r.notes.contains { $0.message.contains("several redirect communities") })
        #expect(RedirectTarget(of: route([.redirect(rt), .redirectToIP(nextHop, copy: false)])) == .routeTarget(rt))
    }

    @Test("the incremental snapshot is keyed by the next hops' marks")
    func snapshotContext() {
        var a = CompileOptions(), b = CompileOptions()
        a.nextHopMarks = [nextHop: 0x4653_0000]
        b.nextHopMarks = [nextHop: 0x4653_0001]
        #expect(IncrementalTable.context(a, .rfc) != IncrementalTable.context(b, .rfc))
        #expect(IncrementalTable.context(a, .rfc) == IncrementalTable.context(a, .rfc))
    }
}
