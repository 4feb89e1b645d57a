#!/usr/bin/env python3
"""Kestrel benchmark report: one table per family, ratios not absolute times.

Reads the Google Benchmark JSON files in the given directory (default build/bench), plus
peer results (peer_*.csv), and prints for every Kestrel kernel:
  time, baseline time, speedup over the baseline, and the fraction of the machine's limit,
where the limit is the larger of
  bytes moved / triad bandwidth (measured in this run at the same thread count and at the
  smallest triad working set that holds the kernel's bytes, so in-cache sizes are compared
  with cache bandwidth), and
  floating-point operations / measured peak FMA rate at the same thread count.
Writes report.md (the tables) and PNG plots of speedup against size next to the JSON.
Curves a family wants plotted (error against model evaluations, ...) come as
curve_<name>.csv files with a header "series,x,y[,xlabel,ylabel]".
"""
import csv
import glob
import json
import math
import os
import re
import sys
from collections import defaultdict


def parse_name(name):
    parts = name.split("/")
    # Google Benchmark's own suffixes: real_time, real_time_median (aggregates), and the
    # iterations:/repeats: settings, which say how a run was measured, not what.
    parts = [p for p in parts if not p.startswith(("real_time", "manual_time"))]
    fixed, args = [], {}
    for p in parts:
        if ":" in p:
            k, v = p.split(":", 1)
            if k in ("iterations", "repeats"):
                continue
            args[k] = v
        else:
            fixed.append(p)
    family = fixed[0] if fixed else "?"
    kernel = fixed[1] if len(fixed) > 1 else "?"
    impl = fixed[2] if len(fixed) > 2 else "kestrel"
    variant = "/".join(fixed[3:])
    return family, kernel, impl, variant, args


def seconds(b):
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
    return b["real_time"] * unit


def load(directory):
    runs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError:
                print(f"(skipping unreadable {path})")
                continue
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            if b.get("error_occurred"):
                continue
            runs.append(b)
    return runs


def fmt_time(s):
    if s is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


# Counters that say what a run produced (quality beside time), shown as "result".
RESULT_COUNTERS = (("loss", "loss", "{:.6g}"), ("medoid_silhouette", "medoid silhouette", "{:.4f}"),
                   ("swap_iterations", "passes", "{:.0f}"), ("swaps", "swaps", "{:.0f}"), ("draws", "draws", "{:.0f}"),
                   ("paired_speedup", "all threads vs 1, median of paired runs", "{:.2f}x"),
                   ("paired_speedup_min", "lowest pair", "{:.2f}x"), ("paired_speedup_max", "highest", "{:.2f}x"),
                   ("paired_identical", "identical results", "{:.0f}"))


