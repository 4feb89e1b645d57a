// Validation of user sampling weights, shared by every sampler of the family.
//
// A weight vector is valid when it is non-empty, every entry is finite and >= 0, and the
// total (summed in double) is finite and > 0. The total is summed in fixed blocks of
// `sampling_block` entries, blocks in index order, so it is the same double at any thread
// count. Inside a block, summarize_sampling_weights sums in SIMD lanes (core/simd.hpp's double
// batches, two accumulators, lanes folded by hsum, the ragged tail left to right): one read of
// the weights at memory speed (a left-to-right double sum is a chain of dependent adds, several
// times slower than the read). A refusal names the smallest offending index.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"

namespace kestrel::sensitivity {

/// Block length of every parallel pass over weights in this family. Block boundaries depend on
/// n only, which is what makes sums and samples independent of the thread count.
inline constexpr std::size_t sampling_block = std::size_t(1) << 15;

/// What validation learns in its one pass.
struct sampling_weight_summary {
    double total = 0.0;          ///< sum of the weights in double (block order, see above)
    std::size_t positive = 0;    ///< number of entries > 0
};

namespace detail {

inline std::size_t sampling_blocks(std::size_t n) noexcept { return (n + sampling_block - 1) / sampling_block; }

/// Below this size a pass runs on the calling thread (waking helpers costs more).
inline constexpr std::size_t parallel_threshold = std::size_t(1) << 16;

inline exec_policy small_serial(std::size_t n, exec_policy policy) noexcept {
    return n < parallel_threshold ? exec_policy::serial() : policy;
}

/// Draws per batch of random blocks generated ahead of their use.
inline constexpr std::size_t random_batch = 128;

/// out[k] = rng.block(first + k) for k < count: a loop without data dependencies that compilers
/// vectorize (Philox's 32x32->64 multiplies map to vector multiplies), several times faster per
/// block than interleaving each block with its use (in fixed-trip groups, so at -O2 too).
inline void philox_blocks(const counter_rng& rng, std::uint64_t first, std::size_t count,
                          counter_rng::block_type* out) noexcept {
    ::kestrel::detail::for_each_in_fixed_groups(
        0, count, [&](std::size_t k) KESTREL_LAMBDA_INLINE { out[k] = rng.block(first + k); });
}

}  // namespace detail

namespace detail {

/// One SIMD scan of w[0, len): the sum in double, the number of positive entries and the number
/// of valid entries (finite and >= 0), all in double lanes (exact counts below 2^53). The same
/// operations for float and double input (float is widened exactly), so a float vector and the
/// double vector of the same values give the same bits.
struct weight_scan {
    double sum = 0.0, positive = 0.0, valid = 0.0;
};

/// The lane accumulators of a weight scan (sums s, positive counts p, valid counts v, two of
/// each) and the step that adds the 2 W entries w[0 .. 2 W) to them (W = width<double>).
template <class T>
struct weight_lanes {
    using B = kestrel::simd::detail::batch<double>;
    static constexpr std::size_t W = kestrel::simd::detail::width<double>;
    const B zero = kestrel::simd::detail::splat<double>(0.0), one = kestrel::simd::detail::splat<double>(1.0),
            big = kestrel::simd::detail::splat<double>(double(std::numeric_limits<T>::max()));
    B s0 = zero, s1 = zero, p0 = zero, p1 = zero, v0 = zero, v1 = zero;

