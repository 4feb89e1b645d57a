// Internal: Poisson (independent) inclusion pi_i = min(1, x_i), x_i = c w_i, by a random walk
// that spends randomness on kept items only (kestrel::sensitivity::poisson_sample_grouped).
//
// Items are cut into groups of `poisson_group` consecutive indices (a function of the index
// only) and each group is sampled on its own counter stream: draw k of group g is Philox block
// (g << 32) + k of the caller's (seed, stream). A group is classified in one SIMD scan that reads
// each weight once: the group maximum of x and the sums of the "small" x_i (x_i <= 1/2) over
// sub-blocks of `poisson_sub` items (when every x_i is small they also give sum_i pi_i, the
// expected size; otherwise the item-by-item path below sums min(1, x_i)).
//  * Capped items (x_i >= 1) are kept, with no randomness.
//  * Large items (1/2 < x_i < 1, rare when m << n) are kept iff u_i < x_i, u_i from draw
//    2^31 + (i - group start).
//  * Small items by thinning a dominating Poisson process. Item i is kept iff a unit-rate Poisson
//    process on the cumulative-hazard axis has a point in item i's interval of length
//    h_i = -log(1 - x_i): probability 1 - exp(-h_i) = x_i, independently over items since the
//    intervals are disjoint (the exponential-spacing view of Bernoulli sampling; Devroye,
//    "Non-Uniform Random Variate Generation", 1986, ch. VI.2 and the thinning of ch. VI.2.4 /
//    Lewis & Shedler 1979). Without a log per item: a dominating process of rate
//    g_i = x_i / (1 - q) >= x_i / (1 - x_i) >= h_i (q = the group's largest small x) has
//    exponential gaps in x units of E (1 - q); a point that lands in item i is kept as a point
//    of the h-process with probability h_i / g_i = -log1p(-x_i) (1 - q) / x_i <= 1 (Lewis &
//    Shedler's thinning), and once item i has a point the walk restarts at the end of i with a
//    fresh gap (the exponential is memoryless). So the walk draws about sum_i x_i / (1 - q)
//    points (q <= 1/2): one Philox block, one log and one comparison per point, plus a log1p for
//    points that land, instead of a Philox draw per item.
// The walk skips whole sub-blocks by their SIMD sums and, inside the sub-block a point lands in,
// finds its item by the running sum from the sub-block's start; the two sums can differ in the
// last bits, so a point can land past the running sum's end (it then moves to the next
// sub-block): a law exact up to double rounding, as every conversion here. The sample is a pure function of (seed, stream, weights,
// c): the same at any thread count (groups never depend on the thread that runs them).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../../core/random.hpp"
#include "../../core/simd.hpp"
#include "../sampling_weights.hpp"

