// Symmetric-polynomial preconditioners P_tau and the Krylov-subspace search (Doikov &
// Rodomanov): traces and sigmas against independent computations, the preconditioned spectrum
// and contraction against closed forms from the eigenvalues, iteration counts against the
// plain gradient method and Chebyshev, thread-count invariance, refusals.
#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include <kestrel/fixed_point/poisson_2d.hpp>
#include <kestrel/fixed_point/polynomial_preconditioner.hpp>
#include <kestrel/fixed_point/symmetric_polynomial_fast_gradient.hpp>
#include <kestrel/fixed_point/symmetric_polynomial_preconditioner.hpp>

#include <baselines/fixed_point_polynomial.hpp>
#include <validation_table.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_relaxation_util.hpp"

namespace {

using namespace relax_test;
using Sparse = Eigen::SparseMatrix<double, Eigen::RowMajor, int>;

/// sigma_0..sigma_K of a list by the product recurrence prod (1 + lambda t) (not Newton's
/// identities, which the library uses).
std::vector<double> esp(const std::vector<double>& lambda, std::size_t K) {
    std::vector<long double> e(K + 1, 0.0L);
    e[0] = 1.0L;
    for (double l : lambda)
        for (std::size_t k = K; k >= 1; --k) e[k] += static_cast<long double>(l) * e[k - 1];
    return std::vector<double>(e.begin(), e.end());
}

std::vector<double> without(const std::vector<double>& v, std::size_t j) {
    std::vector<double> w;
    for (std::size_t i = 0; i < v.size(); ++i)
        if (i != j) w.push_back(v[i]);
    return w;
}

/// Eigenvalues of P_tau A / sigma_{tau+1}: lambda_j sigma_tau(lambda_{-j}) / sigma_{tau+1}(lambda).
std::vector<double> predicted_spectrum(const std::vector<double>& lambda, std::size_t tau) {
    const double L = esp(lambda, tau + 1)[tau + 1];
    std::vector<double> out;
    for (std::size_t j = 0; j < lambda.size(); ++j) out.push_back(lambda[j] * esp(without(lambda, j), tau)[tau] / L);
    return out;
}

/// Slowest contraction per iteration: 1 - min of the predicted spectrum.
double predicted_rate(const std::vector<double>& lambda, std::size_t tau) {
    const auto s = predicted_spectrum(lambda, tau);
    return 1.0 - *std::min_element(s.begin(), s.end());
}

/// The paper's bound: 1 - lambda_min / (sum of all but the tau largest).
double paper_bound(std::vector<double> lambda, std::size_t tau) {
    std::sort(lambda.begin(), lambda.end(), std::greater<double>());
    double tail = 0.0;
    for (std::size_t i = tau; i < lambda.size(); ++i) tail += lambda[i];
    return 1.0 - lambda.back() / tail;
}

Sparse from_dense(const Eigen::MatrixXd& D) {
    Sparse A = D.sparseView(0.0, 0.0);
    A.makeCompressed();
    return A;
}

/// Q diag(lambda) Q with Q = I - 2 u u' / u'u (symmetric orthogonal), entries mirrored so the
/// matrix is exactly symmetric.
Eigen::MatrixXd householder(std::size_t n, std::uint64_t seed) {
    const auto u = random_vector(n, seed);
    Eigen::VectorXd uv(static_cast<Eigen::Index>(n));
    for (std::size_t i = 0; i < n; ++i) uv[static_cast<Eigen::Index>(i)] = u[i];
    return Eigen::MatrixXd::Identity(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n)) -
           2.0 * uv * uv.transpose() / uv.squaredNorm();
}

Eigen::MatrixXd qdq(const std::vector<double>& lambda, std::uint64_t seed) {
    const std::size_t n = lambda.size();
    const Eigen::MatrixXd Q = householder(n, seed);
    Eigen::VectorXd d(static_cast<Eigen::Index>(n));
    for (std::size_t i = 0; i < n; ++i) d[static_cast<Eigen::Index>(i)] = lambda[i];
    Eigen::MatrixXd A = Q * d.asDiagonal() * Q;
    for (Eigen::Index i = 0; i < A.rows(); ++i)
        for (Eigen::Index j = 0; j < i; ++j) A(i, j) = A(j, i);
    return A;
}

/// One isolated smallest eigenvalue 1, a bulk in [2, 3] and `outliers` large ones.
std::vector<double> outlier_spectrum(std::size_t n, const std::vector<double>& outliers) {
    std::vector<double> l{1.0};
    const std::size_t bulk = n - 1 - outliers.size();
    for (std::size_t i = 0; i < bulk; ++i) l.push_back(2.0 + static_cast<double>(i) / static_cast<double>(bulk - 1));
    for (double o : outliers) l.push_back(o);
    return l;
}

double energy_error(const Eigen::MatrixXd& A, const std::vector<double>& x, const Eigen::VectorXd& xs) {
    Eigen::VectorXd e(xs.size());
    for (Eigen::Index i = 0; i < xs.size(); ++i) e[i] = x[static_cast<std::size_t>(i)] - xs[i];
    return e.dot(A * e);
}

/// A dense SPD test system Q diag(lambda) Q x = b (outlier_spectrum, Q a Householder
/// reflection from `seed`, b random from `rhs_seed`) and its solution by Cholesky.
struct outlier_system {
    std::vector<double> lambda;
    Eigen::MatrixXd D;
    Sparse A;
    fp::relaxation_matrix<double> M;  // views A
    std::vector<double> b;
    Eigen::VectorXd be, xs;
    outlier_system(std::size_t n, const std::vector<double>& outliers, std::uint64_t seed, std::uint64_t rhs_seed)
        : lambda(outlier_spectrum(n, outliers)), D(qdq(lambda, seed)), A(from_dense(D)), M(A, true),
          b(random_vector(n, rhs_seed)), be(static_cast<Eigen::Index>(n)) {
        for (std::size_t i = 0; i < n; ++i) be[static_cast<Eigen::Index>(i)] = b[i];
        xs = D.llt().solve(be);
    }
    outlier_system(const outlier_system&) = delete;
    outlier_system& operator=(const outlier_system&) = delete;
};

/// ||x - xs|| (Euclidean).
double distance(const std::vector<double>& x, const Eigen::VectorXd& xs) {
    double s = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double d = x[i] - xs[static_cast<Eigen::Index>(i)];
        s += d * d;
    }
    return std::sqrt(s);
}

/// Solver options of the rate tests: rel_tol 1e-10, room for slow methods, residual history.
fp::relaxation_options rate_test_options() {
    fp::relaxation_options o;
    o.rel_tol = 1e-10;
    o.max_sweeps = 200000;
    o.record_history = true;
    return o;
}

