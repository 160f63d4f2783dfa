// fuzz-nlri-hex: NLRIHexReader, flowspec NLRIs as hex text (length-prefixed runs, one or more
// per line), read as IPv4 and as IPv6.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNLRIHex(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzKeep(try? NLRIHexReader.read(text, family: .ipv4))
    fuzzKeep(try? NLRIHexReader.read(text, family: .ipv6))
    return 0
}
