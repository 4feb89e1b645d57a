// core/lincomb: the fused linear combination against the same combination executed as
// whole-array operations with temporaries (baselines/core.hpp), for 2, 4 and 6 inputs.
// Minimum bytes: K inputs read + 1 output written, (K + 1) * n * sizeof(double).
#include <benchmark/benchmark.h>

#include <kestrel/core/simd.hpp>

#include <memory>
#include <string>
#include <vector>

#include "baselines/core.hpp"
#include "bench_common.hpp"

namespace {

constexpr std::size_t max_inputs = 6;

struct lincomb_data {
    std::size_t n = 0;
    std::vector<std::unique_ptr<double[]>> x;  // max_inputs inputs
    std::unique_ptr<double[]> y, tmp;
};

lincomb_data& data(std::size_t n) {
    static lincomb_data d;
    if (d.n >= n) return d;
    d.x.clear();
    d.y.reset();
    d.tmp.reset();
    d.n = n;
    for (std::size_t k = 0; k < max_inputs; ++k) d.x.emplace_back(new double[n]);
    d.y.reset(new double[n]);
    d.tmp.reset(new double[n]);
    kestrel::parallel_chunks(n, 64, kestrel::exec_policy{}, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            for (std::size_t k = 0; k < max_inputs; ++k) d.x[k][i] = 1.0 / double(1 + k + (i & 255));
            d.y[i] = 0.0;
            d.tmp[i] = 0.0;
        }
    });
    return d;
}

const double coefficients[max_inputs] = {0.9, -0.35, 0.21, -0.12, 0.07, -0.03};

void lincomb_kestrel(benchmark::State& state, std::size_t n, std::size_t k, int threads) {
    auto& d = data(n);
    kestrel::vector_view<const double> in[max_inputs];
    for (std::size_t j = 0; j < k; ++j) in[j] = kestrel::vector_view<const double>(d.x[j].get(), n);
    const kestrel::vector_view<double> y(d.y.get(), n);
    kestrel::simd::lincomb(y, coefficients, in, k, kestrel::exec_policy{threads});  // once untimed, as the baseline
    for (auto _ : state) {
        kestrel::simd::lincomb(y, coefficients, in, k, kestrel::exec_policy{threads});
        benchmark::ClobberMemory();
    }
    kestrel_bench::report_limits(state, double((k + 1) * n * sizeof(double)), double(n), double(2 * k - 1) * n);
}

void lincomb_baseline(benchmark::State& state, std::size_t n, std::size_t k) {
    auto& d = data(n);
    const double* in[max_inputs];
    for (std::size_t j = 0; j < k; ++j) in[j] = d.x[j].get();
    // Once untimed: a first call at 64 Mi doubles measured about 2x its later ones (197 against
    // 93 ms), and at that size a 0.1 s run times a single call.
    kestrel_baseline::lincomb_whole_array_ops(d.y.get(), in, coefficients, k, n, d.tmp.get());
    for (auto _ : state) {
        kestrel_baseline::lincomb_whole_array_ops(d.y.get(), in, coefficients, k, n, d.tmp.get());
        benchmark::ClobberMemory();
    }
    kestrel_bench::report_limits(state, double((k + 1) * n * sizeof(double)), double(n), double(2 * k - 1) * n);
}

const bool registered = [] {
    std::vector<std::size_t> sizes;
    for (int e = 14; e <= 26; e += 2) sizes.push_back(std::size_t(1) << e);  // 16 Ki .. 64 Mi
    if (kestrel_bench::quick_mode()) sizes = {std::size_t(1) << 14, std::size_t(1) << 20};
    for (std::size_t k : {std::size_t(2), std::size_t(4), std::size_t(6)}) {
        for (std::size_t n : sizes) {
            const std::string args = "/k:" + std::to_string(k) + "/n:" + std::to_string(n);
            benchmark::RegisterBenchmark(("core/lincomb/baseline" + args + "/threads:1").c_str(),
                                         [n, k](benchmark::State& s) { lincomb_baseline(s, n, k); })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
            for (int t : kestrel_bench::thread_counts()) {
                benchmark::RegisterBenchmark(("core/lincomb/kestrel" + args + "/threads:" + std::to_string(t)).c_str(),
                                             [n, k, t](benchmark::State& s) { lincomb_kestrel(s, n, k, t); })
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
            }
        }
    }
    return true;
}();

}  // namespace
