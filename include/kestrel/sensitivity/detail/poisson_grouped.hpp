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
// The walk skips blocks of 8 sub-blocks, then sub-blocks, by their SIMD sums and, inside the
// sub-block a point lands in, finds its item by the sums from the sub-block's start (with
// AVX-512 all 32 prefix sums at once and one compare, poisson_sub_locator; otherwise a running
// sum two items a step); the sums can differ in the last bits, so a point can land past the
// items' end (it then moves to the next sub-block): a law exact up to double rounding, as every
// conversion here. Each group's first four draws are made before its walk, eight groups at a
// time (in SIMD lanes with AVX-512).
// The sample is a pure function of (seed, stream, weights, c) for a given build (SIMD levels
// differ in the last bits of sums and logarithms): the same at any thread count
// (groups never depend on the thread that runs them).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "../../core/random.hpp"
#include "../../core/simd.hpp"
#include "../sampling_weights.hpp"
#include "alias_draws.hpp"

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
    double small_max = 0.0;  ///< the largest weight that is small at this scale (a T, exactly)
};

/// x_i used by the walk: x_i for a positive weight with x_i <= 1/2, else 0.
template <class T>
KESTREL_ALWAYS_INLINE double poisson_small_x(double c, T w) noexcept {
    const double x = c * static_cast<double>(w);
    return (w > T(0) && x <= 0.5) ? x : 0.0;
}

/// The walk's item search in [i, e): the first item whose interval [cum, cum + x_i) on the
/// walk's axis holds r, cum the running sum of the small x before it; returns it with cum and x
/// (its small x) set, or e with cum the running sum's end when that end is <= r (rounding).
/// Two items a step, the running sum advanced by their sum: one dependent addition per two
/// items (the search is a chain of additions; the bounds it compares r with are monotone, so
/// the item found is the first whose upper bound exceeds r).
template <class T>
std::size_t poisson_find_item(const T* w, std::size_t i, std::size_t e, double c, double r, double& cum,
                              double& x) noexcept {
    double run = cum;
    for (; i + 2 <= e; i += 2) {
        const double x0 = poisson_small_x(c, w[i]), x1 = poisson_small_x(c, w[i + 1]);
        const double c0 = run + x0, c1 = run + (x0 + x1);
        if (r < c1) {
            if (r < c0) {
                cum = run, x = x0;
                return i;
            }
            cum = c0, x = x1;
            return i + 1;
        }
        run = c1;
    }
    if (i < e) {
        const double x0 = poisson_small_x(c, w[i]);
        if (r < run + x0) {
            cum = run, x = x0;
            return i;
        }
        run += x0;
    }
    cum = run;
    return e;
}

/// Doubles per sub-block in the scan's output: the lane sums of its small x (SIMD width).
inline constexpr std::size_t poisson_sub_lanes = kestrel::simd::detail::width<double>;
/// Sub-blocks per block of the walk's skip (see poisson_walk_group).
inline constexpr std::size_t poisson_subs_per_block = 8;
inline constexpr std::size_t poisson_blocks_per_group = poisson_subs_per_group / poisson_subs_per_block;
/// Doubles of the scan's output for one group: the sub-blocks' lane sums, then the blocks'.
inline constexpr std::size_t poisson_scan_doubles =
    (poisson_subs_per_group + poisson_blocks_per_group) * poisson_sub_lanes;

/// The sum of the small x of sub-block s, from its lane sums.
KESTREL_ALWAYS_INLINE double poisson_sub_sum(const double* sub, std::size_t s) noexcept {
    namespace sd = kestrel::simd::detail;
    return sd::hsum<double>(sd::load(sub + s * poisson_sub_lanes));
}

/// x[0] += x[1] + ... + x[N - 1] by a pairwise tree (fixed trips, unrolled; no chain of adds).
template <class B, std::size_t N>
KESTREL_ALWAYS_INLINE void poisson_pairwise_sum(B (&x)[N]) noexcept {
    static_assert((N & (N - 1)) == 0, "a power of two");
    KESTREL_UNROLL_FULLY
    for (std::size_t h = N / 2; h >= 1; h /= 2) {
        KESTREL_UNROLL_FULLY
        for (std::size_t j = 0; j < h; ++j) x[j] = x[j] + x[j + h];
    }
}

