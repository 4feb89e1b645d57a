// Analysis of multi-draft and tree verification: the optimal multi-draft acceptance rate by
// the sorted sweep against a brute-force minimum over all 2^V token sets and against a
// max-flow written here; K-SEQ's rho* and SpecTr's bounds; the greedy sparse tree against
// every prefix-closed tree of the same size.
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <queue>
#include <set>
#include <vector>

#include "spec_test_util.hpp"

namespace ks = kestrel::speculative;
using spec_test::toy_model;

namespace {

/// The law of the set of distinct candidates S (as a bit mask) for n draws from q.
std::map<unsigned, double> candidate_set_law(const std::vector<double>& q, std::size_t n, bool without) {
    std::map<unsigned, double> law;
    const std::size_t V = q.size();
    std::function<void(std::size_t, unsigned, double, double)> rec = [&](std::size_t i, unsigned set, double w,
                                                                          double used) {
        if (i == n) {
            law[set] += w;
            return;
        }
        for (std::size_t y = 0; y < V; ++y) {
            if (!(q[y] > 0)) continue;
            if (without && (set >> y & 1u)) continue;
            rec(i + 1, set | (1u << y), w * (without ? q[y] / (1.0 - used) : q[y]), used + q[y]);
        }
    };
    rec(0, 0u, 1.0, 0.0);
    return law;
}

/// min over all H of 1 + p(H) - P(S subset of H).
double brute_force_optimum(const std::vector<double>& p, const std::map<unsigned, double>& sets) {
    const std::size_t V = p.size();
    double best = std::numeric_limits<double>::infinity();
    for (unsigned H = 0; H < (1u << V); ++H) {
        double ph = 0, contained = 0;
        for (std::size_t y = 0; y < V; ++y)
            if (H >> y & 1u) ph += p[y];
        for (const auto& [s, w] : sets)
            if ((s & ~H) == 0) contained += w;
        best = std::min(best, 1.0 + ph - contained);
    }
    return best;
}

/// Max flow source -> candidate set S (capacity P(S)) -> token y in S -> sink (capacity p(y)):
/// the largest P(output in S) over couplings of S with an output ~ p. Edmonds-Karp.
double max_flow_optimum(const std::vector<double>& p, const std::map<unsigned, double>& sets) {
    const std::size_t V = p.size(), m = sets.size(), N = 2 + m + V, src = 0, sink = 1;
    std::vector<std::vector<double>> cap(N, std::vector<double>(N, 0.0));
    std::size_t i = 0;
    for (const auto& [s, w] : sets) {
        cap[src][2 + i] = w;
        for (std::size_t y = 0; y < V; ++y)
            if (s >> y & 1u) cap[2 + i][2 + m + y] = 2.0;
        ++i;
    }
    for (std::size_t y = 0; y < V; ++y) cap[2 + m + y][sink] = p[y];
    double flow = 0;
    for (;;) {
        std::vector<std::size_t> prev(N, N);
        prev[src] = src;
        std::queue<std::size_t> qu;
        qu.push(src);
        while (!qu.empty() && prev[sink] == N) {
            const std::size_t a = qu.front();
            qu.pop();
            for (std::size_t b = 0; b < N; ++b)
                if (prev[b] == N && cap[a][b] > 1e-18) prev[b] = a, qu.push(b);
        }
        if (prev[sink] == N) break;
        double f = std::numeric_limits<double>::infinity();
        for (std::size_t b = sink; b != src; b = prev[b]) f = std::min(f, cap[prev[b]][b]);
        for (std::size_t b = sink; b != src; b = prev[b]) cap[prev[b]][b] -= f, cap[b][prev[b]] += f;
        flow += f;
    }
    return flow;
}

}  // namespace

