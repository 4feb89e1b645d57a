// The bandwidth-oriented relaxation kernels: the lexicographic SOR sweep whose row-to-row chain
// is one multiply-add (sor_row_chained) against a textbook reference on irregular matrices, and
// the colour-ordered red-black matrix (red_black_ordered.hpp) against the index-list red-black
// sweep (bit for bit, up to the permutation), at 1, 2 and 3 threads, its convergence rate
// against lexicographic Gauss-Seidel, its benchmark baseline, and its refusals.
#include <catch2/catch.hpp>

#include <kestrel/core/random.hpp>
#include <kestrel/fixed_point/poisson_2d.hpp>
#include <kestrel/fixed_point/red_black.hpp>
#include <kestrel/fixed_point/red_black_ordered.hpp>
#include <kestrel/fixed_point/sparse_relaxation.hpp>

#include <baselines/fixed_point_relaxation.hpp>
#include <validation_table.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_relaxation_util.hpp"

using namespace relax_test;

namespace {

/// A CSR matrix of owned arrays.
template <class T>
struct owned_csr {
    std::size_t n = 0;
    std::vector<int> ptr, col;
    std::vector<T> val;
    fp::csr_view<T> view() const {
        fp::csr_view<T> v;
        v.rows = v.cols = n;
        v.row_ptr = ptr.data();
        v.col_index = col.data();
        v.values = val.data();
        return v;
    }
};

/// Irregular, strictly diagonally dominant rows: 0 to 6 off-diagonal entries at random columns
/// (within a band of 40, so rows interact), columns in random storage order, and on purpose
/// rows with a_{i,i-1} and a_{i,i+1} stored twice, rows without them, and the diagonal
/// anywhere in the row. Exercises every branch of the chained row.
owned_csr<double> irregular_matrix(std::size_t n, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 3);
    std::uint64_t draw = 0;
    auto u = [&] { return rng.uniform_double(draw++); };
    owned_csr<double> A;
    A.n = n;
    A.ptr.push_back(0);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::pair<int, double>> row;
        double off = 0.0;
        auto add = [&](std::size_t j) {
            const double v = u() * 2.0 - 1.0;
            row.emplace_back(static_cast<int>(j), v);
            off += std::abs(v);
        };
        const int kind = static_cast<int>(u() * 4.0);  // 0: no neighbours, 1: once, 2: twice, 3: random only
        for (int rep = 0; rep < (kind == 1 ? 1 : kind == 2 ? 2 : 0); ++rep) {
            if (i > 0) add(i - 1);
            if (i + 1 < n) add(i + 1);
        }
        const int extra = static_cast<int>(u() * 5.0);
        for (int e = 0; e < extra; ++e) {
            const auto j = static_cast<std::size_t>(std::min<double>(double(n - 1), std::max(0.0, double(i) + std::floor(u() * 81.0) - 40.0)));
            if (j != i) add(j);
        }
        row.emplace_back(static_cast<int>(i), off + 0.5 + u());
        // Random storage order (Fisher-Yates with the counter stream).
        for (std::size_t k = row.size(); k > 1; --k) std::swap(row[k - 1], row[static_cast<std::size_t>(u() * double(k))]);
        for (const auto& [j, v] : row) {
            A.col.push_back(j);
            A.val.push_back(v);
        }
        A.ptr.push_back(static_cast<int>(A.col.size()));
    }
    return A;
}

/// Textbook SOR sweep in long double, reading every x_j from memory.
void reference_sor(const owned_csr<double>& A, const std::vector<double>& b, std::vector<long double>& x, double omega,
                   bool forward) {
    const std::size_t n = A.n;
    for (std::size_t q = 0; q < n; ++q) {
        const std::size_t i = forward ? q : n - 1 - q;
        long double s = b[i], d = 1;
        for (int k = A.ptr[i]; k < A.ptr[i + 1]; ++k) {
            const auto j = static_cast<std::size_t>(A.col[static_cast<std::size_t>(k)]);
            if (j == i)
                d = A.val[static_cast<std::size_t>(k)];
            else
                s -= static_cast<long double>(A.val[static_cast<std::size_t>(k)]) * x[j];
        }
        x[i] += static_cast<long double>(omega) * (s - d * x[i]) / d;
    }
}