/// The largest weight t of type T that is "small" at scale cs: fl(cs * double(w)) <= 1/2 holds
/// exactly for the weights w <= t (the product is monotone in w), so the scan decides it with one
/// comparison of the weight, without the product. cs = 0 (c = +infinity): every finite weight.
template <class T>
T poisson_small_threshold(double cs) noexcept {
    const T top = std::numeric_limits<T>::max();
    if (!(cs > 0.0)) return top;
    auto small = [cs](T v) { return cs * static_cast<double>(v) <= 0.5; };
    T t = static_cast<T>(std::min(0.5 / cs, static_cast<double>(top)));
    while (t > T(0) && !small(t)) t = std::nextafter(t, T(0));
    while (t < top && small(std::nextafter(t, top))) t = std::nextafter(t, top);
    return t;
}

/// The SIMD scan of w[0, len), len <= poisson_group: sub[s W .. s W + W) receives lane sums
/// (W = poisson_sub_lanes) whose total is c times the sum of sub-block s's small weights (w <=
/// small_max; the order of the additions is fixed for a given build), and after the
/// poisson_subs_per_group sub-blocks' sums come the blocks' (poisson_subs_per_block sub-blocks
/// each, accumulated in registers as the scan goes; poisson_scan_doubles in all); a total is
/// reduced only where the walk needs it. Each sub-block accumulates on its own: the only
/// dependences carried from one to the next are folds once per sub-block, so the scan is not
/// bounded by the latency of a chain of adds.
/// Float weights: per weight a widening load, a compare and a masked add, and the unsigned
/// maximum of the weights' bit patterns (one integer operation per float batch). That maximum
/// is the largest weight when every weight is a finite float >= +0; a pattern at or above
/// +infinity's (a NaN, an infinity, a negative weight or -0) sends the group to an exact scalar
/// pass, which decides maybe_bad (a weight < 0 or not finite: -0 is valid) and the largest
/// weight. Double weights: per weight a load, a compare and masked add, a max (and with
/// Validate a sum and a min: any NaN or infinity makes the sum non-finite, a negative weight the
/// min negative; the caller's exact check decides then).
/// c = +infinity: every sub is 0 and xmax is +infinity if some weight is positive (every
/// positive weight is capped; the walk's item-by-item path handles them).
template <bool Validate, class T>
KESTREL_ALWAYS_INLINE poisson_group_scan poisson_scan_group(const T* w, std::size_t len, double c, T small_max,
                                                            double* sub) noexcept {
    namespace sd = kestrel::simd::detail;
    using B = sd::batch<double>;
    constexpr std::size_t W = sd::width<double>;
    static_assert(W == poisson_sub_lanes, "lane sums of one batch per sub-block");
    static_assert(poisson_sub % sd::width<T> == 0 && poisson_sub % W == 0, "a sub-block is whole batches");
    const double cs = std::isinf(c) ? 0.0 : c;
    const B zero = sd::splat<double>(0.0), cb = sd::splat<double>(cs),
            tb = sd::splat<double>(static_cast<double>(small_max));
    poisson_group_scan r;
    // A sub-block's lane sums (and its scalar tail) stored and folded into its block's.
    double* const blk = sub + poisson_subs_per_group * W;
    B bacc = zero;
    double btail = 0.0;
    auto finish_sub = [&](std::size_t s, std::size_t s1, const B& v, double tail) KESTREL_LAMBDA_INLINE {
        sd::store(sub + s * W, v * cb);
        if (tail != 0.0) sub[s * W] += tail * cs;
        bacc = bacc + v;
        btail += tail;
        if (s % poisson_subs_per_block == poisson_subs_per_block - 1 || s1 == len) {
            double* const out = blk + (s / poisson_subs_per_block) * W;
            sd::store(out, bacc * cb);
            if (btail != 0.0) out[0] += btail * cs;
            bacc = zero;
            btail = 0.0;
        }
    };
    if constexpr (std::is_same<T, float>::value) {
#if KESTREL_HAS_XSIMD
        using U = xsimd::batch<std::uint32_t>;
        constexpr std::size_t WF = sd::width<float>;
        U bits = U(std::uint32_t(0));
#endif
        std::uint32_t tail_bits = 0;  // the maximum pattern of the weights outside batches
        auto fold_bits = [&](std::size_t j0, std::size_t j1) KESTREL_LAMBDA_INLINE {
            for (std::size_t j = j0; j < j1; ++j) {
                std::uint32_t u;
                std::memcpy(&u, w + j, sizeof u);
                tail_bits = std::max(tail_bits, u);
            }
        };
        for (std::size_t s0 = 0, s = 0; s0 < len; s0 += poisson_sub, ++s) {
            const std::size_t s1 = std::min(len, s0 + poisson_sub);
            if (s1 - s0 == poisson_sub) {  // a whole sub-block: fixed trips, unrolled
                constexpr std::size_t nb = poisson_sub / W;
                B x[nb];
#if KESTREL_HAS_XSIMD && defined(__AVX512F__)
                if constexpr (sizeof(typename B::register_type) == 64 && WF == 16) {
                    // AVX-512: the "small" test in float, 16 lanes at once (small_max is a float,
                    // so w <= small_max decides as the widened compare would), and the widening
                    // as a zero-masking conversion: the same x without a double compare and a
                    // blend per 8 weights.
                    const __m512 tf = _mm512_set1_ps(small_max);
                    KESTREL_UNROLL_FULLY
                    for (std::size_t j = 0; j < poisson_sub; j += WF) {
                        const __m512 v = _mm512_loadu_ps(w + s0 + j);
                        bits = xsimd::max(bits, U(_mm512_castps_si512(v)));
                        const __mmask16 k = _mm512_cmp_ps_mask(v, tf, _CMP_LE_OQ);
                        x[j / W] = B(_mm512_maskz_cvtps_pd(static_cast<__mmask8>(k), _mm256_loadu_ps(w + s0 + j)));
                        x[j / W + 1] = B(_mm512_maskz_cvtps_pd(static_cast<__mmask8>(k >> 8),
                                                               _mm256_loadu_ps(w + s0 + j + 8)));
                    }
                } else
#endif
                {
#if KESTREL_HAS_XSIMD
                    KESTREL_UNROLL_FULLY
                    for (std::size_t j = 0; j < poisson_sub; j += WF)
                        bits = xsimd::max(bits, xsimd::bitwise_cast<U>(sd::load(w + s0 + j)));
#else
                    fold_bits(s0, s1);
#endif
                    KESTREL_UNROLL_FULLY
                    for (std::size_t j = 0; j < nb; ++j) {
                        const B a = sd::load_widened(w + s0 + j * W);
                        x[j] = sd::vselect<double>(a <= tb, a, zero);
                    }
                }
                poisson_pairwise_sum(x);
                finish_sub(s, s1, x[0], 0.0);
                continue;
            }
            B acc = zero;
            std::size_t i = s0;
#if KESTREL_HAS_XSIMD
            for (std::size_t j = s0; j + WF <= s1; j += WF)
                bits = xsimd::max(bits, xsimd::bitwise_cast<U>(sd::load(w + j)));
#endif
            for (; i + W <= s1; i += W) {
                const B a = sd::load_widened(w + i);
                acc = acc + sd::vselect<double>(a <= tb, a, zero);
            }
            double ss = 0.0;
            for (std::size_t j = i; j < s1; ++j) ss += w[j] <= small_max ? static_cast<double>(w[j]) : 0.0;
#if KESTREL_HAS_XSIMD
            fold_bits(s0 + (s1 - s0) / WF * WF, s1);
#else
            fold_bits(s0, s1);
#endif
            finish_sub(s, s1, acc, i < s1 ? ss : 0.0);
        }
        std::uint32_t top = tail_bits;
#if KESTREL_HAS_XSIMD
        alignas(64) std::uint32_t lanes[WF];
        bits.store_aligned(lanes);
        for (std::size_t j = 0; j < WF; ++j) top = std::max(top, lanes[j]);
#endif
        if (top < 0x7f800000u) {  // every weight finite and >= +0: top is the largest's pattern
            float f;
            std::memcpy(&f, &top, sizeof f);
            r.wmax = static_cast<double>(f);
        } else {  // exact: the largest valid weight, and whether some weight is invalid
            for (std::size_t j = 0; j < len; ++j) {
                if (w[j] >= 0.0f && w[j] <= std::numeric_limits<float>::max())
                    r.wmax = std::max(r.wmax, static_cast<double>(w[j]));
                else
                    r.maybe_bad = true;
            }
        }
    } else {
        B m_acc = zero, s_acc = zero, n_acc = zero;
        double tail_m = 0.0, tail_s = 0.0, tail_n = 0.0;
        for (std::size_t s0 = 0, s = 0; s0 < len; s0 += poisson_sub, ++s) {
            const std::size_t s1 = std::min(len, s0 + poisson_sub);
            B acc = zero, sub_m = zero, sub_s = zero, sub_n = zero;
            std::size_t i = s0;
            if (s1 - s0 == poisson_sub) {  // a whole sub-block: the float path's order of sums
                constexpr std::size_t nb = poisson_sub / W;
                B x[nb];
                KESTREL_UNROLL_FULLY
                for (std::size_t j = 0; j < nb; ++j) {
                    const B a = sd::load(w + s0 + j * W);
                    x[j] = sd::vselect<double>(a <= tb, a, zero);
                    sub_m = sd::vmax<double>(sub_m, a);
                    if constexpr (Validate) {
                        sub_s = sub_s + a;
                        sub_n = sd::vmin<double>(sub_n, a);
                    }
                }
                poisson_pairwise_sum(x);
                acc = x[0];
                i = s1;
            }
            for (; i + W <= s1; i += W) {
                const B a = sd::load_widened(w + i);
                acc = acc + sd::vselect<double>(a <= tb, a, zero);
                sub_m = sd::vmax<double>(sub_m, a);
                if constexpr (Validate) {
                    sub_s = sub_s + a;
                    sub_n = sd::vmin<double>(sub_n, a);
                }
            }
            m_acc = sd::vmax<double>(m_acc, sub_m);
            if constexpr (Validate) {
                s_acc = s_acc + sub_s;
                n_acc = sd::vmin<double>(n_acc, sub_n);
            }
            double ss = 0.0;
            for (; i < s1; ++i) {  // the ragged end of the last group of the vector
                const double a = static_cast<double>(w[i]);
                ss += a <= static_cast<double>(small_max) ? a : 0.0;
                tail_m = std::max(tail_m, a);
                if constexpr (Validate) {
                    tail_s += a;
                    tail_n = std::min(tail_n, a);
                }
            }
            finish_sub(s, s1, acc, ss);
        }
        alignas(64) double lanes[W];
        sd::store(lanes, m_acc);
        r.wmax = tail_m;
        for (std::size_t j = 0; j < W; ++j) r.wmax = std::max(r.wmax, lanes[j]);
        if constexpr (Validate) {
            sd::store(lanes, n_acc);
            double mn = tail_n;
            for (std::size_t j = 0; j < W; ++j) mn = std::min(mn, lanes[j]);
            const double total = sd::hsum<double>(s_acc) + tail_s;
            r.maybe_bad = !(std::isfinite(total) && mn >= 0.0);
        }
    }
    r.xmax = r.wmax > 0.0 ? c * r.wmax : 0.0;
    r.small_max = static_cast<double>(small_max);
    return r;
}

