// fuzz-frr: FRRReader, FRR 8.4's `show bgp ipv4|ipv6 flowspec detail json` (arrays printed back
// to back), without and with the family hint; and the `flowspec summary json` helpers the
// FRR source polls with (`summaryFingerprint`, `establishedPeers`). Property: what the reader read
// prints (`parse`) and reads back through the canonical JSON reader as the same routes.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFRR(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzCheckReadsBack(try? FRRReader.read(text), "FRRReader")
    fuzzKeep(try? FRRReader.read(text, family: .ipv6))
    fuzzKeep(FRRReader.summaryFingerprint(text))
    fuzzKeep(FRRReader.establishedPeers(inSummary: text, upForAtLeast: 3000))
    return 0
}