/// The sparse test matrix with outliers: I + Poisson(N) / 8 (spectrum in (1, 2)) plus `boost`
/// added to the diagonal at a few grid nodes (localized eigenvalues near 1 + boost).
Sparse outlier_poisson(std::size_t N, const std::vector<double>& boost) {
    Sparse A = fp::poisson_2d<double>(N);
    A *= 0.125;
    for (Eigen::Index i = 0; i < A.rows(); ++i) A.coeffRef(i, i) += 1.0;
    const std::size_t n = N * N;
    for (std::size_t k = 0; k < boost.size(); ++k) {
        const auto i = static_cast<Eigen::Index>((k + 1) * n / (boost.size() + 1) + N / 3);
        A.coeffRef(i, i) += boost[k];
    }
    A.makeCompressed();
    return A;
}

/// The residual norms ||b - A y_k|| the Fast Gradient Method must produce from x_0 = 0 on
/// A = Q diag(lambda) Q, by its two-term recurrence per eigencomponent (independent of the
/// library: the eigenvalues m_j of q(A) A come from predicted_spectrum, long double):
/// e_y = e_k + beta_k (e_k - e_{k-1}), r_j = -lambda_j e_y, e_{k+1} = (1 - m_j) e_y, beta_0 = 0.
std::vector<double> fgm_predicted_residuals(const std::vector<double>& lambda, std::size_t tau, const Eigen::MatrixXd& Q,
                                            const Eigen::VectorXd& xs, double beta, std::size_t steps) {
    const auto m = predicted_spectrum(lambda, tau);
    const Eigen::VectorXd c = Q.transpose() * (-xs);  // the initial error's components
    const std::size_t n = lambda.size();
    std::vector<long double> e(n), ep(n);
    for (std::size_t j = 0; j < n; ++j) e[j] = ep[j] = static_cast<long double>(c[static_cast<Eigen::Index>(j)]);
    std::vector<double> out;
    for (std::size_t k = 0; k <= steps; ++k) {
        const long double bk = k == 0 ? 0.0L : static_cast<long double>(beta);
        long double rr = 0.0L;
        for (std::size_t j = 0; j < n; ++j) {
            const long double ey = e[j] + bk * (e[j] - ep[j]);
            rr += (static_cast<long double>(lambda[j]) * ey) * (static_cast<long double>(lambda[j]) * ey);
            ep[j] = e[j];
            e[j] = (1.0L - static_cast<long double>(m[j])) * ey;
        }
        out.push_back(static_cast<double>(std::sqrt(rr)));
    }
    return out;
}

}  // namespace

TEST_CASE("polyprec: exact power traces and Newton's sigmas match the eigenvalues", "[fixed_point][polyprec]") {
    const std::vector<double> lambda{0.5, 1.0, 1.5, 2.0, 3.0, 7.0, 11.0, 13.0, 40.0, 90.0};
    const Sparse A = from_dense(qdq(lambda, 3));
    const fp::relaxation_matrix<double> M(A, true);
    const auto p = fp::power_traces(M, 6);
    for (std::size_t k = 1; k <= 6; ++k) {
        double t = 0.0;
        for (double l : lambda) t += std::pow(l, static_cast<double>(k));
        INFO("k = " << k);
        CHECK(std::abs(p[k - 1] - t) <= 1e-12 * t);
    }
    const auto s = fp::elementary_symmetric_from_traces(p);
    const auto e = esp(lambda, 6);
    for (std::size_t k = 0; k <= 6; ++k) {
        INFO("k = " << k);
        CHECK(std::abs(s[k] - e[k]) <= 1e-11 * e[k]);
    }
    // Sparse: Poisson N = 7 against the traces of dense powers.
    const Sparse P = fp::poisson_2d<double>(7);
    const fp::relaxation_matrix<double> MP(P, true);
    const auto pp = fp::power_traces(MP, 5);
    const Eigen::MatrixXd D(P);
    Eigen::MatrixXd Dk = D;
    for (std::size_t k = 1; k <= 5; ++k) {
        INFO("Poisson k = " << k);
        CHECK(std::abs(pp[k - 1] - Dk.trace()) <= 1e-12 * Dk.trace());
        Dk = Dk * D;
    }
}

TEST_CASE("polyprec: Hutchinson trace estimates fall within five standard deviations", "[fixed_point][polyprec]") {
    // Rademacher probes: Var(z' M z) = 2 (||M||_F^2 - sum M_ii^2). With a fixed seed each check
    // is deterministic; the chance that an honest estimator lands outside 5 sd is ~6e-7 each.
    const Sparse A = outlier_poisson(12, {30.0});
    const fp::relaxation_matrix<double> M(A, true);
    const Eigen::MatrixXd D(A);
    const std::size_t probes = 400;
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        fp::power_trace_options o;
        o.method = fp::trace_method::hutchinson;
        o.probes = probes;
        o.seed = seed;
        const auto est = fp::power_traces(M, 3, o);
        const auto exact = fp::power_traces(M, 3);
        Eigen::MatrixXd Dk = D;
        bool any_error = false;
        for (std::size_t k = 1; k <= 3; ++k) {
            const double var = 2.0 * (Dk.squaredNorm() - Dk.diagonal().squaredNorm());
            const double sd = std::sqrt(var / static_cast<double>(probes));
            INFO("seed " << seed << " k " << k << " estimate " << est[k - 1] << " exact " << exact[k - 1] << " sd " << sd);
            CHECK(std::abs(est[k - 1] - exact[k - 1]) <= 5.0 * sd);
            any_error = any_error || est[k - 1] != exact[k - 1];
            Dk = Dk * D;
        }
        CHECK(any_error);  // an estimate, not the exact computation by another name
    }
}

