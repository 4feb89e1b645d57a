#!/usr/bin/env bash
# Peer: R's cluster::pam (pamonce 0 = original PAM, 3 = FastPAM1, 4 = FastPAM2, 6 = FasterPAM,
# Schubert's own implementations in R's C code) on the matrices the kmedoids benchmarks wrote,
# from the same initial medoids, beside Kestrel's implementation of the same algorithm and
# Kestrel's FasterPAM. Writes <dir>/peer_kmedoids_r_pam.csv for benchmarks/report.py.
# usage: kmedoids_r_pam.sh <bench-output-dir>
set -uo pipefail
dir=${1:?usage: $0 <bench-output-dir>}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'library(cluster)' >/dev/null 2>&1; then
  echo "skipped: R or its cluster package is not installed (Debian: r-base-core r-cran-cluster)"
  exit 0
fi
if [ ! -f "$dir/kmedoids.json" ] || ! ls "$dir"/kmedoids_n*.bin >/dev/null 2>&1; then
  echo "skipped: run the kmedoids benchmarks first (they write the matrices)"
  exit 0
fi
raw="$dir/peer_kmedoids_r_pam.raw"
: > "$raw"
# Original PAM (pamonce 0) only where it finishes in seconds; n = 10000 costs R about 10 s
# just to read the matrix, so only the fastest variant runs there.
run() { [ -f "$dir/kmedoids_n$1.bin" ] && Rscript "$here/kmedoids_r_pam.R" "$dir" "$@" >> "$raw"; }
run 2000 10 0 3 4 6
run 2000 100 3 4 6
run 5000 10 3 6
run 5000 100 3 6
run 10000 10 6
run 10000 100 6
/usr/bin/python3 - "$dir" "$raw" <<'PY'
import csv, json, sys
d, raw = sys.argv[1], sys.argv[2]
times = {}  # (kernel, impl, n, k, threads) -> (seconds, loss)
for b in json.load(open(f"{d}/kmedoids.json"))["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    parts = b["name"].split("/")
    a = dict(p.split(":", 1) for p in parts if ":" in p)
    if "type" in a or len(parts) < 3:
        continue
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1}[b["time_unit"]]
    key = (parts[1], parts[2], a.get("n"), a.get("k"), a.get("threads", "1"))
    times[key] = (b["real_time"] * unit, b.get("loss", float("nan")))
# Kestrel's implementation of the algorithm each pamonce runs.
same = {"0": ("fastpam1_swap", "baseline", "PAM"), "3": ("fastpam1_swap", "kestrel", "FastPAM1"),
        "4": ("fastpam2_swap", "kestrel", "FastPAM2"), "6": ("fasterpam_swap", "kestrel", "FasterPAM")}
fmt = lambda v: f"{v:.4g}"
with open(f"{d}/peer_kmedoids_r_pam.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["n", "k", "R pamonce", "R SWAP s", "R loss", "Kestrel same algorithm", "s (1 thread)",
                "s (2 threads)", "loss", "speedup 1 / 2 threads", "Kestrel FasterPAM s (1 thread)",
                "R / FasterPAM 1 thread"])
    for line in open(raw):
        n, k, p, t, loss = line.strip().split(",")
        t = float(t)
        kernel, impl, name = same.get(p, ("?", "?", "?"))
        one = times.get((kernel, impl, n, k, "1"))
        two = times.get((kernel, impl, n, k, "2"))
        fp = times.get(("fasterpam_swap", "kestrel", n, k, "1"))
        w.writerow([n, k, p, fmt(t), f"{float(loss):.8g}", name,
                    fmt(one[0]) if one else "-", fmt(two[0]) if two else "-",
                    f"{one[1]:.8g}" if one else "-",
                    (f"{t / one[0]:.1f}x" if one else "-") + " / " + (f"{t / two[0]:.1f}x" if two else "-"),
                    fmt(fp[0]) if fp else "-", f"{t / fp[0]:.1f}x" if fp else "-"])
print(open(f"{d}/peer_kmedoids_r_pam.csv").read())
PY
