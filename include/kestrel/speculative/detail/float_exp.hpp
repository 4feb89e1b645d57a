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
// exp_f (float_exp below) is one definition for every build, SIMD or scalar (Tang's table
// method, ACM TOMS 15(2), 1989, with a 16-entry table):
//   a <- min(max(a, -104), 89)          (NaN stays NaN; -inf becomes -104, whose exp rounds to 0)
//   t  = fl(a log2(e) + S), S = 1.5 2^19 (fused where the target fuses: t holds a log2(e)
//                                         rounded to a multiple of 1/16, and its low mantissa
//                                         bits hold k = 16 (t - S) as an integer)
//   j  = t - S = k / 16                  (exact)
//   r  = (a - j C1) - j C2               (Cody & Waite 1980: C1 = 355/512 holds 9 bits and j at
//                                         most 12, so j C1 is exact; C2 = fl(ln 2 - C1));
//                                         |r| <= ln(2) / 32 + a rounding
//   T  = fl(2^((k mod 16) / 16))         (the table, correctly rounded to float)
//   y  = T + (T r) (1 + r (1/2 + r c3))  (c3 = fl(1/6): Taylor to r^3, whose remainder r^4 / 24
//                                         <= 1e-8 relative is a sixth of a float rounding)
//   e  = y 2^floor(j), rounded once     (AVX-512: vscalefps; elsewhere (y 2^k1) 2^k2 with
//                                         k1 = floor(floor(j) / 2), k2 = floor(j) - k1: the
//                                         first product is exact, the second rounds once, to a
//                                         denormal or to +inf where the result leaves the
//                                         normal range)
// Hence e = 0 exactly for a <= -103.98 (below half the smallest denormal), a denormal for
// -103.98 < a < -87.34, +inf for a >= 88.73; every probability of a float logit row below
// 2^-149 times its chunk's largest is 0 (and one below 2^-53 cannot be drawn by a 53-bit
// uniform anyway). Error: <= 2 ulp over the whole float range (the table's rounding, at most
// 0.8 of a half-ulp, plus the final rounding and the small terms; measured over every float in
// [-87, 88.5]: 1.07 ulp with FMA, 1.08 without; tests/speculative/test_row_passes.cpp measures
// it against long double on every build).
//
// Fused steps: on targets with FMA (__FMA__ or __AVX512F__ defined in the translation unit)
// the shifted product t, the reduction's second step and the polynomial's steps are fused
// multiply-adds (std::fma in the scalar build, the FMA instruction in SIMD lanes); without FMA
// they are a product rounded, then a sum. The first reduction step (j C1 exact) and everything
// else round identically either way. So lanes, one entry, the SIMD build and the scalar build
// agree bit for bit within a target (tests check lanes against the scalar definition); the
// laws of FMA and non-FMA targets differ in the last float bits (each within the 2 ulp bound).
//
// Cost (AVX-512, 16 lanes): 8 operations on the multiply-add pipes (t, the reduction 2, the
// polynomial 4, the scale 1), against 11 for the degree-6 polynomial this replaced (2026-12-03,
// whose argument rounding and six Horner steps kept those pipes busy): 4.4 instead of 5.5 cycles
// per 16 lanes in L1, and the float normalizer pass 8.4 instead of 9.2 cycles per 16 entries
// (measured on Zen 5). The row passes over float logits are bounded by these operations, not by
// memory (benchmarks/speculative.cpp, exp_rate). The table lookup is one register permute with
// AVX-512, two and a blend with AVX2, and a lane-by-lane read of the table elsewhere. The
// normalizer pass (row_math.hpp) drops the upper clamp (its arguments are <= 0) and, at T = 1,
// the product by tau: the same bits.
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
inline constexpr float shifter = 786432.0f;         // 1.5 2^19: rounds a log2(e) to 1/16
inline constexpr std::uint32_t shifter_bits = 0x49400000u;
inline constexpr float c1 = 0.693359375f;           // 355 / 512
inline constexpr float c2 = -2.12194440e-4f;        // ln 2 - c1, rounded to float
inline constexpr float c3 = 0.166666672f;           // 1 / 6, rounded to float (0x3e2aaaab)
/// 2^(i / 16) correctly rounded to float (bit patterns 0x3f800000, 0x3f85aac3, ... 0x3ff5257d).
alignas(64) inline constexpr float table[16] = {
    1.0f,         1.04427373f, 1.09050775f, 1.13878858f, 1.18920708f, 1.24185777f, 1.29683959f, 1.35425556f,
    1.41421354f, 1.47682619f, 1.54221082f, 1.61049032f, 1.68179286f, 1.75625217f, 1.8340081f,  1.91520655f};
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
#if KESTREL_SPEC_FLOAT_EXP_FMA
    const float t = std::fma(a, log2e, shifter);
#else
    const float t = a * log2e + shifter;
#endif
    const float j = t - shifter;
    std::uint32_t tb;
    std::memcpy(&tb, &t, sizeof tb);
    // k = 16 j from t's bits (t stays in [2^19, 2^20)); a NaN argument takes k = 0 (y is NaN).
    const std::int32_t k = a == a ? static_cast<std::int32_t>(tb - shifter_bits) : 0;
