// Fused elementwise loops and deterministic reductions: the one place Kestrel touches xsimd.
//
//   lincomb(y, {c0, ..., cK-1}, {x0, ..., xK-1})   y[i] = c0*x0[i] + ... + cK-1*xK-1[i]
//
// reads every input once and writes y once, in SIMD batches (xsimd when enabled, a scalar
// loop otherwise), split over threads above `parallel_threshold` elements. Every element is
// computed by the same sequence of operations whatever its position (the ragged tail goes
// through a padded batch), so results do not depend on alignment, offset or thread count.
// Coefficients arrive in double and are rounded to T once.
//
// Reductions (sum, dot, squared_norm, sum_positive_part_of_difference, max, min, argmax,
// argmin) cut the input into blocks whose size depends only on n; each block is reduced
// in a fixed SIMD order and block results are added in block order in double. Hence the
// same input gives the same bits at any thread count. Within a block, float inputs are
// accumulated in float across SIMD lanes (block size at most `max_block` elements), then
// in double across blocks.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "config.hpp"
#include "error.hpp"
#include "parallel.hpp"
#include "view.hpp"

#if KESTREL_HAS_XSIMD
#include <xsimd/xsimd.hpp>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#endif

namespace kestrel {
namespace simd {

/// Below this many elements an elementwise kernel runs on the calling thread.
inline constexpr std::size_t parallel_threshold = std::size_t(1) << 15;
/// Largest number of inputs lincomb accepts.
inline constexpr std::size_t max_lincomb_inputs = 8;

namespace detail {

/// x, rounded to double and opaque to the optimizer: a product passed through it is never
/// fused into a later add (GCC contracts a * b + c into an FMA by default with -march and
/// FMA hardware, and may decide differently in two instantiations of one template, so a
/// float and a double input of the same values would give different bits).
KESTREL_ALWAYS_INLINE double opaque(double x) noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
    __asm__("" : "+x"(x));
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__("" : "+w"(x));
#else
    volatile double v = x;
    x = v;
#endif
    return x;
}

template <class T>
struct identity {
    using type = T;
};

/// Index of the lowest set bit of a non-zero mask.
KESTREL_ALWAYS_INLINE unsigned lowest_bit(unsigned m) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctz(m));
#else
    unsigned j = 0;
    while (!(m & 1u)) m >>= 1, ++j;
    return j;
#endif
}

#if KESTREL_HAS_XSIMD
template <class T>
using batch = xsimd::batch<T>;
template <class T>
inline constexpr std::size_t width = xsimd::batch<T>::size;

