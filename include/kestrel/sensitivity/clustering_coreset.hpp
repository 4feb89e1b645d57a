// k-means / k-median coresets by sensitivity sampling, and uniform sampling as the baseline.
//
// Sensitivity sampling (Feldman and Langberg 2011; the bound of Langberg and Schulman 2010,
// as used by Bachem, Lucic and Krause, "Practical coreset constructions for machine
// learning", 2017, Sec. 3): from an approximate solution B (a bicriteria seeding) with
// clusters P_b, the sensitivity of point i in cluster b is bounded by
//     s_i = w_i d(x_i, B)^z / cost(P_b) + gamma * w_i / W(P_b),
// cost(P_b) = sum_{l in P_b} w_l d(x_l, B)^z, W(P_b) = sum_{l in P_b} w_l (gamma = 1 is the
// textbook bound; the first term is taken as 0 when cost(P_b) = 0). Textbook draw
// (stratified = false): m points i.i.d. with p_i = s_i / S, S = sum_i s_i, weighted
// w_i / (m p_i), so that for ANY centers C the weighted coreset cost is an unbiased
// estimate of the full cost. The default is the stratified draw below (also unbiased).
// size_term (gamma) > 1 gives every cluster of B, however small or cheap, a larger share of
// the samples (the 1/|P_b| term the theory has for the small clusters).
//
// Stratified allocation (sensitivity_options::stratified): since the s_i of a cluster of B
// sum to 1 + gamma, i.i.d. sampling gives every cluster m (1 + gamma) / S samples on average
// but a multinomial count. The stratified variant fixes the count of cluster b to m_b, the
// largest-remainder rounding of m S_b / S (S_b its sensitivity sum; ties to the lower
// cluster index), draws m_b points i.i.d. inside the cluster with p_i = s_i / S_b and weighs
// them w_i S_b / (m_b s_i): still unbiased for any centers, without the between-cluster
// variance of the counts. It is the default because it measured better: on 20 clusters plus
// a far one of 0.1% (n = 10^6, m = 1000), max distortion 0.02-0.05 against 0.04-0.13 for
// the i.i.d. draw over seeds at k = 100, and below 0.05 at k = 10
// (tests/sensitivity/test_coresets_distortion.cpp). It needs m >= the number of clusters with positive sensitivity
// sum (otherwise one would get no sample: the call falls back to i.i.d. sampling).
//
// Uniform sampling: m indices drawn uniformly with replacement, weights w_i * n / m.
//
// All points identical (every cost zero for every center set containing that point, and
// every cost the same multiple of the distance otherwise): every method returns the exact
// coreset of one point (the first with positive weight) carrying the total weight W.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "coreset_workspace.hpp"
#include "detail/iid_sampling.hpp"
#include "dz_seeding.hpp"
#include "kmeans_distances.hpp"

