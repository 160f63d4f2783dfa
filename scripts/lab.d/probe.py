#!/usr/bin/env python3
"""Packet helper for the e2e lab (stdlib only); runs inside a host namespace.

  probe.py serve LOG                 TCP echo on 22, 3260, 8080, 8443, 9100; UDP sink on 5353,
                                     7000, 9000 (one line per datagram appended to LOG:
                                     "time src dport length token")
  probe.py tcp HOST PORT [TIMEOUT]   connect, send a line, wait for the echo: exit 0 if it came back
  probe.py udp HOST PORT TOKEN       send one datagram whose payload starts with TOKEN
  probe.py flood HOST PORT SECONDS PPS SIZE TOKEN   paced UDP datagrams of SIZE payload bytes
  probe.py rate LOG TOKEN SKIP       IP-layer bytes/s of TOKEN's datagrams after the first SKIP s
"""
import select, socket, sys, time

TCP_PORTS = (22, 3260, 8080, 8443, 9100)
UDP_PORTS = (5353, 7000, 9000)


def serve(log):
    out = open(log, "a", buffering=1)
    listeners, udps, conns = [], [], []
    for p in TCP_PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p)); s.listen(64); s.setblocking(False)
        listeners.append(s)
    for p in UDP_PORTS:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        u.bind(("0.0.0.0", p)); u.setblocking(False)
        udps.append(u)
    while True:
        r, _, _ = select.select(listeners + udps + conns, [], [], 1.0)
        for s in r:
            if s in listeners:
                try:
                    c, _ = s.accept(); c.setblocking(False); conns.append(c)
                except OSError:
                    pass
            elif s in udps:
                while True:
                    try:
                        data, (src, _) = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    token = data.split(b" ", 1)[0][:64].decode("ascii", "replace")
                    out.write("%.6f %s %d %d %s\n" % (time.time(), src, s.getsockname()[1], len(data), token))
            else:
                try:
                    data = s.recv(4096)
                    if data:
                        s.sendall(data)
                    s.close(); conns.remove(s)
                except OSError:
                    s.close(); conns.remove(s)


def tcp(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, int(port)), timeout=float(timeout)) as s:
            s.settimeout(float(timeout))
            s.sendall(b"probe\n")
            return 0 if s.recv(16) == b"probe\n" else 1
    except OSError:
        return 1


def udp(host, port, token):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(token.encode() + b" x", (host, int(port)))
    return 0


def flood(host, port, seconds, pps, size, token):
    payload = token.encode() + b" " + b"x" * max(0, int(size) - len(token) - 1)
    gap = 1.0 / float(pps)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        start = time.monotonic(); n = 0
        while time.monotonic() - start < float(seconds):
            try:
                s.sendto(payload, (host, int(port)))
            except OSError:
                pass
            n += 1
            delay = start + n * gap - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    print(n)
    return 0


def rate(log, token, skip):
    times = []
    for line in open(log):
        f = line.split()
        if len(f) == 5 and f[4] == token:
            times.append((float(f[0]), int(f[3]) + 28))  # + IPv4 and UDP headers
    if len(times) < 2:
        print("0 0 0"); return 0
    t0 = times[0][0] + float(skip)
    window = [x for x in times if x[0] >= t0]
    if len(window) < 2:
        print("0 0 0"); return 0
    span = window[-1][0] - window[0][0]
    total = sum(b for _, b in window[1:])
    print("%.0f %d %.3f" % (total / span if span > 0 else 0, len(window), span))
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"serve": serve, "tcp": tcp, "udp": udp, "flood": flood, "rate": rate}[cmd](*args) or 0)
