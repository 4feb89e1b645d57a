#!/usr/bin/env bash
# Peer: R's cluster::pam (pamonce 0 = original PAM, 3 = FastPAM1, 6 = FastPAM2-like eager)
# on the matrices the kmedoids benchmarks wrote, beside Kestrel's FasterPAM from the same
# initial medoids. Writes <dir>/peer_kmedoids_r_pam.csv for benchmarks/report.py.
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
# pamonce 0 (original PAM) only where it finishes in seconds.
run() { [ -f "$dir/kmedoids_n$1.bin" ] && Rscript "$here/kmedoids_r_pam.R" "$dir" "$@" >> "$raw"; }
run 2000 10 0 3 6
run 2000 100 3 6
run 5000 10 3 6
run 5000 100 3 6
run 10000 100 6
/usr/bin/python3 - "$dir" "$raw" <<'PY'
import csv, json, sys
d, raw = sys.argv[1], sys.argv[2]
kest = {}
for b in json.load(open(f"{d}/kmedoids.json"))["benchmarks"]:
    name = b["name"]
    if not name.startswith("kmedoids/fasterpam_swap/kestrel/"):
        continue
    a = dict(p.split(":") for p in name.split("/") if ":" in p)
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1}[b["time_unit"]]
    kest[(a["n"], a["k"], a["threads"])] = (b["real_time"] * unit, b.get("loss", float("nan")))
with open(f"{d}/peer_kmedoids_r_pam.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["n", "k", "R pamonce", "R SWAP s", "R loss", "Kestrel FasterPAM s (1 thread)",
                "Kestrel loss", "speedup 1 thread", "speedup 2 threads"])
    for line in open(raw):
        n, k, p, t, loss = line.strip().split(",")
        one = kest.get((n, k, "1"))
        two = kest.get((n, k, "2"))
        w.writerow([n, k, p, t, f"{float(loss):.6g}",
                    f"{one[0]:.4g}" if one else "-", f"{one[1]:.6g}" if one else "-",
                    f"{float(t) / one[0]:.1f}x" if one else "-", f"{float(t) / two[0]:.1f}x" if two else "-"])
print(open(f"{d}/peer_kmedoids_r_pam.csv").read())
PY
