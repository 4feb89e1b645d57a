// l_p subspace embeddings by row sampling: probabilities q (summing to 1) from one of the
// schemes below, m i.i.d. row draws from q (Vose alias table, counter-based: the same rows at
// any thread count), and each drawn row rescaled by (1 / (m q_i))^{1/p}, so that for every x
//
//     ||S A x||_p^p = sum_j |a_{i_j} x|^p / (m q_{i_j})   has expectation ||A x||_p^p.
//
// Schemes (p is the norm of the embedding):
//   lewis                      q_i = w_i / d, w the l_p Lewis weights (Cohen-Peng, STOC 2015,
//                              Theorem 7.1 and Section 3; 0 < p < 4 here, see lewis_weights.hpp).
//   root_leverage              q_i proportional to tau_i^{p/2} (tau the leverage scores), for
//                              0 < p <= 2: tau_i^{p/2} bounds the l_p sensitivity
//                              sup_x |a_i x|^p / ||Ax||_p^p because ||Ax||_2 <= ||Ax||_p for p <= 2.
//                              At p = 1 these are the root leverage scores of Woodruff & Yasuda,
//                              "Sharper bounds for l_p sensitivity sampling" (ICML 2023), whose
//                              root-leverage result covers 1 <= p < 2.
//   leverage_plus_sensitivity  for 2 < p < 4: the mixture q_i = (tau_i / d + s_i / S) / 2 of
//                              leverage-score sampling and l_p sensitivity sampling (Woodruff &
//                              Yasuda's combined scheme for p > 2), with the sensitivity upper
//                              bounds s_i = d^{p/2 - 1} w_i from the Lewis weights (total
//                              S = d^{p/2}), so q_i = (tau_i + w_i) / (2 d).
//   leverage                   q_i = tau_i / rank(A) (the l_2 scheme).
//   uniform                    q_i = 1 / n (the baseline that fails on coherent matrices).
// Leverage scores here are exact (exact_leverage_scores); the Lewis weights are converged to
// the default lewis_options.
#pragma once

#include <Eigen/Dense>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "alias_table.hpp"
#include "detail/matrix_common.hpp"
#include "leverage_scores.hpp"
#include "lewis_weights.hpp"

