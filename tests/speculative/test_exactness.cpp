// Exactness of the chain and block verifiers by enumeration: for every draft sequence (with
// its draft probability), the exact output law of the real kernel (audit_law sweeps its
// uniforms), completed with exact target sampling, must equal the target's joint law to 1e-12.
// The same checker must reject wrong verifiers written here.
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "spec_test_util.hpp"

namespace ks = kestrel::speculative;
using namespace spec_test;

namespace {

enum class verifier { chain, block };
enum class draft_form { rows, point_mass, logits, float_logits };

/// The rows of one request for a given draft sequence: target rows 0..K, draft rows 0..K-1
/// (double rows, or float logits in target_f, draft_f).
struct request_rows {
    std::vector<double> target, draft;
    std::vector<float> target_f, draft_f;
};

request_rows rows_for(const toy_model& p, const toy_model& q, const signature& drafts, bool as_logits) {
    request_rows r;
    signature prefix;
    for (std::size_t i = 0; i <= drafts.size(); ++i) {
        if (p.float_logits) {  // the model's float logit rows (its law is their float softmax)
            const auto pl = p.logit_row(prefix);
            r.target_f.insert(r.target_f.end(), pl.begin(), pl.end());
            if (i < drafts.size()) {
                const auto ql = q.logit_row(prefix);
                r.draft_f.insert(r.draft_f.end(), ql.begin(), ql.end());
                prefix.push_back(drafts[i]);
            }
            continue;
        }
        auto pr = p.row(prefix);
        if (as_logits)
            for (auto& v : pr) v = std::log(v) + 3.0;  // an offset: the kernel must normalize
        r.target.insert(r.target.end(), pr.begin(), pr.end());
        if (i < drafts.size()) {
            auto qr = q.row(prefix);
            if (as_logits)
                for (auto& v : qr) v = std::log(v) - 1.5;
            r.draft.insert(r.draft.end(), qr.begin(), qr.end());
            prefix.push_back(drafts[i]);
        }
    }
    return r;
}

/// Runs the real batch kernel on one request (placed at batch row 1 of 3, the others dummies,
/// so batch placement is exercised) and returns emitted tokens, -1, flags.
template <class R>
signature run_kernel_t(verifier v, const std::vector<R>& req_target, const std::vector<R>& req_draft,
                       const signature& drafts, std::size_t V, bool with_draft, bool logits, double temperature,
                       const scripted_source& src) {
    const std::size_t K = drafts.size(), batch = 3, row = 1;
    std::vector<R> target(batch * (K + 1) * V, R(1) / R(V)), draft(batch * std::max<std::size_t>(K, 1) * V, R(1) / R(V));
    if (logits) std::fill(target.begin(), target.end(), 0.0), std::fill(draft.begin(), draft.end(), 0.0);
    std::copy(req_target.begin(), req_target.end(), target.begin() + static_cast<long>(row * (K + 1) * V));
    std::copy(req_draft.begin(), req_draft.end(), draft.begin() + static_cast<long>(row * std::max<std::size_t>(K, 1) * V));
    std::vector<std::int32_t> toks(batch * std::max<std::size_t>(K, 1), 0);
    for (std::size_t i = 0; i < K; ++i) toks[row * std::max<std::size_t>(K, 1) + i] = drafts[i];
    std::vector<std::uint32_t> lengths{static_cast<std::uint32_t>(K), 0, static_cast<std::uint32_t>(K)};
    lengths[row] = static_cast<std::uint32_t>(K);
    lengths[0] = 0;
    std::vector<std::uint64_t> ids{5, 7, 9}, pos{0, 100, 200};
    auto T = logits ? ks::logit_rows(target.data(), batch, K + 1, V) : ks::probability_rows(target.data(), batch, K + 1, V);
    ks::token_rows<R> D;
    if (with_draft)
        D = logits ? ks::logit_rows(draft.data(), batch, std::max<std::size_t>(K, 1), V)
                   : ks::probability_rows(draft.data(), batch, std::max<std::size_t>(K, 1), V);
    ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(toks.data(), batch, std::max<std::size_t>(K, 1)),
                       kestrel::vector_view<const std::uint32_t>(lengths.data(), batch),
                       kestrel::vector_view<const std::uint64_t>(ids.data(), batch),
                       kestrel::vector_view<const std::uint64_t>(pos.data(), batch)};
    std::vector<std::int32_t> out(batch * (K + 1), -7);
    std::vector<ks::request_stats> stats(batch);
    std::vector<std::uint8_t> flags(batch * std::max<std::size_t>(K, 1), 9);
    ks::verify_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), batch, K + 1),
                         kestrel::vector_view<ks::request_stats>(stats.data(), batch),
                         kestrel::matrix_view<std::uint8_t>(flags.data(), batch, std::max<std::size_t>(K, 1))};
    ks::verify_options opt;
    opt.temperature = temperature;
    opt.policy = kestrel::exec_policy{1};
    // The scripted source answers for request 7 only; the other rows get fixed values.
    auto source = [&src](const ks::uniform_key& k) { return k.request == 7 ? src(k) : 0.25; };
    if (v == verifier::chain)
        ks::verify_chain_with(T, D, db, source, o, opt);
    else
        ks::verify_block_with(T, D, db, source, o, opt);
    signature s(out.begin() + static_cast<long>(row * (K + 1)),
                out.begin() + static_cast<long>(row * (K + 1) + stats[row].emitted));
    s.push_back(-1);
    for (std::size_t i = 0; i < K; ++i) s.push_back(flags[row * std::max<std::size_t>(K, 1) + i]);
    return s;
}

