// Shared by the reader targets (compiled into each that reads text into a `ReadResult`).
import FlowSpecFormats

/// What a reader understood, as `flowspec-nft parse` prints it (`ParseOutput`), reads back
/// through the canonical JSON reader as the same routes, withdrawn flags included: the reader
/// gave routes the canonical format holds, and printing lost nothing.
func fuzzCheckReadsBack(_ result: ReadResult?, _ reader: String) {
    guard let result else { return }
    let text = ParseOutput.render(result)
    let again: ReadResult
    do {
        again = try CanonicalJSON.read(text)
    } catch {
        fuzzCheck(false, "\(reader): its parse output is unreadable (\(error)):\n\(text)")
        return
    }
    fuzzCheck(again.routes.map(\.route) == result.routes.map(\.route)
                  && again.routes.map(\.withdrawn) == result.routes.map(\.withdrawn),
              "\(reader): its parse output reads back differently (\(again.errors)):\n\(text)")
}
