// fuzz-nlri: the flowspec NLRI codec (FlowNLRICodec, RFC 8955/8956) on a run of length-prefixed
// NLRIs, as MP_REACH_NLRI / MP_UNREACH_NLRI carry them, for both families, with the standard and
// the strict wire options. Property: the run re-encodes, and the re-encoded octets decode to the
// same run (decoding keeps all that encoding needs).
import FlowSpec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNLRI(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(data, count)
    for family in [AddressFamily.ipv4, .ipv6] {
        for options in [WireOptions.standard, .strict] {
            let list = FlowNLRICodec.decodeList(bytes, family: family, options: options)
            var out = [UInt8]()
            do {
                try list.encode(family: family, into: &out)
            } catch {
                fuzzCheck(false, "a decoded \(family) NLRI run does not re-encode: \(error)")
            }
            let again = FlowNLRICodec.decodeList(out, family: family, options: options)
            fuzzCheck(again == list, "\(family) NLRI run: decode(encode(decode(x))) != decode(x)")
            for entry in list.entries {
                if let components = entry.components {
                    fuzzKeep(FlowRoute(family: family, components: components).identity)
                }
            }
        }
    }
    return 0
}
