// Independent (Poisson) inclusion sampling: item i is kept with probability
// pi_i = min(1, c * w_i), independently of the others; the user weights a kept item by 1/pi_i
// (Horvitz-Thompson) for unbiased sums. Two choices of c:
//   poisson_sample:             c = m / W (pi_i = min(1, m p_i) with p = w / W); the expected
//                               size sum_i pi_i is at most m, and below m when some m p_i > 1
//                               (poisson_expected_size gives it);
//   poisson_sample_calibrated:  c solves sum_i min(1, c w_i) = m, so the expected size is m.
//                               c is found without sorting: a selection (nth_element) on the
//                               capping thresholds 1 / w_i, halving the candidate range each
//                               round (O(n) expected), then c = (m - #capped) / (sum of the
//                               uncapped weights).
//
// Randomness: item i is kept iff u_i < pi_i with u_i the 53-bit uniform of index i of the
// counter stream: Philox block floor(i / 2), words 0,1 for even i and words 2,3 for odd i (one
// block serves two items). So the sample is a pure function of (seed, stream, weights), the
// same at any thread count; P(u_i < pi) = ceil(pi 2^53) / 2^53, pi = 1 always keeps, 0 never.
// Output: the kept indices in increasing order with their pi_i. Reads the weights twice (one
// validation pass, which also yields W, then the sampling pass).
//
// Grouped variants (the same law, another draw from the same seed; detail/poisson_grouped.hpp):
//   poisson_sample_grouped:            pi_i = min(1, m w_i / W); randomness is spent on kept
//                                      items only (a thinned exponential-gap walk over fixed
//                                      groups of 2048 items, one counter stream per group), and
//                                      the per-item work is a few SIMD operations: two reads of
//                                      the weights (validation and W, then the walk).
//   poisson_sample_grouped_with_scale: pi_i = min(1, c w_i) for a scale c the caller knows (m / W
//                                      with W known, or calibrate_poisson_scale's): one read of
//                                      the weights that validates them as it samples.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "detail/poisson_grouped.hpp"
#include "sampling_weights.hpp"

