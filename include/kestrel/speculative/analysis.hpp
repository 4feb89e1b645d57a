// Acceptance analysis (Leviathan, Kalman & Matias 2023, section 3): what a verifier can be
// expected to keep, computed from the laws or from acceptance estimates.
//   a = sum_y min(p(y), q(y)) = 1 - TV(p, q)          acceptance of one drafted token
//   E = (1 - a^(K+1)) / (1 - a)                          emitted tokens per verification, i.i.d.
//   E = 1 + sum_{i=1..K} prod_{j<=i} a_j                  per-position form
//   S = (1 - a^(K+1)) / ((1 - a) (K c + 1))               wall-time improvement, draft/target cost c
//
// Multi-draft (n candidates per position) and trees:
//   k_seq_rho                 SpecTr's rho* and K-SEQ's acceptance sum_y min(rho* q, p), with
//                             SpecTr's bounds (k_seq_lower_bound, multi_draft_upper_bound)
//   optimal_multi_draft_acceptance   the best acceptance any valid verifier can reach (the dual
//                             of the optimal-transport problem, Hu et al.), by a sorted sweep
//   sibling_acceptance        P(candidate i is kept) for a given set of candidates and rule
//   expected_tree_accepted_length    expected kept tokens of a token tree
//   best_sparse_tree          the greedy best tree for a node budget from per-depth top-i
//                             acceptance estimates (parallel prompt decoding's construction)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <queue>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/view.hpp"
#include "detail/multi_draft_math.hpp"

