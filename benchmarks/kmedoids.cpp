// k-medoids. Every run starts from the same seeded LAB medoids, on Gaussian blobs (20
// centres, d = 16, Euclidean), the setup of shared/research/measured-facts.md.
//
//   kmedoids/pam_swap_iteration/{baseline,kestrel}   one SWAP iteration: original PAM against
//                                                    FastPAM1 (the same swap, found O(k) faster)
//   kmedoids/{fastpam1,fastpam2,fasterpam}_swap/...  the whole SWAP phase to convergence; the
//                                                    baseline is original PAM to convergence
//                                                    (n = 2000, k = 10 only: it takes seconds)
//   kmedoids/fasterpam_swap/kestrel/.../type:float   the same on a float matrix (half the bytes)
//   kmedoids/clara/{baseline,kestrel}                original CLARA (5 samples of 40 + 2k, PAM)
//                                                    against FastCLARA (80 + 4k, FasterPAM), on
//                                                    points with the metric computed on demand
//   kmedoids/clarans/{baseline,kestrel}              original CLARANS against FastCLARANS
//   kmedoids/msc_swap_iteration/{baseline,kestrel}   one medoid-silhouette SWAP iteration:
//                                                    PAMMEDSIL by brute force against FastMSC
//   kmedoids/fastermsc_swap/kestrel                  FasterMSC to convergence
//   kmedoids/fasterpam_thread_scaling/kestrel        FasterPAM, all threads against one, as
//                                                    back-to-back pairs of runs (n = 10000), on
//                                                    the matrix and on points (metric on demand)
//   kmedoids/fasterpam_swap_validated/kestrel        FasterPAM as a user calls it by default
//                                                    (validate_input: values checked in the first
//                                                    pass, symmetry on a sample of tiles), beside
//                                                    fasterpam_swap (unvalidated)
//   kmedoids/validation_cost/kestrel                 the same two calls as back-to-back pairs:
//                                                    median, lowest and highest ratio validated /
//                                                    unvalidated (the target is at most 1.10)
//   kmedoids/validate_dissimilarity/kestrel          the full check alone (every value, every
//                                                    pair; one read of the matrix, n^2 * sizeof(T))
// The limit of a SWAP is one read of the n x n matrix per pass over the candidates (bytes =
// passes * n^2 * sizeof(T)); counters give loss, passes and swaps so quality sits beside time.
// With KESTREL_BENCH_OUT set (scripts/benchmark.sh sets it) and not in quick mode, the
// matrices and initial medoids are written there for the R peer
// (benchmarks/peers/kmedoids_r_pam.sh).
#include <benchmark/benchmark.h>

#include <kestrel/kmedoids.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "baselines/kmedoids.hpp"
#include "bench_common.hpp"

namespace km = kestrel::kmedoids;

namespace {

constexpr std::size_t dim = 16, centres = 20;

struct problem {
    std::size_t n = 0;
    std::vector<double> points;  // n x dim
    std::vector<double> matrix;  // n x n, only when a benchmark needs it
    std::vector<float> matrix_f;
    km::dense_dissimilarity<double> d;
    km::dense_dissimilarity<float> df;
    std::map<std::size_t, std::vector<std::size_t>> init;  // LAB medoids by k
};

const char* out_dir() {
    const char* e = std::getenv("KESTREL_BENCH_OUT");
    return (e && *e && !kestrel_bench::quick_mode()) ? e : nullptr;
}

problem& points(std::size_t n) {
    static std::map<std::size_t, std::unique_ptr<problem>> cache;
    auto& p = cache[n];
    if (p) return *p;
    p = std::make_unique<problem>();
    p->n = n;
    const kestrel::counter_rng rng(2019, n);
    std::vector<double> centre(centres * dim);
    p->points.resize(n * dim);
    std::uint64_t draw = 0;
    for (auto& c : centre) c = 10.0 * rng.uniform_double(draw++);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < dim; ++t)
            p->points[i * dim + t] = centre[(i % centres) * dim + t] + rng.normal(draw++);
    return *p;
}