#if KESTREL_HAS_XSIMD && defined(__AVX512F__)
#define KESTREL_POISSON_SUB_LOCATOR 1
/// AVX-512: the items of a whole sub-block located in one step instead of a running sum item by
/// item (a chain of additions and an unpredictable exit). p[j] is the sum of the small x of the
/// sub-block's items 0..j by a fixed log-step tree (Hillis-Steele in each 8-lane register, then
/// each register's carry), x[j] item j's own small x. A point at r (from the sub-block's start)
/// lands in the first item j >= lo with p[j] > r and x[j] > 0: the tree's sums can fall out of
/// order in the last bits where an x is 0, and the test on x keeps an item that cannot be kept
/// out however the sums round (so a zero weight is never kept).
struct poisson_sub_locator {
    alignas(64) double p[poisson_sub];
    alignas(64) double x[poisson_sub];
    std::uint32_t positive = 0;  // bit j: x[j] > 0

    static KESTREL_ALWAYS_INLINE __m512d inclusive_prefix(__m512d a) noexcept {
        a = _mm512_mask_add_pd(a, 0xFE, a, _mm512_permutexvar_pd(_mm512_set_epi64(6, 5, 4, 3, 2, 1, 0, 0), a));
        a = _mm512_mask_add_pd(a, 0xFC, a, _mm512_permutexvar_pd(_mm512_set_epi64(5, 4, 3, 2, 1, 0, 0, 0), a));
        return _mm512_mask_add_pd(a, 0xF0, a, _mm512_permutexvar_pd(_mm512_set_epi64(3, 2, 1, 0, 0, 0, 0, 0), a));
    }
    template <class T>
    KESTREL_ALWAYS_INLINE void build(const T* w, double c, double small_max) noexcept {
        static_assert(poisson_sub == 32, "four 8-lane registers");
        const __m512d cb = _mm512_set1_pd(c);
        __m512d v[4];
        if constexpr (std::is_same<T, float>::value) {
            const __m512 zero = _mm512_setzero_ps(), tf = _mm512_set1_ps(static_cast<float>(small_max));
            for (int h = 0; h < 2; ++h) {
                const __m512 a = _mm512_loadu_ps(w + 16 * h);
                const __mmask16 k = _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(a, zero, _CMP_GT_OQ), a, tf, _CMP_LE_OQ);
                positive |= std::uint32_t(k) << (16 * h);
                v[2 * h] = _mm512_mul_pd(_mm512_maskz_cvtps_pd(static_cast<__mmask8>(k), _mm256_loadu_ps(w + 16 * h)), cb);
                v[2 * h + 1] = _mm512_mul_pd(
                    _mm512_maskz_cvtps_pd(static_cast<__mmask8>(k >> 8), _mm256_loadu_ps(w + 16 * h + 8)), cb);
            }
        } else {
            const __m512d zero = _mm512_setzero_pd(), tb = _mm512_set1_pd(small_max);
            for (int j = 0; j < 4; ++j) {
                const __m512d a = _mm512_loadu_pd(w + 8 * j);
                const __mmask8 k = _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(a, zero, _CMP_GT_OQ), a, tb, _CMP_LE_OQ);
                positive |= std::uint32_t(k) << (8 * j);
                v[j] = _mm512_mul_pd(_mm512_maskz_mov_pd(k, a), cb);
            }
        }
        for (int j = 0; j < 4; ++j) _mm512_store_pd(x + 8 * j, v[j]);
        for (int j = 0; j < 4; ++j) v[j] = inclusive_prefix(v[j]);
        const __m512i last = _mm512_set1_epi64(7);
        for (int j = 1; j < 4; ++j) v[j] = _mm512_add_pd(v[j], _mm512_permutexvar_pd(last, v[j - 1]));
        for (int j = 0; j < 4; ++j) _mm512_store_pd(p + 8 * j, v[j]);
    }
    /// The first item j >= lo with p[j] > r and x[j] > 0, or poisson_sub if none.
    KESTREL_ALWAYS_INLINE unsigned find(double r, unsigned lo) const noexcept {
        const __m512d rb = _mm512_set1_pd(r);
        std::uint64_t m = 0;
        for (int j = 0; j < 4; ++j)
            m |= std::uint64_t(_mm512_cmp_pd_mask(_mm512_load_pd(p + 8 * j), rb, _CMP_GT_OQ)) << (8 * j);
        m &= positive & (~std::uint64_t(0) << lo);
        return m ? static_cast<unsigned>(__builtin_ctzll(m)) : unsigned(poisson_sub);
    }
};
#endif

