// fuzz-update: the BGP speaker's tolerant UPDATE decoder (FlowSpecBGP.UpdateDecoder, RFC 7606) on
// an UPDATE body (the octets after the 19-octet header), with two session set-ups: both flowspec
// families, 4-octet AS, external peer; and IPv4 only, 2-octet AS, internal peer.
import FlowSpec
import FlowSpecBGP

let decoders = [
    UpdateDecoder(),
    UpdateDecoder(families: [.ipv4], fourOctetAS: false, external: false, options: .strict),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUpdate(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let body = fuzzBytes(data, count)
    for decoder in decoders {
        let result = decoder.decode(body: body)
        fuzzKeep(result.faults.map(\.description))
        fuzzKeep(result.announced.map(\.identity))
    }
    return 0
}