signature run_kernel(verifier v, const request_rows& rr, const signature& drafts, std::size_t V, bool with_draft,
                     bool logits, double temperature, const scripted_source& src) {
    if (!rr.target_f.empty())
        return run_kernel_t<float>(v, rr.target_f, rr.draft_f, drafts, V, with_draft, true, temperature, src);
    return run_kernel_t<double>(v, rr.target, rr.draft, drafts, V, with_draft, logits, temperature, src);
}

/// Drops the flags: the emitted tokens only.
law tokens_only(const law& l) {
    law out;
    for (const auto& [s, w] : l) {
        signature t;
        for (auto v : s) {
            if (v == -1) break;
            t.push_back(v);
        }
        out[t] += w;
    }
    return out;
}

/// Enumerates draft sequences of length K from q (or takes each as a point mass drawn from q:
/// the draft is sampled from q, the verifier is told nothing but the token), audits the
/// verifier on each and returns the emitted-token law, completed to K + 1 tokens.
using runner = std::function<signature(const request_rows&, const signature&, const scripted_source&)>;

law verified_joint(const toy_model& p, const toy_model& q, std::size_t K, bool logits, const runner& run,
                   law* emitted_out = nullptr) {
    law emitted;
    for_each_sequence(q, {}, K, 1.0, [&](const signature& drafts, double w) {
        const request_rows rr = rows_for(p, q, drafts, logits);
        const law l = tokens_only(audit_law([&](const scripted_source& s) { return run(rr, drafts, s); }));
        for (const auto& [t, lw] : l) emitted[t] += w * lw;
    });
    if (emitted_out) *emitted_out = emitted;
    return complete_with_target(emitted, p, K + 1);
}

double mean_emitted(const law& emitted) {
    double m = 0;
    for (const auto& [t, w] : emitted) m += w * double(t.size());
    return m;
}

}  // namespace

TEST_CASE("chain and block verification follow the target law exactly, by enumeration of the real kernels") {
    for (std::size_t V : {3u, 5u}) {
        for (std::size_t K : {1u, 2u, 3u}) {
            if (V == 5 && K == 3) continue;  // 125 draft sequences: covered by V = 3
            const toy_model p{V, 11 + V + K, 1.0}, q{V, 97 + V * K, 1.3};
            const law truth = target_joint(p, K + 1);
            for (verifier v : {verifier::chain, verifier::block}) {
                for (draft_form f : {draft_form::rows, draft_form::point_mass, draft_form::logits}) {
                    INFO("V " << V << " K " << K << " verifier " << int(v) << " draft form " << int(f));
                    const bool logits = f == draft_form::logits, with_draft = f != draft_form::point_mass;
                    law emitted;
                    const law got = verified_joint(
                        p, q, K, logits,
                        [&](const request_rows& rr, const signature& d, const scripted_source& s) {
                            return run_kernel(v, rr, d, V, with_draft, logits, 1.0, s);
                        },
                        &emitted);
                    CHECK(max_abs_difference(got, truth) < 1e-12);
                }
            }
        }
    }
}