/// Draws of a group's stream made before its walk (most groups need few when m << n).
inline constexpr std::size_t poisson_ahead = 4;
/// Groups whose first draws are made together (a parallel block starts at a multiple).
inline constexpr std::size_t poisson_ahead_groups = 8;
static_assert(sampling_block % (poisson_group * poisson_ahead_groups) == 0, "blocks of whole 8-group batches");

/// The first poisson_ahead draws of groups g0 .. g0 + 7 (draw j of group g is Philox block
/// (g << 32) + j): for group g0 + l, neglog[j][l] = -log u with u the open uniform of words 0, 1
/// (the gap's exponential before its scale) and coin[j][l] the 53-bit uniform of words 2, 3.
/// With AVX-512 the 32 blocks run in lanes and the logarithms are xsimd's (not std::log's bits:
/// a sample can differ from a build without AVX-512 at the ulp level of the gaps).
inline void poisson_first_draws(const counter_rng& rng, std::uint64_t g0,
                                double (&neglog)[poisson_ahead][poisson_ahead_groups],
                                double (&coin)[poisson_ahead][poisson_ahead_groups]) noexcept {
#ifdef KESTREL_ALIAS_DRAWS_AVX512
    static_assert(poisson_ahead == 4 && poisson_ahead_groups == 8, "4 registers of 8 lanes");
    namespace sd = kestrel::simd::detail;
    const std::uint64_t stream = rng.stream();
    __m512i x0[4], x1[4], x2[4], x3[4];
    const __m512i groups = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(g0)),
                                            _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    for (int j = 0; j < 4; ++j) {  // counter (g << 32) + j: word 0 = j, word 1 = g
        x0[j] = _mm512_set1_epi64(j);
        x1[j] = groups;
        x2[j] = _mm512_set1_epi64(static_cast<long long>(stream));
        x3[j] = _mm512_set1_epi64(static_cast<long long>(stream >> 32));
    }
    philox_avx512_rounds(rng, x0, x1, x2, x3);
    const __m512i low32 = _mm512_set1_epi64(0xffffffffLL);
    const __m512d half = _mm512_set1_pd(0.5), s52 = _mm512_set1_pd(0x1p-52), s53 = _mm512_set1_pd(0x1p-53);
    for (int j = 0; j < 4; ++j) {
        // The conversions of random_conversion, exactly: (join(w0, w1) >> 12 + 1/2) 2^-52 and
        // (join(w2, w3) >> 11) 2^-53 (0xf8: a | (b & c)).
        const __m512i b01 = _mm512_ternarylogic_epi64(_mm512_slli_epi64(x1[j], 32), x0[j], low32, 0xf8);
        const __m512i b23 = _mm512_ternarylogic_epi64(_mm512_slli_epi64(x3[j], 32), x2[j], low32, 0xf8);
        const __m512d u = _mm512_mul_pd(_mm512_add_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64(b01, 12)), half), s52);
        sd::store(neglog[j], -sd::vlog<double>(sd::batch<double>(u)));
        _mm512_storeu_pd(coin[j], _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64(b23, 11)), s53));
    }
