// Sparse relaxation: every refusal (before any output is written), thread-count invariance,
// and the benchmark baselines against the kernels.
#include <catch2/catch.hpp>

#include <kestrel/fixed_point/chebyshev.hpp>
#include <kestrel/fixed_point/omega_bandit.hpp>
#include <kestrel/fixed_point/poisson_2d.hpp>
#include <kestrel/fixed_point/polynomial_preconditioner.hpp>
#include <kestrel/fixed_point/red_black.hpp>
#include <kestrel/fixed_point/sparse_relaxation.hpp>

#include <baselines/fixed_point_relaxation.hpp>
#include <validation_table.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_relaxation_util.hpp"

using namespace relax_test;
using kestrel_test::check_refusal;

TEST_CASE("relaxation validation: bad matrices, vectors and parameters are refused before any output is written", "[fixed_point][relaxation]") {
    const std::size_t N = 6, n = N * N;
    const auto A = fp::poisson_2d<double>(N);
    const fp::relaxation_matrix<double> M(A, true);
    const auto rb = fp::grid_red_black_coloring(M, N);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> b(n, 1.0), x(n, 0.5), x_short(n - 1, 0.5), b_short(n - 1, 1.0), x_out(n, 0.25);
    std::vector<double> b_nan = b, x_nan = x;
    b_nan[3] = nan;
    x_nan[5] = std::numeric_limits<double>::infinity();
    fp::relaxation_options ok;
    fp::relaxation_workspace<double> ws;

    // Raw CSR matrices: 2 x 2 unless stated.
    const int ptr_ok[] = {0, 2, 4};
    const int col_ok[] = {0, 1, 0, 1};
    const double val_ok[] = {2.0, -1.0, -1.0, 2.0};
    const int col_nodiag[] = {0, 1, 0, 0};
    const double val_zero[] = {2.0, -1.0, -1.0, 0.0};
    const double val_nan[] = {2.0, nan, -1.0, 2.0};
    const int col_range[] = {0, 2, 0, 1};
    const int ptr_decr[] = {0, 3, 2};
    const double val_asym[] = {2.0, -1.0, -0.5, 2.0};
    auto csr = [](std::size_t r, std::size_t c, const int* p, const int* ci, const double* v) {
        fp::csr_view<double> m;
        m.rows = r;
        m.cols = c;
        m.row_ptr = p;
        m.col_index = ci;
        m.values = v;
        return m;
    };
    Eigen::SparseMatrix<double, Eigen::RowMajor, int> uncompressed(3, 3);
    uncompressed.insert(0, 0) = 1.0;

    struct row {
        std::string function, argument;
        std::function<void()> call;
    };
    const std::vector<row> table = {
        {"relaxation_matrix", "A", [&] { fp::relaxation_matrix<double>(csr(2, 3, ptr_ok, col_ok, val_ok)); }},
        {"relaxation_matrix", "A", [&] { fp::relaxation_matrix<double>(csr(2, 2, ptr_ok, col_nodiag, val_ok)); }},
        {"relaxation_matrix", "A", [&] { fp::relaxation_matrix<double>(csr(2, 2, ptr_ok, col_ok, val_zero)); }},
        {"relaxation_matrix", "A.values", [&] { fp::relaxation_matrix<double>(csr(2, 2, ptr_ok, col_ok, val_nan)); }},
        {"relaxation_matrix", "A.col_index", [&] { fp::relaxation_matrix<double>(csr(2, 2, ptr_ok, col_range, val_ok)); }},
        {"relaxation_matrix", "A.row_ptr", [&] { fp::relaxation_matrix<double>(csr(2, 2, ptr_decr, col_ok, val_ok)); }},
        {"relaxation_matrix", "A", [&] { fp::relaxation_matrix<double>(csr(2, 2, ptr_ok, col_ok, val_asym), true); }},
        {"relaxation_matrix", "A", [&] { fp::relaxation_matrix<double>(csr(0, 0, ptr_ok, col_ok, val_ok)); }},
        {"relaxation_matrix", "A", [&] { fp::relaxation_matrix<double>{uncompressed}; }},
        {"jacobi_solve", "b", [&] { fp::jacobi_solve(M, b_short, x, ok, ws); }},
        {"jacobi_solve", "x", [&] { fp::jacobi_solve(M, b, x_short, ok, ws); }},
        {"jacobi_solve", "b", [&] { fp::jacobi_solve(M, b_nan, x, ok, ws); }},
        {"jacobi_solve", "x", [&] { fp::jacobi_solve(M, b, x_nan, ok, ws); }},
        {"jacobi_solve", "weight", [&] { fp::jacobi_solve(M, b, x, ok, ws, 1.5); }},
        {"jacobi_solve", "weight", [&] { fp::jacobi_solve(M, b, x, ok, ws, 0.0); }},
        {"jacobi_solve", "options.rel_tol", [&] { auto o = ok; o.rel_tol = -1e-6; fp::jacobi_solve(M, b, x, o, ws); }},
        {"jacobi_solve", "options.abs_tol", [&] { auto o = ok; o.abs_tol = nan; fp::jacobi_solve(M, b, x, o, ws); }},
        {"jacobi_solve", "options.check_every", [&] { auto o = ok; o.check_every = 0; fp::jacobi_solve(M, b, x, o, ws); }},
        {"jacobi_solve", "policy.threads", [&] { auto o = ok; o.policy.threads = -1; fp::jacobi_solve(M, b, x, o, ws); }},
        {"gauss_seidel_solve", "x", [&] { fp::gauss_seidel_solve(M, b, x_nan, ok, ws); }},
        {"sor_solve", "omega", [&] { fp::sor_solve(M, b, x, 0.0, ok, ws); }},
        {"sor_solve", "omega", [&] { fp::sor_solve(M, b, x, 2.0, ok, ws); }},
        {"sor_solve", "omega", [&] { fp::sor_solve(M, b, x, nan, ok, ws); }},
        {"sor_solve", "b", [&] { fp::sor_solve(M, b_nan, x, 1.5, ok, ws); }},
        {"ssor_solve", "omega", [&] { fp::ssor_solve(M, b, x, -0.5, ok, ws); }},
        {"ssor_solve", "options.rel_tol", [&] { auto o = ok; o.rel_tol = nan; fp::ssor_solve(M, b, x, 1.2, o, ws); }},
        {"jacobi_sweep", "x_out", [&] { fp::jacobi_sweep(M, b, x, x, ws); }},
        {"jacobi_sweep", "x_out", [&] { fp::jacobi_sweep(M, b, x, x_short, ws); }},
        {"sor_sweep", "omega", [&] { fp::sor_sweep(M, b, x, 2.5); }},
        {"sor_sweep", "b", [&] { fp::sor_sweep(M, b_short, x, 1.5); }},
        {"ssor_sweep", "x", [&] { fp::ssor_sweep(M, b, x_short, 1.5); }},
        {"red_black_coloring", "colors", [&] { fp::red_black_coloring(M, std::vector<std::uint8_t>(n, 0)); }},
        {"red_black_coloring", "colors", [&] { auto c = fp::grid_red_black_colors(N); c[7] = 2; fp::red_black_coloring(M, c); }},
        {"red_black_coloring", "colors", [&] { fp::red_black_coloring(M, std::vector<std::uint8_t>(n - 1, 0)); }},
        {"grid_red_black_coloring", "N", [&] { fp::grid_red_black_coloring(M, N + 1); }},
        {"red_black_sor_solve", "omega", [&] { fp::red_black_sor_solve(M, b, x, rb, 2.0, ok, ws); }},
        {"red_black_sor_solve", "coloring", [&] { fp::red_black_sor_solve(M, b, x, fp::red_black_coloring(), 1.0, ok, ws); }},
        {"red_black_sor_sweep", "x", [&] { fp::red_black_sor_sweep(M, b, x_short, rb, 1.0); }},
        {"chebyshev_jacobi_solve", "lambda_min", [&] { fp::chebyshev_jacobi_solve(M, b, x, 0.0, 2.0, ok, ws); }},
        {"chebyshev_jacobi_solve", "lambda_max", [&] { fp::chebyshev_jacobi_solve(M, b, x, 0.5, 0.5, ok, ws); }},
        {"chebyshev_jacobi_solve", "x", [&] { fp::chebyshev_jacobi_solve(M, b, x_nan, 0.1, 1.9, ok, ws); }},
        {"estimate_jacobi_spectrum", "A", [&] { fp::estimate_jacobi_spectrum(fp::relaxation_matrix<double>(A), 10); }},
        {"estimate_jacobi_spectrum", "steps", [&] { fp::estimate_jacobi_spectrum(M, 0); }},
        {"chebyshev_preconditioner", "lambda_min", [&] { fp::chebyshev_preconditioner(-1.0, 2.0, 3); }},
        {"chebyshev_preconditioner", "lambda_max", [&] { fp::chebyshev_preconditioner(1.0, nan, 3); }},
        {"polynomial_richardson_solve", "b", [&] { fp::polynomial_richardson_solve(M, b_nan, x, fp::chebyshev_preconditioner(0.1, 8.0, 2), ok, ws); }},
        {"apply_polynomial_preconditioner", "z", [&] { fp::apply_polynomial_preconditioner(M, fp::chebyshev_preconditioner(0.1, 8.0, 2), b, x_short, ws); }},
        {"omega_bandit", "grid", [&] { fp::omega_bandit(std::vector<double>{}, 10.0, 1); }},
        {"omega_bandit", "grid", [&] { fp::omega_bandit(std::vector<double>{1.0, 2.0}, 10.0, 1); }},
        {"omega_bandit", "max_cost", [&] { fp::omega_bandit(std::vector<double>{1.0}, 0.0, 1); }},
        {"omega_bandit", "learning_rate", [&] { fp::omega_bandit(std::vector<double>{1.0}, 1.0, 1, -1.0); }},
        {"omega_bandit::observe", "state", [&] { fp::omega_bandit bb(std::vector<double>{1.0}, 1.0, 1); bb.observe(0, 1.0); }},
        {"omega_bandit::observe", "cost", [&] { fp::omega_bandit bb(std::vector<double>{1.0}, 1.0, 1); bb.observe(bb.choose(), -1.0); }},
        {"omega_bandit::observe", "arm", [&] { fp::omega_bandit bb(std::vector<double>{1.0, 1.5}, 1.0, 1); bb.observe(bb.choose() ^ 1u, 1.0); }},
        {"omega_bandit::choose", "state", [&] { fp::omega_bandit bb(std::vector<double>{1.0}, 1.0, 1); bb.choose(); bb.choose(); }},
        {"poisson_2d", "N", [&] { fp::poisson_2d<double>(0); }},
        {"poisson_2d_rates", "shift", [&] { fp::poisson_2d_rates(4, -1.0); }},
    };
    for (const auto& r : table) {
        INFO(r.function << " / " << r.argument);
        check_refusal(r.function, r.argument, r.call);
    }
    // Outputs untouched by every refused call.
    for (double v : x) CHECK(v == 0.5);
    for (double v : x_out) CHECK(v == 0.25);
    for (double v : x_short) CHECK(v == 0.5);
}

