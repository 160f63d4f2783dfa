#!/usr/bin/env python3
"""Times a change through the fabric lab from its leaves' logs (stdlib only).

  fabric-wait.py --t0 T [--timeout S] [--installed N] NAME=LOG[=CONDITION]...

T is the wall-clock time the change started (the controller's `birdc configure`). With
--installed N a leaf is done at the first line of LOG stamped T or later (tslog.py stamps) that
says "installed N": that commit is the time. Otherwise CONDITION (a bash command) is run each
time LOG has a new "applied in" line stamped T or later (and every 2 s in any case) until it
exits 0; the leaf's time is then the last such line (the kernel commit that made the condition
true). Run on every commit only, not polled: a condition reads the leaf's table (`show`), and
at 50,000 routes eight leaves polled every 0.05 s kept both CPUs busy with the measurement
itself. Prints "NAME SECONDS" per leaf ("NAME timeout"), exit status 1 if any timed out.
"""
import re, subprocess, sys, threading, time

args = sys.argv[1:]
t0, timeout, installed = None, 60.0, None
while args and args[0].startswith("--"):
    if args[0] == "--t0": t0 = float(args[1])
    elif args[0] == "--timeout": timeout = float(args[1])
    elif args[0] == "--installed": installed = int(args[1])
    args = args[2:]
specs = [a.split("=", 2) for a in args]
results = {}
INSTALLED = re.compile(r"installed (\d+)")


def stamped(log):
    try:
        with open(log) as f:
            for line in f:
                ts, _, rest = line.partition(" ")
                try: t = float(ts)
                except ValueError: continue
                if t >= t0: yield t, rest
    except FileNotFoundError:
        return


def watch(spec):
    name, log = spec[0], spec[1]
    cond = spec[2] if len(spec) > 2 else None
    seen, checked = 0, 0.0
    while time.time() - t0 < timeout:
        start = time.monotonic()
        if installed is not None:
            for t, rest in stamped(log):
                m = INSTALLED.search(rest)
                if m and int(m.group(1)) == installed and "applied in" in rest:
                    results[name] = t - t0
                    return
        else:
            times = [t for t, rest in stamped(log) if "applied in" in rest]
            if len(times) > seen or start - checked >= 2.0:
                seen, checked = len(times), start
                if subprocess.run(["bash", "-c", cond], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                    times = [t for t, rest in stamped(log) if "applied in" in rest]
                    results[name] = (times[-1] - t0) if times else None
                    return
        time.sleep(max(0.0, 0.05 - (time.monotonic() - start)))


threads = [threading.Thread(target=watch, args=(s,)) for s in specs]
for t in threads: t.start()
for t in threads: t.join()
ok = True
for s in specs:
    r = results.get(s[0], "timeout")
    if r == "timeout": ok = False
    print("%s %s" % (s[0], r if isinstance(r, str) else ("%.3f" % r if r is not None else "no-commit")))
sys.exit(0 if ok else 1)
