// Chain verification (Leviathan, Kalman & Matias 2023, Alg. 1; Chen et al. 2023, Alg. 2):
// drafted token x_i, drawn from the draft law q_i, is kept with probability
// min(1, p_i(x_i) / q_i(x_i)), tested as u * q_i(x_i) < p_i(x_i) with u in [0, 1); at the
// first rejection the next token is drawn from the normalized residual max(0, p_i - q_i),
// and if every drafted token is kept a bonus token is drawn from p_{K+1}. The emitted tokens
// then follow the target's law exactly, whatever q is.
//
// Cost: a kept position reads two values (p_i(x_i), q_i(x_i)); the rejected position reads
// its two rows once (chunk sums in double) plus one chunk again; the bonus reads one row.
// Logit rows need their log-normalizer: given by the caller, or computed from the row, and
// only for the rows up to the first rejection (rows after it are never read). Float logit
// rows keep the normalizer pass's exponentials of the current position (a per-thread buffer
// of two rows, for rows up to 2^20 entries): the stop row's residual pass reads them, so every
// entry takes one exp.
//
// Point-mass drafts (draft rows absent: drafts are argmax or n-gram lookups): q_i = delta at
// x_i, so x_i is kept with probability p_i(x_i) and the residual is p_i without x_i.
//
// A rejection whose residual sums to 0 in double (p_i == q_i up to rounding; possible only
// through rounding, since u < 1 accepts whenever p == q) draws from p_i instead and is
// counted in request_stats::residual_fallbacks.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "detail/row_math.hpp"
#include "randomness.hpp"
#include "rows.hpp"
#include "verification.hpp"

namespace kestrel {
namespace speculative {
namespace detail {

/// Reads rows of one request as laws (after the sampling filters, if any), checking what it
/// reads; errors name request and position.
template <class T>
struct law_reader {
    const char* fn;
    std::size_t b;
    double inv_t;
    double tol;
    sampling_filters filters = {};
    sampling_workspace* filter_ws = nullptr;  // required when a filter is on

    // Float logit rows: the chunk shifts of every law this reader made (softmax.hpp), alive as
    // long as the reader (one request). They come from `arena` (a per-thread buffer the
    // verifier sized for the request: no allocation per row) while it has room, else from
    // slots allocated here. Neither moves its storage.
    float* arena = nullptr;
    std::size_t arena_size = 0;
    mutable std::size_t arena_used = 0;
    mutable std::vector<std::vector<float>> shift_slots = {};

    bool filtering() const noexcept { return filter_ws != nullptr && filters.active(); }

    float* new_shifts(std::size_t chunks) const {
        if (arena && arena_size - arena_used >= chunks) {
            float* p = arena + arena_used;
            arena_used += chunks;
            return p;
        }
        shift_slots.emplace_back(chunks);
        return shift_slots.back().data();
    }

    /// The float softmax of a float logit row without a caller-supplied normalizer: its chunk
    /// shifts and log-normalizer (chunk sums of e into esums if given; e itself into exps if
    /// given, n entries, then kept by the law).
    void float_normalize(row_law<T>& L, double* esums, std::size_t i, const char* which, float* exps = nullptr) const {
        set_tau(L, i, which);
        float* sh = new_shifts((L.n + chunk - 1) / chunk);
        L.log_z = float_log_sum_exp(reinterpret_cast<const float*>(L.v), L.n, L.tau, sh, esums, exps);
        L.shifts = sh;
        if (exps && std::isfinite(L.log_z)) L.exps = exps;
    }

    /// tau = 1 / temperature rounded to float (float logit rows), refused if it overflows.
    void set_tau(row_law<T>& L, std::size_t i, const char* which) const {
        L.tau = static_cast<float>(inv_t);
        if (!std::isfinite(L.tau))
            fail_argument(fn, which, "request ", b, ", position ", i, ": 1 / temperature = ", inv_t,
                          " is beyond the float range of float logit rows");
    }

