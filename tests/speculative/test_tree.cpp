// Tree verification: exactness of the real kernel by enumeration over every drafted tree
// (children drawn as each rule assumes) at depth 2, expected kept length against the
// analysis, validation of malformed trees.
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <numeric>
#include <string>
#include <vector>

#include "spec_test_util.hpp"

namespace ks = kestrel::speculative;
using namespace spec_test;
using rule_t = ks::multi_draft_rule;

namespace {

struct tree_shape {
    std::vector<std::int32_t> parents;
};

/// The path tokens to node v (excluding the root).
signature path_of(const std::vector<std::int32_t>& parents, const std::vector<std::int32_t>& tokens, std::size_t v) {
    signature s;
    while (v != 0) {
        s.push_back(tokens[v]);
        v = static_cast<std::size_t>(parents[v]);
    }
    std::reverse(s.begin(), s.end());
    return s;
}

std::vector<std::int32_t> ranked(const std::vector<double>& r) {
    std::vector<std::int32_t> idx(r.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](std::int32_t a, std::int32_t b) { return r[a] > r[b]; });
    return idx;
}

/// Every token assignment of the tree with its probability: node v's token drawn from
/// q(. | path to its parent), i.i.d. among siblings, or without replacement among siblings,
/// or (point mass) the sibling's rank in q.
void enumerate_trees(const tree_shape& t, rule_t rule, const toy_model& q,
                     const std::function<void(const std::vector<std::int32_t>&, double)>& visit) {
    const std::size_t n = t.parents.size();
    std::vector<std::int32_t> tokens(n, 0);
    std::function<void(std::size_t, double)> rec = [&](std::size_t v, double w) {
        if (v == n) {
            visit(tokens, w);
            return;
        }
        const auto u = static_cast<std::size_t>(t.parents[v]);
        const auto qr = q.row(path_of(t.parents, tokens, u));
        std::vector<std::int32_t> earlier;  // earlier siblings' tokens
        for (std::size_t s = 1; s < v; ++s)
            if (static_cast<std::size_t>(t.parents[s]) == u) earlier.push_back(tokens[s]);
        if (rule == rule_t::point_mass) {
            tokens[v] = ranked(qr)[earlier.size()];
            rec(v + 1, w);
            return;
        }
        double used = 0;
        for (auto e : earlier) used += qr[static_cast<std::size_t>(e)];
        for (std::size_t y = 0; y < q.V; ++y) {
            if (!(qr[y] > 0)) continue;  // never drafted
            double wy = w * qr[y];
            if (rule == rule_t::recursive_without_replacement) {
                if (std::find(earlier.begin(), earlier.end(), static_cast<std::int32_t>(y)) != earlier.end()) continue;
                wy = w * qr[y] / (1.0 - used);
            }
            tokens[v] = static_cast<std::int32_t>(y);
            rec(v + 1, wy);
        }
    };
    rec(1, 1.0);
}

