// Internal: the float exponential of float logit rows, lane by lane and one entry at a time
// with bit-identical results, and the split of a float batch into two double batches.
//
// Kestrel's float softmax (speculative/softmax.hpp) evaluates e = exp(a) in float for the float
// argument a = (l - m) * tau, rounded after the subtraction and after the product (tau = 1 /
// temperature rounded to float, m a float shift in logit units: no FMA, so every build rounds
// the same way, and each rounding is relative to |a|, never to |l|).
// Every place that needs a probability of a float logit row (accept tests, normalizer pass,
// residual chunk sums, inverse-CDF scan, K-SEQ pass, sampling filters) gets e from
// float_law_exp (one batch) or float_law_exp_one (one entry: the same batch operations on a
// splatted value, lane 0 taken), so the sampler's law is exactly the residual law of that
// softmax. xsimd's float exp (a Cephes-style polynomial after range reduction) flushes to 0
// for a <= -88.38; the scalar build uses std::exp(float), which gives denormals down to
// a ~ -103.9. Either way only probabilities below ~1e-38 of a chunk's maximum are lost.
//
// (A float-to-double batch split has no counterpart in core/simd.hpp; it lives here.)
#pragma once

#include <cmath>
#include <cstddef>

#include "../../core/simd.hpp"

namespace kestrel {
namespace speculative {
namespace detail {

namespace sdf = ::kestrel::simd::detail;

/// Float lanes per batch, and how many double batches one float batch fills (2 in SIMD
/// builds, where both batch types have the same register size; 1 in the scalar build).
inline constexpr std::size_t float_width = sdf::width<float>;
inline constexpr std::size_t doubles_per_float_batch = sdf::width<float> / sdf::width<double>;
static_assert(doubles_per_float_batch == 1 || doubles_per_float_batch == 2, "float batch = 1 or 2 double batches");

/// e = exp((l - m) * tau) lane by lane, in float.
KESTREL_ALWAYS_INLINE sdf::batch<float> float_law_exp(const sdf::batch<float>& l, const sdf::batch<float>& tau,
                                                      const sdf::batch<float>& m) noexcept {
    return sdf::vexp((l - m) * tau);
}

/// The same e for one entry: the batch operations on a splatted value, lane 0 (bit-identical
/// to the lane of float_law_exp that holds l).
inline float float_law_exp_one(float l, float tau, float m) noexcept {
    const sdf::batch<float> e = float_law_exp(sdf::splat(l), sdf::splat(tau), sdf::splat(m));
    alignas(64) float lanes[float_width];
    sdf::store(lanes, e);
    return lanes[0];
}

#if KESTREL_HAS_XSIMD
/// The low and high halves of a float batch, widened exactly to double batches (SIMD builds).
/// (A template so that the branches for other register sizes are not instantiated.)
template <class F>
KESTREL_ALWAYS_INLINE void widen_halves(const sdf::batch<F>& e, sdf::batch<double>& lo,
                                        sdf::batch<double>& hi) noexcept {
    static_assert(sizeof(F) == sizeof(float), "float batches");
    using freg [[maybe_unused]] = typename xsimd::batch<F>::register_type;
    constexpr std::size_t lanes = sdf::width<F>;
#if defined(__AVX512F__)
    if constexpr (sizeof(freg) == 64 && lanes == 16) {
        const __m512 v = e;
        lo = sdf::batch<double>(_mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        hi = sdf::batch<double>(
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
        return;
    }
#endif
#if defined(__AVX__)
    if constexpr (sizeof(freg) == 32 && lanes == 8) {
        const __m256 v = e;
        lo = sdf::batch<double>(_mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = sdf::batch<double>(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        return;
    }
#endif
#if defined(__SSE2__)
    if constexpr (sizeof(freg) == 16 && lanes == 4) {
        const __m128 v = e;
        lo = sdf::batch<double>(_mm_cvtps_pd(v));
        hi = sdf::batch<double>(_mm_cvtps_pd(_mm_movehl_ps(v, v)));
        return;
    }
#endif
    alignas(64) F f[lanes];
    sdf::store(f, e);
    lo = sdf::load_widened(f);
    hi = sdf::load_widened(f + lanes / 2);
}
#endif

}  // namespace detail
}  // namespace speculative
}  // namespace kestrel
