// The machine's limits, measured in every run of the suite:
//   machine/triad/...       STREAM-style triad c = a + 3 b (24 bytes per element counted,
//                           no write-allocate), at sizes from L1 to far beyond the last-level
//                           cache, with 1 thread and all threads;
//   machine/read/...        a pure read stream (sum of one array, 8 bytes per element),
//                           the limit of read-only kernels such as a k-medoids SWAP pass;
//   machine/peak_flops/...  independent chains of SIMD fused multiply-adds.
// benchmarks/report.py divides every kernel's rate by these.
#include <benchmark/benchmark.h>

#include <kestrel/core/parallel.hpp>
#include <kestrel/core/simd.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"

#if KESTREL_HAS_OPENMP
#include <omp.h>
#endif

namespace {

struct triad_arrays {
    std::size_t n;
    std::unique_ptr<double[]> a, b, c;
};

triad_arrays& arrays(std::size_t n) {
    static std::vector<std::unique_ptr<triad_arrays>> cache;
    for (auto& t : cache)
        if (t->n == n) return *t;
    auto t = std::make_unique<triad_arrays>();
    t->n = n;
    t->a.reset(new double[n]);
    t->b.reset(new double[n]);
    t->c.reset(new double[n]);
    // First touch with all threads in the same static layout the triad uses.
    kestrel::parallel_chunks(n, 64, kestrel::exec_policy{}, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            t->a[i] = 1.0 + 1e-9 * double(i % 1000);
            t->b[i] = 2.0;
            t->c[i] = 0.0;
        }
    });
    cache.push_back(std::move(t));
    return *cache.back();
}

void triad(benchmark::State& state, std::size_t n, int threads) {
    auto& t = arrays(n);
    double* KESTREL_RESTRICT a = t.a.get();
    double* KESTREL_RESTRICT b = t.b.get();
    double* KESTREL_RESTRICT c = t.c.get();
    const kestrel::exec_policy policy{threads};
    for (auto _ : state) {
        kestrel::parallel_chunks(n, 64, policy, [&](std::size_t lo, std::size_t hi) {
#pragma omp simd
            for (std::size_t i = lo; i < hi; ++i) c[i] = a[i] + 3.0 * b[i];
        });
        benchmark::DoNotOptimize(c);
        benchmark::ClobberMemory();
    }
    kestrel_bench::report_limits(state, 24.0 * double(n), double(n), 2.0 * double(n));
}

// Sums array a with several SIMD accumulators per thread (no dependency chain limits it).
void read_stream(benchmark::State& state, std::size_t n, int threads) {
    auto& t = arrays(n);
    const double* a = t.a.get();
    const kestrel::exec_policy policy{threads};
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<double>;
    for (auto _ : state) {
        double total = 0;
        kestrel::parallel_chunks(n, 64, policy, [&](std::size_t lo, std::size_t hi) {
            sd::batch<double> acc[4] = {sd::splat(0.0), sd::splat(0.0), sd::splat(0.0), sd::splat(0.0)};
            std::size_t i = lo;
            for (; i + 4 * W <= hi; i += 4 * W)
                for (int j = 0; j < 4; ++j) acc[j] = acc[j] + sd::load(a + i + j * W);
            double local = sd::hsum<double>(acc[0] + acc[1] + acc[2] + acc[3]);
            for (; i < hi; ++i) local += a[i];
#pragma omp atomic
            total += local;
        });
        benchmark::DoNotOptimize(total);
    }
    kestrel_bench::report_limits(state, 8.0 * double(n), double(n));
}

// 12 independent FMA chains per thread hide the FMA latency on current x86 cores.
void peak_flops(benchmark::State& state, int threads) {
    using batch = kestrel::simd::detail::batch<double>;
    constexpr std::size_t W = kestrel::simd::detail::width<double>;
    constexpr int chains = 12;
    const long steps = 1 << 16;
    const int nt = kestrel::effective_threads(kestrel::exec_policy{threads});
    for (auto _ : state) {
        double sink = 0;
        kestrel::parallel_for(static_cast<std::size_t>(nt), kestrel::exec_policy{nt}, [&](std::size_t id) {
            batch acc[chains];
            for (int j = 0; j < chains; ++j) acc[j] = kestrel::simd::detail::splat<double>(1.0 + 1e-3 * double(j + id));
            const batch m = kestrel::simd::detail::splat<double>(0.999999), add = kestrel::simd::detail::splat<double>(1e-7);
            for (long s = 0; s < steps; ++s)
                for (int j = 0; j < chains; ++j) acc[j] = kestrel::simd::detail::fmadd(acc[j], m, add);
            double local = 0;
            for (int j = 0; j < chains; ++j) local += kestrel::simd::detail::hsum<double>(acc[j]);
            benchmark::DoNotOptimize(local);
#pragma omp atomic
            sink += local;
        });
        benchmark::DoNotOptimize(sink);
    }
    const double flop = 2.0 * double(W) * chains * double(steps) * nt;
    kestrel_bench::report_limits(state, 0.0, flop / 2.0, flop);
}

const bool registered = [] {
    // 48 KiB (L1), 384 KiB (L2), 3 MiB and 24 MiB (L3), 768 MiB (memory): 24 bytes per element.
    std::vector<std::size_t> sizes = {std::size_t(1) << 11, std::size_t(1) << 14, std::size_t(1) << 17,
                                      std::size_t(1) << 20, std::size_t(1) << 25};
    if (kestrel_bench::quick_mode()) sizes = {std::size_t(1) << 14, std::size_t(1) << 22};
    for (int t : kestrel_bench::thread_counts()) {
        for (std::size_t n : sizes) {
            const std::string name = "machine/triad/stream/n:" + std::to_string(n) + "/threads:" + std::to_string(t);
            benchmark::RegisterBenchmark(name.c_str(), [n, t](benchmark::State& s) { triad(s, n, t); })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
        const std::size_t rn = sizes.back();
        benchmark::RegisterBenchmark(("machine/read/stream/n:" + std::to_string(rn) + "/threads:" + std::to_string(t)).c_str(),
                                     [rn, t](benchmark::State& s) { read_stream(s, rn, t); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        const std::string name = "machine/peak_flops/fma/threads:" + std::to_string(t);
        benchmark::RegisterBenchmark(name.c_str(), [t](benchmark::State& s) { peak_flops(s, t); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
    }
    return true;
}();

}  // namespace