TEST_CASE("chain and block verification on float logit rows follow the law of Kestrel's float softmax exactly") {
    // Float logit rows: the target's law is the float softmax of its rows (row_softmax), the
    // drafts are drawn from the draft rows' float softmax; the verifiers must reproduce the
    // former exactly (every probability they use comes from the same float exponentials).
    // Offsets put the logits at magnitudes 2-10, where float rounding of exp is visible (1e-7).
    for (std::size_t V : {3u, 5u}) {
        for (std::size_t K : {1u, 2u, 3u}) {
            if (V == 5 && K == 3) continue;
            if (!full_enumeration && K == 3) continue;
            toy_model p{V, 31 + V + K, 1.0}, q{V, 77 + V * K, 1.3};
            p.float_logits = q.float_logits = true;
            p.logit_offset = 7.25, q.logit_offset = -3.5;
            const law truth = target_joint(p, K + 1);
            for (verifier v : {verifier::chain, verifier::block}) {
                INFO("V " << V << " K " << K << " verifier " << int(v));
                const law got = verified_joint(p, q, K, true,
                                               [&](const request_rows& rr, const signature& d, const scripted_source& s) {
                                                   return run_kernel(v, rr, d, V, true, true, 1.0, s);
                                               });
                CHECK(max_abs_difference(got, truth) < 1e-12);
            }
            // The oracle's resolution sees the float exponentials: the float softmax of the root
            // row differs from the exact softmax of the same float logits (long double) by far
            // more than 1e-12 (an oracle built on the exact softmax would fail the check above),
            // and by no more than the float softmax's bound (test_float_softmax.cpp).
            const auto l = p.logit_row({});
            const auto fs = p.row({});
            long double m = -INFINITY, z = 0;
            for (float x : l) m = std::max<long double>(m, x);
            for (float x : l) z += std::exp((long double)x - m);
            double diff = 0;
            for (std::size_t y = 0; y < V; ++y)
                diff = std::max(diff, std::fabs(fs[y] - double(std::exp((long double)l[y] - m) / z)));
            INFO("V " << V << " K " << K << ": float softmax against the exact softmax " << diff);
            CHECK(diff > 1e-11);
            CHECK(diff < 1e-6);
        }
    }
}

TEST_CASE("block verification keeps at least as many tokens as the chain rule in expectation") {
    // Six random pairs of laws (two in Debug and sanitizer builds: see spec_test_util.hpp).
    const std::uint64_t seeds = full_enumeration ? 6 : 2;
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
        const std::size_t V = 4, K = 3;
        const toy_model p{V, seed, 1.2}, q{V, seed + 1000, 0.8};
        law ec, eb;
        auto run = [&](verifier v) {
            return [&, v](const request_rows& rr, const signature& d, const scripted_source& s) {
                return run_kernel(v, rr, d, V, true, false, 1.0, s);
            };
        };
        verified_joint(p, q, K, false, run(verifier::chain), &ec);
        verified_joint(p, q, K, false, run(verifier::block), &eb);
        INFO("seed " << seed << " chain " << mean_emitted(ec) << " block " << mean_emitted(eb));
        CHECK(mean_emitted(eb) >= mean_emitted(ec) - 1e-12);
    }
}

TEST_CASE("chain verification's mean emitted tokens equals the closed form for position-independent laws") {
    // The same p and q at every prefix: E = (1 - a^(K+1)) / (1 - a), a = sum min(p, q).
    const std::size_t V = 4, K = 3;
    struct fixed_model : toy_model {};
    const toy_model p{V, 5, 1.0}, q{V, 6, 1.0};
    // A model whose rows ignore the prefix: reuse the empty-prefix row.
    const auto pr = p.row({}), qr = q.row({});
    law emitted;
    std::function<void(signature&, double)> rec = [&](signature& drafts, double w) {
        if (drafts.size() == K) {
            request_rows rr;
            for (std::size_t i = 0; i <= K; ++i) rr.target.insert(rr.target.end(), pr.begin(), pr.end());
            for (std::size_t i = 0; i < K; ++i) rr.draft.insert(rr.draft.end(), qr.begin(), qr.end());
            const law l = tokens_only(audit_law([&](const scripted_source& s) {
                return run_kernel(verifier::chain, rr, drafts, V, true, false, 1.0, s);
            }));
            for (const auto& [t, lw] : l) emitted[t] += w * lw;
            return;
        }
        for (std::size_t y = 0; y < V; ++y) {
            drafts.push_back(static_cast<std::int32_t>(y));
            rec(drafts, w * qr[y]);
            drafts.pop_back();
        }
    };
    signature d;
    rec(d, 1.0);
    const double a = ks::acceptance_rate(kestrel::vector_view<const double>(pr.data(), V),
                                         kestrel::vector_view<const double>(qr.data(), V));
    CHECK(mean_emitted(emitted) == Approx(ks::expected_emitted_tokens(a, K)).epsilon(1e-13));
}

