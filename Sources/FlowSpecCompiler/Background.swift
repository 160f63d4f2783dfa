import Dispatch

/// A value computed on another thread while the caller goes on; `wait()` returns it.
///
/// For work off the critical path of a one-shot load: the kernel's part of a commit runs on one
/// CPU inside `sendmsg`, and what is only needed after it (the state of the table, the snapshot
/// file) can use the other one meanwhile. The work must only read what it captured: a copy of a
/// value, or an object nothing else touches until `wait()` has returned.
package final class Background<Value>: @unchecked Sendable {
    private var result: Value?
    private let finished = DispatchSemaphore(value: 0)
    private var joined = false

    package init(_ work: @escaping () -> Value) {
        nonisolated(unsafe) let work = work
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            result = work()
            finished.signal()
        }
    }

    /// Waits for the work to finish (the first call) and returns its value. Call from one thread.
    package func wait() -> Value {
        if !joined {
            finished.wait()
            joined = true
        }
        return result!
    }
}
