// Shared helpers of the benchmark suite (not part of the library).
//
// Contract (../shared/BENCHMARKS.md): names are family/kernel/impl/args; every benchmark
// calls report_limits() with the minimum bytes the kernel must move per iteration and,
// where arithmetic bounds it, the floating-point operations it must do. benchmarks/report.py
// turns these into fractions of the machine's limits measured in the same run
// (machine/triad and machine/peak_flops).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <kestrel/core/parallel.hpp>

namespace kestrel_bench {

/// Sets bytes and items processed, plus per-iteration counters the report reads:
/// "bytes" (minimum bytes moved per iteration) and "flop" (floating-point operations).
inline void report_limits(benchmark::State& state, double bytes_per_iteration, double items_per_iteration,
                          double flop_per_iteration = 0.0) {
    const auto it = static_cast<double>(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes_per_iteration * it));
    state.SetItemsProcessed(static_cast<std::int64_t>(items_per_iteration * it));
    state.counters["bytes"] = benchmark::Counter(bytes_per_iteration);
    if (flop_per_iteration > 0) {
        state.counters["flop"] = benchmark::Counter(flop_per_iteration);
        state.counters["flop_rate"] = benchmark::Counter(flop_per_iteration * it, benchmark::Counter::kIsRate);
    }
}

/// Thread counts every threaded benchmark runs at: 1 and all hardware threads.
inline std::vector<int> thread_counts() {
    const int all = kestrel::effective_threads();
    std::vector<int> t{1};
    if (all > 1) t.push_back(all);
    return t;
}

/// True when the environment variable KESTREL_BENCH_QUICK is set to anything but 0
/// (the --quick smoke run: register the smallest sizes only). Safe at static-init time,
/// where benchmarks with size lists register themselves.
inline bool quick_mode() {
    const char* e = std::getenv("KESTREL_BENCH_QUICK");
    return e != nullptr && *e != '\0' && *e != '0';
}

}  // namespace kestrel_bench