TEST_CASE("relaxation: limits are honoured and never reported as converged", "[fixed_point][relaxation]") {
    const auto A = fp::poisson_2d<double>(16);
    const fp::relaxation_matrix<double> M(A);
    std::vector<double> b(256, 1.0), x(256, 0.0);
    fp::relaxation_options o;
    o.max_sweeps = 7;
    o.record_history = true;
    const auto j = fp::jacobi_solve(M, b, x, o);
    CHECK_FALSE(j.converged);
    CHECK(j.sweeps == 7);
    CHECK(j.history.size() == 8);  // the initial x and each of 7 sweeps
    // The reported residual is the returned x's.
    fp::relaxation_workspace<double> ws;
    CHECK(std::abs(std::sqrt(fp::residual_norm_squared(M, b, x, ws)) - j.residual_norm) <= 1e-12 * j.residual_norm);
    std::fill(x.begin(), x.end(), 0.0);
    o.check_every = 3;
    const auto s = fp::sor_solve(M, b, x, 1.5, o);
    CHECK_FALSE(s.converged);
    CHECK(s.sweeps == 7);
    CHECK(s.history.size() == 4);  // initial, after 3, 6 and the last (7)
    CHECK(s.passes == 7 + 4);
    CHECK(std::abs(std::sqrt(fp::residual_norm_squared(M, b, x, ws)) - s.residual_norm) <= 1e-12 * s.residual_norm);
    // Jacobi returns the iterate whose residual it measured.
    std::fill(x.begin(), x.end(), 0.0);
    o.max_sweeps = 100000;
    o.rel_tol = 1e-6;
    const auto jc = fp::jacobi_solve(M, b, x, o);
    CHECK(jc.converged);
    CHECK(std::abs(std::sqrt(fp::residual_norm_squared(M, b, x, ws)) - jc.residual_norm) <= 1e-12 * jc.residual_norm);
    CHECK(jc.passes == jc.sweeps + 1);
    // Already converged: zero sweeps.
    const auto again = fp::gauss_seidel_solve(M, b, x, o);
    CHECK(again.converged);
    CHECK(again.sweeps == 0);
}