TEST_CASE("the optimal multi-draft rate equals the brute-force subset minimum and the max flow") {
    int cases = 0;
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
        for (std::size_t V : {3u, 4u, 5u}) {
            const toy_model pm{V, seed * 7 + V, 0.6 + 0.25 * double(seed % 5)}, qm{V, seed * 11 + 3, 1.0};
            std::vector<double> p = pm.row({}), q = qm.row({});
            if (seed % 4 == 0) {  // a token the draft never proposes, and one the target never emits
                q[0] = 0;
                p[1] = 0;
                double sq = 0, sp = 0;
                for (double v : q) sq += v;
                for (double v : p) sp += v;
                for (auto& v : q) v /= sq;
                for (auto& v : p) v /= sp;
            }
            for (std::size_t n : {1u, 2u, 3u, 4u}) {
                if (n == 4 && V < 5) continue;
                for (bool without : {false, true}) {
                    std::size_t support = 0;
                    for (double v : q) support += v > 0;
                    if (without && support < n) continue;
                    const auto sets = candidate_set_law(q, n, without);
                    const double brute = brute_force_optimum(p, sets), flow = max_flow_optimum(p, sets);
                    const double sweep = ks::optimal_multi_draft_acceptance(
                        kestrel::vector_view<const double>(p), kestrel::vector_view<const double>(q), n,
                        without ? ks::draft_sampling::without_replacement : ks::draft_sampling::with_replacement);
                    INFO("seed " << seed << " V " << V << " n " << n << " without " << without);
                    CHECK(std::fabs(brute - flow) < 1e-12);
                    CHECK(std::fabs(sweep - brute) < 1e-12);
                    ++cases;
                }
            }
        }
    }
    CHECK(cases > 200);
}

TEST_CASE("without replacement the optimal rate is at least the rate with replacement and bounded above") {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        const std::size_t V = 6;
        const toy_model pm{V, seed, 1.2}, qm{V, seed + 100, 0.8};
        const auto p = pm.row({}), q = qm.row({});
        const kestrel::vector_view<const double> pv(p), qv(q);
        for (std::size_t n : {2u, 3u, 4u}) {
            const double with = ks::optimal_multi_draft_acceptance(pv, qv, n, ks::draft_sampling::with_replacement);
            const double without = ks::optimal_multi_draft_acceptance(pv, qv, n, ks::draft_sampling::without_replacement);
            CHECK(without >= with - 1e-12);
            CHECK(with <= ks::multi_draft_upper_bound(pv, qv, n) + 1e-12);
            CHECK(with >= ks::acceptance_rate(pv, qv) - 1e-12);  // more candidates never hurt the optimum
        }
    }
}

TEST_CASE("K-SEQ rho star solves SpecTr's equation and respects its bounds") {
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        const std::size_t V = 3 + seed % 6, k = 1 + seed % 5;
        const toy_model pm{V, seed * 3, 1.5}, qm{V, seed * 5 + 2, 1.0};
        const auto p = pm.row({}), q = qm.row({});
        const kestrel::vector_view<const double> pv(p), qv(q);
        const auto s = ks::k_seq_rho(pv, qv, k);
        INFO("seed " << seed << " k " << k << " rho " << s.rho);
        CHECK(s.rho >= 1.0);
        CHECK(s.rho <= double(k));
        const double f = 1 - std::pow(1 - s.beta, double(k)) - s.rho * s.beta;
        CHECK(std::fabs(f) < 1e-12);
        CHECK(s.acceptance == Approx(1 - std::pow(1 - s.beta, double(k))).margin(1e-12));
        CHECK(s.acceptance >= ks::k_seq_lower_bound(pv, qv, k) - 1e-12);
        const double opt = ks::optimal_multi_draft_acceptance(pv, qv, k, ks::draft_sampling::with_replacement);
        CHECK(s.acceptance <= opt + 1e-12);
        CHECK(s.acceptance >= (1 - std::exp(-1.0)) * opt - 1e-12);
        if (k == 1) CHECK(s.acceptance == Approx(ks::acceptance_rate(pv, qv)).margin(1e-14));
    }
    // p == q: rho* = 1 and every draft is kept.
    const std::vector<double> p{0.5, 0.3, 0.2};
    const auto s = ks::k_seq_rho(kestrel::vector_view<const double>(p), kestrel::vector_view<const double>(p), 3);
    CHECK(s.rho == 1.0);
    CHECK(s.acceptance == Approx(1.0).margin(1e-15));
}

