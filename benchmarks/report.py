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
                   ("paired_identical", "identical results", "{:.0f}"),
                   ("validated_over_unvalidated", "default-validated / unvalidated, median of paired runs", "{:.3f}"),
                   ("ratio_min", "lowest pair", "{:.3f}"), ("ratio_max", "highest", "{:.3f}"),
                   ("contended_slowdown", "one core busy: all threads / 1 thread (target <= 1.2), median", "{:.2f}"),
                   ("contended_slowdown_min", "lowest pair", "{:.2f}"),
                   ("contended_slowdown_max", "highest", "{:.2f}"),
                   ("idle_speedup", "idle: 1 thread / all threads", "{:.2f}x"))


PEER_NOTES = {
    "kmedoids_r_pam": "R's `cluster::pam` against Kestrel on the same matrix from the same medoids, like for like "
                      "(benchmarks/peers/kmedoids_r_pam.sh). SWAP: R's = `pam(d, k, medoids = m)` minus the same call "
                      "with `do.swap = FALSE`, timed at pam's call into its C code (pam's R prologue, the same in "
                      "both, prepared once); Kestrel's = the SWAP routine with `validate_input = false`. Whole call: "
                      "R's `pam(d, k, medoids = m)` against Kestrel's default call on a view of the n x n matrix "
                      "(input check on), and with `silhouette()` of the result added (pam returns silhouette widths). "
                      "CPU seconds of one thread (fastest of the repetitions), which other load on a shared machine does not inflate; "
                      "the all-threads column is wall time. Ratios are R / Kestrel."}


def notes(counters, base_counters):
    parts = []
    for key, label, fmt in RESULT_COUNTERS:
        if key in counters:
            text = f"{label} {fmt.format(counters[key])}"
            if key in ("loss", "medoid_silhouette") and base_counters and key in base_counters and base_counters[key]:
                text += f" (baseline {fmt.format(base_counters[key])})"
            parts.append(text)
    return ", ".join(parts) if parts else ""


# ---- plots ---------------------------------------------------------------------------------

# Distinct colours and markers, assigned to solvers in a fixed order so that one solver looks
# the same in every plot; a line style per family of solvers.
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#000000", "#393b79"]
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "h", "<", ">", "p", "d", "8", "H"]
# Solvers in a fixed order with their own colour and marker, so that a solver looks the same in
# every plot; the dozen a plot shows today have clearly different colours (the light tints
# belong to solvers no plot shows yet).
KNOWN_SOLVERS = [("ddim", "#1f77b4", "o"), ("euler", "#aec7e8", "v"), ("heun", "#2ca02c", "^"),
                 ("euler_ancestral", "#98df8a", "<"),
                 ("dpm_solver_1", "#c5b0d5", "1"), ("dpm_solver_2", "#9467bd", "P"), ("dpm_solver_3", "#e377c2", "X"),
                 ("dpm_solver_pp_2s", "#7f7f7f", "*"), ("dpm_solver_pp_2m", "#ff7f0e", "h"),
                 ("dpm_solver_pp_3m_published", "#d62728", "s"), ("dpm_solver_pp_3m_corrected", "#000000", ">"),
                 ("dpm_solver_pp_2m_sde", "#e6ab02", "p"), ("dpm_solver_pp_3m_sde", "#ff9896", "H"),
                 ("unipc_2_bh2", "#17becf", "o"), ("unipc_3_bh2", "#8c564b", "D"),
                 ("deis_2", "#bcbd22", "d"), ("deis_3", "#393b79", "8")]
# Benchmark kernels that are one of the solvers above (the step benchmarks run the published
# 3M form and UniPC's bh2 predictor).
SOLVER_ALIASES = {"dpm_solver_pp_3m": "dpm_solver_pp_3m_published", "unipc_3": "unipc_3_bh2",
                  "unipc_2": "unipc_2_bh2"}
