// Typical acceptance (Medusa, Cai et al. 2024, section 3.3.1; vLLM v0's
// TypicalAcceptanceSampler). NOT distribution-preserving: the emitted tokens do not follow
// the target's law (tests/speculative shows the exactness checker rejecting it). It trades
// exactness for longer accepted runs, and needs no draft probabilities.
//
// At drafted position i with target law p_i:
//   H_i = -sum_y p_i(y) log(p_i(y) + 1e-5)                (the 1e-5 of both implementations)
//   keep x_i iff p_i(x_i) > min(epsilon, delta exp(-H_i))  (Medusa: epsilon = 0.09, delta = 0.3)
// At the first rejected position the next token is the target's argmax (ties: lowest id;
// Medusa's and vLLM's choice), or, with sample_correction, a draw from p_i; if every drafted
// token is kept, the bonus token is the argmax of (or a draw from) the last target row.
// Temperature 0 is greedy verification (keep x_i iff it is the argmax).
//
// Cost: the entropy needs a full read of every tested target row (the rows of positions after
// the first rejection are not read). Draft rows are not used. Uniforms: purpose::residual at a
// rejected position and purpose::bonus, only with sample_correction. Temperature and the
// sampling filters (top-k, top-p, min-p) define p_i, as in chain.hpp; the argmax is unchanged
// by them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "chain.hpp"

