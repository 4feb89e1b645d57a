// Oracles for the weighted-sampling primitives: the chi-square upper quantile (regularized
// incomplete gamma, inverted by bisection: no table, no approximation), a chi-square statistic
// against an exact law, and the exact law of successive sampling by enumeration.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <vector>
#include <kestrel/core/view.hpp>
#include "optimized_build.hpp"

namespace sampling_test {

// Every chi-square check of the sampling tests fails by chance with probability 1e-6 (fixed
// seeds: deterministic).
constexpr double false_alarm = 1e-6;

template <class T>
kestrel::vector_view<const T> cv(const std::vector<T>& v) {
    return kestrel::vector_view<const T>(v);
}

/// Full trial counts in optimized builds without sanitizers, a tenth otherwise.
inline constexpr std::size_t trial_scale = kestrel_test::optimized_build ? 10 : 1;

/// Regularized lower incomplete gamma P(a, x) (series for x < a + 1, Lentz continued fraction
/// for Q otherwise; both to 1e-15).
inline double gamma_p(double a, double x) {
    if (x <= 0.0) return 0.0;
    const double lg = std::lgamma(a);
    if (x < a + 1.0) {
        double term = 1.0 / a, sum = term;
        for (int k = 1; k < 10000; ++k) {
            term *= x / (a + k);
            sum += term;
            if (std::fabs(term) < std::fabs(sum) * 1e-16) break;
        }
        return sum * std::exp(-x + a * std::log(x) - lg);
    }
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int k = 1; k < 10000; ++k) {
        const double an = -k * (k - a);
        b += 2.0;
        d = an * d + b;
        if (std::fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double del = d * c;
        h *= del;
        if (std::fabs(del - 1.0) < 1e-16) break;
    }
    return 1.0 - std::exp(-x + a * std::log(x) - lg) * h;
}

/// The x with P(chi-square_df > x) = alpha.
inline double chi2_quantile_upper(double df, double alpha) {
    double lo = 0.0, hi = df + 100.0 + 60.0 * std::sqrt(df);
    for (int it = 0; it < 200; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (1.0 - gamma_p(0.5 * df, 0.5 * mid) > alpha) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/// Pearson's statistic of `counts` (N trials) against the probabilities `law`; outcomes are
/// merged, from the least likely up, into bins expecting >= 5. Outcomes of probability 0 must
/// have count 0 (else the statistic is +infinity). Returns {statistic, degrees of freedom}.
struct chi2_result {
    double statistic;
    double df;
};
inline chi2_result chi_square(const std::vector<double>& law, const std::vector<double>& counts, double trials) {
    std::vector<std::size_t> order(law.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return law[a] < law[b]; });
    double stat = 0.0, e = 0.0, o = 0.0;
    std::size_t bins = 0;
    for (std::size_t j = 0; j < order.size(); ++j) {
        if (law[order[j]] == 0.0) {
            if (counts[order[j]] != 0.0) return {INFINITY, 1.0};
            continue;
        }
        e += law[order[j]] * trials;
        o += counts[order[j]];
        if (e >= 5.0) {
            stat += (o - e) * (o - e) / e, ++bins;
            e = 0.0, o = 0.0;
        }
    }
    if (e > 0.0) stat += (o - e) * (o - e) / e, ++bins;  // leftover tail (merged with nothing)
    return {stat, double(bins > 1 ? bins - 1 : 1)};
}

/// Exact law of the ordered successive sample (i_1, ..., i_m): prod_j w_{i_j} / (W - sum of the
/// previous), by enumeration of all ordered m-tuples of distinct positive-weight items.
inline std::map<std::vector<std::size_t>, double> successive_sampling_law(const std::vector<double>& w, std::size_t m) {
    std::map<std::vector<std::size_t>, double> law;
    std::vector<std::size_t> seq;
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    auto rec = [&](auto&& self, double remaining, double p) -> void {
        if (seq.size() == m) {
            law[seq] += p;
            return;
        }
        for (std::size_t i = 0; i < w.size(); ++i) {
            if (w[i] <= 0.0 || std::find(seq.begin(), seq.end(), i) != seq.end()) continue;
            seq.push_back(i);
            self(self, remaining - w[i], p * w[i] / remaining);
            seq.pop_back();
        }
    };
    rec(rec, total, 1.0);
    return law;
}

/// First-order inclusion probabilities of successive sampling (marginals of the law above).
inline std::vector<double> successive_inclusion(const std::vector<double>& w, std::size_t m) {
    std::vector<double> pi(w.size(), 0.0);
    for (const auto& kv : successive_sampling_law(w, m))
        for (std::size_t i : kv.first) pi[i] += kv.second;
    return pi;
}

/// The bound |z| of a two-sided normal test with false-alarm rate alpha (bisection on erfc).
inline double normal_quantile_two_sided(double alpha) {
    double lo = 0.0, hi = 40.0;
    for (int it = 0; it < 200; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (std::erfc(mid / std::sqrt(2.0)) > alpha) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

}  // namespace sampling_test
