// Tree-embedding seeding for large k (tree_seeding.hpp) against the batched D^z seeding the
// coresets use by default (bicriteria_seeding: about 1 + 2k centers in 3 rounds at GEMM speed),
// on the imbalanced clustered data of sensitivity_coresets.cpp (20 Gaussian clusters plus a far
// cluster of 0.1% of the points), float, d = 16, n = 10^6 (quick mode: 10^5 and k = 100 only),
// k = 100 and 1000.
//
//   sensitivity/tree_seeding/kestrel/.../opt:default   rejection (exact k-means++ law), 3 trees
//   sensitivity/tree_seeding/kestrel/.../opt:proj6     the same after a JL projection to 6 dims
//   sensitivity/tree_seeding/baseline/...              bicriteria_seeding (the seeding it would
//                                                      replace; itself tested against a scalar
//                                                      baseline in test_coresets*.cpp)
// Counters: centers returned, cost of the seeding, and "distortion": the max relative cost
// error of a sensitivity coreset (m = 1000, sensitivity_coreset_from on that seeding) over a
// fixed candidate set of 100-center solutions (4 random subsets, 1 k-means++, 2 perturbed
// Lloyd optima, 2 small-cluster attacks; built once, untimed). Limits: one read of the points
// (n d 4 bytes); the baseline also reports its 2 n d c flop.
// One iteration per row (each is seconds at n = 10^6).
#include <benchmark/benchmark.h>

#include <kestrel/sensitivity/clustering_coreset.hpp>
#include <kestrel/sensitivity/coreset_distortion.hpp>
#include <kestrel/sensitivity/dz_seeding.hpp>
#include <kestrel/sensitivity/tree_seeding.hpp>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.hpp"
#include "sensitivity_bench_data.hpp"

namespace ks = kestrel::sensitivity;

namespace {

constexpr std::size_t tree_m = 1000, tree_d = 16;

const std::vector<float>& tree_data(std::size_t n) { return kestrel_bench::imbalanced_clusters(n, tree_d); }

kestrel::const_matrix_view<const float> tree_view(std::size_t n) {
    return kestrel::const_matrix_view<const float>(tree_data(n).data(), n, tree_d);
}

const ks::candidate_set<float>& tree_candidates(std::size_t n) {
    static std::map<std::size_t, std::unique_ptr<ks::candidate_set<float>>> cache;
    auto& p = cache[n];
    if (p) return *p;
    ks::coreset_distortion_options o;
    o.random_subsets = 4;
    o.kmeanspp_solutions = 1;
    o.perturbed_optima = 2;
    o.small_cluster = 2;
    o.lloyd_iterations = 3;
    p = std::make_unique<ks::candidate_set<float>>(ks::make_candidates<float>(tree_view(n), {}, 100, o));
    return *p;
}

/// Counters of a seeding: its centers, cost and the distortion of a coreset built on it.
void seeding_counters(benchmark::State& s, std::size_t n, const ks::seeding_result& r) {
    const auto P = tree_view(n);
    const auto c = ks::sensitivity_coreset_from<float>(P, {}, r, tree_m);
    s.counters["centers"] = double(r.centers.size());
    s.counters["cost"] = r.cost;
    s.counters["distortion"] = ks::coreset_distortion<float>(P, tree_candidates(n), c).max;
}

void tree_kestrel(benchmark::State& s, std::size_t n, std::size_t k, std::size_t proj, int threads) {
    const auto P = tree_view(n);
    ks::tree_seeding_options o;
    o.projection_dims = proj;
    o.policy = kestrel::exec_policy{threads};
    ks::seeding_result r;
    for (auto _ : s) {
        r = ks::tree_seeding<float>(P, {}, k, o);
        benchmark::DoNotOptimize(r.centers.data());
    }
    kestrel_bench::report_limits(s, double(n) * tree_d * sizeof(float), double(n));
    seeding_counters(s, n, r);
}

void tree_baseline(benchmark::State& s, std::size_t n, std::size_t k, int threads) {
    const auto P = tree_view(n);
    ks::bicriteria_options o;
    o.policy = kestrel::exec_policy{threads};
    ks::seeding_result r;
    for (auto _ : s) {
        r = ks::bicriteria_seeding<float>(P, {}, k, o);
        benchmark::DoNotOptimize(r.centers.data());
    }
    kestrel_bench::report_limits(s, double(n) * tree_d * sizeof(float), double(n),
                                 2.0 * double(n) * tree_d * double(r.centers.size()));
    seeding_counters(s, n, r);
}

const bool tree_registered = [] {
    const bool quick = kestrel_bench::quick_mode();
    const std::size_t n = quick ? 100000 : 1000000;
    const int all = kestrel::effective_threads();
    const auto ms = benchmark::kMillisecond;
    for (std::size_t k : {std::size_t(100), std::size_t(1000)}) {
        if (quick && k > 100) break;  // quick mode: k = 100 only
        const std::string args = "/n:" + std::to_string(n) + "/d:16/k:" + std::to_string(k);
        const std::string th = "/threads:" + std::to_string(all);
        benchmark::RegisterBenchmark(("sensitivity/tree_seeding/baseline" + args + th).c_str(), tree_baseline, n, k, all)
            ->Iterations(1)->Unit(ms)->UseRealTime();
        benchmark::RegisterBenchmark(("sensitivity/tree_seeding/kestrel" + args + "/opt:default" + th).c_str(),
                                     tree_kestrel, n, k, std::size_t(0), all)
            ->Iterations(1)->Unit(ms)->UseRealTime();
        benchmark::RegisterBenchmark(("sensitivity/tree_seeding/kestrel" + args + "/opt:proj6" + th).c_str(),
                                     tree_kestrel, n, k, std::size_t(6), all)
            ->Iterations(1)->Unit(ms)->UseRealTime();
    }
    return true;
}();

}  // namespace
