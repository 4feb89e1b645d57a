// Multi-draft verification (K-SEQ, recursive rejection with and without replacement,
// point-mass candidates, SpecTr's sequences) and typical acceptance: exactness of the real
// kernels by enumeration (every draft outcome with its probability, the kernel's exact output
// law by the u-sweep audit, completed with exact target sampling, against the target's joint
// law to 1e-12); the same checker rejects wrong verifiers; acceptance rates against the
// analysis; validation; invariance.
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <numeric>
#include <string>
#include <vector>

#include "spec_test_util.hpp"

namespace ks = kestrel::speculative;
using namespace spec_test;

namespace {

using rule_t = ks::multi_draft_rule;
using drafts_t = std::vector<signature>;  // k sequences of length L

/// One draft outcome (k sequences) with its probability.
struct outcome {
    drafts_t drafts;
    double weight;
};

/// k i.i.d. autoregressive draft sequences of length L from q: all V^(kL) outcomes.
std::vector<outcome> enumerate_iid(const toy_model& q, std::size_t k, std::size_t L) {
    std::vector<outcome> out;
    std::function<void(drafts_t&, std::size_t, double)> rec = [&](drafts_t& d, std::size_t j, double w) {
        if (j == k) {
            out.push_back({d, w});
            return;
        }
        if (d[j].size() == L) {
            rec(d, j + 1, w);
            return;
        }
        const auto r = q.row(d[j]);
        for (std::size_t y = 0; y < q.V; ++y) {
            if (!(r[y] > 0)) continue;  // never drafted
            d[j].push_back(static_cast<std::int32_t>(y));
            rec(d, j, w * r[y]);
            d[j].pop_back();
        }
    };
    drafts_t d(k);
    rec(d, 0, 1.0);
    return out;
}

/// First tokens drawn without replacement from q(. | prompt) (ordered), then each draft
/// continues autoregressively from q.
std::vector<outcome> enumerate_without(const toy_model& q, std::size_t k, std::size_t L) {
    std::vector<outcome> firsts;
    const auto r0 = q.row({});
    std::function<void(drafts_t&, double, double)> rec = [&](drafts_t& d, double w, double used) {
        if (d.size() == k) {
            firsts.push_back({d, w});
            return;
        }
        for (std::size_t y = 0; y < q.V; ++y) {
            if (!(r0[y] > 0)) continue;
            bool taken = false;
            for (auto& s : d) taken |= s[0] == static_cast<std::int32_t>(y);
            if (taken) continue;
            d.push_back({static_cast<std::int32_t>(y)});
            rec(d, w * r0[y] / (1.0 - used), used + r0[y]);
            d.pop_back();
        }
    };
    drafts_t d;
    rec(d, 1.0, 0.0);
    std::vector<outcome> out;
    for (const auto& f : firsts) {
        std::function<void(drafts_t&, std::size_t, double)> cont = [&](drafts_t& dd, std::size_t j, double w) {
            if (j == k) {
                out.push_back({dd, w});
                return;
            }
            if (dd[j].size() == L) {
                cont(dd, j + 1, w);
                return;
            }
            const auto r = q.row(dd[j]);
            for (std::size_t y = 0; y < q.V; ++y) {
                if (!(r[y] > 0)) continue;
                dd[j].push_back(static_cast<std::int32_t>(y));
                cont(dd, j, w * r[y]);
                dd[j].pop_back();
            }
        };
        drafts_t dd = f.drafts;
        cont(dd, 0, f.weight);
    }
    return out;
}

std::vector<std::int32_t> ranked_tokens(const std::vector<double>& r) {
    std::vector<std::int32_t> idx(r.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](std::int32_t a, std::int32_t b) { return r[a] > r[b]; });
    return idx;
}

/// Deterministic drafts (point masses): draft j starts with q's rank-(j / 2) token and
/// continues with rank (j % 2): drafts 0 and 1 share their first token.
std::vector<outcome> point_mass_drafts(const toy_model& q, std::size_t k, std::size_t L) {
    drafts_t d(k);
    for (std::size_t j = 0; j < k; ++j)
        for (std::size_t t = 0; t < L; ++t) d[j].push_back(ranked_tokens(q.row(d[j]))[t == 0 ? j / 2 : j % 2]);
    return {{d, 1.0}};
}

struct md_setup {
    rule_t rule;
    std::size_t V, k, L;
    bool logits = false;
    bool use_float = false;
    std::size_t top_k = 0;  // options.top_k (the rows given are unfiltered)
};

/// The rows of one request laid out as verify_multi_draft reads them; rows of a draft that
/// repeats an earlier draft's prefix are NaN (never read, as documented).
void fill_request_rows(const md_setup& s, const toy_model& p, const toy_model& q, const drafts_t& d,
                       std::vector<double>& target, std::vector<double>& draft, std::size_t row_offset_t,
                       std::size_t row_offset_d) {
    const std::size_t V = s.V, L = s.L;
    const double nan = std::nan("");
    for (std::size_t j = 0; j < d.size(); ++j)
        for (std::size_t t = 0; t <= L; ++t) {
            const signature prefix(d[j].begin(), d[j].begin() + static_cast<long>(t));
            bool repeated = false;
            for (std::size_t i = 0; i < j; ++i) repeated |= signature(d[i].begin(), d[i].begin() + static_cast<long>(t)) == prefix;
            auto pr = p.row(prefix), qr = q.row(prefix);
            if (s.logits)
                for (std::size_t y = 0; y < V; ++y) pr[y] = std::log(pr[y]) + 2.0, qr[y] = std::log(qr[y]) - 1.0;
            for (std::size_t y = 0; y < V; ++y) {
                target[row_offset_t + (j * (L + 1) + t) * V + y] = repeated ? nan : pr[y];
                if (t < L) draft[row_offset_d + (j * L + t) * V + y] = repeated ? nan : qr[y];
            }
        }
}