/// Runs verify_tree on the tree at batch row 1 of 2 (row 0: a lone root, just a bonus);
/// returns emitted tokens, -1, accepted count. The rows are built once (make_tree_runner).
signature run_tree_rows(rule_t rule, const tree_shape& t, const std::vector<std::int32_t>& tokens, std::size_t V,
                        const std::vector<double>& target, const std::vector<double>& draft, bool logits,
                        std::size_t top_k, const scripted_source& src) {
    const std::size_t n = t.parents.size(), batch = 2;
    std::vector<std::int32_t> parents(batch * n, 0), toks(batch * n, 0);
    parents[0] = -1;
    for (std::size_t v = 0; v < n; ++v) parents[n + v] = t.parents[v], toks[n + v] = tokens[v];
    std::vector<std::uint32_t> sizes{1, static_cast<std::uint32_t>(n)};
    std::vector<std::uint64_t> ids{3, 7}, pos{10, 100};
    ks::tree_batch tb{kestrel::matrix_view<const std::int32_t>(parents.data(), batch, n),
                      kestrel::matrix_view<const std::int32_t>(toks.data(), batch, n), sizes, ids, pos};
    std::size_t depth = 0;
    for (std::size_t v = 1; v < n; ++v) depth = std::max(depth, path_of(t.parents, tokens, v).size());
    std::vector<std::int32_t> out(batch * (depth + 1), -7), nodes(batch * depth, -8);
    std::vector<ks::request_stats> stats(batch);
    ks::tree_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), batch, depth + 1), stats,
                       kestrel::matrix_view<std::int32_t>(nodes.data(), batch, depth)};
    auto TR = logits ? ks::logit_rows(target.data(), batch, n, V) : ks::probability_rows(target.data(), batch, n, V);
    ks::token_rows<double> DR;
    if (rule != rule_t::point_mass)
        DR = logits ? ks::logit_rows(draft.data(), batch, n, V) : ks::probability_rows(draft.data(), batch, n, V);
    ks::verify_options opt;
    opt.policy = kestrel::exec_policy{1};
    opt.top_k = top_k;
    auto source = [&src](const ks::uniform_key& k) { return k.request == 7 ? src(k) : 0.5; };
    static thread_local ks::multi_draft_workspace ws;  // kept across the audit's many runs
    ks::verify_tree_with(rule, TR, DR, tb, source, o, opt, &ws);
    signature s(out.begin() + static_cast<long>(depth + 1),
                out.begin() + static_cast<long>(depth + 1 + stats[1].emitted));
    // The node path must carry the kept tokens and follow parent links from the root.
    std::size_t u = 0;
    for (std::size_t i = 0; i < stats[1].accepted; ++i) {
        const auto v = static_cast<std::size_t>(nodes[depth + i]);
        if (v >= n || static_cast<std::size_t>(t.parents[v]) != u || tokens[v] != s[i])
            throw std::runtime_error("tree outputs: the node path does not match the kept tokens");
        u = v;
    }
    s.push_back(-1);
    s.push_back(static_cast<std::int32_t>(stats[1].accepted));
    return s;
}

std::function<signature(const scripted_source&)> make_tree_runner(rule_t rule, const tree_shape& t,
                                                                  const std::vector<std::int32_t>& tokens,
                                                                  const toy_model& p, const toy_model& q,
                                                                  bool logits = false) {
    const std::size_t n = t.parents.size(), V = p.V, batch = 2;
    auto target = std::make_shared<std::vector<double>>(batch * n * V, logits ? 0.0 : 1.0 / double(V));
    auto draft = std::make_shared<std::vector<double>>(batch * n * V, logits ? 0.0 : 1.0 / double(V));
    // The kernel reads unfiltered rows; a model's top_k becomes options.top_k.
    for (std::size_t v = 0; v < n; ++v) {
        const signature path = path_of(t.parents, tokens, v);
        const auto pr = p.unfiltered().row(path), qr = q.unfiltered().row(path);
        for (std::size_t y = 0; y < V; ++y) {
            (*target)[(n + v) * V + y] = logits ? std::log(pr[y]) - 0.7 : pr[y];
            (*draft)[(n + v) * V + y] = logits ? std::log(qr[y]) + 0.3 : qr[y];
        }
    }
    const std::size_t top_k = p.top_k;
    return [=](const scripted_source& src) {
        return run_tree_rows(rule, t, tokens, V, *target, *draft, logits, top_k, src);
    };
}

std::size_t tree_depth(const tree_shape& t) {
    std::vector<std::size_t> d(t.parents.size(), 0);
    std::size_t m = 0;
    for (std::size_t v = 1; v < d.size(); ++v) m = std::max(m, d[v] = d[static_cast<std::size_t>(t.parents[v])] + 1);
    return m;
}

