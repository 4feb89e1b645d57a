// D^z seeding: k-means++ (z = 2, Arthur and Vassilvitskii 2007) and its k-median analogue
// (z = 1), on weighted points, and a bicriteria (oversampled, batched) variant.
//
//  * dz_seeding: the sequential law. The first center is drawn with probability w_i / W, each
//    next one with probability w_i D(x_i)^z / sum_l w_l D(x_l)^z, D the distance to the
//    nearest center chosen so far. One fused pass per new center computes the distance of
//    every point to it (direct form sum (x_t - c_t)^2 in T: no cancellation, relative error
//    about (d + 2) eps of T; the pass reads the points once per center, so it is bounded by
//    memory bandwidth, not by arithmetic - the batched variant below is the GEMM one),
//    updates the nearest distance and index, and accumulates the next draw's block masses.
//  * bicriteria_seeding: after the first center, `rounds` rounds each draw
//    ceil(oversampling * k) centers i.i.d. from the current D^z law at once (the
//    oversampling of k-means|| by Bahmani et al. 2012; coreset constructions accept any
//    O(1)-approximate solution with O(k) centers). The default, 3 rounds of 2k/3 (about 2k
//    centers), measured better coresets than 2 rounds of k at the same cost: on data with a
//    far cluster, the first round puts most of its draws there, and later rounds correct
//    that (tests/sensitivity/test_coresets_distortion.cpp). The distance update of a round is
//    one product of the points against the round's centers (GEMM speed, see
//    kmeans_distances.hpp), then the chosen center's distance is recomputed exactly; the
//    same pass leaves the next round's D^z block sums (one read of the points per round; the
//    masses themselves are recomputed in the few blocks the draws land in, never stored).
//    Duplicate draws and points already at distance 0 are dropped, so fewer centers may come
//    back.
//    Guarantee: none in the worst case for a fixed number of rounds. k-means|| is an O(1)
//    bicriteria approximation after O(log Var X) rounds (Bahmani et al. 2012), a bound
//    Rozhon (2020) tightens to O(log Var X / log log Var X); 3 rounds are a measured choice,
//    not a proven one. A sensitivity coreset built on any solution is still unbiased for
//    every center set; only its distortion bound degrades with the solution's approximation
//    factor, which is why the tests and the benchmark measure the distortion.
//
// Randomness: draw j of the seeding is uniform_double(j) of counter_rng(seed, stream), and
// the masses are summed over blocks of fixed size: the same centers at any thread count.
// When the D^z mass is zero (fewer distinct points than centers asked for), the next center
// is drawn by weight alone and may coincide with a chosen one (its distance stays 0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "coreset_workspace.hpp"
#include "detail/iid_sampling.hpp"
#include "kmeans_distances.hpp"

