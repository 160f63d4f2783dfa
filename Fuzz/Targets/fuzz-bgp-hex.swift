// fuzz-bgp-hex: BGPHexReader, BGP messages as hex text (one message per line, `#` comments),
// with the standard and the strict wire options. Property: what it read prints (`parse`) and reads
// back through the canonical JSON reader as the same routes.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBGPHex(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzCheckReadsBack(try? BGPHexReader.read(text), "BGPHexReader")
    fuzzKeep(try? BGPHexReader.read(text, options: .strict))
    return 0
}