law tree_emitted_law(rule_t rule, const tree_shape& t, const toy_model& p, const toy_model& q, bool logits,
                     double* mean_accepted = nullptr) {
    law emitted;
    double acc = 0;
    enumerate_trees(t, rule, q, [&](const std::vector<std::int32_t>& tokens, double w) {
        const law l = audit_law_coarse(make_tree_runner(rule, t, tokens, p, q, logits));
        for (const auto& [sg, lw] : l) {
            const auto sep = std::find(sg.begin(), sg.end(), -1);
            emitted[signature(sg.begin(), sep)] += w * lw;
            acc += w * lw * sep[1];
        }
    });
    if (mean_accepted) *mean_accepted = acc;
    return emitted;
}

}  // namespace

TEST_CASE("tree verification follows the target law exactly, by enumeration of the real kernel") {
    const tree_shape binary{{-1, 0, 0, 1, 1, 2, 2}};  // breadth-first numbering
    const tree_shape mixed{{-1, 0, 1, 0, 1, 0}};      // children of 0: 1, 3, 5 (not contiguous); of 1: 2, 4
    const tree_shape chain_and_fan{{-1, 0, 0, 0, 1}};
    struct cfg {
        rule_t rule;
        const tree_shape* shape;
        std::size_t V;
        bool logits;
        bool heavy;  // run only when spec_test::full_enumeration
    };
    for (const cfg c : {cfg{rule_t::recursive_with_replacement, &mixed, 3, true, true},
                        cfg{rule_t::recursive_with_replacement, &binary, 2, false, false},
                        cfg{rule_t::k_seq, &binary, 3, false, true}, cfg{rule_t::k_seq, &binary, 2, false, false},
                        cfg{rule_t::k_seq, &chain_and_fan, 3, false, false},
                        cfg{rule_t::recursive_without_replacement, &binary, 3, false, false},
                        cfg{rule_t::recursive_without_replacement, &mixed, 4, false, true},
                        cfg{rule_t::point_mass, &binary, 4, false, false}, cfg{rule_t::point_mass, &mixed, 5, true, false},
                        cfg{rule_t::point_mass, &chain_and_fan, 5, false, false}}) {
        if (c.heavy && !full_enumeration) continue;
        const toy_model p{c.V, 900 + c.V + c.shape->parents.size(), 1.1}, q{c.V, 950 + c.V, 1.0};
        const std::size_t D = tree_depth(*c.shape);
        INFO("rule " << int(c.rule) << " nodes " << c.shape->parents.size() << " V " << c.V);
        const law got = complete_with_target(tree_emitted_law(c.rule, *c.shape, p, q, c.logits), p, D + 1);
        CHECK(max_abs_difference(got, target_joint(p, D + 1)) < 1e-12);
    }
}

TEST_CASE("tree verification with top-k follows the filtered target law exactly") {
    const tree_shape chain_and_fan{{-1, 0, 0, 0, 1}};
    const std::size_t V = 5, top_k = 3;
    const toy_model p{V, 801, 1.0, top_k}, q{V, 802, 1.0, top_k};
    for (rule_t rule : {rule_t::recursive_with_replacement, rule_t::k_seq, rule_t::recursive_without_replacement,
                        rule_t::point_mass}) {
        INFO("rule " << int(rule));
        const law got = complete_with_target(tree_emitted_law(rule, chain_and_fan, p, q, false), p, 3);
        CHECK(max_abs_difference(got, target_joint(p, 3)) < 1e-12);
    }
}