namespace kestrel::sensitivity::detail {

/// Items per group (one counter stream each); divides sampling_block.
inline constexpr std::size_t poisson_group = 2048;
/// Items per sub-block of the walk (a multiple of every SIMD width).
inline constexpr std::size_t poisson_sub = 32;
inline constexpr std::size_t poisson_subs_per_group = poisson_group / poisson_sub;
/// Draw offset of the large items' coins inside a group's stream.
inline constexpr std::uint64_t poisson_large_offset = std::uint64_t(1) << 31;
static_assert(sampling_block % poisson_group == 0, "groups tile the parallel blocks");

/// What the scan of one group learns.
struct poisson_group_scan {
    double xmax = 0.0;  ///< c times the largest weight (0 if no weight is positive)
    double wmax = 0.0;  ///< the largest weight
    bool maybe_bad = false;  ///< with Validate: some weight may be negative, NaN or infinite
};

/// x_i used by the walk: x_i for a positive weight with x_i <= 1/2, else 0.
template <class T>
KESTREL_ALWAYS_INLINE double poisson_small_x(double c, T w) noexcept {
    const double x = c * static_cast<double>(w);
    return (w > T(0) && x <= 0.5) ? x : 0.0;
}

/// The SIMD scan of w[0, len), len <= poisson_group: sub[s] receives the sum of the small x of
/// sub-block s (in SIMD order, fixed for a given build). Per weight: a widening load, a multiply,
/// a compare and masked add, a max (and with Validate a sum and a min: any NaN or infinity makes
/// the sum non-finite, a negative weight the min negative; an exact scalar check decides then).
/// c = +infinity: every sub is 0 and xmax is +infinity if some weight is positive (every
/// positive weight is capped; the walk's item-by-item path handles them).
template <bool Validate, class T>
KESTREL_ALWAYS_INLINE poisson_group_scan poisson_scan_group(const T* w, std::size_t len, double c, double* sub) noexcept {
    namespace sd = kestrel::simd::detail;
    using B = sd::batch<double>;
    constexpr std::size_t W = sd::width<double>;
    const double cs = std::isinf(c) ? 0.0 : c;
    const B zero = sd::splat<double>(0.0), half = sd::splat<double>(0.5), cb = sd::splat<double>(cs);
    B m_acc = zero, s_acc = zero, n_acc = zero;
    double tail_m = 0.0, tail_s = 0.0, tail_n = 0.0;
    for (std::size_t s0 = 0, s = 0; s0 < len; s0 += poisson_sub, ++s) {
        const std::size_t s1 = std::min(len, s0 + poisson_sub);
        B sub_acc = zero;
        std::size_t i = s0;
        for (; i + W <= s1; i += W) {
            const B a = kestrel::simd::detail::load_widened(w + i);
            const B x = a * cb;
            sub_acc = sub_acc + sd::vselect<double>(x <= half, x, zero);
            m_acc = sd::vmax<double>(m_acc, a);
            if constexpr (Validate) {
                s_acc = s_acc + a;
                n_acc = sd::vmin<double>(n_acc, a);
            }
        }
        double ss = sd::hsum<double>(sub_acc);
        for (; i < s1; ++i) {  // the ragged end of the last group of the vector
            const double a = static_cast<double>(w[i]), x = a * cs;
            ss += x <= 0.5 ? x : 0.0;
            tail_m = std::max(tail_m, a);
            if constexpr (Validate) {
                tail_s += a;
                tail_n = std::min(tail_n, a);
            }
        }
        sub[s] = ss;
    }
    alignas(64) double lanes[W];
    sd::store(lanes, m_acc);
    poisson_group_scan r;
    r.wmax = tail_m;
    for (std::size_t j = 0; j < W; ++j) r.wmax = std::max(r.wmax, lanes[j]);
    r.xmax = r.wmax > 0.0 ? c * r.wmax : 0.0;
    if constexpr (Validate) {
        sd::store(lanes, n_acc);
        double mn = tail_n;
        for (std::size_t j = 0; j < W; ++j) mn = std::min(mn, lanes[j]);
        const double total = sd::hsum<double>(s_acc) + tail_s;
        r.maybe_bad = !(std::isfinite(total) && mn >= 0.0);
    }
    return r;
}

/// Samples one group [i0, i1) (already scanned: `scan`, `sub`), appending kept indices to
/// `kept` in increasing order; returns the group's sum of pi_i.
template <class T>
double poisson_walk_group(const T* w, std::size_t i0, std::size_t i1, double c, const poisson_group_scan& scan,
                          const double* sub, const counter_rng& rng, std::vector<std::size_t>& kept) {
    if (!(scan.xmax > 0.0)) return 0.0;  // nothing can be kept
    const std::uint64_t base = static_cast<std::uint64_t>(i0 / poisson_group) << 32;
    const std::size_t first_kept = kept.size(), nsub = (i1 - i0 + poisson_sub - 1) / poisson_sub;
    double q = scan.xmax, expected = 0.0;  // q: the largest small x
    const bool rare = !(scan.xmax <= 0.5);
    if (rare) {  // capped or large items: decided one by one, small max and expected recomputed
        q = 0.0;
        for (std::size_t i = i0; i < i1; ++i) {
            if (!(w[i] > T(0))) continue;
            const double x = c * static_cast<double>(w[i]);
            expected += std::min(x, 1.0);
            if (x >= 1.0) {
                kept.push_back(i);
            } else if (x > 0.5) {
                const auto b = rng.block(base + poisson_large_offset + (i - i0));
                if (random_conversion::u53_to_double(counter_rng::join(b[0], b[1])) < x) kept.push_back(i);
            } else {
                q = std::max(q, x);
            }
        }
    } else {
        for (std::size_t s = 0; s < nsub; ++s) expected += sub[s];  // every pi_i is a small x_i
    }
    if (q > 0.0) {
        const double gap_scale = 1.0 - q;  // gaps of the dominating process, in x units
        std::uint64_t k = 0;
        counter_rng::block_type b = rng.block(base + k++);
        auto gap = [&]() {
            return -std::log(random_conversion::u64_to_double_open(counter_rng::join(b[0], b[1]))) * gap_scale;
        };
        double r = gap();  // the next point's distance past the start of sub-block s
        for (std::size_t s = 0; s < nsub; ++s) {
            if (r >= sub[s]) {  // no point in this sub-block
                r -= sub[s];
                continue;
            }
            // Points in sub-block s: find each one's item by the running sum from the start.
            const std::size_t e = std::min(i1, i0 + (s + 1) * poisson_sub);
            std::size_t i = i0 + s * poisson_sub;
            double cum = 0.0, x = 0.0;
            for (;;) {
                for (; i < e; cum += x, ++i) {
                    x = poisson_small_x(c, w[i]);
                    if (r < cum + x) break;
                }
                if (i == e) {  // past the item-by-item end (rounding): on to the next sub-block
                    r = std::max(0.0, r - sub[s]);
                    break;
                }
                // A point of the dominating process in item i: keep it as a point of the hazard
                // process with probability -log1p(-x) (1 - q) / x.
                const double coin = random_conversion::u53_to_double(counter_rng::join(b[2], b[3]));
                const bool hit = coin * x < -std::log1p(-x) * gap_scale;
                b = rng.block(base + k++);
                if (hit) {  // restart at the end of item i
                    kept.push_back(i);
                    cum += x;
                    ++i;
                    x = 0.0;
                    r = cum + gap();
                } else {  // the next point of the dominating process
                    r += gap();
                }
                if (r >= sub[s]) {
                    r -= sub[s];
                    break;
                }
            }
        }
    }
    if (rare) std::sort(kept.begin() + static_cast<std::ptrdiff_t>(first_kept), kept.end());
    return expected;
}

}  // namespace kestrel::sensitivity::detail
