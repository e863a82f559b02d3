#!/usr/bin/env python3
"""Results of benches/run-all.sh: combine the per-broker JSON files, and print
Markdown tables (workloads, ceilings, targets of issue #6) for
docs/performance.md. Standard library only.

    python3 benches/report.py combine --ceilings C1.json [--ceilings C2.json] --broker gregor=G.json [--broker tansu=T.json] --out R.json
    python3 benches/report.py table [benches/results/latest.json]
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / (1 << 20)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gib": round(mem_gib, 1),
        "kernel": platform.release(),
    }


# Ceilings measured more than once per run; the best sample of each is the
# machine's limit (a ceiling is an upper bound: a lower sample was disturbed
# by something else on the host, not a tighter limit).
CEILING_KEYS = ("write_pagecache", "write_fsync_end", "write_fdatasync_each", "sendfile_loopback")


def best_ceilings(samples):
    """The first sample with each ceiling replaced by the best over all samples;
    every sample's figure is kept under `samples_mb_per_s`."""
    best = dict(samples[0])
    for key in CEILING_KEYS:
        present = [s[key] for s in samples if key in s]
        if not present:
            continue
        best[key] = dict(max(present, key=lambda m: m["mb_per_s"]))
        best[key]["samples_mb_per_s"] = [m["mb_per_s"] for m in present]
    best["samples"] = len(samples)
    return best


def is_latency(name):
    return "latency" in name


def figure(w):
    """The figure a round is judged by: p99 (ms) for the latency workloads,
    records/s for the rest."""
    return w["latency"]["p99_ms"] if is_latency(w["name"]) else w["records_per_s"]


def best_rounds(runs):
    """One broker's matrix runs (rounds) → the first run with each workload
    replaced by its best round (highest records/s; lowest p99 for the latency
    workloads), every round's figure kept under `rounds`. Best-of-N for each
    broker alike: a worse round was slowed by the host, not by the broker."""
    out = dict(runs[0])
    by_name = {}
    order = []
    for run in runs:
        for w in run["workloads"]:
            if w["name"] not in by_name:
                order.append(w["name"])
            by_name.setdefault(w["name"], []).append(w)
    best = []
    for name in order:
        ws = by_name[name]
        pick = min(ws, key=figure) if is_latency(name) else max(ws, key=figure)
        pick = dict(pick)
        pick["rounds"] = [figure(w) for w in ws]
        best.append(pick)
    out["workloads"] = best
    out["rounds"] = len(runs)
    out["failures"] = [f for run in runs for f in run.get("failures", [])]
    return out


def combine(args):
    samples = []
    for path in args.ceilings:
        with open(path) as f:
            samples.append(json.load(f))
    ceilings = best_ceilings(samples)
    rounds = {}
    for spec in args.broker:
        name, path = spec.split("=", 1)
        with open(path) as f:
            rounds.setdefault(name, []).append(json.load(f))
    brokers = {name: best_rounds(runs) for name, runs in rounds.items()}
    out = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "ceilings": ceilings,
        "brokers": brokers,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


def ceiling_for(name, ceilings):
    """(label, MB/s) of the machine ceiling a workload is compared with."""
    if name.startswith("consume"):
        return "sendfile loopback", ceilings["sendfile_loopback"]["mb_per_s"]
    if name.startswith("produce") and not is_latency(name):
        return "write, page cache", ceilings["write_pagecache"]["mb_per_s"]
    return None, None


def workloads(res, broker):
    b = res["brokers"].get(broker)
    if not b:
        return {}
    return {w["name"]: w for w in b["workloads"]}


def fmt_rate(w):
    if w is None:
        return "–"
    if is_latency(w["name"]):
        return "p99 %.2f ms @ %s rec/s" % (w["latency"]["p99_ms"], format(int(w["records_per_s"]), ","))
    return "%s rec/s, %.1f MB/s" % (format(int(w["records_per_s"]), ","), w["mb_per_s"])


