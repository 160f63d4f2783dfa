import ArgumentParser
import FlowSpec
import FlowSpecAgent
import FlowSpecCompiler
import FlowSpecFormats
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure loading generated route sets, against nft -f and iptables-restore (private namespace).",
        discussion: """
        For each size N, writes the deterministic generator's N routes (RouteGenerator) as a \
        canonical JSON file and measures, in a fresh private network namespace, interleaved and \
        repeated --runs times: this tool's one-shot `apply` (a child process: file to committed \
        table, fresh and as an atomic replace, with its parse+compile / netlink build / kernel \
        split and peak RSS), merged (the default) and one rule per route (--no-merge), and a \
        one-shot `apply` of the file with one route changed (a delta from the saved state, both \
        forms); `nft -f` of the compiler's unmerged nft text (fresh and replace) and of its \
        merged text; iptables-legacy-restore and iptables-nft-restore of equivalent rules; and, \
        in this process, delta updates changing 1 route, 1% and 10% of the routes, merged \
        (without dispatch: a dispatch table is replaced whole; a change too large to place is \
        reported as such) and --no-merge. With --datapath, also the packets/s a router namespace forwards with the \
        table installed (iperf3 UDP from h1 to h2 through r, traffic matching no route; empty, \
        merged and --no-merge tables). Prints tables and writes bench.csv, bench.json (and \
        datapath.csv, datapath.json) to --out \
        (scripts/plot-bench.py draws bench.png and datapath.png). Needs root.
        """)

    @Option(help: "The routes: uniform (RouteGenerator: four shapes, what merging was built on) or mixed (MixedRouteGenerator: what DDoS and segmentation controllers push together, every route nearly its own shape; docs/benchmarks.md gives its proportions).")
    var workload: Workload = .uniform

    @Option(help: "Route counts, comma separated (1000000 works; it takes minutes).")
    var sizes: String = "1000,10000,100000"

    @Option(help: "Repetitions of every measurement (median, min and max are reported).")
    var runs: Int = 3

    @Option(help: "Directory for bench.csv, bench.json and the generated inputs.")
    var out: String = "bench-results"

    @Option(help: "Largest N for nft -f and the iptables tools (they get slow beyond 100k).")
    var externalMax: Int = 100_000

    @Option(help: "Largest N for the in-process delta and merged-update rows (each installs the N-route table several times).")
    var deltaMax: Int = 100_000

    @Option(help: "Largest N for timing the netlink read-back of the table (13 s at 100k).")
    var listMax: Int = 10_000

    struct Row: Codable { var n: Int; var method: String; var run: Int; var total: Double; var user: Double?; var kernel: Double?; var rssMB: Double? }

    @Flag(help: "Only the one-shot fresh loads, merged and --no-merge (time and peak RSS): a quick check of large N such as 1M.")
    var freshOnly = false

    @Option(help: "The kernel-limit reference (scripts/kernel-limit: nftbatch.c, gen.py, gen_updates.py; scripts/bench passes it): builds nftbatch with gcc, generates its workload for each N, and adds in every run the C program's one libnftnl batch of the set form, then this tool's fresh load of the same routes read as BGP hex, without counters and with (the ratios are printed).")
    var reference: String?

    @Option(help: "With --fresh-only: also the fresh merged load of this workload's N routes, in every run between the others, so that two workloads compare side by side in one run (the ratio of the medians, and of each run, is printed).")
    var beside: Workload?

    @Flag(help: "Also measure the data path: packets/s forwarded through a router namespace with the table installed (empty, merged, --no-merge), with iperf3.")
    var datapath = false

    @Option(help: "Route counts for --datapath, comma separated.")
    var datapathSizes: String = "1000,10000,100000"

    @Option(help: "Seconds of traffic per data-path measurement.")
    var datapathSeconds: Int = 2

    @Flag(help: "Measure the listen daemon's path instead (its speaker, agent and table keeper, in this process, in a private namespace, fed by a scripted BGP peer over loopback): from an UPDATE sent to the kernel commit, for the initial load, one route withdrawn or announced, 10% of the routes replaced at once; CPU per single change; resident memory after each replace-and-back cycle. Writes daemon.json to --out.")
    var daemon = false

    @Option(help: "Routes the --daemon peer announces (the --workload generator's).")
    var daemonRoutes: Int = 50_000

    @Option(help: "Single changes --daemon measures (each a withdrawal and an announcement).")
    var daemonChanges: Int = 20

    @Option(help: "10% replace-and-back cycles --daemon measures (and the resident memory after each).")
    var daemonCycles: Int = 25

    @Option(help: "Routes --daemon announces at once at the end, beside the --daemon-routes (a controller growing its policy; a fabric leaf's load), then withdraws: the time to the last commit and its process CPU, each way. 0 leaves it out.")
    var daemonGrow: Int = 50_000

    @Option(help: "The table form for --daemon, as listen's --dispatch: auto (listen's default) dispatches the mixed workload on the destination, a form every change compiles and replaces whole; never keeps the merged form, which changes in place.")
    var daemonDispatch: DispatchMode = .auto

    @Option(help: "The speaker's debounce for --daemon, seconds (listen's default).")
    var daemonDebounce: Double = 0.2

    @Flag(help: "Measure where a flood is dropped best instead (needs iperf3 and gcc): --flood-routes mixed routes plus one route dropping a UDP flood, the table on the router namespace's forward hook, at prerouting raw and at ingress on the device facing the flood, and no table, interleaved in each of --runs runs of --datapath-seconds; the flood's arrival rate, what the route dropped, and the throughput of a TCP transfer beside it. Writes flood.json to --out.")
    var flood = false

    @Option(help: "Mixed routes installed besides the flood's drop route for --flood.")
    var floodRoutes: Int = 10_000

    @Flag(help: "Measure the listen daemon under a BGP flood instead: this binary's `listen` as a child process in a private namespace, a scripted peer sending --bgp-flood-routes routes in UPDATEs of --bgp-flood-per-update NLRIs as fast as the socket takes them, then withdrawing them all; the time from the last UPDATE to the last kernel commit, the daemon's CPU and resident memory. With --reference (scripts/bench passes it), the kernel-limit C program's batch of its own 100k routes is timed in a fresh namespace before and after the floods: the VM's speed that run. Writes bgp-flood.json to --out.")
    var bgpFlood = false

    @Option(help: "Routes of --bgp-flood (the --workload generator's).")
    var bgpFloodRoutes: Int = 100_000

    @Option(help: "NLRIs per UPDATE of --bgp-flood.")
    var bgpFloodPerUpdate: Int = 4

    @Option(help: "Announce-and-withdraw cycles of --bgp-flood (the resident memory after each withdrawal).")
    var bgpFloodCycles: Int = 1

    @Flag(help: "Measure the readers instead: every reader on each of its adversarial inputs (AdversarialInputs: whitespace runs, deep nesting, long strings and lines) of --readers-size bytes, --runs times (best and median reported). Needs no root. Writes readers.json to --out.")
    var readers = false

    @Option(help: "Bytes of each --readers input.")
    var readersSize: Int = 10_000_000

    /// Unmerged (one rule per route): the form the nft -f and iptables rows load, so that they
    /// compare like for like.
    static let unmerged = CompileOptions(merge: false, dispatch: .never)

    func validate() throws {
        if daemon {
            guard daemonRoutes > 0 else { throw ValidationError("--daemon-routes must be at least 1") }
            for (name, value) in [("--daemon-changes", daemonChanges), ("--daemon-cycles", daemonCycles), ("--daemon-grow", daemonGrow)] where value < 0 {
                throw ValidationError("\(name) must not be negative")
            }
        }
    }

    func run() throws {
        let counts = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        if flood {
            let progress = Progress(total: runs * 4)
            let rows = try measureFlood(routes: floodRoutes, runs: runs, seconds: datapathSeconds, progress: progress)
            progress.finish()
            print(Self.renderFlood(rows))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(rows).write(to: URL(fileURLWithPath: "\(out)/flood.json"))
            return
        }
        if readers {
            let rows = ReaderBench(size: readersSize, runs: runs).run()
            print(ReaderBench.render(rows))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(rows).write(to: URL(fileURLWithPath: "\(out)/readers.json"))
            return
        }
        if bgpFlood {
            var bench = BGPFloodBench(routes: bgpFloodRoutes, perUpdate: bgpFloodPerUpdate, cycles: bgpFloodCycles, workload: workload, out: out)
            if let reference {
                // The VM's speed beside the flood: the C program's batch of its own 100k routes.
                let limitDir = "\(out)/kernel-limit-100000"
                let rules = runChild(["/usr/bin/python3", "\(reference)/gen.py", "100000", limitDir])
                guard rules.status == 0 else { throw CLIError("kernel-limit workload: \(rules.output.prefix(300))") }
                bench.reference = (try Self.buildReference(reference, out: out), "\(limitDir)/rules.txt")
            }
            let result = try bench.run()
            print(BGPFloodBench.render(result))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(result).write(to: URL(fileURLWithPath: "\(out)/bgp-flood.json"))
            return
        }
        if daemon {
            let bench = DaemonBench(routes: daemonRoutes, changes: daemonChanges, cycles: daemonCycles, grow: daemonGrow, dispatch: daemonDispatch, debounce: daemonDebounce, workload: workload)
            let result = try bench.run()
            print(DaemonBench.render(result))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(result).write(to: URL(fileURLWithPath: "\(out)/daemon.json"))
            return
        }
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        var rows: [Row] = []
        var shapes: [String] = []
        let dpCounts = datapath ? datapathSizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } : []
        let progress = Progress(total: counts.count * runs * 22 + runs * (1 + 2 * dpCounts.count))
        let nftbatch = try reference.map { try Self.buildReference($0, out: out) }
        for n in counts {
            let generator = workload
            // The kernel-limit workload of N routes: its rules for nftbatch, the same routes as BGP hex for us.
            let limitDir = "\(out)/kernel-limit-\(n)"
            if let reference {
                let rules = runChild(["/usr/bin/python3", "\(reference)/gen.py", String(n), limitDir])
                let hex = runChild(["/usr/bin/python3", "\(reference)/gen_updates.py", String(n)])
                guard rules.status == 0, hex.status == 0 else { throw CLIError("kernel-limit workload: \(rules.output.prefix(300)) \(hex.output.prefix(300))") }
                try hex.output.write(toFile: "\(limitDir)/updates.hex", atomically: true, encoding: .utf8)
            }
            let routes = generator.routes(count: n)
            let ordered = routes.ordered(.rfc)
            let jsonPath = "\(out)/routes-\(n).json"
            let changedPath = "\(out)/routes-\(n)-changed.json"
            try CanonicalJSON.write(routes).write(toFile: jsonPath, atomically: true, encoding: .utf8)
            var changed = routes
            changed[n / 2] = generator.route(n + 7)
            try CanonicalJSON.write(changed).write(toFile: changedPath, atomically: true, encoding: .utf8)
            let nftPath = "\(out)/routes-\(n).nft"
            let nftMergedPath = "\(out)/routes-\(n)-merged.nft"
            let iptPath = "\(out)/routes-\(n).iptables"
            if n <= externalMax {
                let table = ContentSetNames.apply(compile(ordered, options: Self.unmerged).table)
                try NftPrinter.render(table, replace: true).write(toFile: nftPath, atomically: true, encoding: .utf8)
                let chosen = compile(ordered, options: CompileOptions(merge: true))
                let merged = ContentSetNames.apply(chosen.table)
                shapes.append("N=\(n) \(workload.rawValue): default \(chosen.figures); --no-merge \(table.ruleCount) rules, \(table.sets.count) sets")
                try NftPrinter.render(merged, replace: true).write(toFile: nftMergedPath, atomically: true, encoding: .utf8)
                if workload == .uniform {
                    try iptablesRestoreText(ordered).write(toFile: iptPath, atomically: true, encoding: .utf8)
                }
            }

            for r in 0..<runs {
                // A fresh namespace per run: nothing left over from the previous one.
                let connection = try NftConnection.inNewNamespace()
                let ns = connection.namespace!.path
                let stateDir = "\(out)/state-\(n)-\(r)"
                func apply(from format: String) -> [String] {
                    ["/usr/bin/nsenter", "--net=\(ns)", me, "apply", "--from", format, "--table", "flowspec", "--state-dir", stateDir]
                }
                let applyArgs = apply(from: "json")
                /// `expect`: what `apply` must report having done ("by delta", "by full replace");
                /// when it did the other, the row's name says so.
                func measureApply(_ name: String, _ args: [String], expect: String? = nil) throws {
                    progress.step("N=\(n) run \(r + 1)/\(runs): \(name)")
                    let c = runChild(args)
                    guard c.status == 0 else { throw CLIError("\(name) failed: \(c.output)") }
                    let split = ApplySplit(c.output)
                    var label = name
                    if let expect, !c.output.contains(expect) {
                        label += c.output.contains("by delta") ? " [delta chosen]" : " [full replace chosen]"
                    }
                    rows.append(Row(n: n, method: label, run: r, total: c.seconds, user: split?.user, kernel: split?.kernel,
                                    rssMB: Double(c.peakRSSBytes) / 1_048_576))
                }
                func measureExternal(_ name: String, _ args: [String], mayFail: Bool = false) throws {
                    progress.step("N=\(n) run \(r + 1)/\(runs): \(name)")
                    guard n <= externalMax else { return }
                    let c = runChild(["/usr/bin/nsenter", "--net=\(ns)"] + args)
                    guard c.status == 0 else {
                        if mayFail {
                            FileHandle.standardError.write(Data("\n\(name) failed (left out): \(c.output.prefix(300))\n".utf8))
                            return
                        }
                        throw CLIError("\(name) failed: \(c.output.prefix(500))")
                    }
                    rows.append(Row(n: n, method: name, run: r, total: c.seconds, user: nil, kernel: nil,
                                    rssMB: Double(c.peakRSSBytes) / 1_048_576))
                }
                if let nftbatch {
                    // The reference row and this tool on the same routes, each from an empty namespace.
                    try measureExternal(Self.referenceRow, [nftbatch, "--mode", "set", "\(limitDir)/rules.txt"])
                    try? connection.deleteTable(name: "flowspec", family: .inet)
                    let bgpArgs = apply(from: "bgp")
                    try measureApply(Self.referenceBareRow, bgpArgs + ["--no-counters", "--full", "\(limitDir)/updates.hex"])
                    try connection.deleteTable(name: "flowspec", family: .inet)
                    try? FileManager.default.removeItem(atPath: stateDir)
                    try measureApply(Self.referenceCountedRow, bgpArgs + ["--full", "\(limitDir)/updates.hex"])
                    try connection.deleteTable(name: "flowspec", family: .inet)
                    try? FileManager.default.removeItem(atPath: stateDir)
                }
                // Interleaved: each method once per run, in the same order. Merged (the default)
                // first, then --no-merge; each form from an empty namespace.
                if freshOnly {
                    // One rule per route first: at large N it is the form that finishes.
                    try measureApply("flowspec fresh (--no-merge)", applyArgs + ["--no-merge", "--full", jsonPath])
                    try connection.deleteTable(name: "flowspec", family: .inet)
                    if let beside {
                        let path = "\(out)/routes-\(n)-\(beside.rawValue).json"
                        if r == 0 { try CanonicalJSON.write(beside.routes(count: n)).write(toFile: path, atomically: true, encoding: .utf8) }
                        try measureApply(Self.besideRow(beside), applyArgs + ["--merge", "--full", path])
                        try connection.deleteTable(name: "flowspec", family: .inet)
                        try? FileManager.default.removeItem(atPath: stateDir)
                    }
                    try measureApply("flowspec fresh (merged)", applyArgs + ["--merge", "--full", jsonPath])
                    try? FileManager.default.removeItem(atPath: stateDir)
                    continue
                }
                try measureApply("flowspec fresh (merged)", applyArgs + ["--merge", "--full", jsonPath])
                try measureApply("flowspec replace (merged)", applyArgs + ["--merge", "--full", jsonPath])
                try measureApply("flowspec apply, 1 route changed (delta, merged)", applyArgs + ["--merge", changedPath], expect: "by delta")
                try connection.deleteTable(name: "flowspec", family: .inet)
                try measureApply("flowspec fresh (--no-merge)", applyArgs + ["--no-merge", "--full", jsonPath])
                try measureApply("flowspec replace (--no-merge)", applyArgs + ["--no-merge", "--full", jsonPath])
                try measureApply("flowspec apply, 1 route changed (delta, --no-merge)", applyArgs + ["--no-merge", changedPath], expect: "by delta")
                try connection.deleteTable(name: "flowspec", family: .inet)
                try measureExternal("nft -f fresh", ["/usr/sbin/nft", "-f", nftPath])
                try measureExternal("nft -f replace", ["/usr/sbin/nft", "-f", nftPath])
                try connection.deleteTable(name: "flowspec", family: .inet)
                try measureExternal("nft -f fresh (merged text)", ["/usr/sbin/nft", "-f", nftMergedPath], mayFail: true)
                try measureExternal("nft -f replace (merged text)", ["/usr/sbin/nft", "-f", nftMergedPath], mayFail: true)
                try? connection.deleteTable(name: "flowspec", family: .inet)
                // The iptables text covers the uniform generator's shapes only (addresses, TCP/UDP
                // ports, ICMP, byte rates of 1 MB/s and more): the mixed workload has no such rows.
                if workload == .uniform {
                    try measureExternal("iptables-legacy-restore", ["/usr/sbin/iptables-legacy-restore", iptPath])
                    try measureExternal("iptables-nft-restore", ["/usr/sbin/iptables-nft-restore", iptPath])
                }
                _ = runChild(["/usr/bin/nsenter", "--net=\(ns)", "/usr/sbin/iptables-legacy", "-F"])
                _ = runChild(["/usr/bin/nsenter", "--net=\(ns)", "/usr/sbin/nft", "flush", "ruleset"])
                rows += try deltas(n: n, run: r, routes: routes, connection: connection, progress: progress)
                rows += try readings(n: n, run: r, routes: routes, jsonPath: jsonPath, connection: connection, progress: progress)
                try? FileManager.default.removeItem(atPath: stateDir)
            }
        }
        try write(rows)
        var dataRows: [DataPathRow] = []
        if datapath {
            dataRows = try measureDataPath(sizes: dpCounts, runs: runs, seconds: datapathSeconds, progress: progress)
            try writeDataPath(dataRows)
        }
        progress.finish()
        print("workload: \(workload.rawValue)")
        for line in shapes { print(line) }
        print(render(rows))
        if let beside, freshOnly {
            for n in counts {
                let mine = Self.totals(rows, n, "flowspec fresh (merged)"), theirs = Self.totals(rows, n, Self.besideRow(beside))
                guard !mine.isEmpty, mine.count == theirs.count else { continue }
                let each = zip(mine, theirs).map { String(format: "%.2f", $0 / $1) }.joined(separator: ", ")
                print(String(format: "N=%d: fresh merged %@ / %@: %.2fx (medians); per run: %@", n, workload.rawValue, beside.rawValue,
                             Summary(mine).median / Summary(theirs).median, each))
            }
        }
        if reference != nil {
            for n in counts {
                let c = Self.totals(rows, n, Self.referenceRow)
                guard !c.isEmpty else { continue }
                let bare = Self.totals(rows, n, Self.referenceBareRow), counted = Self.totals(rows, n, Self.referenceCountedRow)
                print(String(format: "N=%d kernel-limit routes: flowspec --no-counters %.2fx the C batch, with counters %.2fx (medians)", n,
                             Summary(bare).median / Summary(c).median, Summary(counted).median / Summary(c).median))
            }
        }
        if datapath { print("\n" + renderDataPath(dataRows)) }
    }

    /// Builds the kernel-limit program of `reference` (its nftbatch.c) into `out`; its path.
    static func buildReference(_ reference: String, out: String) throws -> String {
        let binary = "\(out)/nftbatch"
        let built = runChild(["/usr/bin/gcc", "-O2", "-o", binary, "\(reference)/nftbatch.c", "-lnftnl", "-lmnl"])
        guard built.status == 0 else { throw CLIError("cannot build \(reference)/nftbatch.c: \(built.output.prefix(500))") }
        return binary
    }

    static let referenceRow = "C libnftnl batch, set form (kernel-limit routes)"
    static let referenceBareRow = "flowspec fresh (kernel-limit routes, --no-counters)"
    static let referenceCountedRow = "flowspec fresh (kernel-limit routes)"
    static func besideRow(_ w: Workload) -> String { "flowspec fresh (merged, \(w.rawValue) workload)" }

    /// The totals of one row, run by run.
    static func totals(_ rows: [Row], _ n: Int, _ method: String) -> [Double] {
        rows.filter { $0.n == n && $0.method == method }.map(\.total)
    }

    /// In-process delta updates into an installed N-route table, merged (the default) and
    /// unmerged: from the new route set being known (compile, content set names, plan) to the
    /// commit, and from the compiled table to the commit ("plan+commit").
    func deltas(n: Int, run: Int, routes: [FlowRoute], connection: NftConnection, progress: Progress) throws -> [Row] {
        var rows: [Row] = []
        let generator = workload
        // The merged form without dispatch: a dispatch table is not changed in place (the keeper
        // replaces it whole; the one-shot `apply changed` rows measure that).
        for (form, options) in [("merged", CompileOptions(merge: true, dispatch: .never)), ("--no-merge", Self.unmerged)] {
            let base = ContentSetNames.apply(compile(routes.ordered(.rfc), options: options).table)
            for (what, count) in [("1 route", 1), ("1%", max(1, n / 100)), ("10%", max(1, n / 10))] {
                let label = "delta \(what) (\(form))"
                progress.step("N=\(n) run \(run + 1)/\(runs): \(label)")
                guard n <= deltaMax else { continue }
                guard let state = try connection.applyTracked(base).1 else { throw CLIError("no state after a full apply") }
                // Replace `count` routes spread over the table by routes from beyond N.
                var new = routes
                let step = max(1, n / count)
                for k in 0..<count { new[(k * step + step / 2) % n] = generator.route(n + 10 + k) }
                let clock = ContinuousClock()
                let start = clock.now
                let table = ContentSetNames.apply(compile(new.ordered(.rfc), options: options).table)
                let compiled = clock.now
                // What `TableKeeper` does with a known state: plan a change, or replace.
                var current = state
                let report: ApplyReport, replaced: Bool
                switch TableChange.plan(from: state, to: table) {
                case .inPlace(let change): report = try connection.apply(change, over: &current); replaced = false
                case .replace: report = try connection.applyTracked(table).0; replaced = true
                }
                let end = clock.now
                let kernel = report.kernelTime.seconds
                if replaced {
                    // The threshold chose a replace: measured under the delta's name.
                    rows.append(Row(n: n, method: label + " [full replace chosen]", run: run, total: (end - start).seconds,
                                    user: (end - start).seconds - kernel, kernel: kernel, rssMB: nil))
                } else {
                    rows.append(Row(n: n, method: label, run: run, total: (end - start).seconds, user: (end - start).seconds - kernel,
                                    kernel: kernel, rssMB: nil))
                    rows.append(Row(n: n, method: label + " (plan+commit)", run: run, total: (end - compiled).seconds,
                                    user: (end - compiled).seconds - kernel, kernel: kernel, rssMB: nil))
                }
            }
            try connection.deleteTable(name: "flowspec", family: .inet)
        }
        rows += try incrementalDeltas(n: n, run: run, routes: routes, connection: connection, progress: progress)
        return rows
    }

    /// The same changes through `IncrementalTable` (what `watch` and `listen` do once the table
    /// is installed): from the changed routes being known (removed identities, added routes) to
    /// the commit — compiling the changed routes, placing them, the batch and the kernel. Merged
    /// without dispatch: `IncrementalTable` places routes in one merged chain.
    func incrementalDeltas(n: Int, run: Int, routes: [FlowRoute], connection: NftConnection, progress: Progress) throws -> [Row] {
        var rows: [Row] = []
        let generator = workload
        for (what, count) in [("1 route", 1), ("1%", max(1, n / 100)), ("10%", max(1, n / 10))] {
            let label = "delta \(what) (merged, incremental)"
            progress.step("N=\(n) run \(run + 1)/\(runs): \(label)")
            guard n <= deltaMax else { continue }
            let (result, built) = IncrementalTable.build(routes, order: .rfc, options: CompileOptions(merge: true, dispatch: .never))
            guard let table = built, var state = try connection.applyTracked(ContentSetNames.apply(result.table)).1 else {
                throw CLIError("no incremental table or state after a full apply")
            }
            let step = max(1, n / count)
            let removing = (0..<count).map { routes[($0 * step + step / 2) % n].identity }
            let adding = (0..<count).map { (route: generator.route(n + 10 + $0), tiebreak: n + $0) }
            let clock = ContinuousClock()
            let start = clock.now
            guard let update = table.update(removing: removing, adding: adding) else {
                // Too large a change to place (CostPolicy): the keeper compiles and replaces the
                // table whole instead. The row says so, with the time it took to find out.
                let decided = (clock.now - start).seconds
                rows.append(Row(n: n, method: label + " [not in place: full replace]", run: run, total: decided, user: decided,
                                kernel: nil, rssMB: nil))
                try connection.deleteTable(name: "flowspec", family: .inet)
                continue
            }
            let placed = (clock.now - start).seconds
            let report = try connection.apply(update.change, over: &state)
            let total = (clock.now - start).seconds
            rows.append(Row(n: n, method: label, run: run, total: total, user: total - report.kernelTime.seconds,
                            kernel: report.kernelTime.seconds, rssMB: nil))
            rows.append(Row(n: n, method: label + " (compile+place)", run: run, total: placed, user: placed, kernel: nil, rssMB: nil))
            try connection.deleteTable(name: "flowspec", family: .inet)
        }
        return rows
    }

    /// What the former disguised benchmarks measured: canonical JSON read and write of the N
    /// routes, and reading the installed table back through netlink (quadratic in the kernel:
    /// the rule dump restarts its walk of the chain for every ~32 KiB reply; up to --list-max).
    func readings(n: Int, run: Int, routes: [FlowRoute], jsonPath: String, connection: NftConnection,
                  progress: Progress) throws -> [Row] {
        var rows: [Row] = []
        let clock = ContinuousClock()
        progress.step("N=\(n) run \(run + 1)/\(runs): canonical JSON read/write, read-back")
        let bytes = [UInt8](FileManager.default.contents(atPath: jsonPath) ?? Data())
        var read = ReadResult()
        let readTime = try clock.measure { read = try CanonicalJSON.read(bytes) }
        guard read.routes.count == n else { throw CLIError("read \(read.routes.count) of \(n) routes back") }
        rows.append(Row(n: n, method: "canonical JSON read", run: run, total: (readTime).seconds, user: (readTime).seconds, kernel: nil, rssMB: nil))
        let writeTime = clock.measure { _ = CanonicalJSON.write(routes) }
        rows.append(Row(n: n, method: "canonical JSON write", run: run, total: (writeTime).seconds, user: (writeTime).seconds, kernel: nil, rssMB: nil))
        if n <= listMax {
            let table = ContentSetNames.apply(compile(routes.ordered(.rfc), options: Self.unmerged).table)
            try connection.apply(table)
            var installed: InstalledTable?
            let listTime = try clock.measure { installed = try connection.listTable(name: table.name, family: .inet) }
            guard installed?.table.ruleCount == table.ruleCount else { throw CLIError("read-back lost rules") }
            rows.append(Row(n: n, method: "read back (listTable)", run: run, total: (listTime).seconds, user: nil, kernel: nil, rssMB: nil))
        }
        return rows
    }

    func write(_ rows: [Row]) throws {
        var csv = "n,method,run,total_s,user_s,kernel_s,peak_rss_mb\n"
        func f(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
        for r in rows { csv += "\(r.n),\"\(r.method)\",\(r.run),\(f(r.total)),\(f(r.user)),\(f(r.kernel)),\(f(r.rssMB))\n" }
        try csv.write(toFile: "\(out)/bench.csv", atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(rows).write(to: URL(fileURLWithPath: "\(out)/bench.json"))
    }

    func render(_ rows: [Row]) -> String {
        var lines = ["| N | method | median s | min s | max s | user share | kernel s (median) | peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
        var seen: [String] = []
        for r in rows where !seen.contains("\(r.n)|\(r.method)") { seen.append("\(r.n)|\(r.method)") }
        for key in seen {
            let group = rows.filter { "\($0.n)|\($0.method)" == key }
            let t = Summary(group.map(\.total))
            let kernel = group.compactMap(\.kernel)
            let user = group.compactMap(\.user)
            let share = user.isEmpty || t.median == 0 ? "" : String(format: "%.0f%%", 100 * Summary(user).median / t.median)
            let k = kernel.isEmpty ? "" : String(format: "%.4f", Summary(kernel).median)
            let rss = group.compactMap(\.rssMB)
            lines.append("| \(group[0].n) | \(group[0].method) | " + String(format: "%.4f | %.4f | %.4f", t.median, t.min, t.max) +
                         " | \(share) | \(k) | " + (rss.isEmpty ? "" : String(format: "%.0f", rss.max()!)) + " |")
        }
        return lines.joined(separator: "\n")
    }
}


/// The split `apply` prints: "read+compile X s, netlink build Y s, kernel Z s".
struct ApplySplit {
    var user: Double, kernel: Double
    init?(_ output: String) {
        func value(after key: String) -> Double? {
            guard let r = output.range(of: key) else { return nil }
            return Double(output[r.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        guard let rc = value(after: "(read+compile "), let b = value(after: "netlink build "), let k = value(after: "kernel ") else { return nil }
        user = rc + b; kernel = k
    }
}

/// One line on standard error, rewritten in place: step k of n, and what is running.
final class Progress {
    let total: Int
    var done = 0
    let start = ContinuousClock.now
    init(total: Int) { self.total = total }
    func step(_ what: String) {
        done += 1
        let line = String(format: "\r[%3d/%3d %6.1fs] ", min(done, total), total, seconds(since: start)) + what
        FileHandle.standardError.write(Data((line.padding(toLength: 100, withPad: " ", startingAt: 0)).utf8))
    }
    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}

/// The route sets the bench loads.
enum Workload: String, ExpressibleByArgument, CaseIterable {
    case uniform, mixed

    func route(_ i: Int) -> FlowRoute {
        switch self {
        case .uniform: RouteGenerator().route(i)
        case .mixed: MixedRouteGenerator().route(i)
        }
    }

    func routes(count: Int) -> [FlowRoute] { (0..<count).map(route) }
}