namespace kestrel {
namespace speculative {

/// sum_y min(p(y), q(y)) in double: the probability that the chain rule keeps a token drafted
/// from q against target p. p and q must have the same size, finite values >= 0.
template <class T>
double acceptance_rate(vector_view<const T> p, vector_view<const T> q) {
    const char* fn = "acceptance_rate";
    require(p.size() == q.size(), fn, "q", "size ", q.size(), " does not match p (", p.size(), ")");
    require(!p.empty(), fn, "p", "is empty");
    double s = 0.0;
    for (std::size_t y = 0; y < p.size(); ++y) {
        const double a = static_cast<double>(p[y]), b = static_cast<double>(q[y]);
        if (!(a >= 0.0 && std::isfinite(a))) fail_argument(fn, "p", "entry ", y, " is ", a);
        if (!(b >= 0.0 && std::isfinite(b))) fail_argument(fn, "q", "entry ", y, " is ", b);
        s += a < b ? a : b;
    }
    return s;
}

namespace detail {
inline void check_rate(double a, const char* fn, const char* arg) {
    require(a >= 0.0 && a <= 1.0, fn, arg, "must lie in [0, 1], got ", a);
}
}  // namespace detail

/// Expected emitted tokens per verification of K drafts with i.i.d. acceptance a.
inline double expected_emitted_tokens(double a, std::size_t k) {
    detail::check_rate(a, "expected_emitted_tokens", "a");
    if (a == 1.0) return static_cast<double>(k + 1);
    return (1.0 - std::pow(a, static_cast<double>(k + 1))) / (1.0 - a);
}

/// Expected emitted tokens with acceptance a[i] at drafted position i (given all before it
/// were kept): 1 + sum_i prod_{j<=i} a[j].
inline double expected_emitted_tokens(vector_view<const double> a) {
    double e = 1.0, prod = 1.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        detail::check_rate(a[i], "expected_emitted_tokens", "a");
        prod *= a[i];
        e += prod;
    }
    return e;
}

/// Leviathan et al.'s expected wall-time improvement of K drafts at acceptance a when one
/// draft step costs c target steps.
inline double expected_speedup(double a, std::size_t k, double c) {
    detail::check_rate(a, "expected_speedup", "a");
    require(std::isfinite(c) && c >= 0.0, "expected_speedup", "c", "must be finite and >= 0, got ", c);
    return expected_emitted_tokens(a, k) / (static_cast<double>(k) * c + 1.0);
}

struct draft_length_choice {
    std::size_t k;   ///< the draft length with the largest expected speedup (smallest on ties)
    double speedup;  ///< that speedup (1 at k = 0: no speculation)
};

/// The draft length in [0, k_max] that maximizes expected_speedup(a, k, c), by a scan.
inline draft_length_choice optimal_draft_length(double a, double c, std::size_t k_max) {
    detail::check_rate(a, "optimal_draft_length", "a");
    require(std::isfinite(c) && c >= 0.0, "optimal_draft_length", "c", "must be finite and >= 0, got ", c);
    draft_length_choice best{0, 1.0};
    for (std::size_t k = 1; k <= k_max; ++k) {
        const double s = expected_speedup(a, k, c);
        if (s > best.speedup) best = {k, s};
    }
    return best;
}

// ---- multi-draft ---------------------------------------------------------------------------

namespace detail {

/// Reads p and q as laws over the same vocabulary: sizes, finite values >= 0.
template <class T>
void check_law_pair(vector_view<const T> p, vector_view<const T> q, const char* fn) {
    require(!p.empty(), fn, "p", "is empty");
    require(p.size() == q.size(), fn, "q", "size ", q.size(), " does not match p (", p.size(), ")");
    for (std::size_t y = 0; y < p.size(); ++y) {
        const double a = static_cast<double>(p[y]), b = static_cast<double>(q[y]);
        if (!(a >= 0.0 && std::isfinite(a))) fail_argument(fn, "p", "entry ", y, " is ", a);
        if (!(b >= 0.0 && std::isfinite(b))) fail_argument(fn, "q", "entry ", y, " is ", b);
    }
}

inline void check_count(std::size_t n, const char* fn, const char* arg) {
    require(n >= 1 && n < (std::size_t(1) << 16), fn, arg, "must lie in [1, 2^16), got ", n);
}

}  // namespace detail

/// K-SEQ's selection constant and acceptance for k i.i.d. candidates.
struct k_seq_solution {
    double rho;         ///< rho*: the root in [1, k] of 1 - (1 - beta)^k - rho beta (upper side)
    double beta;        ///< beta(rho*) = sum_y min(q(y), p(y) / rho*): one trial's acceptance
    double acceptance;  ///< sum_y min(rho* q(y), p(y)) = 1 - (1 - beta)^k
};

/// rho* of SpecTr's K-SEQ for target p, draft q and k candidates (the same computation as
/// verify_multi_draft's rule k_seq; detail/multi_draft_math.hpp).
template <class T>
k_seq_solution k_seq_rho(vector_view<const T> p, vector_view<const T> q, std::size_t k) {
    const char* fn = "k_seq_rho";
    detail::check_law_pair(p, q, fn);
    detail::check_count(k, fn, "k");
    detail::k_seq_scratch scratch;
    detail::k_seq_accumulator acc = scratch.start(p.size(), k);
    for (std::size_t y = 0; y < p.size(); ++y) acc.add(static_cast<double>(p[y]), static_cast<double>(q[y]));
    k_seq_solution s;
    s.rho = detail::k_seq_solve(acc, scratch.kept);
    s.beta = 0.0;
    s.acceptance = 0.0;
    for (std::size_t y = 0; y < p.size(); ++y) {
        const double a = static_cast<double>(p[y]), b = static_cast<double>(q[y]);
        s.beta += std::min(b, a / s.rho);
        s.acceptance += std::min(s.rho * b, a);
    }
    return s;
}

/// SpecTr's lower bound on K-SEQ's acceptance: (1 - (1 - 1/k)^k) sum_y min(p(y), k q(y))
/// (>= (1 - 1/e) times the optimal rate).
template <class T>
double k_seq_lower_bound(vector_view<const T> p, vector_view<const T> q, std::size_t k) {
    const char* fn = "k_seq_lower_bound";
    detail::check_law_pair(p, q, fn);
    detail::check_count(k, fn, "k");
    const double kk = static_cast<double>(k);
    double s = 0.0;
    for (std::size_t y = 0; y < p.size(); ++y)
        s += std::min(static_cast<double>(p[y]), kk * static_cast<double>(q[y]));
    return (1.0 - std::pow(1.0 - 1.0 / kk, kk)) * s;
}

/// Upper bound on the acceptance of any verifier of k i.i.d. candidates:
/// sum_y min(p(y), 1 - (1 - q(y))^k) (P(y among the candidates) caps P(output y, kept)).
template <class T>
double multi_draft_upper_bound(vector_view<const T> p, vector_view<const T> q, std::size_t k) {
    const char* fn = "multi_draft_upper_bound";
    detail::check_law_pair(p, q, fn);
    detail::check_count(k, fn, "k");
    double s = 0.0;
    for (std::size_t y = 0; y < p.size(); ++y) {
        const double b = static_cast<double>(q[y]);
        const double hit = -std::expm1(static_cast<double>(k) * std::log1p(-std::min(b, 1.0)));
        s += std::min(static_cast<double>(p[y]), hit);
    }
    return s;
}

enum class draft_sampling { with_replacement, without_replacement };

namespace detail {

/// P(all n candidates drawn without replacement from q lie in H) for every prefix H of
/// `order`, by the exponential-race view: candidates are the first n arrivals of independent
/// clocks with rates q(y); with m = q(outside H), P = 1 - int_0^inf m e^{-m t} P(N_H(t) < n) dt,
/// N_H(t) ~ PoissonBinomial{1 - e^{-q(y) t}, y in H}. The integral is a trapezoid rule in the
/// double-exponential variable t = exp(pi/2 sinh x), x in [-5, 5] with step 1/64 (it resolves
/// every scale from 1e-50 to 1e50 at once, so the nodes are shared by all prefixes and the
/// Poisson-binomial counts are updated one token at a time: O(V n) per node).
inline void prefix_containment_without(const std::vector<double>& qs, const std::vector<double>& outside,
                                       std::size_t n, std::vector<double>& result) {
    const double h = 1.0 / 64, half_pi = 1.5707963267948966;
    const int half = 5 * 64;
    std::vector<double> t, w;
    for (int k = -half; k <= half; ++k) {
        const double x = k * h;
        const double tk = std::exp(half_pi * std::sinh(x));
        t.push_back(tk);
        w.push_back(h * half_pi * std::cosh(x) * tk);
    }
    const std::size_t nodes = t.size();
    std::vector<double> dist(nodes * n, 0.0);  // P(N = j), j < n, per node
    for (std::size_t k = 0; k < nodes; ++k) dist[k * n] = 1.0;
    result.assign(qs.size() + 1, 0.0);
    for (std::size_t h_size = 0; h_size <= qs.size(); ++h_size) {
        if (h_size > 0) {
            const double qy = qs[h_size - 1];
            for (std::size_t k = 0; k < nodes; ++k) {
                const double hit = -std::expm1(-qy * t[k]), miss = std::exp(-qy * t[k]);
                double* d = &dist[k * n];
                for (std::size_t j = n; j-- > 1;) d[j] = d[j] * miss + d[j - 1] * hit;
                d[0] *= miss;
            }
        }
        const double m = outside[h_size];
        double integral = 0.0;
        if (m > 0.0)
            for (std::size_t k = 0; k < nodes; ++k) {
                double g = 0.0;
                for (std::size_t j = 0; j < n; ++j) g += dist[k * n + j];
                integral += w[k] * m * std::exp(-m * t[k]) * g;
            }
        result[h_size] = std::min(1.0, std::max(0.0, 1.0 - integral));
    }
}

}  // namespace detail

/// The optimal acceptance rate of n candidates (Hu et al., "Towards Optimal Multi-draft
/// Speculative Decoding"): the largest P(output is one of the candidates) over all verifiers
/// whose output follows p, = min over token sets H of [1 + p(H) - P(all candidates in H)].
/// Computed by the sorted sweep: tokens by p/q ascending (q = 0 last), H over the V + 1
/// prefixes. P(all in H) is q(H)^n with replacement; without replacement it is exact for
/// n <= 2 (n = 2: q(H) sum_H q/(1-q) - sum_H q^2/(1-q)) and for n >= 3 the exponential-race
/// integral (detail::prefix_containment_without; about 1e-13 accurate, O(V n) per node on
/// 641 nodes). Without replacement q must have at least n tokens with mass.
template <class T>
double optimal_multi_draft_acceptance(vector_view<const T> p, vector_view<const T> q, std::size_t n,
                                      draft_sampling sampling) {
    const char* fn = "optimal_multi_draft_acceptance";
    detail::check_law_pair(p, q, fn);
    detail::check_count(n, fn, "n");
    const std::size_t V = p.size();
    std::vector<std::size_t> order(V);
    std::iota(order.begin(), order.end(), std::size_t(0));
    auto ratio = [&](std::size_t y) {
        const double a = static_cast<double>(p[y]), b = static_cast<double>(q[y]);
        return b > 0.0 ? a / b : std::numeric_limits<double>::infinity();
    };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ratio(a) < ratio(b); });
    std::vector<double> qs(V), outside(V + 1, 0.0);
    std::size_t support = 0;
    for (std::size_t i = 0; i < V; ++i) {
        qs[i] = static_cast<double>(q[order[i]]);
        support += qs[i] > 0.0;
    }
    for (std::size_t i = V; i-- > 0;) outside[i] = outside[i + 1] + qs[i];
    const bool without = sampling == draft_sampling::without_replacement;
    if (without)
        require(support >= n, fn, "q", "has ", support, " tokens with mass, fewer than the ", n,
                " candidates drawn without replacement");
    std::vector<double> contain;
    if (without && n >= 3) detail::prefix_containment_without(qs, outside, n, contain);
    double best = 1.0, ph = 0.0, qh = 0.0, s1 = 0.0, s2 = 0.0;  // H = {}: 1 + 0 - 0
    for (std::size_t i = 0; i < V; ++i) {
        const double qy = qs[i];
        ph += static_cast<double>(p[order[i]]);
        qh += qy;
        double all_in;
        if (!without || n == 1) {
            all_in = std::pow(std::min(qh, 1.0), static_cast<double>(n));
        } else if (n == 2) {
            if (qy < 1.0) s1 += qy / (1.0 - qy), s2 += qy * qy / (1.0 - qy);
            all_in = qh * s1 - s2;
        } else {
            all_in = contain[i + 1];
        }
        best = std::min(best, 1.0 + ph - all_in);
    }
    return std::max(0.0, best);
}

