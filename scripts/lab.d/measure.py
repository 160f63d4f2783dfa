#!/usr/bin/env python3
"""Times how long after a trigger each condition first holds (stdlib only).

  measure.py [--timeout S] [--interval S] TRIGGER NAME=CONDITION...

TRIGGER and every CONDITION are bash commands. The clock starts right before TRIGGER runs; each
CONDITION is then run every --interval seconds (0.05) until it exits 0. Prints one line per
condition, "NAME SECONDS" (when the successful run finished) or "NAME timeout"; exit status 1 if
any timed out or the trigger failed.
"""
import subprocess, sys, threading, time

args = sys.argv[1:]
timeout, interval = 60.0, 0.05
while args and args[0].startswith("--"):
    if args[0] == "--timeout": timeout = float(args[1])
    elif args[0] == "--interval": interval = float(args[1])
    args = args[2:]
trigger, conds = args[0], [a.split("=", 1) for a in args[1:]]
results = {}


def watch(name, cmd, t0):
    while time.monotonic() - t0 < timeout:
        start = time.monotonic()
        if subprocess.run(["bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            results[name] = time.monotonic() - t0
            return
        time.sleep(max(0.0, interval - (time.monotonic() - start)))


t0 = time.monotonic()
ok = subprocess.run(["bash", "-c", trigger]).returncode == 0
threads = [threading.Thread(target=watch, args=(n, c, t0)) for n, c in conds]
for t in threads: t.start()
for t in threads: t.join()
for n, _ in conds:
    print("%s %s" % (n, "%.2f" % results[n] if n in results else "timeout"))
sys.exit(0 if ok and len(results) == len(conds) else 1)
