// Threads on a shared machine: each kernel at 1 thread and at all threads, paired, first on
// the idle machine and then while a child process keeps one core busy (contention.hpp).
// The report prints contended_slowdown = t(all threads) / t(1 thread) with one core busy;
// the target is <= 1.2 (two threads must never be much slower than one), and idle_speedup
// shows what the threads buy when the machine is free.
//
//   core/lincomb_contention/kestrel/n:16777216/inputs:4
//   diffusion/heun_step_contention/kestrel/n:{1048576,16777216}          float state
//   kmedoids/fasterpam_contention/kestrel/n:5000/k:{50,100}              double matrix, LAB start
//   kmedoids/fastpam2_contention/kestrel/n:5000/k:100
#include <benchmark/benchmark.h>

#include <kestrel/core/simd.hpp>
#include <kestrel/diffusion.hpp>
#include <kestrel/kmedoids.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "contention.hpp"

namespace {

namespace km = kestrel::kmedoids;
namespace kd = kestrel::diffusion;

int all_threads() { return kestrel_bench::thread_counts().back(); }
int pairs() { return kestrel_bench::quick_mode() ? 1 : 5; }
double min_seconds() { return kestrel_bench::quick_mode() ? 0.005 : 0.05; }

template <class T>
std::vector<std::vector<T>> filled(std::size_t inputs, std::size_t n) {
    std::vector<std::vector<T>> v(inputs, std::vector<T>(n));
    for (std::size_t k = 0; k < inputs; ++k) kestrel::fill_normal(kestrel::make_view(v[k]), kestrel::counter_rng(5, k));
    return v;
}

void lincomb_contention(benchmark::State& s, std::size_t n) {
    auto x = filled<double>(4, n);
    std::vector<double> y(n);
    const double c[4] = {0.9, -0.35, 0.21, -0.12};
    const kestrel::vector_view<const double> in[4] = {x[0], x[1], x[2], x[3]};
    kestrel_bench::contended_pairs(s, all_threads(), pairs(), min_seconds(), [&](int threads) {
        kestrel::simd::lincomb(kestrel::make_view(y), c, in, 4, kestrel::exec_policy{threads});
        benchmark::DoNotOptimize(y.data());
    });
    kestrel_bench::report_limits(s, 5.0 * double(n) * sizeof(double), double(n));
}

void heun_contention(benchmark::State& s, std::size_t n) {
    auto x = filled<float>(4, n);
    std::vector<float> out(n);
    const auto sched = kd::noise_schedule::discrete_from_betas(kd::scaled_linear_betas());
    const kd::grid_point p0 = kd::point_at(sched, 781), p1 = kd::point_at(sched, 721);
    using view = kestrel::vector_view<const float>;
    kestrel_bench::contended_pairs(s, all_threads(), pairs(), min_seconds(), [&](int threads) {
        kd::heun_step<float>(kestrel::make_view(out), view(x[0]), view(x[1]), view(x[2]), view(x[3]), p0, p1,
                             kestrel::exec_policy{threads});
        benchmark::DoNotOptimize(out.data());
    });
    kestrel_bench::report_limits(s, 5.0 * double(n) * sizeof(float), double(n));
}

// Gaussian blobs (20 centres, d = 16), the Euclidean matrix and LAB medoids per k.
struct blobs {
    std::size_t n;
    std::vector<double> points, matrix;
    std::map<std::size_t, std::vector<std::size_t>> start;
};

blobs& get_blobs(std::size_t n) {
    static std::map<std::size_t, std::unique_ptr<blobs>> cache;
    auto& b = cache[n];
    if (b) return *b;
    constexpr std::size_t dim = 16, centres = 20;
    b = std::make_unique<blobs>();
    b->n = n;
    b->points.resize(n * dim);
    kestrel::fill_normal(kestrel::make_view(b->points), kestrel::counter_rng(2026, n));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < dim; ++t) b->points[i * dim + t] += 3.0 * double((i % centres + t) % 7);
    b->matrix.resize(n * n);
    km::dissimilarity_matrix(kestrel::matrix_view<const double>(b->points.data(), n, dim),
                             kestrel::matrix_view<double>(b->matrix.data(), n, n), km::euclidean());
    return *b;
}

void swap_contention(benchmark::State& s, bool eager, std::size_t n, std::size_t k) {
    auto& b = get_blobs(n);
    const km::dense_dissimilarity<double> d(kestrel::matrix_view<const double>(b.matrix.data(), n, n));
    auto& m0 = b.start[k];
    if (m0.empty()) m0 = km::lab_medoids(d, k, 1);
    double loss = 0;
    kestrel_bench::contended_pairs(s, all_threads(), pairs(), min_seconds(), [&](int threads) {
        km::swap_options o;
        o.policy = kestrel::exec_policy{threads};
        o.validate_input = false;
        const km::clustering r = eager ? km::fasterpam(d, m0, o) : km::fastpam2(d, m0, o);
        loss = r.loss;
    });
    s.counters["loss"] = loss;
}

const bool registered = [] {
    const bool quick = kestrel_bench::quick_mode();
    auto reg = [](const std::string& name, auto fn) {
        benchmark::RegisterBenchmark(name.c_str(), fn)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
    };
    const std::size_t big = quick ? (std::size_t(1) << 20) : (std::size_t(1) << 24);
    reg("core/lincomb_contention/kestrel/n:" + std::to_string(big) + "/inputs:4",
        [big](benchmark::State& s) { lincomb_contention(s, big); });
    std::vector<std::size_t> sizes{std::size_t(1) << 20};
    if (!quick) sizes.push_back(std::size_t(1) << 24);
    for (std::size_t n : sizes)
        reg("diffusion/heun_step_contention/kestrel/n:" + std::to_string(n),
            [n](benchmark::State& s) { heun_contention(s, n); });
    const std::size_t n = quick ? 1000 : 5000;
    for (std::size_t k : {std::size_t(50), std::size_t(100)})
        reg("kmedoids/fasterpam_contention/kestrel/n:" + std::to_string(n) + "/k:" + std::to_string(k),
            [n, k](benchmark::State& s) { swap_contention(s, true, n, k); });
    reg("kmedoids/fastpam2_contention/kestrel/n:" + std::to_string(n) + "/k:100",
        [n](benchmark::State& s) { swap_contention(s, false, n, 100); });
    return true;
}();

}  // namespace