TEST_CASE("polyprec: the preconditioned spectrum is lambda_j sigma_tau(lambda_-j) / sigma_tau+1", "[fixed_point][polyprec]") {
    const std::vector<double> lambda{0.3, 1.0, 1.1, 2.0, 2.5, 4.0, 60.0, 200.0, 900.0};
    const std::size_t n = lambda.size();
    fp::relaxation_workspace<double> ws;
    SECTION("diagonal: P_tau e_j is a multiple of e_j") {
        Eigen::MatrixXd Dm = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
        for (std::size_t i = 0; i < n; ++i) Dm(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(i)) = lambda[i];
        const Sparse A = from_dense(Dm);
        const fp::relaxation_matrix<double> M(A, true);
        // tau <= 4: the monomial form cancels at the large eigenvalues, more with each degree
        // (on this spectrum, 0.3..900: relative error ~1e-10 at tau = 4, 1e-6 at 6, 1e-2 at 7).
        for (std::size_t tau = 1; tau <= 4; ++tau) {
            const auto P = fp::make_symmetric_polynomial_preconditioner(M, tau);
            const auto pred = predicted_spectrum(lambda, tau);
            for (std::size_t j = 0; j < n; ++j) {
                std::vector<double> e(n, 0.0), z(n, 1.0);
                e[j] = lambda[j];  // A e_j
                fp::apply_symmetric_polynomial_preconditioner(M, P, e, z, ws);
                INFO("tau " << tau << " j " << j);
                CHECK(std::abs(z[j] - pred[j]) <= 1e-8 * pred[j]);
                for (std::size_t i = 0; i < n; ++i)
                    if (i != j) CHECK(z[i] == 0.0);
            }
        }
    }
    SECTION("Q diag Q: eigenvalues, condition number and the paper's bound") {
        const Eigen::MatrixXd D = qdq(lambda, 11);
        const Sparse A = from_dense(D);
        const fp::relaxation_matrix<double> M(A, true);
        for (std::size_t tau = 1; tau <= 4; ++tau) {
            const auto P = fp::make_symmetric_polynomial_preconditioner(M, tau);
            Eigen::MatrixXd PA(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
            for (std::size_t j = 0; j < n; ++j) {
                std::vector<double> col(n), z(n);
                for (std::size_t i = 0; i < n; ++i) col[i] = D(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
                fp::apply_symmetric_polynomial_preconditioner(M, P, col, z, ws);
                for (std::size_t i = 0; i < n; ++i) PA(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = z[i];
            }
            const Eigen::MatrixXd S = 0.5 * (PA + PA.transpose());
            CHECK((PA - S).norm() <= 1e-10 * S.norm());  // a polynomial in A times A: symmetric
            Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(S);
            std::vector<double> got(es.eigenvalues().data(), es.eigenvalues().data() + n);
            auto pred = predicted_spectrum(lambda, tau);
            std::sort(pred.begin(), pred.end());
            for (std::size_t j = 0; j < n; ++j) {
                INFO("tau " << tau << " j " << j << " got " << got[j] << " predicted " << pred[j]);
                CHECK(std::abs(got[j] - pred[j]) <= 1e-8 * pred.back());
            }
            const double kappa = got.back() / got.front();
            // Closed form: lambda_1 sigma_tau(lambda_-1) / (lambda_n sigma_tau(lambda_-n)) with the
            // largest (index n-1 here) and smallest (index 0) eigenvalues.
            const double closed = lambda[n - 1] * esp(without(lambda, n - 1), tau)[tau] / (lambda[0] * esp(without(lambda, 0), tau)[tau]);
            INFO("tau " << tau << " kappa " << kappa << " closed form " << closed);
            CHECK(std::abs(kappa - closed) <= 1e-8 * closed);
            // The paper's bound kappa_tau <= sum_{i > tau} lambda_i / lambda_n, and the rate bound.
            double tail = 0.0;
            for (std::size_t i = 0; i + tau < n; ++i) tail += lambda[i];  // sorted ascending here
            CHECK(closed <= tail / lambda[0] * (1.0 + 1e-12));
            CHECK(predicted_rate(lambda, tau) <= paper_bound(lambda, tau) + 1e-15);
            CHECK(std::abs(fp::symmetric_polynomial_preconditioner::contraction_bound(lambda, tau) - paper_bound(lambda, tau)) <= 1e-15);
        }
        // tau = 1 cuts exactly the largest eigenvalue from the trace: on this spectrum the bound
        // falls from Tr(A)/lambda_n ~ 3900 to ~ 900.
        CHECK(paper_bound(lambda, 1) < paper_bound(lambda, 0));
    }
    SECTION("tau = n - 1: P_tau A = det(A) I, one step solves") {
        const std::vector<double> mild{1.0, 1.2, 1.5, 2.0, 2.2, 2.5, 3.0};
        const std::size_t m = mild.size();
        const Eigen::MatrixXd D = qdq(mild, 13);
        const Sparse A = from_dense(D);
        const fp::relaxation_matrix<double> M(A, true);
        const auto P = fp::make_symmetric_polynomial_preconditioner(M, m - 1);
        double det = 1.0;
        for (double l : mild) det *= l;
        CHECK(std::abs(P.smoothness() - det) <= 1e-12 * det);  // sigma_n = det A
        const auto b = random_vector(m, 2);
        std::vector<double> x(m, 0.0);
        fp::relaxation_options o;
        o.rel_tol = 1e-12;
        const auto r = fp::symmetric_polynomial_gradient_solve(M, b, x, P, o, ws);
        CHECK(r.converged);
        CHECK(r.sweeps == 1);
    }
}

TEST_CASE("polyprec: the gradient method contracts by the predicted rate and solves A x = b", "[fixed_point][polyprec]") {
    const std::size_t n = optimized ? 64 : 32;
    const outlier_system sys(n, {1000.0, 2000.0, 4000.0}, 5, 17);
    fp::relaxation_options o = rate_test_options();
    fp::relaxation_workspace<double> ws;

    // Plain gradient with its best fixed step: Chebyshev degree 0 on the exact interval.
    const fp::chebyshev_preconditioner P0(1.0, 4000.0, 0);
    std::vector<double> x0(n, 0.0);
    const auto plain = fp::polynomial_richardson_solve(sys.M, sys.b, x0, P0, o, ws);
    REQUIRE(plain.converged);
    for (std::size_t tau = 1; tau <= 3; ++tau) {
        const auto P = fp::make_symmetric_polynomial_preconditioner(sys.M, tau);
        std::vector<double> x(n, 0.0);
        const auto r = fp::symmetric_polynomial_gradient_solve(sys.M, sys.b, x, P, o, ws);
        REQUIRE(r.converged);
        const double rho = predicted_rate(sys.lambda, tau);
        // Every residual component contracts by at most rho: a hard bound on the count.
        const double bound = std::ceil(std::log(1e-10) / std::log(rho));
        // Measured rate over the second half of the run (the slowest component dominates: the
        // next eigenvalue is 2, twice lambda_n).
        const std::size_t k2 = r.history.size() - 1, k1 = k2 / 2;
        const double measured = std::pow(r.history[k2] / r.history[k1], 1.0 / static_cast<double>(k2 - k1));
        const double predicted_ratio = std::log(rho) / std::log(P0.contraction());
        const double ratio = static_cast<double>(plain.sweeps) / static_cast<double>(r.sweeps);
        INFO("tau " << tau << " iterations " << r.sweeps << " (bound " << bound << ", plain " << plain.sweeps << ") rate "
                    << measured << " predicted " << rho << " paper bound " << paper_bound(sys.lambda, tau) << " speedup " << ratio
                    << " predicted " << predicted_ratio);
        CHECK(static_cast<double>(r.sweeps) <= bound);
        CHECK(std::abs(std::log(measured) / std::log(rho) - 1.0) <= 0.02);
        CHECK(r.passes == r.sweeps * (tau + 1) + 1);
        // Fewer iterations than the plain gradient method, by the predicted factor.
        CHECK(ratio >= 0.8 * predicted_ratio);
        CHECK(ratio <= 1.25 * predicted_ratio);
        if (tau == 3) CHECK(ratio > 10.0);  // all three outliers cut
        // The solution: ||x - x*|| <= ||r|| / lambda_min, lambda_min = 1.
        CHECK(distance(x, sys.xs) <= r.residual_norm * (1.0 + 1e-6) + 1e-12);
        // Against Chebyshev of the same degree on the exact interval: the counts are in the
        // ratio of the predicted contractions (Chebyshev wins while tau < 3 outliers remain).
        const fp::chebyshev_preconditioner C(1.0, 4000.0, tau);
        std::vector<double> xc(n, 0.0);
        const auto rc = fp::polynomial_richardson_solve(sys.M, sys.b, xc, C, o, ws);
        REQUIRE(rc.converged);
        const double cheb_ratio = static_cast<double>(rc.sweeps) / static_cast<double>(r.sweeps);
        const double cheb_pred = std::log(rho) / std::log(C.contraction());
        INFO("Chebyshev " << rc.sweeps << " ratio " << cheb_ratio << " predicted " << cheb_pred);
        CHECK(cheb_ratio >= 0.8 * cheb_pred);
        CHECK(cheb_ratio <= 1.25 * cheb_pred);
    }
}

TEST_CASE("polyprec: with outliers far above a small-trace bulk P_tau beats Chebyshev of its degree", "[fixed_point][polyprec]") {
    // kappa = 1e6: Chebyshev degree 3 contracts by 1 / T_4(sigma) ~ 1 - 3e-5 per iteration, P_3
    // by rho_3 ~ 1 - 1 / 150 (the bulk's trace): in the iterations P_3 needs to reach 1e-10,
    // Chebyshev has not yet reduced the residual by a factor of 2.
    const std::size_t n = optimized ? 64 : 32;
    const auto lambda = outlier_spectrum(n, {1e5, 3e5, 1e6});
    const Eigen::MatrixXd D = qdq(lambda, 6);
    const Sparse A = from_dense(D);
    const fp::relaxation_matrix<double> M(A, true);
    const auto bv = random_vector(n, 19);
    fp::relaxation_options o;
    o.rel_tol = 1e-10;
    o.max_sweeps = 100000;
    fp::relaxation_workspace<double> ws;
    const auto P = fp::make_symmetric_polynomial_preconditioner(M, 3);
    const double rho = predicted_rate(lambda, 3);
    const fp::chebyshev_preconditioner C(1.0, 1e6, 3);
    CHECK(rho < C.contraction());
    std::vector<double> x(n, 0.0);
    const auto r = fp::symmetric_polynomial_gradient_solve(M, bv, x, P, o, ws);
    REQUIRE(r.converged);
    CHECK(static_cast<double>(r.sweeps) <= std::ceil(std::log(1e-10) / std::log(rho)));
    std::vector<double> xc(n, 0.0);
    o.max_sweeps = r.sweeps;
    const auto rc = fp::polynomial_richardson_solve(M, bv, xc, C, o, ws);
    INFO("P_3 " << r.sweeps << " iterations; Chebyshev after as many: relative residual " << rc.relative_residual);
    CHECK_FALSE(rc.converged);
    CHECK(rc.relative_residual > 0.5);
}

TEST_CASE("polyprec: the Krylov search beats every polynomial step of its degree and solves few-eigenvalue matrices in one step", "[fixed_point][polyprec]") {
    fp::relaxation_workspace<double> ws;
    fp::krylov_workspace<double> kw;
    SECTION("at most tau + 1 distinct eigenvalues: one iteration") {
        std::vector<double> lambda;
        for (int i = 0; i < 8; ++i)
            for (double v : {1.0, 5.0, 50.0}) lambda.push_back(v);
        const Sparse A = from_dense(qdq(lambda, 9));
        const fp::relaxation_matrix<double> M(A, true);
        const auto b = random_vector(lambda.size(), 4);
        std::vector<double> x(lambda.size(), 0.0);
        fp::relaxation_options o;
        o.rel_tol = 1e-10;
        const auto r = fp::krylov_gradient_solve(M, b, x, 2, o, kw);
        CHECK(r.converged);
        CHECK(r.sweeps == 1);
        // tau = 1 cannot: three distinct eigenvalues need a degree-3 residual polynomial.
        std::fill(x.begin(), x.end(), 0.0);
        const auto r1 = fp::krylov_gradient_solve(M, b, x, 1, o, kw);
        CHECK(r1.converged);
        CHECK(r1.sweeps > 1);
    }
    SECTION("one step from the same point: Krylov <= P_tau and <= Chebyshev of degree tau in f") {
        const std::size_t n = 48;
        const auto lambda = outlier_spectrum(n, {300.0, 800.0});
        const Eigen::MatrixXd D = qdq(lambda, 21);
        const Sparse A = from_dense(D);
        const fp::relaxation_matrix<double> M(A, true);
        const auto bv = random_vector(n, 8);
        Eigen::VectorXd be(static_cast<Eigen::Index>(n));
        for (std::size_t i = 0; i < n; ++i) be[static_cast<Eigen::Index>(i)] = bv[i];
        const Eigen::VectorXd xs = D.llt().solve(be);
        fp::relaxation_options one;
        one.max_sweeps = 1;
        one.rel_tol = 0.0;
        for (std::size_t tau = 1; tau <= 3; ++tau) {
            const auto start = random_vector(n, 100 + tau);
            std::vector<double> xk = start, xp = start, xc = start;
            fp::krylov_gradient_solve(M, bv, xk, tau, one, kw);
            fp::symmetric_polynomial_gradient_solve(M, bv, xp, fp::make_symmetric_polynomial_preconditioner(M, tau), one, ws);
            fp::polynomial_richardson_solve(M, bv, xc, fp::chebyshev_preconditioner(1.0, 800.0, tau), one, ws);
            const double e0 = energy_error(D, start, xs), ek = energy_error(D, xk, xs), ep = energy_error(D, xp, xs),
                         ec = energy_error(D, xc, xs);
            INFO("tau " << tau << " energy: start " << e0 << " krylov " << ek << " P_tau " << ep << " chebyshev " << ec);
            CHECK(ek <= ep * (1.0 + 1e-9));
            CHECK(ek <= ec * (1.0 + 1e-9));
            CHECK(ek < e0);
            // P_tau's step meets its A-norm contraction rho^2 in energy.
            CHECK(ep <= std::pow(predicted_rate(lambda, tau), 2.0) * e0 * (1.0 + 1e-9));
        }
    }
    SECTION("to a tolerance: the Krylov search needs no more iterations than P_tau and finds x*") {
        const std::size_t n = 64;
        const auto lambda = outlier_spectrum(n, {1000.0, 2000.0, 4000.0});
        const Eigen::MatrixXd D = qdq(lambda, 5);
        const Sparse A = from_dense(D);
        const fp::relaxation_matrix<double> M(A, true);
        const auto bv = random_vector(n, 17);
        fp::relaxation_options o;
        o.rel_tol = 1e-10;
        o.max_sweeps = 100000;
        for (std::size_t tau : {0, 1, 2, 3, 5}) {
            std::vector<double> xk(n, 0.0);
            const auto rk = fp::krylov_gradient_solve(M, bv, xk, tau, o, kw);
            REQUIRE(rk.converged);
            // The true residual of the returned x (computed in another summation order: at a
            // residual 1e-10 ||b|| the two differ in the 5th-6th digit).
            CHECK(std::abs(std::sqrt(fp::residual_norm_squared(M, bv, xk, ws)) - rk.residual_norm) <= 1e-3 * rk.residual_norm);
            CHECK(rk.relative_residual <= 1e-10);
            // tau = 0 is steepest descent with exact line search: Kantorovich, (k-1)/(k+1) in
            // the A-norm, so the residual count obeys a bound with a factor sqrt(kappa).
            if (tau == 0) {
                const double kap = 4000.0, rate = (kap - 1.0) / (kap + 1.0);
                CHECK(static_cast<double>(rk.sweeps) <= std::ceil(std::log(1e-10 / std::sqrt(kap)) / std::log(rate)));
                continue;
            }
            std::vector<double> xp(n, 0.0);
            const auto rp = fp::symmetric_polynomial_gradient_solve(M, bv, xp, fp::make_symmetric_polynomial_preconditioner(M, tau), o, ws);
            INFO("tau " << tau << " Krylov " << rk.sweeps << " P_tau " << rp.sweeps);
            CHECK(rk.sweeps <= rp.sweeps);
            if (tau >= 3) CHECK(rk.sweeps * 20 <= rp.sweeps);  // three outliers deflated
        }
    }
}

TEST_CASE("polyprec: traces and solves are identical at 1, 2 and 3 threads", "[fixed_point][polyprec]") {
    const std::size_t N = optimized ? 160 : 130;  // > 16384 rows: the row loops split
    const Sparse A = outlier_poisson(N, {500.0, 900.0});
    const fp::relaxation_matrix<double> M(A, true);
    const auto b = random_vector(N * N, 3);
    std::vector<std::vector<double>> traces, htraces, xs, xk;
    std::vector<double> res;
    for (int t : {1, 2, 3}) {
        fp::power_trace_options o;
        o.policy = kestrel::exec_policy::with_threads(t);
        traces.push_back(fp::power_traces(M, 4, o));
        o.method = fp::trace_method::hutchinson;
        o.probes = 3;
        htraces.push_back(fp::power_traces(M, 3, o));
        fp::relaxation_options ro;
        ro.max_sweeps = 15;
        ro.policy = o.policy;
        const auto P = fp::make_symmetric_polynomial_preconditioner(M, 2, fp::power_trace_options{fp::trace_method::exact, 1, 0, o.policy});
        std::vector<double> x(N * N, 0.0);
        res.push_back(fp::symmetric_polynomial_gradient_solve(M, b, x, P, ro).residual_norm);
        xs.push_back(x);
        std::fill(x.begin(), x.end(), 0.0);
        ro.max_sweeps = 8;
        res.push_back(fp::krylov_gradient_solve(M, b, x, 3, ro).residual_norm);
        xk.push_back(x);
    }
    for (std::size_t i = 1; i < 3; ++i) {
        CHECK(traces[i] == traces[0]);
        CHECK(htraces[i] == htraces[0]);
        CHECK(xs[i] == xs[0]);
        CHECK(xk[i] == xk[0]);
        CHECK(res[2 * i] == res[0]);
        CHECK(res[2 * i + 1] == res[1]);
    }
}

TEST_CASE("polyprec: float solves reach float accuracy and the baseline agrees with the kernel", "[fixed_point][polyprec]") {
    const Sparse Ad = outlier_poisson(16, {2000.0, 5000.0});
    const Eigen::SparseMatrix<float, Eigen::RowMajor, int> Af = Ad.cast<float>();
    const fp::relaxation_matrix<float> Mf(Af, true);
    const fp::relaxation_matrix<double> Md(Ad, true);
    const std::size_t n = 256;
    std::vector<float> b(n, 1.0f), x(n, 0.0f);
    fp::relaxation_options o;
    o.rel_tol = 1e-4;
    const auto Pf = fp::make_symmetric_polynomial_preconditioner(Mf, 2);
    CHECK(fp::symmetric_polynomial_gradient_solve(Mf, b, x, Pf, o).converged);
    std::fill(x.begin(), x.end(), 0.0f);
    CHECK(fp::krylov_gradient_solve(Mf, b, x, 2, o).converged);

    // Baseline (whole-array Eigen expressions) against the kernel, double.
    std::vector<double> bd(n, 1.0), xk(n, 0.0);
    o.rel_tol = 1e-8;
    const auto P = fp::make_symmetric_polynomial_preconditioner(Md, 2);
    const auto rk = fp::symmetric_polynomial_gradient_solve(Md, bd, xk, P, o);
    Eigen::VectorXd xb = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(n));
    const Eigen::VectorXd be = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(n));
    const auto it = kestrel_baseline::symmetric_polynomial_gradient(Ad, be, xb, 2, 1e-8, o.max_sweeps);
    CHECK(it == rk.sweeps);
    double d = 0.0;
    for (std::size_t i = 0; i < n; ++i) d = std::max(d, std::abs(xk[i] - xb[static_cast<Eigen::Index>(i)]));
    CHECK(d <= 1e-9);
    std::vector<double> xk2(n, 0.0);
    const auto rk2 = fp::krylov_gradient_solve(Md, bd, xk2, 2, o);
    Eigen::VectorXd xb2 = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(n));
    const auto it2 = kestrel_baseline::krylov_gradient(Ad, be, xb2, 2, 1e-8, o.max_sweeps);
    CHECK(rk2.converged);
    CHECK(static_cast<double>(it2) <= static_cast<double>(rk2.sweeps) + 1.0);
    CHECK(static_cast<double>(it2) + 1.0 >= static_cast<double>(rk2.sweeps));
}

