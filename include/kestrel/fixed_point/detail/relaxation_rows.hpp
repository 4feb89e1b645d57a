// Row kernels of the CSR relaxation sweeps (sparse_relaxation.hpp): the Jacobi row and the
// chained SOR row, written once as scalar code and, where the build targets AVX-512 or AVX2,
// each with FMA (KESTREL_USE_XSIMD on, 32-bit column indices), as a lane-per-row kernel over
// groups of W = 64 / sizeof(T) (AVX-512) or 32 / sizeof(T) (AVX2) consecutive rows that share
// one stencil. The kernels are written once over a small traits type (v512 / v256: loads,
// stores, add, sub, mul, div, fused multiply-adds, all IEEE lane-wise); only the stencil check
// and the transposition differ between the two ISAs.
//
// Arithmetic, fixed in the source and not left to the compiler's contraction choices: every
// a * b + c below is mul_add (one rounding where the build has FMA, two otherwise), so a lane
// of the group kernel and the scalar row do the same operations in the same order and give
// the same bits. With s the sum of a row's off-diagonal terms in storage order:
//   Jacobi    r = (b_i - s) - a_ii x_i,  x_out_i = x_i + (w r) / a_ii
//   SOR row   (sparse_relaxation.hpp, sor_row_chained) c0 = x_i + (omega / a_ii)((b_i - s) - a_ii x_i),
//             g = (omega / a_ii) m,  x_i_new = c0 - g prev,  where m sums the entries of the
//             neighbour row nb (i - 1 forward, i + 1 backward) and s the others.
//
// Stencil groups. Rows i0 .. i0 + W - 1 form a group when all have the same length L (3 to 9
// entries) and each row's column j_k(i) - i is the same for every row (a constant-coefficient
// grid operator such as the 2-D Poisson matrix, away from the boundary, whatever its values).
// The check reads W + 1 row pointers and the group's W L column indices once (all of them:
// the indices are data the sweep must read anyway), compared with vector instructions. In a
// group, entry k of the W rows are W values at stride L (AVX-512: L registers of the group's
// values transposed by two-source permutes; AVX2: strided loads inserted into lanes, or one
// broadcast per entry when the W rows hold the same values bit for bit) and the
// x they multiply are W consecutive values at
// x + i0 + offset_k: no gathers. Groups that fail the check run the scalar row, so any valid
// CSR matrix is handled, and the result does not depend on which rows went which way.
//
// Why: the scalar row spends ~20 instructions per entry (index load, compare, branch,
// dependent load of x) and one core then issues too few memory requests to stream the CSR
// arrays at the bandwidth the triad reaches; the group kernel does ~7 instructions per row.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../core/config.hpp"
#include "../../core/simd.hpp"

#if KESTREL_HAS_XSIMD && defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>
#define KESTREL_RELAX_AVX512 1
#define KESTREL_RELAX_AVX2 0
#elif KESTREL_HAS_XSIMD && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KESTREL_RELAX_AVX512 0
#define KESTREL_RELAX_AVX2 1
#else
#define KESTREL_RELAX_AVX512 0
#define KESTREL_RELAX_AVX2 0
#endif
/// 1 where the stencil-group kernels are compiled (AVX-512 or AVX2, each with FMA).
#define KESTREL_RELAX_GROUPS (KESTREL_RELAX_AVX512 || KESTREL_RELAX_AVX2)