namespace kestrel {
namespace sensitivity {

/// A weighted subset of the points: row indices (repeats possible: i.i.d. draws) and weights.
struct coreset {
    std::vector<std::size_t> indices;
    std::vector<double> weights;
    std::size_t size() const noexcept { return indices.size(); }
};

/// The coreset's rows copied out (size() x d, row-major), for a user who wants them.
template <class T>
std::vector<std::remove_cv_t<T>> gather_rows(const_matrix_view<T> points, const coreset& c) {
    const char* fn = "gather_rows";
    require(c.weights.size() == c.indices.size(), fn, "coreset", "has ", c.indices.size(), " indices and ",
            c.weights.size(), " weights");
    for (std::size_t j = 0; j < c.indices.size(); ++j)
        require(c.indices[j] < points.rows(), fn, "coreset", "index ", c.indices[j], " at position ", j,
                " is out of range (n = ", points.rows(), ")");
    const std::size_t d = points.cols();
    std::vector<std::remove_cv_t<T>> out(checked_product(c.indices.size(), d, fn, "coreset size * d"));
    for (std::size_t j = 0; j < c.indices.size(); ++j)
        std::copy(points.row_data(c.indices[j]), points.row_data(c.indices[j]) + d, out.begin() + j * d);
    return out;
}

/// How the sensitivity coreset finds its approximate solution.
enum class seeding_method {
    bicriteria,  ///< bicriteria_seeding (batched rounds; GEMM speed) - the default
    sequential,  ///< dz_seeding with exactly k centers
};

struct sensitivity_options {
    int z = 2;                                     ///< 2: k-means, 1: k-median
    std::uint64_t seed = 0;                        ///< seeding uses it, sampling a derived stream
    seeding_method seeding = seeding_method::bicriteria;
    std::size_t rounds = 3;                        ///< bicriteria rounds
    double oversampling = 2.0 / 3.0;               ///< bicriteria centers per round / k
    double size_term = 1.0;                        ///< gamma of the header comment (>= 0)
    bool stratified = true;                        ///< fixed per-cluster counts (header comment);
                                                   ///< false: the textbook i.i.d. draw
    exec_policy policy = {};
};

namespace detail {

/// The exact coreset of identical points: one point with the total weight.
template <class T>
coreset identical_points_coreset(vector_view<const T> w, double total) {
    std::size_t i = 0;
    if (!w.empty())
        while (!(w[i] > T(0))) ++i;
    return coreset{{i}, {total}};
}

inline void require_m(std::size_t m, const char* function) {
    require(m >= 1, function, "m", "must be >= 1, got ", m);
}

/// Draws m points with probability mass_i / M; weight w_i * M / (m mass_i).
template <class T>
coreset sample_with_masses(const double* mass, std::size_t n, vector_view<const T> w, std::size_t m,
                           const counter_rng& rng, exec_policy policy) {
    const auto prefix = block_prefix(mass, n, policy);
    coreset c;
    c.indices.resize(m);
    c.weights.resize(m);
    sample_iid(mass, n, prefix, m, rng, 0, c.indices.data());
    const double total = prefix.back();
    for (std::size_t j = 0; j < m; ++j) {
        const std::size_t i = c.indices[j];
        c.weights[j] = weight_of(w, i) * total / (static_cast<double>(m) * mass[i]);
    }
    return c;
}
template <class T>
coreset sample_with_masses(const std::vector<double>& mass, vector_view<const T> w, std::size_t m,
                           const counter_rng& rng, exec_policy policy) {
    return sample_with_masses(mass.data(), mass.size(), w, m, rng, policy);
}

/// A solution seen by the sampling: every point's cluster (nearest center, < kb) and cost
/// d(x_i, B)^z.
struct solution_view {
    const std::size_t* nearest;
    const double* cost;
    std::size_t n, kb;
};

/// Per group of draw blocks (dz_seeding.hpp, blocks_per_group), sum over the group's points
/// of (w_i cost_i, w_i) per cluster into part (groups x 2 kb). The seeding's last pass
/// fills the same table with the same function in the same order.
template <class T>
void cluster_table(const solution_view& B, vector_view<const T> w, exec_policy policy, std::vector<double>& part) {
    const std::size_t blocks = (B.n + iid_block - 1) / iid_block, per = blocks_per_group(blocks);
    part.assign((blocks + per - 1) / per * 2 * B.kb, 0.0);
    for_each_block_grouped(B.n, policy, [&](std::size_t b, std::size_t s, std::size_t e) {
        add_cluster_sums(part.data() + (b / per) * 2 * B.kb, B.nearest, B.cost, w, s, e);
    });
}

/// The stratified draw's blocks: max(strat_block, kb) points (see sample_stratified).
inline constexpr std::size_t strat_block = std::size_t(1) << 14;

/// Sensitivity masses s_i (header comment) into s[0..n), from the cluster table (groups
/// combined in order). With `strat` (nb x kb, nb blocks of max(strat_block, kb) points) the
/// same pass leaves, per block and cluster, the sum of s over the cluster's members there.
template <class T>
void sensitivities(const solution_view& B, const std::vector<double>& part, vector_view<const T> w, double size_term,
                   exec_policy policy, double* s, std::vector<double>* strat) {
    const std::size_t n = B.n, kb = B.kb, groups = part.size() / (2 * kb);
    std::vector<double> inv_cost(kb), inv_weight(kb);
    for (std::size_t j = 0; j < kb; ++j) {
        double cost = part[2 * j], weight = part[2 * j + 1];
        for (std::size_t g = 1; g < groups; ++g) {
            cost += part[g * 2 * kb + 2 * j];
            weight += part[g * 2 * kb + 2 * j + 1];
        }
        inv_cost[j] = cost > 0.0 ? 1.0 / cost : 0.0;
        inv_weight[j] = weight > 0.0 ? size_term / weight : 0.0;
    }
    const auto fill = [&](std::size_t a, std::size_t e) {
        for (std::size_t i = a; i < e; ++i) {
            const std::size_t j = B.nearest[i];
            s[i] = weight_of(w, i) * (B.cost[i] * inv_cost[j] + inv_weight[j]);
        }
    };
    if (!strat) {
        parallel_chunks(n, 1, policy, fill);
        return;
    }
    const std::size_t block = std::max(strat_block, kb), nb = (n + block - 1) / block;
    strat->assign(nb * kb, 0.0);
    parallel_for(nb, policy, [&](std::size_t blk) {
        const std::size_t a = blk * block, e = std::min(n, a + block);
        fill(a, e);
        double* p = strat->data() + blk * kb;
        for (std::size_t i = a; i < e; ++i) p[B.nearest[i]] += s[i];
    });
}

/// The stratified draw of the header comment (falls back to i.i.d. when m is too small).
///
/// Without sorting the points by cluster: the points are cut into blocks of
/// max(strat_block, kb) points (kb clusters; the boundaries depend on n and kb only, and the
/// table of block sums has at most n + kb entries), and the pass that computes the
/// sensitivities also sums them for every (block, cluster) pair (`part`). Cluster b's draw t = u S_b goes to the block
/// where the running sum of b's block sums passes t; one parallel pass over the blocks that
/// hold draws then picks the first member of b in the block whose in-block running sum of
/// b's sensitivities exceeds the rest of t. That is the inverse CDF of s_i / S_b over b's
/// members in index order, with the sums taken block by block.
template <class T>
coreset sample_stratified(const solution_view& B, const double* s, const std::vector<double>& part,
                          vector_view<const T> w, std::size_t m, const counter_rng& rng, exec_policy policy) {
    const std::size_t n = B.n, kb = B.kb;
    const std::size_t block = std::max(strat_block, kb);
    const std::size_t nb = (n + block - 1) / block;
    std::vector<double> mass(kb, 0.0);
    for (std::size_t blk = 0; blk < nb; ++blk)
        for (std::size_t b = 0; b < kb; ++b) mass[b] += part[blk * kb + b];
    std::size_t positive = 0;
    double total = 0.0;
    for (std::size_t b = 0; b < kb; ++b) {
        total += mass[b];
        positive += mass[b] > 0.0 ? 1 : 0;
    }
    if (m < positive) return sample_with_masses(s, n, w, m, rng, policy);
    // Largest-remainder allocation, at least one sample per cluster with positive mass.
    std::vector<std::size_t> count(kb, 0);
    std::vector<std::pair<double, std::size_t>> remainder;
    std::size_t given = 0;
    for (std::size_t b = 0; b < kb; ++b) {
        if (!(mass[b] > 0.0)) continue;
        const double share = static_cast<double>(m) * mass[b] / total;
        count[b] = std::max<std::size_t>(1, static_cast<std::size_t>(share));
        given += count[b];
        remainder.push_back({share - std::floor(share), b});
    }
    std::stable_sort(remainder.begin(), remainder.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t r = 0; given < m; r = (r + 1) % remainder.size(), ++given) ++count[remainder[r].second];
    for (std::size_t r = remainder.size(); given > m && r-- > 0;)  // the at-least-one rule overshot
        if (count[remainder[r].second] > 1) --count[remainder[r].second], --given;

    // Every draw: its cluster, its block, the rest of t inside the block, its output slot.
    struct target {
        std::size_t cluster;
        double rest;
        std::size_t slot;
    };
    std::vector<std::vector<target>> in_block(nb);
    std::uint64_t draw = 0;
    std::size_t slot = 0;
    for (std::size_t b = 0; b < kb; ++b) {
        if (count[b] == 0) continue;
        std::size_t last = 0;  // the last block where b has mass
        for (std::size_t blk = 0; blk < nb; ++blk)
            if (part[blk * kb + b] > 0.0) last = blk;
        for (std::size_t j = 0; j < count[b]; ++j, ++slot) {
            const double t = rng.uniform_double(draw++) * mass[b];
            double before = 0.0;
            std::size_t blk = 0;
            while (blk < last && !(t < before + part[blk * kb + b])) {
                before += part[blk * kb + b];
                ++blk;
            }
            in_block[blk].push_back({b, t - before, slot});
        }
    }
    coreset c;
    c.indices.assign(m, 0);
    c.weights.assign(m, 0.0);
    // Per thread slot: in-block running sum, next pending draw and last positive member per
    // cluster (kb entries each, reset per block).
    struct workspace {
        std::vector<double> run;
        std::vector<std::size_t> next, end, last_positive;
    };
    std::vector<workspace> ws(static_cast<std::size_t>(effective_threads(policy)));
    parallel_for(nb, policy, [&](std::size_t blk) {
        std::vector<target>& tg = in_block[blk];
        if (tg.empty()) return;
        workspace& q = ws[std::min(static_cast<std::size_t>(current_loop_slot()), ws.size() - 1)];
        std::sort(tg.begin(), tg.end(), [](const target& a, const target& b) {
            return a.cluster != b.cluster ? a.cluster < b.cluster : a.rest < b.rest;
        });
        q.run.assign(kb, 0.0);
        q.next.assign(kb, 0);
        q.end.assign(kb, 0);
        q.last_positive.assign(kb, n);
        for (std::size_t r = tg.size(); r-- > 0;) q.next[tg[r].cluster] = r;
        for (std::size_t r = 0; r < tg.size(); ++r) q.end[tg[r].cluster] = r + 1;
        const std::size_t e = std::min(n, (blk + 1) * block);
        for (std::size_t i = blk * block; i < e; ++i) {
            const std::size_t b = B.nearest[i];
            if (q.next[b] == q.end[b]) continue;  // no pending draw of b here
            if (!(s[i] > 0.0)) continue;          // never a zero-mass member
            q.run[b] += s[i];
            q.last_positive[b] = i;
            while (q.next[b] < q.end[b] && tg[q.next[b]].rest < q.run[b]) c.indices[tg[q.next[b]++].slot] = i;
        }
        // Draws that rounding put past the block's sum: b's last positive member here.
        for (std::size_t b = 0; b < kb; ++b)
            for (; q.next[b] < q.end[b]; ++q.next[b]) c.indices[tg[q.next[b]].slot] = q.last_positive[b];
    });
    for (std::size_t b = 0, j = 0; b < kb; ++b)
        for (std::size_t r = 0; r < count[b]; ++r, ++j) {
            const std::size_t i = c.indices[j];
            c.weights[j] = weight_of(w, i) * mass[b] / (static_cast<double>(count[b]) * s[i]);
        }
    return c;
}

template <class T>
void check_solution(const seeding_result& B, std::size_t n, const char* function) {
    require(B.nearest.size() == n && B.point_cost.size() == n, function, "solution", "describes ",
            B.nearest.size(), " points, points have ", n);
    require(!B.centers.empty(), function, "solution", "has no centers");
    for (std::size_t i = 0; i < n; ++i) {
        if (B.nearest[i] >= B.centers.size())
            fail_argument(function, "solution", "nearest[", i, "] = ", B.nearest[i], " is not a center index");
        if (!(B.point_cost[i] >= 0.0) || !std::isfinite(B.point_cost[i]))
            fail_argument(function, "solution", "point_cost[", i, "] = ", B.point_cost[i], " (must be finite, >= 0)");
    }
}

}  // namespace detail

namespace detail {

/// Sensitivities and the draw, from a solution whose cluster table is in ws.cluster_part.
template <class T>
coreset sample_solution(const solution_view& B, vector_view<const T> w, std::size_t m,
                        const sensitivity_options& options, coreset_workspace& ws) {
    double* s = ws.sens.get(B.n);
    const counter_rng rng(options.seed, 0xc0de5e7);
    if (options.stratified) {
        sensitivities(B, ws.cluster_part, w, options.size_term, options.policy, s, &ws.strat_part);
        return sample_stratified(B, s, ws.strat_part, w, m, rng, options.policy);
    }
    sensitivities(B, ws.cluster_part, w, options.size_term, options.policy, s, nullptr);
    return sample_with_masses(s, B.n, w, m, rng, options.policy);
}

}  // namespace detail

/// Sensitivity coreset of m points from a given solution (a seeding_result from dz_seeding or
/// bicriteria_seeding on the same points and weights, or one a user filled in). Uses
/// options.seed, size_term and policy. Validates points, weights, m >= 1, the solution's
/// shape and size_term. workspace: optional scratch kept across calls (coreset_workspace.hpp);
/// the result does not depend on it.
template <class T>
coreset sensitivity_coreset_from(const_matrix_view<T> points, vector_view<const T> weights,
                                 const seeding_result& solution, std::size_t m,
                                 const sensitivity_options& options = {}, coreset_workspace* workspace = nullptr) {
    const char* fn = "sensitivity_coreset_from";
    require_valid_policy(options.policy, fn);
    detail::require_m(m, fn);
    require(options.size_term >= 0.0 && std::isfinite(options.size_term), fn, "size_term",
            "must be finite and >= 0, got ", options.size_term);
    const double total = detail::validate_points(points, weights, fn);
    detail::check_solution<T>(solution, points.rows(), fn);
    if (detail::all_rows_identical(points)) return detail::identical_points_coreset(weights, total);
    coreset_workspace local;
    coreset_workspace& ws = workspace ? *workspace : local;
    const detail::solution_view B{solution.nearest.data(), solution.point_cost.data(), points.rows(),
                                  solution.centers.size()};
    detail::cluster_table(B, weights, options.policy, ws.cluster_part);
    return detail::sample_solution(B, weights, m, options, ws);
}

/// Sensitivity coreset of m points for k centers: a seeding (options.seeding) then
/// sensitivity_coreset_from. Validates points, weights, 1 <= k <= n, m >= 1, z, and the
/// seeding options. workspace: optional scratch kept across calls (coreset_workspace.hpp:
/// a caller that builds many coresets skips the per-call fill and page faults of about
/// 24 bytes a point); the result does not depend on it.
///
/// With the bicriteria seeding (the default) the points are read once per pass: the input
/// check of the coordinates rides on the seeding's first distance pass (a bad coordinate
/// stops the call right after it, before any output), and the last round's distance pass
/// also leaves the costs and the per-cluster sums the sensitivities need. The result equals
/// sensitivity_coreset_from on bicriteria_seeding's result bit for bit.
template <class T>
coreset sensitivity_coreset(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k, std::size_t m,
                            const sensitivity_options& options = {}, coreset_workspace* workspace = nullptr) {
    const char* fn = "sensitivity_coreset";
    require_valid_policy(options.policy, fn);
    detail::require_z(options.z, fn);
    detail::require_m(m, fn);
    require(options.size_term >= 0.0 && std::isfinite(options.size_term), fn, "size_term",
            "must be finite and >= 0, got ", options.size_term);
    require(options.rounds >= 1, fn, "rounds", "must be >= 1, got ", options.rounds);
    require(options.oversampling > 0.0 && std::isfinite(options.oversampling) && options.oversampling <= 1e6, fn,
            "oversampling", "must be finite, > 0 and <= 1e6, got ", options.oversampling);
    coreset_workspace local;
    coreset_workspace& ws = workspace ? *workspace : local;
    const std::size_t n = points.rows();
    if (options.seeding == seeding_method::sequential) {
        const double total = detail::validate_points(points, weights, fn, options.policy);
        require(k >= 1 && k <= n, fn, "k", "must lie in [1, n = ", n, "], got ", k);
        if (detail::all_rows_identical(points)) return detail::identical_points_coreset(weights, total);
        seeding_options so;
        so.z = options.z;
        so.seed = options.seed;
        so.policy = options.policy;
        const seeding_result B = detail::dz_seeding_unchecked(points, weights, k, so);
        const detail::solution_view V{B.nearest.data(), B.point_cost.data(), n, B.centers.size()};
        detail::cluster_table(V, weights, options.policy, ws.cluster_part);
        return detail::sample_solution(V, weights, m, options, ws);
    }
    const double total = detail::validate_shape_and_weights(points, weights, fn);
    require(k >= 1 && k <= n, fn, "k", "must lie in [1, n = ", n, "], got ", k);
    if (detail::all_rows_identical(points)) {
        // Identical rows are finite iff row 0 is; its first bad coordinate is the first one.
        for (std::size_t t = 0; t < points.cols(); ++t)
            if (!std::isfinite(points(0, t)))
                fail_argument(fn, "points", "coordinate (0, ", t, ") is ", points(0, t), " (must be finite)");
        return detail::identical_points_coreset(weights, total);
    }
    bicriteria_options bo;
    bo.z = options.z;
    bo.seed = options.seed;
    bo.rounds = options.rounds;
    bo.oversampling = options.oversampling;
    bo.policy = options.policy;
    std::size_t* nearest = ws.nearest.get(n);
    double* cost = ws.d2.get(n);
    if (!detail::bicriteria_core(points, weights, k, bo, detail::bicriteria_target{nearest, cost, &ws.centers, true, true},
                                 ws))
        detail::report_bad_coordinate(points, ws.bad, fn);
    const detail::solution_view V{nearest, cost, n, ws.centers.size()};
    return detail::sample_solution(V, weights, m, options, ws);
}

/// Uniform sampling with replacement: m indices, weights w_i * n / m (unbiased for any
/// centers). Validates points, weights, m >= 1.
template <class T>
coreset uniform_coreset(const_matrix_view<T> points, vector_view<const T> weights, std::size_t m,
                        std::uint64_t seed = 0) {
    const char* fn = "uniform_coreset";
    detail::require_m(m, fn);
    const double total = detail::validate_points(points, weights, fn);
    if (detail::all_rows_identical(points)) return detail::identical_points_coreset(weights, total);
    const std::size_t n = points.rows();
    const counter_rng rng(seed, 0x0417f);
    coreset c;
    c.indices.resize(m);
    c.weights.resize(m);
    for (std::size_t j = 0; j < m; ++j) {
        const std::size_t i = std::min(n - 1, static_cast<std::size_t>(rng.uniform_double(j) * static_cast<double>(n)));
        c.indices[j] = i;
        c.weights[j] = detail::weight_of(weights, i) * static_cast<double>(n) / static_cast<double>(m);
    }
    return c;
}

}  // namespace sensitivity
}  // namespace kestrel
