// Sensitivity family, matrix part: leverage scores and l_p Lewis weights of a tall matrix
// (n = 10^6, d = 50 by default; n = 2^14 in quick mode), Gaussian with 5 coherent unit rows.
//
//   sensitivity/leverage_exact/{kestrel,baseline}    exact scores: tall-skinny QR (kestrel:
//                                                    blocks of max(1024, 8 d) rows QR'd in
//                                                    cache, their stacked R QR'd again, each
//                                                    block's Q applied to its rows of the
//                                                    second Q) against the normal equations
//                                                    written the
//                                                    straightforward way (G = A^T A, G^{-1},
//                                                    a_i^T G^{-1} a_i row by row)
//   sensitivity/leverage_exact/baseline_qr           pivoted (unblocked) QR + explicit thin Q
//   sensitivity/leverage_approx/kestrel              sparse sketch + QR of S A + scores
//                                                    (epsilon = 0.5: k = 16 d, no projection),
//                                                    and /jl:20 with a 20-column JL projection
//   sensitivity/lewis/{kestrel,baseline}/p:{1,3}     3 Cohen-Peng iterations (tolerance 0):
//                                                    Gram + Cholesky passes (kestrel) against
//                                                    a fresh QR of W^{1/2-1/p} A per iteration
//   sensitivity/lewis_converged/kestrel/p:{1,3}      to relative change 1e-8 (iterations counter)
// The Lewis rows use n = 2^18 (not 10^6): about 30 iterations of two passes each at 10^6
// would alone exceed the family's time budget; the per-pass cost scales linearly in n.
// Limits: bytes = passes that the algorithm needs over A * n d sizeof(double); flop = 2 n d^2
// per QR or Gram-type pass (exact: QR + thin Q = 4 n d^2). Counters: passes made, iterations,
// and for the approximate scores their worst relative error against exact ones (max_rel_err).
#include <benchmark/benchmark.h>

#include <kestrel/sensitivity/leverage_scores.hpp>
#include <kestrel/sensitivity/lewis_weights.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "baselines/sensitivity_matrix.hpp"
#include "bench_common.hpp"

namespace ks = kestrel::sensitivity;