namespace kestrel {
namespace fixed_point {
namespace relaxation_detail {

/// a * b + c: one rounding where the build has FMA instructions, two otherwise.
template <class T>
KESTREL_ALWAYS_INLINE T mul_add(T a, T b, T c) noexcept {
#if defined(__FMA__)
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

/// c - a * b with the rounding of mul_add.
template <class T>
KESTREL_ALWAYS_INLINE T neg_mul_add(T a, T b, T c) noexcept {
    return mul_add(-a, b, c);
}

/// Lanes of the Jacobi residual accumulator: row i of a reduction block starting at b0 adds
/// its r^2 (in double) to lane (i - b0) % residual_lanes, whichever path computed the row;
/// the lanes are summed in lane order at the end of the block.
template <class T>
inline constexpr std::size_t residual_lanes = KESTREL_RELAX_AVX512 ? 64 / sizeof(T) : KESTREL_RELAX_AVX2 ? 32 / sizeof(T) : 1;

/// The residual of row i, r = (b_i - s) - a_ii x_i (s: off-diagonal terms in storage order),
/// and a_ii in d. The Jacobi row and the solvers' residual pass both use it, so the residual
/// a Jacobi sweep reports for its input is the one residual_norm_squared gives (same r_i).
template <class T, class I>
KESTREL_ALWAYS_INLINE T residual_row(const I* ptr, const I* col, const T* val, std::size_t i, const T* b, const T* x,
                                     T& d) noexcept {
    T s = T(0);
    d = T(1);
    const auto end = static_cast<std::size_t>(ptr[i + 1]);
    for (auto k = static_cast<std::size_t>(ptr[i]); k < end; ++k) {
        const auto c = static_cast<std::size_t>(col[k]);
        if (c == i)
            d = val[k];
        else
            s = mul_add(val[k], x[c], s);
    }
    return neg_mul_add(d, x[i], b[i] - s);
}

/// One Jacobi row (scalar path): writes x_out[i], returns r_i.
template <class T, class I>
KESTREL_ALWAYS_INLINE T jacobi_row(const I* ptr, const I* col, const T* val, std::size_t i, const T* b, const T* x,
                                   T weight, T* xout) noexcept {
    T d;
    const T r = residual_row(ptr, col, val, i, b, x, d);
    xout[i] = x[i] + (weight * r) / d;
    return r;
}

#if KESTREL_RELAX_AVX512

/// The few AVX-512 operations the group kernels need, for double (8 lanes) and float (16).
template <class T>
struct v512;

template <>
struct v512<double> {
    using V = __m512d;
    using idx_t = std::int64_t;
    static constexpr int W = 8;
    static KESTREL_ALWAYS_INLINE V zero() noexcept { return _mm512_setzero_pd(); }
    static KESTREL_ALWAYS_INLINE V set1(double a) noexcept { return _mm512_set1_pd(a); }
    static KESTREL_ALWAYS_INLINE V loadu(const double* p) noexcept { return _mm512_loadu_pd(p); }
    static KESTREL_ALWAYS_INLINE void storeu(double* p, V v) noexcept { _mm512_storeu_pd(p, v); }
    static KESTREL_ALWAYS_INLINE V perm2(V a, const idx_t* idx, V b) noexcept {
        return _mm512_permutex2var_pd(a, _mm512_load_si512(idx), b);
    }
    static KESTREL_ALWAYS_INLINE V blend(unsigned m, V a, V b) noexcept {
        return _mm512_mask_blend_pd(static_cast<__mmask8>(m), a, b);
    }
    static KESTREL_ALWAYS_INLINE V add(V a, V b) noexcept { return _mm512_add_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V sub(V a, V b) noexcept { return _mm512_sub_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V mul(V a, V b) noexcept { return _mm512_mul_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V div(V a, V b) noexcept { return _mm512_div_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V fmadd(V a, V b, V c) noexcept { return _mm512_fmadd_pd(a, b, c); }
    static KESTREL_ALWAYS_INLINE V fnmadd(V a, V b, V c) noexcept { return _mm512_fnmadd_pd(a, b, c); }
    using acc_t = __m512d;
    static KESTREL_ALWAYS_INLINE acc_t acc_zero() noexcept { return _mm512_setzero_pd(); }
    /// out[0 .. 16) = the two accumulators' lanes (lane j of the group at out[j]).
    static KESTREL_ALWAYS_INLINE void store_acc(double* out, const acc_t* acc) noexcept {
        _mm512_storeu_pd(out, acc[0]);
        _mm512_storeu_pd(out + 8, acc[1]);
    }
    /// acc[j] += r_j^2 in double for the group's lanes.
    static KESTREL_ALWAYS_INLINE void add_squares(V r, __m512d* acc) noexcept { acc[0] = _mm512_fmadd_pd(r, r, acc[0]); }
};

template <>
struct v512<float> {
    using V = __m512;
    using idx_t = std::int32_t;
    static constexpr int W = 16;
    static KESTREL_ALWAYS_INLINE V zero() noexcept { return _mm512_setzero_ps(); }
    static KESTREL_ALWAYS_INLINE V set1(float a) noexcept { return _mm512_set1_ps(a); }
    static KESTREL_ALWAYS_INLINE V loadu(const float* p) noexcept { return _mm512_loadu_ps(p); }
    static KESTREL_ALWAYS_INLINE void storeu(float* p, V v) noexcept { _mm512_storeu_ps(p, v); }
    static KESTREL_ALWAYS_INLINE V perm2(V a, const idx_t* idx, V b) noexcept {
        return _mm512_permutex2var_ps(a, _mm512_load_si512(idx), b);
    }
    static KESTREL_ALWAYS_INLINE V blend(unsigned m, V a, V b) noexcept {
        return _mm512_mask_blend_ps(static_cast<__mmask16>(m), a, b);
    }
    static KESTREL_ALWAYS_INLINE V add(V a, V b) noexcept { return _mm512_add_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V sub(V a, V b) noexcept { return _mm512_sub_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V mul(V a, V b) noexcept { return _mm512_mul_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V div(V a, V b) noexcept { return _mm512_div_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V fmadd(V a, V b, V c) noexcept { return _mm512_fmadd_ps(a, b, c); }
    static KESTREL_ALWAYS_INLINE V fnmadd(V a, V b, V c) noexcept { return _mm512_fnmadd_ps(a, b, c); }
    using acc_t = __m512d;
    static KESTREL_ALWAYS_INLINE acc_t acc_zero() noexcept { return _mm512_setzero_pd(); }
    static KESTREL_ALWAYS_INLINE void store_acc(double* out, const acc_t* acc) noexcept {
        _mm512_storeu_pd(out, acc[0]);
        _mm512_storeu_pd(out + 8, acc[1]);
    }
    static KESTREL_ALWAYS_INLINE void add_squares(V r, __m512d* acc) noexcept {
        const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(r));
        const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1)));
        acc[0] = _mm512_fmadd_pd(lo, lo, acc[0]);
        acc[1] = _mm512_fmadd_pd(hi, hi, acc[1]);
    }
};

template <class T>
using vgroup = v512<T>;

/// Constant tables of a group of W rows of L entries (W L values = L registers of W lanes):
///  * transposition: entry k of row j is element e = j L + k, in register e / W; output k is
///    built from the register pairs (2p, 2p + 1) by perm2 with index idx[k][p] on the lanes
///    of mask[k][p];
///  * column check: the W L column indices in chunks of 16 int32; index q should equal the
///    first row's index q % L plus q / L (modidx, divpat; lanes past W L masked off);
///  * row pointers: ptr[i0 + j] = ptr[i0] + j L (steps).
template <int L, int W, class IdxT>
struct group_tables {
    static constexpr int pairs = (L + 1) / 2;
    static constexpr int chunks = (W * L + 15) / 16;
    alignas(64) IdxT idx[L][pairs][W];
    unsigned mask[L][pairs];
    alignas(64) std::int32_t modidx[chunks][16];
    alignas(64) std::int32_t divpat[chunks][16];
    unsigned chunk_mask[chunks];
    alignas(64) std::int32_t steps[16];

    constexpr group_tables() : idx(), mask(), modidx(), divpat(), chunk_mask(), steps() {
        for (int k = 0; k < L; ++k)
            for (int p = 0; p < pairs; ++p) {
                mask[k][p] = 0;
                for (int j = 0; j < W; ++j) {
                    const int e = j * L + k;
                    idx[k][p][j] = 0;
                    if ((e / W) / 2 == p) {
                        idx[k][p][j] = static_cast<IdxT>(e - 2 * p * W);
                        mask[k][p] |= 1u << j;
                    }
                }
            }
        for (int c = 0; c < chunks; ++c) {
            chunk_mask[c] = 0;
            for (int t = 0; t < 16; ++t) {
                const int q = 16 * c + t;
                modidx[c][t] = q % L;
                divpat[c][t] = q / L;
                if (q < W * L) chunk_mask[c] |= 1u << t;
            }
        }
        for (int j = 0; j < 16; ++j) steps[j] = j * L;
    }
};

template <int L, int W, class IdxT>
inline constexpr group_tables<L, W, IdxT> group_tables_v{};

/// The stencil check of the group at row i0 (see the header comment); on success off[k] =
/// column of entry k minus the row, for the group's L entries. ptr[i0 + W] must exist.
template <int L, int W>
KESTREL_ALWAYS_INLINE bool stencil_group(const std::int32_t* ptr, const std::int32_t* col, std::size_t i0,
                                         std::ptrdiff_t* off) noexcept {
    using tab = group_tables<L, W, std::int32_t>;
    const auto& t = group_tables_v<L, W, std::int32_t>;
    const std::int32_t p0 = ptr[i0];
    const __m512i expect_ptr = _mm512_add_epi32(_mm512_set1_epi32(p0), _mm512_load_si512(t.steps));
    unsigned bad;
    if constexpr (W == 8) {
        bad = _mm512_mask_cmpneq_epi32_mask(0x1ff, _mm512_maskz_loadu_epi32(0x1ff, ptr + i0), expect_ptr);
    } else {
        bad = _mm512_cmpneq_epi32_mask(_mm512_loadu_si512(ptr + i0), expect_ptr);
        bad |= ptr[i0 + W] != p0 + W * L ? 1u : 0u;
    }
    if (bad) return false;
    const std::int32_t* c0 = col + p0;
    const __m512i first = _mm512_loadu_si512(c0);  // W L >= 16 entries of the group
    for (int c = 0; c < tab::chunks; ++c) {
        const __mmask16 m = static_cast<__mmask16>(t.chunk_mask[c]);
        const __m512i expect =
            _mm512_add_epi32(_mm512_permutexvar_epi32(_mm512_load_si512(t.modidx[c]), first), _mm512_load_si512(t.divpat[c]));
        bad |= _mm512_mask_cmpneq_epi32_mask(m, _mm512_maskz_loadu_epi32(m, c0 + 16 * c), expect);
    }
    if (bad) return false;
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) off[k] = static_cast<std::ptrdiff_t>(c0[k]) - static_cast<std::ptrdiff_t>(i0);
    return true;
}

/// out[k] = entry k of the group's W rows (values at vals + j L + k), k < L.
template <int L, class T>
KESTREL_ALWAYS_INLINE void transpose_group(const T* vals, typename v512<T>::V* out) noexcept {
    using A = v512<T>;
    constexpr int W = A::W;
    const auto& t = group_tables_v<L, W, typename A::idx_t>;
    typename A::V r[L];
    KESTREL_UNROLL_FULLY
    for (int q = 0; q < L; ++q) r[q] = A::loadu(vals + q * W);
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) {
        typename A::V o = A::perm2(r[0], t.idx[k][0], r[L > 1 ? 1 : 0]);
        KESTREL_UNROLL_FULLY
        for (int p = 1; p < (L + 1) / 2; ++p) {
            if (t.mask[k][p] == 0) continue;
            const int hi = 2 * p + 1 < L ? 2 * p + 1 : 2 * p;
            o = A::blend(t.mask[k][p], o, A::perm2(r[2 * p], t.idx[k][p], r[hi]));
        }
        out[k] = o;
    }
}

#elif KESTREL_RELAX_AVX2

/// The AVX2 counterpart of v512: 4 double or 8 float lanes in a 256-bit register, the same
/// operations (mul, div, add, sub and fused multiply-adds are the IEEE operations of the
/// scalar row, lane by lane).
template <class T>
struct v256;

template <>
struct v256<double> {
    using V = __m256d;
    static constexpr int W = 4;
    static KESTREL_ALWAYS_INLINE V zero() noexcept { return _mm256_setzero_pd(); }
    static KESTREL_ALWAYS_INLINE V set1(double a) noexcept { return _mm256_set1_pd(a); }
    static KESTREL_ALWAYS_INLINE V loadu(const double* p) noexcept { return _mm256_loadu_pd(p); }
    static KESTREL_ALWAYS_INLINE void storeu(double* p, V v) noexcept { _mm256_storeu_pd(p, v); }
    static KESTREL_ALWAYS_INLINE V add(V a, V b) noexcept { return _mm256_add_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V sub(V a, V b) noexcept { return _mm256_sub_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V mul(V a, V b) noexcept { return _mm256_mul_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V div(V a, V b) noexcept { return _mm256_div_pd(a, b); }
    static KESTREL_ALWAYS_INLINE V fmadd(V a, V b, V c) noexcept { return _mm256_fmadd_pd(a, b, c); }
    static KESTREL_ALWAYS_INLINE V fnmadd(V a, V b, V c) noexcept { return _mm256_fnmadd_pd(a, b, c); }
    using acc_t = __m256d;
    static KESTREL_ALWAYS_INLINE acc_t acc_zero() noexcept { return _mm256_setzero_pd(); }
    /// out[0 .. 8) = the two accumulators' lanes (lane j of the group at out[j]).
    static KESTREL_ALWAYS_INLINE void store_acc(double* out, const acc_t* acc) noexcept {
        _mm256_storeu_pd(out, acc[0]);
        _mm256_storeu_pd(out + 4, acc[1]);
    }
    static KESTREL_ALWAYS_INLINE void add_squares(V r, __m256d* acc) noexcept { acc[0] = _mm256_fmadd_pd(r, r, acc[0]); }
    /// (v[0], v[s], v[2 s], v[3 s]).
    static KESTREL_ALWAYS_INLINE V strided(const double* v, int s) noexcept {
        const __m128d lo = _mm_loadh_pd(_mm_load_sd(v), v + s);
        const __m128d hi = _mm_loadh_pd(_mm_load_sd(v + 2 * s), v + 3 * s);
        return _mm256_insertf128_pd(_mm256_castpd128_pd256(lo), hi, 1);
    }
};

template <>
struct v256<float> {
    using V = __m256;
    static constexpr int W = 8;
    static KESTREL_ALWAYS_INLINE V zero() noexcept { return _mm256_setzero_ps(); }
    static KESTREL_ALWAYS_INLINE V set1(float a) noexcept { return _mm256_set1_ps(a); }
    static KESTREL_ALWAYS_INLINE V loadu(const float* p) noexcept { return _mm256_loadu_ps(p); }
    static KESTREL_ALWAYS_INLINE void storeu(float* p, V v) noexcept { _mm256_storeu_ps(p, v); }
    static KESTREL_ALWAYS_INLINE V add(V a, V b) noexcept { return _mm256_add_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V sub(V a, V b) noexcept { return _mm256_sub_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V mul(V a, V b) noexcept { return _mm256_mul_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V div(V a, V b) noexcept { return _mm256_div_ps(a, b); }
    static KESTREL_ALWAYS_INLINE V fmadd(V a, V b, V c) noexcept { return _mm256_fmadd_ps(a, b, c); }
    static KESTREL_ALWAYS_INLINE V fnmadd(V a, V b, V c) noexcept { return _mm256_fnmadd_ps(a, b, c); }
    using acc_t = __m256d;
    static KESTREL_ALWAYS_INLINE acc_t acc_zero() noexcept { return _mm256_setzero_pd(); }
    static KESTREL_ALWAYS_INLINE void store_acc(double* out, const acc_t* acc) noexcept {
        _mm256_storeu_pd(out, acc[0]);
        _mm256_storeu_pd(out + 4, acc[1]);
    }
    static KESTREL_ALWAYS_INLINE void add_squares(V r, __m256d* acc) noexcept {
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(r));
        const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(r, 1));
        acc[0] = _mm256_fmadd_pd(lo, lo, acc[0]);
        acc[1] = _mm256_fmadd_pd(hi, hi, acc[1]);
    }
    static KESTREL_ALWAYS_INLINE __m128 strided4(const float* v, int s) noexcept {
        __m128 r = _mm_load_ss(v);
        r = _mm_insert_ps(r, _mm_load_ss(v + s), 0x10);
        r = _mm_insert_ps(r, _mm_load_ss(v + 2 * s), 0x20);
        return _mm_insert_ps(r, _mm_load_ss(v + 3 * s), 0x30);
    }
    /// (v[0], v[s], ..., v[7 s]).
    static KESTREL_ALWAYS_INLINE V strided(const float* v, int s) noexcept {
        return _mm256_insertf128_ps(_mm256_castps128_ps256(strided4(v, s)), strided4(v + 4 * s, s), 1);
    }
};

template <class T>
using vgroup = v256<T>;

/// The stencil check of the group at i0 (see the header comment) with 256-bit compares; on
/// success off[k] = column of entry k minus the row. ptr[i0 + W] must exist. The W L column
/// indices c[q] (q = j L + k: row j, entry k) follow the first row's as c[k] + j exactly when
/// c[q + L] = c[q] + 1 for every q < (W - 1) L, compared 8 at a time (the last 8 overlapping).
template <int L, int W>
KESTREL_ALWAYS_INLINE bool stencil_group(const std::int32_t* ptr, const std::int32_t* col, std::size_t i0,
                                         std::ptrdiff_t* off) noexcept {
    constexpr int M = (W - 1) * L;
    static_assert(M >= 8, "at least one full chunk of column indices");
    const std::int32_t p0 = ptr[i0];
    bool bad;
    if constexpr (W == 4) {
        const __m128i expect = _mm_add_epi32(_mm_set1_epi32(p0), _mm_setr_epi32(0, L, 2 * L, 3 * L));
        const __m128i got = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ptr + i0));
        bad = _mm_movemask_epi8(_mm_cmpeq_epi32(got, expect)) != 0xffff;
    } else {
        static_assert(W == 8, "4 or 8 lanes");
        const __m256i expect = _mm256_add_epi32(_mm256_set1_epi32(p0),
                                                _mm256_setr_epi32(0, L, 2 * L, 3 * L, 4 * L, 5 * L, 6 * L, 7 * L));
        const __m256i got = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ptr + i0));
        bad = _mm256_movemask_epi8(_mm256_cmpeq_epi32(got, expect)) != -1;
    }
    if (bad || ptr[i0 + W] != p0 + W * L) return false;
    const std::int32_t* c0 = col + p0;
    const __m256i one = _mm256_set1_epi32(1);
    __m256i eq = _mm256_set1_epi32(-1);
    for (int q = 0;; q += 8) {
        if (q > M - 8) q = M - 8;
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0 + q));
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0 + q + L));
        eq = _mm256_and_si256(eq, _mm256_cmpeq_epi32(_mm256_add_epi32(a, one), b));
        if (q == M - 8) break;
    }
    if (_mm256_movemask_epi8(eq) != -1) return false;
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) off[k] = static_cast<std::ptrdiff_t>(c0[k]) - static_cast<std::ptrdiff_t>(i0);
    return true;
}

/// True when the group's W rows hold the same L values bit for bit (vals[q + L] == vals[q] for
/// every q < (W - 1) L, compared as 32-bit words, 32 bytes at a time, the last chunk overlapping):
/// a constant-coefficient operator such as the 2-D Poisson matrix.
template <int L, class T>
KESTREL_ALWAYS_INLINE bool periodic_group(const T* vals) noexcept {
    constexpr int bytes = (v256<T>::W - 1) * L * static_cast<int>(sizeof(T));
    static_assert(bytes >= 32, "at least one full chunk of values");
    const char* p = reinterpret_cast<const char*>(vals);
    __m256i eq = _mm256_set1_epi32(-1);
    for (int q = 0;; q += 32) {
        if (q > bytes - 32) q = bytes - 32;
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + q));
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + q + L * sizeof(T)));
        eq = _mm256_and_si256(eq, _mm256_cmpeq_epi32(a, b));
        if (q == bytes - 32) break;
    }
    return _mm256_movemask_epi8(eq) == -1;
}