/// A random proper 2-colouring problem that is not a grid: colours at random, off-diagonal
/// couplings only between rows of different colours (symmetric values), a few stored zeros
/// between rows of the same colour (allowed by the colouring), diagonally dominant.
template <class T>
Eigen::SparseMatrix<T, Eigen::RowMajor, int> bipartite_matrix(std::size_t n, std::vector<std::uint8_t>& colors,
                                                              std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 5);
    std::uint64_t draw = 0;
    auto u = [&] { return rng.uniform_double(draw++); };
    colors.resize(n);
    for (auto& c : colors) c = u() < 0.45 ? 0 : 1;
    std::vector<Eigen::Triplet<T, int>> t;
    std::vector<double> off(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (int e = 0; e < 3; ++e) {
            const auto j = static_cast<std::size_t>(u() * double(n));
            if (j == i) continue;
            if (colors[i] == colors[j]) {
                if (e == 0) {
                    t.emplace_back(int(i), int(j), T(0));
                    t.emplace_back(int(j), int(i), T(0));
                }
                continue;
            }
            const T v = static_cast<T>(u() - 0.5);
            t.emplace_back(int(i), int(j), v);
            t.emplace_back(int(j), int(i), v);
            off[i] += std::abs(double(v));
            off[j] += std::abs(double(v));
        }
    for (std::size_t i = 0; i < n; ++i) t.emplace_back(int(i), int(i), static_cast<T>(off[i] + 0.25));
    Eigen::SparseMatrix<T, Eigen::RowMajor, int> A(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
    A.setFromTriplets(t.begin(), t.end());  // duplicates summed (zeros stay explicit zeros)
    A.makeCompressed();
    return A;
}

template <class T>
std::vector<T> cast_vector(const std::vector<double>& v) {
    return std::vector<T>(v.begin(), v.end());
}

/// k index-list sweeps against k colour-ordered sweeps from the same x: identical bits.
template <class T>
void check_ordered_equals_index_lists(const Eigen::SparseMatrix<T, Eigen::RowMajor, int>& A,
                                      const std::vector<std::uint8_t>& colors, double omega, int sweeps, int threads) {
    const fp::relaxation_matrix<T> M(A);
    const fp::red_black_coloring rb(M, colors);
    const fp::red_black_ordered_matrix<T> P(M, rb);
    const std::size_t n = M.size();
    const auto b = cast_vector<T>(random_vector(n, 21));
    std::vector<T> x = cast_vector<T>(random_vector(n, 22)), bo(n), xo(n), back(n);
    const auto policy = kestrel::exec_policy::with_threads(threads);
    fp::to_red_black_order(P, b, bo, policy);
    fp::to_red_black_order(P, x, xo, policy);
    for (int s = 0; s < sweeps; ++s) {
        fp::red_black_sor_sweep(M, b, x, rb, omega, policy);
        fp::red_black_sor_sweep(P, bo, xo, omega, policy);
    }
    fp::from_red_black_order(P, xo, back, policy);
    CHECK(back == x);
    // The sweeps did something (x moved away from its start).
    CHECK(x != cast_vector<T>(random_vector(n, 22)));
}

}  // namespace

TEST_CASE("relaxation: chained lexicographic SOR sweeps agree with a textbook reference on irregular matrices", "[fixed_point][relaxation]") {
    const std::size_t n = 400;
    const auto A = irregular_matrix(n, 17);
    const fp::relaxation_matrix<double> M(A.view());
    const auto b = random_vector(n, 4);
    for (double omega : {1.0, 1.45, 0.7}) {
        for (int mode = 0; mode < 3; ++mode) {  // forward, backward, symmetric
            std::vector<double> x = random_vector(n, 9);
            std::vector<long double> r(x.begin(), x.end());
            for (int s = 0; s < 6; ++s) {
                if (mode == 0) {
                    fp::sor_sweep(M, b, x, omega, fp::sweep_direction::forward);
                    reference_sor(A, b, r, omega, true);
                } else if (mode == 1) {
                    fp::sor_sweep(M, b, x, omega, fp::sweep_direction::backward);
                    reference_sor(A, b, r, omega, false);
                } else {
                    fp::ssor_sweep(M, b, x, omega);
                    reference_sor(A, b, r, omega, true);
                    reference_sor(A, b, r, omega, false);
                }
            }
            double err = 0.0, scale = 0.0;
            for (std::size_t i = 0; i < n; ++i) {
                err = std::max(err, std::abs(static_cast<double>(static_cast<long double>(x[i]) - r[i])));
                scale = std::max(scale, std::abs(static_cast<double>(r[i])));
            }
            INFO("omega " << omega << " mode " << mode << " max error " << err << " scale " << scale);
            // A row that used the wrong neighbour value, dropped a duplicate entry or read x_{i-1}
            // where none is stored would be off by O(scale).
            CHECK(err <= 1e-13 * scale);
        }
    }
    // Gauss-Seidel equals SOR at omega = 1 bit for bit (the same kernel).
    std::vector<double> g = random_vector(n, 9), s1 = g;
    fp::gauss_seidel_sweep(M, b, g);
    fp::sor_sweep(M, b, s1, 1.0);
    CHECK(g == s1);
}

