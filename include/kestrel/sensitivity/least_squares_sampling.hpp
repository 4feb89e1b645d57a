// Weighted least squares from few samples (A. Nouy, B. Michel, "Weighted least-squares
// approximation with determinantal point processes and generalized volume sampling", 2023;
// M. Derezinski, M. K. Warmuth, D. Hsu, volume-rescaled sampling).
//
// Setting: A (n x d) holds the d features (basis functions) evaluated at n candidate points,
// y (n) the function values there; the best approximation is the full least-squares fit
// min_c ||y - A c||_2^2. With Q an orthonormal basis of range(A) (thin QR), the optimal
// (Christoffel) sampling density with respect to the uniform measure on the candidates is
// rho_i = n tau_i / r (tau_i = ||Q_i||^2 the leverage scores, r = rank A), i.e. the draw
// probability q_i = tau_i / r; the weight function is w = 1 / rho.
//
// Weight convention here: a sample is rows x_1..x_m with weights 1 / (m q_{x_j}), so that
// sum_j (y_{x_j} - a_{x_j} c)^2 / (m q_{x_j}) estimates sum_i (y_i - a_i c)^2 without bias.
// (The paper's weights w(x_j) / m = r / (m n tau) are these divided by n: same minimizer.)
//
//   optimal_density_sample    m i.i.d. draws from q (Section 2 of the paper).
//   projection_dpp_sample     the projection DPP with kernel K = Q Q^T (r points, no repeats),
//                             by the sequential chain-rule algorithm (Hough, Krishnapur, Peres,
//                             Virag, Algorithm 18; Gram-Schmidt form): draw i with probability
//                             ||P_j q_i||^2 / (r - j), P_j the projector onto the orthogonal
//                             complement of the j directions already chosen, then update.
//   volume_rescaled_sample    generalized volume-rescaled sampling of size m >= r with the
//                             optimal density (the paper's Definition of volume-rescaled
//                             sampling, via its decomposition, Derezinski-Warmuth-Hsu): the r
//                             points of the projection DPP of the rho-weighted features, which
//                             for the optimal density is the DPP of K = Q Q^T, plus m - r i.i.d.
//                             draws from q; every point weighted 1 / (m q).
//   uniform_sample            m i.i.d. uniform draws, weights n / m (the baseline).
//   weighted_least_squares    c minimizing sum_j weight_j (y_{x_j} - a_{x_j} c)^2 (QR with
//                             column pivoting of the sampled rows scaled by sqrt(weight)).
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "alias_table.hpp"
#include "detail/matrix_common.hpp"
#include "leverage_scores.hpp"

namespace kestrel::sensitivity {

/// Sampled candidate rows and their least-squares weights (see the header comment).
struct weighted_sample {
    std::vector<std::size_t> rows;
    std::vector<double> weights;
    std::size_t rank = 0;  ///< rank of A used to build the sample
};

namespace detail {

/// The projection DPP of K = Q Q^T (Q: n x r, orthonormal columns): r distinct rows.
/// Draw j uses uniform_double(j) of `rng`.
inline std::vector<std::size_t> projection_dpp(const Eigen::MatrixXd& Q, const counter_rng& rng, exec_policy policy) {
    const Eigen::Index n = Q.rows(), r = Q.cols();
    std::vector<double> s(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) s[static_cast<std::size_t>(i)] = Q.row(i).squaredNorm();
    std::vector<std::size_t> chosen;
    std::vector<char> taken(static_cast<std::size_t>(n), 0);
    Eigen::MatrixXd C(r, r);  // orthonormal directions chosen so far (columns)
    for (Eigen::Index j = 0; j < r; ++j) {
        // The conditional law: s_i / sum(s) (sum(s) = r - j up to rounding).
        double total = 0.0;
        for (double v : s) total += v;
        const double target = rng.uniform_double(static_cast<std::uint64_t>(j)) * total;
        double cum = 0.0;
        std::size_t pick = SIZE_MAX, last = SIZE_MAX;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] <= 0.0) continue;
            cum += s[i];
            last = i;
            if (target < cum) {
                pick = i;
                break;
            }
        }
        if (pick == SIZE_MAX) pick = last;
        // Gram-Schmidt: the part of q_pick orthogonal to the chosen directions.
        Eigen::VectorXd c = Q.row(static_cast<Eigen::Index>(pick)).transpose();
        for (int pass = 0; pass < 2; ++pass)  // twice is enough (Kahan-Parlett)
            for (Eigen::Index l = 0; l < j; ++l) c -= C.col(l).dot(c) * C.col(l);
        c /= c.norm();
        C.col(j) = c;
        chosen.push_back(pick);
        taken[pick] = 1;
        // s_i -= (q_i . c)^2, elementwise over rows (the result does not depend on the split).
        parallel_chunks(static_cast<std::size_t>(n), 1, policy, [&](std::size_t i0, std::size_t i1) {
            for (std::size_t i = i0; i < i1; ++i) {
                if (taken[i]) {
                    s[i] = 0.0;
                    continue;
                }
                const double t = Q.row(static_cast<Eigen::Index>(i)).dot(c);
                s[i] = std::max(0.0, s[i] - t * t);
            }
        });
    }
    return chosen;
}