/// out[k] = entry k of the group's W rows (values at vals + j L + k), k < L. AVX2 has no
/// two-source lane permute, so the general case inserts strided loads into lanes (about 15
/// instructions a register in float); when the rows repeat the same values bit for bit (checked
/// by periodic_group, about 4 instructions a 32-byte chunk) a broadcast of vals[k] is the same
/// register. Why: the float Gauss-Seidel sweep on the Poisson matrix spent most of its
/// instructions in the strided loads (measured 61-66% of the triad with them).
template <int L, class T>
KESTREL_ALWAYS_INLINE void transpose_group(const T* vals, typename v256<T>::V* out) noexcept {
    if (periodic_group<L>(vals)) {
        KESTREL_UNROLL_FULLY
        for (int k = 0; k < L; ++k) out[k] = v256<T>::set1(vals[k]);
        return;
    }
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) out[k] = v256<T>::strided(vals + k, L);
}

#endif  // KESTREL_RELAX_AVX512 / KESTREL_RELAX_AVX2

#if KESTREL_RELAX_GROUPS

/// Software prefetch of the values and column indices 2 KiB past a group's entries in sweep
/// order (after them forward, before them backward), clamped to the arrays.
template <bool Forward, class T>
KESTREL_ALWAYS_INLINE void prefetch_group(const T* val, const std::int32_t* col, std::size_t p0, std::size_t count,
                                          std::size_t nnz) noexcept {
    constexpr std::size_t av = 2048 / sizeof(T), ac = 2048 / 4;
    const std::size_t last = nnz - 1;
    for (std::size_t q = 0; q < count; q += 64 / sizeof(T))
        simd::detail::prefetch<3>(val + (Forward ? std::min(p0 + q + av, last) : (p0 + q > av ? p0 + q - av : 0)));
    for (std::size_t q = 0; q < count; q += 16)
        simd::detail::prefetch<3>(col + (Forward ? std::min(p0 + q + ac, last) : (p0 + q > ac ? p0 + q - ac : 0)));
}

