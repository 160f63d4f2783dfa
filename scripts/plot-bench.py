#!/usr/bin/python3
"""Plots `flowspec-nft bench` results: median time to a committed table vs N, one line per
method, log-log, with min-max bars. Usage: plot-bench.py bench.csv bench.png

Needs matplotlib (Debian: apt install python3-matplotlib; PyPI: matplotlib)."""
import csv
import statistics
import sys
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Methods drawn (the others are in the CSV and the table).
SHOWN = [
    "flowspec fresh", "flowspec replace", "flowspec apply, 1 route changed (delta)",
    "nft -f fresh", "nft -f replace", "iptables-legacy-restore", "iptables-nft-restore",
    "delta 1 route", "delta 1%", "delta 10%", "delta 10% (full replace chosen)",
]


def main(src, dst):
    times = defaultdict(lambda: defaultdict(list))
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            times[row["method"]][int(row["n"])].append(float(row["total_s"]))
    fig, ax = plt.subplots(figsize=(9, 6))
    for method in SHOWN:
        if method not in times:
            continue
        ns = sorted(times[method])
        med = [statistics.median(times[method][n]) for n in ns]
        lo = [m - min(times[method][n]) for n, m in zip(ns, med)]
        hi = [max(times[method][n]) - m for n, m in zip(ns, med)]
        ax.errorbar(ns, med, yerr=[lo, hi], marker="o", capsize=3, label=method)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("routes (N)")
    ax.set_ylabel("seconds to committed table (median, min-max)")
    ax.set_title("flowspec-nft bench: load and update times")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