FAMILY_STYLES = [("dpm_solver_pp", "--", "DPM-Solver++"), ("dpm_solver", ":", "DPM-Solver"),
                 ("unipc", "-.", "UniPC"), ("deis", (0, (9, 2, 1.5, 2, 1.5, 2)), "DEIS"),
                 ("", "-", "DDIM / Euler / Heun")]


def solver_key(name):
    key = name.lower().replace("++", "_pp")
    key = re.sub(r"[^a-z0-9]+", "_", key).strip("_")
    key = re.sub(r"_step$", "", key).replace("_predictor", "")
    return SOLVER_ALIASES.get(key, key)


class Styler:
    """Colour and marker per series: fixed for the known ones, in order of first use otherwise."""

    def __init__(self, known=()):
        self.fixed = {key: (colour, marker) for key, colour, marker in known}
        self.order = {key: i for i, (key, _, _) in enumerate(known)}
        self.used = {}

    def __call__(self, name, key=None):
        key = key or name
        if key in self.fixed:
            return self.fixed[key]
        if key not in self.used:
            self.used[key] = len(self.used)
        i = self.used[key]
        return COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]


SOLVERS = Styler(KNOWN_SOLVERS)


def solver_style(name):
    """(colour, marker, line style) of a diffusion solver, or None for other series."""
    key = solver_key(name)
    if not any(key.startswith(p) for p in ("ddim", "euler", "heun", "dpm_solver", "unipc", "deis")):
        return None
    colour, marker = SOLVERS(name, key)
    style = next(ls for prefix, ls, _ in FAMILY_STYLES if key.startswith(prefix))
    return colour, marker, style


def legend_outside(ax, title=None):
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, title=title,
              title_fontsize=7, frameon=False)


def save(plt, fig, path, extra=()):
    fig.savefig(path, dpi=110, bbox_inches="tight", bbox_extra_artists=list(extra) or None)
    plt.close(fig)
    print(f"wrote {path}")


BASELINE_NOTES = {"core": " (whole-array operations with temporaries, 1 thread)",
                  "diffusion": " (diffusers' expressions as whole-array operations, 1 thread)"}


def size_label(n):
    for unit, scale in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{int(n // scale)} {unit}"
    return f"{n:g}"


def plot_speedup(plt, directory, family, pts):
    """Speedup over the baseline against size, one panel per thread count."""
    panels = defaultdict(lambda: defaultdict(list))  # threads -> series -> [(n, speedup)]
    for s, n, sp in pts:
        m = re.search(r"threads:(\d+)", s)
        threads = int(m.group(1)) if m else 1
        label = re.sub(r"\s*threads:\d+", "", s).strip()
        panels[threads][label].append((n, sp))
    panels = {t: v for t, v in panels.items() if any(len(x) >= 2 for x in v.values())}
    if not panels:
        return
    other = Styler()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), sharey=True, squeeze=False)
    rank = lambda label: (solver_style(label.split(" ")[0]) is None,
                          SOLVERS.order.get(solver_key(label.split(" ")[0]), 99), label)
    for ax, threads in zip(axes[0], sorted(panels)):
        sizes = sorted({n for v in panels[threads].values() for n, _ in v})
        for label in sorted(panels[threads], key=rank):
            v = panels[threads][label]
            if len(v) < 2:
                continue
            v.sort()
            st = solver_style(label.split(" ")[0])
            colour, marker, ls = st if st else (*other(label), "-")
            ax.plot([a for a, _ in v], [b for _, b in v], color=colour, marker=marker, ls=ls, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.set_xticklabels([size_label(n) for n in sizes])
        ax.minorticks_off()
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_xlabel("n (elements)")
        ax.set_title(f"{threads} thread{'s' if threads > 1 else ''}")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("speedup over baseline (x)")
    fig.suptitle(f"{family}: Kestrel speedup over the baseline" + BASELINE_NOTES.get(family, ""))
    legend_outside(axes[0][-1])
    save(plt, fig, os.path.join(directory, f"{family}_speedup.png"))


def plot_curve(plt, path):
    series = defaultdict(list)
    xlabel, ylabel = "x", "y"
    with open(path) as f:
        for r in csv.DictReader(f):
            try:
                series[r["series"]].append((float(r["x"]), float(r["y"])))
            except (KeyError, TypeError, ValueError):
                continue
            xlabel, ylabel = r.get("xlabel") or xlabel, r.get("ylabel") or ylabel
    if not series:
        return
    other = Styler()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    families = set()
    for s, v in series.items():
        v.sort()
        st = solver_style(s)
        colour, marker, ls = st if st else (*other(s), "-")
        if st:
            families.add(next(name for prefix, _, name in FAMILY_STYLES if solver_key(s).startswith(prefix)))
        ax.plot([a for a, _ in v], [b for _, b in v], color=colour, marker=marker, ls=ls, ms=5, label=s)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    name = os.path.basename(path)[6:-4]
    ax.set_title(CURVE_TITLES.get(name, name.replace("_", " ")), fontsize=10)
    # Legend in a fixed order (by solver family, then name), outside the axes.
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: (solver_style(labels[i]) is None,
                                                      SOLVERS.order.get(solver_key(labels[i]), 99), labels[i]))
    extra = []
    leg = ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=7, loc="upper left",
                    bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, title="solver", title_fontsize=7)
    if len(families) > 1:
        # A second key: the line style of each family of solvers.
        from matplotlib.lines import Line2D
        ax.add_artist(leg)
        extra.append(leg)
        fam = [(ls, name) for _, ls, name in FAMILY_STYLES if name in families]
        ax.legend([Line2D([], [], color="#333333", ls=ls) for ls, _ in fam], [name for _, name in fam], fontsize=7,
                  loc="lower left", bbox_to_anchor=(1.02, 0.0), borderaxespad=0.0, frameon=False,
                  title="solver family (line style)", title_fontsize=7, handlelength=4)
    save(plt, fig, path[:-4] + ".png", extra)