/// Jacobi on the group at i0 (a stencil group of L entries per row): writes x_out for its W
/// rows and adds their r^2 to the residual lanes. False (nothing written) if not a group.
template <int L, class T>
KESTREL_ALWAYS_INLINE bool jacobi_group(const std::int32_t* ptr, const std::int32_t* col, const T* val, std::size_t i0,
                                        const T* b, const T* x, T weight, T* xout,
                                        typename vgroup<T>::acc_t* acc) noexcept {
    using A = vgroup<T>;
    constexpr int W = A::W;
    std::ptrdiff_t off[L];
    if (!stencil_group<L, W>(ptr, col, i0, off)) return false;
    typename A::V e[L];
    transpose_group<L>(val + ptr[i0], e);
    typename A::V s = A::zero(), d = A::zero();
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) {
        if (off[k] == 0)
            d = e[k];
        else
            s = A::fmadd(e[k], A::loadu(x + static_cast<std::ptrdiff_t>(i0) + off[k]), s);
    }
    const typename A::V xi = A::loadu(x + i0);
    const typename A::V r = A::fnmadd(d, xi, A::sub(A::loadu(b + i0), s));
    A::storeu(xout + i0, A::add(xi, A::div(A::mul(A::set1(weight), r), d)));
    A::add_squares(r, acc);
    return true;
}