problem& get(std::size_t n) {
    problem& p = points(n);
    if (!p.matrix.empty()) return p;
    p.matrix.resize(n * n);
    km::dissimilarity_matrix(kestrel::matrix_view<const double>(p.points.data(), n, dim),
                             kestrel::matrix_view<double>(p.matrix.data(), n, n));
    p.d = km::dense_dissimilarity<double>(kestrel::matrix_view<const double>(p.matrix.data(), n, n));
    if (const char* dir = out_dir()) {
        const std::string path = std::string(dir) + "/kmedoids_n" + std::to_string(n) + ".bin";
        if (FILE* f = std::fopen(path.c_str(), "wb")) {
            std::fwrite(p.matrix.data(), sizeof(double), p.matrix.size(), f);
            std::fclose(f);
        }
    }
    return p;
}

const km::dense_dissimilarity<float>& get_float(std::size_t n) {
    problem& p = get(n);
    if (p.matrix_f.empty()) {
        p.matrix_f.assign(p.matrix.begin(), p.matrix.end());
        p.df = km::dense_dissimilarity<float>(kestrel::matrix_view<const float>(p.matrix_f.data(), n, n));
    }
    return p.df;
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

km::swap_options options(int threads, std::size_t max_iter = 100) {
    km::swap_options o;
    o.max_iter = max_iter;
    o.validate_input = false;  // checked once outside the timing loop would be the user's choice
    o.policy = kestrel::exec_policy{threads};
    return o;
}

void record(benchmark::State& s, std::size_t n, std::size_t value_bytes, double loss, std::size_t passes,
            std::size_t swaps) {
    s.counters["loss"] = loss;
    s.counters["swap_iterations"] = double(passes);
    s.counters["swaps"] = double(swaps);
    const double per_pass = double(n) * double(n);
    kestrel_bench::report_limits(s, double(passes) * per_pass * double(value_bytes), double(passes) * per_pass);
}

// ---- SWAP on a dense matrix ------------------------------------------------------------

enum class swap_kind { pam, fastpam1, fastpam2, fasterpam, fasterpam_float };

void swap_bench(benchmark::State& s, swap_kind kind, std::size_t n, std::size_t k, int threads, std::size_t max_iter) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    const auto o = options(threads, max_iter);
    km::clustering r;
    for (auto _ : s) {
        switch (kind) {
            case swap_kind::pam: r = km::pam_swap(p.d, m0, o); break;
            case swap_kind::fastpam1: r = km::fastpam1(p.d, m0, o); break;
            case swap_kind::fastpam2: r = km::fastpam2(p.d, m0, o); break;
            case swap_kind::fasterpam: r = km::fasterpam(p.d, m0, o); break;
            case swap_kind::fasterpam_float: r = km::fasterpam(get_float(n), m0, o); break;
        }
    }
    record(s, n, kind == swap_kind::fasterpam_float ? sizeof(float) : sizeof(double), r.loss, r.iterations, r.swaps);
}

// ---- The default (validated) call and the check alone ---------------------------------------

void validated_bench(benchmark::State& s, std::size_t n, std::size_t k, int threads) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    km::swap_options o;  // the defaults a user gets, but the thread count
    o.policy = kestrel::exec_policy{threads};
    km::clustering r;
    for (auto _ : s) r = km::fasterpam(p.d, m0, o);
    record(s, n, sizeof(double), r.loss, r.iterations, r.swaps);
}