/// P(candidate i is kept) for the given candidates of one position under a multi-draft rule
/// (multi_draft.hpp), for target p and draft q (ignored for point masses, which must be
/// distinct): the probability over the verifier's uniforms, with the candidates fixed.
/// Recursive rules: prod_{j<i} (1 - a_j) a_i with a_i = min(1, r_{i-1}(x_i) / q_i(x_i)).
/// K-SEQ: a_i = min(1, p(x_i) / (rho* q(x_i))) with rho* for n = candidates.size().
template <class T>
std::vector<double> sibling_acceptance(vector_view<const T> p, vector_view<const T> q,
                                       vector_view<const std::int32_t> candidates, multi_draft_rule rule) {
    const char* fn = "sibling_acceptance";
    detail::check_law_pair(p, q, fn);
    const std::size_t V = p.size(), n = candidates.size();
    for (std::size_t i = 0; i < n; ++i)
        if (candidates[i] < 0 || static_cast<std::size_t>(candidates[i]) >= V)
            fail_argument(fn, "candidates", "entry ", i, " is ", candidates[i], ", outside [0, ", V, ")");
    std::vector<double> out(n, 0.0);
    if (n == 0) return out;
    double reach = 1.0;  // P(every earlier trial rejected)
    if (rule == multi_draft_rule::point_mass) {  // one uniform against cumulative target mass
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < i; ++j)
                if (candidates[j] == candidates[i]) fail_argument(fn, "candidates", "entry ", i, " repeats entry ", j);
            out[i] = static_cast<double>(p[static_cast<std::size_t>(candidates[i])]);
        }
        return out;
    }
    for (std::size_t i = 0; i < n; ++i)
        if (!(static_cast<double>(q[static_cast<std::size_t>(candidates[i])]) > 0.0))
            fail_argument(fn, "q", "candidate ", i, " (token ", candidates[i], ") has draft probability 0");
    if (rule == multi_draft_rule::k_seq) {
        const double rho = n > 1 ? k_seq_rho(p, q, n).rho : 1.0;
        for (std::size_t i = 0; i < n; ++i) {
            const auto x = static_cast<std::size_t>(candidates[i]);
            const double a = std::min(1.0, static_cast<double>(p[x]) / (rho * static_cast<double>(q[x])));
            out[i] = reach * a;
            reach *= 1.0 - a;
        }
        return out;
    }
    require(rule == multi_draft_rule::recursive_with_replacement ||
                rule == multi_draft_rule::recursive_without_replacement,
            fn, "rule", "unknown rule ", static_cast<int>(rule));
    const bool without = rule == multi_draft_rule::recursive_without_replacement;
    std::vector<double> r(V), qi(V);
    for (std::size_t y = 0; y < V; ++y) r[y] = static_cast<double>(p[y]), qi[y] = static_cast<double>(q[y]);
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = static_cast<std::size_t>(candidates[i]);
        double qs = 0.0;
        for (double v : qi) qs += v;
        const double qx = qi[x] / qs;
        if (!(qx > 0.0)) fail_argument(fn, "candidates", "entry ", i, " repeats a candidate drawn without replacement");
        const double a = std::min(1.0, r[x] / qx);
        out[i] = reach * a;
        reach *= 1.0 - a;
        double z = 0.0;
        for (std::size_t y = 0; y < V; ++y) r[y] = std::max(0.0, r[y] - qi[y] / qs), z += r[y];
        if (!(z > 0.0)) break;  // r == q_i: trial i kept with probability 1, later ones never reached
        for (auto& v : r) v /= z;
        if (without) qi[x] = 0.0;
    }
    return out;
}

