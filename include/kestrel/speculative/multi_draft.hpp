// Multi-draft verification: k drafted candidates for the next token (or k drafted sequences),
// one of them kept or a correction drawn, so that the emitted tokens follow the target's law
// exactly.
//
// Rules among the n candidates X_1..X_n at one position (target law p, draft law q):
//
//   k_seq   SpecTr's K-SEQ (Sun, Suresh, Ro, Beirami, Jain & Yu 2023), candidates i.i.d. ~ q.
//           rho* = the root in [1, n] of 1 - (1 - beta)^n - rho beta, beta(rho) =
//           sum_y min(q(y), p(y) / rho) (bisection to adjacent doubles, the rho >= root side;
//           detail/multi_draft_math.hpp). Trial i keeps X_i iff u_i rho* q(X_i) < p(X_i); if
//           none is kept, the next token is drawn from (p - rho* q)_+ normalized. Acceptance
//           sum_y min(rho* q(y), p(y)) (analysis.hpp: k_seq_rho). One full read of p and q to
//           find rho*, one more at a rejection. n = 1 is the chain rule (no full read when kept).
//   recursive_with_replacement   SpecInfer's multi-step rejection sampling, candidates i.i.d.
//           ~ q. r = p; trial i keeps X_i iff u_i q(X_i) < r(X_i), else r = normalize((r - q)_+).
//           Duplicate candidates stay separate trials (merging them biases the output; the
//           tests show it). After i rejections r = (c_i p - q)_+ / Z_i with c_1 = 1 and
//           c_{i+1} = c_i / (1 + Z_i), so r is never materialized: each rejection costs one
//           full read of p and q (Z_i in double chunk sums), the final draw one chunk.
//   recursive_without_replacement   RSD (Jeon et al. 2024): X_i ~ q_i, q_1 = q and q_{i+1} =
//           q_i with X_i removed and renormalized (the candidates are distinct). The same loop
//           with q_i: trial i keeps X_i iff u_i q_i(X_i) < r(X_i); c_{i+1} = c_i / (1 + Z_i / m_i),
//           m_i = 1 - sum_{j<i} q(X_j).
//   point_mass   deterministic candidates (top-k of the draft, n-gram lookups; no draft rows).
//           One uniform u: the i-th distinct candidate is kept iff
//           sum_{j<i} p(c_j) <= u < sum_{j<=i} p(c_j); else the next token is drawn from p
//           restricted to the other tokens. Repeated candidates are the same candidate.
//
// At temperature 0 (greedy) every rule keeps the first candidate equal to the target's argmax
// (ties: lowest id), else emits that argmax; no uniform is drawn.
//
// Sequences (SpecTr's composition): request b drafts k sequences of length L (i.i.d. from the
// draft model for k_seq and recursive_with_replacement). At depth t the candidates are the
// drafts whose first t tokens equal the tokens kept so far; the rule runs on their t-th
// tokens (n = their count, in draft order); the drafts whose t-th token equals the kept token
// stay candidates. After L kept tokens a bonus token comes from the target row that follows
// them. One position is L = 1. For recursive_without_replacement the drafts that share a
// prefix must have distinct next tokens (the first tokens are drawn without replacement,
// each draft then continues as its own chain).
//
// Layout: draft j's token t is drafts.tokens(b, j * max_length + t). The target row of draft j
// at depth t (the target's law after the prompt and draft j's first t tokens) is target row
// (b, j * (max_length + 1) + t), t = 0..L; the draft row is draft row (b, j * max_length + t).
// Drafts that share a prefix share these laws: Kestrel reads the row of the lowest-index
// candidate only, so the rows of a draft that repeats an earlier draft's prefix need not be
// filled. Row errors name the row by this index ("position").
//
// Uniforms (randomness.hpp), at the absolute position of the token decided, drafts.positions[b]
// + t: purpose::accept with index = trial (order among the candidates), purpose::selection for
// point-mass candidates, purpose::residual for the correction, purpose::bonus for the bonus.
//
// Outputs: tokens(b, 0..emitted-1); accept_flags(b, t) = 1 for a kept depth, 0 where the
// correction was drawn; draft_index[b] = the lowest-index draft whose first `accepted` tokens
// are the kept ones (the draft whose cache to keep). request_stats::independent_accepts is 0
// (not defined for several candidates). Everything is written after every request is
// verified; an error leaves the outputs untouched.
//
// Sampling parameters (verify_options): temperature and the sampling filters (top-k, top-p,
// min-p; sampling_params.hpp) apply to the target and draft rows alike, as in chain.hpp: the
// output follows the filtered target law when the candidates were drawn from the filtered
// draft law. With a filter on, every row used is read in full.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "chain.hpp"
#include "detail/multi_draft_math.hpp"
#include "detail/row_math.hpp"
#include "randomness.hpp"
#include "rows.hpp"
#include "verification.hpp"

