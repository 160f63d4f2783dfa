// fuzz-bmp: the BMP station's framing (FlowSpecBGP.BMPFramer) on a byte stream read in pieces
// (the first octet picks the piece size), and every route monitoring message's UPDATE through
// the decoder `watch --bmp` uses (Loc-RIB: no ORIGIN/AS_PATH required).
import FlowSpec
import FlowSpecBGP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBMP(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(data, count)
    guard let first = bytes.first else { return 0 }
    let piece = Int(first) + 1
    var framer = BMPFramer()
    var decoder = UpdateDecoder(external: false)
    decoder.requiresOriginAndASPath = false
    var rib = AdjRIBIn()
    var i = 1
    reading: while i < bytes.count {
        framer.append(Array(bytes[i..<min(i + piece, bytes.count)]))
        i += piece
        while true {
            let message: BMPMessage?
            do { message = try framer.next() } catch { fuzzKeep([error.description]); break reading }
            guard let message else { break }
            if case .routeMonitoring(let peer, let body) = message {
                decoder.fourOctetAS = !peer.twoOctetASPath
                let u = decoder.decode(body: body)
                let c = rib.applyChanges(u)
                fuzzKeep(c.announced.map(\.identity))
            }
        }
    }
    return 0
}