namespace kestrel {
namespace speculative {

struct typical_options {
    double epsilon = 0.09;          ///< hard threshold (Medusa's posterior_threshold)
    double delta = 0.3;             ///< entropy-scaled threshold factor (Medusa's posterior_alpha)
    bool sample_correction = false; ///< false: argmax correction and bonus; true: draws from p
};

namespace detail {

#if KESTREL_HAS_XSIMD
/// log x in float lanes for positive normal x (the entropy pass: x = p + 1e-5 in [1e-5, 1 + 1e-5]):
/// x = 2^k m with m in [sqrt(1/2), sqrt(2)) taken from the bits, log m = f - f^2 / 2 + f^3 P(f),
/// f = m - 1, P the degree-8 polynomial of Cephes' logf (S. L. Moshier). Within 1.3 ulp of log
/// on every float of [1e-5, 1 + 1e-5] (measured), about 1.8x faster than xsimd::log, which also
/// handles zero, denormals, infinities and NaN (none of which reach it here).
template <class F>
KESTREL_ALWAYS_INLINE xsimd::batch<F> positive_float_log(const xsimd::batch<F>& x) noexcept {
    using B = xsimd::batch<F>;
    using I = xsimd::batch<std::int32_t>;
    const I t = xsimd::bitwise_cast<I>(x) - I(0x3f3504f3);  // 0x3f3504f3: the bits of sqrt(1/2)
    const I k = t >> 23;                                     // arithmetic: the exponent of x / sqrt(1/2)
    const B f = xsimd::bitwise_cast<B>((t & I(0x007fffff)) + I(0x3f3504f3)) - B(1.0f);
    B p = B(7.0376836292e-2f);
    p = xsimd::fma(p, f, B(-1.1514610310e-1f));
    p = xsimd::fma(p, f, B(1.1676998740e-1f));
    p = xsimd::fma(p, f, B(-1.2420140846e-1f));
    p = xsimd::fma(p, f, B(1.4249322787e-1f));
    p = xsimd::fma(p, f, B(-1.6668057665e-1f));
    p = xsimd::fma(p, f, B(2.0000714765e-1f));
    p = xsimd::fma(p, f, B(-2.4999993993e-1f));
    p = xsimd::fma(p, f, B(3.3333331174e-1f));
    const B f2 = f * f;
    const B r = xsimd::fma(f2 * f, p, xsimd::fnma(B(0.5f), f2, f));
    return xsimd::fma(xsimd::to_float(k), B(0.693147180559945309f), r);
}
#endif

/// Running sums of the entropy pass.
struct entropy_sums {
    double h = 0.0, sum = 0.0;
    bool bad = false;  // a value outside [0, 1e300], or NaN
};

/// -sum p log(p + 1e-5), sum p and the value check over [b, e) of law P, in double lanes (the
/// law's values as the verifiers read them: lane_law, filters applied).
template <class T, law_mode PM, bool PF>
void typical_entropy_chunk(const row_law<T>& P, std::size_t b, std::size_t e, entropy_sums& out) noexcept {
#if KESTREL_HAS_XSIMD
    if constexpr (std::is_same<T, float>::value && PM == law_mode::logits && !PF) {
        // Float logit rows without a filter: p = e(y) exp(tau m_k - log Z) and p log(p + 1e-5)
        // in float lanes (positive_float_log), widened and summed in double: relative error of
        // each term about 3e-7, of H about that much (a heuristic's threshold; about 4x faster
        // than the double lanes below, which the other rows and the scalar build use).
        constexpr std::size_t WF = float_width;
        const std::size_t k = b / chunk;
        const sd::batch<float> tau = sd::splat(P.tau), shift = sd::splat(P.chunk_shift(k)),
                               scale = sd::splat(static_cast<float>(P.chunk_scale(k))), eps = sd::splat(1e-5f),
                               zero = sd::splat(0.0f), one = sd::splat(1.0f);
        sd::batch<double> h0 = sd::splat(0.0), h1 = h0;
        sd::batch<float> nbad = zero;
        auto batch = [&](const sd::batch<float>& l) KESTREL_LAMBDA_INLINE {
            const sd::batch<float> p = float_law_exp(l, tau, shift) * scale;
            nbad = nbad + sd::vselect<float>(p >= zero, zero, one);  // NaN fails
            sd::batch<double> lo, hi;
            widen_halves(p * positive_float_log<float>(p + eps), lo, hi);
            h0 = h0 - lo;
            h1 = h1 - hi;
        };
        const float* v = P.v;
        std::size_t y = b;
        for (; y + WF <= e; y += WF) batch(sd::load(v + y));
        if (y < e) {  // padded with -inf: e = 0 there, a term of 0
            alignas(64) float pad[WF];
            for (std::size_t j = 0; j < WF; ++j) pad[j] = y + j < e ? v[y + j] : -std::numeric_limits<float>::infinity();
            batch(sd::load(pad));
        }
        out.h += sd::hsum<double>(h0 + h1);
        out.bad |= sd::hsum<float>(nbad) != 0.0f;
        return;
    }
#endif
    constexpr std::size_t W = sd::width<double>;
    const T* const vals = source_of<T, PM>(P);
    const lane_law<T, PM, PF> lp(P, b / chunk);
    const sd::batch<double> zero = sd::splat(0.0), one = sd::splat(1.0), eps = sd::splat(1e-5),
                            big = sd::splat(1e300), step = sd::splat(static_cast<double>(W));
    sd::batch<double> idx = sd::lane_numbers() + sd::splat(static_cast<double>(b));
    // Each half of a pair has its own sums (no chain of dependent adds between them).
    sd::batch<double> h0 = zero, h1 = zero, s0 = zero, s1 = zero, nbad = zero;
    auto lane = [&](const sd::batch<double>& p, sd::batch<double>& h, sd::batch<double>& s) KESTREL_LAMBDA_INLINE {
        nbad = nbad + sd::vselect<double>((p >= zero) & (p <= big), zero, one);  // NaN fails both
        s = s + p;
        h = h - p * sd::vlog(p + eps);
    };
    auto two = [&](const T* v) KESTREL_LAMBDA_INLINE {
        const sd::batch<double> i1 = idx + step;
        sd::batch<double> x0, x1, p0, p1;
        lp.pair(v, idx, i1, x0, x1, p0, p1);
        lane(p0, h0, s0);
        lane(p1, h1, s1);
        idx = i1 + step;
    };
    std::size_t i = b;
    for (; i + 2 * W <= e; i += 2 * W) two(vals + i);
    if (i < e) {  // padded pair: probability 0 past e adds nothing
        alignas(64) T pad[2 * W];
        for (std::size_t j = 0; j < 2 * W; ++j) pad[j] = i + j < e ? vals[i + j] : padding_value<T>(PM);
        two(pad);
    }
    out.h += sd::hsum<double>(h0 + h1);
    out.sum += sd::hsum<double>(s0 + s1);
    out.bad |= sd::hsum<double>(nbad) != 0.0;
}

/// Medusa's entropy H = -sum_y p(y) log(p(y) + 1e-5) of the law, with the row checks (one pass,
/// chunk by chunk in SIMD lanes: see typical_entropy_chunk for the precision).
template <class T>
double typical_entropy(const law_reader<T>& rd, const row_law<T>& P, std::size_t i) {
    using fn = void (*)(const row_law<T>&, std::size_t, std::size_t, entropy_sums&);
    const fn f = P.logits ? (P.filtered ? &typical_entropy_chunk<T, law_mode::logits, true>
                                        : &typical_entropy_chunk<T, law_mode::logits, false>)
                          : (P.filtered ? &typical_entropy_chunk<T, law_mode::probabilities, true>
                                        : &typical_entropy_chunk<T, law_mode::probabilities, false>);
    entropy_sums acc;
    for (std::size_t b = 0; b < P.n; b += chunk) f(P, b, std::min(P.n, b + chunk), acc);
    if (acc.bad)
        fail_argument(rd.fn, "target", "request ", rd.b, ", position ", i,
                      ": the row holds a negative, NaN or infinite value");
    if (!P.logits && !(std::fabs(acc.sum - 1.0) <= rd.tol))
        fail_argument(rd.fn, "target", "request ", rd.b, ", position ", i, ": the row sums to ", acc.sum, " (more than ",
                      rd.tol, " from 1)");
    return acc.h;
}

/// The argmax of row i (lowest id among the maxima) given its law: for a float logit row whose
/// normalizer Kestrel computed, the chunk maxima are known (P.shifts), so only the first chunk
/// holding the row's maximum is scanned; otherwise the whole row (law_reader::argmax).
template <class T>
std::size_t law_argmax(const law_reader<T>& rd, const token_rows<T>& rows, const row_law<T>& P, std::size_t i) {
    if constexpr (row_law<T>::float_rows) {
        if (P.logits && P.shifts) {
            const std::size_t chunks = (P.n + chunk - 1) / chunk;
            std::size_t best = 0;
            for (std::size_t c = 1; c < chunks; ++c)
                if (P.shifts[c] > P.shifts[best]) best = c;
            const float m = P.shifts[best];
            for (std::size_t y = best * chunk, e = std::min(P.n, y + chunk); y < e; ++y)
                if (P.v[y] == m) return y;
        }
    }
    return rd.argmax(rows, i, "target");
}

template <class T, class Source>
void typical_request(const char* fn, const token_rows<T>& target, const draft_batch& d, std::size_t b,
                     const typical_options& topt, const verify_options& opt, const Source& uniforms,
                     std::vector<double>& sums, request_result& res, sampling_workspace* filter_ws,
                     float_row_scratch* fs = nullptr) {
    const std::size_t k = d.lengths[b];
    const std::uint64_t req = d.request_ids[b], pos0 = d.positions[b];
    const bool greedy = opt.temperature == 0.0;
    law_reader<T> reader{fn, b, greedy ? 1.0 : 1.0 / opt.temperature, opt.row_sum_tolerance, opt.filters(), filter_ws};
    // Float logit rows: the laws' chunk shifts in the thread's arena (no allocation per row).
    if (!greedy) (void)prepare_float_scratch(reader, fs, target, token_rows<T>{}, k + 1, 0);
    const law_reader<T>& rd = reader;
    res.tokens.clear();
    res.flags.clear();
    res.stats = request_stats{};
    // The correction at a rejected position (its law P already made) or the bonus (P null).
    auto next_token = [&](std::size_t i, purpose use, const row_law<T>* known) -> std::size_t {
        if (greedy) return rd.argmax(target, i, "target");
        const row_law<T> P = known ? *known : rd.law(target, i, "target");  // logits: refuses NaN or inf
        if (!topt.sample_correction) return law_argmax(rd, target, P, i);
        return draw_from_target(rd, P, i, uniforms(uniform_key{req, pos0 + i, use, 0}), sums);
    };
    row_law<T> P;
    for (std::size_t i = 0; i < k; ++i) {
        const auto x = static_cast<std::size_t>(d.tokens(b, i));
        bool keep;
        if (greedy) {
            keep = rd.argmax(target, i, "target") == x;
        } else {
            P = rd.law(target, i, "target");
            const double px = rd.value(P, x, i, "target", false);
            const double h = typical_entropy(rd, P, i);
            const double a = topt.delta * std::exp(-h);
            keep = px > (topt.epsilon < a ? topt.epsilon : a);
        }
        res.flags.push_back(keep);
        if (keep) {
            res.tokens.push_back(static_cast<std::int32_t>(x));
            ++res.stats.accepted;
            continue;
        }
        res.tokens.push_back(static_cast<std::int32_t>(next_token(i, purpose::residual, greedy ? nullptr : &P)));
        res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
        return;
    }
    if (opt.emit_bonus) res.tokens.push_back(static_cast<std::int32_t>(next_token(k, purpose::bonus, nullptr)));
    res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
}

}  // namespace detail

/// Typical acceptance of a batch with a caller-chosen uniform source (used only with
/// sample_correction). Draft rows are not needed; the outputs are those of verify_chain
/// (independent_accepts stays 0).
template <class T, class Source>
void verify_typical_with(const token_rows<T>& target, const draft_batch& drafts, const Source& uniforms,
                         const verify_outputs& out, const typical_options& topt = {}, const verify_options& opt = {},
                         verify_workspace* workspace = nullptr) {
    const char* fn = "verify_typical";
    require(std::isfinite(topt.epsilon) && topt.epsilon >= 0.0, fn, "typical.epsilon", "must be finite and >= 0, got ",
            topt.epsilon);
    require(std::isfinite(topt.delta) && topt.delta >= 0.0, fn, "typical.delta", "must be finite and >= 0, got ",
            topt.delta);
    detail::check_batch(fn, target, static_cast<const token_rows<T>*>(nullptr), drafts, out, opt, 1);
    verify_workspace local;
    verify_workspace& ws = workspace ? *workspace : local;
    detail::run_batch(drafts.lengths.size(), opt, ws, out,
                      [&](std::size_t b, std::vector<double>& sums, detail::request_result& r) {
                          const auto slot = static_cast<std::size_t>(current_loop_slot());
                          detail::typical_request(fn, target, drafts, b, topt, opt, uniforms, sums, r, &ws.filters[slot],
                                                  &ws.float_rows[slot]);
                      });
}

/// Typical acceptance of a batch with the counter-based uniforms of `seed`.
template <class T>
void verify_typical(const token_rows<T>& target, const draft_batch& drafts, std::uint64_t seed,
                    const verify_outputs& out, const typical_options& topt = {}, const verify_options& opt = {},
                    verify_workspace* workspace = nullptr) {
    verify_typical_with(target, drafts, keyed_uniforms(seed), out, topt, opt, workspace);
}

}  // namespace speculative
}  // namespace kestrel