namespace kestrel::sensitivity {

/// A Poisson sample: kept indices (increasing) and their inclusion probabilities.
struct poisson_sample_result {
    std::vector<std::size_t> indices;
    std::vector<double> inclusion_probabilities;
    double scale = 0.0;          ///< c in pi_i = min(1, c w_i) (+infinity: every positive weight kept)
    double expected_size = 0.0;  ///< sum_i pi_i
};

/// Scratch kept across calls (per-block kept lists); optional.
struct poisson_workspace {
    std::vector<std::vector<std::size_t>> kept;
    std::vector<double> partial;
    std::vector<double> thresholds;
    std::vector<std::size_t> first_bad;  // grouped sampler with a given scale: validation per block
    std::vector<double> block_max;
};

namespace detail {

/// The uniform of item i: 53 bits from half of Philox block i / 2 (see the header comment).
KESTREL_ALWAYS_INLINE double poisson_uniform(const counter_rng& rng, std::uint64_t i) noexcept {
    const auto b = rng.block(i >> 1);
    return (i & 1) ? random_conversion::u53_to_double(counter_rng::join(b[2], b[3]))
                   : random_conversion::u53_to_double(counter_rng::join(b[0], b[1]));
}

template <class T>
KESTREL_ALWAYS_INLINE double inclusion(double c, T w) noexcept {
    return w > T(0) ? std::min(1.0, c * static_cast<double>(w)) : 0.0;
}

/// sum_i min(1, c w_i) in fixed block order.
template <class T>
double expected_size_with_scale(vector_view<const T> w, double c, exec_policy policy, std::vector<double>& partial) {
    const std::size_t n = w.size(), nb = sampling_blocks(n);
    partial.assign(nb, 0.0);
    parallel_for(nb, small_serial(n, policy), [&](std::size_t b) {
        const std::size_t i0 = b * sampling_block, i1 = std::min(n, i0 + sampling_block);
        double s = 0.0;
        for (std::size_t i = i0; i < i1; ++i) s += inclusion(c, w[i]);
        partial[b] = s;
    });
    double s = 0.0;
    for (double p : partial) s += p;
    return s;
}

template <class T>
void poisson_gather(vector_view<const T> w, double c, exec_policy policy, poisson_workspace& ws,
                    poisson_sample_result& out);

/// Keeps item i iff poisson_uniform(i) < min(1, c w_i); weights already validated.
template <class T>
void poisson_sample_with_scale(vector_view<const T> w, double c, const counter_rng& rng, exec_policy policy,
                               poisson_workspace& ws, poisson_sample_result& out) {
    const std::size_t n = w.size(), nb = sampling_blocks(n);
    ws.kept.resize(nb);
    ws.partial.assign(nb, 0.0);
    parallel_for(nb, small_serial(n, policy), [&](std::size_t b) {
        const std::size_t i0 = b * sampling_block, i1 = std::min(n, i0 + sampling_block);  // i0 even
        std::vector<std::size_t>& kept = ws.kept[b];
        kept.clear();
        double expected = 0.0;
        counter_rng::block_type r[random_batch];
        for (std::size_t ib = i0; ib < i1; ib += 2 * random_batch) {  // i0 is even
            const std::size_t items = std::min(2 * random_batch, i1 - ib), blocks = (items + 1) / 2;
            philox_blocks(rng, ib >> 1, blocks, r);  // vectorized: one block per two items
            for (std::size_t k = 0; k < blocks; ++k) {
                const std::size_t i = ib + 2 * k;
                const double p0 = inclusion(c, w[i]);
                expected += p0;
                if (random_conversion::u53_to_double(counter_rng::join(r[k][0], r[k][1])) < p0) kept.push_back(i);
                if (i + 1 < i1) {
                    const double p1 = inclusion(c, w[i + 1]);
                    expected += p1;
                    if (random_conversion::u53_to_double(counter_rng::join(r[k][2], r[k][3])) < p1) kept.push_back(i + 1);
                }
            }
        }
        ws.partial[b] = expected;
    });
    poisson_gather(w, c, policy, ws, out);
}

/// Writes the kept lists of ws (per block, increasing) and their inclusion probabilities to out,
/// with the expected size (block partials of ws.partial, in block order).
template <class T>
void poisson_gather(vector_view<const T> w, double c, exec_policy policy, poisson_workspace& ws,
                    poisson_sample_result& out) {
    const std::size_t n = w.size(), nb = sampling_blocks(n);
    std::vector<std::size_t> offset(nb + 1, 0);
    double expected = 0.0;
    for (std::size_t b = 0; b < nb; ++b) {
        offset[b + 1] = offset[b] + ws.kept[b].size();
        expected += ws.partial[b];
    }
    out.indices.resize(offset[nb]);
    out.inclusion_probabilities.resize(offset[nb]);
    parallel_for(nb, small_serial(n, policy), [&](std::size_t b) {
        std::size_t o = offset[b];
        for (std::size_t i : ws.kept[b]) {
            out.indices[o] = i;
            out.inclusion_probabilities[o] = inclusion(c, w[i]);
            ++o;
        }
    });
    out.scale = c;
    out.expected_size = expected;
}

template <class T>
void require_target_size(double m, const char* f) {
    require(std::isfinite(m) && m > 0.0, f, "m", "must be finite and > 0, got ", m);
}

}  // namespace detail

/// The exact expected size of poisson_sample(weights, m, ...): sum_i min(1, (m / W) w_i), summed
/// in double in fixed block order (the same sum the sampler reports as expected_size).
template <class T>
double poisson_expected_size(vector_view<const T> weights, double m, exec_policy policy = {}) {
    const char* f = "poisson_expected_size";
    const double total = validate_sampling_weights(weights, f, policy);
    detail::require_target_size<T>(m, f);
    std::vector<double> partial;
    return detail::expected_size_with_scale(weights, m / total, policy, partial);
}

/// Independent inclusion with pi_i = min(1, c w_i), c = m / W (so pi_i = min(1, m p_i)).
template <class T>
void poisson_sample(vector_view<const T> weights, double m, const counter_rng& rng, poisson_sample_result& out,
                    exec_policy policy, poisson_workspace& ws) {
    const char* f = "poisson_sample";
    const double total = validate_sampling_weights(weights, f, policy);
    detail::require_target_size<T>(m, f);
    detail::poisson_sample_with_scale(weights, m / total, rng, policy, ws, out);
}
template <class T>
poisson_sample_result poisson_sample(vector_view<const T> weights, double m, const counter_rng& rng,
                                     exec_policy policy = {}) {
    poisson_sample_result out;
    poisson_workspace ws;
    poisson_sample(weights, m, rng, out, policy, ws);
    return out;
}

/// The c > 0 with sum_i min(1, c w_i) = m, for 0 < m <= (number of positive weights); when m
/// equals that number every positive weight has pi = 1 and c = +infinity. Sort-free: selection
/// on the positive weights (a copy, 8 bytes each, kept in ws.thresholds), O(n) expected.
namespace detail {
template <class T>
double calibrate_scale(vector_view<const T> weights, double m, exec_policy policy, poisson_workspace& ws, const char* f) {
    const sampling_weight_summary s = summarize_sampling_weights(weights, f, policy);
    detail::require_target_size<T>(m, f);
    require(m <= static_cast<double>(s.positive), f, "m", m, " exceeds the number of positive weights (",
            s.positive, "): no inclusion probabilities <= 1 sum to it");
    if (m == static_cast<double>(s.positive)) return std::numeric_limits<double>::infinity();
    std::vector<double>& a = ws.thresholds;
    a.clear();
    a.reserve(s.positive);
    for (std::size_t i = 0; i < weights.size(); ++i)
        if (weights[i] > T(0)) a.push_back(static_cast<double>(weights[i]));
    // Invariant: items in [0, lo) are capped (c w >= 1), items in [hi, size) uncapped with sum
    // `rest`. f(c) = sum min(1, c w) is increasing; at c = 1 / p (p a pivot weight) the items
    // with w >= p are exactly capped, so f(1/p) <= m tells that c >= 1/p.
    std::size_t lo = 0, hi = a.size(), capped = 0;
    double rest = 0.0;
    while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        std::nth_element(a.begin() + static_cast<std::ptrdiff_t>(lo), a.begin() + static_cast<std::ptrdiff_t>(mid),
                         a.begin() + static_cast<std::ptrdiff_t>(hi), std::greater<double>());
        const double p = a[mid];
        double low_sum = 0.0;  // weights in (mid, hi), all <= p
        for (std::size_t k = mid + 1; k < hi; ++k) low_sum += a[k];
        const double f_at = static_cast<double>(capped + (mid - lo + 1)) + (rest + low_sum) / p;
        if (f_at <= m) {  // c >= 1/p: [lo, mid] capped
            capped += mid - lo + 1;
            lo = mid + 1;
        } else {  // c < 1/p: everything <= p uncapped
            rest += low_sum + p;
            hi = mid;
        }
    }
    return (m - static_cast<double>(capped)) / rest;
}
}  // namespace detail

