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
//    same pass leaves the next round's D^z masses and block sums (one read of the points per
//    round). Duplicate draws and points already at distance 0 are dropped, so fewer centers
//    may come back.
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
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
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

/// Index drawn with probability w_i / W (draw `draw` of rng).
template <class T>
std::size_t draw_by_weight(vector_view<const T> w, std::size_t n, const counter_rng& rng, std::uint64_t draw,
                           exec_policy policy) {
    const double u = rng.uniform_double(draw);
    if (w.empty()) return std::min(n - 1, static_cast<std::size_t>(u * static_cast<double>(n)));
    std::vector<double> mass(n);
    for (std::size_t i = 0; i < n; ++i) mass[i] = static_cast<double>(w[i]);
    const auto prefix = block_prefix(mass.data(), n, policy);
    std::size_t out = 0;
    sample_iid(mass.data(), n, prefix, 1, rng, draw, &out);
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

/// bicriteria_seeding without the input checks (callers have validated).
///
/// Every pass over the points runs over the blocks of iid_block points that the draws use
/// and leaves behind, for each block, the sum of its D^z masses: the distance update of a
/// round is also the mass pass of the next round (one read of the points and of the
/// distances per round; the block boundaries depend on n only).
template <class T>
seeding_result bicriteria_unchecked(const_matrix_view<T> points, vector_view<const T> weights, std::size_t k,
                                    const bicriteria_options& options) {
    const std::size_t n = points.rows(), d = points.cols();
    const int z = options.z;
    const exec_policy policy = options.policy;
    const counter_rng rng(options.seed, 0xb1c5);
    const std::size_t per_round = std::min<std::size_t>(
        n, static_cast<std::size_t>(std::ceil(options.oversampling * static_cast<double>(k))));
    const std::size_t blocks = (n + iid_block - 1) / iid_block;

    seeding_result r;
    r.nearest.assign(n, 0);
    std::vector<double> d2(n), mass(n), block_sum(blocks), prefix(blocks + 1, 0.0);
    const std::size_t first = draw_by_weight(weights, n, rng, 0, policy);
    r.centers.push_back(first);
    parallel_for(blocks, policy, [&](std::size_t b) {
        const std::size_t e = std::min(n, (b + 1) * iid_block);
        double s = 0.0;
        for (std::size_t i = b * iid_block; i < e; ++i) {
            d2[i] = exact_squared_distance(points.row_data(i), points.row_data(first), d);
            mass[i] = weight_of(weights, i) * power_from_squared(d2[i], z);
            s += mass[i];
        }
        block_sum[b] = s;
    });

    // Scratch of the distance pass, one per thread slot (no allocation inside the loop).
    struct workspace {
        row_matrix<T> gram;
        std::vector<std::size_t> label = std::vector<std::size_t>(iid_block);
        std::vector<double> dist = std::vector<double>(iid_block);
    };
    std::vector<workspace> ws(static_cast<std::size_t>(effective_threads(policy)));
    std::vector<std::size_t> drawn(per_round), batch;
    std::vector<char> is_center(n, 0);
    is_center[first] = 1;
    std::vector<T> batch_rows;
    std::uint64_t next_draw = 1;
    for (std::size_t round = 0; round < options.rounds; ++round) {
        for (std::size_t b = 0; b < blocks; ++b) prefix[b + 1] = prefix[b] + block_sum[b];
        if (!(prefix.back() > 0.0)) break;  // every point sits on a center
        sample_iid(mass.data(), n, prefix, per_round, rng, next_draw, drawn.data());
        next_draw += per_round;
        batch.clear();
        for (std::size_t i : drawn)
            if (!is_center[i]) {
                is_center[i] = 1;
                batch.push_back(i);
            }
        std::sort(batch.begin(), batch.end());
        if (batch.empty()) continue;
        batch_rows.resize(batch.size() * d);
        for (std::size_t j = 0; j < batch.size(); ++j)
            std::copy(points.row_data(batch[j]), points.row_data(batch[j]) + d, batch_rows.begin() + j * d);
        const std::size_t offset = r.centers.size();
        r.centers.insert(r.centers.end(), batch.begin(), batch.end());
        const const_matrix_view<T> B(batch_rows.data(), batch.size(), d);
        const nearest_search<T> search(B);
        parallel_for(blocks, policy, [&](std::size_t b) {
            // A serial loop (one workspace) may run on a pool thread whose slot is not 0.
            workspace& w = ws[std::min(static_cast<std::size_t>(current_loop_slot()), ws.size() - 1)];
            const std::size_t s = b * iid_block, e = std::min(n, s + iid_block);
            search.assign(points, s, e, w.label.data(), w.dist.data(), w.gram);
            double sum = 0.0;
            for (std::size_t i = s; i < e; ++i) {
                if (w.dist[i - s] < d2[i]) {
                    d2[i] = w.dist[i - s];
                    r.nearest[i] = offset + w.label[i - s];
                }
                mass[i] = weight_of(weights, i) * power_from_squared(d2[i], z);
                sum += mass[i];
            }
            block_sum[b] = sum;
        });
    }
    finish_seeding(r, d2, weights, z, policy);
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