template <class T>
KESTREL_ALWAYS_INLINE batch<T> load(const T* p) noexcept { return batch<T>::load_unaligned(p); }
template <class T>
KESTREL_ALWAYS_INLINE void store(T* p, const batch<T>& b) noexcept { b.store_unaligned(p); }
template <class T>
KESTREL_ALWAYS_INLINE batch<T> splat(T v) noexcept { return batch<T>(v); }
template <class T>
KESTREL_ALWAYS_INLINE batch<T> fmadd(const batch<T>& a, const batch<T>& b, const batch<T>& c) noexcept {
    return xsimd::fma(a, b, c);
}
template <class T>
KESTREL_ALWAYS_INLINE batch<T> vmax(const batch<T>& a, const batch<T>& b) noexcept { return xsimd::max(a, b); }
template <class T>
KESTREL_ALWAYS_INLINE batch<T> vmin(const batch<T>& a, const batch<T>& b) noexcept { return xsimd::min(a, b); }
template <class T>
KESTREL_ALWAYS_INLINE T hsum(const batch<T>& b) noexcept { return xsimd::hadd(b); }
/// True if a[j] < b[j] in any lane (a SIMD filter in front of scalar work).
template <class T>
KESTREL_ALWAYS_INLINE bool any_less(const batch<T>& a, const batch<T>& b) noexcept { return xsimd::any(a < b); }
/// Bit j set iff a[j] < b[j] (lane j): a filter whose hits are then visited lane by lane.
/// xsimd 8.1 has no bitmask of a batch_bool; on x86 the register goes to movemask, elsewhere
/// the lanes are read one by one.
template <class T>
KESTREL_ALWAYS_INLINE unsigned less_mask(const batch<T>& a, const batch<T>& b) noexcept {
    const xsimd::batch_bool<T> m = a < b;
    using reg = typename xsimd::batch_bool<T>::register_type;
    // Told apart by lane count and register size (is_same on vector types would warn about
    // their attributes in every including translation unit).
    constexpr std::size_t lanes = batch<T>::size;
    constexpr bool dbl = std::is_same<T, double>::value;
#if defined(__AVX__)
    if constexpr (sizeof(reg) == 32 && dbl && lanes == 4) return static_cast<unsigned>(_mm256_movemask_pd(m));
    if constexpr (sizeof(reg) == 32 && !dbl && lanes == 8) return static_cast<unsigned>(_mm256_movemask_ps(m));
#endif
#if defined(__SSE2__)
    if constexpr (sizeof(reg) == 16 && dbl && lanes == 2) return static_cast<unsigned>(_mm_movemask_pd(m));
    if constexpr (sizeof(reg) == 16 && !dbl && lanes == 4) return static_cast<unsigned>(_mm_movemask_ps(m));
#endif
    if constexpr (sizeof(reg) <= 2) {  // AVX-512: the register is a __mmask8/16 bit mask
        return static_cast<unsigned>(static_cast<reg>(m));
    } else {
        unsigned r = 0;
        for (std::size_t j = 0; j < lanes; ++j) r |= static_cast<unsigned>(m.get(j)) << j;
        return r;
    }
}
/// Lanes of x where a < b, of y elsewhere.
template <class T>
KESTREL_ALWAYS_INLINE batch<T> select_less(const batch<T>& a, const batch<T>& b, const batch<T>& x,
                                           const batch<T>& y) noexcept {
    return xsimd::select(a < b, x, y);
}
/// less_mask(load(a), b widened to double) for width<double> lanes: a double row filtered by
/// float thresholds (half the bytes of the threshold array in cache).
KESTREL_ALWAYS_INLINE unsigned less_mask_widened(const double* a, const float* b) noexcept {
    using reg [[maybe_unused]] = typename xsimd::batch<double>::register_type;
    constexpr std::size_t lanes = batch<double>::size;
#if defined(__AVX512F__)
    if constexpr (sizeof(reg) == 64 && lanes == 8)
        return static_cast<unsigned>(_mm512_cmp_pd_mask(_mm512_loadu_pd(a), _mm512_maskz_cvtps_pd(static_cast<__mmask8>(0xFF), _mm256_loadu_ps(b)), _CMP_LT_OQ));
#endif
#if defined(__AVX__)
    if constexpr (sizeof(reg) == 32 && lanes == 4)
        return static_cast<unsigned>(
            _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(a), _mm256_cvtps_pd(_mm_loadu_ps(b)), _CMP_LT_OQ)));
#endif
    unsigned r = 0;
    for (std::size_t j = 0; j < lanes; ++j) r |= static_cast<unsigned>(a[j] < static_cast<double>(b[j])) << j;
    return r;
}
/// Writes o + j for every set bit j of the lane mask m of a batch of T, in increasing j, to
/// idx[0..] and returns how many; idx must have room for width<T> entries (the ones past the
/// count are scratch). With AVX-512 a compress instruction does it without branches.
template <class T>
KESTREL_ALWAYS_INLINE unsigned compress_lanes(unsigned m, std::uint32_t o, std::uint32_t* idx) noexcept {
    [[maybe_unused]] constexpr std::size_t lanes = batch<T>::size;
#if defined(__AVX512F__) && defined(__AVX512VL__)
    if constexpr (lanes == 8) {
        const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i v = _mm256_add_epi32(iota, _mm256_set1_epi32(static_cast<int>(o)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx),
                            _mm256_maskz_compress_epi32(static_cast<__mmask8>(m), v));
        return static_cast<unsigned>(__builtin_popcount(m));
    }
    if constexpr (lanes == 16) {
        const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m512i v = _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(o)));
        _mm512_storeu_si512(idx, _mm512_maskz_compress_epi32(static_cast<__mmask16>(m), v));
        return static_cast<unsigned>(__builtin_popcount(m));
    }
