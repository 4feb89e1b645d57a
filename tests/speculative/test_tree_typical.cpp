// Typical acceptance on token trees (Medusa's form): against Medusa's own candidate-path
// formulation written here (accepted length by cumulative product over each leaf path, the
// longest, then the largest likelihood), against the chain verifier on chain-shaped trees,
// rows below a failed node never read, thread-count invariance and bad input.
#include <catch2/catch.hpp>

#include <kestrel/speculative/tree_typical.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace ks = kestrel::speculative;

namespace {

/// Peaked random probability rows: one large entry, the rest small, so typical tests pass
/// often enough to build long paths.
std::vector<double> peaked_rows(std::size_t rows, std::size_t V, std::mt19937_64& g) {
    std::uniform_real_distribution<double> u(0.05, 1.0);
    std::vector<double> r(rows * V);
    for (std::size_t i = 0; i < rows; ++i) {
        double s = 0;
        const std::size_t head = g() % V;
        for (std::size_t y = 0; y < V; ++y) s += (r[i * V + y] = u(g) * (y == head ? 3.0 * V : 1.0));
        for (std::size_t y = 0; y < V; ++y) r[i * V + y] /= s;
    }
    return r;
}

struct medusa_choice {
    std::vector<std::int32_t> nodes;  // accepted path, root excluded
    std::int32_t next = -1;           // argmax of the end node's row
};

/// Medusa's evaluate_posterior over the leaf paths of the tree (candidates in increasing leaf
/// id), written from the paper's rule: mask = p_parent(token) > min(eps, delta exp(-H_parent))
/// (greedy: token == argmax), accepted length = cumulative product of the mask, best = the
/// longest, then the largest sum of log p over the accepted prefix, then the first.
medusa_choice medusa_reference(const std::vector<std::int32_t>& parents, const std::vector<std::int32_t>& tokens,
                               const std::vector<double>& rows, std::size_t V, bool greedy, double eps,
                               double delta) {
    const std::size_t n = parents.size();
    auto row = [&](std::size_t v) { return rows.data() + v * V; };
    auto argmax = [&](std::size_t v) {
        return static_cast<std::int32_t>(std::max_element(row(v), row(v) + V) - row(v));
    };
    std::vector<char> has_child(n, 0);
    for (std::size_t v = 1; v < n; ++v) has_child[static_cast<std::size_t>(parents[v])] = 1;
    std::size_t best_len = 0;
    double best_lik = -std::numeric_limits<double>::infinity();
    std::vector<std::int32_t> best_path;
    for (std::size_t leaf = 1; leaf < n; ++leaf) {
        if (has_child[leaf]) continue;
        std::vector<std::int32_t> path;
        for (std::size_t v = leaf; v != 0; v = static_cast<std::size_t>(parents[v]))
            path.push_back(static_cast<std::int32_t>(v));
        std::reverse(path.begin(), path.end());
        std::size_t len = 0;
        double lik = 0;
        for (auto v : path) {
            const auto u = static_cast<std::size_t>(parents[static_cast<std::size_t>(v)]);
            const double p = row(u)[tokens[static_cast<std::size_t>(v)]];
            bool pass;
            if (greedy) {
                pass = tokens[static_cast<std::size_t>(v)] == argmax(u);
            } else {
                double h = 0;
                for (std::size_t y = 0; y < V; ++y) h -= row(u)[y] * std::log(row(u)[y] + 1e-5);
                pass = p > std::min(eps, delta * std::exp(-h));
            }
            if (!pass) break;
            ++len;
            lik += std::log(p);
        }
        if (len > best_len || (len == best_len && len > 0 && !greedy && lik > best_lik)) {
            best_len = len, best_lik = lik;
            best_path.assign(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(len));
        }
    }
    medusa_choice c;
    c.nodes = best_path;
    c.next = argmax(best_path.empty() ? 0 : static_cast<std::size_t>(best_path.back()));
    return c;
}

/// A random tree with distinct sibling tokens (Medusa's trees have them).
void random_tree(std::size_t n, std::size_t V, std::mt19937_64& g, std::vector<std::int32_t>& parents,
                 std::vector<std::int32_t>& tokens) {
    parents.assign(n, -1);
    tokens.assign(n, 0);
    for (std::size_t v = 1; v < n; ++v) {
        for (;;) {
            // Favour deep trees: the parent is among the last few nodes.
            const std::size_t lo = v > 3 ? v - 3 : 0;
            const auto p = static_cast<std::int32_t>(lo + g() % (v - lo));
            std::vector<std::int32_t> used;
            for (std::size_t w = 1; w < v; ++w)
                if (parents[w] == p) used.push_back(tokens[w]);
            if (used.size() >= V) continue;
            std::int32_t x;
            do x = static_cast<std::int32_t>(g() % V);
            while (std::find(used.begin(), used.end(), x) != used.end());
            parents[v] = p, tokens[v] = x;
            break;
        }
    }
}

struct tree_run {
    std::vector<std::int32_t> out, nodes;
    std::vector<ks::request_stats> stats;
};

tree_run run_trees(const std::vector<std::int32_t>& parents, const std::vector<std::int32_t>& tokens,
                   const std::vector<std::uint32_t>& sizes, std::size_t n, const std::vector<double>& rows,
                   std::size_t V, std::size_t depth, const ks::typical_options& to, const ks::verify_options& opt) {
    const std::size_t batch = sizes.size();
    std::vector<std::uint64_t> ids(batch), pos(batch);
    for (std::size_t b = 0; b < batch; ++b) ids[b] = 11 + b, pos[b] = 40 + 3 * b;
    ks::tree_batch tb{kestrel::matrix_view<const std::int32_t>(parents.data(), batch, n),
                      kestrel::matrix_view<const std::int32_t>(tokens.data(), batch, n), sizes, ids, pos};
    tree_run r;
    r.out.assign(batch * (depth + 1), -7);
    r.nodes.assign(batch * depth, -8);
    r.stats.resize(batch);
    ks::tree_outputs o{kestrel::matrix_view<std::int32_t>(r.out.data(), batch, depth + 1), r.stats,
                       kestrel::matrix_view<std::int32_t>(r.nodes.data(), batch, depth)};
    ks::verify_tree_typical(ks::probability_rows(rows.data(), batch, n, V), tb, 5, o, to, opt);
    return r;
}

std::size_t tree_depth(const std::vector<std::int32_t>& parents) {
    std::vector<std::size_t> d(parents.size(), 0);
    std::size_t m = 0;
    for (std::size_t v = 1; v < parents.size(); ++v) m = std::max(m, d[v] = d[static_cast<std::size_t>(parents[v])] + 1);
    return m;
}

}  // namespace

