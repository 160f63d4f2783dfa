#!/usr/bin/env python3
"""fabric-routes.py N: the fabric controller's route set, a BIRD static protocol "fab4" with
N untargeted drop routes (TCP to 203.0.113.200-249, destination port from 10000 up; no lab
host uses these addresses) and two per-rack routes: route target 65309:1 (rack A: odd leaves)
drops TCP h1 -> h2 :9100, 65309:2 (rack B: even leaves) drops TCP h1 -> h2 :3260. N = 0 gives
an empty protocol: the controller withdraws everything."""
import sys
n = int(sys.argv[1])
DROP = "bgp_ext_community.add((generic, 0x80060000, 0x00000000));"
print("# fabric route set: %d untargeted routes%s" % (n, " + 2 rack routes" if n else ""))
print("protocol static fab4 {\n  flow4 { table flowtab4; };")
for i in range(n):
    print("  route flow4 { dst 203.0.113.%d/32; proto = 6; dport = %d; } { %s };"
          % (200 + i % 50, 10000 + i // 50, DROP))
if n:
    for rt, port in ((1, 9100), (2, 3260)):
        print("  route flow4 { dst 203.0.113.10/32; src 198.51.100.10/32; proto = 6; dport = %d; } "
              "{ %s bgp_ext_community.add((rt, 65309, %d)); };" % (port, DROP, rt))
print("}")