#endif
    unsigned c = 0;
    for (; m; m &= m - 1) idx[c++] = o + lowest_bit(m);
    return c;
}
/// Lane mask of a comparison of two batches (xsimd::batch_bool; bool in the scalar build).
template <class T>
using mask = xsimd::batch_bool<T>;
/// Lanes of a where m is set, of b elsewhere.
template <class T>
KESTREL_ALWAYS_INLINE batch<T> vselect(const mask<T>& m, const batch<T>& a, const batch<T>& b) noexcept {
    return xsimd::select(m, a, b);
}
/// e^x lane by lane, in the batch's precision (xsimd's exp: about 1 ulp in double).
template <class T>
KESTREL_ALWAYS_INLINE batch<T> vexp(const batch<T>& x) noexcept { return xsimd::exp(x); }
/// log x lane by lane (xsimd's log: about 1 ulp in double).
template <class T>
KESTREL_ALWAYS_INLINE batch<T> vlog(const batch<T>& x) noexcept { return xsimd::log(x); }
/// The lane numbers 0, 1, ..., width<double> - 1 as doubles.
KESTREL_ALWAYS_INLINE batch<double> lane_numbers() noexcept {
    alignas(64) double v[width<double>];
    for (std::size_t j = 0; j < width<double>; ++j) v[j] = static_cast<double>(j);
    return batch<double>::load_aligned(v);
}
/// width<double> consecutive values from p, converted exactly to double: a float row read
/// into double lanes (half a float register per double register).
template <class T>
KESTREL_ALWAYS_INLINE batch<double> load_widened(const T* p) noexcept {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "float or double rows");
    // D is double, spelled so that it depends on T: the branches for other register sizes
    // are then not instantiated.
    using D = std::conditional_t<sizeof(T) != 0, double, T>;
    using reg [[maybe_unused]] = typename xsimd::batch<D>::register_type;
    constexpr std::size_t lanes = batch<D>::size;
    if constexpr (std::is_same<T, double>::value) {
        return batch<D>::load_unaligned(p);
    } else {
#if defined(__AVX512F__)
        if constexpr (sizeof(reg) == 64 && lanes == 8) return batch<D>(_mm512_cvtps_pd(_mm256_loadu_ps(p)));
#endif
#if defined(__AVX__)
        if constexpr (sizeof(reg) == 32 && lanes == 4) return batch<D>(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#endif
#if defined(__SSE2__)
        if constexpr (sizeof(reg) == 16 && lanes == 2)
            // Two floats through an unaligned 64-bit load (_mm_load_sd would dereference a
            // double* that is only float-aligned: undefined behaviour, which UBSan reports).
            return batch<D>(_mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))));
#endif
        alignas(64) D v[lanes];
        for (std::size_t j = 0; j < lanes; ++j) v[j] = static_cast<D>(p[j]);
        return batch<D>::load_aligned(v);
    }
}
#else
// Scalar fallback: a "batch" of one element, with the same operation sequence.
template <class T>
using batch = T;
template <class T>
inline constexpr std::size_t width = 1;
template <class T>
KESTREL_ALWAYS_INLINE T load(const T* p) noexcept { return *p; }
template <class T>
KESTREL_ALWAYS_INLINE void store(T* p, T b) noexcept { *p = b; }
template <class T>
KESTREL_ALWAYS_INLINE T splat(T v) noexcept { return v; }
template <class T>
KESTREL_ALWAYS_INLINE T fmadd(T a, T b, T c) noexcept { return a * b + c; }
template <class T>
KESTREL_ALWAYS_INLINE T vmax(T a, T b) noexcept { return a < b ? b : a; }
template <class T>
KESTREL_ALWAYS_INLINE T vmin(T a, T b) noexcept { return b < a ? b : a; }
template <class T>
KESTREL_ALWAYS_INLINE T hsum(T b) noexcept { return b; }
template <class T>
KESTREL_ALWAYS_INLINE bool any_less(T a, T b) noexcept { return a < b; }
template <class T>
KESTREL_ALWAYS_INLINE unsigned less_mask(T a, T b) noexcept { return a < b ? 1u : 0u; }
template <class T>
KESTREL_ALWAYS_INLINE T select_less(T a, T b, T x, T y) noexcept { return a < b ? x : y; }
KESTREL_ALWAYS_INLINE unsigned less_mask_widened(const double* a, const float* b) noexcept {
    return *a < static_cast<double>(*b) ? 1u : 0u;
}
template <class T>
KESTREL_ALWAYS_INLINE unsigned compress_lanes(unsigned m, std::uint32_t o, std::uint32_t* idx) noexcept {
    *idx = o;
    return m & 1u;
}
template <class T>
using mask = bool;
template <class T>
KESTREL_ALWAYS_INLINE T vselect(bool m, T a, T b) noexcept { return m ? a : b; }
template <class T>
KESTREL_ALWAYS_INLINE T vexp(T x) noexcept { return std::exp(x); }
template <class T>
KESTREL_ALWAYS_INLINE T vlog(T x) noexcept { return std::log(x); }
KESTREL_ALWAYS_INLINE double lane_numbers() noexcept { return 0.0; }
KESTREL_ALWAYS_INLINE double load_widened(const double* p) noexcept { return *p; }
KESTREL_ALWAYS_INLINE double load_widened(const float* p) noexcept { return static_cast<double>(*p); }
#endif

