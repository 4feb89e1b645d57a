// The two passes over n-vectors that the accelerated fixed-point solvers make per iterate
// (everything else they do is on m x m matrices):
//
//   combine_pass   out = a*x + b*g - sum_j gamma_j * col_j          (reads 2 + mk vectors, writes 1)
//   residual_pass  f_new = gn - xn and, when recording a history column,
//                    df = f_new - (g - x),  u = (xn - x) + beta*df  (written to the new slots),
//                  with every inner product the solvers need in the same pass:
//                    ||f_new||^2, ||df||^2, df.f_new, dF_j.df and dF_j.f_new for each column j
//                  (reads 2 or 4 + mk vectors, writes 0 or 2)
//
// Both cut [0, n) into sub-blocks of `sub` elements handled in SIMD batches (core/simd.hpp's
// batch helpers) with a scalar tail only at the end of the vector, so each element goes through
// the same operations whatever the thread count. Inner products: each sub-block's sum in T
// (SIMD lanes, then a horizontal add), added in double per reduction block
// (simd::reduction_blocks, a function of n), and blocks added in block order: the same bits at
// any thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"

namespace kestrel {
namespace fixed_point {
namespace detail {

inline constexpr std::size_t pass_sub_block = 256;  // elements; a multiple of every SIMD width

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

/// Inputs and outputs of residual_pass.
template <class T>
struct residual_pass_args {
    const T* gn = nullptr;  // G(x_new)
    const T* xn = nullptr;  // x_new
    // History column (record = true): the previous iterate and its image, the damping, the
    // slots that receive df and u, and the existing columns dF_j to take inner products with.
    bool record = false;
    const T* g = nullptr;
    const T* x = nullptr;
    T beta = T(1);
    T* df_out = nullptr;
    T* u_out = nullptr;
    const T* const* cols = nullptr;
    std::size_t mk = 0;
};

/// Results of residual_pass (double): ff = ||f_new||^2; with record also dd = ||df||^2,
/// dfn = df.f_new, s[j] = dF_j.df, t[j] = dF_j.f_new (s, t: mk entries each).
struct residual_pass_sums {
    double ff = 0, dd = 0, dfn = 0;
};

template <class T>
void residual_range(const residual_pass_args<T>& a, std::size_t begin, std::size_t end, double* part) noexcept {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const std::size_t mk = a.record ? a.mk : 0;
    // part layout: ff, dd, dfn, s[0..mk), t[0..mk)
    for (std::size_t q = 0; q < 3 + 2 * mk; ++q) part[q] = 0.0;
    const auto vbeta = sd::splat<T>(a.beta);
    for (std::size_t s = begin; s < end; s += pass_sub_block) {
        const std::size_t e = std::min(end, s + pass_sub_block);
        const std::size_t ev = s + (e - s) / W * W;
        alignas(64) T fl[pass_sub_block];
        alignas(64) T dl[pass_sub_block];
        auto ff = sd::splat<T>(T(0));
        if (!a.record) {
            for (std::size_t i = s; i < ev; i += W) {
                const auto f = sd::load(a.gn + i) - sd::load(a.xn + i);
                ff = sd::fmadd(f, f, ff);
            }
            T sff = sd::hsum<T>(ff);
            for (std::size_t i = ev; i < e; ++i) {
                const T f = a.gn[i] - a.xn[i];
                sff += f * f;
            }
            part[0] += static_cast<double>(sff);
            continue;
        }
        auto dd = ff, dfn = ff;
        for (std::size_t i = s; i < ev; i += W) {
            const auto xn = sd::load(a.xn + i), x = sd::load(a.x + i);
            const auto f = sd::load(a.gn + i) - xn;
            const auto d = f - (sd::load(a.g + i) - x);
            sd::store(fl + (i - s), f);
            sd::store(dl + (i - s), d);
            sd::store(a.df_out + i, d);
            sd::store(a.u_out + i, sd::fmadd(vbeta, d, xn - x));
            ff = sd::fmadd(f, f, ff);
            dd = sd::fmadd(d, d, dd);
            dfn = sd::fmadd(d, f, dfn);
        }
        T sff = sd::hsum<T>(ff), sdd = sd::hsum<T>(dd), sdfn = sd::hsum<T>(dfn);
        for (std::size_t i = ev; i < e; ++i) {
            const T f = a.gn[i] - a.xn[i];
            const T d = f - (a.g[i] - a.x[i]);
            fl[i - s] = f;
            dl[i - s] = d;
            a.df_out[i] = d;
            a.u_out[i] = a.beta * d + (a.xn[i] - a.x[i]);
            sff += f * f;
            sdd += d * d;
            sdfn += d * f;
        }
        part[0] += static_cast<double>(sff);
        part[1] += static_cast<double>(sdd);
        part[2] += static_cast<double>(sdfn);
        for (std::size_t j = 0; j < mk; ++j) {
            const T* c = a.cols[j];
            auto ad = sd::splat<T>(T(0)), af = ad;
            for (std::size_t i = s; i < ev; i += W) {
                const auto cv = sd::load(c + i);
                ad = sd::fmadd(cv, sd::load(dl + (i - s)), ad);
                af = sd::fmadd(cv, sd::load(fl + (i - s)), af);
            }
            T sd_ = sd::hsum<T>(ad), sf = sd::hsum<T>(af);
            for (std::size_t i = ev; i < e; ++i) {
                sd_ += c[i] * dl[i - s];
                sf += c[i] * fl[i - s];
            }
            part[3 + j] += static_cast<double>(sd_);
            part[3 + mk + j] += static_cast<double>(sf);
        }
    }
}

/// Runs the pass; `partials` holds reduction_blocks(n).count * (3 + 2*mk) doubles, s and t
/// mk each (unused without record).
template <class T>
residual_pass_sums residual_pass(const residual_pass_args<T>& a, std::size_t n, double* partials, double* s, double* t,
                                 exec_policy policy) {
    const kestrel::simd::reduction_blocks rb(n);
    const std::size_t mk = a.record ? a.mk : 0;
    const std::size_t stride = 3 + 2 * mk;
    if (n < kestrel::simd::parallel_threshold) policy = exec_policy::serial();
    parallel_for(rb.count, policy, [&](std::size_t b) {
        const std::size_t begin = b * rb.block, end = std::min(n, begin + rb.block);
        residual_range(a, begin, end, partials + b * stride);
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
