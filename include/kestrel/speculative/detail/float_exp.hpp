// Internal: the float exponential of float logit rows (Kestrel's own), lane by lane and one
// entry at a time with bit-identical results, and the split of a float batch into two double
// batches.
//
// Kestrel's float softmax (speculative/softmax.hpp) evaluates e = exp_f(a) in float for the
// float argument a = (l - m) * tau, rounded after the subtraction and after the product (tau =
// 1 / temperature rounded to float, m a float shift in logit units: no FMA, so every build
// rounds the argument the same way, and each rounding is relative to |a|, never to |l|).
// Every place that needs a probability of a float logit row (accept tests, normalizer pass,
// residual chunk sums, inverse-CDF scan, K-SEQ pass, sampling filters) gets e from
// float_law_exp (one batch) or float_law_exp_one (one entry: the same batch operations on a
// splatted value, lane 0 taken), so the sampler's law is exactly the residual law of that
// softmax.
//
// exp_f (float_exp below) is one definition for every build, SIMD or scalar:
//   a <- min(max(a, -104), 89)          (NaN stays NaN; -inf becomes -104, whose exp rounds to 0)
//   k  = nearest integer to fl(a * log2(e)) (ties to even)
//   r  = (a - k C1) - k C2               (Cody & Waite 1980: C1 = 355/512 holds 9 bits, so
//                                         k C1 is exact for |k| <= 2^15; C2 = fl(ln 2 - C1))
//   q  = 1 + r (1 + r (c2 + r (c3 + r (c4 + r (c5 + r c6)))))   (Horner)
//   e  = q 2^k, rounded once           (AVX-512: vscalefps; elsewhere (q 2^k1) 2^k2 with
//                                         k1 = floor(k / 2), k2 = k - k1: the first product is
//                                         exact, the second rounds once, to a denormal or to
//                                         +inf where the result leaves the normal range)
// with c2..c6 a minimax fit of (e^r - 1 - r) / r^2 on |r| <= 1.002 ln(2) / 2 for the
// relative error of e^r (Lawson's iteration, 3.1e-9 before rounding the coefficients to float).
// Hence e = 0 exactly for a <= -103.98 (below half the smallest denormal), a denormal for
// -103.98 < a < -87.34, +inf for a >= 88.73; every probability of a float logit row below
// 2^-149 times its chunk's largest is 0 (and one below 2^-53 cannot be drawn by a 53-bit
// uniform anyway). Error: <= 2 ulp over the whole float range (tests/speculative/
// test_row_passes.cpp measures it against long double on every build).
//
// Fused steps: on targets with FMA (__FMA__ or __AVX512F__ defined in the translation unit)
// the reduction's second step and the Horner steps are fused multiply-adds (std::fma in the
// scalar build, the FMA instruction in SIMD lanes); without FMA they are a product rounded,
// then a sum. The first reduction step (k C1 exact) and everything else round identically
// either way. So lanes, one entry, the SIMD build and the scalar build agree bit for bit
// within a target (tests check lanes against the scalar definition); the laws of FMA and
// non-FMA targets differ in the last float bits (each within the 2 ulp bound).
//
// Cost (AVX-512, 16 lanes): 13 vector operations (clamp 2, product and round 2, reduction 2,
// Horner 6, scale 1) against 19 for xsimd's float exp, with no select: the row passes over
// float logits are bounded by these operations, not by memory (benchmarks/speculative.cpp,
// exp_rate). Other targets build 2^k from integer lanes (6 more operations). The normalizer
// pass (row_math.hpp) drops the upper clamp (its arguments are <= 0) and, at T = 1, the
// product by tau: 11 operations per lane batch, the same bits.
//
// (A float-to-double batch split has no counterpart in core/simd.hpp; it lives here.)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../core/simd.hpp"

#if defined(__FMA__) || defined(__AVX512F__)
#define KESTREL_SPEC_FLOAT_EXP_FMA 1
#else
#define KESTREL_SPEC_FLOAT_EXP_FMA 0
#endif

