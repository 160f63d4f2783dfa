// fuzz-exabgp: ExaBGPReader, ExaBGP 4.2's JSON API stream (one object per line: updates,
// End-of-RIB, state lines), as a captured stream (`readStream`) and line by line
// (`readMessage`, as `watch --source exabgp` reads it). Property: what it read prints (`parse`) and
// reads back through the canonical JSON reader as the same routes.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExaBGP(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = fuzzText(data, count)
    let stream = try? ExaBGPReader.readStream(text)
    fuzzCheckReadsBack(stream?.result, "ExaBGPReader")
    fuzzKeep(stream?.endOfRIB)
    fuzzKeep(ExaBGPReader.readMessage(text, lineNumber: 1))
    return 0
}