/// SOR on the group at i0 (forward: rows i0 .. i0 + W - 1 in order; backward: the reverse),
/// prev = the x just written to the row before the group in sweep order; returns false
/// (nothing written) unless the group is a stencil group whose entries other than the
/// diagonal and the chain neighbour (offset -1 forward, +1 backward) read rows outside the
/// group that the sweep has already written (offset <= -W forward, >= W backward) or rows it
/// has not (offset > 0 forward, < 0 backward): then every value a row reads is in x before
/// the group starts, except the chain, which runs lane by lane as in sor_row_chained.
template <int L, bool Forward, class T>
KESTREL_ALWAYS_INLINE bool sor_group(const std::int32_t* ptr, const std::int32_t* col, const T* val, std::size_t i0,
                                     const T* b, T* x, T omega, T& prev) noexcept {
    using A = vgroup<T>;
    constexpr int W = A::W;
    std::ptrdiff_t off[L];
    if (!stencil_group<L, W>(ptr, col, i0, off)) return false;
    constexpr std::ptrdiff_t chain = Forward ? -1 : 1;
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) {
        const std::ptrdiff_t o = off[k];
        if (o == 0 || o == chain) continue;
        const bool ok = Forward ? (o > 0 || o <= -W) : (o < 0 || o >= W);
        if (!ok) return false;
    }
    typename A::V e[L];
    transpose_group<L>(val + ptr[i0], e);
    typename A::V s = A::zero(), d = A::zero(), m = A::zero();
    bool linked = false;
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) {
        if (off[k] == 0) {
            d = e[k];
        } else if (off[k] == chain) {
            m = A::add(m, e[k]);
            linked = true;
        } else {
            s = A::fmadd(e[k], A::loadu(x + static_cast<std::ptrdiff_t>(i0) + off[k]), s);
        }
    }
    const typename A::V xi = A::loadu(x + i0);
    const typename A::V inv = A::div(A::set1(omega), d);
    const typename A::V c0 = A::fmadd(inv, A::fnmadd(d, xi, A::sub(A::loadu(b + i0), s)), xi);
    if (!linked) {
        A::storeu(x + i0, c0);
        alignas(64) T lanes[W];
        A::storeu(lanes, c0);
        prev = lanes[Forward ? W - 1 : 0];
        return true;
    }
    alignas(64) T c0s[W], gs[W];
    A::storeu(c0s, c0);
    A::storeu(gs, A::mul(inv, m));
    T p = prev;
    if (Forward) {
        for (int j = 0; j < W; ++j) {
            p = neg_mul_add(gs[j], p, c0s[j]);
            x[i0 + static_cast<std::size_t>(j)] = p;
        }
    } else {
        for (int j = W - 1; j >= 0; --j) {
            p = neg_mul_add(gs[j], p, c0s[j]);
            x[i0 + static_cast<std::size_t>(j)] = p;
        }
    }
    prev = p;
    return true;
}