/// Hints that the cache line holding p will be read soon: long rows cross 4 KiB pages, where
/// hardware prefetchers stop. p must point into (or one past) the array being read. The line
/// goes to L2, not L1 (locality 2, prefetcht1 on x86): the L2 keeps more misses in flight,
/// and a streamed row needs no L1 space before it is read (measured in the k-medoids pass:
/// 1.2x-1.5x faster than prefetching into L1). Locality 3 (into L1) suits random lines read
/// a few hundred cycles later (the alias draws' table entries).
template <int Locality = 2>
KESTREL_ALWAYS_INLINE void prefetch(const void* p) noexcept {
    static_assert(Locality >= 0 && Locality <= 3, "prefetch locality is 0..3");
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, Locality);
#else
    (void)p;
#endif
}

template <class T>
inline void check_float_type(const char* /*function*/) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "Kestrel kernels work on float and double");
}

// y[i] for i in [begin, end) from K inputs. Serial. With Check, also returns whether every
// output is finite: (a - a) is 0 for finite a and NaN otherwise, summed into one extra
// accumulator per batch (two operations, no compare or branch in the loop).
template <class T, std::size_t K, bool Check = false>
bool lincomb_range(T* y, const std::array<const T*, K>& x, const std::array<T, K>& c, std::size_t begin,
                   std::size_t end) noexcept {
    constexpr std::size_t W = width<T>;
    std::array<batch<T>, K> cb;
    KESTREL_UNROLL_FULLY
    for (std::size_t k = 0; k < K; ++k) cb[k] = splat<T>(c[k]);
    [[maybe_unused]] batch<T> bad0 = splat<T>(T(0)), bad1 = bad0;
    std::size_t i = begin;
    for (; i + 2 * W <= end; i += 2 * W) {
        batch<T> a0 = load(x[0] + i) * cb[0];
        batch<T> a1 = load(x[0] + i + W) * cb[0];
        KESTREL_UNROLL_FULLY
        for (std::size_t k = 1; k < K; ++k) {
            a0 = fmadd(cb[k], load(x[k] + i), a0);
            a1 = fmadd(cb[k], load(x[k] + i + W), a1);
        }
        store(y + i, a0);
        store(y + i + W, a1);
        if constexpr (Check) {
            bad0 = bad0 + (a0 - a0);
            bad1 = bad1 + (a1 - a1);
        }
    }
    for (; i + W <= end; i += W) {
        batch<T> a0 = load(x[0] + i) * cb[0];
        KESTREL_UNROLL_FULLY
        for (std::size_t k = 1; k < K; ++k) a0 = fmadd(cb[k], load(x[k] + i), a0);
        store(y + i, a0);
        if constexpr (Check) bad0 = bad0 + (a0 - a0);
    }
    [[maybe_unused]] bool finite = true;
    if (i < end) {  // ragged tail through a padded batch: same operations as the body
        const std::size_t r = end - i;
        alignas(64) T buf[K][W > 0 ? W : 1];
        alignas(64) T out[W > 0 ? W : 1];
        for (std::size_t k = 0; k < K; ++k) {
            for (std::size_t j = 0; j < W; ++j) buf[k][j] = j < r ? x[k][i + j] : T(0);
        }
        batch<T> a0 = load(&buf[0][0]) * cb[0];
        for (std::size_t k = 1; k < K; ++k) a0 = fmadd(cb[k], load(&buf[k][0]), a0);
        store(out, a0);
        for (std::size_t j = 0; j < r; ++j) {
            y[i + j] = out[j];
            if constexpr (Check) finite = finite && (out[j] - out[j] == T(0));
        }
    }
    if constexpr (Check) {
        alignas(64) T lanes[W > 0 ? W : 1];
        store(lanes, bad0 + bad1);
        for (std::size_t j = 0; j < W; ++j) finite = finite && lanes[j] == T(0);
        return finite;
    }
    return true;
}

