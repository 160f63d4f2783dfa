// fuzz-gobgp: GoBGPReader, GoBGP 3.10's `gobgp global rib -a ipv4-flowspec|ipv6-flowspec -j`
// dump and the `gobgp monitor global rib -j` line stream, on the same text.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGoBGP(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzKeep(try? GoBGPReader.read(text))
    fuzzKeep(try? GoBGPReader.readMonitor(text))
    return 0
}
