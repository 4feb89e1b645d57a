// The passes over n-vectors that the accelerated fixed-point solvers make per iterate
// (everything else they do is on m x m matrices):
//
//   combine_pass          out = a*x + b*g                  (plain, Krasnoselskii-Mann, Halpern;
//                         the general form also subtracts sum_j gamma_j col_j)
//   history_combine_pass  out = w_k - sum_j gamma_j (w_{j+1} - w_j)      (Anderson's update:
//                         reads the mk + 1 raw w vectors, writes 1)
//   residual_pass         f_new = gn - xn, optionally stored, and w_new = (1 - beta) xn + beta gn,
//                         optionally stored; with a raw f history f_{k-mk}..f_k also
//                         df = f_new - f_k and every inner product Anderson needs, in the same
//                         pass: ||f_new||^2, ||df||^2, df.f_new, and for each column
//                         c_j = f_{j+1} - f_j (formed in registers) c_j.df and c_j.f_new
//                         (reads 2 + (mk + 1 with a history) vectors, writes 0 to 2)
//
// All cut [0, n) into sub-blocks of `sub` elements handled in SIMD batches (core/simd.hpp's
// batch helpers) with a scalar tail only at the end of the vector, so each element goes through
// the same operations whatever the thread count. Inner products: each sub-block's sum in T
// (SIMD lanes, then a horizontal add), added in double per reduction block
// (simd::reduction_blocks, a function of n), and blocks added in block order: the same bits at
// any thread count. Threads: residual_pass splits the reduction blocks over the policy's
// threads, the combines split [0, n) in chunks of whole sub-blocks (core/parallel.hpp).
// Anderson's columns are taken four at a time within a sub-block (five raw loads for four
// differences; the accumulator, or df and f, loaded once): the same operations on each element
// and column as one at a time, fewer L1 loads and stores (measured 2-15% less time beyond G at
// m = 10, 20 than column by column, under load). Stored outputs leave from the sub-block's L1
// buffer (store_block), optionally by non-temporal stores followed by a store fence at the end
// of the thread's range.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"