// Returns whether every output is finite when Check (true otherwise).
template <class T, std::size_t K, bool Check>
bool lincomb_fixed(T* y, std::size_t n, const double* coeffs, const T* const* inputs, exec_policy policy) {
    std::array<const T*, K> x;
    std::array<T, K> c;
    for (std::size_t k = 0; k < K; ++k) {
        x[k] = inputs[k];
        c[k] = static_cast<T>(coeffs[k]);
    }
    if (n < parallel_threshold) policy = exec_policy::serial();
    if constexpr (Check) {
        // One flag per call, written only by a chunk that met a non-finite value.
        std::atomic<bool> any_bad{false};
        parallel_chunks(n, 64, policy, [&](std::size_t b, std::size_t e) {
            if (!lincomb_range<T, K, true>(y, x, c, b, e)) any_bad.store(true, std::memory_order_relaxed);
        });
        return !any_bad.load(std::memory_order_relaxed);
    } else {
        parallel_chunks(n, 64, policy, [&](std::size_t b, std::size_t e) { lincomb_range<T, K>(y, x, c, b, e); });
        return true;
    }
}

inline bool overlaps_partially(const void* a, const void* b, std::size_t bytes) noexcept {
    const auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
    if (pa == pb || bytes == 0) return false;
    return pa < pb + bytes && pb < pa + bytes;
}

inline constexpr const char* lincomb_input_names[max_lincomb_inputs] = {
    "inputs[0]", "inputs[1]", "inputs[2]", "inputs[3]", "inputs[4]", "inputs[5]", "inputs[6]", "inputs[7]"};

/// The checks of lincomb, with the caller's function name and input names (names may be
/// null: then "inputs[k]"). Everything is checked before anything is written.
template <class T>
void check_lincomb(const char* function, vector_view<T> y, const double* coeffs, const vector_view<const T>* inputs,
                   std::size_t count, const char* const* names, exec_policy policy) {
    check_float_type<T>(function);
    require(count >= 1 && count <= max_lincomb_inputs, function, "inputs", "count ", count, " outside [1, ",
            max_lincomb_inputs, "]");
    require_not_null(coeffs, count, function, "coeffs");
    require_not_null(inputs, count, function, "inputs");
    require_valid_policy(policy, function);
    if (names == nullptr) names = lincomb_input_names;
    for (std::size_t k = 0; k < count; ++k) {
        require_size(inputs[k].size(), y.size(), function, names[k], "the output's size");
        require(!views_overlap_partially(inputs[k], vector_view<const T>(y)), function, names[k],
                "overlaps the output without being the output");
        if (!finite_as<T>(coeffs[k]))
            fail_argument(function, names[k], "its coefficient is not finite",
                          std::is_same_v<T, float> ? " as float" : "", " (", coeffs[k], ")");
    }
}

