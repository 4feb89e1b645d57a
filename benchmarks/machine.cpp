// The machine's limits, measured in every run of the suite:
//   machine/triad/...       STREAM-style triad c = a + 3 b (24 bytes per element counted,
//                           no write-allocate), at sizes from L1 to far beyond the last-level
//                           cache, with 1 thread and all threads;
//   machine/read/...        a pure read stream (sum of one array, 8 bytes per element),
//                           the limit of read-only kernels such as a k-medoids SWAP pass;
//   machine/peak_flops/...  independent chains of SIMD fused multiply-adds;
//   machine/random_lines/...  2^20 reads of one word from random 64-byte lines of a table of
//                           16 MiB and 256 MiB (the alias tables' sizes at n = 2^20 and 2^24),
//                           in the alias draws' pipeline (128 lines prefetched ahead): the floor of any kernel
//                           that needs a random line per item (alias draws). Not a bound the
//                           report divides by; it shows how far a random line is from the
//                           read stream on this machine.
// benchmarks/report.py divides every kernel's rate by these.
#include <benchmark/benchmark.h>

#include <kestrel/core/parallel.hpp>
#include <kestrel/core/simd.hpp>

#include <cstdint>
#include <cstdlib>
#include <utility>
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

// m reads of random lines (a multiplicative hash of the read's index picks the line), each
// thread its own share; the sum of the words read keeps every load.
void random_lines(benchmark::State& state, std::size_t table_bytes, int threads) {
    const std::size_t lines = table_bytes / 64, m = std::size_t(1) << 20;
    static std::vector<std::pair<std::size_t, std::unique_ptr<std::uint64_t[]>>> tables;
    std::uint64_t* table = nullptr;
    for (auto& t : tables)
        if (t.first == table_bytes) table = t.second.get();
    if (!table) {
        tables.emplace_back(table_bytes, std::unique_ptr<std::uint64_t[]>(new std::uint64_t[table_bytes / 8]));
        table = tables.back().second.get();
        for (std::size_t i = 0; i < table_bytes / 8; ++i) table[i] = i * 0x9E3779B97F4A7C15ull;
    }
    // lines is a power of 2: the hash's top bits pick the line (no division in the loop).
    int shift = 64;
    for (std::size_t l = lines; l > 1; l >>= 1) --shift;
    auto line_of = [shift](std::size_t i) { return static_cast<std::size_t>((i * 0x9E3779B97F4A7C15ull) >> shift); };
    const kestrel::exec_policy policy{threads};
    for (auto _ : state) {
        std::uint64_t total = 0;
        kestrel::parallel_chunks(m, 4096, policy, [&](std::size_t lo, std::size_t hi) {
            // The alias draws' pipeline shape: lines of 32 reads computed and prefetched 4
            // chunks (128 lines) before they are read.
            constexpr std::size_t C = 32, ahead = 4, L = ahead + 1;
            std::size_t ring[L][C];
            const std::size_t nch = (hi - lo) / C;  // hi - lo is a multiple of 4096
            auto generate = [&](std::size_t c) {
                for (std::size_t k = 0; k < C; ++k) {
                    ring[c % L][k] = line_of(lo + c * C + k);
                    kestrel::simd::detail::prefetch<3>(table + 8 * ring[c % L][k]);
                }
            };
            std::uint64_t acc = 0;
            for (std::size_t c = 0; c < ahead && c < nch; ++c) generate(c);
            for (std::size_t c = 0; c < nch; ++c) {
                if (c + ahead < nch) generate(c + ahead);
                for (std::size_t k = 0; k < C; ++k) acc += table[8 * ring[c % L][k]];
            }
#pragma omp atomic
            total += acc;
        });
        benchmark::DoNotOptimize(total);
    }
    kestrel_bench::report_limits(state, 64.0 * double(m), double(m));
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
        for (std::size_t tb : {std::size_t(16) << 20, std::size_t(256) << 20})
            benchmark::RegisterBenchmark(("machine/random_lines/gather/bytes:" + std::to_string(tb) + "/threads:" +
                                          std::to_string(t)).c_str(),
                                         [tb, t](benchmark::State& s) { random_lines(s, tb, t); })
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