TEST_CASE("relaxation: a row without a stored neighbour never reads it (an infinite neighbour does not leak)", "[fixed_point][relaxation]") {
    // Diagonal rows 0 and 1; row 2 couples to row 1 only. With b_0 = inf, x_0 becomes inf; row
    // 1 has no a_{1,0}, so x_1 must stay finite (0 * inf would make it NaN).
    const int ptr[] = {0, 1, 2, 4};
    const int col[] = {0, 1, 1, 2};
    const double val[] = {2.0, 4.0, -1.0, 3.0};
    fp::csr_view<double> v;
    v.rows = v.cols = 3;
    v.row_ptr = ptr;
    v.col_index = col;
    v.values = val;
    const fp::relaxation_matrix<double> M(v);
    std::vector<double> b = {std::numeric_limits<double>::infinity(), 8.0, 3.0}, x(3, 0.0);
    fp::gauss_seidel_sweep(M, b, x);
    CHECK(std::isinf(x[0]));
    CHECK(x[1] == 2.0);
    CHECK(std::abs(x[2] - 5.0 / 3.0) < 1e-15);
}

TEST_CASE("relaxation: colour-ordered red-black sweeps equal the index-list sweeps bit for bit", "[fixed_point][relaxation]") {
    for (double omega : {1.0, 1.6}) {
        for (std::size_t N : {std::size_t(33), std::size_t(40)}) {  // odd and even grids
            const auto colors = fp::grid_red_black_colors(N);
            check_ordered_equals_index_lists(fp::poisson_2d<double>(N, 0.1), colors, omega, 7, 1);
            check_ordered_equals_index_lists(fp::poisson_2d<float>(N, 0.1), colors, omega, 7, 1);
        }
        std::vector<std::uint8_t> colors;
        const auto Ad = bipartite_matrix<double>(500, colors, 3);
        check_ordered_equals_index_lists(Ad, colors, omega, 7, 1);
        const auto Af = bipartite_matrix<float>(500, colors, 3);
        check_ordered_equals_index_lists(Af, colors, omega, 7, 1);
    }
}

TEST_CASE("relaxation: colour-ordered red-black sweeps and solves are identical at 1, 2 and 3 threads", "[fixed_point][relaxation]") {
    // N = 160: 12800 rows per colour, two parallel chunks of 8192 rows (min_chunk).
    const std::size_t N = optimized ? 160 : 136, n = N * N;
    const auto A = fp::poisson_2d<double>(N, 0.05);
    const auto colors = fp::grid_red_black_colors(N);
    for (int threads : {1, 2, 3}) check_ordered_equals_index_lists(A, colors, 1.3, 4, threads);
    const fp::relaxation_matrix<double> M(A);
    const auto rb = fp::grid_red_black_coloring(M, N);
    const fp::red_black_ordered_matrix<double> P(M, rb);
    const auto b = random_vector(n, 5);
    std::vector<std::vector<double>> xs, hs;
    std::vector<double> x_lists;
    for (int threads : {1, 2, 3}) {
        fp::relaxation_options o;
        o.max_sweeps = 25;
        o.rel_tol = 0.0;
        o.record_history = true;
        o.policy = kestrel::exec_policy::with_threads(threads);
        fp::relaxation_workspace<double> ws;
        std::vector<double> x(n, 0.0);
        const auto r = fp::red_black_sor_solve(P, b, x, 1.4, o, ws);
        CHECK(r.sweeps == 25);
        CHECK_FALSE(r.converged);
        xs.push_back(x);
        hs.push_back(r.history);
        if (threads == 1) {
            // The index-list solver from the same start: the same iterate, the same residuals up
            // to summation order.
            std::vector<double> y(n, 0.0);
            const auto q = fp::red_black_sor_solve(M, b, y, rb, 1.4, o, ws);
            CHECK(y == x);
            REQUIRE(q.history.size() == r.history.size());
            for (std::size_t k = 0; k < q.history.size(); ++k)
                CHECK(std::abs(q.history[k] - r.history[k]) <= 1e-12 * q.history[k]);
        }
    }
    CHECK(xs[1] == xs[0]);
    CHECK(xs[2] == xs[0]);
    CHECK(hs[1] == hs[0]);
    CHECK(hs[2] == hs[0]);
}