TEST_CASE("tree typical acceptance picks Medusa's candidate and reads no row below a failed node") {
    std::mt19937_64 g(2024);
    const std::size_t V = 5;
    std::size_t long_paths = 0, likelihood_decided = 0;
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t n = 4 + g() % 12;
        std::vector<std::int32_t> parents, tokens;
        random_tree(n, V, g, parents, tokens);
        std::vector<double> rows = peaked_rows(n, V, g);
        // Drafts often follow the argmax, as real draft heads do.
        for (std::size_t v = 1; v < n; ++v)
            if (g() % 2) {
                const double* r = rows.data() + static_cast<std::size_t>(parents[v]) * V;
                const auto a = static_cast<std::int32_t>(std::max_element(r, r + V) - r);
                bool taken = false;
                for (std::size_t w = 1; w < n; ++w) taken |= w != v && parents[w] == parents[v] && tokens[w] == a;
                if (!taken) tokens[v] = a;
            }
        const bool greedy = trial % 3 == 0;
        const double eps = 0.09, delta = 0.3;
        const medusa_choice want = medusa_reference(parents, tokens, rows, V, greedy, eps, delta);
        long_paths += want.nodes.size() >= 2;

        // Rows the rule needs: kept nodes with children, and the end node. Every other row
        // becomes NaN: reading one would throw.
        std::vector<char> kept(n, 0), needed(n, 0);
        kept[0] = 1;
        // A node is kept iff it and every ancestor pass (parents precede children).
        for (std::size_t v = 1; v < n; ++v) {
            const auto u = static_cast<std::size_t>(parents[v]);
            if (!kept[u]) continue;
            needed[u] = 1;
            const double* r = rows.data() + u * V;
            double h = 0;
            for (std::size_t y = 0; y < V; ++y) h -= r[y] * std::log(r[y] + 1e-5);
            const double p = r[tokens[v]];
            kept[v] = greedy ? tokens[v] == std::max_element(r, r + V) - r : p > std::min(eps, delta * std::exp(-h));
        }
        const std::size_t end = want.nodes.empty() ? 0 : static_cast<std::size_t>(want.nodes.back());
        needed[end] = 1;
        std::vector<double> sparse = rows;
        for (std::size_t v = 0; v < n; ++v)
            if (!needed[v]) std::fill(sparse.begin() + static_cast<std::ptrdiff_t>(v * V), sparse.begin() + static_cast<std::ptrdiff_t>((v + 1) * V), std::numeric_limits<double>::quiet_NaN());

        // Did the likelihood decide between two different kept nodes of the longest length?
        std::size_t at_best_depth = 0;
        {
            std::vector<std::size_t> d(n, 0);
            for (std::size_t v = 1; v < n; ++v) d[v] = d[static_cast<std::size_t>(parents[v])] + 1;
            for (std::size_t v = 1; v < n; ++v) at_best_depth += kept[v] && d[v] == want.nodes.size();
        }
        likelihood_decided += !greedy && at_best_depth >= 2;

        ks::typical_options to;
        to.epsilon = eps, to.delta = delta;
        ks::verify_options opt;
        opt.temperature = greedy ? 0.0 : 1.0;
        const std::size_t depth = tree_depth(parents);
        std::vector<std::uint32_t> sizes{static_cast<std::uint32_t>(n)};
        INFO("trial " << trial << ", n = " << n << (greedy ? ", greedy" : ""));
        tree_run r;
        REQUIRE_NOTHROW(r = run_trees(parents, tokens, sizes, n, sparse, V, depth, to, opt));
        REQUIRE(r.stats[0].accepted == want.nodes.size());
        CHECK(r.stats[0].emitted == want.nodes.size() + 1);
        for (std::size_t i = 0; i < want.nodes.size(); ++i) {
            CHECK(r.nodes[i] == want.nodes[i]);
            CHECK(r.out[i] == tokens[static_cast<std::size_t>(want.nodes[i])]);
        }
        CHECK(r.out[want.nodes.size()] == want.next);
    }
    // The cases that matter occurred: long accepted paths, and ties in length broken by likelihood.
    CHECK(long_paths >= 30);
    CHECK(likelihood_decided >= 10);
}

