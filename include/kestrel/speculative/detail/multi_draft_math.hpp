// Internal: the scalar mathematics shared by the multi-draft verifiers (multi_draft.hpp,
// tree.hpp) and the analysis functions (analysis.hpp).
//
// K-SEQ's rho* (SpecTr, Sun et al. 2023): with beta(rho) = sum_y min(q(y), p(y) / rho), the
// root in [1, k] of f(rho) = 1 - (1 - beta(rho))^k - rho beta(rho). f(1) = (1 - a) - (1 - a)^k
// >= 0 (a = sum min(p, q)) and f(k) <= 0 (Bernoulli), f decreases on [1, k]. Tokens whose
// ratio p/q lies outside the current bracket contribute a fixed q (ratio above) or p / rho
// (ratio below), so bisection keeps only the tokens whose ratio is still inside the bracket
// and moves the others into two running sums: one read of the row, then work on a shrinking
// list. The bisection runs to adjacent doubles and returns the upper end (f <= 0 there: the
// rho >= root side, where the K-SEQ residual (p - rho q)_+ carries the rejected mass).
#pragma once

#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace kestrel {
namespace speculative {

/// How a verifier chooses among n candidates for one token (multi_draft.hpp explains each).
/// Public; defined here so that analysis.hpp and the verifiers share it.
enum class multi_draft_rule { k_seq, recursive_with_replacement, recursive_without_replacement, point_mass };

namespace detail {

/// Tokens of a K-SEQ problem, sorted into the three groups of the header comment.
struct k_seq_accumulator {
    double above_q = 0.0;   // sum of q over tokens with p >= k q (min is q for every rho <= k)
    double below_p = 0.0;   // sum of p over tokens with p <= q (min is p / rho for every rho >= 1)
    std::vector<std::pair<double, double>>* active = nullptr;  // (p, q) with q < p < k q
    double k = 1.0;

    void add(double p, double q) {
        if (!(q > 0.0)) return;  // min(0, p / rho) = 0
        if (p >= k * q)
            above_q += q;
        else if (p <= q)
            below_p += p;
        else
            active->emplace_back(p, q);
    }
};

inline double k_seq_beta(const k_seq_accumulator& a, double rho) {
    double s = a.above_q + a.below_p / rho;
    for (const auto& pq : *a.active) {
        const double r = pq.first / rho;
        s += r < pq.second ? r : pq.second;
    }
    return s;
}

inline double k_seq_f(double beta, double rho, double k) {
    const double one_minus = 1.0 - beta;
    return 1.0 - std::pow(one_minus > 0.0 ? one_minus : 0.0, k) - rho * beta;
}

/// rho* of the accumulated tokens (the active list is consumed). k >= 1.
inline double k_seq_solve(k_seq_accumulator& a) {
    double lo = 1.0, hi = a.k;
    if (a.k <= 1.0) return 1.0;
    // f(1) = (1 - a) - (1 - a)^k <= 0 (a = 0, a = 1): the root is 1 (p == q keeps every draft).
    if (!(k_seq_f(k_seq_beta(a, 1.0), 1.0, a.k) > 0.0)) return 1.0;
    auto& act = *a.active;
    for (int it = 0; it < 200; ++it) {
        double mid = lo + (hi - lo) / 2;
        if (!(mid > lo && mid < hi)) break;
        const double f = k_seq_f(k_seq_beta(a, mid), mid, a.k);
        std::size_t w = 0;
        if (f > 0.0) {
            lo = mid;  // the root is above mid: tokens with ratio <= mid now give p / rho
            for (std::size_t i = 0; i < act.size(); ++i) {
                if (act[i].first <= mid * act[i].second)
                    a.below_p += act[i].first;
                else
                    act[w++] = act[i];
            }
        } else {
            hi = mid;  // the root is at or below mid: tokens with ratio >= mid now give q
            for (std::size_t i = 0; i < act.size(); ++i) {
                if (act[i].first >= mid * act[i].second)
                    a.above_q += act[i].second;
                else
                    act[w++] = act[i];
            }
        }
        act.resize(w);
    }
    return hi;
}

}  // namespace detail
}  // namespace speculative
}  // namespace kestrel
