#!/usr/bin/env bash
# Peer: R's cluster::pam (pamonce 0 = original PAM, 3 = FastPAM1, 4 = FastPAM2, 6 = FasterPAM,
# Schubert's own implementations in R's C code) on the matrices the kmedoids benchmarks wrote,
# from the same initial medoids, beside Kestrel's implementation of the same algorithm, like
# for like:
#   SWAP against SWAP: R's SWAP = pam(d, k, medoids = m) minus the same call with
#     do.swap = FALSE (same matrix, same start), timed at pam's call into its C code
#     (kmedoids_r_pam.R says why), against Kestrel's SWAP routine without the input check
#     (validate_input = false), 1 thread and all threads;
#   whole call against whole call: R's pam(d, k, medoids = m) as a user calls it, against
#     Kestrel's call as a user makes it by default (a view of the n x n matrix, default
#     options, so the input check runs) followed by silhouette() of the result, because pam()
#     returns silhouette widths too; 1 thread (R's pam runs on one). Kestrel's side is
#     kmedoids_kestrel_calls.cpp, compiled here and run right after R on the same files.
# The fastest of repeated runs (alternating order; the least disturbed on a shared machine);
# R's SWAP is R's fastest C call with SWAP minus its fastest without. Single-thread times
# are CPU times (user + system of R's process, of Kestrel's calling thread), which other
# processes on a shared machine do not inflate; the raw files keep wall times too.
# Writes <dir>/peer_kmedoids_r_pam.csv for benchmarks/report.py.
# usage: kmedoids_r_pam.sh <bench-output-dir>
#   KESTREL_PEER_REPS   repetitions at n <= 5000 (default 2; n = 10000 runs half as many, at least 1)
#   KESTREL_PEER_FULL=1 also n = 10000 (k = 10, 100): about 3 more minutes (R's whole pam() call
#                       alone costs about 12 s at n = 10000, k = 10)
# Takes about 2 minutes with the defaults.
set -uo pipefail
dir=${1:?usage: $0 <bench-output-dir>}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'library(cluster)' >/dev/null 2>&1; then
  echo "skipped: R or its cluster package is not installed (Debian: r-base-core r-cran-cluster)"
  exit 0
fi
if ! ls "$dir"/kmedoids_n*.bin >/dev/null 2>&1; then
  echo "skipped: run the kmedoids benchmarks first (they write the matrices)"
  exit 0
fi
reps=${KESTREL_PEER_REPS:-2}
reps_big=$(( reps / 2 > 0 ? reps / 2 : 1 ))
calls="$dir/kmedoids_kestrel_calls.bin"   # *.bin: removed with the matrices by benchmark.sh
cxx=${CXX:-g++}
if ! "$cxx" -std=c++17 -O3 -DNDEBUG -march=native -fopenmp -I "${KESTREL_PEER_INCLUDE:-$root/include}" \
     -isystem /usr/include/eigen3 "$here/kmedoids_kestrel_calls.cpp" -o "$calls"; then
  echo "skipped: could not compile kmedoids_kestrel_calls.cpp"
  exit 0
fi
raw_r="$dir/peer_kmedoids_r_pam.raw"
raw_k="$dir/peer_kmedoids_kestrel.raw"
: > "$raw_r"
: > "$raw_k"
# run <n> <k> <reps> <pamonce...>: R, then Kestrel's same algorithms on the same files.
# Original PAM (pamonce 0) only where it finishes in seconds; n = 10000 costs R about 10 s
# per call outside SWAP, so only the fastest variant runs there.
run() {
  local n=$1 k=$2 r=$3; shift 3
  [ -f "$dir/kmedoids_n$n.bin" ] && [ -f "$dir/kmedoids_n${n}_k$k.init" ] || return 0
  echo "R pam and Kestrel: n = $n, k = $k, pamonce $*" >&2
  Rscript "$here/kmedoids_r_pam.R" "$dir" "$n" "$k" "$r" "$@" >> "$raw_r"
  local algs=()
  for p in "$@"; do
    case $p in 0) algs+=(pam) ;; 3) algs+=(fastpam1) ;; 4) algs+=(fastpam2) ;; 6) algs+=(fasterpam) ;; esac
  done
  "$calls" "$dir" "$n" "$k" "$r" "${algs[@]}" >> "$raw_k"
}
run 2000 10 "$reps" 6 3 4 0
run 2000 100 "$reps" 6 3 4
run 5000 10 "$reps" 6 3
run 5000 100 "$reps" 6  # FastPAM1 here: R needs minutes (about a hundred passes of ~0.2 s, each timed twice)
if [ "${KESTREL_PEER_FULL:-0}" = 1 ]; then  # n = 10000: minutes of R (reading 800 MB, pam's own passes)
  run 10000 10 "$reps_big" 6
  run 10000 100 "$reps_big" 6
