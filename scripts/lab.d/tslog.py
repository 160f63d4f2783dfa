#!/usr/bin/env python3
"""tslog.py FILE: copies standard input to FILE, each line prefixed with the wall-clock time
("1712345678.123 "), flushed per line. The fabric lab pipes every daemon's log through it,
because swift-log's timestamps have whole seconds and the lab times commits in milliseconds."""
import sys, time
out = open(sys.argv[1], "a", buffering=1)
for line in sys.stdin:
    out.write("%.3f %s" % (time.time(), line))