TEST_CASE("relaxation: Jacobi, red-black and Chebyshev results are identical at 1, 2 and 3 threads", "[fixed_point][relaxation]") {
    // N = 160: 25600 rows, more than one parallel chunk (16384 rows) and 12800 rows per colour.
    const std::size_t N = optimized ? 160 : 136, n = N * N;
    const auto A = fp::poisson_2d<double>(N, 0.05);
    const fp::relaxation_matrix<double> M(A);
    const auto rb = fp::grid_red_black_coloring(M, N);
    const auto b = random_vector(n, 5);
    const auto rates = fp::poisson_2d_rates(N, 0.05);
    std::vector<std::vector<double>> out;
    std::vector<double> norms;
    for (int threads : {1, 2, 3}) {
        fp::relaxation_options o;
        o.max_sweeps = 25;
        o.rel_tol = 0.0;
        o.record_history = true;
        o.policy = kestrel::exec_policy::with_threads(threads);
        fp::relaxation_workspace<double> ws;
        std::vector<double> x1(n, 0.0), x2(n, 0.0), x3(n, 0.0);
        const auto r1 = fp::jacobi_solve(M, b, x1, o, ws);
        const auto r2 = fp::red_black_sor_solve(M, b, x2, rb, 1.4, o, ws);
        const auto r3 = fp::chebyshev_jacobi_solve(M, b, x3, rates.lambda_min, rates.lambda_max, o, ws);
        out.push_back(x1);
        out.push_back(x2);
        out.push_back(x3);
        for (const auto* r : {&r1, &r2, &r3}) norms.insert(norms.end(), r->history.begin(), r->history.end());
    }
    const std::size_t per = out.size() / 3, nh = norms.size() / 3;
    for (std::size_t t = 1; t < 3; ++t) {
        for (std::size_t k = 0; k < per; ++k) CHECK(out[t * per + k] == out[k]);
        for (std::size_t k = 0; k < nh; ++k) CHECK(norms[t * nh + k] == norms[k]);
    }
}