// Validated against unvalidated FasterPAM as back-to-back pairs (order alternating), as in
// the thread-scaling benchmark: the ratio is what a slow phase of the host cannot distort.
void validation_cost_bench(benchmark::State& s, std::size_t n, std::size_t k, int threads, int pairs) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    km::swap_options checked, unchecked = options(threads, 1000);
    checked.policy = kestrel::exec_policy{threads};
    std::vector<double> ratio;
    bool identical = true;
    auto run = [&](const km::swap_options& o, km::clustering& r) {
        const auto start = std::chrono::steady_clock::now();
        r = km::fasterpam(p.d, m0, o);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    for (auto _ : s) {
        for (int i = 0; i < pairs; ++i) {
            km::clustering a, b;
            double ta, tb;
            if (i % 2 == 0) {
                ta = run(checked, a);
                tb = run(unchecked, b);
            } else {
                tb = run(unchecked, b);
                ta = run(checked, a);
            }
            ratio.push_back(ta / tb);
            identical = identical && a.medoids == b.medoids && a.loss == b.loss && a.converged == b.converged;
        }
    }
    std::sort(ratio.begin(), ratio.end());
    s.counters["validated_over_unvalidated"] = ratio[ratio.size() / 2];
    s.counters["ratio_min"] = ratio.front();
    s.counters["ratio_max"] = ratio.back();
    s.counters["paired_identical"] = identical ? 1 : 0;
}

void validate_bench(benchmark::State& s, std::size_t n, int threads) {
    auto& p = get(n);
    for (auto _ : s) km::validate_dissimilarity(p.d, true, 1e-6, "validate_dissimilarity", kestrel::exec_policy{threads});
    const double entries = double(n) * double(n);
    kestrel_bench::report_limits(s, entries * sizeof(double), entries);
}

// ---- Thread scaling, paired -------------------------------------------------------------

// FasterPAM with all threads against one thread, as pairs of runs that follow each other
// (order alternating): a slow phase of the shared host then slows both runs of a pair, where
// separate benchmarks seconds apart would see different machines. Counters: the median, lowest
// and highest of the per-pair ratios, and whether every pair gave identical results.
enum class scaling_source { matrix, matrix_float, points };

