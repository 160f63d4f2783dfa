import FlowSpec
import FlowSpecCompiler
import FlowSpecKeeper
import FlowSpecNetlink
import Foundation
import Glibc

/// One `bench --flood` measurement: a UDP flood that one route drops, and a TCP transfer beside
/// it, through the router namespace with the table on one hook.
struct FloodRow: Codable {
    /// "no table", "forward", "prerouting raw" or "ingress".
    var hook: String
    var run: Int
    var routes: Int
    /// Packets that arrived at r from h1 per second (the flood, and the transfer's few).
    var arrivedPerSecond: Double
    /// Packets the drop route counted per second (0 without a table: the flood is forwarded).
    var droppedPerSecond: Double
    /// The TCP transfer's throughput as h2 received it.
    var legitimateMbitPerSecond: Double
}

extension Bench {
    /// Where a flood is dropped best (issue #17): `routes` mixed routes plus one drop route for
    /// the flood (UDP to 203.0.113.2 port 5202), the table on r's forward hook, at prerouting
    /// raw and at ingress on r1, and no table, interleaved in each run; during `seconds`, h1
    /// floods (UDP, 64-byte payloads, as fast as one C sender with sendmmsg can) and runs an iperf3 TCP transfer
    /// to port 5201 beside it.
    func measureFlood(routes n: Int, runs: Int, seconds: Int, progress: Progress) throws -> [FloodRow] {
        let floodBinary = "\(out)/flood"
        let source = "\(out)/flood.c"
        try Self.flooder.write(toFile: source, atomically: true, encoding: .utf8)
        let built = runChild(["/usr/bin/gcc", "-O2", "-o", floodBinary, source])
        guard built.status == 0 else { throw CLIError("cannot build the flood sender (gcc): \(built.output.prefix(500))") }
        let lab = try DataPathLab()
        defer { lab.close() }
        let flood = FlowRoute(family: .ipv4, components: [.destinationPrefix(FlowPrefix("203.0.113.2/32")!),
                                                           .numeric(.ipProtocol, [.equal(17)]),
                                                           .numeric(.destinationPort, [.equal(5202)])],
                              actions: [.trafficRateBytes(asn: 0, bytesPerSecond: 0)])
        let routes = (Workload.mixed.routes(count: n) + [flood]).ordered(.rfc)
        func table(_ configure: (inout CompileOptions) -> Void) -> NftTable {
            var options = CompileOptions()
            configure(&options)
            return compile(routes, options: options).table
        }
        let hooks: [(String, NftTable?)] = [
            ("no table", nil),
            ("forward", table { _ in }),
            ("prerouting raw", table { $0.hook = .prerouting; $0.priority = -300 }),
            ("ingress", table { $0.hook = .ingress; $0.priority = -500; $0.devices = ["r1"] }),
        ]
        var rows: [FloodRow] = []
        for run in 0..<runs {
            for (name, t) in hooks {
                progress.step("flood run \(run + 1)/\(runs): \(name)")
                try? lab.router.deleteTable(name: "flowspec", family: .inet)
                if let t { try lab.router.apply(t) }
                let arrivedBefore = try lab.arrivedPackets()
                // Not iperf3: its UDP stream starts with a handshake the drop route drops.
                let flooder = try spawnBackground(["/usr/bin/nsenter", "--net=\(lab.h1.path)", floodBinary, "\(seconds)"])
                let start = ContinuousClock.now
                let tcp = runChild(["/usr/bin/nsenter", "--net=\(lab.h1.path)", "/usr/bin/iperf3", "-c", "203.0.113.2", "-p", DataPathLab.port,
                                    "-t", "\(seconds)", "-J"])
                var status: Int32 = 0
                while waitpid(flooder, &status, 0) < 0 && errno == EINTR {}
                let elapsed = (ContinuousClock.now - start).seconds
                let arrived = try lab.arrivedPackets() - arrivedBefore
                var dropped: UInt64 = 0
                if t != nil, let installed = try lab.router.listTable(name: "flowspec", family: .inet) {
                    dropped = InstalledRoutes(installed.table).entries.first { $0.identity == flood.identity }?.packets ?? 0
                }
                guard tcp.status == 0, let json = try? JSONSerialization.jsonObject(with: Data(tcp.output.utf8)) as? [String: Any],
                      let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
                      let bps = received["bits_per_second"] as? Double else {
                    throw CLIError("the TCP transfer beside the flood failed (\(name)): \(tcp.output.prefix(300))")
                }
                rows.append(FloodRow(hook: name, run: run, routes: t == nil ? 0 : routes.count, arrivedPerSecond: Double(arrived) / elapsed,
                                     droppedPerSecond: Double(dropped) / elapsed, legitimateMbitPerSecond: bps / 1e6))
                usleep(300_000) // the servers between two tests
            }
        }
        try? lab.router.deleteTable(name: "flowspec", family: .inet)
        return rows
    }

    /// The flood sender: 64-byte UDP datagrams to 203.0.113.2 port 5202, 64 per sendmmsg call,
    /// for argv[1] seconds (send errors, such as a full queue, are ignored). A C program: a
    /// Python loop sent ~80k packets/s, too few to load the router.
    static let flooder = """
    #define _GNU_SOURCE
    #include <arpa/inet.h>
    #include <netinet/in.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/socket.h>
    #include <time.h>
    int main(int argc, char **argv) {
        double seconds = argc > 1 ? atof(argv[1]) : 1;
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5202) };
        inet_pton(AF_INET, "203.0.113.2", &to.sin_addr);
        if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof to) < 0) return 1;
        static char payload[64];
        struct iovec iov = { payload, sizeof payload };
        struct mmsghdr msgs[64];
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < 64; i++) { msgs[i].msg_hdr.msg_iov = &iov; msgs[i].msg_hdr.msg_iovlen = 1; }
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            sendmmsg(s, msgs, 64, 0);
            clock_gettime(CLOCK_MONOTONIC, &t);
        } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
        return 0;
    }
    """

    /// Medians over the runs, one row per hook.
    static func renderFlood(_ rows: [FloodRow]) -> String {
        var lines = ["| table | routes | arrived pkt/s | dropped by the route pkt/s | TCP beside it Mbit/s (median) | min | max |",
                     "|---|---|---|---|---|---|---|"]
        var seen: [String] = []
        for r in rows where !seen.contains(r.hook) { seen.append(r.hook) }
        for hook in seen {
            let g = rows.filter { $0.hook == hook }
            let tcp = Summary(g.map(\.legitimateMbitPerSecond))
            lines.append("| \(hook) | \(g[0].routes) | " + String(format: "%.0f | %.0f | %.0f | %.0f | %.0f",
                         Summary(g.map(\.arrivedPerSecond)).median, Summary(g.map(\.droppedPerSecond)).median, tcp.median, tcp.min, tcp.max) + " |")
        }
        return lines.joined(separator: "\n")
    }
}