/// One request's rows and drafts placed in a batch (row 1 of 3; the other rows are requests
/// with no drafts or with their own drafts), built once per draft outcome; run() calls the
/// real kernel and returns tokens, -1, flags, -2, draft_index.
template <class T>
struct md_case {
    md_setup s;
    drafts_t d;
    std::vector<T> tt, dd;
    mutable ks::multi_draft_workspace ws;  // kept across the audit's many runs
    md_case(const md_setup& s_, const toy_model& p, const toy_model& q, const drafts_t& d_) : s(s_), d(d_) {
        const std::size_t V = s.V, k = std::max<std::size_t>(d.size(), 1), L = s.L, batch = 3, row = 1;
        const std::size_t tpr = k * (L + 1), dpr = k * std::max<std::size_t>(L, 1);
        std::vector<double> target(batch * tpr * V, s.logits ? 0.0 : 1.0 / double(V)),
            draft(batch * dpr * V, s.logits ? 0.0 : 1.0 / double(V));
        fill_request_rows(s, p, q, d, target, draft, row * tpr * V, row * dpr * V);
        tt.assign(target.begin(), target.end());
        dd.assign(draft.begin(), draft.end());
    }
    signature run(const scripted_source& src) const;
};

template <class T>
signature md_case<T>::run(const scripted_source& src) const {
    const int threads = 1;
    const std::size_t V = s.V, k = std::max<std::size_t>(d.size(), 1), L = s.L, batch = 3, row = 1;
    const std::size_t tpr = k * (L + 1), dpr = k * std::max<std::size_t>(L, 1);
    std::vector<std::int32_t> toks(batch * k * std::max<std::size_t>(L, 1), 0);
    for (std::size_t j = 0; j < d.size(); ++j)
        for (std::size_t t = 0; t < L; ++t) toks[row * k * std::max<std::size_t>(L, 1) + j * L + t] = d[j][t];
    std::vector<std::uint32_t> counts{0, static_cast<std::uint32_t>(d.size()), 1},
        lengths{0, static_cast<std::uint32_t>(L), static_cast<std::uint32_t>(L)};
    std::vector<std::uint64_t> ids{5, 7, 9}, pos{0, 100, 200};
    ks::token_rows<T> TR = s.logits ? ks::logit_rows(tt.data(), batch, tpr, V) : ks::probability_rows(tt.data(), batch, tpr, V);
    ks::token_rows<T> DR;
    if (s.rule != rule_t::point_mass)
        DR = s.logits ? ks::logit_rows(dd.data(), batch, dpr, V) : ks::probability_rows(dd.data(), batch, dpr, V);
    ks::multi_draft_batch mb;
    mb.tokens = kestrel::matrix_view<const std::int32_t>(toks.data(), batch, k * std::max<std::size_t>(L, 1));
    mb.max_drafts = k, mb.max_length = L;
    mb.counts = counts, mb.lengths = lengths, mb.request_ids = ids, mb.positions = pos;
    std::vector<std::int32_t> out(batch * (L + 1), -7), didx(batch, -9);
    std::vector<ks::request_stats> stats(batch);
    std::vector<std::uint8_t> flags(batch * std::max<std::size_t>(L, 1), 9);
    ks::multi_draft_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), batch, L + 1), stats,
                              kestrel::matrix_view<std::uint8_t>(flags.data(), batch, std::max<std::size_t>(L, 1)),
                              didx};
    ks::verify_options opt;
    opt.policy = kestrel::exec_policy{threads};
    opt.top_k = s.top_k;
    auto source = [&src](const ks::uniform_key& key) { return key.request == 7 ? src(key) : 0.25; };
    ks::verify_multi_draft_with(s.rule, TR, DR, mb, source, o, opt, &ws);
    signature r(out.begin() + static_cast<long>(row * (L + 1)),
                out.begin() + static_cast<long>(row * (L + 1) + stats[row].emitted));
    r.push_back(-1);
    for (std::size_t t = 0; t < std::min<std::size_t>(stats[row].accepted + 1, L); ++t)
        r.push_back(flags[row * std::max<std::size_t>(L, 1) + t]);
    r.push_back(-2);
    r.push_back(didx[row]);
    // draft_index names a draft whose first `accepted` tokens are the kept ones.
    const auto& dj = d[static_cast<std::size_t>(didx[row])];
    for (std::size_t t = 0; t < stats[row].accepted; ++t)
        if (dj[t] != r[t]) throw std::runtime_error("draft_index does not match the kept tokens");
    return r;
}

using case_runner = std::function<signature(const scripted_source&)>;

/// The kernel on one draft outcome, rows built once.
case_runner prepare(const md_setup& s, const toy_model& p, const toy_model& q, const drafts_t& d) {
    if (s.use_float) {
        auto c = std::make_shared<md_case<float>>(s, p, q, d);
        return [c](const scripted_source& src) { return c->run(src); };
    }
    auto c = std::make_shared<md_case<double>>(s, p, q, d);
    return [c](const scripted_source& src) { return c->run(src); };
}

law emitted_tokens_only(const law& l) {
    law out;
    for (const auto& [sg, w] : l) out[signature(sg.begin(), std::find(sg.begin(), sg.end(), -1))] += w;
    return out;
}

/// Makes the runner of one draft outcome.
using md_runner = std::function<case_runner(const drafts_t&)>;