// ---- trees ---------------------------------------------------------------------------------

namespace detail {
inline void check_parents(vector_view<const std::int32_t> parents, const char* fn) {
    require(!parents.empty(), fn, "parents", "is empty (a tree needs its root)");
    require(parents[0] == -1, fn, "parents", "node 0 must be the root (parent -1), got ", parents[0]);
    for (std::size_t v = 1; v < parents.size(); ++v)
        if (parents[v] < 0 || static_cast<std::size_t>(parents[v]) >= v)
            fail_argument(fn, "parents", "node ", v, ": parent ", parents[v], " must lie in [0, ", v, ")");
}
}  // namespace detail

/// Expected number of kept drafted tokens of a token tree (tree.hpp's conventions: parents[0]
/// = -1, 0 <= parents[v] < v), given accept[v] = P(node v is kept | its parent is reached)
/// for v >= 1 (accept[0] is ignored). The kept child of a node is unique, so the answer is
/// sum_v prod over the path to v of accept. Emitted tokens per verification = this + 1.
inline double expected_tree_accepted_length(vector_view<const std::int32_t> parents,
                                            vector_view<const double> accept) {
    const char* fn = "expected_tree_accepted_length";
    detail::check_parents(parents, fn);
    require(accept.size() == parents.size(), fn, "accept", "size ", accept.size(), " does not match parents (",
            parents.size(), ")");
    const std::size_t n = parents.size();
    std::vector<double> reach(n, 1.0), sibling_sum(n, 0.0);
    double e = 0.0;
    for (std::size_t v = 1; v < n; ++v) {
        const double a = accept[v];
        if (!(a >= 0.0 && a <= 1.0)) fail_argument(fn, "accept", "node ", v, ": ", a, " is not a probability");
        const auto u = static_cast<std::size_t>(parents[v]);
        sibling_sum[u] += a;
        if (sibling_sum[u] > 1.0 + 1e-9)
            fail_argument(fn, "accept", "node ", u, ": its children's probabilities sum to ", sibling_sum[u],
                          " (> 1; at most one child is kept)");
        reach[v] = reach[u] * a;
        e += reach[v];
    }
    return e;
}