CURVE_TITLES = {"diffusion_error_vs_nfe": "diffusion: sampling error against model evaluations (NFE)\n"
                                          "2-D two-component Gaussian mixture, uniform-logSNR grid from t = 1 to 1e-3,\n"
                                          "error = max |x - exact flow| over 64 samples (reference: RK4, 20000 steps)"}


KM_VARIANTS = [("pam", "PAM (original)", "#7f7f7f", "s"), ("fastpam1", "FastPAM1", "#1f77b4", "o"),
               ("fastpam2", "FastPAM2", "#2ca02c", "^"), ("fasterpam", "FasterPAM", "#d62728", "D")]


def legend_all(axes, title=None):
    """One legend, right of the last panel, for the lines of all panels, in KM_VARIANTS order."""
    seen = {}
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(l, h)
    names = [name for _, name, _, _ in KM_VARIANTS]
    rank = lambda l: (next((i for i, nm in enumerate(names) if l.startswith(nm)), 99), "threads" in l, l)
    labels = sorted(seen, key=rank)
    axes[-1].legend([seen[l] for l in labels], labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                    borderaxespad=0.0, frameon=False, title=title, title_fontsize=8)


def plot_kmedoids(plt, directory, entries):
    """Time per SWAP variant against k (1 and all threads), one panel per n, with the loss each
    reached; and one SWAP pass, original PAM against FastPAM1."""
    whole = defaultdict(dict)   # n -> {(variant, threads): {k: (time, loss)}}
    passes = defaultdict(dict)  # n -> {(variant, threads): {k: time}}
    for e in entries:
        a = e["args"]
        if "n" not in a or "k" not in a or "type" in a or "source" in a:
            continue
        n, k, t = int(a["n"]), int(a["k"]), e["threads"]
        loss = e["counters"].get("loss")
        if e["kernel"] in ("fastpam1_swap", "fastpam2_swap", "fasterpam_swap"):
            variant = "pam" if e["impl"] == "baseline" else e["kernel"][:-5]
            whole[n].setdefault((variant, t), {})[k] = (e["time"], loss)
        elif e["kernel"] == "pam_swap_iteration":
            variant = "pam" if e["impl"] == "baseline" else "fastpam1"
            passes[n].setdefault((variant, t), {})[k] = e["time"]
    all_threads = max([t for d in whole.values() for _, t in d] + [1])

    def line(ax, pts, variant, t, label_threads=True):
        name, colour, marker = next((l, c, m) for v, l, c, m in KM_VARIANTS if v == variant)
        ks = sorted(pts)
        label = name + (f", {t} thread{'s' if t > 1 else ''}" if label_threads else "")
        ax.plot(ks, [pts[k] for k in ks], color=colour, marker=marker, ls="-" if t == 1 else "--",
                mfc=colour if t == 1 else "white", label=label)

    ns = sorted(whole)
    if ns:
        fig, axes = plt.subplots(2, len(ns), figsize=(4.6 * len(ns) + 1.5, 7.2), squeeze=False, sharey="row",
                                 gridspec_kw={"height_ratios": [2.2, 1]})
        for col, n in enumerate(ns):
            top, bottom = axes[0][col], axes[1][col]
            best = {}
            for (variant, t), d in whole[n].items():
                for k, (_, loss) in d.items():
                    if loss is not None:
                        best[k] = min(loss, best.get(k, loss))
            for variant, *_ in KM_VARIANTS:
                for t in (1, all_threads) if all_threads > 1 else (1,):
                    d = whole[n].get((variant, t))
                    if not d:
                        continue
                    line(top, {k: v[0] for k, v in d.items()}, variant, t)
                    if t == 1:
                        line(bottom, {k: 100.0 * (v[1] / best[k] - 1.0) for k, v in d.items()
                                      if v[1] is not None and best.get(k)}, variant, t, False)
            for ax in (top, bottom):
                ax.set_xscale("log")
                ks = sorted({k for d in whole[n].values() for k in d})
                ax.set_xticks(ks)
                ax.set_xticklabels([str(k) for k in ks])
                ax.minorticks_off()
                ax.grid(True, alpha=0.3)
            top.set_yscale("log")
            top.set_title(f"n = {n}")
            bottom.set_xlabel("k (medoids)")
        axes[0][0].set_ylabel("whole SWAP to convergence (s)")
        axes[1][0].set_ylabel("loss above the lowest\nat this k (%)")
        legend_all(axes[0], "solid: 1 thread, dashed: all threads")
        fig.suptitle("k-medoids SWAP from the same LAB start (Gaussian blobs, d = 16, Euclidean matrix):\n"
                     "time to convergence per variant (top), loss each reached (bottom; PAM = FastPAM1)")
        fig.tight_layout()
        save(plt, fig, os.path.join(directory, "kmedoids_swap_vs_k.png"))

    ns = sorted(n for n in passes if passes[n])
    if ns:
        fig, axes = plt.subplots(1, len(ns), figsize=(4.6 * len(ns) + 1.5, 4.2), squeeze=False, sharey=True)
        for ax, n in zip(axes[0], ns):
            for variant in ("pam", "fastpam1"):
                for t in sorted({t for v, t in passes[n] if v == variant}):
                    line(ax, passes[n][(variant, t)], variant, t)
            base = passes[n].get(("pam", 1), {})
            fast = passes[n].get(("fastpam1", 1), {})
            for k in sorted(set(base) & set(fast)):
                ratio = base[k] / fast[k]
                ax.annotate(f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x", (k, base[k]), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=7)
            ks = sorted({k for d in passes[n].values() for k in d})
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(ks)
            ax.set_xticklabels([str(k) for k in ks])
            ax.minorticks_off()
            ax.grid(True, alpha=0.3)
            ax.set_title(f"n = {n}")
            ax.set_xlabel("k (medoids)")
        lo, hi = axes[0][0].get_ylim()
        axes[0][0].set_ylim(lo, hi * 1.8)  # room for the ratio labels above the top points
        axes[0][0].set_ylabel("one SWAP pass (s)")
        legend_all(axes[0])
        fig.suptitle("k-medoids: one SWAP pass finding the same best swap, original PAM against FastPAM1\n"
                     "(labels: PAM time / FastPAM1 time, 1 thread)")
        fig.tight_layout()
        save(plt, fig, os.path.join(directory, "kmedoids_swap_pass.png"))


def plot_kmedoids_peer(plt, directory):
    """FasterPAM beside R's cluster::pam, like for like (SWAP against SWAP, whole call against
    whole call), with the loss each reached; and the like-for-like ratios of every variant."""
    path = os.path.join(directory, "peer_kmedoids_r_pam.csv")
    if not os.path.exists(path):
        return
    with open(path) as f:
        rows = list(csv.DictReader(f))

    def num(r, key):
        try:
            return float(r.get(key, ""))
        except ValueError:
            return None

    need = ("R SWAP s", "R whole call s", "Kestrel SWAP s (1 thread)")
    rows = [r for r in rows if all(num(r, c) is not None for c in need)]
    fast = [r for r in rows if r.get("algorithm") == "FasterPAM"]
    if not fast:
        print("(peer_kmedoids_r_pam.csv has no complete FasterPAM rows: no peer plot)")
        return
    bars = [("R whole pam() call", "R whole call s", "#9ecae1", None),
            ("R SWAP alone", "R SWAP s", "#3182bd", None),
            ("Kestrel whole call + silhouette, 1 thread", "Kestrel whole call + silhouette s (1 thread)", "#fcae91", None),
            ("Kestrel SWAP, 1 thread", "Kestrel SWAP s (1 thread)", "#de2d26", None),
            ("Kestrel SWAP, all threads (wall time)", "Kestrel SWAP wall s (all threads)", "#de2d26", "//")]
    fig, (ax, rx) = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [1.6, 1]})
    width = 0.8 / len(bars)
    for i, (label, key, colour, hatch) in enumerate(bars):
        xs = [j + (i - (len(bars) - 1) / 2) * width for j in range(len(fast))]
        ys = [num(r, key) for r in fast]
        ax.bar([x for x, y in zip(xs, ys) if y], [y for y in ys if y], width, color=colour, hatch=hatch,
               edgecolor="#444444" if hatch else colour, lw=0.5, label=label)
    top = max(num(r, "R whole call s") for r in fast)
    for j, r in enumerate(fast):
        rl, kl = num(r, "R loss"), num(r, "Kestrel loss")
        same = rl is not None and kl is not None and abs(rl - kl) <= 1e-9 * abs(rl)
        text = f"same loss\n{rl:.6g}" if same else f"loss R {rl:.6g}\nKestrel {kl:.6g}" if kl else f"R loss {rl:.6g}"
        ax.annotate(text, (j, num(r, "R whole call s")), textcoords="offset points", xytext=(0, 4), ha="center",
                    fontsize=6.5)
    ax.set_yscale("log")
    ax.set_ylim(top=top * 6)
    ax.set_xticks(range(len(fast)))
    ax.set_xticklabels([f"n = {r['n']}\nk = {r['k']}" for r in fast], fontsize=8)
    ax.set_ylabel("seconds, fastest of the runs\n(CPU time of one thread; hatched: wall time)")
    ax.set_title("FasterPAM: R cluster::pam(pamonce = 6) and Kestrel, same matrix and start")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=3, frameon=False)

    # Right: like-for-like ratios, R time / Kestrel time (1 thread), per algorithm.
    peer_names = {"pam": "PAM", "fastpam1": "FastPAM1", "fastpam2": "FastPAM2", "fasterpam": "FasterPAM"}
    series = [(f"{label} SWAP vs SWAP", peer_names[v], "SWAP: R / Kestrel (1 thread)", c, m, "-")
              for v, label, c, m in KM_VARIANTS] + \
             [("FasterPAM whole call vs whole call\n(Kestrel + silhouette)", "FasterPAM",
               "whole call: R / Kestrel + silhouette (1 thread)", "#d62728", "D", ":")]
    cases = []
    for r in rows:
        c = (int(r["n"]), int(r["k"]))
        if c not in cases:
            cases.append(c)
    cases.sort()
    for label, alg, key, colour, marker, ls in series:
        mine = [r for r in rows if r.get("algorithm") == alg]
        pts = [(cases.index((int(r["n"]), int(r["k"]))), num(r, key)) for r in mine]
        pts = sorted(p for p in pts if p[1])
        differ = [r for r in mine if num(r, "Kestrel loss") is not None and num(r, "R loss") is not None
                  and abs(num(r, "Kestrel loss") - num(r, "R loss")) > 1e-9 * abs(num(r, "R loss"))]
        if differ and "whole" not in label:
            worst = max(abs(num(r, "Kestrel loss") / num(r, "R loss") - 1) for r in differ)
            label += f"\n(losses differ, up to {100 * worst:.2g}%)"
        if pts:
            rx.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, marker=marker, ls=ls,
                    mfc="white" if ls == ":" else colour, label=label)
    rx.axhline(1.0, color="gray", lw=0.8)
    rx.set_yscale("log")
    lo = min([min(l.get_ydata()) for l in rx.lines if len(l.get_ydata())] + [1.0])
    hi = max([max(l.get_ydata()) for l in rx.lines if len(l.get_ydata())] + [1.0])
    ticks = [t for t in (0.3, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300) if lo / 1.5 <= t <= hi * 1.5]
    rx.set_yticks(ticks)
    rx.set_yticklabels([f"{t:g}x" for t in ticks])
    rx.minorticks_off()
    rx.set_xticks(range(len(cases)))
    rx.set_xticklabels([f"n = {n}\nk = {k}" for n, k in cases], fontsize=8)
    rx.set_ylabel("R time / Kestrel time (1 thread)")
    rx.set_title("like for like, every variant")
    rx.grid(True, which="both", axis="y", alpha=0.3)
    rx.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    save(plt, fig, os.path.join(directory, "kmedoids_vs_r_pam.png"))