template <class T, bool Check>
bool lincomb_dispatch(vector_view<T> y, const double* coeffs, const vector_view<const T>* inputs, std::size_t count,
                      exec_policy policy) {
    const T* ptrs[max_lincomb_inputs];
    for (std::size_t k = 0; k < count; ++k) ptrs[k] = inputs[k].data();
    T* out = y.data();
    const std::size_t n = y.size();
    switch (count) {
        case 1: return lincomb_fixed<T, 1, Check>(out, n, coeffs, ptrs, policy);
        case 2: return lincomb_fixed<T, 2, Check>(out, n, coeffs, ptrs, policy);
        case 3: return lincomb_fixed<T, 3, Check>(out, n, coeffs, ptrs, policy);
        case 4: return lincomb_fixed<T, 4, Check>(out, n, coeffs, ptrs, policy);
        case 5: return lincomb_fixed<T, 5, Check>(out, n, coeffs, ptrs, policy);
        case 6: return lincomb_fixed<T, 6, Check>(out, n, coeffs, ptrs, policy);
        case 7: return lincomb_fixed<T, 7, Check>(out, n, coeffs, ptrs, policy);
        default: return lincomb_fixed<T, 8, Check>(out, n, coeffs, ptrs, policy);
    }
}

/// lincomb as called by another public function: errors name `function` and the inputs by
/// `names` (null: "inputs[k]").
template <class T>
void lincomb_named(const char* function, vector_view<T> y, const double* coeffs, const vector_view<const T>* inputs,
                   std::size_t count, const char* const* names, exec_policy policy) {
    check_lincomb(function, y, coeffs, inputs, count, names, policy);
    lincomb_dispatch<T, false>(y, coeffs, inputs, count, policy);
}

/// lincomb_named that also reports whether every output element is finite, found in the same
/// pass (the output is written in full either way).
template <class T>
bool lincomb_named_finite(const char* function, vector_view<T> y, const double* coeffs,
                          const vector_view<const T>* inputs, std::size_t count, const char* const* names,
                          exec_policy policy) {
    check_lincomb(function, y, coeffs, inputs, count, names, policy);
    return lincomb_dispatch<T, true>(y, coeffs, inputs, count, policy);
}

}  // namespace detail

/// y = sum_k coeffs[k] * inputs[k], with k < count <= 8. Each input must have y's size and
/// either be y itself or not overlap y; every coefficient must be finite in T (after rounding).
/// Throws kestrel::invalid_argument before writing.
template <class T>
void lincomb(vector_view<T> y, const double* coeffs, const vector_view<const T>* inputs, std::size_t count,
             exec_policy policy = {}) {
    detail::lincomb_named<T>("lincomb", y, coeffs, inputs, count, nullptr, policy);
}

/// Braced-list form: lincomb(y, {c0, c1}, {x0, x1}).
template <class T, std::size_t K>
void lincomb(vector_view<T> y, const double (&coeffs)[K],
             const typename detail::identity<vector_view<const T>>::type (&inputs)[K], exec_policy policy = {}) {
    lincomb(y, coeffs, inputs, K, policy);
}

/// std::array form, for coefficients computed at run time.
template <class T, std::size_t K>
void lincomb(vector_view<T> y, const std::array<double, K>& coeffs,
             const std::array<typename detail::identity<vector_view<const T>>::type, K>& inputs,
             exec_policy policy = {}) {
    lincomb(y, coeffs.data(), inputs.data(), K, policy);
}

// ------------------------------------------------------------------------------------------
// Reductions
// ------------------------------------------------------------------------------------------

/// Block layout used by every reduction: a function of n only.
struct reduction_blocks {
    static constexpr std::size_t min_block = 4096;  // elements
    static constexpr std::size_t max_blocks = 256;
    std::size_t block, count;
    explicit reduction_blocks(std::size_t n) noexcept {
        std::size_t b = min_block;
        while ((n + b - 1) / b > max_blocks) b *= 2;
        block = b;
        count = n == 0 ? 0 : (n + b - 1) / b;
    }
};