TEST_CASE("relaxation: the benchmark baselines agree with the kernels", "[fixed_point][relaxation]") {
    const std::size_t N = 40, n = N * N;
    const auto A = fp::poisson_2d<double>(N, 0.1);
    const fp::relaxation_matrix<double> M(A);
    const auto b = random_vector(n, 8);
    fp::relaxation_workspace<double> ws;
    // Jacobi: x_in + (b - A x_in) / d against D^-1 (b - R x_in): equal up to rounding.
    const kestrel_baseline::eigen_jacobi<double> J(A);
    std::vector<double> xk(n, 0.0), xk2(n);
    Eigen::VectorXd xb = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(n)), xb2(static_cast<Eigen::Index>(n));
    const Eigen::Map<const Eigen::VectorXd> bm(b.data(), static_cast<Eigen::Index>(n));
    const Eigen::VectorXd be = bm;
    for (int s = 0; s < 20; ++s) {
        fp::jacobi_sweep(M, b, xk, xk2, ws);
        xk.swap(xk2);
        J.sweep(be, xb, xb2);
        xb.swap(xb2);
    }
    double dj = 0.0, scale = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        dj = std::max(dj, std::abs(xk[i] - xb[static_cast<Eigen::Index>(i)]));
        scale = std::max(scale, std::abs(xk[i]));
    }
    CHECK(dj <= 1e-13 * scale);
    // Gauss-Seidel: the textbook loop against the kernel.
    std::vector<double> g1(n, 0.0), g2(n, 0.0);
    for (int s = 0; s < 20; ++s) {
        fp::gauss_seidel_sweep(M, b, g1);
        kestrel_baseline::csr_gauss_seidel_sweep(A, b.data(), g2.data());
    }
    double dg = 0.0;
    for (std::size_t i = 0; i < n; ++i) dg = std::max(dg, std::abs(g1[i] - g2[i]));
    CHECK(dg <= 1e-13 * scale);
    // float: the same within float rounding.
    const auto Af = fp::poisson_2d<float>(N, 0.1);
    const fp::relaxation_matrix<float> Mf(Af);
    std::vector<float> bf(b.begin(), b.end()), f1(n, 0.0f), f2(n, 0.0f);
    for (int s = 0; s < 5; ++s) {
        fp::gauss_seidel_sweep(Mf, bf, f1);
        kestrel_baseline::csr_gauss_seidel_sweep(Af, bf.data(), f2.data());
    }
    for (std::size_t i = 0; i < n; ++i) CHECK(std::abs(f1[i] - f2[i]) <= 1e-5f * (1.0f + std::abs(f2[i])));
}
