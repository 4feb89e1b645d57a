// Internal: the draw pipeline of sample_with_replacement (alias_table.hpp).
//
// Draw j of a stream is one Philox4x32-10 block b = counter_rng::block(j) (core/random.hpp):
// all four 32-bit words are used, words 0,1 for the column c = floor(join(b0, b1) * n / 2^64)
// and words 2,3 for the coin u = (join(b2, b3) >> 11) * 2^-53; the draw is c if u < prob[c]
// else alias[c]. This header computes exactly those bits, `draw_chunk` draws at a time:
//
// * SIMD Philox (AVX-512: 8 counters per register, AVX2: 4), four registers interleaved so the
//   multiplies of one round overlap. Each 32-bit word lives in the low half of a 64-bit lane;
//   a round (Salmon et al., SC'11, Philox4x32: c0' = hi(M1 c2) ^ c1 ^ k0, c1' = lo(M1 c2),
//   c2' = hi(M0 c0) ^ c3 ^ k1, c3' = lo(M0 c0)) is then two widening multiplies
//   (vpmuludq reads only the low 32 bits of each lane), two shifts and two three-way xors: the
//   high halves of the lanes carry garbage that never reaches a low half (multiplies ignore
//   it, shifts by 32 replace it, xors keep it in place), and the words are the low halves at
//   the end. No lane shuffles at all.
// * The column by two 32x32->64 multiplies when n < 2^32 (b = bh 2^32 + bl:
//   floor(b n / 2^64) = floor((bh n + floor(bl n / 2^32)) / 2^32), and bh n + (bl n >> 32) <
//   2^64, so nothing overflows); a larger n takes the scalar 64x64 multiply-high.
// * The coin as an exact double (the 53-bit integer converts exactly, the 2^-53 scaling is
//   exact), so u < prob is the same comparison as alias_table::draw's.
//
// Without AVX2 (or with KESTREL_USE_XSIMD=0) the same words come from the word-sliced scalar
// loop philox_words (compilers vectorize it with SSE2 multiplies).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/config.hpp"
#include "../../core/random.hpp"
#include "../../core/simd.hpp"
#include "alias_build.hpp"

#if KESTREL_HAS_XSIMD && (defined(__AVX2__) || defined(__AVX512F__))
#include <immintrin.h>
#endif

namespace kestrel::sensitivity::detail {

/// floor(a * b / 2^64): the high word of the 128-bit product.
inline std::uint64_t mulhi64(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
#else
    const std::uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
    const std::uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
    const std::uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffu) + (p2 & 0xffffffffu);
    return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
#endif
}

/// Draws per step of the pipeline (a multiple of every SIMD path's 4 registers x lanes).
inline constexpr std::size_t draw_chunk = 32;
/// Chunks whose table lines are in flight while one chunk resolves.
inline constexpr std::size_t alias_ahead = 4;

/// The Philox4x32-10 blocks of draws first .. first + Count - 1 of rng (the same bits as
/// rng.block(first + k)), word by word: w[0][k] .. w[3][k]. Plain loops over the counters
/// (compilers vectorize them with the SIMD level they are given): the path without AVX2.
template <std::size_t Count>
inline void philox_words(const counter_rng& rng, std::uint64_t first, std::uint32_t (&w)[4][Count]) noexcept {
    const std::uint64_t seed = rng.seed(), stream = rng.stream();
    std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
    for (std::size_t k = 0; k < Count; ++k) {
        w[0][k] = static_cast<std::uint32_t>(first + k);
        w[1][k] = static_cast<std::uint32_t>((first + k) >> 32);
        w[2][k] = static_cast<std::uint32_t>(stream);
        w[3][k] = static_cast<std::uint32_t>(stream >> 32);
    }
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += philox4x32_10::weyl0;
            k1 += philox4x32_10::weyl1;
        }
        for (std::size_t k = 0; k < Count; ++k) {
            const std::uint64_t p0 = std::uint64_t(w[0][k]) * philox4x32_10::multiplier0;
            const std::uint64_t p1 = std::uint64_t(w[2][k]) * philox4x32_10::multiplier1;
            const std::uint32_t c1 = w[1][k], c3 = w[3][k];
            w[0][k] = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
            w[1][k] = static_cast<std::uint32_t>(p1);
            w[2][k] = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
            w[3][k] = static_cast<std::uint32_t>(p0);
        }
    }
}