namespace detail {

// Combine K streams elementwise with `op` into 4 batch accumulators, then fold.
// Op: (acc, const T* const* ptrs, offset) -> new acc; Pad: value for padding lanes.
template <class T, class Elem>
T block_sum(std::size_t begin, std::size_t end, Elem&& elem) noexcept {
    constexpr std::size_t W = width<T>;
    batch<T> a0 = splat<T>(T(0)), a1 = a0, a2 = a0, a3 = a0;
    std::size_t i = begin;
    for (; i + 4 * W <= end; i += 4 * W) {
        a0 = a0 + elem(i);
        a1 = a1 + elem(i + W);
        a2 = a2 + elem(i + 2 * W);
        a3 = a3 + elem(i + 3 * W);
    }
    for (; i + W <= end; i += W) a0 = a0 + elem(i);
    T s = hsum<T>((a0 + a1) + (a2 + a3));
    // Tail: elementwise in scalar, in index order (depends on n and block layout only).
    for (; i < end; ++i) s += elem.scalar(i);
    return s;
}

template <class T, class Elem>
double blocked_sum(std::size_t n, exec_policy policy, Elem&& elem) {
    const reduction_blocks rb(n);
    double partial[reduction_blocks::max_blocks];
    if (n < parallel_threshold) policy = exec_policy::serial();
    parallel_for(rb.count, policy, [&](std::size_t b) {
        const std::size_t begin = b * rb.block, end = std::min(n, begin + rb.block);
        partial[b] = static_cast<double>(block_sum<T>(begin, end, elem));
    });
    double s = 0.0;
    for (std::size_t b = 0; b < rb.count; ++b) s += partial[b];
    return s;
}

template <class T>
struct sum_elem {
    const T* a;
    KESTREL_ALWAYS_INLINE batch<T> operator()(std::size_t i) const noexcept { return load(a + i); }
    KESTREL_ALWAYS_INLINE T scalar(std::size_t i) const noexcept { return a[i]; }
};
template <class T>
struct dot_elem {
    const T *a, *b;
    KESTREL_ALWAYS_INLINE batch<T> operator()(std::size_t i) const noexcept { return load(a + i) * load(b + i); }
    KESTREL_ALWAYS_INLINE T scalar(std::size_t i) const noexcept { return a[i] * b[i]; }
};
template <class T>
struct positive_difference_elem {
    const T *a, *b;
    KESTREL_ALWAYS_INLINE batch<T> operator()(std::size_t i) const noexcept {
        return vmax(load(a + i) - load(b + i), splat<T>(T(0)));
    }
    KESTREL_ALWAYS_INLINE T scalar(std::size_t i) const noexcept {
        const T d = a[i] - b[i];
        return d > T(0) ? d : T(0);
    }
};

// Max (Greater = true) or min of a[begin, end), NaN-free input assumed.
template <class T, bool Greater>
T block_extreme(const T* a, std::size_t begin, std::size_t end) noexcept {
    constexpr std::size_t W = width<T>;
    const T init = Greater ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    batch<T> m0 = splat<T>(init), m1 = m0;
    std::size_t i = begin;
    for (; i + 2 * W <= end; i += 2 * W) {
        if constexpr (Greater) {
            m0 = vmax(m0, load(a + i));
            m1 = vmax(m1, load(a + i + W));
        } else {
            m0 = vmin(m0, load(a + i));
            m1 = vmin(m1, load(a + i + W));
        }
    }
    alignas(64) T lanes[2 * W];
    store(lanes, m0);
    store(lanes + W, m1);
    T m = init;
    for (std::size_t j = 0; j < 2 * W; ++j) m = Greater ? (lanes[j] > m ? lanes[j] : m) : (lanes[j] < m ? lanes[j] : m);
    for (; i < end; ++i) m = Greater ? (a[i] > m ? a[i] : m) : (a[i] < m ? a[i] : m);
    return m;
}

template <class T, bool Greater>
T extreme(const T* a, std::size_t n, exec_policy policy) {
    const reduction_blocks rb(n);
    T partial[reduction_blocks::max_blocks] = {};  // callers refuse n = 0; initialized all the same
    if (n < parallel_threshold) policy = exec_policy::serial();
    parallel_for(rb.count, policy, [&](std::size_t b) {
        const std::size_t begin = b * rb.block, end = std::min(n, begin + rb.block);
        partial[b] = block_extreme<T, Greater>(a, begin, end);
    });
    T m = partial[0];
    for (std::size_t b = 1; b < rb.count; ++b) m = Greater ? (partial[b] > m ? partial[b] : m) : (partial[b] < m ? partial[b] : m);
    return m;
}

template <class T, bool Greater>
std::size_t arg_extreme(const T* a, std::size_t n, exec_policy policy) {
    const reduction_blocks rb(n);
    T value[reduction_blocks::max_blocks];
    std::size_t index[reduction_blocks::max_blocks];
    if (n < parallel_threshold) policy = exec_policy::serial();
    parallel_for(rb.count, policy, [&](std::size_t b) {
        const std::size_t begin = b * rb.block, end = std::min(n, begin + rb.block);
        const T m = block_extreme<T, Greater>(a, begin, end);
        std::size_t j = begin;  // first occurrence; the block is in cache
        while (j < end && !(a[j] == m)) ++j;
        value[b] = m;
        index[b] = j < end ? j : begin;
    });
    std::size_t best = 0;
    for (std::size_t b = 1; b < rb.count; ++b)
        if (Greater ? value[b] > value[best] : value[b] < value[best]) best = b;
    return index[best];
}

}  // namespace detail