/// Red-black SOR on the group at p0 of a colour-ordered matrix (red_black_ordered.hpp: rows
/// of off-diagonal entries only, every column of the other colour, the diagonal apart):
/// x_p = x_p + (omega / d)((b_p - s) - d x_p) for the W rows, as red_black_update. False
/// (nothing written) if not a stencil group.
template <int L, class T>
KESTREL_ALWAYS_INLINE bool colour_group(const std::int32_t* ptr, const std::int32_t* col, const T* val, const T* diag,
                                        std::size_t p0, const T* b, T* x, T omega) noexcept {
    using A = vgroup<T>;
    constexpr int W = A::W;
    std::ptrdiff_t off[L];
    if (!stencil_group<L, W>(ptr, col, p0, off)) return false;
    typename A::V e[L];
    transpose_group<L>(val + ptr[p0], e);
    typename A::V s = A::zero();
    KESTREL_UNROLL_FULLY
    for (int k = 0; k < L; ++k) s = A::fmadd(e[k], A::loadu(x + static_cast<std::ptrdiff_t>(p0) + off[k]), s);
    const typename A::V d = A::loadu(diag + p0), xi = A::loadu(x + p0);
    const typename A::V inv = A::div(A::set1(omega), d);
    A::storeu(x + p0, A::fmadd(inv, A::fnmadd(d, xi, A::sub(A::loadu(b + p0), s)), xi));
    return true;
}