TEST_CASE("the tree's mean kept length equals the analysis for fixed trees") {
    const tree_shape t{{-1, 0, 0, 1, 1, 2}};
    const std::size_t V = 5;
    const toy_model p{V, 3, 1.3}, q{V, 4, 1.0};
    const std::vector<std::int32_t> tokens{0, 1, 1, 2, 0, 3};  // duplicate siblings 1, 1 (i.i.d. rules)
    const std::vector<std::int32_t> distinct{0, 1, 3, 2, 0, 3};
    for (rule_t rule : {rule_t::recursive_with_replacement, rule_t::k_seq, rule_t::recursive_without_replacement,
                        rule_t::point_mass}) {
        const auto& tk = (rule == rule_t::recursive_without_replacement || rule == rule_t::point_mass) ? distinct : tokens;
        double mean = 0;
        const law l = audit_law_coarse(make_tree_runner(rule, t, tk, p, q));
        for (const auto& [sg, w] : l) mean += w * *(std::find(sg.begin(), sg.end(), -1) + 1);
        // accept[v] from sibling_acceptance at v's parent.
        std::vector<double> accept(t.parents.size(), 0.0);
        for (std::size_t u = 0; u < t.parents.size(); ++u) {
            std::vector<std::int32_t> kids, cand;
            for (std::size_t v = 1; v < t.parents.size(); ++v)
                if (static_cast<std::size_t>(t.parents[v]) == u) kids.push_back(static_cast<std::int32_t>(v)), cand.push_back(tk[v]);
            if (kids.empty()) continue;
            const auto path = path_of(t.parents, tk, u);
            const auto pr = p.row(path), qr = q.row(path);
            const auto a = ks::sibling_acceptance(kestrel::vector_view<const double>(pr), kestrel::vector_view<const double>(qr),
                                                  kestrel::vector_view<const std::int32_t>(cand), rule);
            for (std::size_t i = 0; i < kids.size(); ++i) accept[static_cast<std::size_t>(kids[i])] = a[i];
        }
        const double e = ks::expected_tree_accepted_length(t.parents, accept);
        INFO("rule " << int(rule) << " kernel " << mean << " analysis " << e);
        CHECK(mean == Approx(e).margin(1e-12));
    }
    // Point masses: the closed form from the target rows directly.
    std::vector<double> rows;
    for (std::size_t v = 0; v < t.parents.size(); ++v) {
        const auto r = p.row(path_of(t.parents, distinct, v));
        rows.insert(rows.end(), r.begin(), r.end());
    }
    double mean = 0;
    const law l = audit_law_coarse(make_tree_runner(rule_t::point_mass, t, distinct, p, q));
    for (const auto& [sg, w] : l) mean += w * *(std::find(sg.begin(), sg.end(), -1) + 1);
    CHECK(mean == Approx(ks::expected_tree_accepted_length_point_mass(
                              t.parents, distinct, kestrel::matrix_view<const double>(rows.data(), t.parents.size(), V)))
                      .margin(1e-12));
}

