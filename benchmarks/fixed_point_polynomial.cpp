// Polynomial preconditioning of the gradient method (symmetric_polynomial_preconditioner.hpp,
// polynomial_preconditioner.hpp): a whole solve to ||b - A x|| <= 1e-6 ||b|| from x = 0 per
// benchmark iteration, double, b = 1, on two SPD matrices of n = N^2 unknowns:
//   problem:poisson    poisson_2d(N) (spectrum 4 (1 -+ cos(pi h)), closed form);
//   problem:outliers   I + poisson_2d(N) / 8 (spectrum in (1, 2), trace ~ 1.5 n) plus 1e5 and
//                      3e5 added to the diagonal at two grid nodes: two eigenvalues far above
//                      a bulk of small trace, where the paper's P_tau shines.
// Rows (kernel names; impl kestrel unless baseline):
//   pgrad_plain/kestrel           gradient method with its best fixed step 2 / (lmin + lmax)
//                                 (chebyshev_preconditioner of degree 0 on an a-priori interval:
//                                 the closed form for poisson, [1, Gershgorin] for outliers)
//   pgrad_chebyshev/kestrel       Chebyshev polynomial preconditioner of degree 2, same interval
//   pgrad_symmetric/{kestrel,baseline}   P_tau with step 1 / sigma_{tau+1}, tau = 1, 2 (sigmas
//                                 from exact traces, set up outside the timed loop; the setup is
//                                 its own row, symmetric_sigmas). Baseline: Eigen expressions
//                                 with temporaries and sigmas from sparse matrix powers
//                                 (baselines/fixed_point_polynomial.hpp, tested against the kernel)
//   pgrad_symmetric_fast/kestrel  the Fast Gradient Method with P_tau, tau = 1, 2, mu unknown
//                                 (Nesterov's sequence with gradient restarts; its momentum pass
//                                 over x is one vector pass per iteration beside the products)
//   krylov_gradient/{kestrel,baseline}   the paper's Krylov-subspace search, tau = 1, 2, 4
//   symmetric_sigmas/{kestrel,baseline}  the setup: Tr(A), ..., Tr(A^(tau+1)) and Newton's identities
//   pgrad_symmetric_iterations/{kestrel,baseline}, krylov_iterations/{kestrel,baseline}
//                                 10 iterations (no tolerance) of P_2 and of the Krylov search
//                                 (tau = 2) on poisson_2d(1000) (10^6 unknowns, out of cache;
//                                 quick: 64^2), kestrel at 1 and all threads, the baseline on
//                                 one: the per-product cost against the bytes bound. The
//                                 baseline is handed the library's sigmas (its own setup, sparse
//                                 powers, is timed in symmetric_sigmas at n = 1024).
// Counters: iterations, matvecs (products with A), converged (0/1), relative residual; for
// P_tau on poisson also predicted_iterations = ceil(log 1e-6 / log rho_tau) from the closed-form
// eigenvalues (the method is hopeless there: rho_tau = 1 - O((tau + 1) lambda_min / Tr A)).
// Each run stops at 40000 iterations (quick: 8000); converged = 0 says it did not finish.
// Bound (report_limits): bytes = matvecs x the bytes one product with A must move (CSR values
// and column indices, row pointers, x read, y written); the vector updates fused with the
// products are not counted. n = 1024 (quick: 256) fits in cache, so these rows compare
// iteration and product counts more than bandwidth; one thread (the row loops run serially
// below 2^14 rows).
#include <benchmark/benchmark.h>

#include <kestrel/fixed_point/poisson_2d.hpp>
#include <kestrel/fixed_point/polynomial_preconditioner.hpp>
#include <kestrel/fixed_point/symmetric_polynomial_fast_gradient.hpp>
#include <kestrel/fixed_point/symmetric_polynomial_preconditioner.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "baselines/fixed_point_polynomial.hpp"
#include "bench_common.hpp"