/// The row length of the group at i0 picks the instantiation (3 to 9 entries per row).
template <class F>
KESTREL_ALWAYS_INLINE bool dispatch_length(std::int32_t len, F&& f) {
    switch (len) {
        case 3: return f(std::integral_constant<int, 3>{});
        case 4: return f(std::integral_constant<int, 4>{});
        case 5: return f(std::integral_constant<int, 5>{});
        case 6: return f(std::integral_constant<int, 6>{});
        case 7: return f(std::integral_constant<int, 7>{});
        case 8: return f(std::integral_constant<int, 8>{});
        case 9: return f(std::integral_constant<int, 9>{});
        default: return false;
    }
}

#endif  // KESTREL_RELAX_GROUPS

/// True when the group kernels run for this value and index type in this build.
template <class T, class I>
inline constexpr bool relax_groups = KESTREL_RELAX_GROUPS && std::is_same_v<I, std::int32_t> &&
                                     (std::is_same_v<T, double> || std::is_same_v<T, float>);

/// Jacobi over rows [b0, e0) of one reduction block (b0 a multiple of residual_lanes<T>):
/// writes x_out and returns the sum of r^2 (lanes summed in lane order).
template <class T, class I>
double jacobi_block(const I* ptr, const I* col, const T* val, std::size_t nnz, std::size_t b0, std::size_t e0,
                    const T* b, const T* x, T weight, T* xout) noexcept {
    constexpr std::size_t R = residual_lanes<T>;
    double lanes[R] = {};
    std::size_t i = b0;
#if KESTREL_RELAX_GROUPS
    if constexpr (relax_groups<T, I>) {
        using A = vgroup<T>;
        constexpr std::size_t W = static_cast<std::size_t>(A::W);
        static_assert(W == R, "one residual lane per group lane");
        typename A::acc_t acc[2] = {A::acc_zero(), A::acc_zero()};
        for (; i + W <= e0; i += W) {
            const std::size_t p0 = static_cast<std::size_t>(ptr[i]);
            const std::size_t cnt = static_cast<std::size_t>(ptr[i + W]) - p0;
            prefetch_group<true>(val, col, p0, cnt, nnz);
            const bool done = dispatch_length(ptr[i + 1] - ptr[i], [&](auto len) {
                return jacobi_group<decltype(len)::value>(ptr, col, val, i, b, x, weight, xout, acc);
            });
            if (!done)
                for (std::size_t j = 0; j < W; ++j) {
                    const double r = static_cast<double>(jacobi_row(ptr, col, val, i + j, b, x, weight, xout));
                    lanes[j] = mul_add(r, r, lanes[j]);
                }
        }
        // Lane j of the vector accumulators saw the group rows b0 + j (mod W), lanes[j] the
        // scalar rows of that residue: which rows went which way depends on the matrix only,
        // so the sum is the same at any thread count.
        alignas(64) double vs[16];
        A::store_acc(vs, acc);
        for (std::size_t j = 0; j < R; ++j) lanes[j] += vs[j];
    }
#else
    (void)nnz;
#endif
    for (; i < e0; ++i) {
        const double r = static_cast<double>(jacobi_row(ptr, col, val, i, b, x, weight, xout));
        double& l = lanes[(i - b0) % R];
        l = mul_add(r, r, l);
    }
    double sum = 0.0;
    for (std::size_t j = 0; j < R; ++j) sum += lanes[j];
    return sum;
}

}  // namespace relaxation_detail
}  // namespace fixed_point
}  // namespace kestrel
