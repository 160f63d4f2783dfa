import Dispatch
import Foundation
import Testing
@testable import FlowSpecCompiler

/// `Background` runs its work on a thread of its own: callers block in `wait()`, also from Swift
/// concurrency's threads and from other background work, and the work must not need a thread of
/// a pool those waiters may hold.
@Suite(.timeLimit(.minutes(1))) struct BackgroundTests {
    @Test func runsBesideTheCallerAndBesideEachOther() {
        let gate = DispatchSemaphore(value: 0)
        // The first can only finish once the second has run: run in turn, they would never end.
        let first = Background { () -> Int in gate.wait(); return 1 }
        let second = Background { () -> Int in gate.signal(); return 2 }
        #expect(first.wait() == 1 && second.wait() == 2)
        #expect(first.wait() == 1, "a second wait returns the same value")
    }

    @Test func completesWhileEveryConcurrencyThreadWaits() async {
        // More tasks than the cooperative pool has threads, each blocking its thread until its
        // work has started: work run as tasks of that pool would never start.
        let tasks = ProcessInfo.processInfo.activeProcessorCount * 4
        let sum = await withTaskGroup(of: Int.self) { group in
            for i in 0..<tasks {
                group.addTask {
                    let started = DispatchSemaphore(value: 0)
                    let work = Background { () -> Int in started.signal(); return i }
                    started.wait()
                    return work.wait()
                }
            }
            return await group.reduce(0, +)
        }
        #expect(sum == tasks * (tasks - 1) / 2)
    }

    @Test func workThatWaitsForWorkCompletes() {
        // A table's shape is made in the background, and makes its halves in the background. On
        // dispatch's worker pool (as many threads as CPUs, one more added about once a second when
        // all are blocked) 128 such waits at once took over two minutes: the queued inner work
        // needs a thread that outer work holds. Here every work has its thread: milliseconds.
        let outer = (0..<128).map { i in Background { Background { i }.wait() } }
        #expect(outer.reduce(0) { $0 + $1.wait() } == 128 * 127 / 2)
    }
}