namespace fp = kestrel::fixed_point;

namespace {

using Sparse = Eigen::SparseMatrix<double, Eigen::RowMajor, int>;

constexpr double tolerance = 1e-6;

std::size_t iteration_cap() { return kestrel_bench::quick_mode() ? 8000 : 40000; }

struct problem {
    Sparse A;
    std::unique_ptr<fp::relaxation_matrix<double>> M;
    std::vector<double> b;
    Eigen::VectorXd be;
    double lmin = 0.0, lmax = 0.0;  // a-priori interval
    std::vector<double> eigenvalues;  // closed form (poisson only)
    std::size_t n = 0;

    double bytes_per_matvec() const {
        const double nnz = static_cast<double>(A.nonZeros());
        return nnz * (sizeof(double) + sizeof(int)) + static_cast<double>(n + 1) * sizeof(int) + 2.0 * static_cast<double>(n) * sizeof(double);
    }
};

std::shared_ptr<problem> make_problem(bool outliers, std::size_t N) {
    auto p = std::make_shared<problem>();
    p->n = N * N;
    p->A = fp::poisson_2d<double>(N);
    if (outliers) {
        p->A *= 0.125;
        for (Eigen::Index i = 0; i < p->A.rows(); ++i) p->A.coeffRef(i, i) += 1.0;
        p->A.coeffRef(static_cast<Eigen::Index>(p->n / 3 + N / 2), static_cast<Eigen::Index>(p->n / 3 + N / 2)) += 1e5;
        p->A.coeffRef(static_cast<Eigen::Index>(2 * p->n / 3 + N / 3), static_cast<Eigen::Index>(2 * p->n / 3 + N / 3)) += 3e5;
        p->A.makeCompressed();
        p->lmin = 1.0;  // A >= I
        double g = 0.0;  // Gershgorin
        for (Eigen::Index i = 0; i < p->A.rows(); ++i) {
            double s = 0.0;
            for (int k = p->A.outerIndexPtr()[i]; k < p->A.outerIndexPtr()[i + 1]; ++k) s += std::abs(p->A.valuePtr()[k]);
            g = std::max(g, s);
        }
        p->lmax = g;
    } else {
        const auto r = fp::poisson_2d_rates(N);
        p->lmin = 4.0 * r.lambda_min;
        p->lmax = 4.0 * r.lambda_max;
        const double pi = 3.14159265358979323846, h = 1.0 / static_cast<double>(N + 1);
        for (std::size_t j = 1; j <= N; ++j)
            for (std::size_t k = 1; k <= N; ++k)
                p->eigenvalues.push_back(4.0 - 2.0 * std::cos(static_cast<double>(j) * pi * h) - 2.0 * std::cos(static_cast<double>(k) * pi * h));
    }
    p->M = std::make_unique<fp::relaxation_matrix<double>>(p->A, true);
    p->b.assign(p->n, 1.0);
    p->be = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(p->n));
    return p;
}

/// ceil(log tol / log rho_tau), rho_tau = 1 - lambda_min sigma_tau(lambda_-min) / sigma_{tau+1}.
double predicted_iterations(const std::vector<double>& lambda, std::size_t tau) {
    std::vector<long double> e(tau + 2, 0.0L), f(tau + 1, 0.0L);
    e[0] = 1.0L;
    std::size_t jmin = 0;
    for (std::size_t j = 0; j < lambda.size(); ++j) {
        if (lambda[j] < lambda[jmin]) jmin = j;
        for (std::size_t k = tau + 1; k >= 1; --k) e[k] += static_cast<long double>(lambda[j]) * e[k - 1];
    }
    f[0] = 1.0L;
    for (std::size_t j = 0; j < lambda.size(); ++j)
        if (j != jmin)
            for (std::size_t k = tau; k >= 1; --k) f[k] += static_cast<long double>(lambda[j]) * f[k - 1];
    const long double q = static_cast<long double>(lambda[jmin]) * f[tau] / e[tau + 1];
    return std::ceil(static_cast<double>(std::log(tolerance) / std::log1p(-static_cast<double>(q))));
}