#if KESTREL_SPEC_FLOAT_EXP_FMA
    float r = std::fma(-j, c1, a);
    r = std::fma(-j, c2, r);
    float p = std::fma(c3, r, 0.5f);
    p = std::fma(p, r, 1.0f);
    const float T = table[k & 15];
    const float y = std::fma(T * r, p, T);
#else
    float r = a - j * c1;
    r = r - j * c2;
    float p = c3 * r + 0.5f;
    p = p * r + 1.0f;
    const float T = table[k & 15];
    const float y = (T * r) * p + T;
#endif
    const std::int32_t kk = k >= 0 ? k / 16 : -((15 - k) / 16);  // floor(j)
    const std::int32_t k1 = kk >= 0 ? kk / 2 : -((1 - kk) / 2);  // floor(kk / 2)
    return (y * float_pow2(k1)) * float_pow2(kk - k1);
}

#if KESTREL_HAS_XSIMD
/// fexp::table[k mod 16] lane by lane (SIMD builds other than AVX-512's 16 float lanes, which
/// permute in float_exp_lanes): two register permutes and a blend with AVX2, else lane by lane.
template <class F>
KESTREL_ALWAYS_INLINE sdf::batch<F> float_exp_table_lookup(const xsimd::batch<std::int32_t>& k) noexcept {
    using B [[maybe_unused]] = sdf::batch<F>;
    using freg [[maybe_unused]] = typename xsimd::batch<F>::register_type;
    constexpr std::size_t lanes = sdf::width<F>;
#if defined(__AVX2__)
    if constexpr (sizeof(freg) == 32 && lanes == 8) {
        const __m256i idx = k;  // permutevar8x32 reads the low 3 bits; bit 3 picks the half
        const __m256 lo = _mm256_permutevar8x32_ps(_mm256_load_ps(fexp::table), idx);
        const __m256 hi = _mm256_permutevar8x32_ps(_mm256_load_ps(fexp::table + 8), idx);
        return B(_mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28))));
    }
#endif
    alignas(64) std::int32_t idx[lanes];
    alignas(64) F out[lanes];
    k.store_aligned(idx);
    for (std::size_t i = 0; i < lanes; ++i) out[i] = fexp::table[idx[i] & 15];
    return sdf::load(out);
}

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
        const __m512 s = _mm512_set1_ps(fexp::shifter);
        const __m512 t = _mm512_fmadd_ps(a, _mm512_set1_ps(fexp::log2e), s);
        const __m512 j = _mm512_sub_ps(t, s);
        __m512 r = _mm512_fnmadd_ps(j, _mm512_set1_ps(fexp::c1), a);
        r = _mm512_fnmadd_ps(j, _mm512_set1_ps(fexp::c2), r);
        // The permute reads the index's low 4 bits: k mod 16 (t's bits minus S's end in 4 zeros).
        const __m512 T = _mm512_permutexvar_ps(_mm512_castps_si512(t), _mm512_load_ps(fexp::table));
        __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(fexp::c3), r, _mm512_set1_ps(0.5f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
        const __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(T, r), p, T);
        return B(_mm512_scalef_ps(y, j));  // y 2^floor(j)
    }
#endif
    using I = xsimd::batch<std::int32_t>;
    B a = xsimd::max(B(fexp::lo), arg);  // x86: the second operand on NaN (stays NaN)
    if constexpr (!NonPositive) a = xsimd::min(B(fexp::hi), a);
#if KESTREL_SPEC_FLOAT_EXP_FMA
    const B t = xsimd::fma(a, B(fexp::log2e), B(fexp::shifter));
#else
    const B t = a * B(fexp::log2e) + B(fexp::shifter);
#endif
    const B j = t - B(fexp::shifter);
    // k = 16 j as an integer (a NaN lane's is garbage; its y is NaN, so the result stays NaN).
    const I k = xsimd::bitwise_cast<I>(t) - I(static_cast<std::int32_t>(fexp::shifter_bits));
#if KESTREL_SPEC_FLOAT_EXP_FMA
    B r = xsimd::fnma(j, B(fexp::c1), a);
    r = xsimd::fnma(j, B(fexp::c2), r);
    B p = xsimd::fma(B(fexp::c3), r, B(0.5f));
    p = xsimd::fma(p, r, B(1.0f));
    const B T = float_exp_table_lookup<F>(k);
    const B y = xsimd::fma(T * r, p, T);
#else
    B r = a - j * B(fexp::c1);
    r = r - j * B(fexp::c2);
    B p = B(fexp::c3) * r + B(0.5f);
    p = p * r + B(1.0f);
    const B T = float_exp_table_lookup<F>(k);
    const B y = (T * r) * p + T;
#endif
    const I kk = k >> 4;  // arithmetic shift: floor(j)
    const I k1 = kk >> 1;  // floor(kk / 2)
    const I k2 = kk - k1;
    const B s1 = xsimd::bitwise_cast<B>((k1 + I(127)) << 23);
    const B s2 = xsimd::bitwise_cast<B>((k2 + I(127)) << 23);
    return (y * s1) * s2;
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