#if KESTREL_HAS_XSIMD && defined(__AVX512F__) && defined(__AVX512DQ__)
#define KESTREL_ALIAS_DRAWS_AVX512 1
/// The ten Philox4x32 rounds of rng's key on 4 x 8 counters already in x0..x3 (each word in the low
/// half of a 64-bit lane; the high halves may hold garbage).
KESTREL_ALWAYS_INLINE void philox_avx512_rounds(const counter_rng& rng, __m512i (&x0)[4], __m512i (&x1)[4],
                                                __m512i (&x2)[4], __m512i (&x3)[4]) noexcept {
    const std::uint64_t seed = rng.seed();
    std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
    const __m512i m0 = _mm512_set1_epi64(philox4x32_10::multiplier0);
    const __m512i m1 = _mm512_set1_epi64(philox4x32_10::multiplier1);
    KESTREL_UNROLL_FULLY
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += philox4x32_10::weyl0;
            k1 += philox4x32_10::weyl1;
        }
        const __m512i kk0 = _mm512_set1_epi64(k0), kk1 = _mm512_set1_epi64(k1);
        KESTREL_UNROLL_FULLY
        for (int v = 0; v < 4; ++v) {
            const __m512i p0 = _mm512_mul_epu32(x0[v], m0), p1 = _mm512_mul_epu32(x2[v], m1);
            // 0x96: a ^ b ^ c.
            x0[v] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x1[v], kk0, 0x96);
            x2[v] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3[v], kk1, 0x96);
            x1[v] = p1;
            x3[v] = p0;
        }
    }
}

/// Philox4x32-10 on 4 x 8 counters first + k (k < 32), k = 8 v + lane: x0..x3[v] hold the
/// words in the low halves of their 64-bit lanes (the high halves are garbage).
KESTREL_ALWAYS_INLINE void philox_avx512(const counter_rng& rng, std::uint64_t first, __m512i (&x0)[4],
                                         __m512i (&x1)[4], __m512i (&x2)[4], __m512i (&x3)[4]) noexcept {
    const std::uint64_t stream = rng.stream();
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i base = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(first)), lane);
    const __m512i s_lo = _mm512_set1_epi64(static_cast<long long>(stream));
    const __m512i s_hi = _mm512_set1_epi64(static_cast<long long>(stream >> 32));
    KESTREL_UNROLL_FULLY
    for (int v = 0; v < 4; ++v) {
        const __m512i c = _mm512_add_epi64(base, _mm512_set1_epi64(8 * v));  // wraps mod 2^64 as first + k
        x0[v] = c;
        x1[v] = _mm512_srli_epi64(c, 32);
        x2[v] = s_lo;
        x3[v] = s_hi;
    }
    philox_avx512_rounds(rng, x0, x1, x2, x3);
}

/// The words of draws first .. first + 31 (tests compare them with counter_rng::block).
inline void philox_words_avx512(const counter_rng& rng, std::uint64_t first, std::uint32_t (&w)[4][draw_chunk]) noexcept {
    __m512i x[4][4];
    philox_avx512(rng, first, x[0], x[1], x[2], x[3]);
    for (int i = 0; i < 4; ++i)
        for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(&w[i][8 * v]), _mm512_cvtepi64_epi32(x[i][v]));
}

/// col[k], u[k] of draws first .. first + 31 for a table of n < 2^32 entries.
KESTREL_ALWAYS_INLINE void alias_columns_avx512(const counter_rng& rng, std::uint64_t first, std::uint64_t n,
                                                std::uint64_t* col, double* u) noexcept {
    __m512i x0[4], x1[4], x2[4], x3[4];
    philox_avx512(rng, first, x0, x1, x2, x3);
    const __m512i nn = _mm512_set1_epi64(static_cast<long long>(n));
    const __m512i low32 = _mm512_set1_epi64(0xffffffffLL);
    const __m512d scale = _mm512_set1_pd(0x1p-53);
    KESTREL_UNROLL_FULLY
    for (int v = 0; v < 4; ++v) {
        // floor((bh n + (bl n >> 32)) / 2^32), bh = word 1, bl = word 0.
        const __m512i t = _mm512_add_epi64(_mm512_mul_epu32(x1[v], nn), _mm512_srli_epi64(_mm512_mul_epu32(x0[v], nn), 32));
        _mm512_storeu_si512(col + 8 * v, _mm512_srli_epi64(t, 32));
        // (word3 << 32 | word2) >> 11; 0xf8: a | (b & c).
        const __m512i b = _mm512_ternarylogic_epi64(_mm512_slli_epi64(x3[v], 32), x2[v], low32, 0xf8);
        _mm512_storeu_pd(u + 8 * v, _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64(b, 11)), scale));
    }
}