enum class kernel { plain, chebyshev, symmetric, symmetric_baseline, symmetric_fast, krylov, krylov_baseline, sigmas, sigmas_baseline };

void finish(benchmark::State& state, const problem& p, std::size_t iterations, std::size_t matvecs, bool converged, double rel) {
    state.counters["iterations"] = benchmark::Counter(static_cast<double>(iterations));
    state.counters["matvecs"] = benchmark::Counter(static_cast<double>(matvecs));
    state.counters["converged"] = benchmark::Counter(converged ? 1.0 : 0.0);
    state.counters["rel_residual"] = benchmark::Counter(rel);
    kestrel_bench::report_limits(state, static_cast<double>(matvecs) * p.bytes_per_matvec(), static_cast<double>(matvecs),
                                 2.0 * static_cast<double>(p.A.nonZeros()) * static_cast<double>(matvecs));
}

void run(benchmark::State& state, std::shared_ptr<problem> pp, kernel k, std::size_t degree) {
    problem& p = *pp;
    Eigen::setNbThreads(1);  // the baselines run on one thread (Eigen's dense products use OpenMP)
    fp::relaxation_options o;
    o.rel_tol = tolerance;
    o.max_sweeps = iteration_cap();
    o.policy = kestrel::exec_policy::serial();
    fp::relaxation_workspace<double> ws;
    fp::krylov_workspace<double> kw;
    std::vector<double> x(p.n);
    fp::relaxation_result r;
    switch (k) {
        case kernel::plain:
        case kernel::chebyshev: {
            const fp::chebyshev_preconditioner P(p.lmin, p.lmax, k == kernel::plain ? 0 : degree);
            for (auto _ : state) {
                std::fill(x.begin(), x.end(), 0.0);
                r = fp::polynomial_richardson_solve(p.M.operator*(), p.b, x, P, o, ws);
                benchmark::DoNotOptimize(x.data());
            }
            finish(state, p, r.sweeps, r.passes, r.converged, r.relative_residual);
            break;
        }
        case kernel::symmetric: {
            const auto P = fp::make_symmetric_polynomial_preconditioner(*p.M, degree);
            for (auto _ : state) {
                std::fill(x.begin(), x.end(), 0.0);
                r = fp::symmetric_polynomial_gradient_solve(*p.M, p.b, x, P, o, ws);
                benchmark::DoNotOptimize(x.data());
            }
            if (!p.eigenvalues.empty()) state.counters["predicted_iterations"] = predicted_iterations(p.eigenvalues, degree);
            finish(state, p, r.sweeps, r.passes, r.converged, r.relative_residual);
            break;
        }
        case kernel::symmetric_fast: {
            const auto P = fp::make_symmetric_polynomial_preconditioner(*p.M, degree);
            fp::fast_gradient_workspace<double> fw;
            fp::fast_gradient_result fr;
            for (auto _ : state) {
                std::fill(x.begin(), x.end(), 0.0);
                fr = fp::symmetric_polynomial_fast_gradient_solve(*p.M, p.b, x, P, o, fp::fast_gradient_options{}, fw);
                benchmark::DoNotOptimize(x.data());
            }
            state.counters["restarts"] = benchmark::Counter(static_cast<double>(fr.restarts));
            finish(state, p, fr.sweeps, fr.passes, fr.converged, fr.relative_residual);
            break;
        }
        case kernel::symmetric_baseline: {
            std::size_t it = 0;
            Eigen::VectorXd xe;
            for (auto _ : state) {
                xe = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p.n));
                it = kestrel_baseline::symmetric_polynomial_gradient(p.A, p.be, xe, degree, tolerance, o.max_sweeps);
                benchmark::DoNotOptimize(xe.data());
            }
            const double rel = (p.be - p.A * xe).norm() / p.be.norm();
            finish(state, p, it, it * (degree + 1) + 1, rel <= tolerance, rel);
            break;
        }
        case kernel::krylov: {
            for (auto _ : state) {
                std::fill(x.begin(), x.end(), 0.0);
                r = fp::krylov_gradient_solve(*p.M, p.b, x, degree, o, kw);
                benchmark::DoNotOptimize(x.data());
            }
            finish(state, p, r.sweeps, r.passes, r.converged, r.relative_residual);
            break;
        }
        case kernel::krylov_baseline: {
            std::size_t it = 0;
            Eigen::VectorXd xe;
            for (auto _ : state) {
                xe = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p.n));
                it = kestrel_baseline::krylov_gradient(p.A, p.be, xe, degree, tolerance, o.max_sweeps);
                benchmark::DoNotOptimize(xe.data());
            }
            const double rel = (p.be - p.A * xe).norm() / p.be.norm();
            finish(state, p, it, it * (degree + 2) + 1, rel <= tolerance, rel);
            break;
        }
        case kernel::sigmas: {
            double s = 0.0;
            for (auto _ : state) {
                const auto P = fp::make_symmetric_polynomial_preconditioner(*p.M, degree);
                s = P.smoothness();
                benchmark::DoNotOptimize(s);
            }
            // Bound: one read of the CSR arrays per trace pair (a lower bound, not a fraction
            // the exact expansion can reach).
            kestrel_bench::report_limits(state, p.bytes_per_matvec(), static_cast<double>(p.n));
            break;
        }
        case kernel::sigmas_baseline: {
            double s = 0.0;
            for (auto _ : state) {
                const auto sg = kestrel_baseline::sigmas_by_sparse_powers(p.A, degree + 1);
                s = sg[degree + 1];
                benchmark::DoNotOptimize(s);
            }
            kestrel_bench::report_limits(state, p.bytes_per_matvec(), static_cast<double>(p.n));
            break;
        }
    }
}