TEST_CASE("polyprec fast gradient: with mu the residuals follow the exact recurrence and beat the gradient method by about sqrt(kappa)", "[fixed_point][polyprec]") {
    const std::size_t n = optimized ? 64 : 32;
    const outlier_system sys(n, {1000.0, 2000.0, 4000.0}, 5, 17);
    const Eigen::MatrixXd Q = householder(n, 5);  // qdq's reflection: column j is lambda_j's eigenvector
    fp::relaxation_options o = rate_test_options();
    fp::relaxation_workspace<double> ws;
    fp::fast_gradient_workspace<double> fws;
    for (std::size_t tau = 1; tau <= 3; ++tau) {
        const auto P = fp::make_symmetric_polynomial_preconditioner(sys.M, tau);
        const auto spec = predicted_spectrum(sys.lambda, tau);
        const double mu = *std::min_element(spec.begin(), spec.end());
        fp::fast_gradient_options g;
        g.strong_convexity = mu;
        std::vector<double> x(n, 0.0);
        const auto r = fp::symmetric_polynomial_fast_gradient_solve(sys.M, sys.b, x, P, o, g, fws);
        REQUIRE(r.converged);
        CHECK(r.restarts == 0);
        CHECK(r.passes == r.sweeps * (tau + 1) + 1);
        REQUIRE(r.history.size() == r.sweeps + 1);
        // Every recorded residual against the recurrence, down to 1e-8 of the first (below,
        // rounding of the iterates takes over); the iteration count where it crosses the
        // tolerance (+-1: the crossing may sys.be within rounding of the threshold).
        const double beta = (1.0 - std::sqrt(mu)) / (1.0 + std::sqrt(mu));
        const auto pred = fgm_predicted_residuals(sys.lambda, tau, Q, sys.xs, beta, r.sweeps + 2);
        double worst = 0.0;
        for (std::size_t k = 0; k < r.history.size() && pred[k] >= 1e-8 * pred[0]; ++k)
            worst = std::max(worst, std::abs(r.history[k] / pred[k] - 1.0));
        std::size_t kpred = 0;
        while (kpred + 1 < pred.size() && pred[kpred] > 1e-10 * sys.be.norm()) ++kpred;
        // The plain preconditioned gradient method on the same problem.
        std::vector<double> xg(n, 0.0);
        const auto rg = fp::symmetric_polynomial_gradient_solve(sys.M, sys.b, xg, P, o, ws);
        REQUIRE(rg.converged);
        const double speedup = static_cast<double>(rg.sweeps) / static_cast<double>(r.sweeps);
        // The rates: 1 - mu (gradient) against 1 - sqrt(mu) (FGM) give a count ratio of
        // log(1 - sqrt mu) / log(1 - mu) ~ 1 / sqrt(mu), less the FGM's transient.
        const double rate_ratio = std::log(1.0 - std::sqrt(mu)) / std::log(1.0 - mu);
        INFO("tau " << tau << " mu " << mu << " FGM " << r.sweeps << " (predicted " << kpred << ") gradient " << rg.sweeps
                    << " speedup " << speedup << " rate ratio " << rate_ratio << " worst deviation " << worst);
        CHECK(worst <= 1e-6);
        CHECK(static_cast<double>(r.sweeps) >= static_cast<double>(kpred) - 1.0);
        CHECK(static_cast<double>(r.sweeps) <= static_cast<double>(kpred) + 1.0);
        CHECK(speedup >= 0.5 * rate_ratio);
        CHECK(speedup <= 1.5 * rate_ratio);
        // Measured asymptotic contraction over the last half: (1 - sqrt mu) times at most the
        // double root's linear factor ((k2 + 1) / (k1 + 1))^(1 / (k2 - k1)).
        const std::size_t k2 = r.sweeps, k1 = k2 / 2;
        const double rate = std::pow(r.history[k2] / r.history[k1], 1.0 / static_cast<double>(k2 - k1));
        const double lin = std::pow(static_cast<double>(k2 + 1) / static_cast<double>(k1 + 1), 1.0 / static_cast<double>(k2 - k1));
        INFO("rate " << rate << " 1 - sqrt(mu) " << 1.0 - std::sqrt(mu) << " linear factor " << lin);
        CHECK(rate <= (1.0 - std::sqrt(mu)) * lin * 1.001);
        CHECK(rate >= (1.0 - std::sqrt(mu)) * 0.99);
        CHECK(distance(x, sys.xs) <= r.residual_norm * (1.0 + 1e-6) + 1e-12);  // lambda_min = 1
    }
}