TEST_CASE("relaxation: colour-ordered red-black GS contracts at the lexicographic GS rate, SOR at omega_opt - 1", "[fixed_point][relaxation]") {
    const std::size_t N = 48, n = N * N;
    const auto A = fp::poisson_2d<double>(N);
    const fp::relaxation_matrix<double> M(A);
    const auto rates = fp::poisson_2d_rates(N);
    const auto P = fp::red_black_ordered_matrix<double>(M, fp::grid_red_black_coloring(M, N));
    const auto xstar = random_vector(n, 12);
    const auto b = multiply(A, xstar);
    std::vector<double> bo(n), xso(n);
    fp::to_red_black_order(P, b, bo);
    fp::to_red_black_order(P, xstar, xso);  // the error norm is invariant under the permutation
    const double r_rb = measured_rate(std::vector<double>(n, 0.0), xso, 600, 1200,
                                      [&](std::vector<double>& x) { fp::red_black_sor_sweep(P, bo, x, 1.0); });
    const double r_lex = measured_rate(std::vector<double>(n, 0.0), xstar, 600, 1200,
                                       [&](std::vector<double>& x) { fp::gauss_seidel_sweep(M, b, x); });
    INFO("red-black GS " << r_rb << " lexicographic GS " << r_lex << " predicted " << rates.rho_gs);
    CHECK(std::abs(r_rb / r_lex - 1.0) < 0.005);
    CHECK(std::abs(r_rb / rates.rho_gs - 1.0) < 0.005);
    const double r_sor = measured_rate(std::vector<double>(n, 0.0), xso, 60, 150,
                                       [&](std::vector<double>& x) { fp::red_black_sor_sweep(P, bo, x, rates.omega_opt); });
    INFO("red-black SOR " << r_sor << " predicted " << rates.rho_sor);
    CHECK(r_sor >= rates.rho_sor * 0.999);
    CHECK(r_sor <= rates.rho_sor * 1.025);
    // A converging solve meets its tolerance in user order.
    fp::relaxation_options o;
    o.rel_tol = 1e-9;
    std::vector<double> x(n, 0.0);
    fp::relaxation_workspace<double> ws;
    const auto res = fp::red_black_sor_solve(P, b, x, rates.omega_opt, o, ws);
    CHECK(res.converged);
    const double rn = std::sqrt(fp::residual_norm_squared(M, b, x, ws));
    double bb = 0.0;
    for (double v : b) bb += v * v;
    CHECK(rn <= 1e-9 * std::sqrt(bb) * (1.0 + 1e-6));
    // The solver's residual (summed in colour order) against the one summed in user order: the
    // same up to rounding of terms of size ||b|| (the residual itself is 1e-9 ||b||).
    CHECK(std::abs(rn - res.residual_norm) <= 1e-13 * std::sqrt(bb));
}

TEST_CASE("relaxation: the textbook red-black baseline agrees with the colour-ordered kernel", "[fixed_point][relaxation]") {
    const std::size_t N = 40, n = N * N;
    const auto A = fp::poisson_2d<double>(N, 0.1);
    const fp::relaxation_matrix<double> M(A);
    const auto colors = fp::grid_red_black_colors(N);
    const fp::red_black_ordered_matrix<double> P(M, fp::red_black_coloring(M, colors));
    const auto b = random_vector(n, 8);
    std::vector<double> xb(n, 0.0), bo(n), xo(n, 0.0), back(n);
    fp::to_red_black_order(P, b, bo);
    for (int s = 0; s < 20; ++s) {
        kestrel_baseline::csr_red_black_sor_sweep(A, colors.data(), b.data(), xb.data(), 1.5);
        fp::red_black_sor_sweep(P, bo, xo, 1.5);
    }
    fp::from_red_black_order(P, xo, back);
    double d = 0.0, scale = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        d = std::max(d, std::abs(back[i] - xb[i]));
        scale = std::max(scale, std::abs(xb[i]));
    }
    CHECK(scale > 0.1);
    CHECK(d <= 1e-13 * scale);
}