TEST_CASE("tree typical acceptance on a chain-shaped tree equals chain typical acceptance") {
    std::mt19937_64 g(77);
    const std::size_t V = 6, K = 5;
    for (int trial = 0; trial < 60; ++trial) {
        std::vector<double> rows = peaked_rows(K + 1, V, g);
        std::vector<std::int32_t> drafts(K), parents(K + 1), tokens(K + 1, 0);
        for (std::size_t i = 0; i < K; ++i) {
            const double* r = rows.data() + i * V;
            drafts[i] = g() % 3 ? static_cast<std::int32_t>(std::max_element(r, r + V) - r)
                                : static_cast<std::int32_t>(g() % V);
        }
        parents[0] = -1;
        for (std::size_t v = 1; v <= K; ++v) parents[v] = static_cast<std::int32_t>(v - 1), tokens[v] = drafts[v - 1];
        for (bool sample : {false, true}) {
            for (double temp : {0.0, 1.0}) {
                ks::typical_options to;
                to.sample_correction = sample;
                ks::verify_options opt;
                opt.temperature = temp;
                std::vector<std::uint32_t> lengths{static_cast<std::uint32_t>(K)}, sizes{static_cast<std::uint32_t>(K + 1)};
                std::vector<std::uint64_t> ids{11}, pos{40};
                ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(drafts.data(), 1, K), lengths, ids, pos};
                std::vector<std::int32_t> chain_out(K + 1, -7);
                std::vector<ks::request_stats> chain_stats(1);
                ks::verify_typical(ks::probability_rows(rows.data(), 1, K + 1, V), db, 5,
                                   ks::verify_outputs{kestrel::matrix_view<std::int32_t>(chain_out.data(), 1, K + 1), chain_stats},
                                   to, opt);
                const tree_run r = run_trees(parents, tokens, sizes, K + 1, rows, V, K, to, opt);
                INFO("trial " << trial << " sample " << sample << " temperature " << temp);
                CHECK(r.stats[0].accepted == chain_stats[0].accepted);
                CHECK(r.stats[0].emitted == chain_stats[0].emitted);
                CHECK(std::vector<std::int32_t>(r.out.begin(), r.out.begin() + r.stats[0].emitted) ==
                      std::vector<std::int32_t>(chain_out.begin(), chain_out.begin() + chain_stats[0].emitted));
            }
        }
    }
}