#else
    for (std::size_t l = 0; l < poisson_ahead_groups; ++l)
        for (std::size_t j = 0; j < poisson_ahead; ++j) {
            const auto d = rng.block(((g0 + l) << 32) + j);
            neglog[j][l] = -std::log(random_conversion::u64_to_double_open(counter_rng::join(d[0], d[1])));
            coin[j][l] = random_conversion::u53_to_double(counter_rng::join(d[2], d[3]));
        }
#endif
}

/// Samples one group [i0, i1) (already scanned: `scan`, `sub`), appending kept indices to
/// `kept` in increasing order; returns the group's sum of pi_i.
/// `first_neglog[j * stride]` and `first_coin[j * stride]` hold the group's first poisson_ahead
/// draws (poisson_first_draws).
template <class T>
double poisson_walk_group(const T* w, std::size_t i0, std::size_t i1, double c, const poisson_group_scan& scan,
                          const double* sub, const counter_rng& rng, const double* first_neglog,
                          const double* first_coin, std::size_t stride, std::vector<std::size_t>& kept) {
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
    }
    // Block sums from the scan's block lane sums (independent of each other and of the walk).
    constexpr std::size_t SB = poisson_subs_per_block;
    const std::size_t nblk = (nsub + SB - 1) / SB;
    double blk[poisson_blocks_per_group];
    for (std::size_t j = 0; j < nblk; ++j)
        blk[j] = poisson_sub_sum(sub + poisson_subs_per_group * poisson_sub_lanes, j);
    if (!rare)  // every pi_i is a small x_i
        for (std::size_t j = 0; j < nblk; ++j) expected += blk[j];
    if (q > 0.0) {
        const double gap_scale = 1.0 - q;  // gaps of the dominating process, in x units
        // Draw k of the group's stream gives the k-th gap (its first two words) and the coin of
        // the point that gap reaches (the last two). The first poisson_ahead draws were made
        // before the walk, with other groups' (their Philox rounds and logarithms in lanes
        // instead of each waiting on the walk's branches); later draws as the walk needs them.
        std::uint64_t k = 0;  // the current draw
        counter_rng::block_type b{};
        auto gap = [&]() {
            return (k < poisson_ahead ? first_neglog[k * stride]
                                      : -std::log(random_conversion::u64_to_double_open(counter_rng::join(b[0], b[1])))) *
                   gap_scale;
        };
        auto coin_of_draw = [&]() {
            return k < poisson_ahead ? first_coin[k * stride]
                                     : random_conversion::u53_to_double(counter_rng::join(b[2], b[3]));
        };
        auto next_draw = [&]() {
            ++k;
            if (k >= poisson_ahead) b = rng.block(base + k);
        };
        // A point of the dominating process in an item of small x: keep it as a point of the
        // hazard process with probability -log1p(-x) (1 - q) / x, which is >= 1 - q since
        // -log1p(-x) >= x: a coin below 1 - q is a hit without the logarithm (all but about q of
        // the points). Consumes the current draw.
        auto thinning_hit = [&](double x) {
            const double coin = coin_of_draw();
            const bool hit = coin < gap_scale || coin * x < -std::log1p(-x) * gap_scale;
            next_draw();
            return hit;
        };
        double r = gap();  // the next point's distance past the start of the current (sub-)block
        // Blocks of SB sub-blocks are skipped by their sums (one subtraction per block where
        // no point lands: points are rare when m << n); a block a point lands in is walked
        // sub-block by sub-block. The block sum and its sub-blocks' sums can differ in the
        // last bits: a point past the last sub-block's end moves on to the next block.
        for (std::size_t jb = 0; jb < nblk; ++jb) {
            if (r >= blk[jb]) {
                r -= blk[jb];
                continue;
            }
            // The block's sub-block sums first (independent of each other and of r: their
            // horizontal sums overlap instead of each waiting on the walk's last subtraction).
            const std::size_t s_first = jb * SB, s_end = std::min(nsub, s_first + SB);
            double sub_sums[SB];
            for (std::size_t s = s_first; s < s_end; ++s) sub_sums[s - s_first] = poisson_sub_sum(sub, s);
            for (std::size_t s = s_first; s < s_end; ++s) {
                const double sub_s = sub_sums[s - s_first];
                if (r >= sub_s) {  // no point in this sub-block
                    r -= sub_s;
                    continue;
                }
                // Points in sub-block s: find each one's item by the running sum from the start.
                const std::size_t e = std::min(i1, i0 + (s + 1) * poisson_sub);
                std::size_t i = i0 + s * poisson_sub;
#ifdef KESTREL_POISSON_SUB_LOCATOR
                if (e - i == poisson_sub) {
                    poisson_sub_locator loc;
                    loc.build(w + i, c, scan.small_max);
                    unsigned lo = 0;
                    for (;;) {
                        const unsigned j = loc.find(r, lo);
                        if (j == poisson_sub) {  // past the end of the items' sums (rounding)
                            r = std::max(0.0, r - sub_s);
                            break;
                        }
                        if (thinning_hit(loc.x[j])) {
                            kept.push_back(i + j);
                            lo = j + 1;
                            r = loc.p[j] + gap();
                        } else {
                            lo = j;
                            r += gap();
                        }
                        if (r >= sub_s) {
                            r -= sub_s;
                            break;
                        }
                    }
                    continue;
                }
#endif
                double cum = 0.0, x = 0.0;
                for (;;) {
                    i = poisson_find_item(w, i, e, c, r, cum, x);
                    if (i == e) {  // past the item-by-item end (rounding): on to the next sub-block
                        r = std::max(0.0, r - sub_s);
                        break;
                    }
                    if (thinning_hit(x)) {  // restart at the end of item i
                        kept.push_back(i);
                        cum += x;
                        ++i;
                        x = 0.0;
                        r = cum + gap();
                    } else {  // the next point of the dominating process
                        r += gap();
                    }
                    if (r >= sub_s) {
                        r -= sub_s;
                        break;
                    }
                }
            }
        }
    }
    if (rare) std::sort(kept.begin() + static_cast<std::ptrdiff_t>(first_kept), kept.end());
    return expected;
}

}  // namespace kestrel::sensitivity::detail
