// Block verification (Sun, Mendlovic, Leviathan, Aharoni, Beirami, Ro & Suresh, "Block
// Verification Accelerates Speculative Decoding", 2024): the drafted block is judged as a
// whole. With c_0 = 1 and c_i = min(1, c_{i-1} p_i(x_i) / q_i(x_i)), the weights
//   m_i = sum_y max(c_i p_{i+1}(y) - q_{i+1}(y), 0),   h_i = m_i / (m_i + 1 - c_i)  (i < K),
//   h_K = c_K   (h_i = 1 where the denominator is 0),
// and one independent uniform U_i per position, the number of kept tokens is
// tau = max{i : U_i < h_i} (0 if none); then the next token is drawn from the normalized
// max(c_tau p_{tau+1} - q_{tau+1}, 0), or, if tau = K, a bonus from p_{K+1}. The output
// follows the target's law, and the expected number of kept tokens is never below the chain
// rule's (the paper's optimality result; tests/speculative checks both by enumeration).
//
// Cost: m_i needs rows i + 1 of both models in full, for i = 1 .. K - 1: every drafted row
// but the first is read once (chunk sums kept, so the final draw re-reads one chunk); only
// tau = 0 reads row 1 in full as well. Float logit rows without caller-supplied normalizers are
// read row by row: the normalizer pass of row i keeps its exponentials (per-thread buffers of
// four rows: row 1 of both models, and the current row), m_i's pass reads them, so each entry
// takes one exp; tau = 0 reads row 1's kept values.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "chain.hpp"