/// The emitted-token law over all draft outcomes; `kept` receives P(at least one draft token kept).
law emitted_law(const std::vector<outcome>& outcomes, const md_runner& make, double* kept = nullptr) {
    law emitted;
    double k1 = 0;
    for (const auto& oc : outcomes) {
        const case_runner run = make(oc.drafts);
        const law l = audit_law_coarse(run);
        for (const auto& [sg, w] : l) {
            const signature t(sg.begin(), std::find(sg.begin(), sg.end(), -1));
            emitted[t] += oc.weight * w;
            const auto f = std::find(sg.begin(), sg.end(), -1);
            if (f + 1 != sg.end() && f[1] == 1) k1 += oc.weight * w;
        }
    }
    if (kept) *kept = k1;
    return emitted;
}

std::vector<outcome> outcomes_for(rule_t rule, const toy_model& q, std::size_t k, std::size_t L) {
    if (rule == rule_t::point_mass) return point_mass_drafts(q, k, L);
    if (rule == rule_t::recursive_without_replacement) return enumerate_without(q, k, L);
    return enumerate_iid(q, k, L);
}

const char* rule_name(rule_t r) {
    switch (r) {
        case rule_t::k_seq: return "k_seq";
        case rule_t::recursive_with_replacement: return "with replacement";
        case rule_t::recursive_without_replacement: return "without replacement";
        case rule_t::point_mass: return "point mass";
    }
    return "?";
}

}  // namespace

TEST_CASE("multi-draft verification at one position follows the target law exactly") {
    for (rule_t rule : {rule_t::k_seq, rule_t::recursive_with_replacement, rule_t::recursive_without_replacement,
                        rule_t::point_mass}) {
        for (std::size_t V : {3u, 5u}) {
            for (std::size_t k : {1u, 2u, 3u}) {
                if (V == 5 && k == 3 && rule != rule_t::point_mass) continue;  // 125 outcomes: V = 3 covers k = 3
                const toy_model p{V, 31 + V + k, 1.0}, q{V, 71 + V * k, 1.3};
                const md_setup s{rule, V, k, 1};
                INFO("rule " << rule_name(rule) << " V " << V << " k " << k);
                const law got = complete_with_target(
                    emitted_law(outcomes_for(rule, q, k, 1),
                                [&](const drafts_t& d) { return prepare(s, p, q, d); }),
                    p, 2);
                CHECK(max_abs_difference(got, target_joint(p, 2)) < 1e-12);
            }
        }
    }
}

TEST_CASE("multi-draft verification is exact with logit rows and float rows") {
    const std::size_t V = 4, k = 2;
    const toy_model p{V, 5, 1.1}, q{V, 6, 0.9};
    for (rule_t rule : {rule_t::k_seq, rule_t::recursive_with_replacement, rule_t::recursive_without_replacement,
                        rule_t::point_mass}) {
        for (int form = 0; form < 2; ++form) {
            md_setup s{rule, V, k, 1};
            s.logits = form == 0;
            s.use_float = form == 1;
            // Float rows: the kernel sees the rows rounded to float (within 1e-7 of the laws).
            INFO("rule " << rule_name(rule) << (s.logits ? " logits" : " float"));
            const law emitted = emitted_law(outcomes_for(rule, q, k, 1), [&](const drafts_t& d) { return prepare(s, p, q, d); });
            const law got = complete_with_target(emitted, p, 2);
            CHECK(max_abs_difference(got, target_joint(p, 2)) < (s.use_float ? 1e-6 : 1e-12));
        }
    }
}

TEST_CASE("multi-draft verification with top-k follows the filtered target law exactly") {
    // The kernel reads the unfiltered rows with options.top_k = 3; the drafts are drawn from
    // the filtered draft law; the emitted tokens must follow the filtered target law.
    const std::size_t V = 5, top_k = 3;
    const toy_model pf{V, 77, 1.0, top_k}, qf{V, 78, 1.0, top_k};
    for (rule_t rule : {rule_t::k_seq, rule_t::recursive_with_replacement, rule_t::recursive_without_replacement,
                        rule_t::point_mass}) {
        for (std::size_t L : {1u, 2u}) {
            md_setup s{rule, V, 2, L};
            s.top_k = top_k;
            s.logits = L == 2;
            INFO("rule " << rule_name(rule) << " L " << L);
            const law got = complete_with_target(
                emitted_law(outcomes_for(rule, qf, 2, L),
                            [&](const drafts_t& d) { return prepare(s, pf.unfiltered(), qf.unfiltered(), d); }),
                pf, L + 1);
            CHECK(max_abs_difference(got, target_joint(pf, L + 1)) < 1e-12);
        }
    }
}

TEST_CASE("SpecTr multi-sequence verification follows the target law exactly") {
    struct cfg {
        rule_t rule;
        std::size_t V, k, L;
        bool heavy;  // run only when spec_test::full_enumeration
    };
    for (const cfg c : {cfg{rule_t::k_seq, 3, 2, 2, false}, cfg{rule_t::k_seq, 3, 3, 2, true},
                        cfg{rule_t::k_seq, 4, 2, 2, true}, cfg{rule_t::k_seq, 2, 3, 2, false},
                        cfg{rule_t::recursive_with_replacement, 3, 2, 2, false},
                        cfg{rule_t::recursive_with_replacement, 2, 3, 2, false},
                        cfg{rule_t::recursive_without_replacement, 3, 2, 2, false},
                        cfg{rule_t::recursive_without_replacement, 3, 3, 2, true},
                        cfg{rule_t::point_mass, 4, 3, 2, false}, cfg{rule_t::point_mass, 5, 3, 3, false},
                        cfg{rule_t::k_seq, 2, 2, 3, false}}) {
        if (c.heavy && !full_enumeration) continue;
        const toy_model p{c.V, 400 + c.k + c.L, 1.2}, q{c.V, 500 + c.V, 1.0};
        const md_setup s{c.rule, c.V, c.k, c.L};
        INFO("rule " << rule_name(c.rule) << " V " << c.V << " k " << c.k << " L " << c.L);
        const law got = complete_with_target(
            emitted_law(outcomes_for(c.rule, q, c.k, c.L),
                        [&](const drafts_t& d) { return prepare(s, p, q, d); }),
            p, c.L + 1);
        CHECK(max_abs_difference(got, target_joint(p, c.L + 1)) < 1e-12);
    }
}