void fasterpam_scaling_bench(benchmark::State& s, std::size_t n, std::size_t k, scaling_source source, int pairs) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    const km::point_dissimilarity<double> on_the_fly(kestrel::matrix_view<const double>(p.points.data(), n, dim));
    const int all = kestrel_bench::thread_counts().back();
    std::vector<double> ratio;
    bool identical = true;
    auto run = [&](int threads, km::clustering& r) {
        const auto o = options(threads, 1000);
        const auto start = std::chrono::steady_clock::now();
        switch (source) {
            case scaling_source::matrix: r = km::fasterpam(p.d, m0, o); break;
            case scaling_source::matrix_float: r = km::fasterpam(get_float(n), m0, o); break;
            case scaling_source::points: r = km::fasterpam(on_the_fly, m0, o); break;
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    for (auto _ : s) {
        for (int i = 0; i < pairs; ++i) {
            km::clustering r1, rn;
            double t1, tn;
            if (i % 2 == 0) {
                t1 = run(1, r1);
                tn = run(all, rn);
            } else {
                tn = run(all, rn);
                t1 = run(1, r1);
            }
            ratio.push_back(t1 / tn);
            identical = identical && r1.medoids == rn.medoids && r1.labels == rn.labels && r1.loss == rn.loss;
        }
    }
    std::sort(ratio.begin(), ratio.end());
    s.counters["paired_speedup"] = ratio[ratio.size() / 2];
    s.counters["paired_speedup_min"] = ratio.front();
    s.counters["paired_speedup_max"] = ratio.back();
    s.counters["paired_identical"] = identical ? 1 : 0;
}

// ---- CLARA on points (no matrix), CLARANS on the matrix ---------------------------------

void clara_bench(benchmark::State& s, bool original, std::size_t n, std::size_t k, int threads) {
    auto& p = points(n);
    const km::point_dissimilarity<double> src(kestrel::matrix_view<const double>(p.points.data(), n, dim));
    km::clara_options o;
    o.seed = 11;
    o.policy = kestrel::exec_policy{threads};
    o.validate_input = false;
    if (original) {
        o.sample_size = 40 + 2 * k;
        o.algorithm = km::sample_swap::pam;
    }
    km::clustering r;
    for (auto _ : s) r = km::clara(src, k, o);
    s.counters["loss"] = r.loss;
    s.counters["swaps"] = double(r.swaps);
    // Arithmetic bound: each sample's sub-matrix (m^2 metric evaluations) and the assignment
    // of all n points to its medoids (n k evaluations), 3 flop per coordinate.
    const double m = double(o.sample_size ? o.sample_size : 80 + 4 * k);
    const double evals = double(o.samples) * (m * m + double(n) * double(k));
    kestrel_bench::report_limits(s, 0.0, evals, evals * 3.0 * double(dim));
}

void clarans_bench(benchmark::State& s, bool original, std::size_t n, std::size_t k) {
    auto& p = get(n);
    double loss = 0;
    std::size_t draws = 0, swaps = 0;
    for (auto _ : s) {
        if (original) {
            const auto r = kestrel_baseline::clarans_original(p.d, k, 2, 0, 5);
            loss = r.loss, draws = r.draws, swaps = r.swaps;
        } else {
            km::clarans_options o;
            o.seed = 5;
            o.validate_input = false;
            o.policy = kestrel::exec_policy{1};
            const auto r = km::clarans(p.d, k, o);
            loss = r.loss, draws = r.iterations, swaps = r.swaps;
        }
    }
    s.counters["loss"] = loss;
    s.counters["draws"] = double(draws);
    s.counters["swaps"] = double(swaps);
    // Each draw reads one matrix row.
    kestrel_bench::report_limits(s, double(draws) * double(n) * sizeof(double), double(draws) * double(n));
}

// ---- medoid silhouette ---------------------------------------------------------------

void msc_bench(benchmark::State& s, int which, std::size_t n, std::size_t k, int threads, std::size_t max_iter) {
    auto& p = get(n);
    const auto& m0 = init(p, k);
    const auto o = options(threads, max_iter);
    double sil = 0;
    std::size_t passes = 0, swaps = 0;
    for (auto _ : s) {
        if (which == 0) {
            const auto r = kestrel_baseline::pammedsil(p.d, m0, max_iter);
            sil = r.silhouette, passes = r.iterations, swaps = r.swaps;
        } else {
            const auto r = which == 1 ? km::fastmsc(p.d, m0, o) : km::fastermsc(p.d, m0, o);
            sil = r.silhouette, passes = r.result.iterations, swaps = r.result.swaps;
        }
    }
    s.counters["medoid_silhouette"] = sil;
    s.counters["swap_iterations"] = double(passes);
    s.counters["swaps"] = double(swaps);
    const double per_pass = double(n) * double(n);
    kestrel_bench::report_limits(s, double(passes) * per_pass * sizeof(double), double(passes) * per_pass);
}

std::string args(std::size_t n, std::size_t k) { return "/n:" + std::to_string(n) + "/k:" + std::to_string(k); }

benchmark::internal::Benchmark* reg(const std::string& name, std::function<void(benchmark::State&)> f) {
    return benchmark::RegisterBenchmark(name.c_str(), [f](benchmark::State& s) { f(s); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
}

const bool registered = [] {
    const bool quick = kestrel_bench::quick_mode();
    const std::vector<std::size_t> ns = quick ? std::vector<std::size_t>{500} : std::vector<std::size_t>{2000, 5000, 10000};
    const std::vector<std::size_t> ks = quick ? std::vector<std::size_t>{10} : std::vector<std::size_t>{10, 50, 100, 200};
    const std::size_t small = ns.front(), mid = quick ? 500 : 5000;
    const std::size_t it_all = 1000;  // to convergence (R runs until no swap improves)

    // One SWAP iteration: PAM (small n) against FastPAM1.
    for (std::size_t n : ns)
        for (std::size_t k : ks) {
            if (n == small) {
                auto* b = reg("kmedoids/pam_swap_iteration/baseline" + args(n, k) + "/threads:1",
                              [n, k](benchmark::State& s) { swap_bench(s, swap_kind::pam, n, k, 1, 1); });
                b->Iterations(1);
                if (!quick) b->Repetitions(3)->ReportAggregatesOnly(true);  // median of three
            }
            for (int t : kestrel_bench::thread_counts())
                reg("kmedoids/pam_swap_iteration/kestrel" + args(n, k) + "/threads:" + std::to_string(t),
                    [n, k, t](benchmark::State& s) { swap_bench(s, swap_kind::fastpam1, n, k, t, 1); });
        }

    // The whole SWAP phase. Original PAM to convergence is the baseline where it takes seconds.
    const std::size_t kb = ks.front();
    for (const char* kernel : {"fastpam1_swap", "fastpam2_swap", "fasterpam_swap"})
        reg(std::string("kmedoids/") + kernel + "/baseline" + args(small, kb) + "/threads:1",
            [small, kb](benchmark::State& s) { swap_bench(s, swap_kind::pam, small, kb, 1, it_all); })
            ->Iterations(1);
    for (std::size_t n : ns)
        for (std::size_t k : ks)
            for (int t : kestrel_bench::thread_counts()) {
                const std::string a = args(n, k) + "/threads:" + std::to_string(t);
                if (n == small)
                    reg("kmedoids/fastpam1_swap/kestrel" + a,
                        [n, k, t](benchmark::State& s) { swap_bench(s, swap_kind::fastpam1, n, k, t, it_all); });
                if (n <= mid)
                    reg("kmedoids/fastpam2_swap/kestrel" + a,
                        [n, k, t](benchmark::State& s) { swap_bench(s, swap_kind::fastpam2, n, k, t, it_all); });
                // Shared machines drift: the median of five runs for the long ones.
                auto* b = reg("kmedoids/fasterpam_swap/kestrel" + a,
                              [n, k, t](benchmark::State& s) { swap_bench(s, swap_kind::fasterpam, n, k, t, it_all); });
                if (n >= mid && !quick) b->Iterations(1)->Repetitions(5)->ReportAggregatesOnly(true);
                if (n == ns.back()) {
                    auto* f = reg("kmedoids/fasterpam_swap/kestrel" + args(n, k) + "/type:float/threads:" + std::to_string(t),
                                  [n, k, t](benchmark::State& s) { swap_bench(s, swap_kind::fasterpam_float, n, k, t, it_all); });
                    if (!quick) f->Iterations(1)->Repetitions(5)->ReportAggregatesOnly(true);
                }
            }

    // The default call (validated) beside the unvalidated one, at n >= 5000, k = 10 and 100;
    // the paired ratio; the full check alone against the read bound.
    for (std::size_t n : ns) {
        if (n < mid) continue;
        for (std::size_t k : {std::size_t(10), std::size_t(100)}) {
            if (k > n) continue;
            for (int t : kestrel_bench::thread_counts()) {
                const std::string a = args(n, k) + "/threads:" + std::to_string(t);
                auto* b = reg("kmedoids/fasterpam_swap_validated/kestrel" + a,
                              [n, k, t](benchmark::State& s) { validated_bench(s, n, k, t); });
                if (!quick) b->Iterations(1)->Repetitions(5)->ReportAggregatesOnly(true);
                reg("kmedoids/validation_cost/kestrel" + a,
                    [n, k, t, quick](benchmark::State& s) { validation_cost_bench(s, n, k, t, quick ? 1 : 5); })
                    ->Iterations(1);
            }
        }
        for (int t : kestrel_bench::thread_counts())
            reg("kmedoids/validate_dissimilarity/kestrel/n:" + std::to_string(n) + "/threads:" + std::to_string(t),
                [n, t](benchmark::State& s) { validate_bench(s, n, t); });
    }

    // All threads against one at the largest n, paired (odd counts: true medians). On the
    // matrix the pass is a read stream (bounded by memory bandwidth, which may scale less than
    // the thread count); on points with the metric computed on demand it is arithmetic.
    if (kestrel_bench::thread_counts().size() > 1) {
        const std::string threads = "/threads:" + std::to_string(kestrel_bench::thread_counts().back());
        const std::size_t n = ns.back();
        for (std::size_t k : ks)
            for (scaling_source src : {scaling_source::matrix, scaling_source::matrix_float})
                reg("kmedoids/fasterpam_thread_scaling/kestrel" + args(n, k) +
                        (src == scaling_source::matrix_float ? "/type:float" : "") + threads,
                    [n, k, src, quick](benchmark::State& s) { fasterpam_scaling_bench(s, n, k, src, quick ? 1 : 5); })
                    ->Iterations(1);
        std::vector<std::size_t> point_ks{ks.front()};
        if (ks.size() > 2) point_ks.push_back(ks[2]);  // k = 10 and 100
        // On points at the middle size: the metric on demand costs O(n^2 d) per pass, and the
        // ratio is the same at n = 10000 (measured 2026-12-01) for four times the suite's time.
        for (std::size_t k : point_ks)
            reg("kmedoids/fasterpam_thread_scaling/kestrel" + args(mid, k) + "/source:points" + threads,
                [mid, k, quick](benchmark::State& s) { fasterpam_scaling_bench(s, mid, k, scaling_source::points, quick ? 1 : 3); })
                ->Iterations(1);
    }

    // CLARA on points: n = 10^4 and 10^5 (no matrix of that size is ever formed).
    const std::vector<std::size_t> clara_ns = quick ? std::vector<std::size_t>{2000} : std::vector<std::size_t>{10000, 100000};
    for (std::size_t n : clara_ns)
        for (std::size_t k : {std::size_t(10), std::size_t(100)}) {
            if (quick && k > 10) continue;
            reg("kmedoids/clara/baseline" + args(n, k) + "/threads:1",
                [n, k](benchmark::State& s) { clara_bench(s, true, n, k, 1); });
            for (int t : kestrel_bench::thread_counts())
                reg("kmedoids/clara/kestrel" + args(n, k) + "/threads:" + std::to_string(t),
                    [n, k, t](benchmark::State& s) { clara_bench(s, false, n, k, t); });
        }

    // CLARANS on the n = 5000 matrix.
    for (std::size_t k : {std::size_t(10), std::size_t(100)}) {
        if (quick && k > 10) continue;
        reg("kmedoids/clarans/baseline" + args(mid, k) + "/threads:1",
            [mid, k](benchmark::State& s) { clarans_bench(s, true, mid, k); })
            ->Iterations(1);
        reg("kmedoids/clarans/kestrel" + args(mid, k) + "/threads:1",
            [mid, k](benchmark::State& s) { clarans_bench(s, false, mid, k); });
    }

    // Medoid silhouette: one PAMMEDSIL iteration (brute force, O(k^2 n^2)) against FastMSC.
    reg("kmedoids/msc_swap_iteration/baseline" + args(small, kb) + "/threads:1",
        [small, kb](benchmark::State& s) { msc_bench(s, 0, small, kb, 1, 1); })
        ->Iterations(1);
    for (std::size_t k : ks)
        for (int t : kestrel_bench::thread_counts()) {
            reg("kmedoids/msc_swap_iteration/kestrel" + args(small, k) + "/threads:" + std::to_string(t),
                [small, k, t](benchmark::State& s) { msc_bench(s, 1, small, k, t, 1); });
            reg("kmedoids/fastermsc_swap/kestrel" + args(small, k) + "/threads:" + std::to_string(t),
                [small, k, t](benchmark::State& s) { msc_bench(s, 2, small, k, t, it_all); });
        }
    return true;
}();

}  // namespace