TEST_CASE("polyprec fast gradient: without mu, gradient restarts keep it near the tuned method", "[fixed_point][polyprec]") {
    const std::size_t n = optimized ? 64 : 32;
    for (const std::vector<double>& outliers : {std::vector<double>{1000.0, 2000.0, 4000.0}, std::vector<double>{1e5, 3e5}}) {
        const outlier_system sys(n, outliers, 9, 23);
        fp::relaxation_options o;
        o.rel_tol = 1e-10;
        o.max_sweeps = 50000;
        for (std::size_t tau = 1; tau <= 2; ++tau) {
            const auto P = fp::make_symmetric_polynomial_preconditioner(sys.M, tau);
            const auto spec = predicted_spectrum(sys.lambda, tau);
            fp::fast_gradient_options tuned;
            tuned.strong_convexity = *std::min_element(spec.begin(), spec.end());
            std::vector<double> xt(n, 0.0), xa(n, 0.0), xg(n, 0.0);
            const auto rt = fp::symmetric_polynomial_fast_gradient_solve(sys.M, sys.b, xt, P, o, tuned);
            const auto ra = fp::symmetric_polynomial_fast_gradient_solve(sys.M, sys.b, xa, P, o);
            fp::relaxation_options og = o;
            og.max_sweeps = 100000;
            const auto rg = fp::symmetric_polynomial_gradient_solve(sys.M, sys.b, xg, P, og);  // may run out (then >= 4x)
            INFO("outliers " << outliers.back() << " tau " << tau << " tuned " << rt.sweeps << " adaptive " << ra.sweeps
                             << " (restarts " << ra.restarts << ") gradient " << rg.sweeps);
            REQUIRE(rt.converged);
            REQUIRE(ra.converged);
            CHECK((rg.converged || rg.sweeps == og.max_sweeps));
            CHECK(ra.passes == ra.sweeps * (tau + 1) + 1);
            CHECK(ra.sweeps <= 2 * rt.sweeps);
            CHECK(4 * ra.sweeps <= rg.sweeps);
            CHECK(distance(xa, sys.xs) <= ra.residual_norm * (1.0 + 1e-6) + 1e-12);
            // An unconverged run says so, with the residual of what it returned.
            fp::relaxation_options few = o;
            few.max_sweeps = ra.sweeps / 2;
            std::vector<double> xf(n, 0.0);
            const auto rf = fp::symmetric_polynomial_fast_gradient_solve(sys.M, sys.b, xf, P, few);
            CHECK_FALSE(rf.converged);
            CHECK(rf.sweeps == few.max_sweeps);
            Eigen::VectorXd xfe(static_cast<Eigen::Index>(n));
            for (std::size_t i = 0; i < n; ++i) xfe[static_cast<Eigen::Index>(i)] = xf[i];
            // (the two residual computations differ by rounding: eps ||A|| ||x|| at most)
            CHECK(std::abs((sys.be - sys.D * xfe).norm() - rf.residual_norm) <= 1e-13 * (sys.be.norm() + sys.D.norm() * xfe.norm()));
        }
    }
}