/// u[k] = random_conversion::u64_to_double_open(join(word0, word1)) of draw first + k, k < 32
/// (the uniform of counter_rng::exponential): the 52-bit integer converts exactly, + 1/2 and
/// the 2^-52 scaling are exact, so these are the scalar conversion's bits.
KESTREL_ALWAYS_INLINE void open_uniforms_avx512(const counter_rng& rng, std::uint64_t first, double* u) noexcept {
    __m512i x0[4], x1[4], x2[4], x3[4];
    philox_avx512(rng, first, x0, x1, x2, x3);
    const __m512i low32 = _mm512_set1_epi64(0xffffffffLL);
    const __m512d half = _mm512_set1_pd(0.5), scale = _mm512_set1_pd(0x1p-52);
    KESTREL_UNROLL_FULLY
    for (int v = 0; v < 4; ++v) {
        // (word1 << 32 | word0) >> 12; 0xf8: a | (b & c).
        const __m512i b = _mm512_ternarylogic_epi64(_mm512_slli_epi64(x1[v], 32), x0[v], low32, 0xf8);
        const __m512d k = _mm512_cvtepu64_pd(_mm512_srli_epi64(b, 12));
        _mm512_storeu_pd(u + 8 * v, _mm512_mul_pd(_mm512_add_pd(k, half), scale));
    }
}
#endif

#if KESTREL_HAS_XSIMD && defined(__AVX2__)
#define KESTREL_ALIAS_DRAWS_AVX2 1
/// Philox4x32-10 on 4 x 4 counters first + k (k < 16), k = 4 v + lane; layout as the AVX-512
/// version's.
KESTREL_ALWAYS_INLINE void philox_avx2(const counter_rng& rng, std::uint64_t first, __m256i (&x0)[4],
                                       __m256i (&x1)[4], __m256i (&x2)[4], __m256i (&x3)[4]) noexcept {
    const std::uint64_t seed = rng.seed(), stream = rng.stream();
    std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
    const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(first)), _mm256_set_epi64x(3, 2, 1, 0));
    const __m256i s_lo = _mm256_set1_epi64x(static_cast<long long>(stream));
    const __m256i s_hi = _mm256_set1_epi64x(static_cast<long long>(stream >> 32));
    KESTREL_UNROLL_FULLY
    for (int v = 0; v < 4; ++v) {
        const __m256i c = _mm256_add_epi64(base, _mm256_set1_epi64x(4 * v));
        x0[v] = c;
        x1[v] = _mm256_srli_epi64(c, 32);
        x2[v] = s_lo;
        x3[v] = s_hi;
    }
    const __m256i m0 = _mm256_set1_epi64x(philox4x32_10::multiplier0);
    const __m256i m1 = _mm256_set1_epi64x(philox4x32_10::multiplier1);
    KESTREL_UNROLL_FULLY
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += philox4x32_10::weyl0;
            k1 += philox4x32_10::weyl1;
        }
        const __m256i kk0 = _mm256_set1_epi64x(k0), kk1 = _mm256_set1_epi64x(k1);
        KESTREL_UNROLL_FULLY
        for (int v = 0; v < 4; ++v) {
            const __m256i p0 = _mm256_mul_epu32(x0[v], m0), p1 = _mm256_mul_epu32(x2[v], m1);
            x0[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1[v]), kk0);
            x2[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3[v]), kk1);
            x1[v] = p1;
            x3[v] = p0;
        }
    }
}

/// The words of draws first .. first + 15.
inline void philox_words_avx2(const counter_rng& rng, std::uint64_t first, std::uint32_t (&w)[4][16]) noexcept {
    __m256i x[4][4];
    philox_avx2(rng, first, x[0], x[1], x[2], x[3]);
    // The low halves of the 64-bit lanes, in lane order.
    const __m256i pick = _mm256_set_epi32(7, 7, 7, 7, 6, 4, 2, 0);
    for (int i = 0; i < 4; ++i)
        for (int v = 0; v < 4; ++v)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(&w[i][4 * v]),
                             _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(x[i][v], pick)));
}

/// Exact double of integers below 2^52 held in 64-bit lanes (the exponent-field trick).
KESTREL_ALWAYS_INLINE __m256d small_u64_to_double_avx2(__m256i v) noexcept {
    const __m256d magic = _mm256_set1_pd(0x1p52);
    return _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(v, _mm256_castpd_si256(magic))), magic);
}