void register_problem(bool outliers, std::size_t N) {
    auto p = make_problem(outliers, N);
    const std::string args = std::string("/problem:") + (outliers ? "outliers" : "poisson") + "/n:" + std::to_string(N * N);
    auto add = [&](const std::string& name, kernel k, std::size_t degree, const std::string& extra) {
        auto* b = benchmark::RegisterBenchmark(("fixed_point/" + name + args + extra).c_str(),
                                               [=](benchmark::State& s) { run(s, p, k, degree); });
        b->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);
    };
    add("pgrad_plain/kestrel", kernel::plain, 0, "");
    add("pgrad_chebyshev/kestrel", kernel::chebyshev, 2, "/degree:2");
    for (std::size_t tau : {1, 2}) {
        const std::string t = "/tau:" + std::to_string(tau);
        add("pgrad_symmetric/kestrel", kernel::symmetric, tau, t);
        add("pgrad_symmetric/baseline", kernel::symmetric_baseline, tau, t);
        add("pgrad_symmetric_fast/kestrel", kernel::symmetric_fast, tau, t);
        add("symmetric_sigmas/kestrel", kernel::sigmas, tau, t);
        add("symmetric_sigmas/baseline", kernel::sigmas_baseline, tau, t);
    }
    for (std::size_t tau : {1, 2, 4}) {
        const std::string t = "/tau:" + std::to_string(tau);
        add("krylov_gradient/kestrel", kernel::krylov, tau, t);
        if (tau == 2) add("krylov_gradient/baseline", kernel::krylov_baseline, tau, t);
    }
}

enum class step_kernel { symmetric, symmetric_baseline, krylov, krylov_baseline };

