import FlowSpec
import FlowSpecFormats
import Foundation

/// Follows GoBGP: one full read of the RIB at start (`GOBGP global rib -a ipv4-flowspec -j` and
/// ipv6), then the changes from `GOBGP monitor global rib -a ipv4-flowspec -j` (and ipv6) as
/// long-running children, line by line.
///
/// The full JSON RIB is expensive (~37 KB per route, and gobgpd keeps the memory), so it is read
/// only at start, after a monitor broke, and when the cheap `global rib -a … summary` count
/// differs from the agent's twice in a row (checked every `interval`). The monitors start
/// before the full read, so no change falls between the two: lines that arrive meanwhile are
/// applied after the snapshot, in order, and the result is the RIB as of the last line.
///
/// GoBGP 3.10's monitor ignores `-a` (checked on gobgpd 3.10: an ipv4-flowspec monitor prints
/// ipv6 paths too), so both monitors print every path, and the gobgp command formats each one
/// (with the whole MP_REACH of its UPDATE, ~37 KB of JSON) twice. The first monitor that
/// prints a path of the other family shows it: that monitor is then followed for both families
/// and the other one is ended. Until then each monitor keeps only the paths of its own family,
/// which is also how a GoBGP that honours `-a` is followed. (Its lines are in the order gobgpd
/// made the events, so events the ended monitor delivered first come again in order: the RIB
/// ends the same.)
public struct GoBGPSource: RouteSource {
    public let name = "gobgp"
    public let defaultDebounce: Duration = .milliseconds(200)
    public var gobgp: [String]
    public var interval: Duration
    public var commandTimeout: Duration

    /// `commandTimeout` nil: twice the interval, at least 30 s (a full JSON RIB is slow).
    public init(gobgp: [String], interval: Duration, commandTimeout: Duration? = nil) {
        self.gobgp = gobgp
        self.interval = interval
        self.commandTimeout = commandTimeout ?? max(interval * 2, .seconds(30))
    }

    static func familyArgument(_ f: AddressFamily) -> String { "\(f.name)-flowspec" }

    public func run(_ sink: any SourceSink) async {
        while !Task.isCancelled {
            await follow(sink)
            try? await Task.sleep(for: interval)
        }
    }