namespace kestrel {
namespace speculative {
namespace detail {

template <class T, class Source>
void block_request(const char* fn, const token_rows<T>& target, const token_rows<T>& draft, const draft_batch& d,
                   std::size_t b, const verify_options& opt, const Source& uniforms, std::vector<double>& sums,
                   request_result& res, sampling_workspace* filter_ws = nullptr, float_row_scratch* fs = nullptr) {
    const std::size_t k = d.lengths[b];
    const std::uint64_t req = d.request_ids[b], pos0 = d.positions[b];
    const bool has_draft = draft.present();
    law_reader<T> reader{fn, b, 1.0 / opt.temperature, opt.row_sum_tolerance, opt.filters(), filter_ws};
    // Kept exponentials (float logit rows): row 0 of both models in the first pair of buffers
    // (read again only when nothing is kept), the row being judged in the second pair.
    float* const kept = prepare_float_scratch(reader, fs, target, draft, 2 * k + 1, 4);
    const std::size_t V = target.vocab;
    const law_reader<T>& rd = reader;
    res.tokens.clear();
    res.flags.clear();
    res.stats = request_stats{};
    // Row by row: the laws of row i (normalizers and accept values), then, for i >= 1, m_i
    // over that row with c_i (which needs rows < i only), while its exponentials are kept;
    // the chunk sums are kept for the final draw.
    std::vector<row_law<T>> P(k + 1), Q(k);
    std::vector<double> c(k + 1, 1.0), h(k + 1, 1.0);
    std::vector<std::vector<double>> row_sums(k + 1);
    std::vector<double> m(k + 1, 0.0);
    for (std::size_t i = 0; i < k; ++i) {
        const auto x = static_cast<std::size_t>(d.tokens(b, i));
        float* const kp = kept ? kept + (i == 0 ? 0 : 2) * V : nullptr;
        P[i] = rd.law(target, i, "target", kp);
        const double px = rd.value(P[i], x, i, "target", false);
        double qx = 1.0;
        if (has_draft) {
            Q[i] = rd.law(draft, i, "draft", kp ? kp + V : nullptr);
            qx = rd.value(Q[i], x, i, "draft", true);
        }
        const double ratio = c[i] * px / qx;
        c[i + 1] = ratio < 1.0 ? ratio : 1.0;
        if (i == 0) continue;
        row_check pc, qc;
        m[i] = residual_chunk_sums<T>(P[i], has_draft ? &Q[i] : nullptr, x, c[i], row_sums[i], pc, qc);
        rd.check_full(pc, i, "target", P[i]);
        if (has_draft) rd.check_full(qc, i, "draft", Q[i]);
        const double den = m[i] + 1.0 - c[i];
        h[i] = den > 0.0 ? m[i] / den : 1.0;
        if (i + 1 < k) {  // the next row overwrites these buffers
            P[i].exps = nullptr;
            if (has_draft) Q[i].exps = nullptr;
        }
    }
    if (k > 0) h[k] = c[k];
    std::size_t tau = 0;
    for (std::size_t i = 1; i <= k; ++i) {
        const double u = uniforms(uniform_key{req, pos0 + i - 1, purpose::block_accept, 0});
        if (u < h[i]) {
            tau = i;
            ++res.stats.independent_accepts;
        }
    }
    for (std::size_t i = 0; i < tau; ++i) {
        res.tokens.push_back(d.tokens(b, i));
        res.flags.push_back(1);
    }
    res.stats.accepted = static_cast<std::uint32_t>(tau);
    if (tau < k) {
        res.flags.push_back(0);
        const auto x = static_cast<std::size_t>(d.tokens(b, tau));
        const double u2 = uniforms(uniform_key{req, pos0 + tau, purpose::residual, 0});
        double z;
        if (tau == 0) {
            row_check pc, qc;
            z = residual_chunk_sums<T>(P[0], has_draft ? &Q[0] : nullptr, x, 1.0, sums, pc, qc);
            rd.check_full(pc, 0, "target", P[0]);
            if (has_draft) rd.check_full(qc, 0, "draft", Q[0]);
        } else {
            sums = row_sums[tau];
            z = m[tau];
        }
        std::size_t y;
        if (z > 0.0) {
            y = residual_inverse_cdf<T>(P[tau], has_draft ? &Q[tau] : nullptr, x, c[tau], sums, z, u2);
        } else {
            y = draw_from_target(rd, P[tau], tau, u2, sums);
            ++res.stats.residual_fallbacks;
        }
        res.tokens.push_back(static_cast<std::int32_t>(y));
    } else if (opt.emit_bonus) {
        res.tokens.push_back(static_cast<std::int32_t>(
            draw_from_target_row(rd, target, k, uniforms(uniform_key{req, pos0 + k, purpose::bonus, 0}), sums)));
    }
    res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
}

}  // namespace detail

/// Block verification of a batch with a caller-chosen uniform source. Greedy decoding
/// (temperature 0) has no block form: use verify_chain.
template <class T, class Source>
void verify_block_with(const token_rows<T>& target, const token_rows<T>& draft, const draft_batch& drafts,
                       const Source& uniforms, const verify_outputs& out, const verify_options& opt = {},
                       verify_workspace* workspace = nullptr) {
    const char* fn = "verify_block";
    detail::check_batch(fn, target, &draft, drafts, out, opt, 1);
    require(opt.temperature > 0.0, fn, "options.temperature", "must be > 0 (greedy decoding: use verify_chain)");
    verify_workspace local;
    verify_workspace& ws = workspace ? *workspace : local;
    detail::run_batch(drafts.lengths.size(), opt, ws, out,
                      [&](std::size_t b, std::vector<double>& sums, detail::request_result& r) {
                          const auto slot = static_cast<std::size_t>(current_loop_slot());
                          detail::block_request(fn, target, draft, drafts, b, opt, uniforms, sums, r,
                                                &ws.filters[slot], &ws.float_rows[slot]);
                      });
}

/// Block verification of a batch with the counter-based uniforms of `seed`.
template <class T>
void verify_block(const token_rows<T>& target, const token_rows<T>& draft, const draft_batch& drafts,
                  std::uint64_t seed, const verify_outputs& out, const verify_options& opt = {},
                  verify_workspace* workspace = nullptr) {
    verify_block_with(target, draft, drafts, keyed_uniforms(seed), out, opt, workspace);
}

}  // namespace speculative
}  // namespace kestrel