TEST_CASE("tree typical acceptance is thread-count invariant and refuses bad input before writing") {
    std::mt19937_64 g(5);
    const std::size_t V = 7, n = 12, batch = 24;
    std::vector<std::int32_t> parents, tokens, P, Tk;
    std::vector<std::uint32_t> sizes;
    for (std::size_t b = 0; b < batch; ++b) {
        random_tree(n, V, g, parents, tokens);
        P.insert(P.end(), parents.begin(), parents.end());
        Tk.insert(Tk.end(), tokens.begin(), tokens.end());
        sizes.push_back(static_cast<std::uint32_t>(2 + b % (n - 1)));
    }
    const std::vector<double> rows = peaked_rows(batch * n, V, g);
    ks::typical_options to;
    to.sample_correction = true;
    std::vector<tree_run> runs;
    for (int threads : {1, 2, 3}) {
        ks::verify_options opt;
        opt.policy = kestrel::exec_policy{threads};
        runs.push_back(run_trees(P, Tk, sizes, n, rows, V, n - 1, to, opt));
    }
    for (std::size_t t = 1; t < runs.size(); ++t) {
        CHECK(runs[t].out == runs[0].out);
        CHECK(runs[t].nodes == runs[0].nodes);
        for (std::size_t b = 0; b < batch; ++b) CHECK(runs[t].stats[b].emitted == runs[0].stats[b].emitted);
    }

    // Bad input: a parent after its child, a negative epsilon, a row that does not sum to 1.
    auto expect_refusal = [&](std::vector<std::int32_t> par, std::vector<double> r, ks::typical_options o,
                              const std::string& needle) {
        tree_run out;
        out.out.assign(batch * n, -7);
        out.stats.resize(batch);
        std::vector<std::uint64_t> ids(batch, 1), pos(batch, 0);
        ks::tree_batch tb{kestrel::matrix_view<const std::int32_t>(par.data(), batch, n),
                          kestrel::matrix_view<const std::int32_t>(Tk.data(), batch, n), sizes, ids, pos};
        try {
            ks::verify_tree_typical(ks::probability_rows(r.data(), batch, n, V), tb, 5,
                                    ks::tree_outputs{kestrel::matrix_view<std::int32_t>(out.out.data(), batch, n), out.stats}, o);
            FAIL("no error for " << needle);
        } catch (const kestrel::invalid_argument& e) {
            const std::string msg = e.what();
            INFO(msg);
            CHECK(msg.find("verify_tree_typical") != std::string::npos);
            CHECK(msg.find(needle) != std::string::npos);
        }
        CHECK(std::all_of(out.out.begin(), out.out.end(), [](std::int32_t x) { return x == -7; }));
        CHECK(std::all_of(out.stats.begin(), out.stats.end(), [](const ks::request_stats& s) { return s.emitted == 0; }));
    };
    auto bad_parent = P;
    bad_parent[3 * n + 1] = 5;  // request 3, node 1: parent after the node
    expect_refusal(bad_parent, rows, to, "trees.parents");
    ks::typical_options neg = to;
    neg.epsilon = -0.1;
    expect_refusal(P, rows, neg, "typical.epsilon");
    auto unnormalized = rows;
    for (std::size_t y = 0; y < V; ++y) unnormalized[(5 * n) * V + y] *= 1.5;  // request 5's root row
    expect_refusal(P, unnormalized, to, "sums to");
}