/// The same for point-mass siblings: accept[v] = p_{parent(v)}(token[v]), with
/// target_rows(u, .) the target's law at node u ([nodes][V]); sibling tokens must differ.
template <class T>
double expected_tree_accepted_length_point_mass(vector_view<const std::int32_t> parents,
                                                vector_view<const std::int32_t> tokens, matrix_view<const T> target_rows) {
    const char* fn = "expected_tree_accepted_length_point_mass";
    detail::check_parents(parents, fn);
    const std::size_t n = parents.size();
    require(tokens.size() == n, fn, "tokens", "size ", tokens.size(), " does not match parents (", n, ")");
    require(target_rows.rows() >= n, fn, "target_rows", "has ", target_rows.rows(), " rows for ", n, " nodes");
    std::vector<double> accept(n, 0.0);
    for (std::size_t v = 1; v < n; ++v) {
        if (tokens[v] < 0 || static_cast<std::size_t>(tokens[v]) >= target_rows.cols())
            fail_argument(fn, "tokens", "node ", v, ": token ", tokens[v], " outside [0, ", target_rows.cols(), ")");
        for (std::size_t w = 1; w < v; ++w)
            if (parents[w] == parents[v] && tokens[w] == tokens[v])
                fail_argument(fn, "tokens", "nodes ", w, " and ", v, ": siblings with the same token");
        const double a = static_cast<double>(target_rows(static_cast<std::size_t>(parents[v]),
                                                         static_cast<std::size_t>(tokens[v])));
        if (!(a >= 0.0 && a <= 1.0)) fail_argument(fn, "target_rows", "node ", v, ": probability ", a);
        accept[v] = a;
    }
    return expected_tree_accepted_length(parents, vector_view<const double>(accept.data(), n));
}