def notes(counters, base_counters):
    parts = []
    for key, label, fmt in RESULT_COUNTERS:
        if key in counters:
            text = f"{label} {fmt.format(counters[key])}"
            if key in ("loss", "medoid_silhouette") and base_counters and key in base_counters and base_counters[key]:
                text += f" (baseline {fmt.format(base_counters[key])})"
            parts.append(text)
    return ", ".join(parts) if parts else ""


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    runs = load(directory)
    if not runs:
        print(f"no benchmark results in {directory}")
        return 1

    triad = defaultdict(list)  # threads -> [(bytes, bytes_per_second)]
    peak = {}
    read_bw = {}  # threads -> bytes per second of a pure read stream
    entries = []
    for b in runs:
        family, kernel, impl, variant, args = parse_name(b["name"])
        t = seconds(b)
        threads = int(args.get("threads", "1"))
        if family == "machine" and kernel == "triad":
            triad[threads].append((b.get("bytes", 0.0), b.get("bytes_per_second", 0.0)))
        elif family == "machine" and kernel == "read":
            read_bw[threads] = max(read_bw.get(threads, 0.0), b.get("bytes_per_second", 0.0))
        elif family == "machine" and kernel == "peak_flops":
            peak[threads] = max(peak.get(threads, 0.0), b.get("flop_rate", 0.0))
        else:
            entries.append(dict(family=family, kernel=kernel, impl=impl, variant=variant, args=args,
                                threads=threads, time=t, bytes=b.get("bytes", 0.0), flop=b.get("flop", 0.0),
                                counters=b))
    # Several runs of the same triad (start and end of the suite): keep the best per size.
    for t, v in triad.items():
        best = {}
        for size, bw in v:
            best[size] = max(bw, best.get(size, 0.0))
        triad[t] = sorted(best.items())

    def bandwidth(threads, nbytes):
        """Best triad bandwidth at the smallest measured working set that holds nbytes,
        over thread counts up to `threads` (fork/join overhead makes small multi-thread
        triads slower than one thread; the machine can still do the faster one)."""
        best, size_used = None, None
        for t, table in triad.items():
            if t > threads:
                continue
            chosen = next(((size, bw) for size, bw in table if size >= nbytes), table[-1])
            if best is None or chosen[1] > best:
                best, size_used = chosen[1], chosen[0]
        return best, size_used

    def limit(e):
        best, why = 0.0, ""
        if e["bytes"] > 0:
            bw, size = bandwidth(e["threads"], e["bytes"])
            if bw:
                best = e["bytes"] / bw
                why = "memory" if size >= max(sz for tb in triad.values() for sz, _ in tb) else "cache"
        pk = peak.get(e["threads"]) or (peak.get(max(peak)) if peak else None)
        if e["flop"] > 0 and pk:
            tf = e["flop"] / pk
            if tf > best:
                best, why = tf, "arith"
        return (best, why) if best > 0 else (None, "")

    def args_key(e, drop=("threads",)):
        return tuple(sorted((k, v) for k, v in e["args"].items() if k not in drop))

    baselines = {}
    for e in entries:
        if e["impl"] == "baseline":
            key = (e["family"], e["kernel"], e["variant"], args_key(e))
            if key not in baselines or e["threads"] == 1:
                baselines[key] = e

    lines = []
    def out(s=""):
        print(s)
        lines.append(s)

    out("# Kestrel benchmark report")
    out()
    if triad:
        out("Machine limits measured in this run:")
        for t in sorted(triad):
            dram = triad[t][-1]
            out(f"- triad, {t} thread(s): {dram[1] / 1e9:.1f} GB/s out of cache "
                f"({dram[0] / 2**20:.0f} MiB); in cache up to {max(bw for _, bw in triad[t]) / 1e9:.1f} GB/s")
        for t in sorted(read_bw):
            out(f"- read stream (read-only kernels' bound), {t} thread(s): {read_bw[t] / 1e9:.1f} GB/s out of cache")
        for t in sorted(peak):
            out(f"- peak FMA arithmetic, {t} thread(s): {peak[t] / 1e9:.1f} GFLOP/s (double)")
        out()

    speedups = defaultdict(list)
    by_family = defaultdict(list)
    for e in entries:
        by_family[e["family"]].append(e)
    for family in sorted(by_family):
        rows = []
        for e in by_family[family]:
            if e["impl"] == "baseline":
                continue
            key = (e["family"], e["kernel"], e["variant"], args_key(e))
            base = baselines.get(key)
            lim, why = limit(e)
            frac = lim / e["time"] if lim else None
            speed = base["time"] / e["time"] if base else None
            argstr = "/".join(f"{k}:{v}" for k, v in sorted(e["args"].items(), key=lambda kv: kv[0] == "threads"))
            kname = e["kernel"] + (("/" + e["variant"]) if e["variant"] else "")
            rows.append((kname, e["impl"], argstr, fmt_time(e["time"]), fmt_time(base["time"]) if base else "-",
                         f"{speed:.2f}x" if speed else "-", f"{frac:.0%} ({why})" if frac else "-",
                         notes(e["counters"], base["counters"] if base else None)))
            if speed and "n" in e["args"]:
                series = f"{kname} " + " ".join(f"{k}:{v}" for k, v in sorted(e["args"].items()) if k != "n")
                speedups[family].append((series, float(e["args"]["n"]), speed))
        if not rows:
            continue
        out(f"## {family}")
        out()
        out("| kernel | impl | args | time | baseline | speedup | of limit | result |")
        out("|---|---|---|---|---|---|---|---|")
        for r in rows:
            out("| " + " | ".join(r) + " |")
        out()

    # Peer results: peer_<family>_<name>.csv with a header; printed as they are.
    for path in sorted(glob.glob(os.path.join(directory, "peer_*.csv"))):
        with open(path) as f:
            rows = list(csv.reader(f))
        if not rows:
            continue
        out(f"## peer: {os.path.basename(path)[5:-4]}")
        out()
        out("| " + " | ".join(rows[0]) + " |")
        out("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            out("| " + " | ".join(r) + " |")
        out()

    with open(os.path.join(directory, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plots; install python3-matplotlib)")
        return 0
    for family, pts in speedups.items():
        series = defaultdict(list)
        for s, n, sp in pts:
            series[s].append((n, sp))
        fig, ax = plt.subplots(figsize=(8, 5))
        for s, v in sorted(series.items()):
            v.sort()
            if len(v) < 2:
                continue
            ax.plot([a for a, _ in v], [b for _, b in v], marker="o", label=s)
        ax.set_xscale("log", base=2)
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_xlabel("n (elements)")
        ax.set_ylabel("speedup over baseline")
        ax.set_title(f"{family}: Kestrel speedup over the baseline")
        if ax.lines:
            ax.legend(fontsize=7)
            path = os.path.join(directory, f"{family}_speedup.png")
            fig.savefig(path, dpi=110, bbox_inches="tight")
            print(f"wrote {path}")
        plt.close(fig)
    for path in sorted(glob.glob(os.path.join(directory, "curve_*.csv"))):
        series = defaultdict(list)
        xlabel, ylabel = "x", "y"
        with open(path) as f:
            for r in csv.DictReader(f):
                series[r["series"]].append((float(r["x"]), float(r["y"])))
                xlabel, ylabel = r.get("xlabel") or xlabel, r.get("ylabel") or ylabel
        fig, ax = plt.subplots(figsize=(8, 5))
        for s, v in sorted(series.items()):
            v.sort()
            ax.plot([a for a, _ in v], [b for _, b in v], marker="o", label=s)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(os.path.basename(path)[6:-4].replace("_", " "))
        ax.legend(fontsize=7)
        png = path[:-4] + ".png"
        fig.savefig(png, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