TEST_CASE("polyprec fast gradient: identical at 1, 2 and 3 threads, and float reaches float accuracy", "[fixed_point][polyprec]") {
    const std::size_t N = optimized ? 160 : 130;  // > 16384 rows: the row loops split
    const Sparse A = outlier_poisson(N, {500.0, 900.0});
    const fp::relaxation_matrix<double> M(A, true);
    const auto b = random_vector(N * N, 3);
    const auto P = fp::make_symmetric_polynomial_preconditioner(M, 2);
    std::vector<std::vector<double>> xs;
    std::vector<double> res;
    std::vector<std::size_t> restarts;
    for (int t : {1, 2, 3}) {
        fp::relaxation_options ro;
        ro.max_sweeps = 40;
        ro.policy = kestrel::exec_policy::with_threads(t);
        for (double mu : {0.0, 0.01}) {
            fp::fast_gradient_options g;
            g.strong_convexity = mu;
            std::vector<double> x(N * N, 0.0);
            const auto r = fp::symmetric_polynomial_fast_gradient_solve(M, b, x, P, ro, g);
            xs.push_back(x);
            res.push_back(r.residual_norm);
            restarts.push_back(r.restarts);
        }
    }
    for (std::size_t i = 2; i < xs.size(); ++i) {
        CHECK(xs[i] == xs[i % 2]);
        CHECK(res[i] == res[i % 2]);
        CHECK(restarts[i] == restarts[i % 2]);
    }

    const Sparse Ad = outlier_poisson(16, {2000.0, 5000.0});
    const Eigen::SparseMatrix<float, Eigen::RowMajor, int> Af = Ad.cast<float>();
    const fp::relaxation_matrix<float> Mf(Af, true);
    std::vector<float> bf(256, 1.0f), xf(256, 0.0f);
    fp::relaxation_options o;
    o.rel_tol = 1e-4;
    CHECK(fp::symmetric_polynomial_fast_gradient_solve(Mf, bf, xf, fp::make_symmetric_polynomial_preconditioner(Mf, 2), o).converged);
}