/// A sparse token tree chosen for a node budget (best_sparse_tree).
struct sparse_tree {
    std::vector<std::int32_t> parents;    ///< parents[0] = -1; parents[v] < v (tree.hpp's form)
    std::vector<std::uint32_t> ranks;     ///< node v is the ranks[v]-th candidate at its depth (root: 0)
    std::vector<std::uint32_t> depths;    ///< root 0
    std::vector<double> path_probability; ///< product of the estimates along the path (root 1)
    double expected_accepted = 0.0;       ///< sum of path probabilities of the non-root nodes
};

/// The best tree of at most `budget` non-root nodes for per-depth top-i acceptance estimates
/// a(d, i) = P(the i-th ranked candidate at depth d + 1 is kept | its parent is kept) (parallel
/// prompt decoding, Chen et al. 2024; Medusa's sparse trees): every path scores the product
/// of its estimates, and the tree keeps the `budget` best-scoring nodes. Scores never grow
/// along a path (estimates <= 1), so the best set is prefix-closed and found best first from
/// the root (ties: smaller depth, then earlier discovery). Its expected kept length (the sum of
/// the scores, for mutually exclusive siblings) is the largest over all trees with that many
/// nodes. Nodes are numbered in the order chosen, so parents precede children.
inline sparse_tree best_sparse_tree(matrix_view<const double> a, std::size_t budget) {
    const char* fn = "best_sparse_tree";
    for (std::size_t d = 0; d < a.rows(); ++d) {
        double s = 0.0;
        for (std::size_t i = 0; i < a.cols(); ++i) {
            const double v = a(d, i);
            if (!(v >= 0.0 && v <= 1.0)) fail_argument(fn, "a", "depth ", d, ", rank ", i, ": ", v, " is not a probability");
            s += v;
        }
        if (s > 1.0 + 1e-9) fail_argument(fn, "a", "depth ", d, ": the estimates sum to ", s, " (> 1)");
    }
    sparse_tree t;
    t.parents.push_back(-1), t.ranks.push_back(0), t.depths.push_back(0), t.path_probability.push_back(1.0);
    struct cand {
        double score;
        std::uint32_t depth;
        std::uint64_t serial;
        std::int32_t parent;
        std::uint32_t rank;
    };
    auto worse = [](const cand& x, const cand& y) {
        if (x.score != y.score) return x.score < y.score;
        if (x.depth != y.depth) return x.depth > y.depth;
        return x.serial > y.serial;
    };
    std::priority_queue<cand, std::vector<cand>, decltype(worse)> heap(worse);
    std::uint64_t serial = 0;
    auto push_children = [&](std::int32_t v) {
        const std::uint32_t d = t.depths[static_cast<std::size_t>(v)];
        if (d >= a.rows()) return;
        for (std::size_t i = 0; i < a.cols(); ++i)
            heap.push(cand{t.path_probability[static_cast<std::size_t>(v)] * a(d, i), d + 1, serial++, v,
                           static_cast<std::uint32_t>(i)});
    };
    push_children(0);
    while (t.parents.size() < budget + 1 && !heap.empty()) {
        const cand c = heap.top();
        heap.pop();
        t.parents.push_back(c.parent), t.ranks.push_back(c.rank), t.depths.push_back(c.depth);
        t.path_probability.push_back(c.score);
        t.expected_accepted += c.score;
        push_children(static_cast<std::int32_t>(t.parents.size() - 1));
    }
    return t;
}

}  // namespace speculative
}  // namespace kestrel