namespace {

/// -sum p log(p + 1e-5) and sum p from the law's scalar accessor, in long double.
template <class T>
std::pair<long double, long double> entropy_reference(const ks::detail::row_law<T>& P) {
    long double h = 0.0L, s = 0.0L;
    for (std::size_t y = 0; y < P.n; ++y) {
        const long double p = static_cast<long double>(P.prob(y));
        s += p;
        h -= p * std::log(p + 1e-5L);
    }
    return {h, s};
}

template <class T>
void check_entropy_pass(const std::vector<T>& row, bool logits, double temperature, std::size_t top_k) {
    ks::sampling_workspace ws;
    ks::sampling_filters f;
    f.top_k = top_k;
    const ks::detail::law_reader<T> rd{"test", 0, 1.0 / temperature, 1e-6, f, &ws};
    const auto rows = logits ? ks::logit_rows(row.data(), 1, 1, row.size()) : ks::probability_rows(row.data(), 1, 1, row.size());
    const auto P = rd.law(rows, 0, "target");
    const double h = ks::detail::typical_entropy(rd, P, 0);
    const auto ref = entropy_reference(P);
    INFO("logits " << logits << " T " << temperature << " top_k " << top_k << " H " << h << " reference "
                   << static_cast<double>(ref.first));
    // Float logit rows without a filter: float lanes (terms to about 3e-7); others: double.
    const long double tol = std::is_same<T, float>::value && logits && top_k == 0 ? 1e-6L : 1e-12L;
    CHECK(std::abs(static_cast<long double>(h) - ref.first) <= tol * (1.0L + std::abs(ref.first)));
}

}  // namespace

TEST_CASE("typical acceptance's entropy pass equals the scalar formula on every kind of row") {
    // 10007 entries: three chunks and a ragged end; peaked and flat parts.
    const std::size_t V = 10007;
    std::mt19937_64 g(12);
    std::normal_distribution<double> nd(0.0, 3.0);
    std::vector<double> ld(V), pd(V);
    for (std::size_t y = 0; y < V; ++y) ld[y] = nd(g) + (y % 997 == 0 ? 12.0 : 0.0);
    double z = 0.0;
    for (std::size_t y = 0; y < V; ++y) z += (pd[y] = std::exp(ld[y]));
    for (auto& p : pd) p /= z;
    const std::vector<float> lf(ld.begin(), ld.end()), pf(pd.begin(), pd.end());
    for (double t : {1.0, 0.7}) {
        check_entropy_pass(lf, true, t, 0);
        check_entropy_pass(ld, true, t, 0);
        check_entropy_pass(lf, true, t, 40);
    }
    check_entropy_pass(pd, false, 1.0, 0);
    check_entropy_pass(pd, false, 1.0, 40);
    // float probabilities: the row check tolerance 1e-6 holds for their rounding
    check_entropy_pass(pf, false, 1.0, 0);
}