template <class T>
double calibrate_poisson_scale(vector_view<const T> weights, double m, exec_policy policy, poisson_workspace& ws) {
    return detail::calibrate_scale(weights, m, policy, ws, "calibrate_poisson_scale");
}
template <class T>
double calibrate_poisson_scale(vector_view<const T> weights, double m, exec_policy policy = {}) {
    poisson_workspace ws;
    return calibrate_poisson_scale(weights, m, policy, ws);
}

/// Independent inclusion with pi_i = min(1, c w_i), c = calibrate_poisson_scale(weights, m):
/// the expected size is m (up to rounding).
template <class T>
void poisson_sample_calibrated(vector_view<const T> weights, double m, const counter_rng& rng,
                               poisson_sample_result& out, exec_policy policy, poisson_workspace& ws) {
    const double c = detail::calibrate_scale(weights, m, policy, ws, "poisson_sample_calibrated");
    detail::poisson_sample_with_scale(weights, c, rng, policy, ws, out);
}
template <class T>
poisson_sample_result poisson_sample_calibrated(vector_view<const T> weights, double m, const counter_rng& rng,
                                                exec_policy policy = {}) {
    poisson_sample_result out;
    poisson_workspace ws;
    poisson_sample_calibrated(weights, m, rng, out, policy, ws);
    return out;
}