    KESTREL_ALWAYS_INLINE void add_pair(const T* w) noexcept {
        namespace sd = kestrel::simd::detail;
        const B a = sd::load_widened(w), b = sd::load_widened(w + W);
        s0 = s0 + a;
        s1 = s1 + b;
        p0 = p0 + sd::vselect<double>(zero < a, one, zero);
        p1 = p1 + sd::vselect<double>(zero < b, one, zero);
        v0 = v0 + sd::vselect<double>((zero <= a) & (a <= big), one, zero);  // false for NaN, inf, < 0
        v1 = v1 + sd::vselect<double>((zero <= b) & (b <= big), one, zero);
    }
    double sum() const noexcept { return kestrel::simd::detail::hsum<double>(s0 + s1); }
    double positive() const noexcept { return kestrel::simd::detail::hsum<double>(p0 + p1); }
    double valid() const noexcept { return kestrel::simd::detail::hsum<double>(v0 + v1); }
};

template <class T>
KESTREL_ALWAYS_INLINE weight_scan scan_weights(const T* w, std::size_t len) noexcept {
    constexpr std::size_t W = weight_lanes<T>::W;
    weight_lanes<T> lanes;
    std::size_t i = 0;
    for (; i + 2 * W <= len; i += 2 * W) lanes.add_pair(w + i);
    weight_scan r{lanes.sum(), lanes.positive(), lanes.valid()};
    for (; i < len; ++i) {
        const double a = static_cast<double>(w[i]);
        r.sum += a;
        r.positive += a > 0.0 ? 1.0 : 0.0;
        r.valid += (a >= 0.0 && a <= double(std::numeric_limits<T>::max())) ? 1.0 : 0.0;
    }
    return r;
}

/// The smallest index in [i0, i1) whose weight is negative, NaN or infinite (SIZE_MAX if none).
template <class T>
std::size_t first_bad_weight(const T* w, std::size_t i0, std::size_t i1) noexcept {
    for (std::size_t i = i0; i < i1; ++i)
        if (!(w[i] >= T(0) && w[i] <= std::numeric_limits<T>::max())) return i;
    return SIZE_MAX;
}

/// summarize_sampling_weights with SIMD block sums (see the header comment).
template <class T>
sampling_weight_summary fast_weight_summary(vector_view<const T> weights, const char* function, exec_policy policy,
                                            const char* argument) {
    static_assert(std::is_floating_point_v<T>, "sampling weights are float or double");
    require_valid_policy(policy, function);
    const std::size_t n = weights.size();
    require(n > 0, function, argument, "is empty");
    const std::size_t nb = sampling_blocks(n);
    std::vector<weight_scan> parts(nb);
    const T* w = weights.data();
    parallel_for(nb, small_serial(n, policy), [&](std::size_t b) {
        const std::size_t i0 = b * sampling_block, i1 = std::min(n, i0 + sampling_block);
        parts[b] = scan_weights(w + i0, i1 - i0);
    });
    sampling_weight_summary out;
    double positive = 0.0;
    for (std::size_t b = 0; b < nb; ++b) {
        const std::size_t i0 = b * sampling_block, i1 = std::min(n, i0 + sampling_block);
        if (parts[b].valid != static_cast<double>(i1 - i0)) {
            const std::size_t bad = first_bad_weight(w, i0, i1);
            fail_argument(function, argument, "entry ", bad, " is ", weights[bad], " (weights must be finite and >= 0)");
        }
        out.total += parts[b].sum;
        positive += parts[b].positive;
    }
    out.positive = static_cast<std::size_t>(positive);
    require(out.total > 0.0, function, argument, "all ", n, " weights are zero (nothing can be sampled)");
    require(std::isfinite(out.total), function, argument, "the total weight overflows double (", out.total, ")");
    return out;
}

}  // namespace detail

/// Validates `weights` for the public function `function` and returns their total and the
/// number of positive entries. Throws kestrel::invalid_argument naming `function` and
/// `argument` on: an empty vector, a negative, NaN or infinite entry (the smallest such index
/// is named), all entries zero, or a total that overflows double. Reads the weights once, in
/// SIMD (see the header comment for the summation order).
template <class T>
sampling_weight_summary summarize_sampling_weights(vector_view<const T> weights, const char* function,
                                                   exec_policy policy = {}, const char* argument = "weights") {
    return detail::fast_weight_summary(weights, function, policy, argument);
}

/// Validates `weights` (see summarize_sampling_weights) and returns their total in double.
template <class T>
double validate_sampling_weights(vector_view<const T> weights, const char* function, exec_policy policy = {},
                                 const char* argument = "weights") {
    return summarize_sampling_weights(weights, function, policy, argument).total;
}

}  // namespace kestrel::sensitivity