TEST_CASE("the greedy sparse tree is the best prefix-closed tree of its size") {
    // Estimates a(d, i) for depths 1..3 and ranks 0..2.
    const std::vector<double> a{0.55, 0.2, 0.1, 0.5, 0.25, 0.05, 0.45, 0.3, 0.1};
    const kestrel::matrix_view<const double> av(a.data(), 3, 3);
    // Every node is a rank path; enumerate all of them (3 + 9 + 27 = 39 nodes) with scores.
    struct node {
        std::vector<int> path;
        double score;
    };
    std::vector<node> all;
    std::function<void(std::vector<int>&, double)> rec = [&](std::vector<int>& path, double s) {
        if (!path.empty()) all.push_back({path, s});
        if (path.size() == 3) return;
        for (int i = 0; i < 3; ++i) {
            path.push_back(i);
            rec(path, s * a[(path.size() - 1) * 3 + static_cast<std::size_t>(i)]);
            path.pop_back();
        }
    };
    std::vector<int> root;
    rec(root, 1.0);
    for (std::size_t budget : {1u, 2u, 4u, 7u, 10u}) {
        // Brute force: the best prefix-closed subset of `budget` nodes, by search over subsets
        // grown one admissible node at a time (every prefix-closed set is reachable that way).
        double best = 0;
        std::set<std::vector<int>> chosen;
        std::function<void(std::size_t, double)> search = [&](std::size_t start, double sum) {
            if (chosen.size() == budget) {
                best = std::max(best, sum);
                return;
            }
            for (std::size_t i = start; i < all.size(); ++i) {
                const auto& nd = all[i];
                std::vector<int> parent(nd.path.begin(), nd.path.end() - 1);
                if (!parent.empty() && !chosen.count(parent)) continue;
                chosen.insert(nd.path);
                search(i + 1, sum + nd.score);
                chosen.erase(nd.path);
            }
        };
        // Nodes sorted so that parents come first (by depth), so `start` ordering is consistent.
        std::stable_sort(all.begin(), all.end(), [](const node& x, const node& y) { return x.path.size() < y.path.size(); });
        search(0, 0.0);
        const auto t = ks::best_sparse_tree(av, budget);
        INFO("budget " << budget);
        CHECK(t.parents.size() == budget + 1);
        CHECK(t.expected_accepted == Approx(best).margin(1e-14));
        // Its form is a valid tree whose expected length the tree analysis reproduces.
        std::vector<double> acc(t.parents.size(), 0.0);
        for (std::size_t v = 1; v < t.parents.size(); ++v) {
            CHECK(t.parents[v] >= 0);
            CHECK(static_cast<std::size_t>(t.parents[v]) < v);
            acc[v] = a[(t.depths[v] - 1) * 3 + t.ranks[v]];
        }
        CHECK(ks::expected_tree_accepted_length(t.parents, acc) == Approx(t.expected_accepted).margin(1e-14));
    }
}

TEST_CASE("analysis functions refuse bad input") {
    const std::vector<double> p{0.5, 0.5}, q{0.5, 0.5, 0.0}, bad{0.5, -0.1};
    const kestrel::vector_view<const double> pv(p), qv(q), bv(bad);
    CHECK_THROWS_AS(ks::k_seq_rho(pv, qv, 2), kestrel::invalid_argument);
    CHECK_THROWS_AS(ks::k_seq_rho(pv, bv, 2), kestrel::invalid_argument);
    CHECK_THROWS_AS(ks::k_seq_rho(pv, pv, 0), kestrel::invalid_argument);
    const std::vector<double> one{1.0, 0.0};
    CHECK_THROWS_AS(ks::optimal_multi_draft_acceptance(pv, kestrel::vector_view<const double>(one), 2,
                                                       ks::draft_sampling::without_replacement),
                    kestrel::invalid_argument);
    const std::vector<std::int32_t> cyc{-1, 2, 1};
    const std::vector<double> acc{0, 0.5, 0.5};
    CHECK_THROWS_AS(ks::expected_tree_accepted_length(cyc, acc), kestrel::invalid_argument);
    const std::vector<std::int32_t> star{-1, 0, 0};
    const std::vector<double> too_much{0, 0.7, 0.6};
    CHECK_THROWS_AS(ks::expected_tree_accepted_length(star, too_much), kestrel::invalid_argument);
    const std::vector<double> est{0.7, 0.6};
    CHECK_THROWS_AS(ks::best_sparse_tree(kestrel::matrix_view<const double>(est.data(), 1, 2), 3),
                    kestrel::invalid_argument);
}
