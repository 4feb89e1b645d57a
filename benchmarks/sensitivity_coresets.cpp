// Clustering coresets (k-means, z = 2) on imbalanced clustered data: 20 Gaussian clusters and
// one far cluster of 0.1% of the points, float, m = 1000 (n = 10^6; quick mode n = 2^14).
//
//   sensitivity/dz_seeding/{kestrel,baseline}           sequential k-means++ (k centers; one
//                                                       read of the points per center: bounded
//                                                       by bandwidth, not arithmetic)
//   sensitivity/bicriteria_seeding/kestrel              the batched seeding the coreset uses
//                                                       (about 1 + 2k centers in 3 rounds, each
//                                                       round one matrix product: GEMM speed)
//   sensitivity/sensitivity_coreset/{kestrel,baseline}  the whole construction (seeding,
//                                                       sensitivities, m draws); the baseline is
//                                                       the straightforward one (scalar loops,
//                                                       sequential seeding, cumulative sums).
//                                                       kestrel: with a coreset_workspace (steady
//                                                       state, after one untimed call);
//                                                       kestrel/oneshot: without (every call
//                                                       allocates and first-touches its scratch)
//   sensitivity/lightweight_coreset/{kestrel,baseline}  Bachem et al. 2018
//   sensitivity/uniform_coreset/{kestrel,baseline}
//   sensitivity/clustering_cost/{kestrel,baseline}      the distance pass alone: nearest of 67
//                                                       fixed centers at d = 64 (one round of
//                                                       the k = 100 seeding), n = 2^17; the
//                                                       baseline is the scalar double loop
//   sensitivity/distortion_vs_m/kestrel                 max distortion against m (100 .. 10000)
//                                                       of sensitivity (i.i.d. and stratified),
//                                                       lightweight, uniform (n = 10^5, k = 10,
//                                                       mean over 3 seeds); written to
//                                                       sensitivity_distortion_vs_m.csv under
//                                                       KESTREL_BENCH_OUT for report.py's plot
// Limits: flop = 2 n d c for the seeding distances (c = centers whose distances are computed:
// k sequential, 1 + 2k batched), bytes = one read of the points (n d 4).
// Baselines run once (Iterations(1)), at d = 16 only (k = 10 and 100).
#include <benchmark/benchmark.h>

#include <kestrel/sensitivity/clustering_coreset.hpp>
#include <kestrel/sensitivity/coreset_distortion.hpp>
#include <kestrel/sensitivity/coreset_workspace.hpp>
#include <kestrel/sensitivity/dz_seeding.hpp>
#include <kestrel/sensitivity/lightweight_coreset.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "baselines/sensitivity_coresets.hpp"
#include "bench_common.hpp"
#include "sensitivity_bench_data.hpp"

namespace ks = kestrel::sensitivity;
namespace bl = kestrel_baseline::sensitivity_coresets;