// ---- the checker can fail ------------------------------------------------------------------

namespace {

/// Recursive rejection sampling with replacement written here, with a defect on request:
/// duplicates merged into one trial (what a token tree does when it deduplicates siblings).
signature rrs_one_position(bool merge_duplicates, const toy_model& p, const toy_model& q, const drafts_t& d,
                           const scripted_source& src) {
    const std::size_t V = p.V;
    const auto pr = p.row({}), qr = q.row({});
    std::vector<std::int32_t> cand;
    for (const auto& s : d)
        if (!merge_duplicates || std::find(cand.begin(), cand.end(), s[0]) == cand.end()) cand.push_back(s[0]);
    std::vector<double> r = pr;
    auto draw = [&](const std::vector<double>& w, double u) {
        double z = 0;
        for (double v : w) z += v;
        double c = 0;
        for (std::size_t y = 0; y < V; ++y) {
            c += w[y];
            if (u * z < c) return static_cast<std::int32_t>(y);
        }
        return static_cast<std::int32_t>(V - 1);
    };
    for (std::size_t i = 0; i < cand.size(); ++i) {
        const auto x = static_cast<std::size_t>(cand[i]);
        const double u = src(ks::uniform_key{7, 100, ks::purpose::accept, static_cast<std::uint32_t>(i)});
        if (u * qr[x] < r[x]) {
            const auto pb = p.row({cand[i]});
            return {cand[i], draw(pb, src(ks::uniform_key{7, 101, ks::purpose::bonus, 0})), -1};
        }
        double z = 0;
        for (std::size_t y = 0; y < V; ++y) r[y] = std::max(0.0, r[y] - qr[y]), z += r[y];
        for (auto& v : r) v /= z;
    }
    return {draw(r, src(ks::uniform_key{7, 100, ks::purpose::residual, 0})), -1};
}

}  // namespace

TEST_CASE("the checker rejects merged duplicate drafts in recursive rejection with replacement") {
    const std::size_t V = 4, k = 3;
    // The bias shows when the residual after a rejection has two or more tokens: take the
    // first seed whose laws have that.
    std::uint64_t seed = 21;
    auto residual_tokens = [&](std::uint64_t sd) {
        const toy_model a{V, sd, 1.5}, b{V, sd + 1, 0.6};
        int n = 0;
        for (std::size_t y = 0; y < V; ++y) n += a.row({})[y] > b.row({})[y];
        return n;
    };
    while (residual_tokens(seed) < 2) ++seed;
    const toy_model p{V, seed, 1.5}, q{V, seed + 1, 0.6};
    const auto outcomes = enumerate_iid(q, k, 1);
    const law truth = target_joint(p, 2);
    auto error_of = [&](bool merge) {
        return max_abs_difference(
            complete_with_target(emitted_law(outcomes,
                                             [&](const drafts_t& d) -> case_runner {
                                                 return [&, d](const scripted_source& src) {
                                                     return rrs_one_position(merge, p, q, d, src);
                                                 };
                                             }),
                                 p, 2),
            truth);
    };
    CHECK(error_of(false) < 1e-12);  // the same hand-written verifier, duplicates kept: exact
    const double merged = error_of(true);
    INFO("merged-duplicates error " << merged);
    CHECK(merged > 1e-3);
    // The real kernel, called by a caller who deduplicates the i.i.d. drafts first (as a token
    // tree would): biased too, while the kernel on the drafts as drawn is exact.
    const md_setup s{rule_t::recursive_with_replacement, V, k, 1};
    auto kernel_error = [&](bool dedupe) {
        return max_abs_difference(
            complete_with_target(emitted_law(outcomes,
                                             [&](const drafts_t& d) {
                                                 drafts_t kept;
                                                 for (const auto& x : d)
                                                     if (!dedupe || std::find(kept.begin(), kept.end(), x) == kept.end())
                                                         kept.push_back(x);
                                                 return prepare(s, p, q, kept);
                                             }),
                                 p, 2),
            truth);
    };
    CHECK(kernel_error(false) < 1e-12);
    const double deduped = kernel_error(true);
    INFO("kernel on deduplicated drafts: error " << deduped);
    CHECK(deduped > 1e-3);
}