namespace kestrel {
namespace fixed_point {
namespace detail {

inline constexpr std::size_t pass_sub_block = 256;  // elements; a multiple of every SIMD width
/// Anderson stores new f vectors without write-allocate when its raw f and w history exceeds
/// this many bytes (about a server core complex's last-level cache).
inline constexpr std::size_t stream_history_bytes = std::size_t(32) << 20;

/// Copies count elements from src (a sub-block in L1) to dst: with stream = true on x86, by
/// non-temporal stores, which write the destination's lines without reading them first (no
/// write-allocate): for a vector that is not read again before it would have left the cache
/// anyway. The caller issues store_fence() before another thread may read dst. Same bits
/// either way.
template <class T>
KESTREL_ALWAYS_INLINE void store_block(T* dst, const T* src, std::size_t count, bool stream) noexcept {
    std::size_t i = 0;
#if defined(__SSE2__)
    if (stream) {
        while (i < count && reinterpret_cast<std::uintptr_t>(dst + i) % 16 != 0) dst[i] = src[i], ++i;
        constexpr std::size_t per16 = 16 / sizeof(T);
#if defined(__AVX512F__)
        while (i + per16 <= count && reinterpret_cast<std::uintptr_t>(dst + i) % 64 != 0) {
            _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
            i += per16;
        }
        constexpr std::size_t per64 = 64 / sizeof(T);
        for (; i + per64 <= count; i += per64)
            _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
#endif
        for (; i + per16 <= count; i += per16)
            _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
        for (; i < count; ++i) dst[i] = src[i];
        return;
    }
#else
    (void)stream;
#endif
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    for (; i + W <= count; i += W) sd::store(dst + i, sd::load(src + i));
    for (; i < count; ++i) dst[i] = src[i];
}

/// Orders this thread's non-temporal stores before what follows (the loop's completion).
inline void store_fence(bool stream) noexcept {
#if defined(__SSE2__)
    if (stream) _mm_sfence();
#else
    (void)stream;
#endif
}

// out[i] = a*x[i] + b*g[i] - sum_j gamma[j]*cols[j][i]; out may be x or g (elementwise).
template <class T>
void combine_range(T* out, T a, const T* x, T b, const T* g, const T* const* cols, const T* neg_gamma, std::size_t mk,
                   std::size_t begin, std::size_t end) noexcept {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const auto va = sd::splat<T>(a), vb = sd::splat<T>(b);
    for (std::size_t s = begin; s < end; s += pass_sub_block) {
        const std::size_t e = std::min(end, s + pass_sub_block);
        const std::size_t ev = s + (e - s) / W * W;
        alignas(64) T acc[pass_sub_block];
        for (std::size_t i = s; i < ev; i += W) sd::store(acc + (i - s), sd::fmadd(vb, sd::load(g + i), va * sd::load(x + i)));
        for (std::size_t i = ev; i < e; ++i) acc[i - s] = b * g[i] + a * x[i];
        for (std::size_t j = 0; j < mk; ++j) {
            const T* c = cols[j];
            const auto vc = sd::splat<T>(neg_gamma[j]);
            for (std::size_t i = s; i < ev; i += W)
                sd::store(acc + (i - s), sd::fmadd(vc, sd::load(c + i), sd::load(acc + (i - s))));
            for (std::size_t i = ev; i < e; ++i) acc[i - s] = neg_gamma[j] * c[i] + acc[i - s];
        }
        for (std::size_t i = s; i < ev; i += W) sd::store(out + i, sd::load(acc + (i - s)));
        for (std::size_t i = ev; i < e; ++i) out[i] = acc[i - s];
    }
}

/// out = a*x + b*g - sum_j gamma[j] * cols[j], one pass; gamma in double, rounded to T once.
/// neg_gamma_scratch must hold mk elements.
template <class T>
void combine_pass(T* out, double a, const T* x, double b, const T* g, const T* const* cols, const double* gamma,
                  std::size_t mk, T* neg_gamma_scratch, std::size_t n, exec_policy policy) {
    for (std::size_t j = 0; j < mk; ++j) neg_gamma_scratch[j] = static_cast<T>(-gamma[j]);
    const T ta = static_cast<T>(a), tb = static_cast<T>(b);
    // Chunks are multiples of the sub-block, so the scalar tail is always the vector's last
    // few elements: the result does not depend on the chunking.
    parallel_chunks(
        n, pass_sub_block, policy,
        [&](std::size_t begin, std::size_t end) { combine_range(out, ta, x, tb, g, cols, neg_gamma_scratch, mk, begin, end); },
        kestrel::simd::parallel_threshold);
}

/// Inputs of residual_pass. Anderson keeps its history as RAW vectors, one slot per iterate:
/// f_j = G(x_j) - x_j and w_j = (1 - beta) x_j + beta G(x_j); a history column is the
/// difference of two consecutive slots, formed in registers where it is used (so a column
/// costs no pass of its own to write, and its bits are those of the stored difference).
template <class T>
struct residual_pass_args {
    const T* gn = nullptr;  // G(x_new)
    const T* xn = nullptr;  // x_new
    T* f_out = nullptr;     // receives f_new = gn - xn (nullptr: not stored)
    bool stream_f = false;  // store f_out by non-temporal stores (store_block)
    T* w_out = nullptr;     // receives w_new = (1 - beta) xn + beta gn (nullptr: not stored)
    T* g_out = nullptr;     // fused G only: receives gn (nullptr: not stored); stored like f_out
    T beta = T(1), one_minus_beta = T(0);
    // Inner products with the history (raw != nullptr): raw[0..mk] are f at consecutive
    // iterates, oldest first, raw[mk] = f_k; column j = raw[j + 1] - raw[j]; df = f_new - f_k.
    const T* const* raw = nullptr;
    std::size_t mk = 0;
};

/// Results of residual_pass (double): ff = ||f_new||^2; with raw also dd = ||df||^2,
/// dfn = df.f_new, s[j] = column_j.df, t[j] = column_j.f_new (s, t: mk entries each).
struct residual_pass_sums {
    double ff = 0, dd = 0, dfn = 0;
};

/// The BlockG of residual_range when gn is an array (no fused G).
struct no_block_map {
    template <class T>
    void operator()(const T*, std::size_t, std::size_t, T*) const noexcept {}
};

// One sub-block [s, e) of the residual pass: G(x_new) into gl by (*bg)(xn, s, e, gl) (a user
// callback: may throw; the pass's caller rethrows) or read from a.gn; f_new = G(x_new) - x_new
// into fl, w_new and the stored outputs written; with fk, df = f_new - fk into dl. Returns the
// sub-block's sums ||f||^2, ||df||^2 and df.f_new in T (SIMD lanes, then the scalar tail).
template <class T, class BlockG>
KESTREL_ALWAYS_INLINE void residual_sub_block(const residual_pass_args<T>& a, const T* fk, std::size_t s, std::size_t e,
                                              T* fl, T* dl, T* gl, BlockG* bg, T& sff, T& sdd, T& sdfn) {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const auto vb = sd::splat<T>(a.beta), vc = sd::splat<T>(a.one_minus_beta);
    const std::size_t ev = s + (e - s) / W * W;
    const T* gp = gl;  // gp[i - s] = G(x_new)_i
    if (bg)
        (*bg)(a.xn, s, e, gl);
    else
        gp = a.gn + s;
    auto ff = sd::splat<T>(T(0)), dd = ff, dfn = ff;
    for (std::size_t i = s; i < ev; i += W) {
        const auto g = sd::load(gp + (i - s)), x = sd::load(a.xn + i);
        const auto f = g - x;
        sd::store(fl + (i - s), f);
        if (a.w_out) sd::store(a.w_out + i, sd::fmadd(vb, g, vc * x));
        ff = sd::fmadd(f, f, ff);
        if (fk) {
            const auto d = f - sd::load(fk + i);
            sd::store(dl + (i - s), d);
            dd = sd::fmadd(d, d, dd);
            dfn = sd::fmadd(d, f, dfn);
        }
    }
    sff = sd::hsum<T>(ff);
    sdd = sd::hsum<T>(dd);
    sdfn = sd::hsum<T>(dfn);
    for (std::size_t i = ev; i < e; ++i) {  // the vector's last few elements only
        const T g = gp[i - s], x = a.xn[i];
        const T f = g - x;
        fl[i - s] = f;
        if (a.w_out) a.w_out[i] = a.beta * g + a.one_minus_beta * x;
        sff += f * f;
        if (fk) {
            const T d = f - fk[i];
            dl[i - s] = d;
            sdd += d * d;
            sdfn += d * f;
        }
    }
    if (a.f_out) store_block(a.f_out + s, fl, e - s, a.stream_f);
    if (a.g_out) store_block(a.g_out + s, gp, e - s, a.stream_f);
}

// With bg != nullptr, gn is not read (see residual_sub_block).
template <class T, class BlockG = no_block_map>
void residual_range(const residual_pass_args<T>& a, std::size_t begin, std::size_t end, double* part,
                    BlockG* bg = nullptr) {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const bool hist = a.raw != nullptr;
    const std::size_t mk = hist ? a.mk : 0;
    // part layout: ff, dd, dfn, s[0..mk), t[0..mk)
    for (std::size_t q = 0; q < 3 + 2 * mk; ++q) part[q] = 0.0;
    const T* fk = hist ? a.raw[mk] : nullptr;
    for (std::size_t s = begin; s < end; s += pass_sub_block) {
        const std::size_t e = std::min(end, s + pass_sub_block);
        const std::size_t ev = s + (e - s) / W * W;
        alignas(64) T fl[pass_sub_block];
        alignas(64) T dl[pass_sub_block];
        alignas(64) T gl[pass_sub_block];
        T sff, sdd, sdfn;
        residual_sub_block(a, fk, s, e, fl, dl, gl, bg, sff, sdd, sdfn);
        part[0] += static_cast<double>(sff);
        if (!hist) continue;
        part[1] += static_cast<double>(sdd);
        part[2] += static_cast<double>(sdfn);
        // The columns, oldest first: raw[j + 1] - raw[j] in registers (raw[j + 1] is read
        // again for the next column from L1; memory sees each raw vector once).
        std::size_t j = 0;
        for (; j + 4 <= mk; j += 4) {  // four columns per sweep: 5 raw loads, dl and fl loaded once
            const T* const* r = a.raw + j;
            auto z = sd::splat<T>(T(0));
            auto ad0 = z, ad1 = z, ad2 = z, ad3 = z, af0 = z, af1 = z, af2 = z, af3 = z;
            for (std::size_t i = s; i < ev; i += W) {
                const auto dv = sd::load(dl + (i - s)), fv = sd::load(fl + (i - s));
                const auto p0 = sd::load(r[0] + i), p1 = sd::load(r[1] + i), p2 = sd::load(r[2] + i);
                const auto p3 = sd::load(r[3] + i), p4 = sd::load(r[4] + i);
                const auto c0 = p1 - p0, c1 = p2 - p1, c2 = p3 - p2, c3 = p4 - p3;
                ad0 = sd::fmadd(c0, dv, ad0);
                af0 = sd::fmadd(c0, fv, af0);
                ad1 = sd::fmadd(c1, dv, ad1);
                af1 = sd::fmadd(c1, fv, af1);
                ad2 = sd::fmadd(c2, dv, ad2);
                af2 = sd::fmadd(c2, fv, af2);
                ad3 = sd::fmadd(c3, dv, ad3);
                af3 = sd::fmadd(c3, fv, af3);
            }
            T sdv[4] = {sd::hsum<T>(ad0), sd::hsum<T>(ad1), sd::hsum<T>(ad2), sd::hsum<T>(ad3)};
            T sfv[4] = {sd::hsum<T>(af0), sd::hsum<T>(af1), sd::hsum<T>(af2), sd::hsum<T>(af3)};
            for (std::size_t q = 0; q < 4; ++q) {
                for (std::size_t i = ev; i < e; ++i) {
                    const T c = r[q + 1][i] - r[q][i];
                    sdv[q] += c * dl[i - s];
                    sfv[q] += c * fl[i - s];
                }
                part[3 + j + q] += static_cast<double>(sdv[q]);
                part[3 + mk + j + q] += static_cast<double>(sfv[q]);
            }
        }
        for (; j < mk; ++j) {
            const T* lo = a.raw[j];
            const T* hi = a.raw[j + 1];
            auto ad = sd::splat<T>(T(0)), af = ad;
            for (std::size_t i = s; i < ev; i += W) {
                const auto cv = sd::load(hi + i) - sd::load(lo + i);
                ad = sd::fmadd(cv, sd::load(dl + (i - s)), ad);
                af = sd::fmadd(cv, sd::load(fl + (i - s)), af);
            }
            T sd_ = sd::hsum<T>(ad), sf = sd::hsum<T>(af);
            for (std::size_t i = ev; i < e; ++i) {
                const T c = hi[i] - lo[i];
                sd_ += c * dl[i - s];
                sf += c * fl[i - s];
            }
            part[3 + j] += static_cast<double>(sd_);
            part[3 + mk + j] += static_cast<double>(sf);
        }
    }
    store_fence((a.f_out != nullptr || a.g_out != nullptr) && a.stream_f);
}

/// Runs the pass; `partials` holds reduction_blocks(n).count * (3 + 2*mk) doubles, s and t
/// mk each (unused without raw). With bg (fused G), gn is made by (*bg)(xn, begin, end, out)
/// sub-block by sub-block on the policy's threads (concurrently on disjoint sub-blocks).
template <class T, class BlockG = no_block_map>
residual_pass_sums residual_pass(const residual_pass_args<T>& a, std::size_t n, double* partials, double* s, double* t,
                                 exec_policy policy, BlockG* bg = nullptr) {
    const kestrel::simd::reduction_blocks rb(n);
    const std::size_t mk = a.raw ? a.mk : 0;
    const std::size_t stride = 3 + 2 * mk;
    if (n < kestrel::simd::parallel_threshold) policy = exec_policy::serial();
    parallel_for(rb.count, policy, [&](std::size_t b) {
        const std::size_t begin = b * rb.block, end = std::min(n, begin + rb.block);
        residual_range(a, begin, end, partials + b * stride, bg);
    });
    residual_pass_sums r;
    for (std::size_t j = 0; j < mk; ++j) s[j] = t[j] = 0.0;
    for (std::size_t b = 0; b < rb.count; ++b) {
        const double* p = partials + b * stride;
        r.ff += p[0];
        r.dd += p[1];
        r.dfn += p[2];
        for (std::size_t j = 0; j < mk; ++j) {
            s[j] += p[3 + j];
            t[j] += p[3 + mk + j];
        }
    }
    return r;
}

/// Entries of the Gram block of residual_gram_pass for chain columns 0..mk (column mk = df) of
/// which first_new..mk are new: the products c_u.c_j for u in [first_new, mk], j in [0, u]
/// (u by u, j ascending), then t_j = c_j.f_new for j in [0, mk].
inline std::size_t gram_block_size(std::size_t mk, std::size_t first_new) noexcept {
    std::size_t q = 0;
    for (std::size_t u = first_new; u <= mk; ++u) q += u + 1;
    return q + mk + 1;
}
inline std::size_t gram_pair_index(std::size_t first_new, std::size_t u, std::size_t j) noexcept {
    std::size_t q = 0;
    for (std::size_t v = first_new; v < u; ++v) q += v + 1;
    return q + j;
}

// The residual pass of alternating Anderson before an extrapolation (see residual_gram_pass):
// f_new (and w_new, G's output) as residual_range, and the Gram block of the chain's columns.
// colbuf: this thread's mk * pass_sub_block elements (the chain's columns 0..mk-1 of a
// sub-block, formed once and read from L1 by every product).
template <class T, class BlockG = no_block_map>
void residual_gram_range(const residual_pass_args<T>& a, std::size_t first_new, T* colbuf, std::size_t begin,
                         std::size_t end, double* part, BlockG* bg = nullptr) {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const std::size_t mk = a.mk;
    const std::size_t npart = 1 + gram_block_size(mk, first_new);
    for (std::size_t q = 0; q < npart; ++q) part[q] = 0.0;
    double* const pairs = part + 1;
    double* const tt = pairs + gram_block_size(mk, first_new) - (mk + 1);
    const T* fk = a.raw[mk];
    for (std::size_t s = begin; s < end; s += pass_sub_block) {
        const std::size_t e = std::min(end, s + pass_sub_block);
        const std::size_t len = e - s;
        const std::size_t ev = s + len / W * W;
        alignas(64) T fl[pass_sub_block];
        alignas(64) T dl[pass_sub_block];
        alignas(64) T gl[pass_sub_block];
        T sff, sdd, sdfn;
        residual_sub_block(a, fk, s, e, fl, dl, gl, bg, sff, sdd, sdfn);
        part[0] += static_cast<double>(sff);
        // Columns 0..mk-1 into colbuf (each raw vector read once from memory), column mk = dl.
        for (std::size_t j = 0; j < mk; ++j) {
            const T* lo = a.raw[j];
            const T* hi = a.raw[j + 1];
            T* c = colbuf + j * pass_sub_block;
            for (std::size_t i = s; i < ev; i += W) sd::store(c + (i - s), sd::load(hi + i) - sd::load(lo + i));
            for (std::size_t i = ev; i < e; ++i) c[i - s] = hi[i] - lo[i];
        }
        auto col = [&](std::size_t j) -> const T* { return j < mk ? colbuf + j * pass_sub_block : dl; };
        auto dot = [&](const T* x, const T* y) {
            auto acc = sd::splat<T>(T(0));
            const std::size_t nv = len / W * W;
            for (std::size_t i = 0; i < nv; i += W) acc = sd::fmadd(sd::load(x + i), sd::load(y + i), acc);
            T r = sd::hsum<T>(acc);
            for (std::size_t i = nv; i < len; ++i) r += x[i] * y[i];
            return static_cast<double>(r);
        };
        std::size_t q = 0;
        for (std::size_t u = first_new; u <= mk; ++u)
            for (std::size_t j = 0; j <= u; ++j) pairs[q++] += dot(col(u), col(j));
        for (std::size_t j = 0; j <= mk; ++j) tt[j] += dot(col(j), fl);
    }
    store_fence((a.f_out != nullptr || a.g_out != nullptr) && a.stream_f);
}

/// Alternating Anderson's residual pass before an extrapolation: the residual pass (f_new,
/// w_new, G's output, ||f_new||^2 returned as ff) and, for the chain a.raw[0..mk] (columns
/// j = raw[j + 1] - raw[j], column mk = df = f_new - raw[mk]) of which columns first_new..mk
/// are not yet in the least-squares factor, the Gram block of gram_block_size(mk, first_new)
/// entries into `gram` (layout there). One pass: each raw vector is read once. partials:
/// reduction_blocks(n).count * (1 + gram_block_size) doubles; colbufs: effective_threads(policy)
/// * mk * pass_sub_block elements. Blocks summed in block order: the same bits at any thread count.
template <class T, class BlockG = no_block_map>
double residual_gram_pass(const residual_pass_args<T>& a, std::size_t first_new, std::size_t n, double* partials,
                          T* colbufs, double* gram, exec_policy policy, BlockG* bg = nullptr) {
    const kestrel::simd::reduction_blocks rb(n);
    const std::size_t gs = gram_block_size(a.mk, first_new);
    const std::size_t stride = 1 + gs;
    if (n < kestrel::simd::parallel_threshold) policy = exec_policy::serial();
    parallel_for(rb.count, policy, [&](std::size_t b) {
        const std::size_t begin = b * rb.block, end = std::min(n, begin + rb.block);
        T* const cb = colbufs + static_cast<std::size_t>(current_loop_slot()) * a.mk * pass_sub_block;
        residual_gram_range(a, first_new, cb, begin, end, partials + b * stride, bg);
    });
    double ff = 0.0;
    for (std::size_t q = 0; q < gs; ++q) gram[q] = 0.0;
    for (std::size_t b = 0; b < rb.count; ++b) {
        const double* p = partials + b * stride;
        ff += p[0];
        for (std::size_t q = 0; q < gs; ++q) gram[q] += p[1 + q];
    }
    return ff;
}

// out[i] = raw[mk][i] - sum_j gamma_j (raw[j + 1][i] - raw[j][i]), columns oldest first.
template <class T>
void history_combine_range(T* out, const T* const* raw, const T* neg_gamma, std::size_t mk, std::size_t begin,
                           std::size_t end) noexcept {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const T* newest = raw[mk];
    for (std::size_t s = begin; s < end; s += pass_sub_block) {
        const std::size_t e = std::min(end, s + pass_sub_block);
        const std::size_t ev = s + (e - s) / W * W;
        if (mk == 0) {
            store_block(out + s, newest + s, e - s, false);
            continue;
        }
        alignas(64) T acc[pass_sub_block];
        std::copy(newest + s, newest + e, acc);
        std::size_t j = 0;
        for (; j + 4 <= mk; j += 4) {  // four columns per sweep: 5 raw loads, acc loaded and stored once
            const T* const* r = raw + j;
            const auto g0 = sd::splat<T>(neg_gamma[j]), g1 = sd::splat<T>(neg_gamma[j + 1]);
            const auto g2 = sd::splat<T>(neg_gamma[j + 2]), g3 = sd::splat<T>(neg_gamma[j + 3]);
            for (std::size_t i = s; i < ev; i += W) {
                const auto p0 = sd::load(r[0] + i), p1 = sd::load(r[1] + i), p2 = sd::load(r[2] + i);
                const auto p3 = sd::load(r[3] + i), p4 = sd::load(r[4] + i);
                auto v = sd::fmadd(g0, p1 - p0, sd::load(acc + (i - s)));
                v = sd::fmadd(g1, p2 - p1, v);
                v = sd::fmadd(g2, p3 - p2, v);
                v = sd::fmadd(g3, p4 - p3, v);
                sd::store(acc + (i - s), v);
            }
            for (std::size_t q = 0; q < 4; ++q)
                for (std::size_t i = ev; i < e; ++i) acc[i - s] = neg_gamma[j + q] * (r[q + 1][i] - r[q][i]) + acc[i - s];
        }
        for (; j < mk; ++j) {
            const T* lo = raw[j];
            const T* hi = raw[j + 1];
            const auto vg = sd::splat<T>(neg_gamma[j]);
            for (std::size_t i = s; i < ev; i += W)
                sd::store(acc + (i - s), sd::fmadd(vg, sd::load(hi + i) - sd::load(lo + i), sd::load(acc + (i - s))));
            for (std::size_t i = ev; i < e; ++i) acc[i - s] = neg_gamma[j] * (hi[i] - lo[i]) + acc[i - s];
        }
        store_block(out + s, acc, e - s, false);
    }
}

/// Anderson's update out = raw[mk] - sum_j gamma_j (raw[j + 1] - raw[j]) in one pass (reads
/// mk + 1 vectors, writes 1); gamma in double, rounded to T once. neg_gamma_scratch: mk elements.
template <class T>
void history_combine_pass(T* out, const T* const* raw, std::size_t mk, const double* gamma, T* neg_gamma_scratch,
                          std::size_t n, exec_policy policy) {
    for (std::size_t j = 0; j < mk; ++j) neg_gamma_scratch[j] = static_cast<T>(-gamma[j]);
    parallel_chunks(
        n, pass_sub_block, policy,
        [&](std::size_t begin, std::size_t end) {
            history_combine_range(out, raw, neg_gamma_scratch, mk, begin, end);
        },
        kestrel::simd::parallel_threshold);
}

/// ||gn - xn||^2 (the plain solvers' residual), with a small stack of partials.
template <class T>
double residual_squared_norm(const T* gn, const T* xn, std::size_t n, exec_policy policy) {
    double partials[3 * kestrel::simd::reduction_blocks::max_blocks];
    residual_pass_args<T> a;
    a.gn = gn;
    a.xn = xn;
    return residual_pass(a, n, partials, nullptr, nullptr, policy).ff;
}

}  // namespace detail
}  // namespace fixed_point
}  // namespace kestrel