namespace {

constexpr std::size_t coreset_m = 1000;

const std::vector<float>& data(std::size_t n, std::size_t d) { return kestrel_bench::imbalanced_clusters(n, d); }

kestrel::const_matrix_view<const float> view(std::size_t n, std::size_t d) {
    return kestrel::const_matrix_view<const float>(data(n, d).data(), n, d);
}

void limits(benchmark::State& s, std::size_t n, std::size_t d, double centers) {
    kestrel_bench::report_limits(s, double(n) * double(d) * sizeof(float), double(n),
                                 2.0 * double(n) * double(d) * centers);
}

void seeding_kestrel(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k, int threads) {
    const auto P = view(n, d);
    ks::seeding_options o;
    o.policy = kestrel::exec_policy{threads};
    double cost = 0;
    for (auto _ : s) {
        auto r = ks::dz_seeding<float>(P, {}, k, o);
        cost = r.cost;
        benchmark::DoNotOptimize(r.centers.data());
    }
    limits(s, n, d, double(k));
    s.counters["cost"] = cost;
}

void seeding_baseline(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k) {
    const auto& X = data(n, d);
    for (auto _ : s) {
        auto r = bl::dz_seeding(X.data(), n, d, k, 2, 0);
        benchmark::DoNotOptimize(r.centers.data());
    }
    limits(s, n, d, double(k));
}

void bicriteria_kestrel(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k, int threads) {
    const auto P = view(n, d);
    ks::bicriteria_options o;
    o.policy = kestrel::exec_policy{threads};
    double centers = 0;
    for (auto _ : s) {
        auto r = ks::bicriteria_seeding<float>(P, {}, k, o);
        centers = double(r.centers.size());
        benchmark::DoNotOptimize(r.centers.data());
    }
    limits(s, n, d, centers);
    s.counters["centers"] = centers;
}

/// With a workspace (the steady state of a caller that builds many coresets: one untimed
/// call first faults the workspace's pages in) or without (one-shot: every call allocates,
/// and first-touches, its n-sized scratch).
void sensitivity_kestrel(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k, int threads,
                         bool workspace) {
    const auto P = view(n, d);
    ks::sensitivity_options o;
    o.policy = kestrel::exec_policy{threads};
    ks::coreset_workspace ws;
    ks::coreset_workspace* w = workspace ? &ws : nullptr;
    if (workspace) benchmark::DoNotOptimize(ks::sensitivity_coreset<float>(P, {}, k, coreset_m, o, w).indices.data());
    for (auto _ : s) {
        auto c = ks::sensitivity_coreset<float>(P, {}, k, coreset_m, o, w);
        benchmark::DoNotOptimize(c.indices.data());
    }
    limits(s, n, d, double(1 + o.rounds * std::size_t(std::ceil(o.oversampling * double(k)))));
}

void sensitivity_baseline(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k) {
    const auto& X = data(n, d);
    for (auto _ : s) {
        auto c = bl::sensitivity_coreset(X.data(), n, d, k, coreset_m, 2, 0);
        benchmark::DoNotOptimize(c.indices.data());
    }
    limits(s, n, d, double(k));
}

void lightweight_kestrel(benchmark::State& s, std::size_t n, std::size_t d, int threads) {
    const auto P = view(n, d);
    for (auto _ : s) {
        auto c = ks::lightweight_coreset<float>(P, {}, coreset_m, 0, kestrel::exec_policy{threads});
        benchmark::DoNotOptimize(c.indices.data());
    }
    kestrel_bench::report_limits(s, double(n) * double(d) * sizeof(float), double(n));
}

void lightweight_baseline(benchmark::State& s, std::size_t n, std::size_t d) {
    const auto& X = data(n, d);
    for (auto _ : s) {
        auto c = bl::lightweight_coreset(X.data(), n, d, coreset_m, 0);
        benchmark::DoNotOptimize(c.indices.data());
    }
    kestrel_bench::report_limits(s, double(n) * double(d) * sizeof(float), double(n));
}

void uniform_kestrel(benchmark::State& s, std::size_t n, std::size_t d) {
    const auto P = view(n, d);
    for (auto _ : s) {
        auto c = ks::uniform_coreset<float>(P, {}, coreset_m, 0);
        benchmark::DoNotOptimize(c.indices.data());
    }
    // The validation reads every coordinate once (finite check and identical-points check).
    kestrel_bench::report_limits(s, double(n) * double(d) * sizeof(float), double(n));
}

void uniform_baseline(benchmark::State& s, std::size_t n) {
    for (auto _ : s) {
        auto c = bl::uniform_coreset(n, coreset_m, 0);
        benchmark::DoNotOptimize(c.indices.data());
    }
    kestrel_bench::report_limits(s, 0.0, double(coreset_m));
}

/// The distance pass alone: every point's nearest of k fixed centers (rows 1000.. of the data)
/// and the cost, by the public clustering_cost (input check, Gram-form search, exact costs).
void cost_kestrel(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k, int threads) {
    const auto P = view(n, d);
    const kestrel::const_matrix_view<const float> C(data(n, d).data() + 1000 * d, k, d);
    double cost = 0;
    for (auto _ : s) {
        cost = ks::clustering_cost<float>(P, {}, C, 2, kestrel::exec_policy{threads});
        benchmark::DoNotOptimize(cost);
    }
    limits(s, n, d, double(k));
    s.counters["cost"] = cost;
}

void cost_baseline(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k) {
    const auto& X = data(n, d);
    double cost = 0;
    for (auto _ : s) {
        cost = bl::clustering_cost(X.data(), n, d, X.data() + 1000 * d, k, 2);
        benchmark::DoNotOptimize(cost);
    }
    limits(s, n, d, double(k));
    s.counters["cost"] = cost;
}

/// Max distortion against m for the three methods; counters d_<method>_m<m>, and the CSV.
void distortion_vs_m(benchmark::State& s, std::size_t n, std::size_t d, std::size_t k) {
    const auto P = view(n, d);
    const std::vector<std::size_t> ms = kestrel_bench::quick_mode()
                                            ? std::vector<std::size_t>{100, 1000}
                                            : std::vector<std::size_t>{100, 200, 500, 1000, 2000, 5000, 10000};
    const std::size_t seeds = kestrel_bench::quick_mode() ? 1 : 3;
    const char* names[] = {"sensitivity (i.i.d.)", "sensitivity (stratified)", "lightweight", "uniform"};
    std::vector<std::vector<double>> mean(4, std::vector<double>(ms.size(), 0.0));
    for (auto _ : s) {
        ks::coreset_distortion_options o;
        const auto cs = ks::make_candidates<float>(P, {}, k, o);
        for (std::size_t a = 0; a < ms.size(); ++a)
            for (std::size_t seed = 0; seed < seeds; ++seed)
                for (int method = 0; method < 4; ++method) {
                    ks::coreset c;
                    ks::sensitivity_options so;
                    so.seed = seed;
                    so.stratified = method == 1;  // the default; method 0 is the textbook i.i.d. draw
                    if (method <= 1) c = ks::sensitivity_coreset<float>(P, {}, k, ms[a], so);
                    if (method == 2) c = ks::lightweight_coreset<float>(P, {}, ms[a], seed);
                    if (method == 3) c = ks::uniform_coreset<float>(P, {}, ms[a], seed);
                    mean[std::size_t(method)][a] += ks::coreset_distortion<float>(P, cs, c).max / double(seeds);
                }
    }
    for (int method = 0; method < 4; ++method)
        for (std::size_t a = 0; a < ms.size(); ++a)
            s.counters[std::string("d_") + (method == 0 ? "sens" : method == 1 ? "strat" : method == 2 ? "light" : "unif") +
                       "_m" + std::to_string(ms[a])] = mean[std::size_t(method)][a];
    const char* dir = std::getenv("KESTREL_BENCH_OUT");
    if (!dir || !*dir) return;
    const std::string path = std::string(dir) + "/sensitivity_distortion_vs_m.csv";
    if (std::FILE* f = std::fopen(path.c_str(), "w")) {
        std::fprintf(f, "method,m,max_distortion,n,d,k,seeds\n");
        for (int method = 0; method < 4; ++method)
            for (std::size_t a = 0; a < ms.size(); ++a)
                std::fprintf(f, "%s,%zu,%.6g,%zu,%zu,%zu,%zu\n", names[method], ms[a], mean[std::size_t(method)][a], n, d,
                             k, seeds);
        std::fclose(f);
    }
}

const bool registered = [] {
    const bool quick = kestrel_bench::quick_mode();
    const std::size_t n = quick ? (std::size_t(1) << 14) : 1000000;
    const int all = kestrel::effective_threads();
    const auto ms = benchmark::kMillisecond;
    for (std::size_t d : {std::size_t(16), std::size_t(64)}) {
        if (quick && d == 64) continue;
        for (std::size_t k : {std::size_t(10), std::size_t(100)}) {
            const std::string args = "/n:" + std::to_string(n) + "/d:" + std::to_string(d) + "/k:" + std::to_string(k);
            const std::string th = "/threads:" + std::to_string(all);
            // Iterations: a sequential seeding at d = 64, k = 100 reads 256 MB a hundred times.
            const int it = quick ? 3 : (k == 100 ? 1 : 3);
            benchmark::RegisterBenchmark(("sensitivity/dz_seeding/kestrel" + args + th).c_str(), seeding_kestrel, n, d, k, all)
                ->Iterations(it)->Unit(ms)->UseRealTime();
            benchmark::RegisterBenchmark(("sensitivity/bicriteria_seeding/kestrel" + args + th).c_str(), bicriteria_kestrel, n,
                                         d, k, all)
                ->Iterations(quick ? 3 : 2)->Unit(ms)->UseRealTime();
            benchmark::RegisterBenchmark(("sensitivity/sensitivity_coreset/kestrel" + args + th).c_str(), sensitivity_kestrel,
                                         n, d, k, all, true)
                ->Iterations(quick ? 3 : 5)->Unit(ms)->UseRealTime();
            benchmark::RegisterBenchmark(("sensitivity/sensitivity_coreset/kestrel/oneshot" + args + th).c_str(),
                                         sensitivity_kestrel, n, d, k, all, false)
                ->Iterations(quick ? 3 : 5)->Unit(ms)->UseRealTime();
            if (d == 16) {
                if (k == 10 && all > 1)
                    benchmark::RegisterBenchmark(("sensitivity/sensitivity_coreset/kestrel_serial" + args + "/threads:1").c_str(),
                                                 sensitivity_kestrel, n, d, k, 1, true)
                        ->Iterations(quick ? 3 : 3)->Unit(ms)->UseRealTime();
                benchmark::RegisterBenchmark(("sensitivity/dz_seeding/baseline" + args + "/threads:1").c_str(),
                                             seeding_baseline, n, d, k)
                    ->Iterations(1)->Unit(ms)->UseRealTime();
                benchmark::RegisterBenchmark(("sensitivity/sensitivity_coreset/baseline" + args + "/threads:1").c_str(),
                                             sensitivity_baseline, n, d, k)
                    ->Iterations(1)->Unit(ms)->UseRealTime();
            }
        }
        const std::string args = "/n:" + std::to_string(n) + "/d:" + std::to_string(d);
        benchmark::RegisterBenchmark(("sensitivity/lightweight_coreset/kestrel" + args + "/threads:" + std::to_string(all)).c_str(),
                                     lightweight_kestrel, n, d, all)
            ->Iterations(3)->Unit(ms)->UseRealTime();
        benchmark::RegisterBenchmark(("sensitivity/uniform_coreset/kestrel" + args + "/threads:1").c_str(), uniform_kestrel, n, d)
            ->Iterations(3)->Unit(ms)->UseRealTime();
        if (d == 16) {
            benchmark::RegisterBenchmark(("sensitivity/lightweight_coreset/baseline" + args + "/threads:1").c_str(),
                                         lightweight_baseline, n, d)
                ->Iterations(1)->Unit(ms)->UseRealTime();
            benchmark::RegisterBenchmark(("sensitivity/uniform_coreset/baseline" + args + "/threads:1").c_str(), uniform_baseline,
                                         n)
                ->Iterations(3)->Unit(ms)->UseRealTime();
        }
    }
    {
        // 67 centers: the batch of one round of the k = 100 bicriteria seeding.
        const std::size_t nc = quick ? (std::size_t(1) << 14) : (std::size_t(1) << 17), d = 64, k = 67;
        const std::string args = "/n:" + std::to_string(nc) + "/d:64/k:67";
        benchmark::RegisterBenchmark(("sensitivity/clustering_cost/kestrel" + args + "/threads:" + std::to_string(all)).c_str(),
                                     cost_kestrel, nc, d, k, all)
            ->Iterations(quick ? 3 : 10)->Unit(ms)->UseRealTime();
        benchmark::RegisterBenchmark(("sensitivity/clustering_cost/baseline" + args + "/threads:1").c_str(), cost_baseline, nc,
                                     d, k)
            ->Iterations(1)->Unit(ms)->UseRealTime();
    }
    const std::size_t nd = quick ? (std::size_t(1) << 14) : 100000;
    benchmark::RegisterBenchmark(("sensitivity/distortion_vs_m/kestrel/n:" + std::to_string(nd) + "/d:16/k:10").c_str(),
                                 distortion_vs_m, nd, std::size_t(16), std::size_t(10))
        ->Iterations(1)->Unit(ms)->UseRealTime();
    return true;
}();

}  // namespace
