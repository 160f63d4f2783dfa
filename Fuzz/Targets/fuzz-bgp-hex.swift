// fuzz-bgp-hex: BGPHexReader, BGP messages as hex text (one message per line, `#` comments).
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBGPHex(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzKeep(try? BGPHexReader.read(text))
    fuzzKeep(try? BGPHexReader.read(text, options: .strict))
    return 0
}
