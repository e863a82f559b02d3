#!/usr/bin/env python3
"""Bar charts of a benches/run-all.sh results file (gregor vs tansu vs the
machine's ceilings), written as PNG files for docs/performance.md.

    python3 benches/plot.py benches/results/latest.json --out-dir docs/perf

Needs matplotlib (run-all.sh installs a pinned version into a venv).
"""

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"gregor": "#2b6cb0", "tansu": "#dd6b20", "ceiling": "#718096"}


def by_name(res, broker):
    b = res["brokers"].get(broker)
    return {w["name"]: w for w in b["workloads"]} if b else {}


def grouped(ax, labels, series, ylabel, title, log=False):
    n = len(series)
    width = 0.8 / max(n, 1)
    for i, (name, values) in enumerate(series):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(labels))]
        vals = [v if v is not None else 0 for v in values]
        bars = ax.bar(xs, vals, width, label=name, color=COLORS.get(name))
        for bar, v in zip(bars, values):
            if v is None:
                continue
            txt = "%.0f" % v if v >= 10 else "%.2f" % v
            ax.annotate(txt, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7, rotation=90, xytext=(0, 2),
                        textcoords="offset points")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.margins(y=0.15)


def short(name):
    return name.replace("produce-", "P ").replace("consume-", "C ").replace("-half-peak-latency", " @½ peak").replace("-linger1", " linger 1")


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("wrote", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--out-dir", default="docs/perf")
    args = ap.parse_args()
    with open(args.results) as f:
        res = json.load(f)
    os.makedirs(args.out_dir, exist_ok=True)
    g, t = by_name(res, "gregor"), by_name(res, "tansu")
    c = res["ceilings"]
    brokers = [("gregor", g)] + ([("tansu", t)] if t else [])

    # 1. Records/s of the 100 B workloads.
    names = [n for n in g if "100b" in n and "latency" not in n]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    grouped(ax, [short(n) for n in names],
            [(b, [ws[n]["records_per_s"] / 1e6 if n in ws else None for n in names]) for b, ws in brokers],
            "million records/s", "100 B records: produce variations and consume from the beginning")
    save(fig, args.out_dir, "records-per-second.png")

    # 2. MB/s next to the ceilings.
    names = [n for n in g if "latency" not in n]
    ceil = []
    for n in names:
        if n.startswith("consume"):
            ceil.append(c["sendfile_loopback"]["mb_per_s"])
        else:
            ceil.append(c["write_pagecache"]["mb_per_s"])
    fig, ax = plt.subplots(figsize=(11, 5))
    series = [(b, [ws[n]["mb_per_s"] if n in ws else None for n in names]) for b, ws in brokers]
    series.append(("ceiling", ceil))
    grouped(ax, [short(n) for n in names], series, "MB/s (10^6 B of record values)",
            "Throughput vs ceiling (produce: page-cache write; consume: loopback sendfile)", log=True)
    save(fig, args.out_dir, "mb-per-second.png")

    # 3. Produce latency p99.
    names = [n for n in g if n.startswith("produce") and g[n].get("latency")]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    grouped(ax, [short(n) for n in names],
            [(b, [ws[n]["latency"]["p99_ms"] if n in ws and ws[n].get("latency") else None for n in names])
             for b, ws in brokers],
            "p99 ms (produce() to delivery report)", "Produce latency p99 (peak load; last: half of peak)",
            log=True)
    save(fig, args.out_dir, "latency-p99.png")

    # 4. Broker CPU per GB.
    names = [n for n in g if g[n].get("broker_cpu_s_per_gb") is not None]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    grouped(ax, [short(n) for n in names],
            [(b, [ws[n].get("broker_cpu_s_per_gb") if n in ws else None for n in names]) for b, ws in brokers],
            "broker CPU s per GB", "Broker CPU seconds (utime+stime) per GB of record values", log=True)
    save(fig, args.out_dir, "cpu-per-gb.png")

    # 5. Ceilings.
    keys = [("write_pagecache", "write\n(page cache)"), ("write_fsync_end", "write +\nfdatasync at end"),
            ("write_fdatasync_each", "write +\nfdatasync each MiB"), ("sendfile_loopback", "sendfile\nloopback")]
    fig, ax = plt.subplots(figsize=(7, 4))
    grouped(ax, [k[1] for k in keys], [("ceiling", [c[k[0]]["mb_per_s"] for k in keys])], "MB/s",
            "Machine ceilings (same run)")
    ax.tick_params(axis="x", rotation=0)
    save(fig, args.out_dir, "ceilings.png")


if __name__ == "__main__":
    main()