TEST_CASE("typical acceptance's correction is the lowest-id argmax on float logit rows, ties across chunks included") {
    // One position, V = 3 chunks and a ragged end; the drafted token (id 1) has a tiny
    // probability, so it is rejected and the correction is the target's argmax.
    const std::size_t V = 3 * 4096 + 77;
    struct layout {
        std::vector<std::size_t> maxima;  // ids holding the row's maximum
        bool neg_inf_chunk;               // chunk 1 all -inf
    };
    for (const layout& L : {layout{{5000}, false}, layout{{9000, 300}, false}, layout{{4095, 4096}, false},
                            layout{{12300, 8192}, true}, layout{{12288 + 76}, true}, layout{{8191, 8190, 100}, false}}) {
        std::vector<float> row(2 * V);
        std::mt19937 g(3);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        for (auto& v : row) v = nd(g);
        row[1] = -30.0f;
        if (L.neg_inf_chunk)
            for (std::size_t y = 4096; y < 8192; ++y) row[y] = -std::numeric_limits<float>::infinity();
        for (std::size_t m : L.maxima) row[m] = 9.5f;
        std::size_t expect = *std::min_element(L.maxima.begin(), L.maxima.end());
        std::vector<std::int32_t> toks{1}, out(2, -7);
        std::vector<std::uint32_t> lengths{1};
        std::vector<std::uint64_t> ids{4}, pos{0};
        ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(toks.data(), 1, 1), lengths, ids, pos};
        std::vector<ks::request_stats> stats(1);
        ks::verify_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), 1, 2), stats};
        ks::verify_typical(ks::logit_rows(row.data(), 1, 2, V), db, 3, o);
        INFO("maximum at " << L.maxima.front() << " (" << L.maxima.size() << " ties)");
        CHECK(stats[0].accepted == 0u);
        CHECK(out[0] == static_cast<std::int32_t>(expect));
        // The bonus path reads the same rule: accept everything with epsilon = delta = 0.
        ks::typical_options keep_all;
        keep_all.epsilon = 0.0;
        keep_all.delta = 0.0;
        std::copy(row.begin(), row.begin() + V, row.begin() + V);  // bonus row = the same row
        ks::verify_typical(ks::logit_rows(row.data(), 1, 2, V), db, 3, o, keep_all);
        CHECK(stats[0].accepted == 1u);
        CHECK(out[1] == static_cast<std::int32_t>(expect));
    }
}

#if KESTREL_HAS_XSIMD
TEST_CASE("the entropy pass's float log is within 2 ulp of log from 1e-5 to 1 + 1e-5") {
    // Every 61st float of the range (about 1.7e6 of them), against the double log rounded.
    double worst = 0.0;
    constexpr std::size_t W = xsimd::batch<float>::size;
    alignas(64) float in[W], out[W];
    std::size_t count = 0;
    for (float x = 1e-5f; x <= 1.00001f;) {
        for (std::size_t j = 0; j < W; ++j) {
            in[j] = x;
            for (int s = 0; s < 61 && x <= 1.00001f; ++s) x = std::nextafter(x, 2.0f);
        }
        ks::detail::positive_float_log<float>(xsimd::batch<float>::load_aligned(in)).store_aligned(out);
        for (std::size_t j = 0; j < W; ++j) {
            const double exact = std::log(static_cast<double>(in[j]));
            const float r = static_cast<float>(exact);
            if (r == 0.0f) continue;  // log(1) = 0: checked below
            const double ulp = std::nextafter(std::abs(r), std::numeric_limits<float>::infinity()) - std::abs(r);
            worst = std::max(worst, std::abs(static_cast<double>(out[j]) - exact) / ulp);
            ++count;
        }
    }
    for (std::size_t j = 0; j < W; ++j) in[j] = 1.0f;
    ks::detail::positive_float_log<float>(xsimd::batch<float>::load_aligned(in)).store_aligned(out);
    INFO("worst " << worst << " ulp over " << count << " values");
    CHECK(count > 1000000);
    CHECK(worst <= 2.0);
    CHECK(std::abs(out[0]) <= 1e-7f);
}
#endif