inline void check_m(std::size_t m, const char* f) { require(m >= 1, f, "m", "must be >= 1, got ", m); }

}  // namespace detail

/// m i.i.d. draws from the optimal density q_i = tau_i / r (exact leverage scores), weights
/// 1 / (m q_i). Draw j is draw j of counter_rng(seed, 5).
template <class Derived>
weighted_sample optimal_density_sample(const Eigen::MatrixBase<Derived>& A, std::size_t m, std::uint64_t seed,
                                       exec_policy policy = {}) {
    const char* f = "optimal_density_sample";
    detail::check_m(m, f);
    detail::check_matrix(A, f, "A", false, policy);
    std::vector<double> tau(static_cast<std::size_t>(A.rows()));
    const std::size_t r = detail::exact_leverage_unchecked(A, tau.data(), policy).rank;
    require(r > 0, f, "A", "is zero (no basis to sample for)");
    const alias_table table(vector_view<const double>(tau), policy);
    weighted_sample s;
    s.rank = r;
    s.rows.resize(m);
    sample_with_replacement(table, m, counter_rng(seed, 5), vector_view<std::size_t>(s.rows), policy);
    s.weights.resize(m);
    for (std::size_t j = 0; j < m; ++j)
        s.weights[j] = static_cast<double>(r) / (static_cast<double>(m) * tau[s.rows[j]]);
    return s;
}

/// The projection DPP of K = Q Q^T: r = rank(A) distinct rows; inclusion probability of row i
/// is K_ii = tau_i. Weights 1 / (r q_i) = 1 / tau_i (the m = r case of the convention).
/// Uses counter_rng(seed, 6).
template <class Derived>
weighted_sample projection_dpp_sample(const Eigen::MatrixBase<Derived>& A, std::uint64_t seed, exec_policy policy = {}) {
    const char* f = "projection_dpp_sample";
    detail::check_matrix(A, f, "A", false, policy);
    const Eigen::MatrixXd Q = detail::orthonormal_basis(A, policy);
    require(Q.cols() > 0, f, "A", "is zero (no basis to sample for)");
    weighted_sample s;
    s.rank = static_cast<std::size_t>(Q.cols());
    s.rows = detail::projection_dpp(Q, counter_rng(seed, 6), policy);
    s.weights.resize(s.rows.size());
    for (std::size_t j = 0; j < s.rows.size(); ++j)
        s.weights[j] = 1.0 / Q.row(static_cast<Eigen::Index>(s.rows[j])).squaredNorm();
    return s;
}

/// Generalized volume-rescaled sampling of size m >= rank(A) with the optimal density: the
/// projection DPP's r rows (counter_rng(seed, 6)) followed by m - r i.i.d. draws from
/// q = tau / r (counter_rng(seed, 5)); every row weighted 1 / (m q_i).
template <class Derived>
weighted_sample volume_rescaled_sample(const Eigen::MatrixBase<Derived>& A, std::size_t m, std::uint64_t seed,
                                       exec_policy policy = {}) {
    const char* f = "volume_rescaled_sample";
    detail::check_m(m, f);
    detail::check_matrix(A, f, "A", false, policy);
    const Eigen::MatrixXd Q = detail::orthonormal_basis(A, policy);
    const std::size_t r = static_cast<std::size_t>(Q.cols());
    require(r > 0, f, "A", "is zero (no basis to sample for)");
    require(m >= r, f, "m", "must be >= rank(A) = ", r, ", got ", m);
    std::vector<double> tau(static_cast<std::size_t>(Q.rows()));
    for (Eigen::Index i = 0; i < Q.rows(); ++i) tau[static_cast<std::size_t>(i)] = Q.row(i).squaredNorm();
    weighted_sample s;
    s.rank = r;
    s.rows = detail::projection_dpp(Q, counter_rng(seed, 6), policy);
    if (m > r) {
        const alias_table table(vector_view<const double>(tau), policy);
        std::vector<std::size_t> extra(m - r);
        sample_with_replacement(table, m - r, counter_rng(seed, 5), vector_view<std::size_t>(extra), policy);
        s.rows.insert(s.rows.end(), extra.begin(), extra.end());
    }
    s.weights.resize(m);
    for (std::size_t j = 0; j < m; ++j)
        s.weights[j] = static_cast<double>(r) / (static_cast<double>(m) * tau[s.rows[j]]);
    return s;
}