namespace kestrel {
namespace speculative {

/// The drafted sequences of a batch (see the header comment for the layout).
struct multi_draft_batch {
    matrix_view<const std::int32_t> tokens;        ///< [batch][>= max_drafts * max_length]
    std::size_t max_drafts = 0;                    ///< drafts per request in the layout (k <= this)
    std::size_t max_length = 0;                    ///< tokens per draft in the layout (L <= this)
    vector_view<const std::uint32_t> counts;       ///< [batch]: drafts of request b
    vector_view<const std::uint32_t> lengths;      ///< [batch]: draft length of request b
    vector_view<const std::uint64_t> request_ids;  ///< [batch]
    vector_view<const std::uint64_t> positions;    ///< [batch]: absolute position of depth 0
};

struct multi_draft_outputs {
    matrix_view<std::int32_t> tokens;              ///< [batch][>= longest L + 1]
    vector_view<request_stats> stats;              ///< [batch]
    matrix_view<std::uint8_t> accept_flags = {};   ///< optional [batch][>= longest L]
    vector_view<std::int32_t> draft_index = {};    ///< optional [batch]
};

namespace detail {

/// Scratch of one thread.
struct sibling_scratch {
    std::vector<double> sums;
    k_seq_scratch kseq;
    std::vector<std::int32_t> distinct, candidates;
    std::vector<double> px, qx;
    std::vector<std::size_t> ids, next_ids, order, offsets, children;
    sampling_workspace filters;
    std::vector<float> kept_exps;  // float logit rows: the exponentials of one position's rows
};

/// Buffers that keep the exponentials of one position's target row (and draft row when
/// with_draft) for the passes after the normalizers (K-SEQ's, the residuals', the
/// corrections'), which then read them instead of evaluating exp again (the same bits): float
/// logit rows whose normalizers Kestrel computes, no filter. Null otherwise.
template <class T>
float* sibling_kept_exps(const law_reader<T>& rd, const token_rows<T>& target, const token_rows<T>& draft,
                         bool with_draft, sibling_scratch& s) {
    if (!keeps_exponentials(rd, target, draft, with_draft)) return nullptr;
    const std::size_t need = (with_draft ? 2 : 1) * target.vocab;
    if (s.kept_exps.size() < need) s.kept_exps.resize(need);
    return s.kept_exps.data();
}

template <class T>
law_reader<T> make_reader(const char* fn, std::size_t b, const verify_options& opt, sibling_scratch& s) {
    const bool greedy = opt.temperature == 0.0;
    return law_reader<T>{fn, b, greedy ? 1.0 : 1.0 / opt.temperature, opt.row_sum_tolerance, opt.filters(),
                         &s.filters};
}

struct sibling_outcome {
    std::size_t token = 0;
    std::ptrdiff_t trial = -1;  // index of the kept candidate, -1: correction drawn
    bool fallback = false;
};

/// The rows' laws read in full, for K-SEQ's rho*: one lane pass over both rows
/// (detail/row_math.hpp: k_seq_chunk) sorts the tokens into the accumulator and checks the
/// values and sums of both laws (logit rows: under their log-normalizer); the bisection then
/// works on the accumulated tokens only (detail/multi_draft_math.hpp).
template <class T>
double k_seq_rho_of_rows(const law_reader<T>& rd, const row_law<T>& P, const row_law<T>& Q, std::size_t prow,
                         std::size_t qrow, std::size_t n, sibling_scratch& s) {
    k_seq_accumulator acc = s.kseq.start(P.n, n);
    row_check pc, qc;
    k_seq_kernel<T>::pick(P, Q)(P, Q, 0, P.n, pc, qc, acc);
    rd.check_full(pc, prow, "target", P);
    rd.check_full(qc, qrow, "draft", Q);
    return k_seq_solve(acc, s.kseq.kept);
}

/// Inverse-CDF draw from p restricted to the tokens not in `excluded` (point-mass siblings'
/// correction): chunk sums of p with the excluded values taken out, then a scan of one chunk.
template <class T>
std::size_t draw_excluding(const law_reader<T>& rd, const row_law<T>& P, std::size_t prow,
                           const std::vector<std::int32_t>& excluded, double u, sibling_scratch& s, bool& fallback) {
    row_check pc, qc;
    residual_chunk_sums<T>(P, nullptr, P.n, 1.0, s.sums, pc, qc);
    rd.check_full(pc, prow, "target", P);
    for (auto c : excluded) {
        auto& cs = s.sums[static_cast<std::size_t>(c) / chunk];
        cs -= P.prob(static_cast<std::size_t>(c));
        if (cs < 0.0) cs = 0.0;
    }
    double z = 0.0;
    for (double v : s.sums) z += v;
    auto is_excluded = [&](std::size_t y) {
        for (auto c : excluded)
            if (static_cast<std::size_t>(c) == y) return true;
        return false;
    };
    if (!(z > 0.0)) {
        fallback = true;
        return draw_from_target(rd, P, prow, u, s.sums);
    }
    const double target = u * z;
    double before = 0.0;
    std::size_t k = 0, last_with_mass = 0;
    for (; k < s.sums.size(); ++k) {
        if (s.sums[k] > 0.0) last_with_mass = k;
        if (target < before + s.sums[k]) break;
        before += s.sums[k];
    }
    if (k == s.sums.size()) k = last_with_mass;
    const std::size_t b = k * chunk, e = std::min(P.n, b + chunk);
    double cum = before;
    std::size_t last_positive = b;
    bool any = false;
    for (std::size_t y = b; y < e; ++y) {
        if (is_excluded(y)) continue;
        const double r = P.prob(y);
        if (r > 0.0) {
            cum += r;
            last_positive = y, any = true;
            if (target < cum) return y;
        }
    }
    if (!any) {  // rounding left no mass in this chunk: take the first token with mass anywhere
        for (std::size_t y = 0; y < P.n; ++y)
            if (!is_excluded(y) && P.prob(y) > 0.0) return y;
    }
    return last_positive;
}

/// The rule among candidates cand[0..n) at one position, with target row `prow` and draft row
/// `qrow` (ignored for point masses and greedy). The candidates' ids were checked.
template <class T, class Source>
sibling_outcome verify_siblings(multi_draft_rule rule, bool greedy, const law_reader<T>& rd,
                                const token_rows<T>& target, std::size_t prow, const token_rows<T>& draft,
                                std::size_t qrow, const std::int32_t* cand, std::size_t n, std::uint64_t req,
                                std::uint64_t pos, const Source& uniforms, sibling_scratch& s) {
    sibling_outcome out;
    if (greedy) {
        const std::size_t a = rd.argmax(target, prow, "target");
        for (std::size_t i = 0; i < n; ++i)
            if (static_cast<std::size_t>(cand[i]) == a) {
                out.trial = static_cast<std::ptrdiff_t>(i);
                out.token = a;
                return out;
            }
        out.token = a;
        return out;
    }
    float* const kept = sibling_kept_exps(rd, target, draft, rule != multi_draft_rule::point_mass, s);
    const row_law<T> P = rd.law(target, prow, "target", kept);
    if (rule == multi_draft_rule::point_mass) {
        // Distinct candidates in order; one uniform against the cumulative target mass.
        s.distinct.clear();
        for (std::size_t i = 0; i < n; ++i)
            if (std::find(s.distinct.begin(), s.distinct.end(), cand[i]) == s.distinct.end())
                s.distinct.push_back(cand[i]);
        const double u = uniforms(uniform_key{req, pos, purpose::selection, 0});
        double cum = 0.0;
        for (std::size_t i = 0; i < s.distinct.size(); ++i) {
            const auto c = static_cast<std::size_t>(s.distinct[i]);
            cum += rd.value(P, c, prow, "target", false);
            if (u < cum) {
                for (std::size_t j = 0; j < n; ++j)
                    if (cand[j] == s.distinct[i]) {
                        out.trial = static_cast<std::ptrdiff_t>(j);
                        break;
                    }
                out.token = c;
                return out;
            }
        }
        const double u2 = uniforms(uniform_key{req, pos, purpose::residual, 0});
        out.token = draw_excluding(rd, P, prow, s.distinct, u2, s, out.fallback);
        return out;
    }
    const row_law<T> Q = rd.law(draft, qrow, "draft", kept ? kept + target.vocab : nullptr);
    s.px.resize(n);
    s.qx.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = static_cast<std::size_t>(cand[i]);
        s.px[i] = rd.value(P, x, prow, "target", false);
        s.qx[i] = rd.value(Q, x, qrow, "draft", true);
    }
    double c = 1.0;  // residual (c p - q)_+ / z once `first` is false
    double z = 1.0;
    if (rule == multi_draft_rule::k_seq) {
        const double rho = n > 1 ? k_seq_rho_of_rows(rd, P, Q, prow, qrow, n, s) : 1.0;
        for (std::size_t i = 0; i < n; ++i) {
            const double u = uniforms(uniform_key{req, pos, purpose::accept, static_cast<std::uint32_t>(i)});
            if (u * rho * s.qx[i] < s.px[i]) {
                out.trial = static_cast<std::ptrdiff_t>(i);
                out.token = static_cast<std::size_t>(cand[i]);
                return out;
            }
        }
        c = 1.0 / rho;
        row_check pc, qc;
        z = residual_chunk_sums<T>(P, &Q, P.n, c, s.sums, pc, qc);
        rd.check_full(pc, prow, "target", P);
        rd.check_full(qc, qrow, "draft", Q);
    } else {
        const bool without = rule == multi_draft_rule::recursive_without_replacement;
        bool first = true;
        double m = 1.0;  // draft mass not yet drawn (without replacement)
        for (std::size_t i = 0; i < n; ++i) {
            const double u = uniforms(uniform_key{req, pos, purpose::accept, static_cast<std::uint32_t>(i)});
            double r;  // unnormalized residual at X_i; the test is u q_i(X_i) < r(X_i) / z
            if (first) {
                r = s.px[i];
            } else {
                const double v = c * s.px[i] - s.qx[i];
                r = v > 0.0 ? v : 0.0;
            }
            if (u * s.qx[i] * z < m * r) {
                out.trial = static_cast<std::ptrdiff_t>(i);
                out.token = static_cast<std::size_t>(cand[i]);
                return out;
            }
            c = first ? 1.0 : c / (1.0 + z / m);
            first = false;
            row_check pc, qc;
            z = residual_chunk_sums<T>(P, &Q, P.n, c, s.sums, pc, qc);
            rd.check_full(pc, prow, "target", P);
            rd.check_full(qc, qrow, "draft", Q);
            if (!(z > 0.0)) break;  // nothing left to correct with (rounding): fall back below
            if (without) {
                m -= s.qx[i];
                if (!(m > 0.0) && i + 1 < n)
                    fail_argument(rd.fn, "draft", "request ", rd.b, ", position ", qrow,
                                  ": the candidates drawn without replacement exhaust the draft law's mass");
            }
        }
    }
    const double u2 = uniforms(uniform_key{req, pos, purpose::residual, 0});
    if (z > 0.0) {
        out.token = residual_inverse_cdf<T>(P, &Q, P.n, c, s.sums, z, u2);
    } else {
        out.token = draw_from_target(rd, P, prow, u2, s.sums);
        out.fallback = true;
    }
    return out;
}

/// Checks shared by multi-draft and tree verification: options, rule against draft rows.
/// The rule-independent options: thread policy, filters, temperature, row-sum tolerance.
inline void check_sibling_options(const char* fn, const verify_options& opt) {
    require_valid_policy(opt.policy, fn);
    check_filters(opt.filters(), 0, fn);
    require(std::isfinite(opt.temperature) && opt.temperature >= 0.0, fn, "options.temperature",
            "must be finite and >= 0, got ", opt.temperature);
    require(std::isfinite(opt.row_sum_tolerance) && opt.row_sum_tolerance >= 0.0 && opt.row_sum_tolerance < 1.0, fn,
            "options.row_sum_tolerance", "must lie in [0, 1), got ", opt.row_sum_tolerance);
}

template <class T>
void check_multi_options(const char* fn, const token_rows<T>& draft, multi_draft_rule rule,
                         const verify_options& opt) {
    check_sibling_options(fn, opt);
    require(rule == multi_draft_rule::k_seq || rule == multi_draft_rule::recursive_with_replacement ||
                rule == multi_draft_rule::recursive_without_replacement || rule == multi_draft_rule::point_mass,
            fn, "rule", "unknown rule ", static_cast<int>(rule));
    if (opt.temperature > 0.0) {
        if (rule == multi_draft_rule::point_mass)
            require(!draft.present(), fn, "draft", "point-mass candidates take no draft rows (data must be null)");
        else
            require(draft.present(), fn, "draft", "the rule needs the draft rows the candidates were drawn from");
    }
}

template <class T>
void check_draft_rows(const char* fn, const token_rows<T>& target, const token_rows<T>& draft, std::size_t batch,
                      std::size_t positions) {
    if (!draft.present()) return;
    check_rows_shape(draft, fn, "draft", batch, positions);
    require(draft.vocab == target.vocab, fn, "draft", "vocab ", draft.vocab, " differs from the target's (",
            target.vocab, ")");
}

template <class T, class Source>
void multi_draft_request(const char* fn, multi_draft_rule rule, const token_rows<T>& target,
                         const token_rows<T>& draft, const multi_draft_batch& d, std::size_t b,
                         const verify_options& opt, const Source& uniforms, sibling_scratch& s, request_result& res,
                         std::int32_t& draft_index) {
    const std::size_t k = d.counts[b], L = k ? d.lengths[b] : 0, Lmax = d.max_length;
    const std::uint64_t req = d.request_ids[b], pos0 = d.positions[b];
    const bool greedy = opt.temperature == 0.0;
    const law_reader<T> rd = make_reader<T>(fn, b, opt, s);
    res.tokens.clear();
    res.flags.clear();
    res.stats = request_stats{};
    s.ids.clear();
    for (std::size_t j = 0; j < k; ++j) s.ids.push_back(j);
    std::vector<std::int32_t>& toks = s.candidates;
    bool rejected = false;
    for (std::size_t t = 0; t < L; ++t) {
        toks.clear();
        for (auto j : s.ids) toks.push_back(d.tokens(b, j * Lmax + t));
        const std::size_t j0 = s.ids[0];
        const sibling_outcome o = verify_siblings(rule, greedy, rd, target, j0 * (Lmax + 1) + t, draft, j0 * Lmax + t,
                                                  toks.data(), toks.size(), req, pos0 + t, uniforms, s);
        res.tokens.push_back(static_cast<std::int32_t>(o.token));
        res.stats.residual_fallbacks += o.fallback ? 1u : 0u;
        if (o.trial < 0) {
            res.flags.push_back(0);
            rejected = true;
            break;
        }
        res.flags.push_back(1);
        ++res.stats.accepted;
        s.next_ids.clear();
        for (auto j : s.ids)
            if (d.tokens(b, j * Lmax + t) == static_cast<std::int32_t>(o.token)) s.next_ids.push_back(j);
        s.ids.swap(s.next_ids);
    }
    if (!rejected && opt.emit_bonus) {
        const std::size_t row = (s.ids.empty() ? 0 : s.ids[0]) * (Lmax + 1) + L;
        std::size_t y;
        if (greedy) {
            y = rd.argmax(target, row, "target");
        } else {
            y = draw_from_target_row(rd, target, row, uniforms(uniform_key{req, pos0 + L, purpose::bonus, 0}), s.sums);
        }
        res.tokens.push_back(static_cast<std::int32_t>(y));
    }
    res.stats.emitted = static_cast<std::uint32_t>(res.tokens.size());
    draft_index = s.ids.empty() ? 0 : static_cast<std::int32_t>(s.ids[0]);
}

}  // namespace detail

/// Reusable scratch of the multi-draft and tree verifiers.
struct multi_draft_workspace {
    std::vector<detail::request_result> results;
    std::vector<std::int32_t> draft_index;
    std::vector<detail::sibling_scratch> scratch;  // per thread slot
    std::vector<std::vector<std::int32_t>> paths;   // tree verification: kept nodes per request
};

/// Multi-draft verification of a batch with a caller-chosen uniform source (see the header
/// comment). `draft` is absent (data == nullptr) exactly for rule point_mass.
template <class T, class Source>
void verify_multi_draft_with(multi_draft_rule rule, const token_rows<T>& target, const token_rows<T>& draft,
                             const multi_draft_batch& d, const Source& uniforms, const multi_draft_outputs& out,
                             const verify_options& opt = {}, multi_draft_workspace* workspace = nullptr) {
    const char* fn = "verify_multi_draft";
    detail::check_multi_options(fn, draft, rule, opt);
    const std::size_t batch = d.counts.size();
    require(d.lengths.size() == batch, fn, "drafts.lengths", "size ", d.lengths.size(), " does not match the batch (",
            batch, ")");
    require(d.request_ids.size() == batch, fn, "drafts.request_ids", "size ", d.request_ids.size(),
            " does not match the batch (", batch, ")");
    require(d.positions.size() == batch, fn, "drafts.positions", "size ", d.positions.size(),
            " does not match the batch (", batch, ")");
    require(d.max_drafts < (std::size_t(1) << 16), fn, "drafts.max_drafts", "must be below 2^16, got ", d.max_drafts);
    const std::size_t cols = detail::checked_mul(d.max_drafts, d.max_length, fn, "drafts.max_length");
    require(d.tokens.rows() == batch && d.tokens.cols() >= cols, fn, "drafts.tokens", "must be at least ", batch, " x ",
            cols, ", got ", d.tokens.rows(), " x ", d.tokens.cols());
    std::size_t longest = 0;
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t k = d.counts[b], L = d.lengths[b];
        if (k > d.max_drafts)
            fail_argument(fn, "drafts.counts", "request ", b, ": ", k, " drafts, more than max_drafts (", d.max_drafts,
                          ")");
        if (L > d.max_length)
            fail_argument(fn, "drafts.lengths", "request ", b, ": draft length ", L, " exceeds max_length (",
                          d.max_length, ")");
        if (d.positions[b] >= max_position || L + 1 > max_position - d.positions[b])
            fail_argument(fn, "drafts.positions", "request ", b, ": position ", d.positions[b], " beyond 2^40");
        if (k) longest = std::max(longest, L);
    }
    const std::size_t target_rows_needed =
        d.max_drafts == 0 ? 1 : detail::checked_mul(d.max_drafts, d.max_length + 1, fn, "drafts.max_length");
    detail::check_rows_shape(target, fn, "target", batch, target_rows_needed);
    detail::check_draft_rows(fn, target, draft, batch, cols);
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t k = d.counts[b], L = d.lengths[b];
        for (std::size_t j = 0; j < k; ++j)
            for (std::size_t t = 0; t < L; ++t) {
                const std::int32_t x = d.tokens(b, j * d.max_length + t);
                if (x < 0 || static_cast<std::size_t>(x) >= target.vocab)
                    fail_argument(fn, "drafts.tokens", "request ", b, ", draft ", j, ", position ", t, ": token id ", x,
                                  " outside [0, ", target.vocab, ")");
            }
        if (rule == multi_draft_rule::recursive_without_replacement)
            for (std::size_t j = 0; j < k; ++j)
                for (std::size_t i = 0; i < j; ++i) {
                    std::size_t t = 0;
                    while (t < L && d.tokens(b, i * d.max_length + t) == d.tokens(b, j * d.max_length + t)) ++t;
                    if (t > 0 && L > 0)
                        fail_argument(fn, "drafts.tokens", "request ", b, ", drafts ", i, " and ", j, ", position ",
                                      t - 1, ": the same token after the same prefix (rule "
                                      "recursive_without_replacement needs distinct candidates)");
                }
    }
    detail::check_output_shapes(fn, out, batch, longest);
    require(out.draft_index.data() == nullptr || out.draft_index.size() == batch, fn, "outputs.draft_index",
            "must be empty or of size ", batch, ", got ", out.draft_index.size());

    multi_draft_workspace local;
    multi_draft_workspace& ws = workspace ? *workspace : local;
    ws.results.resize(batch);
    ws.draft_index.resize(batch);
    ws.scratch.resize(static_cast<std::size_t>(effective_threads(opt.policy)));
    parallel_for(batch, opt.policy, [&](std::size_t b) {
        detail::multi_draft_request(fn, rule, target, draft, d, b, opt, uniforms,
                                    ws.scratch[static_cast<std::size_t>(current_loop_slot())], ws.results[b],
                                    ws.draft_index[b]);
    });
    detail::write_results(ws.results, verify_outputs{out.tokens, out.stats, out.accept_flags});
    if (out.draft_index.data())
        for (std::size_t b = 0; b < batch; ++b) out.draft_index[b] = ws.draft_index[b];
}

/// Multi-draft verification of a batch with the counter-based uniforms of `seed`.
template <class T>
void verify_multi_draft(multi_draft_rule rule, const token_rows<T>& target, const token_rows<T>& draft,
                        const multi_draft_batch& drafts, std::uint64_t seed, const multi_draft_outputs& out,
                        const verify_options& opt = {}, multi_draft_workspace* workspace = nullptr) {
    verify_multi_draft_with(rule, target, draft, drafts, keyed_uniforms(seed), out, opt, workspace);
}

}  // namespace speculative
}  // namespace kestrel