    /// Monitors + one full read + consistency checks, until a monitor ends or a full read fails.
    func follow(_ sink: any SourceSink) async {
        var monitors = [(AddressFamily, LineProcess)]()
        for family in [AddressFamily.ipv4, .ipv6] {
            do {
                monitors.append((family, try LineProcess(gobgp + ["monitor", "global", "rib", "-a", Self.familyArgument(family), "-j"])))
            } catch {
                await sink.deliver(.failed(error.description))
                for (_, m) in monitors { m.terminate() }
                return
            }
        }
        defer { for (_, m) in monitors { m.terminate() } }
        let started = monitors
        // Merge both monitors into one ordered stream of events.
        let (events, continuation) = AsyncStream.makeStream(of: (AddressFamily, StreamLine).self)
        let forwarders = monitors.map { family, m in
            Task {
                for await line in m.lines { continuation.yield((family, line)) }
            }
        }
        defer { forwarders.forEach { $0.cancel() } }

        switch await fullRead() {
        case .success(let r): await sink.deliver(.snapshot(r))
        case .failure(let e):
            // A read cut short by a shutdown is no news about the speaker.
            if !Task.isCancelled { await sink.deliver(.failed(e.description)) }
            return
        }

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var lineNumber = [AddressFamily.ipv4: 0, .ipv6: 0]
                // The monitor followed for both families once one showed it ignores `-a`.
                var sole: AddressFamily?
                for await (family, event) in events {
                    if let sole, family != sole { continue }
                    switch event {
                    case .line(let text):
                        lineNumber[family, default: 0] += 1
                        var r = GoBGPReader.readMonitorLine(text, lineNumber: lineNumber[family] ?? 0)
                        if sole == nil, r.routes.contains(where: { $0.route.family != family }) {
                            sole = family
                            for (f, m) in started where f != family { m.terminate() }
                        }
                        if sole == nil { r.routes.removeAll { $0.route.family != family } }
                        r.prefix("\(Self.familyArgument(family)) monitor")
                        if !r.routes.isEmpty || !r.errors.isEmpty { await sink.deliver(.update(r)) }
                    case .ended(let why):
                        await sink.deliver(.failed(why))
                        return
                    }
                }
            }
            group.addTask {
                var mismatches = [AddressFamily: Int]()
                var held = [AddressFamily: Int]()
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { return }
                    for family in [AddressFamily.ipv4, .ipv6] {
                        switch await summaryCount(family) {
                        case .failure(let e):
                            if !Task.isCancelled { await sink.deliver(.failed(e.description)) }
                            return
                        case .success(let theirs):
                            let ours = await sink.routeCount(family)
                            defer { held[family] = ours }
                            // Equal, or the monitor still moving the count (a load it has not
                            // caught up with, when a full read would only slow it): no drift.
                            if theirs == ours || held[family] != ours { mismatches[family] = 0; continue }
                            mismatches[family, default: 0] += 1
                            // One mismatch may be an UPDATE in flight; two in a row with the
                            // count standing still is drift.
                            if mismatches[family, default: 0] >= 2 {
                                mismatches = [:]
                                switch await fullRead() {
                                case .success(let r):
                                    await sink.deliver(.snapshot(r))
                                case .failure(let e):
                                    await sink.deliver(.failed("re-read after count mismatch (gobgp \(theirs), held \(ours)): \(e.description)"))
                                    return
                                }
                            }
                        }
                    }
                }
            }
            // Whichever ends first (a monitor gone, gobgpd unreachable) restarts everything.
            await group.next()
            group.cancelAll()
        }
        continuation.finish()
    }

    /// Both families' full JSON RIB.
    public func fullRead() async -> Result<ReadResult, SourceError> {
        var all = ReadResult()
        for family in [AddressFamily.ipv4, .ipv6] {
            let args = ["global", "rib", "-a", Self.familyArgument(family), "-j"]
            switch await gobgpCommand.run(args) {
            case .failure(let e): return .failure(e)
            case .success(let text):
                var part: ReadResult
                do { part = try GoBGPReader.read(text, family: family) } catch {
                    return .failure(SourceError("`gobgp \(args.joined(separator: " "))`: \(error.reason)"))
                }
                part.prefix(Self.familyArgument(family))
                all.append(part)
            }
        }
        return .success(all)
    }

    /// `Destination: N` of `global rib -a FAMILY summary`: the number of NLRIs, at any RIB size
    /// a few milliseconds.
    public func summaryCount(_ family: AddressFamily) async -> Result<Int, SourceError> {
        await gobgpCommand.destinations(family)
    }

    /// Reads `Destination: 12, Path: 12` out of GoBGP's summary text.
    public static func destinations(inSummary text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("Destination:") {
            let digits = line.dropFirst("Destination:".count).drop { $0 == " " }.prefix { $0.isNumber }
            return Int(digits)
        }
        return nil
    }

    var gobgpCommand: GoBGPCommand { GoBGPCommand(gobgp: gobgp, timeout: commandTimeout) }
}

/// The `gobgp` command, as both GoBGP sources run it: one invocation, its output as text.
struct GoBGPCommand {
    var gobgp: [String]
    var timeout: Duration

    func run(_ args: [String]) async -> Result<String, SourceError> {
        await Command(gobgp + args, timeout: timeout).output(what: "`gobgp \(args.joined(separator: " "))`")
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// `Destination: N` of `global rib -a FAMILY summary`.
    func destinations(_ family: AddressFamily) async -> Result<Int, SourceError> {
        switch await run(["global", "rib", "-a", GoBGPSource.familyArgument(family), "summary"]) {
        case .failure(let e): return .failure(e)
        case .success(let text):
            if let n = GoBGPSource.destinations(inSummary: text) { return .success(n) }
            return .failure(SourceError("gobgp summary for \(family.name) has no `Destination:` count: \(text.prefix(200))"))
        }
    }
}
