#!/usr/bin/env bash
# The test command of the README's quick start (and of CI, through .ci/run):
#  1. installs missing Debian packages;
#  2. builds and runs every test with OpenMP and xsimd (build/test-full);
#  3. builds and runs every test in the scalar configuration, OpenMP and xsimd off (build/test-scalar);
#  3b. builds and runs every test under AddressSanitizer + UndefinedBehaviorSanitizer
#     (preset debug-sanitize: -O1, OpenMP and xsimd on, halt on the first error; the
#     -march=native builds of the core and kmedoids tests run in the full configuration only);
#  4. installs the package to a temporary prefix, builds every example against it with
#     find_package(kestrel) and runs it, and compiles a program with a plain -I include;
#  5. runs the benchmark suite in --quick mode (a smoke run of the benchmarks and the report;
#     the suite is built once, there, for this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${KESTREL_JOBS:-$(nproc)}

"$root/scripts/install-deps.sh" test

start=$(date +%s)
step() { printf '\n==== %s (%ss) ====\n' "$*" "$(( $(date +%s) - start ))"; }

step "full configuration: OpenMP + xsimd"
cmake -S "$root" -B "$root/build/test-full" -DCMAKE_BUILD_TYPE=Release \
  -DKESTREL_USE_OPENMP=ON -DKESTREL_USE_XSIMD=ON -DKESTREL_BUILD_BENCHMARKS=OFF -DKESTREL_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$root/build/test-full" -j "$jobs"
(cd "$root/build/test-full" && ctest --output-on-failure -j "$jobs") | tee "$root/build/test-full/ctest.log"

step "scalar configuration: OpenMP and xsimd off"
cmake -S "$root" -B "$root/build/test-scalar" -DCMAKE_BUILD_TYPE=Release \
  -DKESTREL_USE_OPENMP=OFF -DKESTREL_USE_XSIMD=OFF -DKESTREL_BUILD_BENCHMARKS=OFF -DKESTREL_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$root/build/test-scalar" -j "$jobs"
(cd "$root/build/test-scalar" && ctest --output-on-failure -j "$jobs") | tee "$root/build/test-scalar/ctest.log"

step "sanitized: AddressSanitizer + UndefinedBehaviorSanitizer (preset debug-sanitize), OpenMP + xsimd"
cmake --preset debug-sanitize >/dev/null
cmake --build "$root/build/debug-sanitize" -j "$jobs"
# Halt on the first report: any out-of-bounds access, leak or undefined behaviour fails.
(cd "$root/build/debug-sanitize" &&
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs") | tee "$root/build/debug-sanitize/ctest.log"

step "install, then build and run the examples against the installed package"
prefix=$(mktemp -d "${TMPDIR:-/tmp}/kestrel-prefix.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
cmake --install "$root/build/test-full" --prefix "$prefix" >/dev/null
cmake -S "$root/examples" -B "$prefix/examples-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/examples-build" -j "$jobs"
mkdir -p "$prefix/run"
for src in "$root"/examples/*.cpp; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .cpp)
  echo "---- example: $name"
  (cd "$prefix/run" && "$prefix/examples-build/$name")
done
echo "---- plain -I include (no CMake), auto-detected OpenMP and xsimd"
cat > "$prefix/plain.cpp" <<'CPP'
#include <kestrel/kestrel.hpp>
#include <cstdio>
int main() {
    static_assert(kestrel::build_info::openmp && kestrel::build_info::xsimd, "auto-detection failed");
    std::vector<double> a(100, 1.0), y(100);
    kestrel::lincomb(kestrel::make_view(y), {2.0}, {a});
    std::printf("plain include: y[0] = %g (expected 2)\n", y[0]);
    return y[0] == 2.0 ? 0 : 1;
}
CPP
c++ -std=c++17 -O2 -fopenmp -I "$prefix/include" -isystem /usr/include/eigen3 "$prefix/plain.cpp" -o "$prefix/plain"
"$prefix/plain"

step "benchmark smoke run (--quick)"
"$root/scripts/benchmark.sh" --quick --no-deps

step "done"
total=0
for log in "$root/build/test-full/ctest.log" "$root/build/test-scalar/ctest.log" "$root/build/debug-sanitize/ctest.log"; do
  n=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  total=$(( total + ${n:-0} ))
done
echo "tests: ${total} passed, 0 failed"