namespace {

/// K-SEQ written here from the analysis' rho* (or with rho forced to 1: trials that each keep
/// min(1, p/q), as if every candidate were a chain draft, then the chain residual).
signature kseq_one_position(bool rho_one, const toy_model& p, const toy_model& q, const drafts_t& d,
                            const scripted_source& src) {
    const std::size_t V = p.V;
    const auto pr = p.row({}), qr = q.row({});
    const double rho = rho_one ? 1.0
                               : ks::k_seq_rho(kestrel::vector_view<const double>(pr),
                                               kestrel::vector_view<const double>(qr), d.size())
                                     .rho;
    auto draw = [&](const std::vector<double>& w, double u) {
        double z = 0, c = 0;
        for (double v : w) z += v;
        for (std::size_t y = 0; y < V; ++y) {
            c += w[y];
            if (u * z < c) return static_cast<std::int32_t>(y);
        }
        return static_cast<std::int32_t>(V - 1);
    };
    for (std::size_t i = 0; i < d.size(); ++i) {
        const auto x = static_cast<std::size_t>(d[i][0]);
        if (src(ks::uniform_key{7, 100, ks::purpose::accept, static_cast<std::uint32_t>(i)}) * rho * qr[x] < pr[x])
            return {d[i][0], draw(p.row({d[i][0]}), src(ks::uniform_key{7, 101, ks::purpose::bonus, 0})), -1};
    }
    std::vector<double> r(V);
    for (std::size_t y = 0; y < V; ++y) r[y] = std::max(0.0, pr[y] - rho * qr[y]);
    return {draw(r, src(ks::uniform_key{7, 100, ks::purpose::residual, 0})), -1};
}

}  // namespace

TEST_CASE("the checker accepts a hand-written K-SEQ and rejects it with rho forced to 1") {
    const std::size_t V = 4, k = 3;
    const toy_model p{V, 61, 1.2}, q{V, 62, 1.0};
    const auto outcomes = enumerate_iid(q, k, 1);
    const law truth = target_joint(p, 2);
    auto error_of = [&](bool rho_one) {
        return max_abs_difference(
            complete_with_target(emitted_law(outcomes,
                                             [&](const drafts_t& d) -> case_runner {
                                                 return [&, d](const scripted_source& src) {
                                                     return kseq_one_position(rho_one, p, q, d, src);
                                                 };
                                             }),
                                 p, 2),
            truth);
    };
    CHECK(error_of(false) < 1e-12);
    const double wrong = error_of(true);
    INFO("rho = 1 error " << wrong);
    CHECK(wrong > 1e-3);
}

TEST_CASE("the coarse audit finds the same law as the fine audit on multi-draft kernels") {
    const std::size_t V = 4, k = 3;
    const toy_model p{V, 8, 1.3}, q{V, 9, 1.0};
    for (rule_t rule : {rule_t::k_seq, rule_t::recursive_with_replacement, rule_t::point_mass}) {
        const auto outcomes = outcomes_for(rule, q, k, 2);
        for (std::size_t i = 0; i < outcomes.size(); i += std::max<std::size_t>(1, outcomes.size() / 6)) {
            const case_runner run = prepare(md_setup{rule, V, k, 2}, p, q, outcomes[i].drafts);
            const law fine = audit_law(run), coarse = audit_law_coarse(run);
            CHECK(fine.size() == coarse.size());
            CHECK(max_abs_difference(fine, coarse) < 1e-15);
        }
    }
}

TEST_CASE("typical acceptance is rejected by the exactness checker and follows its rule") {
    // Medusa's rule with sampled corrections: not the target's law.
    const std::size_t V = 4, K = 2;
    const toy_model p{V, 41, 1.0}, q{V, 42, 1.0};
    auto run = [&](const signature& drafts, const scripted_source& src, bool sample, double eps, double delta) {
        const std::size_t batch = 1;
        std::vector<double> target;
        signature prefix;
        for (std::size_t i = 0; i <= K; ++i) {
            const auto r = p.row(prefix);
            target.insert(target.end(), r.begin(), r.end());
            if (i < K) prefix.push_back(drafts[i]);
        }
        std::vector<std::int32_t> toks(drafts.begin(), drafts.end());
        std::vector<std::uint32_t> lengths{static_cast<std::uint32_t>(K)};
        std::vector<std::uint64_t> ids{7}, pos{100};
        ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(toks.data(), batch, K), lengths, ids, pos};
        std::vector<std::int32_t> out(K + 1, -7);
        std::vector<ks::request_stats> stats(1);
        std::vector<std::uint8_t> flags(K, 9);
        ks::verify_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), 1, K + 1), stats,
                             kestrel::matrix_view<std::uint8_t>(flags.data(), 1, K)};
        ks::typical_options to;
        to.sample_correction = sample;
        to.epsilon = eps, to.delta = delta;
        ks::verify_typical_with(ks::probability_rows(target.data(), 1, K + 1, V), db, src, o, to);
        signature sg(out.begin(), out.begin() + stats[0].emitted);
        sg.push_back(-1);
        return sg;
    };
    // Drafts sampled from q (sequences of length K), emitted law completed with the target.
    law emitted;
    std::function<void(signature&, double)> rec = [&](signature& d, double w) {
        if (d.size() == K) {
            const law l = emitted_tokens_only(audit_law_coarse([&](const scripted_source& s) { return run(d, s, true, 0.09, 0.3); }));
            for (const auto& [t, lw] : l) emitted[t] += w * lw;
            return;
        }
        const auto qr = q.row(d);
        for (std::size_t y = 0; y < V; ++y) {
            d.push_back(static_cast<std::int32_t>(y));
            rec(d, w * qr[y]);
            d.pop_back();
        }
    };
    signature d0;
    rec(d0, 1.0);
    const double err = max_abs_difference(complete_with_target(emitted, p, K + 1), target_joint(p, K + 1));
    INFO("typical acceptance error " << err);
    CHECK(err > 1e-3);

    // The rule itself, on the note's example p = (.5, .3, .15, .05) at one position.
    const std::vector<double> pr{0.5, 0.3, 0.15, 0.05};
    double h = 0;
    for (double v : pr) h -= v * std::log(v + 1e-5);
    const double thr = std::min(0.09, 0.3 * std::exp(-h));
    for (std::int32_t x = 0; x < 4; ++x) {
        std::vector<double> rows = pr;
        rows.insert(rows.end(), pr.begin(), pr.end());
        std::vector<std::int32_t> toks{x};
        std::vector<std::uint32_t> lengths{1};
        std::vector<std::uint64_t> ids{1}, pos{0};
        ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(toks.data(), 1, 1), lengths, ids, pos};
        std::vector<std::int32_t> out(2, -7);
        std::vector<ks::request_stats> stats(1);
        ks::verify_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), 1, 2), stats};
        ks::verify_typical(ks::probability_rows(rows.data(), 1, 2, 4), db, 3, o);
        const bool keep = pr[static_cast<std::size_t>(x)] > thr;
        CHECK(stats[0].accepted == (keep ? 1u : 0u));
        CHECK(out[0] == (keep ? x : 0));     // correction: the argmax
        if (keep) CHECK(out[1] == 0);        // bonus: the argmax
        CHECK(stats[0].emitted == 2u - (keep ? 0u : 1u));
    }
}