    /// Row i of `rows` as a law. exps (float logit rows without a caller-supplied normalizer
    /// and without filters; ignored otherwise): a buffer of the row's size that keeps the
    /// normalizer pass's exponentials for the residual passes (row_law::exps).
    row_law<T> law(const token_rows<T>& rows, std::size_t i, const char* which, float* exps = nullptr) const {
        row_law<T> L;
        L.v = rows.row(b, i);
        L.n = rows.vocab;
        L.logits = rows.kind == row_kind::logits;
        L.inv_temperature = inv_t;
        const bool filt = filtering();
        if (L.logits) {
            const bool given = rows.log_normalizers && !filt;
            if constexpr (row_law<T>::float_rows) {
                // Kestrel's float softmax: exp in float relative to each chunk's maximum, or to
                // the caller's normalizer rounded to float.
                if (given) {
                    set_tau(L, i, which);
                    L.log_z = rows.log_normalizers[b * rows.positions + i];
                    L.shift = static_cast<float>(L.log_z / static_cast<double>(L.tau));
                    if (std::isfinite(L.log_z) && !std::isfinite(L.shift))
                        fail_argument(fn, which, "request ", b, ", position ", i, ": log-normalizer ", L.log_z,
                                      " is beyond the float range of float logit rows");
                } else {
                    float_normalize(L, nullptr, i, which, filt ? nullptr : exps);
                }
            } else {
                L.log_z = given ? rows.log_normalizers[b * rows.positions + i] : log_sum_exp(L.v, L.n, inv_t);
            }
            if (!std::isfinite(L.log_z))
                fail_argument(fn, which, "request ", b, ", position ", i, ": log-normalizer is ", L.log_z,
                              " (NaN or infinite logits)");
        }
        if (!filt) return L;
        double total = 0.0;
        if (L.logits) {
            for (std::size_t y = 0; y < L.n; ++y) total += L.raw_prob(y);
        } else {
            // The filters read the whole row: check it now.
            double s = 0.0;
            for (std::size_t y = 0; y < L.n; ++y) {
                const double x = static_cast<double>(L.v[y]);
                if (!(x >= 0.0 && x <= 1e300))
                    fail_argument(fn, which, "request ", b, ", position ", i, ": token ", y, " has probability ", x,
                                  " (negative, NaN or infinite)");
                s += x;
            }
            if (!(std::fabs(s - 1.0) <= tol))
                fail_argument(fn, which, "request ", b, ", position ", i, ": the row sums to ", s, " (more than ", tol,
                              " from 1)");
            total = s;
        }
        const kept_set k = L.logits ? apply_filters(L.v, L.n, filters, total,
                                                    [&](std::size_t y) { return L.raw_prob(y); }, *filter_ws)
                                    : apply_filters(L.v, L.n, filters, total,
                                                    [&](std::size_t y) { return static_cast<double>(L.v[y]); },
                                                    *filter_ws);
        if (!k.all) {
            L.filtered = true;
            L.threshold = k.threshold;
            L.tie_id = k.tie_id;
            if (L.logits)
                L.log_z += std::log(k.kept_mass);
            else
                L.scale = 1.0 / k.kept_mass;
        }
        return L;
    }

    /// p(x) or q(x) read for an accept test.
    double value(const row_law<T>& L, std::size_t x, std::size_t i, const char* which, bool is_draft) const {
        const double v = L.prob(x);
        if (!(v >= 0.0 && v <= 1.0 + tol))
            fail_argument(fn, which, "request ", b, ", position ", i, ": probability of token ", x, " is ", v,
                          " (outside [0, 1])");
        if (is_draft && !(v > 0.0))
            fail_argument(fn, which, "request ", b, ", position ", i, ": the drafted token ", x,
                          " has draft probability 0", L.filtered ? " after the sampling filters" : "",
                          " (it cannot have been drawn from this row)");
        return v;
    }

