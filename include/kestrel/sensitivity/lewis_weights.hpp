// l_p Lewis weights of the rows of a tall matrix A (n x d, full column rank): the unique
// w > 0 with
//
//     w_i = ( a_i^T (A^T W^{1 - 2/p} A)^{-1} a_i )^{p/2},      W = diag(w)         (*)
//
// (M. B. Cohen, R. Peng, "l_p row sampling by Lewis weights", STOC 2015, Definition 2.1), found
// by their fixed-point iteration w <- f(w) = right-hand side of (*) (Section 3, Lemma 3.2:
// for p < 4 the map is a contraction in the log domain with factor |1 - p/2|, so it converges
// linearly from w = 1). At p = 2 the weights are the leverage scores (one step). At the fixed
// point sum_i w_i = tr(M^{-1} sum_i w_i^{1-2/p} a_i a_i^T) = d.
//
// Supported: 0 < p < 4 (the range where the iteration contracts; p >= 4 needs a different
// algorithm and is refused). Each iteration is two passes over A: the weighted Gram matrix
// M = A^T W^{1-2/p} A in double (fixed block order) and the quadratic forms a_i^T M^{-1} a_i
// through the Cholesky factor of M (so the accuracy is about 1e-16 cond(M)).
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "detail/matrix_common.hpp"

namespace kestrel::sensitivity {

/// Settings of lewis_weights.
struct lewis_options {
    /// Stop when max_i |w_i^{new} - w_i| / w_i <= tolerance (relative change of one step).
    double tolerance = 1e-10;
    /// At most this many iterations (each two passes over A); >= 1.
    int max_iterations = 200;
};

/// What the iteration did.
struct lewis_info {
    int iterations = 0;        ///< fixed-point steps taken (not counting the residual pass)
    bool converged = false;    ///< last relative change <= tolerance
    double last_change = 0.0;  ///< relative change of the last step
    /// max_i |w_i - (a_i^T M(w)^{-1} a_i)^{p/2}| / w_i of the returned w (one extra pass).
    double residual = 0.0;
    std::size_t passes = 0;    ///< passes over A, all told
};

namespace detail {

/// One application of the Cohen-Peng map: out = f(w). Returns false when M(w) is not
/// numerically positive definite.
template <class Derived>
bool lewis_step(const Eigen::MatrixBase<Derived>& A, double p, const std::vector<double>& w, std::vector<double>& c,
                std::vector<double>& out, exec_policy policy) {
    const std::size_t n = w.size();
    const double e = 1.0 - 2.0 / p;
    // c_i = w_i^{1-2/p}; a zero weight belongs to a zero row (w_i = (a^T M^-1 a)^{p/2} with M
    // positive definite), which contributes nothing to M whatever its factor.
    for (std::size_t i = 0; i < n; ++i) c[i] = w[i] > 0.0 ? std::pow(w[i], e) : 0.0;
    const Eigen::MatrixXd M = weighted_gram(A, p == 2.0 ? nullptr : c.data(), policy);
    Eigen::MatrixXd L;
    if (!safe_cholesky(M, L)) return false;
    const double half = p / 2.0;
    quadratic_form_scores(A, L, out.data(), policy, [half](double v, Eigen::Index) { return std::pow(v, half); });
    return true;
}

}  // namespace detail

/// l_p Lewis weights of A (n x d, n >= d, full column rank, finite) into `weights` (n doubles)
/// by the Cohen-Peng iteration from w = 1; 0 < p < 4. Refuses a rank-deficient A (the
/// weighted Gram matrix not numerically positive definite), and weights that leave the range
/// of double. No copy of A; scratch of 3 n doubles per call.
template <class Derived>
lewis_info lewis_weights(const Eigen::MatrixBase<Derived>& A, double p, vector_view<double> weights,
                         const lewis_options& options = {}, exec_policy policy = {}) {
    const char* f = "lewis_weights";
    require(std::isfinite(p) && p > 0.0 && p < 4.0, f, "p", "must lie in (0, 4) (the Cohen-Peng iteration contracts there), got ", p);
    require(std::isfinite(options.tolerance) && options.tolerance >= 0.0, f, "options.tolerance",
            "must be finite and >= 0, got ", options.tolerance);
    require(options.max_iterations >= 1, f, "options.max_iterations", "must be >= 1, got ", options.max_iterations);
    detail::check_matrix(A, f, "A", true, policy);
    require_not_null(weights.data(), weights.size(), f, "weights");
    require_size(weights.size(), static_cast<std::size_t>(A.rows()), f, "weights", "A.rows()");

    const std::size_t n = static_cast<std::size_t>(A.rows());
    std::vector<double> w(n, 1.0), next(n), c(n);
    lewis_info info;
    info.passes = 1;  // finiteness check
    auto rank_fail = [&] {
        fail_argument(f, "A", "is rank-deficient (A^T W A not numerically positive definite); Lewis weights need full column rank");
    };
    for (int it = 0; it < options.max_iterations; ++it) {
        if (!detail::lewis_step(A, p, w, c, next, policy)) rank_fail();
        info.passes += 2;
        ++info.iterations;
        double change = 0.0;
        for (std::size_t i = 0; i < n; ++i)
            if (w[i] > 0.0) change = std::max(change, std::abs(next[i] - w[i]) / w[i]);
            else if (next[i] != 0.0) change = HUGE_VAL;
        w.swap(next);
        info.last_change = change;
        if (change <= options.tolerance) {
            info.converged = true;
            break;
        }
    }
    for (std::size_t i = 0; i < n; ++i)
        require(std::isfinite(w[i]), f, "A", "Lewis weight of row ", i, " left the range of double (", w[i], ")");
    // The residual of the returned weights: one more application of the map.
    if (!detail::lewis_step(A, p, w, c, next, policy)) rank_fail();
    info.passes += 2;
    double res = 0.0;
    for (std::size_t i = 0; i < n; ++i)
        if (w[i] > 0.0) res = std::max(res, std::abs(w[i] - next[i]) / w[i]);
    info.residual = res;
    std::copy(w.begin(), w.end(), weights.data());
    return info;
}

}  // namespace kestrel::sensitivity