TEST_CASE("greedy verification keeps exactly the target's argmax path") {
    const std::size_t V = 5, K = 3;
    const toy_model p{V, 3, 1.5}, q{V, 4, 1.5};
    for (int seq = 0; seq < 125; ++seq) {
        const signature drafts{seq % 5, (seq / 5) % 5, seq / 25};
        const request_rows rr = rows_for(p, q, drafts, false);
        std::map<key_tuple, double> none;
        const scripted_source src{&none};
        const signature s = run_kernel(verifier::chain, rr, drafts, V, true, false, 0.0, src);
        CHECK_FALSE(src.open_seen);  // greedy draws no uniform
        // Expected: the drafted tokens while they are the argmax, then the argmax.
        signature expect, prefix;
        for (std::size_t i = 0; i <= K; ++i) {
            const auto row = p.row(prefix);
            const auto a = static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
            expect.push_back(a);
            if (i == K || drafts[i] != a) break;
            prefix.push_back(drafts[i]);
        }
        const signature got(s.begin(), std::find(s.begin(), s.end(), -1));
        REQUIRE(got == expect);
    }
}

// ---- the checker can fail: wrong verifiers written here must be caught -----------------

namespace {

/// A hand-written chain verifier with a chosen defect, on one request's rows.
enum class defect { none, residual_from_target, residual_unnormalized_rejects_more, accept_ratio_squared };

signature mutant_chain(defect m, const request_rows& rr, const signature& drafts, std::size_t V,
                       const scripted_source& src) {
    const std::size_t K = drafts.size();
    signature out;
    for (std::size_t i = 0; i < K; ++i) {
        const double* p = rr.target.data() + i * V;
        const double* q = rr.draft.data() + i * V;
        const auto x = static_cast<std::size_t>(drafts[i]);
        double ratio = p[x] / q[x];
        if (m == defect::accept_ratio_squared) ratio *= ratio;
        if (m == defect::residual_unnormalized_rejects_more) ratio *= 0.9;
        const double u = src(ks::uniform_key{7, 100 + i, ks::purpose::accept, 0});
        if (u < ratio) {
            out.push_back(drafts[i]);
            continue;
        }
        std::vector<double> r(V);
        double z = 0;
        for (std::size_t y = 0; y < V; ++y) {
            r[y] = m == defect::residual_from_target ? p[y] : std::max(0.0, p[y] - q[y]);
            z += r[y];
        }
        const double u2 = src(ks::uniform_key{7, 100 + i, ks::purpose::residual, 0}) * z;
        double c = 0;
        std::size_t y = 0;
        for (; y < V; ++y) {
            c += r[y];
            if (u2 < c) break;
        }
        out.push_back(static_cast<std::int32_t>(std::min(y, V - 1)));
        out.push_back(-1);
        return out;
    }
    const double* p = rr.target.data() + K * V;
    const double u3 = src(ks::uniform_key{7, 100 + K, ks::purpose::bonus, 0});
    double c = 0;
    std::size_t y = 0;
    for (; y < V; ++y) {
        c += p[y];
        if (u3 < c) break;
    }
    out.push_back(static_cast<std::int32_t>(std::min(y, V - 1)));
    out.push_back(-1);
    return out;
}

}  // namespace

TEST_CASE("the enumeration checker accepts a correct hand-written verifier and rejects wrong ones") {
    const std::size_t V = 4, K = 2;
    const toy_model p{V, 21, 1.0}, q{V, 22, 1.2};
    const law truth = target_joint(p, K + 1);
    auto error_of = [&](defect m) {
        return max_abs_difference(
            verified_joint(p, q, K, false,
                           [&](const request_rows& rr, const signature& d, const scripted_source& s) {
                               return mutant_chain(m, rr, d, V, s);
                           }),
            truth);
    };
    CHECK(error_of(defect::none) < 1e-12);
    CHECK(error_of(defect::residual_from_target) > 1e-3);
    CHECK(error_of(defect::residual_unnormalized_rejects_more) > 1e-3);
    CHECK(error_of(defect::accept_ratio_squared) > 1e-3);
}