def print_kinsol_comparison(directory, entries, out):
    """Anderson (fixed_point/solve_*) beside the KINSOL peer (Debian build, measured here) and
    the issue's figures for KINSOL 6.4.1 built from source with -O3 -march=native (quoted,
    not measured in this run)."""
    solves = {}
    for e in entries:
        if e["family"] == "fixed_point" and e["kernel"] in ("solve_poisson", "solve_bratu") and e["impl"] == "kestrel":
            solves[(e["kernel"][6:], e["args"].get("m"))] = e
    if not solves:
        return
    peer = {}
    path = os.path.join(directory, "peer_fixed_point_kinsol.csv")
    if os.path.exists(path):
        with open(path) as f:
            for r in csv.DictReader(f):
                peer[(r["problem"], r["m"])] = r
    issue_iters = {("poisson", "0"): 1461, ("poisson", "5"): 325, ("poisson", "10"): 175, ("poisson", "20"): 129,
                   ("bratu", "5"): 7210, ("bratu", "10"): 4964, ("bratu", "plain"): 169232}
    out("## fixed_point: Anderson against KINSOL")
    out()
    out("Iterations to ||G(u) - u||_2 <= rtol ||G(u0) - u0||_2 and time per iterate beyond G, one thread. "
        "Kestrel and \"KINSOL Debian\" are measured in this run (benchmarks/peers/fixed_point_kinsol.sh, Debian's "
        "libsundials-dev 6.4.1, same maps, start and 2-norm test); \"KINSOL -O3 (issue)\" are the issue's figures for "
        "KINSOL 6.4.1 built from source with -O3 -march=native on this machine class (its own stopping test), "
        "overhead (5 + 2.7 m) ns per unknown per iterate; not measured here."
        + ("" if peer else " (No peer CSV: run scripts/benchmark.sh without --quick with libsundials-dev installed.)"))
    out()
    out("| problem | m | Kestrel iterations | KINSOL Debian iterations | KINSOL -O3 iterations (issue) | "
        "Kestrel beyond G, ns/unknown | KINSOL Debian, ns/unknown | KINSOL -O3 (issue), ns/unknown | "
        "-O3 KINSOL / Kestrel | Debian KINSOL / Kestrel | Kestrel solve |")
    out("|---|---|---|---|---|---|---|---|---|---|---|")
    order = {"plain": -1}
    for (prob, m) in sorted(solves, key=lambda k: (k[0] != "poisson", order.get(k[1], int(k[1]) if k[1].isdigit() else 99))):
        e = solves[(prob, m)]
        c = e["counters"]
        k_ns = c.get("ns_per_unknown")
        pr = peer.get((prob, m))
        d_ns = float(pr["ns_per_unknown"]) if pr else None
        o3_ns = 5 + 2.7 * int(m) if m.isdigit() else None
        f = lambda v, fmt="{:.3g}": fmt.format(v) if v is not None else "-"
        out(f"| {prob} | {m} | {int(c.get('iterations', 0))} | {pr['iterations'] if pr else '-'} | "
            f"{issue_iters.get((prob, m), '-')} | {f(k_ns)} | {f(d_ns)} | {f(o3_ns)} | "
            f"{f(o3_ns / k_ns if (o3_ns and k_ns) else None, '{:.1f}x')} | "
            f"{f(d_ns / k_ns if (d_ns and k_ns) else None, '{:.0f}x')} | {fmt_time(e['time'])} |")
    plain = solves.get(("poisson", "plain"))
    acc = [(e["time"], m) for (p, m), e in solves.items() if p == "poisson" and m not in ("plain", "0")]
    if plain and acc:
        t, m = min(acc)
        out()
        out(f"Shifted Poisson: plain iteration {fmt_time(plain['time'])}, fastest Anderson (m = {m}) {fmt_time(t)}: "
            f"plain / Anderson time = {plain['time'] / t:.2f} (> 1: Anderson is faster).")
    out()