def fmt_lat(w):
    if w is None or not w.get("latency"):
        return "–"
    lat = w["latency"]
    return "%.1f / %.1f / %.1f" % (lat["p50_ms"], lat["p99_ms"], lat["p999_ms"])


def fmt_cpu(w):
    if w is None or w.get("broker_cpu_s_per_gb") is None:
        return "–"
    return "%.2f" % w["broker_cpu_s_per_gb"]


def fmt_other(w):
    if w is None or w.get("other_cpu_s") is None:
        return "–"
    return "%.1f" % w["other_cpu_s"]


def fmt_client_cpu(w):
    if w is None or not w.get("bytes"):
        return "–"
    return "%.1f" % (w["client_cpu_s"] / (w["bytes"] / 1e9))


def table(args):
    with open(args.results) as f:
        res = json.load(f)
    c = res["ceilings"]
    g = workloads(res, "gregor")
    t = workloads(res, "tansu")
    names = list(g) + [n for n in t if n not in g]
    m = res.get("machine", {})
    print("Run %s on %s CPUs (%s), %s GiB, kernel %s.\n" % (
        res.get("timestamp"), m.get("cpus"), m.get("cpu_model"), m.get("mem_gib"), m.get("kernel")))
    print("| ceiling | MB/s |")
    print("| --- | ---: |")
    for key, label in [
        ("write_pagecache", "sequential write, no fsync (page cache)"),
        ("write_fsync_end", "sequential write, one fdatasync at the end"),
        ("write_fdatasync_each", "sequential write, fdatasync every 1 MiB"),
        ("sendfile_loopback", "sendfile(2) over 127.0.0.1"),
    ]:
        runs = c[key].get("samples_mb_per_s", [])
        if len(runs) > 1:
            print("| %s | %.0f (best of %s) |" % (label, c[key]["mb_per_s"], ", ".join("%.0f" % r for r in runs)))
        else:
            print("| %s | %.0f |" % (label, c[key]["mb_per_s"]))
    w = c.get("warm_memory")
    if w and w.get("fill"):
        print("| first touch of memory (page-cache fill of the warm file, %d MiB; not a ceiling) | %.0f |"
              % (w["fill"]["bytes"] >> 20, w["fill"]["mb_per_s"]))
    print()
    print("| workload | gregor | tansu | gregor ÷ tansu | ceiling | gregor ÷ ceiling "
          "| latency p50/p99/p99.9 ms (gregor; tansu) | broker CPU s/GB (gregor; tansu) "
          "| client CPU s/GB (vs gregor) | other processes' CPU s (gregor; tansu) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in names:
        gw, tw = g.get(n), t.get(n)
        ratio = "–"
        if gw and tw and tw["records_per_s"] > 0 and not is_latency(n):
            ratio = "%.2f×" % (gw["records_per_s"] / tw["records_per_s"])
        label, ceil = ceiling_for(n, c)
        ceil_s = frac = "–"
        if ceil:
            ceil_s = "%.0f MB/s (%s)" % (ceil, label)
            if gw:
                frac = "%.0f%%" % (100.0 * gw["mb_per_s"] / ceil)
        print("| %s | %s | %s | %s | %s | %s | %s; %s | %s; %s | %s | %s; %s |" % (
            n, fmt_rate(gw), fmt_rate(tw), ratio, ceil_s, frac,
            fmt_lat(gw), fmt_lat(tw), fmt_cpu(gw), fmt_cpu(tw), fmt_client_cpu(gw),
            fmt_other(gw), fmt_other(tw)))
    print()
    rounds_table(names, g, t)
    targets(res, g, t)


def fmt_rounds(w):
    if w is None or not w.get("rounds"):
        return "–"
    if is_latency(w["name"]):
        return ", ".join("%.2f ms" % r for r in w["rounds"])
    return ", ".join(format(int(r), ",") for r in w["rounds"])


def rounds_table(names, g, t):
    """Every round's figure, so the spread between rounds is in plain sight."""
    if not any(len(w.get("rounds", [])) > 1 for w in list(g.values()) + list(t.values())):
        return
    print("| workload: every round (records/s; p99 for latency) | gregor | tansu |")
    print("| --- | ---: | ---: |")
    for n in names:
        print("| %s | %s | %s |" % (n, fmt_rounds(g.get(n)), fmt_rounds(t.get(n))))
    print()


def targets(res, g, t):
    """The targets of issue #6, each with the measured figure and met / not met."""
    c = res["ceilings"]
    rows = []

    def add(what, target, value, ok):
        rows.append((what, target, value, "met" if ok else "not met"))

    w = g.get("produce-100b-base")
    if w:
        add("produce 100 B, 1 partition, acks=1", "≥ 1,500,000 rec/s",
            format(int(w["records_per_s"]), ","), w["records_per_s"] >= 1.5e6)
    w = g.get("produce-1kib")
    if w:
        add("produce 1 KiB", "≥ 550 MB/s", "%.0f MB/s" % w["mb_per_s"], w["mb_per_s"] >= 550)
    w = g.get("consume-100b")
    if w:
        add("consume 100 B from the beginning", "≥ 2,800,000 rec/s",
            format(int(w["records_per_s"]), ","), w["records_per_s"] >= 2.8e6)
    w = g.get("consume-64kib")
    if w:
        f = w["mb_per_s"] / c["sendfile_loopback"]["mb_per_s"]
        add("fetch of 64 KiB records", "≥ 80% of loopback sendfile", "%.0f%%" % (100 * f), f >= 0.8)
    a, b = g.get("produce-100b-acks-all"), g.get("produce-100b-base")
    if a and b:
        f = a["records_per_s"] / b["records_per_s"]
        add("acks=all vs acks=1", "within 10%", "%.0f%% of acks=1" % (100 * f), f >= 0.9)
    w = g.get("consume-64kib-raw")
    if w:
        f = w["mb_per_s"] / c["sendfile_loopback"]["mb_per_s"]
        add("fetch of 64 KiB records, raw engine", "≥ 80% of loopback sendfile", "%.0f%%" % (100 * f), f >= 0.8)
    w = g.get("produce-100b-half-peak-latency")
    if w and w.get("latency"):
        add("produce p99 at half of peak", "< 5 ms", "%.2f ms" % w["latency"]["p99_ms"],
            w["latency"]["p99_ms"] < 5)
    w = g.get("produce-100b-half-peak-latency-linger1")
    if w and w.get("latency"):
        add("produce p99 at half of peak, linger.ms=1", "< 5 ms", "%.2f ms" % w["latency"]["p99_ms"],
            w["latency"]["p99_ms"] < 5)
    for n, label in [("produce-100b-base", "produce 100 B"), ("produce-1kib", "produce 1 KiB"),
                     ("consume-100b", "consume 100 B"),
                     ("produce-100b-raw", "produce 100 B, raw engine"),
                     ("produce-1kib-raw", "produce 1 KiB, raw engine"),
                     ("consume-100b-raw", "consume 100 B, raw engine")]:
        if n in g and n in t and t[n]["records_per_s"] > 0:
            r = g[n]["records_per_s"] / t[n]["records_per_s"]
            add("%s vs tansu (in memory)" % label, "≥ 1.5×", "%.2f×" % r, r >= 1.5)
    if rows:
        print("| target (issue #6) | wanted | measured | |")
        print("| --- | --- | ---: | --- |")
        for r in rows:
            print("| %s | %s | %s | %s |" % r)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("combine")
    c.add_argument("--ceilings", action="append", required=True,
                   help="ceilings JSON of gregor-load; repeat for several samples (the best of each is kept)")
    c.add_argument("--broker", action="append", default=[],
                   help="NAME=FILE; repeat a NAME for several rounds (each workload's best is kept)")
    c.add_argument("--out", required=True)
    tb = sub.add_parser("table")
    tb.add_argument("results", nargs="?", default=os.path.join(HERE, "results", "latest.json"))
    args = ap.parse_args()
    if args.cmd == "combine":
        combine(args)
    else:
        table(args)


if __name__ == "__main__":
    sys.exit(main())