fi
/usr/bin/python3 - "$dir" "$raw_r" "$raw_k" <<'PY'
import csv, sys
d, raw_r, raw_k = sys.argv[1:4]
names = {"0": "pam", "3": "fastpam1", "4": "fastpam2", "6": "fasterpam"}
label = {"pam": "PAM", "fastpam1": "FastPAM1", "fastpam2": "FastPAM2", "fasterpam": "FasterPAM"}
r_runs, k_runs = {}, {}
for line in open(raw_r):
    n, k, p, rep, whole, whole_cpu, swap_cpu, noswap_cpu, loss = line.strip().split(",")
    r_runs.setdefault((n, k, names.get(p, p)), []).append(
        dict(whole=float(whole_cpu), swap=float(swap_cpu), noswap=float(noswap_cpu), loss=float(loss)))
for line in open(raw_k):
    n, k, alg, threads, rep, swap, whole, whole_sil, swap_cpu, whole_cpu, whole_sil_cpu, loss = line.strip().split(",")
    k_runs.setdefault((n, k, alg, int(threads)), []).append(
        dict(swap_wall=float(swap), swap=float(swap_cpu), whole=float(whole_cpu), whole_sil=float(whole_sil_cpu),
             loss=float(loss)))
# The least disturbed run of each: the minimum over the repetitions (on a shared machine the
# noise only ever adds time, and a median of a few differences of noisy times can even be 0).
best = lambda v, key: min(x[key] for x in v) if v else None
g = lambda v: f"{v:.4g}" if v is not None else "-"
ratio = lambda a, b: f"{a / b:.1f}" if (a is not None and b) else "-"
# Times: CPU seconds (user + system) of R's process and of Kestrel's calling thread, the
# fastest of the repetitions; one thread on both sides. The all-threads column is Kestrel's
# wall time.
header = ["n", "k", "algorithm", "R pamonce", "runs",
          "R SWAP s", "R whole call s", "R outside SWAP s", "R loss",
          "Kestrel SWAP s (1 thread)", "Kestrel whole call s (1 thread)",
          "Kestrel whole call + silhouette s (1 thread)", "Kestrel SWAP wall s (all threads)", "Kestrel loss",
          "SWAP: R / Kestrel (1 thread)", "whole call: R / Kestrel (1 thread)",
          "whole call: R / Kestrel + silhouette (1 thread)", "SWAP: R / Kestrel (all threads, wall)"]
rows = []
for (n, k, alg), v in r_runs.items():
    pamonce = {b: a for a, b in names.items()}.get(alg, "?")
    one = k_runs.get((n, k, alg, 1), [])
    alls = [x for (n2, k2, a2, t), x in k_runs.items() if (n2, k2, a2) == (n, k, alg) and t > 1]
    alls = alls[0] if alls else []
    r_whole = best(v, "whole")
    r_swap = best(v, "swap") - best(v, "noswap")  # R's SWAP alone: fastest call with SWAP minus fastest without
    k_swap, k_whole, k_sil, k_all = best(one, "swap"), best(one, "whole"), best(one, "whole_sil"), best(alls, "swap_wall")
    rows.append([n, k, label.get(alg, alg), pamonce, str(len(v)),
                 g(r_swap), g(r_whole), g(r_whole - r_swap), f"{v[0]['loss']:.10g}",
                 g(k_swap), g(k_whole), g(k_sil), g(k_all), f"{one[0]['loss']:.10g}" if one else "-",
                 ratio(r_swap, k_swap), ratio(r_whole, k_whole), ratio(r_whole, k_sil), ratio(r_swap, k_all)])
order = {"FasterPAM": 0, "FastPAM1": 1, "FastPAM2": 2, "PAM": 3}
rows.sort(key=lambda r: (order.get(r[2], 9), int(r[0]), int(r[1])))
with open(f"{d}/peer_kmedoids_r_pam.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)
print(open(f"{d}/peer_kmedoids_r_pam.csv").read())
PY