def plot_sensitivity_distortion(plt, directory):
    """Maximum coreset distortion against coreset size m (sensitivity, lightweight, uniform), from
    sensitivity_distortion_vs_m.csv written by benchmarks/sensitivity_coresets.cpp."""
    path = os.path.join(directory, "sensitivity_distortion_vs_m.csv")
    if not os.path.exists(path):
        return
    series, meta = defaultdict(list), {}
    with open(path) as f:
        for r in csv.DictReader(f):
            try:
                series[r["method"]].append((int(r["m"]), float(r["max_distortion"])))
                meta = r
            except (KeyError, TypeError, ValueError):
                continue
    if not series:
        return
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    markers = {"uniform": "s", "lightweight": "^"}
    for name in sorted(series):
        v = sorted(series[name])
        ax.plot([a for a, _ in v], [b for _, b in v], marker=markers.get(name, "o"), ms=5, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("coreset size m")
    ax.set_ylabel("max relative cost error over candidates")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"sensitivity: coreset distortion against size (k = {meta.get('k', '?')}, n = {meta.get('n', '?')}, "
                 f"d = {meta.get('d', '?')},\n20 clusters + one far cluster of 0.1%, mean over {meta.get('seeds', '?')} seeds)",
                 fontsize=9)
    legend_outside(ax)
    save(plt, fig, os.path.join(directory, "sensitivity_distortion_vs_m.png"))


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    runs = load(directory)
    if not runs:
        print(f"no benchmark results in {directory}")
        return 1

    triad = defaultdict(list)  # threads -> [(bytes, bytes_per_second)]
    peak = {}
    read_bw = {}  # threads -> bytes per second of a pure read stream
    random_lines = {}  # (threads, table bytes) -> seconds per random 64-byte line
    entries = []
    for b in runs:
        family, kernel, impl, variant, args = parse_name(b["name"])
        t = seconds(b)
        threads = int(args.get("threads", "1"))
        if family == "machine" and kernel == "triad":
            triad[threads].append((b.get("bytes", 0.0), b.get("bytes_per_second", 0.0)))
        elif family == "machine" and kernel == "read":
            read_bw[threads] = max(read_bw.get(threads, 0.0), b.get("bytes_per_second", 0.0))
        elif family == "machine" and kernel == "random_lines":
            # (threads, table bytes) -> best seconds per line
            per_line = t / max(b.get("bytes", 0.0) / 64.0, 1.0)  # bytes: 64 per line read
            key = (threads, int(args.get("bytes", "0")))
            random_lines[key] = min(random_lines.get(key, float("inf")), per_line)
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

    # Kernels that only read their large inputs (speculative verification reads rows and writes
    # a few tokens) are bounded by the read stream, not the triad, when the run measured it.
    read_only_families = ("speculative", "sensitivity")

    def limit(e):
        best, why = 0.0, ""
        if e["bytes"] > 0 and e["family"] in read_only_families and read_bw:
            bw = max(v for t, v in read_bw.items() if t <= max(e["threads"], min(read_bw)))
            best, why = e["bytes"] / bw, "read"
        elif e["bytes"] > 0:
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
        for t in sorted({t for t, _ in random_lines}):
            sizes = sorted(sz for tt, sz in random_lines if tt == t)
            desc = ", ".join(f"{random_lines[(t, sz)] * 1e9:.2f} ns from {sz / 2**20:.0f} MiB" for sz in sizes)
            rb = read_bw.get(t)
            vs = f" (the read stream: {64.0 / rb * 1e9:.2f} ns a line)" if rb else ""
            out(f"- random 64-byte lines (the floor of a line per item, e.g. alias draws), {t} thread(s): "
                f"a line takes {desc}{vs}")
        for t in sorted(peak):
            out(f"- peak FMA arithmetic, {t} thread(s): {peak[t] / 1e9:.1f} GFLOP/s (double)")
        out()

    # Threads on a shared machine (benchmarks/contention.cpp): one table across families.
    contended = [e for e in entries if "contended_slowdown" in e["counters"]]
    if contended:
        out("## Threads on a shared machine")
        out()
        out("Each kernel at 1 thread and at all threads, paired back to back, on the idle machine and while a "
            "child process keeps one core busy. Target: with one core busy, all threads at most 1.2x slower than "
            "1 thread.")
        out()
        out("| kernel | args | one core busy: all / 1 thread (median, range) | idle: speedup of all threads | target |")
        out("|---|---|---|---|---|")
        for e in contended:
            c = e["counters"]
            argstr = "/".join(f"{k}:{v}" for k, v in sorted(e["args"].items()))
            ok = "met" if c["contended_slowdown"] <= 1.2 else "NOT met"
            out(f"| {e['family']}/{e['kernel']} | {argstr} | {c['contended_slowdown']:.2f} "
                f"({c.get('contended_slowdown_min', float('nan')):.2f}-{c.get('contended_slowdown_max', float('nan')):.2f}) "
                f"| {c.get('idle_speedup', float('nan')):.2f}x | {ok} |")
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
        name = os.path.basename(path)[5:-4]
        out(f"## peer: {name}")
        out()
        if name in PEER_NOTES:
            out(PEER_NOTES[name])
            out()
        out("| " + " | ".join(rows[0]) + " |")
        out("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            out("| " + " | ".join(r) + " |")
        out()

    print_kinsol_comparison(directory, entries, out)

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
        if family == "kmedoids":
            continue  # its own plots below: time against k per SWAP variant, and the R peer
        plot_speedup(plt, directory, family, pts)
    for path in sorted(glob.glob(os.path.join(directory, "curve_*.csv"))):
        plot_curve(plt, path)
    plot_kmedoids(plt, directory, by_family.get("kmedoids", []))
    plot_kmedoids_peer(plt, directory)
    plot_sensitivity_distortion(plt, directory)
    return 0

if __name__ == "__main__":
    sys.exit(main())