// ---- rates ---------------------------------------------------------------------------------

TEST_CASE("K-SEQ keeps a draft with its closed-form rate, within SpecTr's bounds and below the optimum") {
    for (std::uint64_t seed = 1; seed <= (full_enumeration ? 3u : 1u); ++seed) {
        for (std::size_t k : {2u, 3u}) {
            const std::size_t V = 4;
            const toy_model p{V, seed * 13, 1.0 + 0.2 * double(seed)}, q{V, seed * 17 + 1, 1.0};
            const auto pr = p.row({}), qr = q.row({});
            const kestrel::vector_view<const double> pv(pr), qv(qr);
            const md_setup s{rule_t::k_seq, V, k, 1};
            double kept = 0;
            emitted_law(enumerate_iid(q, k, 1),
                        [&](const drafts_t& d) { return prepare(s, p, q, d); }, &kept);
            const auto sol = ks::k_seq_rho(pv, qv, k);
            INFO("seed " << seed << " k " << k << " kept " << kept << " closed form " << sol.acceptance);
            CHECK(kept == Approx(sol.acceptance).margin(1e-12));
            CHECK(sol.acceptance == Approx(1 - std::pow(1 - sol.beta, double(k))).margin(1e-12));
            CHECK(sol.acceptance >= ks::k_seq_lower_bound(pv, qv, k) - 1e-12);
            const double opt = ks::optimal_multi_draft_acceptance(pv, qv, k, ks::draft_sampling::with_replacement);
            CHECK(sol.acceptance <= opt + 1e-12);
            CHECK(opt <= ks::multi_draft_upper_bound(pv, qv, k) + 1e-12);
            CHECK(sol.acceptance >= (1 - std::exp(-1.0)) * opt);

            // Recursive rejection: with replacement below its optimum, without replacement below its own.
            double kept_with = 0, kept_without = 0;
            const md_setup sw{rule_t::recursive_with_replacement, V, k, 1},
                so{rule_t::recursive_without_replacement, V, k, 1};
            emitted_law(enumerate_iid(q, k, 1),
                        [&](const drafts_t& d) { return prepare(sw, p, q, d); },
                        &kept_with);
            emitted_law(enumerate_without(q, k, 1),
                        [&](const drafts_t& d) { return prepare(so, p, q, d); },
                        &kept_without);
            const double opt_without = ks::optimal_multi_draft_acceptance(pv, qv, k, ks::draft_sampling::without_replacement);
            CHECK(kept_with <= opt + 1e-12);
            CHECK(kept_without <= opt_without + 1e-12);
            CHECK(opt_without >= opt - 1e-12);
        }
    }
}

// ---- greedy, invariance, validation ----------------------------------------------------------

namespace {

struct md_batch_data {
    std::size_t V, k, L, batch;
    std::vector<float> target, draft;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint32_t> counts, lengths;
    std::vector<std::uint64_t> ids, pos;
    ks::token_rows<float> T() const { return ks::probability_rows(target.data(), batch, k * (L + 1), V); }
    ks::token_rows<float> D() const { return ks::probability_rows(draft.data(), batch, k * L, V); }
    ks::multi_draft_batch drafts() const {
        ks::multi_draft_batch b;
        b.tokens = kestrel::matrix_view<const std::int32_t>(tokens.data(), batch, k * L);
        b.max_drafts = k, b.max_length = L;
        b.counts = counts, b.lengths = lengths, b.request_ids = ids, b.positions = pos;
        return b;
    }
};

/// A batch of random requests (rows from counter-based normals; drafts sampled from the draft rows).
md_batch_data random_batch(std::size_t batch, std::size_t V, std::size_t k, std::size_t L, std::uint64_t seed) {
    md_batch_data m{V, k, L, batch, {}, {}, {}, {}, {}, {}, {}};
    const kestrel::counter_rng rng(seed);
    std::uint64_t c = 0;
    auto row = [&](float* out, double sharp) {
        double s = 0;
        std::vector<double> v(V);
        for (std::size_t y = 0; y < V; ++y) v[y] = std::exp(sharp * rng.normal(c++)), s += v[y];
        for (std::size_t y = 0; y < V; ++y) out[y] = static_cast<float>(v[y] / s);
    };
    m.target.resize(batch * k * (L + 1) * V);
    m.draft.resize(batch * k * L * V);
    for (std::size_t r = 0; r < batch * k * (L + 1); ++r) row(&m.target[r * V], 1.5);
    for (std::size_t r = 0; r < batch * k * L; ++r) row(&m.draft[r * V], 1.0);
    m.tokens.resize(batch * k * L);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t j = 0; j < k; ++j)
            for (std::size_t t = 0; t < L; ++t) {
                const float* q = &m.draft[((b * k + j) * L + t) * V];
                double u = rng.uniform_double(c++), cum = 0;
                std::size_t y = 0;
                for (; y + 1 < V; ++y) {
                    cum += q[y];
                    if (u < cum) break;
                }
                m.tokens[b * k * L + j * L + t] = static_cast<std::int32_t>(y);
            }
    for (std::size_t b = 0; b < batch; ++b) {
        m.counts.push_back(static_cast<std::uint32_t>(1 + b % k));
        m.lengths.push_back(static_cast<std::uint32_t>(b % (L + 1)));
        m.ids.push_back(1000 + 17 * b);
        m.pos.push_back(50 + 3 * b);
    }
    return m;
}

}  // namespace