namespace detail {

/// The grouped pass (see detail/poisson_grouped.hpp) over every block; kept lists and expected
/// partials in ws. With Validate, each block also records its first bad weight (SIZE_MAX if
/// none; the block stops there) and its largest weight, and nothing else is checked.
template <bool Validate, class T>
void poisson_grouped_pass(vector_view<const T> w, double c, const counter_rng& rng, exec_policy policy,
                          poisson_workspace& ws) {
    const std::size_t n = w.size(), nb = sampling_blocks(n);
    ws.kept.resize(nb);
    ws.partial.assign(nb, 0.0);
    if constexpr (Validate) {
        ws.first_bad.assign(nb, SIZE_MAX);
        ws.block_max.assign(nb, 0.0);
    }
    const T* data = w.data();
    const T small_max = poisson_small_threshold<T>(std::isinf(c) ? 0.0 : c);
    parallel_for(nb, small_serial(n, policy), [&](std::size_t b) {
        const std::size_t i0 = b * sampling_block, i1 = std::min(n, i0 + sampling_block);
        std::vector<std::size_t>& kept = ws.kept[b];
        kept.clear();
        double expected = 0.0, wmax = 0.0;
        alignas(64) double sub[poisson_scan_doubles];  // lane sums per sub-block and per block
        alignas(64) double neglog[poisson_ahead][poisson_ahead_groups], coin[poisson_ahead][poisson_ahead_groups];
        for (std::size_t g0 = i0; g0 < i1; g0 += poisson_group) {
            const std::size_t g1 = std::min(i1, g0 + poisson_group), g = g0 / poisson_group;
            const std::size_t lane = g % poisson_ahead_groups;
            if (lane == 0) poisson_first_draws(rng, g, neglog, coin);
            const poisson_group_scan scan = poisson_scan_group<Validate>(data + g0, g1 - g0, c, small_max, sub);
            if constexpr (Validate) {
                if (scan.maybe_bad) {  // decided exactly (a double sum may overflow with valid weights)
                    const std::size_t bad = first_bad_weight(data, g0, g1);
                    if (bad != SIZE_MAX) {
                        ws.first_bad[b] = bad;
                        return;
                    }
                }
                wmax = std::max(wmax, scan.wmax);
            }
            expected += poisson_walk_group(data, g0, g1, c, scan, sub, rng, &neglog[0][lane], &coin[0][lane],
                                           poisson_ahead_groups, kept);
        }
        ws.partial[b] = expected;
        if constexpr (Validate) ws.block_max[b] = wmax;
    });
}

template <class T>
void require_grouped_size(std::size_t n, const char* f) {
    require(n / poisson_group < (std::size_t(1) << 32) - 1, f, "weights", n,
            " items exceed the grouped sampler's 2^32 groups of ", poisson_group, " (counter streams would overlap)");
}

}  // namespace detail

/// Independent inclusion with pi_i = min(1, m w_i / W), the law of poisson_sample, drawn by the
/// grouped walk (a different sample from the same seed; see the header comment). Two reads of
/// the weights.
template <class T>
void poisson_sample_grouped(vector_view<const T> weights, double m, const counter_rng& rng, poisson_sample_result& out,
                            exec_policy policy, poisson_workspace& ws) {
    const char* f = "poisson_sample_grouped";
    const double total = validate_sampling_weights(weights, f, policy);
    detail::require_target_size<T>(m, f);
    detail::require_grouped_size<T>(weights.size(), f);
    const double c = m / total;
    detail::poisson_grouped_pass<false>(weights, c, rng, policy, ws);
    detail::poisson_gather(weights, c, policy, ws, out);
}
template <class T>
poisson_sample_result poisson_sample_grouped(vector_view<const T> weights, double m, const counter_rng& rng,
                                             exec_policy policy = {}) {
    poisson_sample_result out;
    poisson_workspace ws;
    poisson_sample_grouped(weights, m, rng, out, policy, ws);
    return out;
}

/// Independent inclusion with pi_i = min(1, c w_i) for a given scale c > 0 (+infinity keeps every
/// positive weight), by the grouped walk: one read of the weights, validated as they are sampled
/// (the same refusals as every sampler of the family but the total's overflow, which c makes
/// irrelevant); out is written only after the whole pass succeeded.
template <class T>
void poisson_sample_grouped_with_scale(vector_view<const T> weights, double c, const counter_rng& rng,
                                       poisson_sample_result& out, exec_policy policy, poisson_workspace& ws) {
    const char* f = "poisson_sample_grouped_with_scale";
    require_valid_policy(policy, f);
    require(!weights.empty(), f, "weights", "is empty");
    require(c > 0.0, f, "c", "must be > 0 (or +infinity), got ", c);  // false for NaN
    detail::require_grouped_size<T>(weights.size(), f);
    detail::poisson_grouped_pass<true>(weights, c, rng, policy, ws);
    double wmax = 0.0;
    for (std::size_t b = 0; b < ws.first_bad.size(); ++b) {
        if (ws.first_bad[b] != SIZE_MAX)
            fail_argument(f, "weights", "entry ", ws.first_bad[b], " is ", weights[ws.first_bad[b]],
                          " (weights must be finite and >= 0)");
        wmax = std::max(wmax, ws.block_max[b]);
    }
    require(wmax > 0.0, f, "weights", "all ", weights.size(), " weights are zero (nothing can be sampled)");
    detail::poisson_gather(weights, c, policy, ws, out);
}
template <class T>
poisson_sample_result poisson_sample_grouped_with_scale(vector_view<const T> weights, double c,
                                                        const counter_rng& rng, exec_policy policy = {}) {
    poisson_sample_result out;
    poisson_workspace ws;
    poisson_sample_grouped_with_scale(weights, c, rng, out, policy, ws);
    return out;
}

}  // namespace kestrel::sensitivity
