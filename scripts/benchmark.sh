#!/usr/bin/env bash
# The benchmark command of the README's quick start: installs missing Debian packages,
# builds the suite in Release for this machine, runs the machine's limits and every family
# (Google Benchmark JSON under build/bench/), runs the peers, and prints one table per family
# plus PNG plots (benchmarks/report.py).
#
#   scripts/benchmark.sh                  everything (under 10 minutes on 2 cores)
#   scripts/benchmark.sh --family core    one family (the machine's limits always run)
#   scripts/benchmark.sh --quick          smoke run: smallest sizes, short timings, no peers
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
deps=1
family=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-deps) deps=0 ;;
    --family) family=${2:?--family needs a name}; shift ;;
    --family=*) family=${1#--family=} ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$deps" -eq 1 ]; then
  if [ "$quick" -eq 1 ]; then "$root/scripts/install-deps.sh" test; else "$root/scripts/install-deps.sh" bench; fi
fi

build="$root/build/bench-release"
out="$root/build/bench"
mkdir -p "$out"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKESTREL_BUILD_TESTS=OFF -DKESTREL_BUILD_EXAMPLES=OFF \
  -DKESTREL_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j "${KESTREL_JOBS:-$(nproc)}" --target kestrel_bench
bench="$build/benchmarks/kestrel_bench"

families=$("$bench" --benchmark_list_tests=true | cut -d/ -f1 | sort -u | grep -v '^machine$' || true)
if [ -n "$family" ]; then
  if ! grep -qx "$family" <<<"$families"; then
    echo "no benchmarks for family '$family'; families: $(echo $families)" >&2
    exit 2
  fi
  families=$family
fi

args=(--benchmark_out_format=json)
if [ "$quick" -eq 1 ]; then
  export KESTREL_BENCH_QUICK=1
  args+=(--benchmark_min_time=0.02)
else
  args+=(--benchmark_min_time=0.1)  # per benchmark; slow ones set their own iteration counts
fi
rm -f "$out"/*.json "$out"/*.csv "$out"/*.png
export KESTREL_BENCH_OUT="$out"
echo "==== machine (memory bandwidth and peak arithmetic)"
"$bench" "${args[@]}" --benchmark_filter='^machine/' --benchmark_out="$out/machine.json" >"$out/machine.log" 2>&1
for f in $families; do
  echo "==== $f"
  "$bench" "${args[@]}" --benchmark_filter="^$f/" --benchmark_out="$out/$f.json" >"$out/$f.log" 2>&1 || { cat "$out/$f.log"; exit 1; }
done

# The limits again at the end: on a shared machine bandwidth drifts, and the report takes the
# better of the two measurements (a conservative limit).
"$bench" "${args[@]}" --benchmark_filter='^machine/triad' --benchmark_out="$out/machine_end.json" >"$out/machine_end.log" 2>&1

if [ "$quick" -eq 0 ]; then
  for peer in "$root"/benchmarks/peers/*.sh; do
    [ -e "$peer" ] || continue
    # Peers are named <family>_<peer>.sh (family names may hold underscores: fixed_point).
    if [ -z "$family" ] || [[ "$(basename "$peer")" == "${family}_"* ]]; then
      echo "==== peer: $(basename "$peer")"
      "$peer" "$out" || echo "peer $(basename "$peer") failed; continuing"
    fi
  done
fi

rm -f "$out"/*.bin "$out"/*.init "$out"/*.raw  # the peers' inputs: large, not results

python=/usr/bin/python3
[ -x "$python" ] || python=python3
"$python" "$root/benchmarks/report.py" "$out"
