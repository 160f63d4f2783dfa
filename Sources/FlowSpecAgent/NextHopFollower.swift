import Dispatch
import FlowSpecNetlink
import Foundation

/// Keeps an agent's redirect next hops current: waits on rtnetlink notifications (routes,
/// addresses, links; `RouteMonitor`) on a thread of its own, and once they have been quiet for
/// `settle`, has the agent resolve the next hops again (`Agent.followNextHops`), which changes
/// only the routes of a next hop whose path changed. A burst of notifications (a link flap, a
/// routing daemon's full table) becomes one resolution.
public final class NextHopFollower: @unchecked Sendable {
    private let agent: Agent
    private let settle: Duration
    private let monitor: RouteMonitor
    private let lock = NSLock()
    private var stopped = false
    private var started = false
    private let finished = DispatchSemaphore(value: 0)

    /// Subscribes now, in the calling thread's network namespace (the agent's).
    public init(agent: Agent, settle: Duration = .milliseconds(200)) throws {
        self.agent = agent
        self.settle = settle
        monitor = try RouteMonitor()
    }

    /// Starts following (once).
    public func start() {
        guard lock.withLock({ let first = !started; started = true; return first }) else { return }
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            let settleMilliseconds = Int32(settle.components.seconds * 1000 + settle.components.attoseconds / 1_000_000_000_000_000)
            while !isStopped {
                do {
                    guard try monitor.waitForChange(milliseconds: 250) else { continue }
                    while try monitor.waitForChange(milliseconds: max(settleMilliseconds, 1)), !isStopped {}
                } catch {
                    // A socket error: resolve anyway (something may have changed), then go on,
                    // no faster than once per settle time.
                    Thread.sleep(forTimeInterval: Double(max(settleMilliseconds, 100)) / 1000)
                }
                if isStopped { break }
                let done = DispatchSemaphore(value: 0)
                let agent = self.agent
                Task { await agent.followNextHops(); done.signal() }
                done.wait()
            }
        }
    }

    /// Stops following and waits for the thread to end (within a quarter of a second).
    public func stop() {
        let running = lock.withLock { stopped = true; return started }
        if running { finished.wait() }
    }

    private var isStopped: Bool { lock.withLock { stopped } }
}