void run_steps(benchmark::State& state, std::shared_ptr<problem> pp, step_kernel k, int threads) {
    problem& p = *pp;
    Eigen::setNbThreads(1);  // the baselines run on one thread (Eigen's dense products use OpenMP)
    constexpr std::size_t steps = 10, tau = 2;
    fp::relaxation_options o;
    o.rel_tol = 0.0;
    o.max_sweeps = steps;
    o.policy = kestrel::exec_policy::with_threads(threads);
    fp::power_trace_options to;
    to.policy = o.policy;
    const auto P = fp::make_symmetric_polynomial_preconditioner(*p.M, tau, to);
    fp::relaxation_workspace<double> ws;
    fp::krylov_workspace<double> kw;
    std::vector<double> x(p.n);
    Eigen::VectorXd xe;
    std::size_t matvecs = 0;
    for (auto _ : state) {
        switch (k) {
            case step_kernel::symmetric:
                std::fill(x.begin(), x.end(), 0.0);
                matvecs = fp::symmetric_polynomial_gradient_solve(*p.M, p.b, x, P, o, ws).passes;
                benchmark::DoNotOptimize(x.data());
                break;
            case step_kernel::krylov:
                std::fill(x.begin(), x.end(), 0.0);
                matvecs = fp::krylov_gradient_solve(*p.M, p.b, x, tau, o, kw).passes;
                benchmark::DoNotOptimize(x.data());
                break;
            case step_kernel::symmetric_baseline:
                xe = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p.n));
                kestrel_baseline::symmetric_polynomial_gradient(p.A, p.be, xe, P.sigmas(), tau, 0.0, steps);
                matvecs = steps * (tau + 1) + 1;
                benchmark::DoNotOptimize(xe.data());
                break;
            case step_kernel::krylov_baseline:
                xe = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p.n));
                kestrel_baseline::krylov_gradient(p.A, p.be, xe, tau, 0.0, steps);
                matvecs = steps * (tau + 2) + 1;
                benchmark::DoNotOptimize(xe.data());
                break;
        }
    }
    state.counters["matvecs"] = benchmark::Counter(static_cast<double>(matvecs));
    // The bound counts the same minimum for kestrel and baseline: the products the kestrel
    // kernel needs (tau + 1 per iteration + the final residual), each moving the CSR arrays
    // and two vectors.
    const double need = static_cast<double>(steps * (tau + 1) + 1);
    kestrel_bench::report_limits(state, need * p.bytes_per_matvec(), need, 2.0 * static_cast<double>(p.A.nonZeros()) * need);
}

void register_steps() {
    const std::size_t N = kestrel_bench::quick_mode() ? 64 : 1000;
    // Built on first use (not at start-up: 10^6 unknowns, and most runs filter these rows out).
    auto holder = std::make_shared<std::shared_ptr<problem>>();
    const std::string args = "/problem:poisson/n:" + std::to_string(N * N) + "/tau:2";
    auto add = [&](const std::string& name, step_kernel k, int t) {
        auto* b = benchmark::RegisterBenchmark(("fixed_point/" + name + args + "/threads:" + std::to_string(t)).c_str(),
                                               [=](benchmark::State& s) {
                                                   if (!*holder) *holder = make_problem(false, N);
                                                   run_steps(s, *holder, k, t);
                                               });
        b->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(kestrel_bench::quick_mode() ? 1 : 3);
    };
    for (int t : kestrel_bench::thread_counts()) add("pgrad_symmetric_iterations/kestrel", step_kernel::symmetric, t);
    add("pgrad_symmetric_iterations/baseline", step_kernel::symmetric_baseline, 1);
    for (int t : kestrel_bench::thread_counts()) add("krylov_iterations/kestrel", step_kernel::krylov, t);
    add("krylov_iterations/baseline", step_kernel::krylov_baseline, 1);
}

const bool registered = [] {
    const std::size_t N = kestrel_bench::quick_mode() ? 16 : 32;
    register_problem(false, N);
    register_problem(true, N);
    register_steps();
    return true;
}();

}  // namespace
