import FlowSpec
import Foundation
import Glibc

/// One finished child process: wall time, peak RSS (wait4's ru_maxrss), status and output.
struct ChildRun {
    var seconds: Double
    var peakRSSBytes: Int
    var status: Int32
    var output: String
}

/// Runs `arguments` (argv[0] a path) under GNU time, which reports the peak RSS of the program
/// itself: a child spawned directly from here (posix_spawn shares this process's memory until
/// exec) would inherit this process's high-water mark in its ru_maxrss. Output (stdout and
/// stderr) goes to a temporary file and is returned.
func runChild(_ command: [String]) -> ChildRun {
    let arguments = ["/usr/bin/time", "-f", "@@maxrss=%M"] + command
    let outPath = "/tmp/flowspec-bench-\(getpid()).out"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid = pid_t()
    let start = ContinuousClock.now
    let rc = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
    guard rc == 0 else { return ChildRun(seconds: 0, peakRSSBytes: 0, status: -rc, output: "posix_spawn: \(rc)") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let d = ContinuousClock.now - start
    var output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    unlink(outPath)
    var peak = 0
    if let r = output.range(of: "@@maxrss=", options: .backwards) {
        peak = (Int(output[r.upperBound...].prefix { $0.isNumber }) ?? 0) * 1024
        output = String(output[..<r.lowerBound])
    }
    return ChildRun(seconds: d.seconds,
                    peakRSSBytes: peak, status: (status >> 8) & 0xff, output: output)
}

/// The generator's routes as iptables-restore input for the filter table's FORWARD chain:
/// the same matches and actions, one rule per route, in the same (RFC 8955) order. Rate-limited
/// routes use hashlimit (one bucket per rule, drop above 1 MB/s), as `limit rate over` does.
func iptablesRestoreText(_ routes: [FlowRoute]) -> String {
    var out = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    out.reserveCapacity(routes.count * 100)
    for (i, r) in routes.enumerated() {
        var line = "-A FORWARD"
        for c in r.components {
            switch c {
            case .destinationPrefix(let p): line += " -d \(p)"
            case .sourcePrefix(let p): line += " -s \(p)"
            case .numeric(.ipProtocol, let t):
                line += t.first.map { $0.value == 6 ? " -p tcp" : $0.value == 17 ? " -p udp" : " -p icmp" } ?? ""
            case .numeric(.destinationPort, let t):
                let ports = t.map { "\($0.value)" }
                line += ports.count > 1 ? " -m multiport --dports \(ports.joined(separator: ","))" : " --dport \(ports[0])"
            case .numeric(.icmpType, let t): line += " --icmp-type \(t.first!.value)"
            case .numeric(.icmpCode, let t): line += "/\(t.first!.value)"
            default: break
            }
        }
        for a in r.actions {
            if case .trafficRateBytes(_, let rate) = a, rate > 0 {
                line += " -m hashlimit --hashlimit-above \(Int(rate / 1_000_000))mb/s --hashlimit-name fs\(i)"
            }
        }
        line += " -j DROP\n"
        out += line
    }
    return out + "COMMIT\n"
}

/// Median, min and max of some timings.
struct Summary {
    var median: Double, min: Double, max: Double
    init(_ values: [Double]) {
        let s = values.sorted()
        median = s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
        min = s.first ?? 0
        max = s.last ?? 0
    }
}

/// Starts `command` (argv[0] a path) without waiting for it, output discarded (or standard
/// error written to `stderrPath`); the caller stops it by its pid.
func spawnBackground(_ command: [String], stderrPath: String? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    if let stderrPath {
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    } else {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, command[0], &actions, nil, &argv, environ)
    guard rc == 0 else { throw CLIError("cannot start \(command[0]): \(String(cString: strerror(rc)))") }
    return pid
}

/// Whether the child `pid` still runs (reaping it if it has exited).
func childRuns(_ pid: pid_t) -> Bool {
    var status: Int32 = 0
    return waitpid(pid, &status, WNOHANG) == 0
}

/// Stops the child `pid`: SIGTERM, then SIGKILL if it is still there after `grace`; reaps it.
func stopChild(_ pid: pid_t, grace: Duration = .seconds(10)) {
    guard childRuns(pid) else { return }
    kill(pid, SIGTERM)
    let end = ContinuousClock.now + grace
    while childRuns(pid) {
        if ContinuousClock.now >= end {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return
        }
        usleep(10_000)
    }
}