namespace kestrel {
namespace sensitivity {

struct seeding_options {
    int z = 2;                ///< 2: k-means++ (D^2), 1: k-median (D^1)
    std::uint64_t seed = 0;   ///< stream key of the draws
    exec_policy policy = {};  ///< threads (the result does not depend on them)
};

struct bicriteria_options {
    int z = 2;
    std::uint64_t seed = 0;
    std::size_t rounds = 3;            ///< rounds of batched draws after the first center (>= 1)
    double oversampling = 2.0 / 3.0;   ///< centers drawn per round = ceil(oversampling * k) (> 0)
    exec_policy policy = {};
};

/// A seeding: the chosen centers (row indices of the points, in the order drawn) and, for
/// every point, the index into `centers` of its nearest center and its cost d(x_i, C)^z
/// (unweighted); `cost` = sum_i w_i point_cost[i].
struct seeding_result {
    std::vector<std::size_t> centers;
    std::vector<std::size_t> nearest;
    std::vector<double> point_cost;
    double cost = 0.0;
    int z = 2;
};

namespace detail {

/// Masses w_i * d2_i^(z/2) into `mass` (parallel, elementwise).
template <class T>
void dz_masses(const std::vector<double>& d2, vector_view<const T> w, int z, std::vector<double>& mass,
               exec_policy policy) {
    const std::size_t n = d2.size();
    mass.resize(n);
    parallel_chunks(n, 1, policy, [&](std::size_t a, std::size_t b) {
        for (std::size_t i = a; i < b; ++i) mass[i] = weight_of(w, i) * power_from_squared(d2[i], z);
    });
}

/// Index drawn with probability w_i / W (draw `draw` of rng). The block sums of the weights
/// are taken in parallel and the draw reads the weights where it lands (no copy of them).
template <class T>
std::size_t draw_by_weight(vector_view<const T> w, std::size_t n, const counter_rng& rng, std::uint64_t draw,
                           exec_policy policy) {
    const double u = rng.uniform_double(draw);
    if (w.empty()) return std::min(n - 1, static_cast<std::size_t>(u * static_cast<double>(n)));
    const std::size_t blocks = (n + iid_block - 1) / iid_block;
    std::vector<double> prefix(blocks + 1, 0.0);
    parallel_for(blocks, policy, [&](std::size_t b) {
        double s = 0.0;
        const std::size_t e = std::min(n, (b + 1) * iid_block);
        for (std::size_t i = b * iid_block; i < e; ++i) s += static_cast<double>(w[i]);
        prefix[b + 1] = s;
    });
    for (std::size_t b = 0; b < blocks; ++b) prefix[b + 1] += prefix[b];
    std::size_t out = 0;
    sample_iid_by([&](std::size_t i) { return static_cast<double>(w[i]); }, n, prefix, 1, rng, draw, &out);
    return out;
}

/// Turns the squared distances into the result's per-point costs and total.
template <class T>
void finish_seeding(seeding_result& r, std::vector<double>& d2, vector_view<const T> w, int z, exec_policy policy) {
    r.z = z;
    r.cost = weighted_power_sum(d2, w, z, policy);
    if (z == 1)
        parallel_chunks(d2.size(), 1, policy, [&](std::size_t a, std::size_t b) {
            for (std::size_t i = a; i < b; ++i) d2[i] = std::sqrt(d2[i]);
        });
    r.point_cost = std::move(d2);
}

}  // namespace detail

namespace detail {

/// dz_seeding without the input checks (callers have validated).
template <class T>
seeding_result dz_seeding_unchecked(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                                    const seeding_options& options) {
    const std::size_t n = points.rows(), d = points.cols();
    const int z = options.z;
    const exec_policy policy = options.policy;
    const counter_rng rng(options.seed, 0x5eed);

    seeding_result r;
    r.centers.reserve(k);
    r.nearest.assign(n, 0);
    std::vector<double> d2(n);
    const std::size_t blocks = (n + iid_block - 1) / iid_block;
    std::vector<double> prefix(blocks + 1, 0.0);
    std::vector<double> mass(n);

    std::size_t c = draw_by_weight(weights, n, rng, 0, policy);
    for (std::size_t j = 0; j < k; ++j) {
        r.centers.push_back(c);
        const T* cx = points.row_data(c);
        // Fused pass: exact distance to the new center, nearest update, next draw's masses.
        parallel_for(blocks, policy, [&](std::size_t b) {
            const std::size_t e = std::min(n, (b + 1) * iid_block);
            double s = 0.0;
            for (std::size_t i = b * iid_block; i < e; ++i) {
                const double dd = direct_squared_distance(points.row_data(i), cx, d);
                if (j == 0 || dd < d2[i]) {
                    d2[i] = dd;
                    r.nearest[i] = j;
                }
                const double mi = weight_of(weights, i) * power_from_squared(d2[i], z);
                mass[i] = mi;
                s += mi;
            }
            prefix[b + 1] = s;
        });
        if (j + 1 == k) break;
        for (std::size_t b = 0; b < blocks; ++b) prefix[b + 1] += prefix[b];  // block sums -> prefix
        if (prefix.back() > 0.0)
            sample_iid(mass.data(), n, prefix, 1, rng, j + 1, &c);
        else
            c = draw_by_weight(weights, n, rng, j + 1, policy);
    }
    finish_seeding(r, d2, weights, z, policy);
    return r;
}

/// Draw blocks (iid_block points) are visited in groups of blocks_per_group(blocks)
/// consecutive blocks, one group per parallel iteration: at most 64 groups whatever n, so a
/// per-group table of per-center sums stays small (boundaries depend on n only).
static_assert(iid_block == reduce_block, "the fused input check flags blocks of reduce_block rows");
inline std::size_t blocks_per_group(std::size_t blocks) noexcept {
    return std::max<std::size_t>(1, (blocks + 63) / 64);
}

/// Calls body(b, s, e) for every draw block b = [s, e) of [0, n): the blocks of a group in
/// order on one thread, the groups in parallel.
template <class Body>
void for_each_block_grouped(std::size_t n, exec_policy policy, const Body& body) {
    const std::size_t blocks = (n + iid_block - 1) / iid_block, per = blocks_per_group(blocks);
    const std::size_t groups = (blocks + per - 1) / per;
    parallel_for(groups, policy, [&](std::size_t g) {
        for (std::size_t b = g * per; b < std::min(blocks, (g + 1) * per); ++b)
            body(b, b * iid_block, std::min(n, (b + 1) * iid_block));
    });
}

/// p[2 c] += w_i cost_i and p[2 c + 1] += w_i for the points i of [s, e), c = nearest[i].
/// Never inlined: the fused pass of the seeding and the separate pass of
/// sensitivity_coreset_from run this one body, so their sums agree to the last bit.
template <class T>
[[gnu::noinline]] void add_cluster_sums(double* p, const std::size_t* nearest, const double* cost,
                                        vector_view<const T> w, std::size_t s, std::size_t e) noexcept {
    for (std::size_t i = s; i < e; ++i) {
        const double wi = weight_of(w, i);
        p[2 * nearest[i]] += wi * cost[i];
        p[2 * nearest[i] + 1] += wi;
    }
}

/// Where bicriteria_core writes: every point's nearest center (index into centers) and its
/// squared distance (with final_costs: its cost d^z, and ws.cluster_part holds, per group of
/// blocks, (cost, weight) per center; see bicriteria_core).
struct bicriteria_target {
    std::size_t* nearest;
    double* d2;
    std::vector<std::size_t>* centers;
    bool check_finite;  ///< the first pass also flags blocks with a non-finite coordinate
    bool final_costs;   ///< the last round's pass also leaves the costs and the cluster table
};

/// The bicriteria seeding without the input checks on the points' coordinates (with
/// check_finite the first pass flags blocks holding a non-finite one in ws.bad, and the
/// function returns false right after that pass if any: nothing else is computed). Returns
/// true when done; then, with final_costs, out.d2 holds the costs d(x_i, B)^z and
/// ws.cluster_part the per-group cluster table (add_cluster_sums over the group's blocks in
/// order), both written by the last round's pass or, if that round drew nothing new, by one
/// more pass.
///
/// Every pass over the points runs over the blocks of iid_block points that the draws use
/// and leaves behind, for each block, the sum of its D^z masses: the distance update of a
/// round is also the mass pass of the next round (one read of the points and of the
/// distances per round; the block boundaries depend on n only). The masses are not stored:
/// the draws recompute w_i d_i^z in the few blocks they land in.
template <class T>
bool bicriteria_core(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                     const bicriteria_options& options, const bicriteria_target& out, coreset_workspace& ws) {
    const std::size_t n = points.rows(), d = points.cols();
    const int z = options.z;
    const exec_policy policy = options.policy;
    const counter_rng rng(options.seed, 0xb1c5);
    const std::size_t per_round = std::min<std::size_t>(
        n, static_cast<std::size_t>(std::ceil(options.oversampling * static_cast<double>(k))));
    const std::size_t blocks = (n + iid_block - 1) / iid_block;
    const std::size_t groups = (blocks + blocks_per_group(blocks) - 1) / blocks_per_group(blocks);
    std::size_t* const nearest = out.nearest;
    double* const d2 = out.d2;
    std::vector<std::size_t>& centers = *out.centers;
    const auto mass = [&](std::size_t i) { return weight_of(weights, i) * power_from_squared(d2[i], z); };

    ws.block_sum.resize(blocks);
    ws.prefix.assign(blocks + 1, 0.0);
    const std::size_t first = draw_by_weight(weights, n, rng, 0, policy);
    centers.assign(1, first);
    if (out.check_finite) ws.bad.assign(blocks, 0);
    const T* const cf = points.row_data(first);
    for_each_block_grouped(n, policy, [&](std::size_t b, std::size_t s, std::size_t e) {
        double sum = 0.0;
        bool ok = true;
        for (std::size_t i = s; i < e; ++i) {
            const T* x = points.row_data(i);
            if (out.check_finite)  // |x| <= max is false for inf and NaN (branch-free)
                for (std::size_t t = 0; t < d; ++t) ok &= std::abs(x[t]) <= std::numeric_limits<T>::max();
            d2[i] = exact_squared_distance(x, cf, d);
            nearest[i] = 0;
            sum += mass(i);
        }
        ws.block_sum[b] = sum;
        if (out.check_finite) ws.bad[b] = ok ? 0 : 1;
    });
    if (out.check_finite)
        for (char flag : ws.bad)
            if (flag) return false;

    // Scratch of the distance pass, one per thread slot (no allocation inside the loop).
    auto& scratch = ws.scratch<T>();
    const std::size_t slots = static_cast<std::size_t>(effective_threads(policy));
    if (scratch.size() < slots) scratch.resize(slots);
    for (auto& q : scratch) {
        q.label.resize(iid_block);
        q.dist.resize(iid_block);
    }
    ws.drawn.resize(per_round);
    ws.sorted_centers.assign(1, first);
    std::vector<T> batch_rows;
    std::uint64_t next_draw = 1;
    bool costs_done = false;
    for (std::size_t round = 0; round < options.rounds; ++round) {
        double* prefix = ws.prefix.data();
        for (std::size_t b = 0; b < blocks; ++b) prefix[b + 1] = prefix[b] + ws.block_sum[b];
        if (!(prefix[blocks] > 0.0)) break;  // every point sits on a center
        sample_iid_by(mass, n, ws.prefix, per_round, rng, next_draw, ws.drawn.data());
        next_draw += per_round;
        // New centers: drawn, not yet centers, each once, in increasing index order.
        ws.batch.clear();
        for (std::size_t i : ws.drawn)
            if (!std::binary_search(ws.sorted_centers.begin(), ws.sorted_centers.end(), i)) ws.batch.push_back(i);
        std::sort(ws.batch.begin(), ws.batch.end());
        ws.batch.erase(std::unique(ws.batch.begin(), ws.batch.end()), ws.batch.end());
        if (ws.batch.empty()) continue;
        const std::size_t nb = ws.batch.size();
        ws.sorted_centers.insert(ws.sorted_centers.end(), ws.batch.begin(), ws.batch.end());
        std::inplace_merge(ws.sorted_centers.begin(), ws.sorted_centers.end() - static_cast<std::ptrdiff_t>(nb),
                           ws.sorted_centers.end());
        batch_rows.resize(nb * d);
        for (std::size_t j = 0; j < nb; ++j)
            std::copy(points.row_data(ws.batch[j]), points.row_data(ws.batch[j]) + d, batch_rows.begin() + j * d);
        const std::size_t offset = centers.size();
        centers.insert(centers.end(), ws.batch.begin(), ws.batch.end());
        const std::size_t kb = centers.size();
        // The last round's pass leaves the costs and the cluster table instead of masses.
        const bool last = out.final_costs && round + 1 == options.rounds;
        if (last) ws.cluster_part.assign(groups * 2 * kb, 0.0);
        const const_matrix_view<T> B(batch_rows.data(), nb, d);
        const nearest_search<T> search(B);
        const std::size_t per = blocks_per_group(blocks);
        for_each_block_grouped(n, policy, [&](std::size_t b, std::size_t s, std::size_t e) {
            // A serial loop (one workspace) may run on a pool thread whose slot is not 0.
            auto& w = scratch[std::min(static_cast<std::size_t>(current_loop_slot()), slots - 1)];
            search.assign(points, s, e, w.label.data(), w.dist.data(), w.gram);
            if (last) {
                for (std::size_t i = s; i < e; ++i) {
                    if (w.dist[i - s] < d2[i]) {
                        d2[i] = w.dist[i - s];
                        nearest[i] = offset + w.label[i - s];
                    }
                    if (z == 1) d2[i] = std::sqrt(d2[i]);
                }
                add_cluster_sums(ws.cluster_part.data() + (b / per) * 2 * kb, nearest, d2, weights, s, e);
                return;
            }
            double sum = 0.0;
            for (std::size_t i = s; i < e; ++i) {
                if (w.dist[i - s] < d2[i]) {
                    d2[i] = w.dist[i - s];
                    nearest[i] = offset + w.label[i - s];
                }
                sum += mass(i);
            }
            ws.block_sum[b] = sum;
        });
        costs_done = last;
    }
    if (out.final_costs && !costs_done) {
        // The last round drew nothing new (or every point sits on a center): one more pass.
        const std::size_t kb = centers.size(), per = blocks_per_group(blocks);
        ws.cluster_part.assign(groups * 2 * kb, 0.0);
        for_each_block_grouped(n, policy, [&](std::size_t b, std::size_t s, std::size_t e) {
            if (z == 1)
                for (std::size_t i = s; i < e; ++i) d2[i] = std::sqrt(d2[i]);
            add_cluster_sums(ws.cluster_part.data() + (b / per) * 2 * kb, nearest, d2, weights, s, e);
        });
    }
    return true;
}

/// bicriteria_seeding without the input checks (callers have validated).
template <class T>
seeding_result bicriteria_unchecked(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                                    const bicriteria_options& options) {
    const std::size_t n = points.rows();
    seeding_result r;
    r.nearest.resize(n);
    std::vector<double> d2(n);
    coreset_workspace ws;
    bicriteria_core(points, weights, k, options, bicriteria_target{r.nearest.data(), d2.data(), &r.centers, false, false},
                    ws);
    finish_seeding(r, d2, weights, options.z, options.policy);
    return r;
}

}  // namespace detail

/// Sequential D^z seeding of k centers (see the header comment). O(n k d), one read of the
/// points per center. Validates points, weights, 1 <= k <= n, z in {1, 2}.
template <class T>
seeding_result dz_seeding(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                          const seeding_options& options = {}) {
    const char* fn = "dz_seeding";
    require_valid_policy(options.policy, fn);
    detail::require_z(options.z, fn);
    detail::validate_points(points, weights, fn, options.policy);
    const std::size_t n = points.rows();
    require(k >= 1 && k <= n, fn, "k", "must lie in [1, n = ", n, "], got ", k);
    return detail::dz_seeding_unchecked(points, weights, k, options);
}

/// Batched, oversampled D^z seeding (bicriteria; see the header comment): at most
/// 1 + rounds * ceil(oversampling * k) centers. Validates as dz_seeding, plus rounds >= 1 and
/// a finite oversampling > 0.
template <class T>
seeding_result bicriteria_seeding(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                                  const bicriteria_options& options = {}) {
    const char* fn = "bicriteria_seeding";
    require_valid_policy(options.policy, fn);
    detail::require_z(options.z, fn);
    require(options.rounds >= 1, fn, "rounds", "must be >= 1, got ", options.rounds);
    require(options.oversampling > 0.0 && std::isfinite(options.oversampling) && options.oversampling <= 1e6, fn,
            "oversampling", "must be finite, > 0 and <= 1e6, got ", options.oversampling);
    detail::validate_points(points, weights, fn, options.policy);
    const std::size_t n = points.rows();
    require(k >= 1 && k <= n, fn, "k", "must lie in [1, n = ", n, "], got ", k);
    return detail::bicriteria_unchecked(points, weights, k, options);
}

}  // namespace sensitivity
}  // namespace kestrel