/// col[k], u[k] of draws first .. first + 15 for a table of n < 2^32 entries.
KESTREL_ALWAYS_INLINE void alias_columns_avx2(const counter_rng& rng, std::uint64_t first, std::uint64_t n,
                                              std::uint64_t* col, double* u) noexcept {
    __m256i x0[4], x1[4], x2[4], x3[4];
    philox_avx2(rng, first, x0, x1, x2, x3);
    const __m256i nn = _mm256_set1_epi64x(static_cast<long long>(n));
    const __m256i low32 = _mm256_set1_epi64x(0xffffffffLL);
    KESTREL_UNROLL_FULLY
    for (int v = 0; v < 4; ++v) {
        const __m256i t = _mm256_add_epi64(_mm256_mul_epu32(x1[v], nn), _mm256_srli_epi64(_mm256_mul_epu32(x0[v], nn), 32));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(col + 4 * v), _mm256_srli_epi64(t, 32));
        // u53 = word3 2^21 + (word2 >> 11): two exact parts (< 2^32 and < 2^21), an exact sum.
        const __m256d hi = small_u64_to_double_avx2(_mm256_and_si256(x3[v], low32));
        const __m256d lo = small_u64_to_double_avx2(_mm256_srli_epi64(_mm256_and_si256(x2[v], low32), 11));
        const __m256d sum = _mm256_add_pd(_mm256_mul_pd(hi, _mm256_set1_pd(0x1p21)), lo);
        _mm256_storeu_pd(u + 4 * v, _mm256_mul_pd(sum, _mm256_set1_pd(0x1p-53)));
    }
}

/// u[k] = random_conversion::u64_to_double_open(join(word0, word1)) of draw first + k, k < 16
/// (see open_uniforms_avx512; the 52-bit integer by the exponent-field trick, exact).
KESTREL_ALWAYS_INLINE void open_uniforms_avx2(const counter_rng& rng, std::uint64_t first, double* u) noexcept {
    __m256i x0[4], x1[4], x2[4], x3[4];
    philox_avx2(rng, first, x0, x1, x2, x3);
    const __m256i low32 = _mm256_set1_epi64x(0xffffffffLL);
    const __m256d half = _mm256_set1_pd(0.5), scale = _mm256_set1_pd(0x1p-52);
    KESTREL_UNROLL_FULLY
    for (int v = 0; v < 4; ++v) {
        const __m256i b = _mm256_or_si256(_mm256_slli_epi64(x1[v], 32), _mm256_and_si256(x0[v], low32));
        const __m256d k = small_u64_to_double_avx2(_mm256_srli_epi64(b, 12));
        _mm256_storeu_pd(u + 4 * v, _mm256_mul_pd(_mm256_add_pd(k, half), scale));
    }
}
#endif

/// col[k], u[k] of draws first .. first + 31 by the scalar words (any n).
inline void alias_columns_scalar(const counter_rng& rng, std::uint64_t first, std::uint64_t n, std::uint64_t* col,
                                 double* u) noexcept {
    std::uint32_t w[4][draw_chunk];
    philox_words(rng, first, w);
    for (std::size_t k = 0; k < draw_chunk; ++k) {
        col[k] = mulhi64(counter_rng::join(w[0][k], w[1][k]), n);
        u[k] = random_conversion::u53_to_double(counter_rng::join(w[2][k], w[3][k]));
    }
}

/// u[k] = random_conversion::u64_to_double_open(join(word0, word1)) of draw first + k of rng,
/// k < draw_chunk (the uniform whose -log is counter_rng::exponential(first + k)): the widest
/// path this translation unit is compiled for, the same bits on every path.
KESTREL_ALWAYS_INLINE void open_uniforms(const counter_rng& rng, std::uint64_t first, double* u) noexcept {
#if defined(KESTREL_ALIAS_DRAWS_AVX512)
    open_uniforms_avx512(rng, first, u);
#elif defined(KESTREL_ALIAS_DRAWS_AVX2)
    open_uniforms_avx2(rng, first, u);
    open_uniforms_avx2(rng, first + 16, u + 16);
#else
    std::uint32_t w[4][draw_chunk];
    philox_words(rng, first, w);
    for (std::size_t k = 0; k < draw_chunk; ++k) u[k] = random_conversion::u64_to_double_open(counter_rng::join(w[0][k], w[1][k]));
#endif
}

