// Shared by every fuzz target (compiled into each): the input as bytes or text, and the check
// that fails a run. A finding is anything that stops the process: a Swift trap (overflow, index
// out of range, a failed precondition), an AddressSanitizer report, a timeout, or `fuzzCheck`.

/// The input as UTF-8 text, invalid sequences replaced (the readers take `String`s).
@inline(never)
func fuzzText(_ data: UnsafePointer<UInt8>?, _ count: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
}

/// The input as an array of octets.
@inline(never)
func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: count))
}

/// A property of the decoder that must hold for every input; a failure is a finding.
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
               file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError("fuzz check failed: \(message())", file: file, line: line) }
}

/// Keeps a result alive so the optimizer cannot drop the work that made it.
@inline(never)
func fuzzKeep<T>(_ value: T) { withExtendedLifetime(value) {} }
