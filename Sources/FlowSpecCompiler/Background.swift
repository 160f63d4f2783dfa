#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// A value computed on a thread of its own while the caller goes on; `wait()` returns it.
///
/// For work off the critical path of a one-shot load: the kernel's part of a commit runs on one
/// CPU inside `sendmsg`, and what is only needed after it (the state of the table, the snapshot
/// file) can use the other one meanwhile. The work must only read what it captured: a copy of a
/// value, or an object nothing else touches until `wait()` has returned.
///
/// A thread of its own, not a dispatch queue or a task: callers block in `wait()`, and some work
/// waits for work of its own (a table's shape is made in the background and makes its halves in
/// the background). Dispatch's workers are as many as CPUs, with one more added about once a
/// second while all are blocked: nested waits stalled there for seconds (the daemon tests saw
/// two minutes), and a task would wait for Swift concurrency's threads, which callers block.
package final class Background<Value>: @unchecked Sendable {
    private final class Outcome: @unchecked Sendable {
        var value: Value?
        let finished = DispatchSemaphore(value: 0)
    }

    private let outcome = Outcome()
    private var joined = false

    package init(_ work: @escaping () -> Value) {
        let outcome = outcome
        let body = {
            outcome.value = work()
            outcome.finished.signal()
        }
        let start = Unmanaged.passRetained(ThreadStart(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { argument in
            Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, start)
        if created != 0 {
            // No thread to be had: the work is done here, before the caller goes on.
            Unmanaged<ThreadStart>.fromOpaque(start).release()
            body()
        }
    }

    /// Waits for the work to finish (the first call) and returns its value. Call from one thread.
    package func wait() -> Value {
        if !joined {
            outcome.finished.wait()
            joined = true
        }
        return outcome.value!
    }
}

/// What a thread made by `Background` runs (not generic: a C thread entry cannot be).
private final class ThreadStart {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