namespace kestrel {
namespace speculative {
namespace detail {

namespace sdf = ::kestrel::simd::detail;

/// Float lanes per batch, and how many double batches one float batch fills (2 in SIMD
/// builds, where both batch types have the same register size; 1 in the scalar build).
inline constexpr std::size_t float_width = sdf::width<float>;
inline constexpr std::size_t doubles_per_float_batch = sdf::width<float> / sdf::width<double>;
static_assert(doubles_per_float_batch == 1 || doubles_per_float_batch == 2, "float batch = 1 or 2 double batches");

/// True when exp_f's multiply-adds are fused on this target (see the header comment).
inline constexpr bool float_exp_fused = KESTREL_SPEC_FLOAT_EXP_FMA != 0;

/// exp_f's constants (see the header comment).
namespace fexp {
inline constexpr float lo = -104.0f, hi = 89.0f;   // clamp of the argument
inline constexpr float log2e = 1.44269504088896341f;
inline constexpr float c1 = 0.693359375f;           // 355 / 512
inline constexpr float c2 = -2.12194440e-4f;        // ln 2 - c1, rounded to float
inline constexpr float p2 = 0.4999999403953552f;    // 0x3efffffe
inline constexpr float p3 = 0.1666651964187622f;    // 0x3e2aaa48
inline constexpr float p4 = 0.041668400168418884f;  // 0x3d2aac7c
inline constexpr float p5 = 0.008368851616978645f;  // 0x3c091d82
inline constexpr float p6 = 0.0013814318226650357f; // 0x3ab51129
}  // namespace fexp

/// 2^j as a float for an integer j in [-126, 127] (exponent field).
inline float float_pow2(std::int32_t j) noexcept {
    const std::uint32_t bits = static_cast<std::uint32_t>(j + 127) << 23;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

/// exp_f(a), one float: the scalar definition (the scalar build's lanes; tests compare the
/// SIMD lanes against it).
inline float float_exp_scalar(float a) noexcept {
    using namespace fexp;
    a = a < lo ? lo : a;  // NaN compares false: it stays NaN
    a = a > hi ? hi : a;
    const float x = a * log2e;
    const float kf = std::nearbyint(x);
    const std::int32_t k = static_cast<std::int32_t>(a == a ? kf : 0.0f);
#if KESTREL_SPEC_FLOAT_EXP_FMA
    float r = std::fma(-kf, c1, a);
    r = std::fma(-kf, c2, r);
    float q = std::fma(p6, r, p5);
    q = std::fma(q, r, p4);
    q = std::fma(q, r, p3);
    q = std::fma(q, r, p2);
    q = std::fma(q, r, 1.0f);
    q = std::fma(q, r, 1.0f);
#else
    float r = a - kf * c1;
    r = r - kf * c2;
    float q = p6 * r + p5;
    q = q * r + p4;
    q = q * r + p3;
    q = q * r + p2;
    q = q * r + 1.0f;
    q = q * r + 1.0f;
#endif
    const std::int32_t k1 = k >= 0 ? k / 2 : -((1 - k) / 2);  // floor(k / 2)
    return (q * float_pow2(k1)) * float_pow2(k - k1);
}

#if KESTREL_HAS_XSIMD
/// exp_f lane by lane (SIMD builds); the same bits as float_exp_scalar on every lane.
/// NonPositive: every lane is <= 0 or NaN (a normalizer pass's arguments, (l - m_k) tau with
/// m_k the chunk's maximum), so the upper clamp, min(89, a) = a there, is skipped: the same
/// bits, one operation fewer.
/// (A template so that the branches for other register sizes are not instantiated.)
template <class F, bool NonPositive = false>
KESTREL_ALWAYS_INLINE sdf::batch<F> float_exp_lanes(const sdf::batch<F>& arg) noexcept {
    static_assert(sizeof(F) == sizeof(float), "float batches");
    using B = sdf::batch<F>;
    using freg [[maybe_unused]] = typename xsimd::batch<F>::register_type;
    [[maybe_unused]] constexpr std::size_t lanes = sdf::width<F>;
#if defined(__AVX512F__)
    if constexpr (sizeof(freg) == 64 && lanes == 16) {
        // max / min return their second operand when one is NaN: a NaN argument stays NaN.
        __m512 a = _mm512_max_ps(_mm512_set1_ps(fexp::lo), arg);
        if constexpr (!NonPositive) a = _mm512_min_ps(_mm512_set1_ps(fexp::hi), a);
        const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(fexp::log2e)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(fexp::c1), a);
        r = _mm512_fnmadd_ps(k, _mm512_set1_ps(fexp::c2), r);
        __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(fexp::p6), r, _mm512_set1_ps(fexp::p5));
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(fexp::p4));
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(fexp::p3));
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(fexp::p2));
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f));
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f));
        return B(_mm512_scalef_ps(q, k));
    }
#endif
    using I = xsimd::batch<std::int32_t>;
    B a = xsimd::max(B(fexp::lo), arg);  // x86: the second operand on NaN (stays NaN)
    if constexpr (!NonPositive) a = xsimd::min(B(fexp::hi), a);
    const I k = xsimd::nearbyint_as_int(a * B(fexp::log2e));  // ties to even (current mode)
    const B kf = xsimd::to_float(k);
#if KESTREL_SPEC_FLOAT_EXP_FMA
    B r = xsimd::fnma(kf, B(fexp::c1), a);
    r = xsimd::fnma(kf, B(fexp::c2), r);
    B q = xsimd::fma(B(fexp::p6), r, B(fexp::p5));
    q = xsimd::fma(q, r, B(fexp::p4));
    q = xsimd::fma(q, r, B(fexp::p3));
    q = xsimd::fma(q, r, B(fexp::p2));
    q = xsimd::fma(q, r, B(1.0f));
    q = xsimd::fma(q, r, B(1.0f));
#else
    B r = a - kf * B(fexp::c1);
    r = r - kf * B(fexp::c2);
    B q = B(fexp::p6) * r + B(fexp::p5);
    q = q * r + B(fexp::p4);
    q = q * r + B(fexp::p3);
    q = q * r + B(fexp::p2);
    q = q * r + B(1.0f);
    q = q * r + B(1.0f);
#endif
    // A NaN lane's k is the integer indefinite; q is NaN there, so the product stays NaN.
    const I k1 = k >> 1;  // arithmetic shift: floor(k / 2)
    const I k2 = k - k1;
    const B s1 = xsimd::bitwise_cast<B>((k1 + I(127)) << 23);
    const B s2 = xsimd::bitwise_cast<B>((k2 + I(127)) << 23);
    return (q * s1) * s2;
}
#endif

/// e = exp_f((l - m) * tau) lane by lane, in float.
KESTREL_ALWAYS_INLINE sdf::batch<float> float_law_exp(const sdf::batch<float>& l, const sdf::batch<float>& tau,
                                                      const sdf::batch<float>& m) noexcept {
#if KESTREL_HAS_XSIMD
    return float_exp_lanes<float>((l - m) * tau);
#else
    return float_exp_scalar((l - m) * tau);
#endif
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