TEST_CASE("multi-draft results do not depend on threads or on the batch order") {
    const std::size_t batch = 24, V = 300, k = 3, L = 3;
    const md_batch_data m = random_batch(batch, V, k, L, 77);
    for (rule_t rule : {rule_t::k_seq, rule_t::recursive_with_replacement}) {
        std::vector<std::int32_t> out1(batch * (L + 1), -1), out2(batch * (L + 1), -1);
        std::vector<ks::request_stats> st1(batch), st2(batch);
        std::vector<std::int32_t> di1(batch), di2(batch);
        ks::verify_options o1, o2;
        o1.policy = kestrel::exec_policy{1};
        o2.policy = kestrel::exec_policy{2};
        ks::verify_multi_draft(rule, m.T(), m.D(), m.drafts(), 99,
                               ks::multi_draft_outputs{kestrel::matrix_view<std::int32_t>(out1.data(), batch, L + 1), st1, {}, di1}, o1);
        ks::verify_multi_draft(rule, m.T(), m.D(), m.drafts(), 99,
                               ks::multi_draft_outputs{kestrel::matrix_view<std::int32_t>(out2.data(), batch, L + 1), st2, {}, di2}, o2);
        CHECK(out1 == out2);
        CHECK(di1 == di2);
        // The batch reversed: request b's rows, drafts and id move to row batch-1-b.
        md_batch_data r = m;
        const std::size_t tpr = k * (L + 1) * V, dpr = k * L * V;
        for (std::size_t b = 0; b < batch; ++b) {
            const std::size_t s = batch - 1 - b;
            std::copy(m.target.begin() + long(b * tpr), m.target.begin() + long((b + 1) * tpr), r.target.begin() + long(s * tpr));
            std::copy(m.draft.begin() + long(b * dpr), m.draft.begin() + long((b + 1) * dpr), r.draft.begin() + long(s * dpr));
            std::copy(m.tokens.begin() + long(b * k * L), m.tokens.begin() + long((b + 1) * k * L), r.tokens.begin() + long(s * k * L));
            r.counts[s] = m.counts[b], r.lengths[s] = m.lengths[b], r.ids[s] = m.ids[b], r.pos[s] = m.pos[b];
        }
        std::vector<std::int32_t> out3(batch * (L + 1), -1);
        std::vector<ks::request_stats> st3(batch);
        ks::verify_multi_draft(rule, r.T(), r.D(), r.drafts(), 99,
                               ks::multi_draft_outputs{kestrel::matrix_view<std::int32_t>(out3.data(), batch, L + 1), st3}, o2);
        for (std::size_t b = 0; b < batch; ++b) {
            const std::size_t s = batch - 1 - b;
            REQUIRE(st3[s].emitted == st1[b].emitted);
            for (std::size_t t = 0; t < st1[b].emitted; ++t) CHECK(out3[s * (L + 1) + t] == out1[b * (L + 1) + t]);
        }
    }
}

TEST_CASE("greedy multi-draft keeps the first candidate equal to the target argmax") {
    const std::size_t batch = 1, V = 5, k = 3, L = 1;
    md_batch_data m = random_batch(batch, V, k, L, 5);
    m.counts = {3};
    m.lengths = {1};
    const float* p0 = &m.target[0];
    const auto a = static_cast<std::int32_t>(std::max_element(p0, p0 + V) - p0);
    for (int variant = 0; variant < 2; ++variant) {
        m.tokens = {static_cast<std::int32_t>((a + 1) % 5), variant ? static_cast<std::int32_t>((a + 2) % 5) : a, a};
        std::vector<std::int32_t> out(2, -1), di(1, -1);
        std::vector<ks::request_stats> st(1);
        ks::verify_options o;
        o.temperature = 0;
        ks::verify_multi_draft(rule_t::recursive_with_replacement, m.T(), m.D(), m.drafts(), 1,
                               ks::multi_draft_outputs{kestrel::matrix_view<std::int32_t>(out.data(), 1, 2), st, {}, di}, o);
        CHECK(out[0] == a);
        CHECK(st[0].accepted == 1u);
        CHECK(di[0] == (variant ? 2 : 1));
    }
}

