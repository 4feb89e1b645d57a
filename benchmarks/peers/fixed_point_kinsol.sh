#!/usr/bin/env bash
# Peer: SUNDIALS KINSOL (Debian's libsundials-dev, KINSOL 6.4.1, serial NVector) fixed-point
# iteration with Anderson acceleration at equal memory m on the problems of
# benchmarks/fixed_point_anderson.cpp: the shifted 2-D Poisson Jacobi map at N = 1000 (m = 0,
# 5, 10, 20) and 2-D Bratu 128 x 128 (m = 5, 10), same start and same 2-norm stopping test
# (fixed_point_kinsol.c says how). Debian builds KINSOL without optimization flags of its own
# choosing; benchmarks/report.py prints these figures beside Kestrel's and beside the issue's
# figures for KINSOL built from source with -O3 -march=native.
# Writes <dir>/peer_fixed_point_kinsol.csv.
# usage: fixed_point_kinsol.sh <bench-output-dir>
#   KESTREL_PEER_KINSOL_N   Poisson grid side (default 1000)
#   KESTREL_PEER_FULL=1     also Poisson at m = 0, 5 and 20
# Takes about 1 minute with the Debian build on an idle 2-core machine (2.5 with
# KESTREL_PEER_FULL=1; its overhead is hundreds of ns per unknown per iterate at n = 10^6).
set -uo pipefail
dir=${1:?usage: $0 <bench-output-dir>}
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f /usr/include/kinsol/kinsol.h ] || [ ! -f /usr/include/nvector/nvector_serial.h ]; then
  echo "skipped: SUNDIALS KINSOL is not installed (Debian: libsundials-dev; scripts/install-deps.sh bench)"
  exit 0
fi
mkdir -p "$dir"
exe="$dir/fixed_point_kinsol.bin"   # *.bin: removed by benchmark.sh with the other peer inputs
cc=${CC:-gcc}
if ! "$cc" -std=c11 -O2 -D_POSIX_C_SOURCE=199309L -D_DEFAULT_SOURCE "$here/fixed_point_kinsol.c" -o "$exe" \
     -lsundials_kinsol -lsundials_nvecserial -lm; then
  echo "skipped: could not compile fixed_point_kinsol.c against libsundials-dev"
  exit 0
fi
N=${KESTREL_PEER_KINSOL_N:-1000}
out="$dir/peer_fixed_point_kinsol.csv"
tmp="$dir/peer_fixed_point_kinsol.raw"
echo "problem,n,m,iterations,converged,total_s,g_s_per_call,beyond_g_s_per_iteration,ns_per_unknown" > "$tmp"
# Poisson costs KINSOL's Debian build 12-34 s per m here: m = 10 (the issue's quoted -O3
# figure) by default, m = 0, 5 and 20 with KESTREL_PEER_FULL=1.
poisson_ms="10"
[ "${KESTREL_PEER_FULL:-0}" = 1 ] && poisson_ms="0 5 10 20"
for m in $poisson_ms; do
  echo "KINSOL: poisson N = $N, m = $m" >&2
  "$exe" poisson "$N" "$m" >> "$tmp" || echo "KINSOL poisson m = $m failed" >&2
done
for m in 5 10; do
  echo "KINSOL: bratu N = 128, m = $m" >&2
  "$exe" bratu 128 "$m" >> "$tmp" || echo "KINSOL bratu m = $m failed" >&2
done
mv "$tmp" "$out"
cat "$out"