TEST_CASE("tree verification refuses malformed trees naming request and node, outputs untouched") {
    const std::size_t V = 4, n = 4, batch = 2;
    std::vector<double> target(batch * n * V, 0.25), draft(batch * n * V, 0.25);
    auto attempt = [&](std::vector<std::int32_t> parents, std::vector<std::int32_t> tokens, rule_t rule,
                       const std::string& must_contain, std::size_t out_cols = 4) {
        std::vector<std::int32_t> P(batch * n, 0), Tk(batch * n, 0);
        P[0] = -1, P[1] = 0, P[2] = 0, P[3] = 1;  // request 0: a good tree
        Tk[1] = 1, Tk[2] = 2, Tk[3] = 3;
        for (std::size_t v = 0; v < n; ++v) P[n + v] = parents[v], Tk[n + v] = tokens[v];
        std::vector<std::uint32_t> sizes{4, 4};
        std::vector<std::uint64_t> ids{1, 2}, pos{0, 0};
        ks::tree_batch tb{kestrel::matrix_view<const std::int32_t>(P.data(), batch, n),
                          kestrel::matrix_view<const std::int32_t>(Tk.data(), batch, n), sizes, ids, pos};
        std::vector<std::int32_t> out(batch * out_cols, -5);
        std::vector<ks::request_stats> st(batch);
        st[1].emitted = 77;
        ks::tree_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), batch, out_cols), st};
        ks::token_rows<double> DR;
        if (rule != rule_t::point_mass) DR = ks::probability_rows(draft.data(), batch, n, V);
        std::string msg;
        try {
            ks::verify_tree(rule, ks::probability_rows(target.data(), batch, n, V), DR, tb, 1, o);
        } catch (const kestrel::invalid_argument& e) {
            msg = e.what();
        }
        INFO("message: " << msg);
        CHECK(msg.find("verify_tree") != std::string::npos);
        CHECK(msg.find(must_contain) != std::string::npos);
        CHECK(std::all_of(out.begin(), out.end(), [](std::int32_t v) { return v == -5; }));
        CHECK(st[1].emitted == 77u);
    };
    attempt({0, 0, 0, 1}, {0, 1, 2, 3}, rule_t::k_seq, "request 1, node 0");             // root's parent not -1
    attempt({-1, 0, 3, 1}, {0, 1, 2, 3}, rule_t::k_seq, "request 1, node 2: parent 3");  // child before parent
    attempt({-1, 2, 1, 0}, {0, 1, 2, 3}, rule_t::k_seq, "request 1, node 1");           // a cycle 1 <-> 2
    attempt({-1, 0, 0, 5}, {0, 1, 2, 3}, rule_t::k_seq, "request 1, node 3");           // parent out of range
    attempt({-1, 0, 0, 1}, {0, 1, 4, 3}, rule_t::k_seq, "request 1, node 2: token id 4");
    attempt({-1, 0, 0, 1}, {0, 1, 1, 3}, rule_t::point_mass, "request 1, nodes 1 and 2");
    attempt({-1, 0, 0, 1}, {0, 1, 1, 3}, rule_t::recursive_without_replacement, "request 1, nodes 1 and 2");
    attempt({-1, 0, 1, 2}, {0, 1, 1, 3}, rule_t::k_seq, "outputs.tokens", 3);  // depth 3 needs 4 columns
    // Duplicate siblings are fine for the i.i.d. rules.
    {
        std::vector<std::int32_t> P{-1, 0, 0, 1, -1, 0, 0, 1}, Tk{0, 1, 1, 3, 0, 2, 2, 1};
        std::vector<std::uint32_t> sizes{4, 4};
        std::vector<std::uint64_t> ids{1, 2}, pos{0, 0};
        ks::tree_batch tb{kestrel::matrix_view<const std::int32_t>(P.data(), batch, n),
                          kestrel::matrix_view<const std::int32_t>(Tk.data(), batch, n), sizes, ids, pos};
        std::vector<std::int32_t> out(batch * 3, -5);
        std::vector<ks::request_stats> st(batch);
        CHECK_NOTHROW(ks::verify_tree(rule_t::recursive_with_replacement, ks::probability_rows(target.data(), batch, n, V),
                                      ks::probability_rows(draft.data(), batch, n, V), tb, 1,
                                      ks::tree_outputs{kestrel::matrix_view<std::int32_t>(out.data(), batch, 3), st}));
        // p == q everywhere: every level keeps a child, then a bonus.
        CHECK(st[0].accepted == 2u);
        CHECK(st[0].emitted == 3u);
    }
}