TEST_CASE("multi-draft verification refuses bad input naming request and position, outputs untouched") {
    const std::size_t batch = 3, V = 6, k = 2, L = 2;
    const md_batch_data good = random_batch(batch, V, k, L, 9);
    auto attempt = [&](const md_batch_data& m, rule_t rule, const std::string& must_contain,
                       const std::function<void(ks::multi_draft_batch&, ks::verify_options&)>& edit = {}) {
        std::vector<std::int32_t> out(batch * (L + 1), -5), di(batch, -6);
        std::vector<ks::request_stats> st(batch);
        st[0].accepted = 42;
        ks::multi_draft_batch d = m.drafts();
        ks::verify_options o;
        if (edit) edit(d, o);
        ks::token_rows<float> D = rule == rule_t::point_mass ? ks::token_rows<float>{} : m.D();
        std::string msg;
        try {
            ks::verify_multi_draft(rule, m.T(), D, d, 1,
                                   ks::multi_draft_outputs{kestrel::matrix_view<std::int32_t>(out.data(), batch, L + 1), st, {}, di},
                                   o);
        } catch (const kestrel::invalid_argument& e) {
            msg = e.what();
        }
        INFO("message: " << msg);
        CHECK(msg.find("verify_multi_draft") != std::string::npos);
        CHECK(msg.find(must_contain) != std::string::npos);
        CHECK(std::all_of(out.begin(), out.end(), [](std::int32_t v) { return v == -5; }));
        CHECK(std::all_of(di.begin(), di.end(), [](std::int32_t v) { return v == -6; }));
        CHECK(st[0].accepted == 42u);
    };
    md_batch_data m = good;
    m.tokens[2 * k * L + 1 * L + 1] = static_cast<std::int32_t>(V);  // request 2, draft 1, position 1
    m.counts[2] = 2, m.lengths[2] = 2;
    attempt(m, rule_t::k_seq, "request 2, draft 1, position 1");
    m = good;
    m.counts = {2, 2, 2}, m.lengths = {2, 2, 2};
    m.draft[(1 * k * L + 0) * V + m.tokens[1 * k * L]] = 0.0f;  // request 1: drafted token with q = 0
    attempt(m, rule_t::recursive_with_replacement, "request 1, position 0");
    m = good;
    m.counts = {2, 2, 2}, m.lengths = {2, 2, 2};
    for (std::size_t y = 0; y < V; ++y) m.target[(1 * k * (L + 1)) * V + y] *= 1.5f;  // request 1, row 0 unnormalized
    attempt(m, rule_t::k_seq, "request 1, position 0");
    m = good;
    m.counts = {2, 2, 2}, m.lengths = {2, 2, 2};
    m.target[(1 * k * (L + 1)) * V + 2] = std::nanf("");
    attempt(m, rule_t::k_seq, "request 1, position 0");
    m = good;
    m.counts = {2, 2, 2}, m.lengths = {2, 2, 2};
    m.tokens[0 * k * L + 0] = m.tokens[0 * k * L + L];  // request 0: drafts 0 and 1 share their first token
    m.tokens[0 * k * L + 1] = (m.tokens[0 * k * L + L + 1] + 1) % static_cast<std::int32_t>(V);
    attempt(m, rule_t::recursive_without_replacement, "request 0, drafts 0 and 1, position 0");
    attempt(good, rule_t::k_seq, "drafts.counts", [](ks::multi_draft_batch& d, ks::verify_options&) {
        static const std::vector<std::uint32_t> c{1, 3, 1};
        d.counts = c;
    });
    attempt(good, rule_t::k_seq, "drafts.lengths", [](ks::multi_draft_batch& d, ks::verify_options&) {
        static const std::vector<std::uint32_t> c{1, 1, 3};
        d.lengths = c;
    });
    attempt(good, rule_t::k_seq, "options.temperature",
            [](ks::multi_draft_batch&, ks::verify_options& o) { o.temperature = -1; });
    // point_mass with draft rows, and a stochastic rule without them
    {
        std::vector<std::int32_t> out(batch * (L + 1), -5);
        std::vector<ks::request_stats> st(batch);
        const ks::multi_draft_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), batch, L + 1), st};
        CHECK_THROWS_AS(ks::verify_multi_draft(rule_t::point_mass, good.T(), good.D(), good.drafts(), 1, o),
                        kestrel::invalid_argument);
        CHECK_THROWS_AS(ks::verify_multi_draft(rule_t::k_seq, good.T(), ks::token_rows<float>{}, good.drafts(), 1, o),
                        kestrel::invalid_argument);
        CHECK(std::all_of(out.begin(), out.end(), [](std::int32_t v) { return v == -5; }));
    }
}

TEST_CASE("typical acceptance refuses bad input naming request and position, outputs untouched") {
    const std::size_t V = 4, K = 2, batch = 2;
    std::vector<double> rows(batch * (K + 1) * V, 0.25);
    std::vector<std::int32_t> toks{0, 1, 2, 3};
    std::vector<std::uint32_t> lengths{2, 2};
    std::vector<std::uint64_t> ids{1, 2}, pos{0, 0};
    const ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(toks.data(), batch, K), lengths, ids, pos};
    auto attempt = [&](const std::vector<double>& r, const ks::typical_options& to, const std::string& must_contain) {
        std::vector<std::int32_t> out(batch * (K + 1), -5);
        std::vector<ks::request_stats> st(batch);
        st[1].accepted = 9;
        std::string msg;
        try {
            ks::verify_typical(ks::probability_rows(r.data(), batch, K + 1, V), db, 1,
                               ks::verify_outputs{kestrel::matrix_view<std::int32_t>(out.data(), batch, K + 1), st}, to);
        } catch (const kestrel::invalid_argument& e) {
            msg = e.what();
        }
        INFO("message: " << msg);
        CHECK(msg.find("verify_typical") != std::string::npos);
        CHECK(msg.find(must_contain) != std::string::npos);
        CHECK(std::all_of(out.begin(), out.end(), [](std::int32_t v) { return v == -5; }));
        CHECK(st[1].accepted == 9u);
    };
    std::vector<double> bad = rows;
    bad[(1 * (K + 1) + 0) * V + 3] = 0.5;  // request 1, position 0 sums to 1.25
    attempt(bad, {}, "request 1, position 0");
    bad = rows;
    bad[(1 * (K + 1) + 0) * V + 2] = std::nan("");
    attempt(bad, {}, "request 1, position 0");
    ks::typical_options neg;
    neg.epsilon = -1;
    attempt(rows, neg, "typical.epsilon");
}
