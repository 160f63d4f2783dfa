#!/usr/bin/env python3
"""gen-scale.py N: a BIRD "extra4" static protocol with N distinct drop routes (TCP to
203.0.113.200-249, destination port from 10000 up; addresses no lab host uses)."""
import sys
n = int(sys.argv[1])
print("# %d scale routes" % n)
print("protocol static extra4 {\n  flow4 { table flowtab4; };")
for i in range(n):
    print("  route flow4 { dst 203.0.113.%d/32; proto = 6; dport = %d; } "
          "{ bgp_ext_community.add((generic, 0x80060000, 0x00000000)); };" % (200 + i % 50, 10000 + i // 50))
print("}")