TEST_CASE("tree verification gives the same tokens at any thread count and batch order") {
    const std::size_t batch = 8, n = 64, V = 200;
    const kestrel::counter_rng rng(123);
    std::uint64_t c = 0;
    std::vector<std::int32_t> parents(batch * n), tokens(batch * n);
    std::vector<float> target(batch * n * V), draft(batch * n * V);
    for (std::size_t b = 0; b < batch; ++b) {
        parents[b * n] = -1;
        for (std::size_t v = 1; v < n; ++v) {
            // Parents among the last few nodes: trees a few levels deep with several children.
            const std::size_t lo = v > 6 ? v - 6 : 0;
            parents[b * n + v] = static_cast<std::int32_t>(lo + (rng.bits32(c++) % (v - lo)));
            tokens[b * n + v] = static_cast<std::int32_t>(rng.bits32(c++) % V);
        }
        for (std::size_t r = 0; r < n; ++r) {
            double sp = 0, sq = 0;
            std::vector<double> pv(V), qv(V);
            for (std::size_t y = 0; y < V; ++y) pv[y] = std::exp(2.0 * rng.normal(c++)), qv[y] = std::exp(rng.normal(c++)),
                                               sp += pv[y], sq += qv[y];
            for (std::size_t y = 0; y < V; ++y)
                target[(b * n + r) * V + y] = float(pv[y] / sp), draft[(b * n + r) * V + y] = float(qv[y] / sq);
        }
    }
    std::vector<std::uint32_t> sizes(batch, static_cast<std::uint32_t>(n));
    std::vector<std::uint64_t> ids, pos;
    for (std::size_t b = 0; b < batch; ++b) ids.push_back(40 + b), pos.push_back(1000 * b);
    std::size_t depth = 0;
    for (std::size_t b = 0; b < batch; ++b) {
        std::vector<std::size_t> d(n, 0);
        for (std::size_t v = 1; v < n; ++v) depth = std::max(depth, d[v] = d[static_cast<std::size_t>(parents[b * n + v])] + 1);
    }
    auto run = [&](const std::vector<std::int32_t>& P, const std::vector<std::int32_t>& Tk, const std::vector<float>& tr,
                   const std::vector<float>& dr, const std::vector<std::uint64_t>& id, const std::vector<std::uint64_t>& ps,
                   int threads, std::vector<ks::request_stats>& st, std::vector<std::int32_t>& nodes) {
        std::vector<std::int32_t> out(batch * (depth + 1), -1);
        nodes.assign(batch * depth, -1);
        st.assign(batch, {});
        ks::tree_batch tb{kestrel::matrix_view<const std::int32_t>(P.data(), batch, n),
                          kestrel::matrix_view<const std::int32_t>(Tk.data(), batch, n), sizes, id, ps};
        ks::verify_options o;
        o.policy = kestrel::exec_policy{threads};
        ks::verify_tree(rule_t::recursive_with_replacement, ks::probability_rows(tr.data(), batch, n, V),
                        ks::probability_rows(dr.data(), batch, n, V), tb, 5,
                        ks::tree_outputs{kestrel::matrix_view<std::int32_t>(out.data(), batch, depth + 1), st,
                                         kestrel::matrix_view<std::int32_t>(nodes.data(), batch, depth)},
                        o);
        return out;
    };
    std::vector<ks::request_stats> s1, s2, s3;
    std::vector<std::int32_t> n1, n2, n3;
    const auto o1 = run(parents, tokens, target, draft, ids, pos, 1, s1, n1);
    const auto o2 = run(parents, tokens, target, draft, ids, pos, 2, s2, n2);
    CHECK(o1 == o2);
    CHECK(n1 == n2);
    std::size_t kept = 0;
    for (const auto& st : s1) kept += st.accepted;
    CHECK(kept > 0);  // the trees are deep enough to keep something
    // Reversed batch.
    std::vector<std::int32_t> P(batch * n), Tk(batch * n);
    std::vector<float> tr(target.size()), dr(draft.size());
    std::vector<std::uint64_t> id(batch), ps(batch);
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t r = batch - 1 - b;
        std::copy(parents.begin() + long(b * n), parents.begin() + long((b + 1) * n), P.begin() + long(r * n));
        std::copy(tokens.begin() + long(b * n), tokens.begin() + long((b + 1) * n), Tk.begin() + long(r * n));
        std::copy(target.begin() + long(b * n * V), target.begin() + long((b + 1) * n * V), tr.begin() + long(r * n * V));
        std::copy(draft.begin() + long(b * n * V), draft.begin() + long((b + 1) * n * V), dr.begin() + long(r * n * V));
        id[r] = ids[b], ps[r] = pos[b];
    }
    const auto o3 = run(P, Tk, tr, dr, id, ps, 2, s3, n3);
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t r = batch - 1 - b;
        REQUIRE(s3[r].emitted == s1[b].emitted);
        for (std::size_t t = 0; t < s1[b].emitted; ++t) CHECK(o3[r * (depth + 1) + t] == o1[b * (depth + 1) + t]);
        for (std::size_t t = 0; t < s1[b].accepted; ++t) CHECK(n3[r * depth + t] == n1[b * depth + t]);
    }
}
