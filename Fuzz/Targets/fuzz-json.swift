// fuzz-json: CanonicalJSON.read, the canonical route format (docs/format.md), from raw octets as
// `apply`/`compile` read a file (the streaming tokenizer, the route decoder, terms and actions).
// Property: the routes read write back (`CanonicalJSON.write`) and read again as the same routes.
import FlowSpec
import FlowSpecFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let result = try? CanonicalJSON.read(fuzzBytes(data, count)) else { return 0 }
    // Lossless: the routes read write back (CanonicalJSON.write) and read again the same.
    let routes = result.routes.map(\.route)
    let text = CanonicalJSON.write(routes)
    guard let again = try? CanonicalJSON.read(text) else {
        fuzzCheck(false, "the routes read do not write back readably:\n\(text)")
        return 0
    }
    fuzzCheck(again.routes.map(\.route) == routes, "the routes read write back differently (\(again.errors)):\n\(text)")
    return 0
}