    /// After a full read of a row: its values and the sum of its law.
    void check_full(const row_check& c, std::size_t i, const char* which, const row_law<T>& L) const {
        if (c.bad()) {
            if (L.logits)
                fail_argument(fn, which, "request ", b, ", position ", i,
                              ": the row holds a NaN or +infinite logit (or its log-normalizer is too small)");
            fail_argument(fn, which, "request ", b, ", position ", i, ": the row holds a negative, NaN or infinite value");
        }
        if (!(std::fabs(c.sum - 1.0) <= tol)) {
            if (L.logits)
                fail_argument(fn, which, "request ", b, ", position ", i, ": the row's law sums to ", c.sum,
                              " under its log-normalizer (more than ", tol, " from 1)");
            fail_argument(fn, which, "request ", b, ", position ", i, ": the row sums to ", c.sum, " (more than ", tol,
                          " from 1)");
        }
    }

    /// The same checks for a probability row only (probabilities == false: nothing checked).
    void check_full(const row_check& c, std::size_t i, const char* which, bool probabilities) const {
        if (!probabilities) return;
        row_law<T> L;
        check_full(c, i, which, L);
    }

    /// Greedy: argmax of a row, refusing NaN.
    std::size_t argmax(const token_rows<T>& rows, std::size_t i, const char* which) const {
        const T* v = rows.row(b, i);
        for (std::size_t y = 0; y < rows.vocab; ++y)
            if (v[y] != v[y]) fail_argument(fn, which, "request ", b, ", position ", i, ": NaN at token ", y);
        return row_argmax(v, rows.vocab);
    }
};

/// A draw from the target row alone (bonus, or fallback), with validation of the row.
template <class T>
std::size_t draw_from_target(const law_reader<T>& rd, const row_law<T>& P, std::size_t i, double u,
                             std::vector<double>& sums) {
    row_check pc, qc;
    const double z = residual_chunk_sums<T>(P, nullptr, P.n, 1.0, sums, pc, qc);
    rd.check_full(pc, i, "target", P);
    if (!(z > 0.0)) fail_argument(rd.fn, "target", "request ", rd.b, ", position ", i, ": the row has no mass");
    return residual_inverse_cdf<T>(P, nullptr, P.n, 1.0, sums, z, u);
}

/// A draw from target row i read for this draw alone (a bonus token). Logit rows without a
/// caller-supplied normalizer and without filters: the normalizer pass keeps its chunk
/// statistics, which give the chunk sums of the law with no second exp per entry
/// (log_sum_exp, lse_chunk_sums); the draw then recomputes one chunk. Otherwise rd.law, then
/// draw_from_target.
template <class T>
std::size_t draw_from_target_row(const law_reader<T>& rd, const token_rows<T>& rows, std::size_t i, double u,
                                 std::vector<double>& sums) {
    if (rows.kind != row_kind::logits || rows.log_normalizers != nullptr || rd.filtering())
        return draw_from_target(rd, rd.law(rows, i, "target"), i, u, sums);
    row_law<T> L;
    L.v = rows.row(rd.b, i);
    L.n = rows.vocab;
    L.logits = true;
    L.inv_temperature = rd.inv_t;
    const std::size_t chunks = (L.n + chunk - 1) / chunk;
    double z = 0.0;
    if constexpr (row_law<T>::float_rows) {
        // Float softmax: the chunk sums of e from the normalizer pass, scaled per chunk.
        sums.resize(chunks);
        rd.float_normalize(L, sums.data(), i, "target");
        if (std::isfinite(L.log_z))
            for (std::size_t k = 0; k < chunks; ++k) z += (sums[k] *= L.chunk_scale(k));
    } else {
        sums.resize(2 * chunks);
        L.log_z = log_sum_exp(L.v, L.n, rd.inv_t, sums.data(), sums.data() + chunks);
        if (std::isfinite(L.log_z)) z = lse_chunk_sums(sums, chunks, L.log_z);
    }
    if (!std::isfinite(L.log_z))
        fail_argument(rd.fn, "target", "request ", rd.b, ", position ", i, ": log-normalizer is ", L.log_z,
                      " (NaN or infinite logits)");
    if (!(z > 0.0)) fail_argument(rd.fn, "target", "request ", rd.b, ", position ", i, ": the row has no mass");
    return residual_inverse_cdf<T>(L, nullptr, L.n, 1.0, sums, z, u);
}

/// Whether a verifier keeps the exponentials of float logit rows for its passes after the
/// normalizers: the target rows (and the draft rows, when with_draft) are logits whose
/// normalizers Kestrel computes, no sampling filter, and a row fits max_kept_exps.
template <class T>
bool keeps_exponentials(const law_reader<T>& rd, const token_rows<T>& target, const token_rows<T>& draft,
                        bool with_draft) noexcept {
    if (!row_law<T>::float_rows || target.kind != row_kind::logits || target.log_normalizers || rd.filtering() ||
        target.vocab > max_kept_exps)
        return false;
    return !with_draft || (draft.kind == row_kind::logits && !draft.log_normalizers);
}

/// Float logit rows whose normalizers Kestrel computes: points the reader's shift arena at the
/// thread's scratch (room for `laws` laws of the request) and returns `kept` buffers of a row
/// each for kept exponentials (null: recompute; other rows, or rows above max_kept_exps).
template <class T>
float* prepare_float_scratch(law_reader<T>& rd, float_row_scratch* fs, const token_rows<T>& rows,
                             const token_rows<T>& draft, std::size_t laws, std::size_t kept) {
    if constexpr (!row_law<T>::float_rows) {
        (void)rd, (void)fs, (void)rows, (void)draft, (void)laws, (void)kept;
        return nullptr;
    } else {
        if (!fs || rows.kind != row_kind::logits || rows.vocab == 0) return nullptr;
        const std::size_t chunks = (rows.vocab + chunk - 1) / chunk;
        if (fs->shifts.size() < laws * chunks) fs->shifts.resize(laws * chunks);
        rd.arena = fs->shifts.data();
        rd.arena_size = laws * chunks;
        if (!keeps_exponentials(rd, rows, draft, draft.present())) return nullptr;
        if (fs->exps.size() < kept * rows.vocab) fs->exps.resize(kept * rows.vocab);
        return fs->exps.data();
    }
}

template <class T, class Source>
void chain_request(const char* fn, const token_rows<T>& target, const token_rows<T>& draft, const draft_batch& d,
                   std::size_t b, const verify_options& opt, const Source& uniforms, std::vector<double>& sums,
                   request_result& res, sampling_workspace* filter_ws = nullptr, float_row_scratch* fs = nullptr) {
    const std::size_t k = d.lengths[b];
    const std::uint64_t req = d.request_ids[b], pos0 = d.positions[b];
    const bool greedy = opt.temperature == 0.0, has_draft = draft.present();
    law_reader<T> reader{fn, b, greedy ? 1.0 : 1.0 / opt.temperature, opt.row_sum_tolerance, opt.filters(),
                         filter_ws};
    // The current position's rows keep their exponentials: the stop row's residual pass reads
    // them (one exp per entry of every row read).
    float* const kept = greedy ? nullptr : prepare_float_scratch(reader, fs, target, draft, 2 * k + 1, 2);
    float* const kept_p = kept;
    float* const kept_q = kept ? kept + target.vocab : nullptr;
    const law_reader<T>& rd = reader;
    // Statistics after a rejection need p(x) and q(x) without reading whole rows.
    const bool cheap = (target.kind == row_kind::probabilities || target.log_normalizers) &&
                       (!has_draft || draft.kind == row_kind::probabilities || draft.log_normalizers);
    res.tokens.clear();
    res.flags.clear();
    res.stats = request_stats{};
    bool rejected = false;
    for (std::size_t i = 0; i < k; ++i) {
        const auto x = static_cast<std::size_t>(d.tokens(b, i));
        if (greedy) {
            if (rejected) continue;
            const std::size_t a = rd.argmax(target, i, "target");
            res.flags.push_back(a == x);
            if (a == x) {
                res.tokens.push_back(static_cast<std::int32_t>(x));
                ++res.stats.accepted, ++res.stats.independent_accepts;
                continue;
            }
            res.tokens.push_back(static_cast<std::int32_t>(a));
            rejected = true;
            continue;
        }
        if (rejected && !cheap) break;
        const row_law<T> P = rd.law(target, i, "target", kept_p);
        const double px = rd.value(P, x, i, "target", false);
        row_law<T> Q;
        double qx = 1.0;
        if (has_draft) {
            Q = rd.law(draft, i, "draft", kept_q);
            qx = rd.value(Q, x, i, "draft", true);
        }
        const double u = uniforms(uniform_key{req, pos0 + i, purpose::accept, 0});
        const bool accept = u * qx < px;
        if (accept) ++res.stats.independent_accepts;
        if (rejected) continue;
        res.flags.push_back(accept);
        if (accept) {
            res.tokens.push_back(static_cast<std::int32_t>(x));
            ++res.stats.accepted;
            continue;
        }
        row_check pc, qc;
        const double z = residual_chunk_sums<T>(P, has_draft ? &Q : nullptr, x, 1.0, sums, pc, qc);
        rd.check_full(pc, i, "target", P);
        if (has_draft) rd.check_full(qc, i, "draft", Q);
        const double u2 = uniforms(uniform_key{req, pos0 + i, purpose::residual, 0});
        std::size_t y;
        if (z > 0.0) {
            y = residual_inverse_cdf<T>(P, has_draft ? &Q : nullptr, x, 1.0, sums, z, u2);
        } else {
            y = draw_from_target(rd, P, i, u2, sums);
            ++res.stats.residual_fallbacks;
        }
        res.tokens.push_back(static_cast<std::int32_t>(y));
        rejected = true;
    }
    if (!rejected && opt.emit_bonus) {
        std::size_t y;
        if (greedy) {
            y = rd.argmax(target, k, "target");
        } else {
            y = draw_from_target_row(rd, target, k, uniforms(uniform_key{req, pos0 + k, purpose::bonus, 0}), sums);
        }
        res.tokens.push_back(static_cast<std::int32_t>(y));
    }
    res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
}

/// Runs a per-request verifier over the batch (requests across threads, results identical at
/// any thread count), then writes every output.
template <class PerRequest>
void run_batch(std::size_t batch, const verify_options& opt, verify_workspace& ws, const verify_outputs& out,
               PerRequest&& one) {
    ws.results.resize(batch);
    ws.chunk_sums.resize(static_cast<std::size_t>(effective_threads(opt.policy)));
    ws.filters.resize(ws.chunk_sums.size());
    ws.float_rows.resize(ws.chunk_sums.size());
    parallel_for(batch, opt.policy, [&](std::size_t b) {
        one(b, ws.chunk_sums[static_cast<std::size_t>(current_loop_slot())], ws.results[b]);
    });
    write_results(ws.results, out);
}

}  // namespace detail

/// Chain verification of a batch with a caller-chosen uniform source (tests inject one; see
/// randomness.hpp). `draft` may be absent (draft.data == nullptr): point-mass drafts.
template <class T, class Source>
void verify_chain_with(const token_rows<T>& target, const token_rows<T>& draft, const draft_batch& drafts,
                       const Source& uniforms, const verify_outputs& out, const verify_options& opt = {},
                       verify_workspace* workspace = nullptr) {
    const char* fn = "verify_chain";
    detail::check_batch(fn, target, &draft, drafts, out, opt, 1);
    verify_workspace local;
    verify_workspace& ws = workspace ? *workspace : local;
    detail::run_batch(drafts.lengths.size(), opt, ws, out,
                      [&](std::size_t b, std::vector<double>& sums, detail::request_result& r) {
                          const auto slot = static_cast<std::size_t>(current_loop_slot());
                          detail::chain_request(fn, target, draft, drafts, b, opt, uniforms, sums, r,
                                                &ws.filters[slot], &ws.float_rows[slot]);
                      });
}

/// Chain verification of a batch with the counter-based uniforms of `seed` (randomness.hpp).
template <class T>
void verify_chain(const token_rows<T>& target, const token_rows<T>& draft, const draft_batch& drafts,
                  std::uint64_t seed, const verify_outputs& out, const verify_options& opt = {},
                  verify_workspace* workspace = nullptr) {
    verify_chain_with(target, draft, drafts, keyed_uniforms(seed), out, opt, workspace);
}

}  // namespace speculative
}  // namespace kestrel
