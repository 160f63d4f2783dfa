// Shared by the reader targets (compiled into each that reads text into a `ReadResult`).
import FlowSpecFormats

/// What a reader understood, as `flowspec-nft parse` prints it (`ParseOutput`), reads back
/// through the canonical JSON reader as the same routes, withdrawn flags included: the reader
/// gave routes the canonical format holds, and printing lost nothing.
/// Only the first 32 routes and errors are checked: inputs of hundreds of small NLRIs made the
/// check most of a run's time, and the fuzzer can move any route to the front.
func fuzzCheckReadsBack(_ read: ReadResult?, _ reader: String) {
    guard let read else { return }
    let result = ReadResult(routes: Array(read.routes.prefix(32)), errors: Array(read.errors.prefix(32)))
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
