// fuzz-bgp-message: BGPMessage's stream framing (`frameLength`) and whole-message decoder
// (marker, header, UPDATE with its path attributes, MP_REACH/MP_UNREACH NLRI runs, communities).
// Properties: a message that decodes frames to its own length, and re-encodes to octets that
// decode to the same message.
import FlowSpec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBGPMessage(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(data, count)
    let framed = try? BGPMessage.frameLength(bytes)
    for options in [WireOptions.standard, .strict] {
        guard let message = try? BGPMessage.decode(bytes, options: options) else { continue }
        fuzzCheck(framed == bytes.count, "a decoded message of \(bytes.count) octets frames as \(String(describing: framed))")
        let out: [UInt8]
        do {
            out = try message.encode(maxLength: BGPMessage.maxExtendedLength)
        } catch {
            fuzzCheck(false, "a decoded message does not re-encode: \(error)")
            return 0
        }
        let again = try? BGPMessage.decode(out, options: options)
        fuzzCheck(again == message, "decode(encode(decode(x))) != decode(x)")
        if case .update(let update) = message {
            fuzzKeep(update.flowspec)
            fuzzKeep(update.isEndOfRIB)
        }
    }
    return 0
}
