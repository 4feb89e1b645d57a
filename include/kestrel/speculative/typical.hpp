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

#include <cmath>
#include <cstddef>
#include <cstdint>
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

template <class T>
double typical_entropy(const law_reader<T>& rd, const row_law<T>& P, std::size_t i) {
    double h = 0.0, sum = 0.0;
    bool bad = false;
    for (std::size_t y = 0; y < P.n; ++y) {
        const double p = P.prob(y);
        bad |= !(p >= 0.0 && p <= 1e300);
        sum += p;
        h -= p * std::log(p + 1e-5);
    }
    if (bad)
        fail_argument(rd.fn, "target", "request ", rd.b, ", position ", i,
                      ": the row holds a negative, NaN or infinite value");
    if (!P.logits && !(std::fabs(sum - 1.0) <= rd.tol))
        fail_argument(rd.fn, "target", "request ", rd.b, ", position ", i, ": the row sums to ", sum, " (more than ",
                      rd.tol, " from 1)");
    return h;
}

template <class T, class Source>
void typical_request(const char* fn, const token_rows<T>& target, const draft_batch& d, std::size_t b,
                     const typical_options& topt, const verify_options& opt, const Source& uniforms,
                     std::vector<double>& sums, request_result& res, sampling_workspace* filter_ws) {
    const std::size_t k = d.lengths[b];
    const std::uint64_t req = d.request_ids[b], pos0 = d.positions[b];
    const bool greedy = opt.temperature == 0.0;
    const law_reader<T> rd{fn, b, greedy ? 1.0 : 1.0 / opt.temperature, opt.row_sum_tolerance, opt.filters(),
                           filter_ws};
    res.tokens.clear();
    res.flags.clear();
    res.stats = request_stats{};
    auto next_token = [&](std::size_t i, purpose use) -> std::size_t {
        if (greedy || !topt.sample_correction) {
            const std::size_t a = rd.argmax(target, i, "target");
            if (!greedy) (void)rd.law(target, i, "target");  // logits: refuse a row with NaN or inf
            return a;
        }
        const row_law<T> P = rd.law(target, i, "target");
        return draw_from_target(rd, P, i, uniforms(uniform_key{req, pos0 + i, use, 0}), sums);
    };
    for (std::size_t i = 0; i < k; ++i) {
        const auto x = static_cast<std::size_t>(d.tokens(b, i));
        bool keep;
        if (greedy) {
            keep = rd.argmax(target, i, "target") == x;
        } else {
            const row_law<T> P = rd.law(target, i, "target");
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
        res.tokens.push_back(static_cast<std::int32_t>(next_token(i, purpose::residual)));
        res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
        return;
    }
    if (opt.emit_bonus) res.tokens.push_back(static_cast<std::int32_t>(next_token(k, purpose::bonus)));
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
                          detail::typical_request(fn, target, drafts, b, topt, opt, uniforms, sums, r,
                                                  &ws.filters[static_cast<std::size_t>(current_loop_slot())]);
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
