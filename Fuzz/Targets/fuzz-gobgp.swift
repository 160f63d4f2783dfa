// fuzz-gobgp: GoBGPReader, GoBGP 3.10's `gobgp global rib -a ipv4-flowspec|ipv6-flowspec -j`
// dump and the `gobgp monitor global rib -j` line stream, on the same text. Property: what it read
// prints (`parse`) and reads back through the canonical JSON reader as the same routes.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGoBGP(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    fuzzCheckReadsBack(try? GoBGPReader.read(text), "GoBGPReader dump")
    fuzzCheckReadsBack(try? GoBGPReader.readMonitor(text), "GoBGPReader monitor")
    return 0
}