/// col[k] = the column and u[k] the coin of draw first + k of rng, k < draw_chunk, for a
/// table of n entries: the widest path this translation unit is compiled for.
KESTREL_ALWAYS_INLINE void alias_columns(const counter_rng& rng, std::uint64_t first, std::uint64_t n,
                                         std::uint64_t* col, double* u) noexcept {
#if defined(KESTREL_ALIAS_DRAWS_AVX512)
    if (n <= 0xffffffffu) return alias_columns_avx512(rng, first, n, col, u);
#elif defined(KESTREL_ALIAS_DRAWS_AVX2)
    if (n <= 0xffffffffu) {
        alias_columns_avx2(rng, first, n, col, u);
        alias_columns_avx2(rng, first + 16, n, col + 16, u + 16);
        return;
    }
#endif
    alias_columns_scalar(rng, first, n, col, u);
}

/// out[k] = the draw of column col[k] with coin u[k], k < count (branch-free: the coin is
/// unpredictable, a branch mispredicts every other draw).
KESTREL_ALWAYS_INLINE void resolve_draws_scalar(const alias_entry* entries, const std::uint64_t* col, const double* u,
                                                std::size_t count, std::size_t* out) noexcept {
    for (std::size_t k = 0; k < count; ++k) {
        const alias_entry e = entries[col[k]];
        const std::uint64_t own = std::uint64_t(0) - static_cast<std::uint64_t>(u[k] < e.prob);
        out[k] = static_cast<std::size_t>(e.alias ^ ((col[k] ^ e.alias) & own));
    }
}

/// resolve_draws_scalar for a whole chunk (AVX-512: two gathers per 8 draws, a compare and a
/// masked blend; AVX2 keeps the scalar loop, its gathers being no faster than scalar loads).
KESTREL_ALWAYS_INLINE void resolve_chunk(const alias_entry* entries, const std::uint64_t* col, const double* u,
                                         std::size_t* out) noexcept {
#if defined(KESTREL_ALIAS_DRAWS_AVX512)
    static_assert(sizeof(alias_entry) == 16 && sizeof(std::size_t) == 8, "entry = (double, uint64)");
    const double* probs = &entries[0].prob;
    const long long* aliases = reinterpret_cast<const long long*>(probs + 1);
    for (std::size_t v = 0; v < draw_chunk / 8; ++v) {
        const __m512i c = _mm512_loadu_si512(col + 8 * v);
        const __m512i idx = _mm512_slli_epi64(c, 1);  // in doubles: entry c starts at 2 c
        const __m512d p = _mm512_i64gather_pd(idx, probs, 8);
        const __m512i a = _mm512_i64gather_epi64(idx, aliases, 8);
        const __mmask8 own = _mm512_cmp_pd_mask(_mm512_loadu_pd(u + 8 * v), p, _CMP_LT_OQ);
        _mm512_storeu_si512(out + 8 * v, _mm512_mask_blend_epi64(own, a, c));
    }
#else
    resolve_draws_scalar(entries, col, u, draw_chunk, out);
#endif
}

/// out[j - j0] = draw first + j of the table (entries[0, n)) for j in [j0, j1): columns and
/// coins computed draw_chunk draws at a time, their table lines prefetched `Ahead` chunks
/// before they are resolved (a steady number of misses in flight: a table larger than the
/// cache costs a random line per draw, and the draws are bound by how many a core keeps in
/// flight).
template <std::size_t Ahead>
inline void alias_draw_range(const alias_entry* entries, std::uint64_t n, const counter_rng& rng, std::uint64_t first,
                             std::size_t j0, std::size_t j1, std::size_t* out) noexcept {
    constexpr std::size_t C = draw_chunk, L = Ahead + 1;
    alignas(64) std::uint64_t col[L][C];
    alignas(64) double u[L][C];
    const std::size_t nch = (j1 - j0 + C - 1) / C;
    auto generate = [&](std::size_t c) {
        const std::size_t s = c % L, jb = j0 + c * C, cnt = j1 - jb < C ? j1 - jb : C;
        alias_columns(rng, first + jb, n, col[s], u[s]);  // a whole chunk (the tail's extra draws unused)
        for (std::size_t k = 0; k < cnt; ++k) ::kestrel::simd::detail::prefetch<3>(entries + col[s][k]);  // into L1
    };
    for (std::size_t c = 0; c < nch && c < Ahead; ++c) generate(c);
    for (std::size_t c = 0; c < nch; ++c) {
        if (c + Ahead < nch) generate(c + Ahead);
        const std::size_t s = c % L, jb = j0 + c * C, cnt = j1 - jb < C ? j1 - jb : C;
        if (cnt == C) resolve_chunk(entries, col[s], u[s], out + (jb - j0));
        else resolve_draws_scalar(entries, col[s], u[s], cnt, out + (jb - j0));
    }
}

}  // namespace kestrel::sensitivity::detail
