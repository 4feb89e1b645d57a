// Acceptance analysis (Leviathan, Kalman & Matias 2023, section 3): what a verifier can be
// expected to keep, computed from the laws or from acceptance estimates.
//   a = sum_y min(p(y), q(y)) = 1 - TV(p, q)          acceptance of one drafted token
//   E = (1 - a^(K+1)) / (1 - a)                          emitted tokens per verification, i.i.d.
//   E = 1 + sum_{i=1..K} prod_{j<=i} a_j                  per-position form
//   S = (1 - a^(K+1)) / ((1 - a) (K c + 1))               wall-time improvement, draft/target cost c
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace speculative {

/// sum_y min(p(y), q(y)) in double: the probability that the chain rule keeps a token drafted
/// from q against target p. p and q must have the same size, finite values >= 0.
template <class T>
double acceptance_rate(vector_view<const T> p, vector_view<const T> q) {
    const char* fn = "acceptance_rate";
    require(p.size() == q.size(), fn, "q", "size ", q.size(), " does not match p (", p.size(), ")");
    require(!p.empty(), fn, "p", "is empty");
    double s = 0.0;
    for (std::size_t y = 0; y < p.size(); ++y) {
        const double a = static_cast<double>(p[y]), b = static_cast<double>(q[y]);
        if (!(a >= 0.0 && std::isfinite(a))) fail_argument(fn, "p", "entry ", y, " is ", a);
        if (!(b >= 0.0 && std::isfinite(b))) fail_argument(fn, "q", "entry ", y, " is ", b);
        s += a < b ? a : b;
    }
    return s;
}

namespace detail {
inline void check_rate(double a, const char* fn, const char* arg) {
    require(a >= 0.0 && a <= 1.0, fn, arg, "must lie in [0, 1], got ", a);
}
}  // namespace detail

/// Expected emitted tokens per verification of K drafts with i.i.d. acceptance a.
inline double expected_emitted_tokens(double a, std::size_t k) {
    detail::check_rate(a, "expected_emitted_tokens", "a");
    if (a == 1.0) return static_cast<double>(k + 1);
    return (1.0 - std::pow(a, static_cast<double>(k + 1))) / (1.0 - a);
}

/// Expected emitted tokens with acceptance a[i] at drafted position i (given all before it
/// were kept): 1 + sum_i prod_{j<=i} a[j].
inline double expected_emitted_tokens(vector_view<const double> a) {
    double e = 1.0, prod = 1.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        detail::check_rate(a[i], "expected_emitted_tokens", "a");
        prod *= a[i];
        e += prod;
    }
    return e;
}

/// Leviathan et al.'s expected wall-time improvement of K drafts at acceptance a when one
/// draft step costs c target steps.
inline double expected_speedup(double a, std::size_t k, double c) {
    detail::check_rate(a, "expected_speedup", "a");
    require(std::isfinite(c) && c >= 0.0, "expected_speedup", "c", "must be finite and >= 0, got ", c);
    return expected_emitted_tokens(a, k) / (static_cast<double>(k) * c + 1.0);
}

struct draft_length_choice {
    std::size_t k;   ///< the draft length with the largest expected speedup (smallest on ties)
    double speedup;  ///< that speedup (1 at k = 0: no speculation)
};

/// The draft length in [0, k_max] that maximizes expected_speedup(a, k, c), by a scan.
inline draft_length_choice optimal_draft_length(double a, double c, std::size_t k_max) {
    detail::check_rate(a, "optimal_draft_length", "a");
    require(std::isfinite(c) && c >= 0.0, "optimal_draft_length", "c", "must be finite and >= 0, got ", c);
    draft_length_choice best{0, 1.0};
    for (std::size_t k = 1; k <= k_max; ++k) {
        const double s = expected_speedup(a, k, c);
        if (s > best.speedup) best = {k, s};
    }
    return best;
}

}  // namespace speculative
}  // namespace kestrel