namespace {

constexpr Eigen::Index dim = 50;

const Eigen::MatrixXd& data(Eigen::Index n) {
    static Eigen::Index cached_n = -1;
    static Eigen::MatrixXd A;
    if (cached_n != n) {
        A.resize(n, dim);
        const kestrel::counter_rng rng(2024, 3);
        kestrel::parallel_for(static_cast<std::size_t>((n + 4095) / 4096), {}, [&](std::size_t b) {
            const Eigen::Index r0 = static_cast<Eigen::Index>(b) * 4096, r1 = std::min(n, r0 + 4096);
            for (Eigen::Index i = r0; i < r1; ++i)
                for (Eigen::Index j = 0; j < dim; j += 2) {
                    const auto z = rng.normal_pair(static_cast<std::uint64_t>(i * dim + j) / 2);
                    A(i, j) = z.first;
                    if (j + 1 < dim) A(i, j + 1) = z.second;
                }
        });
        for (Eigen::Index i = 0; i < 5; ++i) A.row(i) = 1e3 * Eigen::RowVectorXd::Unit(dim, i);
        cached_n = n;
    }
    return A;
}

const std::vector<double>& exact_scores(Eigen::Index n) {
    static Eigen::Index cached_n = -1;
    static std::vector<double> tau;
    if (cached_n != n) {
        tau.assign(static_cast<std::size_t>(n), 0.0);
        ks::exact_leverage_scores(data(n), kestrel::vector_view<double>(tau));
        cached_n = n;
    }
    return tau;
}

double nd_bytes(Eigen::Index n) { return double(n) * double(dim) * sizeof(double); }
double nd2(Eigen::Index n) { return double(n) * double(dim) * double(dim); }

void leverage_exact(benchmark::State& s, Eigen::Index n, int impl, int threads) {
    const Eigen::MatrixXd& A = data(n);
    std::vector<double> tau(static_cast<std::size_t>(n));
    for (auto _ : s) {
        if (impl == 0) ks::exact_leverage_scores(A, kestrel::vector_view<double>(tau), kestrel::exec_policy{threads});
        else if (impl == 1) tau = kestrel_baseline::leverage_normal_equations(A);
        else tau = kestrel_baseline::leverage_full_qr(A);
        benchmark::DoNotOptimize(tau.data());
    }
    s.counters["passes"] = impl == 0 ? 2.0 : 1.0;  // kestrel: finiteness check + blocks' QR; baselines: copy
    kestrel_bench::report_limits(s, nd_bytes(n), double(n), 4.0 * nd2(n));
}

void leverage_approx(benchmark::State& s, Eigen::Index n, std::size_t jl, int threads) {
    const Eigen::MatrixXd& A = data(n);
    std::vector<double> tau(static_cast<std::size_t>(n));
    ks::approximate_leverage_options o;
    o.jl_dimension = jl;
    ks::approximate_leverage_info info;
    for (auto _ : s) {
        info = ks::approximate_leverage_scores(A, kestrel::vector_view<double>(tau), o, kestrel::exec_policy{threads});
        benchmark::DoNotOptimize(tau.data());
    }
    const auto& ex = exact_scores(n);
    double err = 0.0;
    for (std::size_t i = 0; i < ex.size(); ++i) err = std::max(err, std::abs(tau[i] / ex[i] - 1.0));
    s.counters["max_rel_err"] = err;
    s.counters["passes"] = double(info.passes);
    s.counters["sketch_rows"] = double(info.sketch_rows);
    // The algorithm needs two reads of A (sketch, scores); flop: the score pass's triangular
    // solve (n d^2) or projection (2 n d r).
    const double flop = jl > 0 ? 2.0 * double(n) * double(dim) * double(jl) : nd2(n);
    kestrel_bench::report_limits(s, 2.0 * nd_bytes(n), double(n), flop);
}

void lewis(benchmark::State& s, Eigen::Index n, double p, int impl, int max_it, double tol, int threads) {
    const Eigen::MatrixXd& A = data(n);
    std::vector<double> w(static_cast<std::size_t>(n));
    ks::lewis_options o;
    o.tolerance = tol;
    o.max_iterations = max_it;
    int iterations = 0;
    double passes = 0, residual = 0;
    for (auto _ : s) {
        if (impl == 0) {
            const auto info = ks::lewis_weights(A, p, kestrel::vector_view<double>(w), o, kestrel::exec_policy{threads});
            iterations = info.iterations;
            passes = double(info.passes);
            residual = info.residual;
        } else {
            const auto r = kestrel_baseline::lewis_from_scratch(A, p, tol, max_it);
            iterations = r.iterations;
            passes = 3.0 * r.iterations;  // copy + QR + thin Q per iteration
            benchmark::DoNotOptimize(r.w.data());
        }
        benchmark::DoNotOptimize(w.data());
    }
    s.counters["iterations"] = iterations;
    s.counters["passes"] = passes;
    if (impl == 0) s.counters["residual"] = residual;
    // Two passes (Gram, scores) of 2 n d^2 flop per iteration are what the iteration needs.
    kestrel_bench::report_limits(s, 2.0 * iterations * nd_bytes(n), double(n) * iterations, 4.0 * iterations * nd2(n));
}

benchmark::internal::Benchmark* reg(const std::string& name, std::function<void(benchmark::State&)> f) {
    return benchmark::RegisterBenchmark(name.c_str(), [f](benchmark::State& s) { f(s); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
}

const bool registered = [] {
    const bool quick = kestrel_bench::quick_mode();
    const Eigen::Index n = quick ? (Eigen::Index(1) << 14) : Eigen::Index(1000000);
    const std::string a = "/n:" + std::to_string(n) + "/d:" + std::to_string(dim);
    const int all = kestrel_bench::thread_counts().back();
    const std::string ta = "/threads:" + std::to_string(all);
    reg("sensitivity/leverage_exact/baseline" + a + "/threads:1", [n](benchmark::State& s) { leverage_exact(s, n, 1, 1); })
        ->Iterations(1);
    if (quick)  // the unblocked pivoted QR takes tens of seconds at n = 10^6
        reg("sensitivity/leverage_exact/baseline_qr" + a + "/threads:1", [n](benchmark::State& s) { leverage_exact(s, n, 2, 1); })
            ->Iterations(1);
    reg("sensitivity/leverage_exact/kestrel" + a + ta, [n, all](benchmark::State& s) { leverage_exact(s, n, 0, all); })
        ->Iterations(quick ? 3 : 1)
        ->Repetitions(quick ? 1 : 3)  // the median of three calls, as the approximate rows
        ->ReportAggregatesOnly(!quick);
    for (int t : kestrel_bench::thread_counts()) {
        const std::string tt = "/threads:" + std::to_string(t);
        reg("sensitivity/leverage_approx/kestrel" + a + tt, [n, t](benchmark::State& s) { leverage_approx(s, n, 0, t); })
            ->Iterations(quick ? 3 : 1)
            ->Repetitions(quick ? 1 : 3)
            ->ReportAggregatesOnly(!quick);
    }
    reg("sensitivity/leverage_approx/kestrel" + a + "/jl:20" + ta, [n, all](benchmark::State& s) { leverage_approx(s, n, 20, all); })
        ->Iterations(quick ? 3 : 1);
    const Eigen::Index nl = quick ? n : (Eigen::Index(1) << 18);
    const std::string al = "/n:" + std::to_string(nl) + "/d:" + std::to_string(dim);
    for (double p : {1.0, 3.0}) {
        const std::string pa = "/p:" + std::to_string(int(p)) + al;
        reg("sensitivity/lewis/baseline" + pa + "/iterations:3/threads:1",
            [nl, p](benchmark::State& s) { lewis(s, nl, p, 1, 3, 0.0, 1); })
            ->Iterations(1);
        reg("sensitivity/lewis/kestrel" + pa + "/iterations:3" + ta, [nl, p, all](benchmark::State& s) { lewis(s, nl, p, 0, 3, 0.0, all); })
            ->Iterations(1);
        reg("sensitivity/lewis_converged/kestrel" + pa + "/tol:1e-8" + ta,
            [nl, p, all](benchmark::State& s) { lewis(s, nl, p, 0, 200, 1e-8, all); })
            ->Iterations(1);
    }
    return true;
}();

}  // namespace