namespace kestrel::sensitivity {

/// Row-sampling schemes for l_p subspace embeddings (see the header comment).
enum class lp_scheme { lewis, root_leverage, leverage_plus_sensitivity, leverage, uniform };

inline const char* lp_scheme_name(lp_scheme s) noexcept {
    switch (s) {
        case lp_scheme::lewis: return "lewis";
        case lp_scheme::root_leverage: return "root_leverage";
        case lp_scheme::leverage_plus_sensitivity: return "leverage_plus_sensitivity";
        case lp_scheme::leverage: return "leverage";
        case lp_scheme::uniform: return "uniform";
    }
    return "?";
}

/// A weighted row sample: S A has rows scale[j] * a_{rows[j]}.
struct row_sample {
    std::vector<std::size_t> rows;
    std::vector<double> scale;        ///< (1 / (m q_i))^{1/p}
    std::vector<double> probability;  ///< q_i of each drawn row
};

namespace detail {
inline void check_p_for_scheme(lp_scheme scheme, double p, const char* f) {
    require(std::isfinite(p) && p > 0.0, f, "p", "must be finite and > 0, got ", p);
    switch (scheme) {
        case lp_scheme::lewis:
            require(p < 4.0, f, "p", "must lie in (0, 4) for Lewis-weight sampling, got ", p);
            break;
        case lp_scheme::root_leverage:
            require(p <= 2.0, f, "p", "must lie in (0, 2] for root-leverage sampling, got ", p);
            break;
        case lp_scheme::leverage_plus_sensitivity:
            require(p > 2.0 && p < 4.0, f, "p", "must lie in (2, 4) for leverage + sensitivity sampling, got ", p);
            break;
        default: break;
    }
}
}  // namespace detail

/// The sampling probabilities q (n doubles, sum 1) of `scheme` for the l_p norm, into `q`.
template <class Derived>
void lp_sampling_probabilities(const Eigen::MatrixBase<Derived>& A, double p, lp_scheme scheme, vector_view<double> q,
                               exec_policy policy = {}) {
    const char* f = "lp_sampling_probabilities";
    detail::check_p_for_scheme(scheme, p, f);
    const bool tall = scheme == lp_scheme::lewis || scheme == lp_scheme::leverage_plus_sensitivity;
    detail::check_matrix(A, f, "A", tall, policy);
    require_not_null(q.data(), q.size(), f, "q");
    require_size(q.size(), static_cast<std::size_t>(A.rows()), f, "q", "A.rows()");
    const std::size_t n = static_cast<std::size_t>(A.rows());
    const double d = static_cast<double>(A.cols());
    std::vector<double> out(n), tau, w;
    auto lev = [&] {
        tau.resize(n);
        return detail::exact_leverage_unchecked(A, tau.data(), policy).rank;
    };
    auto lewis = [&] {
        w.resize(n);
        try {
            lewis_weights(A, p, vector_view<double>(w), lewis_options{}, policy);
        } catch (const kestrel::invalid_argument&) {
            fail_argument(f, "A", "is rank-deficient: Lewis weights need full column rank");
        }
    };
    switch (scheme) {
        case lp_scheme::uniform:
            for (auto& v : out) v = 1.0 / static_cast<double>(n);
            break;
        case lp_scheme::leverage: {
            const std::size_t r = lev();
            require(r > 0, f, "A", "is zero");
            for (std::size_t i = 0; i < n; ++i) out[i] = tau[i] / static_cast<double>(r);
            break;
        }
        case lp_scheme::root_leverage: {
            require(lev() > 0, f, "A", "is zero");
            double t = 0.0;
            for (std::size_t i = 0; i < n; ++i) t += out[i] = std::pow(std::max(tau[i], 0.0), p / 2.0);
            for (auto& v : out) v /= t;
            break;
        }
        case lp_scheme::lewis:
            lewis();
            for (std::size_t i = 0; i < n; ++i) out[i] = w[i] / d;
            break;
        case lp_scheme::leverage_plus_sensitivity:
            lewis();
            lev();
            for (std::size_t i = 0; i < n; ++i) out[i] = (tau[i] + w[i]) / (2.0 * d);
            break;
    }
    // Normalize exactly (the schemes sum to 1 up to rounding).
    double t = 0.0;
    for (double v : out) t += v;
    for (std::size_t i = 0; i < n; ++i) q[i] = out[i] / t;
}

/// m i.i.d. draws from q (validated: finite, >= 0, not all zero; normalized here), each with
/// scale (1 / (m q_i))^{1/p}. Draw j uses draw j of counter_rng(seed, 7) (alias table).
inline row_sample lp_sample(vector_view<const double> q, std::size_t m, double p, std::uint64_t seed,
                            exec_policy policy = {}) {
    const char* f = "lp_sample";
    require(m >= 1, f, "m", "must be >= 1, got ", m);
    require(std::isfinite(p) && p > 0.0, f, "p", "must be finite and > 0, got ", p);
    require_valid_policy(policy, f);
    require(!q.empty(), f, "q", "is empty");
    double total = 0.0;
    for (std::size_t i = 0; i < q.size(); ++i) {
        require(std::isfinite(q[i]) && q[i] >= 0.0, f, "q", "entry ", i, " is ", q[i], " (must be finite and >= 0)");
        total += q[i];
    }
    require(total > 0.0 && std::isfinite(total), f, "q", "total is ", total, " (must be finite and > 0)");
    const alias_table table(q, policy);
    row_sample s;
    s.rows.resize(m);
    sample_with_replacement(table, m, counter_rng(seed, 7), vector_view<std::size_t>(s.rows), policy);
    s.scale.resize(m);
    s.probability.resize(m);
    for (std::size_t j = 0; j < m; ++j) {
        const double qi = q[s.rows[j]] / total;
        s.probability[j] = qi;
        s.scale[j] = std::pow(1.0 / (static_cast<double>(m) * qi), 1.0 / p);
    }
    return s;
}

/// lp_sampling_probabilities then lp_sample: a row sample of A for the l_p norm.
template <class Derived>
row_sample lp_sensitivity_sample(const Eigen::MatrixBase<Derived>& A, double p, lp_scheme scheme, std::size_t m,
                                 std::uint64_t seed, exec_policy policy = {}) {
    const char* f = "lp_sensitivity_sample";
    require(m >= 1, f, "m", "must be >= 1, got ", m);
    std::vector<double> q(static_cast<std::size_t>(std::max<Eigen::Index>(A.rows(), 0)));
    try {
        lp_sampling_probabilities(A, p, scheme, vector_view<double>(q), policy);
    } catch (const kestrel::invalid_argument& e) {
        // Re-raise under this function's name (the argument names are the same).
        std::string msg = e.what();
        const std::string from = "kestrel::lp_sampling_probabilities:";
        if (msg.rfind(from, 0) == 0) msg = std::string("kestrel::") + f + ":" + msg.substr(from.size());
        ::kestrel::detail::raise_invalid_argument(msg);
    }
    return lp_sample(vector_view<const double>(q), m, p, seed, policy);
}

}  // namespace kestrel::sensitivity
