// fuzz-json: CanonicalJSON.read, the canonical route format (docs/format.md), from raw octets as
// `apply`/`compile` read a file (the streaming tokenizer, the route decoder, terms and actions).
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    fuzzKeep(try? CanonicalJSON.read(fuzzBytes(data, count)))
    return 0
}
