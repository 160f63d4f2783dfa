// fuzz-frr: FRRReader, FRR 8.4's `show bgp ipv4|ipv6 flowspec detail json` (arrays printed back
// to back), without and with the family hint; and the `flowspec summary json` helpers the
// FRR source polls with (`summaryFingerprint`, `establishedPeers`).
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFRR(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzKeep(try? FRRReader.read(text))
    fuzzKeep(try? FRRReader.read(text, family: .ipv6))
    fuzzKeep(FRRReader.summaryFingerprint(text))
    fuzzKeep(FRRReader.establishedPeers(inSummary: text, upForAtLeast: 3000))
    return 0
}
