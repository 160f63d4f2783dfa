// fuzz-nlri-hex: NLRIHexReader, flowspec NLRIs as hex text (length-prefixed runs, one or more
// per line), read as IPv4 and as IPv6. Property: what it read prints (`parse`) and reads back
// through the canonical JSON reader as the same routes.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNLRIHex(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzCheckReadsBack(try? NLRIHexReader.read(text, family: .ipv4), "NLRIHexReader ipv4")
    fuzzCheckReadsBack(try? NLRIHexReader.read(text, family: .ipv6), "NLRIHexReader ipv6")
    return 0
}