TEST_CASE("relaxation validation: the colour-ordered red-black entry points refuse bad input before writing", "[fixed_point][relaxation]") {
    const std::size_t N = 6, n = N * N;
    const auto A = fp::poisson_2d<double>(N);
    const fp::relaxation_matrix<double> M(A);
    const auto rb = fp::grid_red_black_coloring(M, N);
    const fp::red_black_ordered_matrix<double> P(M, rb);
    // A colouring that is proper for the identity but not for A.
    Eigen::SparseMatrix<double, Eigen::RowMajor, int> D(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
    D.setIdentity();
    D.makeCompressed();
    const fp::relaxation_matrix<double> MD(D);
    const fp::red_black_coloring all_zero(MD, std::vector<std::uint8_t>(n, 0));
    const fp::red_black_coloring small = fp::grid_red_black_coloring(fp::relaxation_matrix<double>(fp::poisson_2d<double>(5)), 5);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> b(n, 1.0), x(n, 0.5), x_short(n - 1, 0.5), x_nan(n, 0.5), out(n, 0.25);
    x_nan[4] = nan;
    fp::relaxation_options ok;
    fp::relaxation_workspace<double> ws;
    const fp::red_black_ordered_matrix<double> empty;
    using kestrel_test::check_refusal;
    struct row {
        std::string function, argument;
        std::function<void()> call;
    };
    const std::vector<row> table = {
        {"red_black_ordered_matrix", "coloring", [&] { fp::red_black_ordered_matrix<double>(M, all_zero); }},
        {"red_black_ordered_matrix", "coloring", [&] { fp::red_black_ordered_matrix<double>(M, small); }},
        {"red_black_ordered_matrix", "coloring", [&] { fp::red_black_ordered_matrix<double>(M, fp::red_black_coloring()); }},
        {"to_red_black_order", "v", [&] { fp::to_red_black_order(P, x_short, out); }},
        {"to_red_black_order", "out", [&] { fp::to_red_black_order(P, b, x_short); }},
        {"to_red_black_order", "out", [&] { fp::to_red_black_order(P, out, out); }},
        {"to_red_black_order", "P", [&] { fp::to_red_black_order(empty, b, out); }},
        {"from_red_black_order", "out", [&] { fp::from_red_black_order(P, b, x_short); }},
        {"from_red_black_order", "policy.threads", [&] { fp::from_red_black_order(P, b, out, kestrel::exec_policy{-2}); }},
        {"red_black_sor_sweep", "omega", [&] { fp::red_black_sor_sweep(P, b, out, 2.0); }},
        {"red_black_sor_sweep", "x", [&] { fp::red_black_sor_sweep(P, b, x_short, 1.0); }},
        {"red_black_sor_sweep", "b", [&] { fp::red_black_sor_sweep(P, x_short, out, 1.0); }},
        {"red_black_sor_sweep", "x", [&] { fp::red_black_sor_sweep(P, out, out, 1.0); }},
        {"red_black_sor_sweep", "P", [&] { fp::red_black_sor_sweep(empty, b, out, 1.0); }},
        {"red_black_sor_solve", "x", [&] { fp::red_black_sor_solve(P, b, x_nan, 1.0, ok, ws); }},
        {"red_black_sor_solve", "x", [&] { fp::red_black_sor_solve(P, b, x_short, 1.0, ok, ws); }},
        {"red_black_sor_solve", "omega", [&] { fp::red_black_sor_solve(P, b, out, 0.0, ok, ws); }},
        {"red_black_sor_solve", "options.check_every", [&] { auto o = ok; o.check_every = 0; fp::red_black_sor_solve(P, b, out, 1.0, o, ws); }},
        {"red_black_sor_solve", "policy.threads", [&] { auto o = ok; o.policy.threads = -1; fp::red_black_sor_solve(P, b, out, 1.0, o, ws); }},
    };
    for (const auto& r : table) {
        INFO(r.function << " / " << r.argument);
        check_refusal(r.function, r.argument, r.call);
    }
    for (double v : out) CHECK(v == 0.25);
    for (double v : x_short) CHECK(v == 0.5);
    for (std::size_t i = 0; i < n; ++i)
        if (i != 4) CHECK(x_nan[i] == 0.5);
}