TEST_CASE("polyprec validation: every bad input is refused before any output is written", "[fixed_point][polyprec]") {
    using kestrel_test::check_refusal;
    const auto A = fp::poisson_2d<double>(4);
    const fp::relaxation_matrix<double> M(A, true);
    const fp::relaxation_matrix<double> Mns(A);  // not checked symmetric
    const std::size_t n = 16;
    // Symmetric with positive diagonal but indefinite: eigenvalues 3 and -1.
    Eigen::MatrixXd Di(2, 2);
    Di << 1.0, 2.0, 2.0, 1.0;
    const Sparse Ai = from_dense(Di);
    const fp::relaxation_matrix<double> Mi(Ai, true);
    Eigen::MatrixXd Dneg(2, 2);
    Dneg << -2.0, 0.5, 0.5, 3.0;
    const Sparse An = from_dense(Dneg);
    const fp::relaxation_matrix<double> Mn(An, true);
    Eigen::SparseMatrix<double, Eigen::RowMajor, int> rect(3, 4);
    rect.insert(0, 0) = 1.0;
    rect.makeCompressed();
    const auto P = fp::make_symmetric_polynomial_preconditioner(M, 2);
    const auto Pbig = fp::symmetric_polynomial_preconditioner(16, std::vector<double>(18, 1.0));
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> b(n, 1.0), x(n, 0.5), z(n, 0.25), shortv(n - 1, 1.0), bnan = b, xinf = x;
    bnan[2] = nan;
    xinf[7] = std::numeric_limits<double>::infinity();
    std::vector<double> bi{1.0, -1.0}, xi{0.0, 0.0};
    fp::relaxation_options ok, bad_tol;
    bad_tol.rel_tol = -1.0;
    fp::power_trace_options hut0;
    hut0.method = fp::trace_method::hutchinson;
    hut0.probes = 0;
    fp::power_trace_options badpol;
    badpol.policy.threads = -1;
    fp::relaxation_workspace<double> ws;
    fp::krylov_workspace<double> kw;
    fp::fast_gradient_workspace<double> fw;
    fp::fast_gradient_options mu_neg, mu_big, mu_nan;
    mu_neg.strong_convexity = -0.1;
    mu_big.strong_convexity = 1.5;
    mu_nan.strong_convexity = nan;
    auto sig = [](std::initializer_list<double> v) { return std::vector<double>(v); };

    struct row {
        std::string function, argument;
        std::function<void()> call;
    };
    const std::vector<row> table = {
        {"relaxation_matrix", "A", [&] { fp::relaxation_matrix<double>{rect}; }},
        {"power_traces", "A", [&] { fp::power_traces(Mns, 3); }},
        {"power_traces", "kmax", [&] { fp::power_traces(M, 0); }},
        {"power_traces", "kmax", [&] { fp::power_traces(M, 35); }},
        {"power_traces", "options.probes", [&] { fp::power_traces(M, 2, hut0); }},
        {"power_traces", "policy.threads", [&] { fp::power_traces(M, 2, badpol); }},
        {"elementary_symmetric_from_traces", "p", [&] { fp::elementary_symmetric_from_traces({}); }},
        {"elementary_symmetric_from_traces", "p", [&] { fp::elementary_symmetric_from_traces({1.0, nan}); }},
        {"symmetric_polynomial_preconditioner", "tau", [&] { fp::symmetric_polynomial_preconditioner(0, sig({1.0, 2.0})); }},
        {"symmetric_polynomial_preconditioner", "tau", [&] { fp::symmetric_polynomial_preconditioner(17, std::vector<double>(19, 1.0)); }},
        {"symmetric_polynomial_preconditioner", "sigma", [&] { fp::symmetric_polynomial_preconditioner(2, sig({1.0, 2.0, 1.0})); }},
        {"symmetric_polynomial_preconditioner", "sigma", [&] { fp::symmetric_polynomial_preconditioner(1, sig({2.0, 2.0, 1.0})); }},
        {"symmetric_polynomial_preconditioner", "sigma", [&] { fp::symmetric_polynomial_preconditioner(1, sig({1.0, 2.0, -1.0})); }},
        {"symmetric_polynomial_preconditioner", "sigma", [&] { fp::symmetric_polynomial_preconditioner(1, sig({1.0, nan, 1.0})); }},
        {"make_symmetric_polynomial_preconditioner", "tau", [&] { fp::make_symmetric_polynomial_preconditioner(M, 0); }},
        {"make_symmetric_polynomial_preconditioner", "tau", [&] { fp::make_symmetric_polynomial_preconditioner(M, 17); }},
        {"make_symmetric_polynomial_preconditioner", "tau", [&] { fp::make_symmetric_polynomial_preconditioner(Mi, 2); }},
        {"make_symmetric_polynomial_preconditioner", "A", [&] { fp::make_symmetric_polynomial_preconditioner(Mns, 1); }},
        {"make_symmetric_polynomial_preconditioner", "A", [&] { fp::make_symmetric_polynomial_preconditioner(Mi, 1); }},
        {"make_symmetric_polynomial_preconditioner", "A", [&] { fp::make_symmetric_polynomial_preconditioner(Mn, 1); }},
        {"make_symmetric_polynomial_preconditioner", "options.probes", [&] { fp::make_symmetric_polynomial_preconditioner(M, 1, hut0); }},
        {"apply_symmetric_polynomial_preconditioner", "r", [&] { fp::apply_symmetric_polynomial_preconditioner(M, P, shortv, z, ws); }},
        {"apply_symmetric_polynomial_preconditioner", "z", [&] { fp::apply_symmetric_polynomial_preconditioner(M, P, b, shortv, ws); }},
        {"apply_symmetric_polynomial_preconditioner", "z", [&] {
             fp::apply_symmetric_polynomial_preconditioner(M, P, kestrel::vector_view<const double>(z.data(), n), z, ws);
         }},
        {"apply_symmetric_polynomial_preconditioner", "P", [&] { fp::apply_symmetric_polynomial_preconditioner(M, Pbig, b, z, ws); }},
        {"apply_symmetric_polynomial_preconditioner", "policy.threads", [&] {
             fp::apply_symmetric_polynomial_preconditioner(M, P, b, z, ws, kestrel::exec_policy{-2});
         }},
        {"symmetric_polynomial_gradient_solve", "b", [&] { fp::symmetric_polynomial_gradient_solve(M, shortv, x, P, ok, ws); }},
        {"symmetric_polynomial_gradient_solve", "x", [&] { fp::symmetric_polynomial_gradient_solve(M, b, shortv, P, ok, ws); }},
        {"symmetric_polynomial_gradient_solve", "b", [&] { fp::symmetric_polynomial_gradient_solve(M, bnan, x, P, ok, ws); }},
        {"symmetric_polynomial_gradient_solve", "x", [&] { fp::symmetric_polynomial_gradient_solve(M, b, xinf, P, ok, ws); }},
        {"symmetric_polynomial_gradient_solve", "x", [&] {
             fp::symmetric_polynomial_gradient_solve(M, kestrel::vector_view<const double>(x.data(), n), x, P, ok, ws);
         }},
        {"symmetric_polynomial_gradient_solve", "options.rel_tol", [&] { fp::symmetric_polynomial_gradient_solve(M, b, x, P, bad_tol, ws); }},
        {"symmetric_polynomial_gradient_solve", "P", [&] { fp::symmetric_polynomial_gradient_solve(M, b, x, Pbig, ok, ws); }},
        {"symmetric_polynomial_fast_gradient_solve", "fgm.strong_convexity", [&] { fp::symmetric_polynomial_fast_gradient_solve(M, b, x, P, ok, mu_neg, fw); }},
        {"symmetric_polynomial_fast_gradient_solve", "fgm.strong_convexity", [&] { fp::symmetric_polynomial_fast_gradient_solve(M, b, x, P, ok, mu_big, fw); }},
        {"symmetric_polynomial_fast_gradient_solve", "fgm.strong_convexity", [&] { fp::symmetric_polynomial_fast_gradient_solve(M, b, x, P, ok, mu_nan, fw); }},
        {"symmetric_polynomial_fast_gradient_solve", "b", [&] { fp::symmetric_polynomial_fast_gradient_solve(M, shortv, x, P, ok, {}, fw); }},
        {"symmetric_polynomial_fast_gradient_solve", "x", [&] { fp::symmetric_polynomial_fast_gradient_solve(M, b, xinf, P, ok, {}, fw); }},
        {"symmetric_polynomial_fast_gradient_solve", "x", [&] {
             fp::symmetric_polynomial_fast_gradient_solve(M, kestrel::vector_view<const double>(x.data(), n), x, P, ok, {}, fw);
         }},
        {"symmetric_polynomial_fast_gradient_solve", "options.rel_tol", [&] { fp::symmetric_polynomial_fast_gradient_solve(M, b, x, P, bad_tol, {}, fw); }},
        {"symmetric_polynomial_fast_gradient_solve", "P", [&] { fp::symmetric_polynomial_fast_gradient_solve(M, b, x, Pbig, ok, {}, fw); }},
        {"krylov_gradient_solve", "tau", [&] { fp::krylov_gradient_solve(M, b, x, 17, ok, kw); }},
        {"krylov_gradient_solve", "A", [&] { fp::krylov_gradient_solve(Mns, b, x, 1, ok, kw); }},
        {"krylov_gradient_solve", "A", [&] { fp::krylov_gradient_solve(Mn, bi, xi, 1, ok, kw); }},
        {"krylov_gradient_solve", "A", [&] { fp::krylov_gradient_solve(Mi, bi, xi, 1, ok, kw); }},
        {"krylov_gradient_solve", "b", [&] { fp::krylov_gradient_solve(M, bnan, x, 1, ok, kw); }},
        {"krylov_gradient_solve", "x", [&] { fp::krylov_gradient_solve(M, b, shortv, 1, ok, kw); }},
        {"krylov_gradient_solve", "options.rel_tol", [&] { fp::krylov_gradient_solve(M, b, x, 1, bad_tol, kw); }},
    };
    const auto x_before = x, z_before = z, xi_before = xi, xinf_before = xinf;
    for (const auto& r : table) {
        INFO(r.function << " / " << r.argument);
        check_refusal(r.function, r.argument, r.call);
        CHECK(x == x_before);
        CHECK(z == z_before);
        CHECK(xi == xi_before);
        CHECK(xinf[0] == xinf_before[0]);
    }
}
