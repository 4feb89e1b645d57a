// k-medoids SWAP phase.
//   kmedoids/pam_swap_iteration/baseline     original PAM, one SWAP iteration (n = 2000 only)
//   kmedoids/pam_swap_iteration/kestrel      one FastPAM1 iteration: the same swap, found O(k) faster
//   kmedoids/fasterpam_swap/kestrel          FasterPAM, the whole SWAP phase to convergence
// All start from the same LAB initialization (seeded), on Gaussian blobs (20 centres, d = 16,
// Euclidean, double), the setup of shared/research/measured-facts.md. The limit is one read
// of the n x n matrix per iteration. The baseline is the library's pam_swap, which the tests
// check against FastPAM1 swap for swap.
// With KESTREL_BENCH_OUT set (scripts/benchmark.sh sets it) and not in quick mode, the
// matrices and initial medoids are written there for the R peer
// (benchmarks/peers/kmedoids_r_pam.sh).
#include <benchmark/benchmark.h>

#include <kestrel/kmedoids.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace km = kestrel::kmedoids;

namespace {

struct problem {
    std::size_t n;
    std::vector<double> matrix;
    km::dense_dissimilarity<double> d;
    std::map<std::size_t, std::vector<std::size_t>> init;  // by k
};

const char* out_dir() {
    const char* e = std::getenv("KESTREL_BENCH_OUT");
    return (e && *e && !kestrel_bench::quick_mode()) ? e : nullptr;
}

problem& get(std::size_t n) {
    static std::map<std::size_t, std::unique_ptr<problem>> cache;
    auto& p = cache[n];
    if (p) return *p;
    p = std::make_unique<problem>();
    p->n = n;
    const std::size_t dim = 16, centres = 20;
    const kestrel::counter_rng rng(2019, n);
    std::vector<double> centre(centres * dim), pts(n * dim);
    std::uint64_t draw = 0;
    for (auto& c : centre) c = 10.0 * rng.uniform_double(draw++);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < dim; ++t) pts[i * dim + t] = centre[(i % centres) * dim + t] + rng.normal(draw++);
    p->matrix.resize(n * n);
    km::dissimilarity_matrix(kestrel::matrix_view<const double>(pts.data(), n, dim),
                             kestrel::matrix_view<double>(p->matrix.data(), n, n));
    p->d = km::dense_dissimilarity<double>(kestrel::matrix_view<const double>(p->matrix.data(), n, n));
    if (const char* dir = out_dir()) {
        const std::string path = std::string(dir) + "/kmedoids_n" + std::to_string(n) + ".bin";
        if (FILE* f = std::fopen(path.c_str(), "wb")) {
            std::fwrite(p->matrix.data(), sizeof(double), p->matrix.size(), f);
            std::fclose(f);
        }
    }
    return *p;
}

const std::vector<std::size_t>& init(problem& p, std::size_t k) {
    auto& m = p.init[k];
    if (m.empty()) {
        m = km::lab_medoids(p.d, k, 7);
        if (const char* dir = out_dir()) {
            const std::string path =
                std::string(dir) + "/kmedoids_n" + std::to_string(p.n) + "_k" + std::to_string(k) + ".init";
            if (FILE* f = std::fopen(path.c_str(), "w")) {
                for (auto i : m) std::fprintf(f, "%zu\n", i + 1);  // 1-based, for R
                std::fclose(f);
            }
        }
    }
    return m;
}

void record(benchmark::State& s, const problem& p, const km::clustering& r) {
    s.counters["loss"] = r.loss;
    s.counters["swap_iterations"] = double(r.iterations);
    s.counters["swaps"] = double(r.swaps);
    kestrel_bench::report_limits(s, double(r.iterations) * double(p.n * p.n * sizeof(double)),
                                 double(r.iterations) * double(p.n) * double(p.n));
}

void pam_iteration(benchmark::State& s, std::size_t n, std::size_t k) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    km::swap_options o;
    o.max_iter = 1;
    o.validate_input = false;
    km::clustering r;
    for (auto _ : s) r = km::pam_swap(p.d, m0, o);
    record(s, p, r);
}

void fastpam1_iteration(benchmark::State& s, std::size_t n, std::size_t k, int threads) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    km::swap_options o;
    o.max_iter = 1;
    o.validate_input = false;
    o.policy = kestrel::exec_policy{threads};
    km::clustering r;
    for (auto _ : s) r = km::fastpam1(p.d, m0, o);
    record(s, p, r);
}

void fasterpam_full(benchmark::State& s, std::size_t n, std::size_t k, int threads) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    km::swap_options o;
    o.validate_input = false;
    o.policy = kestrel::exec_policy{threads};
    km::clustering r;
    for (auto _ : s) r = km::fasterpam(p.d, m0, o);
    record(s, p, r);
}

const bool registered = [] {
    std::vector<std::size_t> ns = {2000, 5000, 10000}, ks = {10, 50, 100, 200};
    if (kestrel_bench::quick_mode()) ns = {500}, ks = {10};
    const auto ms = benchmark::kMillisecond;
    for (std::size_t n : ns) {
        for (std::size_t k : ks) {
            const std::string args = "/n:" + std::to_string(n) + "/k:" + std::to_string(k);
            if (n <= 2000)
                benchmark::RegisterBenchmark(("kmedoids/pam_swap_iteration/baseline" + args + "/threads:1").c_str(),
                                             [n, k](benchmark::State& s) { pam_iteration(s, n, k); })
                    ->Unit(ms)
                    ->UseRealTime()
                    ->Iterations(1);
            for (int t : kestrel_bench::thread_counts()) {
                const std::string a = args + "/threads:" + std::to_string(t);
                benchmark::RegisterBenchmark(("kmedoids/pam_swap_iteration/kestrel" + a).c_str(),
                                             [n, k, t](benchmark::State& s) { fastpam1_iteration(s, n, k, t); })
                    ->Unit(ms)
                    ->UseRealTime();
                auto* b = benchmark::RegisterBenchmark(("kmedoids/fasterpam_swap/kestrel" + a).c_str(),
                                                       [n, k, t](benchmark::State& s) { fasterpam_full(s, n, k, t); });
                b->Unit(ms)->UseRealTime();
                if (n >= 5000) b->Iterations(1);
            }
        }
    }
    return true;
}();

}  // namespace