/// sum_i a[i], in double (see the header comment for the summation order).
template <class T>
double sum(vector_view<T> a, exec_policy policy = {}) {
    detail::check_float_type<std::remove_const_t<T>>("sum");
    require_valid_policy(policy, "sum");
    return detail::blocked_sum<std::remove_const_t<T>>(a.size(), policy, detail::sum_elem<std::remove_const_t<T>>{a.data()});
}

/// sum_i a[i] * b[i].
template <class T>
double dot(vector_view<T> a, vector_view<T> b, exec_policy policy = {}) {
    detail::check_float_type<std::remove_const_t<T>>("dot");
    require_valid_policy(policy, "dot");
    require_size(b.size(), a.size(), "dot", "b", "a's size");
    return detail::blocked_sum<std::remove_const_t<T>>(a.size(), policy, detail::dot_elem<std::remove_const_t<T>>{a.data(), b.data()});
}

/// sum_i a[i]^2.
template <class T>
double squared_norm(vector_view<T> a, exec_policy policy = {}) {
    detail::check_float_type<std::remove_const_t<T>>("squared_norm");
    require_valid_policy(policy, "squared_norm");
    return detail::blocked_sum<std::remove_const_t<T>>(a.size(), policy, detail::dot_elem<std::remove_const_t<T>>{a.data(), a.data()});
}

/// sum_i max(0, a[i] - b[i]) (the mass of the residual distribution in speculative sampling).
template <class T>
double sum_positive_part_of_difference(vector_view<T> a, vector_view<T> b, exec_policy policy = {}) {
    detail::check_float_type<std::remove_const_t<T>>("sum_positive_part_of_difference");
    require_valid_policy(policy, "sum_positive_part_of_difference");
    require_size(b.size(), a.size(), "sum_positive_part_of_difference", "b", "a's size");
    return detail::blocked_sum<std::remove_const_t<T>>(a.size(), policy, detail::positive_difference_elem<std::remove_const_t<T>>{a.data(), b.data()});
}

/// Largest element. Throws on an empty input. The input must not contain NaN.
template <class T>
std::remove_const_t<T> max(vector_view<T> a, exec_policy policy = {}) {
    require_valid_policy(policy, "max");
    require(!a.empty(), "max", "a", "is empty");
    return detail::extreme<std::remove_const_t<T>, true>(a.data(), a.size(), policy);
}

/// Smallest element. Throws on an empty input. The input must not contain NaN.
template <class T>
std::remove_const_t<T> min(vector_view<T> a, exec_policy policy = {}) {
    require_valid_policy(policy, "min");
    require(!a.empty(), "min", "a", "is empty");
    return detail::extreme<std::remove_const_t<T>, false>(a.data(), a.size(), policy);
}

/// Index of the largest element; the first one on ties. Throws on an empty input.
template <class T>
std::size_t argmax(vector_view<T> a, exec_policy policy = {}) {
    require_valid_policy(policy, "argmax");
    require(!a.empty(), "argmax", "a", "is empty");
    return detail::arg_extreme<std::remove_const_t<T>, true>(a.data(), a.size(), policy);
}

/// Index of the smallest element; the first one on ties. Throws on an empty input.
template <class T>
std::size_t argmin(vector_view<T> a, exec_policy policy = {}) {
    require_valid_policy(policy, "argmin");
    require(!a.empty(), "argmin", "a", "is empty");
    return detail::arg_extreme<std::remove_const_t<T>, false>(a.data(), a.size(), policy);
}

}  // namespace simd

using simd::lincomb;

}  // namespace kestrel
