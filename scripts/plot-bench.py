#!/usr/bin/python3
"""Plots `flowspec-nft bench` results: median time to a committed table vs N, one line per
method, log-log, with min-max bars. Usage: plot-bench.py bench.csv bench.png

When datapath.csv (written by `bench --datapath`) lies next to bench.csv, also draws
datapath.png next to bench.png: packets/s forwarded by the router namespace vs N, merged and
unmerged, with the empty table's rate and the 25% target as lines.

Needs matplotlib (Debian: apt install python3-matplotlib; PyPI: matplotlib)."""
import csv
import os
import statistics
import sys
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Methods drawn (the others are in the CSV and the table). A method whose run chose the other
# strategy carries a "[... chosen]" suffix in the CSV and is drawn under that name.
SHOWN = [
    "flowspec fresh (merged)", "flowspec replace (merged)",
    "flowspec apply, 1 route changed (delta, merged)",
    "flowspec fresh (--no-merge)", "flowspec replace (--no-merge)",
    "flowspec apply, 1 route changed (delta, --no-merge)",
    "nft -f fresh", "nft -f replace", "nft -f replace (merged text)",
    "iptables-legacy-restore", "iptables-nft-restore",
    "delta 1 route (merged)", "delta 1 route (merged) (plan+commit)", "delta 1 route (merged, incremental)",
    "delta 1 route (--no-merge)", "delta 1% (--no-merge)",
]


def median_errorbar(ax, by_n, **style):
    """One series: the median per N, with min-max bars."""
    ns = sorted(by_n)
    med = [statistics.median(by_n[n]) for n in ns]
    lo = [m - min(by_n[n]) for n, m in zip(ns, med)]
    hi = [max(by_n[n]) - m for n, m in zip(ns, med)]
    ax.errorbar(ns, med, yerr=[lo, hi], marker="o", capsize=3, **style)


def finish(fig, ax, dst, xlabel, ylabel, title, legend_size):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(dst, dpi=120)


def load_times(src, dst):
    times = defaultdict(lambda: defaultdict(list))
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            times[row["method"]][int(row["n"])].append(float(row["total_s"]))
    fig, ax = plt.subplots(figsize=(10, 7))
    for method in SHOWN:
        if method not in times:
            continue
        median_errorbar(ax, times[method], linestyle="--" if "no-merge" in method else "-", label=method)
    finish(fig, ax, dst, "routes (N)", "seconds to committed table (median, min-max)",
           "flowspec-nft bench: load and update times (dashed: --no-merge)", 7)


def data_path(src, dst):
    rates = defaultdict(lambda: defaultdict(list))
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            rates[row["form"]][int(row["n"])].append(float(row["forwarded_pps"]))
    empty = statistics.median(rates["empty"][0]) if rates["empty"] else None
    fig, ax = plt.subplots(figsize=(8, 5))
    for form in ("merged", "--no-merge"):
        if form not in rates:
            continue
        median_errorbar(ax, rates[form], label=form)
    if empty:
        ax.axhline(empty, color="gray", linestyle="-", label="empty table")
        ax.axhline(empty / 4, color="red", linestyle=":", label="25% of empty (target)")
    finish(fig, ax, dst, "routes (N), none matching the traffic", "packets/s forwarded (median, min-max)",
           "flowspec-nft bench --datapath: UDP h1 -> r -> h2, table on r's forward hook", 8)


def main(src, dst):
    load_times(src, dst)
    dp = os.path.join(os.path.dirname(src) or ".", "datapath.csv")
    if os.path.exists(dp):
        data_path(dp, os.path.join(os.path.dirname(dst) or ".", "datapath.png"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