/// m i.i.d. uniform draws among n candidates (draw j: uniform_double(j) of counter_rng(seed, 8)),
/// weights n / m.
inline weighted_sample uniform_sample(std::size_t n, std::size_t m, std::uint64_t seed) {
    const char* f = "uniform_sample";
    detail::check_m(m, f);
    require(n >= 1, f, "n", "must be >= 1, got ", n);
    const counter_rng rng(seed, 8);
    weighted_sample s;
    s.rows.resize(m);
    s.weights.assign(m, static_cast<double>(n) / static_cast<double>(m));
    for (std::size_t j = 0; j < m; ++j) {
        const std::size_t i = static_cast<std::size_t>(rng.uniform_double(j) * static_cast<double>(n));
        s.rows[j] = std::min(i, n - 1);
    }
    return s;
}

/// Result of weighted_least_squares.
struct least_squares_info {
    std::size_t rank = 0;  ///< rank of the weighted sampled rows (< d: c is a basic solution)
};

/// c (d entries) minimizing sum_j weights_j (y_{rows_j} - a_{rows_j} c)^2. Checks rows < n,
/// weights finite and > 0, and that the sampled rows of A and entries of y are finite.
template <class Derived>
least_squares_info weighted_least_squares(const Eigen::MatrixBase<Derived>& A, vector_view<const double> y,
                                          const weighted_sample& sample, vector_view<double> coefficients) {
    const char* f = "weighted_least_squares";
    detail::static_check_scalar<Derived>();
    const Eigen::Index n = A.rows(), d = A.cols();
    require(n >= 1 && d >= 1, f, "A", "is empty (", n, " x ", d, ")");
    require_not_null(y.data(), y.size(), f, "y");
    require_size(y.size(), static_cast<std::size_t>(n), f, "y", "A.rows()");
    require_not_null(coefficients.data(), coefficients.size(), f, "coefficients");
    require_size(coefficients.size(), static_cast<std::size_t>(d), f, "coefficients", "A.cols()");
    const std::size_t m = sample.rows.size();
    require(m >= 1, f, "sample", "has no rows");
    require_size(sample.weights.size(), m, f, "sample.weights", "sample.rows");
    Eigen::MatrixXd B(static_cast<Eigen::Index>(m), d);
    Eigen::VectorXd b(static_cast<Eigen::Index>(m));
    for (std::size_t j = 0; j < m; ++j) {
        const std::size_t i = sample.rows[j];
        require(i < static_cast<std::size_t>(n), f, "sample.rows", "entry ", j, " is ", i, " (A has ", n, " rows)");
        const double w = sample.weights[j];
        require(std::isfinite(w) && w > 0.0, f, "sample.weights", "entry ", j, " is ", w, " (must be finite and > 0)");
        require(std::isfinite(y[i]), f, "y", "entry ", i, " is ", y[i], " (must be finite)");
        const double sw = std::sqrt(w);
        B.row(static_cast<Eigen::Index>(j)) = sw * A.row(static_cast<Eigen::Index>(i)).template cast<double>();
        require(B.row(static_cast<Eigen::Index>(j)).allFinite(), f, "A", "row ", i, " has a non-finite entry");
        b(static_cast<Eigen::Index>(j)) = sw * y[i];
    }
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(B);
    const Eigen::VectorXd c = qr.solve(b);
    least_squares_info info;
    info.rank = static_cast<std::size_t>(qr.rank());
    for (Eigen::Index j = 0; j < d; ++j) coefficients[static_cast<std::size_t>(j)] = c(j);
    return info;
}

}  // namespace kestrel::sensitivity
