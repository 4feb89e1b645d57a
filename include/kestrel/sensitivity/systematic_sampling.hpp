// Systematic sampling (probability-proportional-to-size systematic sampling, Madow 1949): one
// uniform start U in [0, 1) and the m equally spaced points t_k = (U + k) * W / m, k = 0..m-1,
// on the cumulative weights; item i receives every point in [C_{i-1}, C_i), C_i = w_0 + ... + w_i.
//
// Law: point k lands in item i with probability w_i / W (U is uniform), and item i receives
// floor(m p_i) or ceil(m p_i) points (p_i = w_i / W), with mean m p_i. Hence when every m p_i <= 1
// the sample has no repeats and item i is included with probability exactly m p_i
// (= min(1, m p_i)); when some m p_i > 1 that item appears floor or ceil of m p_i times in the
// output (with-replacement semantics: the output always holds exactly m indices). Joint
// inclusion probabilities depend on the order of the items (two small items closer than W / m
// on the cumulative axis are never both taken): first-order inclusion is exact, the joint law
// is not that of independent or successive sampling.
//
// Cumulative sums: C_i = P_b + (w_{b0} + ... + w_i) with P_b the sum of the previous blocks'
// sums (fixed sampling_block blocks), all in double. The same numbers bound every block at any
// thread count, so the sample is the same at any thread count; the last point, if rounding puts
// it at or beyond W, goes to the last positive item. Zero weights get no points.
// Randomness: U = counter_rng::uniform_double(draw) (one draw of the stream).
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
#include "sampling_weights.hpp"

namespace kestrel::sensitivity {

/// Writes the m = out_indices.size() >= 1 systematic points' items, in increasing index order
/// (one entry per point, so an item with m p_i > 1 repeats). Uses draw `draw` of rng for U.
template <class T>
void systematic_sample(vector_view<const T> weights, const counter_rng& rng, vector_view<std::size_t> out_indices,
                       exec_policy policy = {}, std::uint64_t draw = 0) {
    const char* f = "systematic_sample";
    std::vector<double> block_sum;
    const sampling_weight_summary s = detail::weight_blocks(weights, f, policy, "weights", block_sum);
    const std::size_t m = out_indices.size();
    require(m >= 1, f, "out_indices", "is empty (the sample size m is its size and must be >= 1)");

    const std::size_t n = weights.size(), nb = block_sum.size();
    const double total = s.total, u = rng.uniform_double(draw), h = total / static_cast<double>(m);
    auto point = [&](std::size_t k) { return (u + static_cast<double>(k)) * h; };
    // #{k < m : t_k < x}, from the closed form then corrected against the actual t_k.
    auto count_below = [&](double x) {
        double e = std::ceil(x / h - u);
        std::size_t k = e <= 0.0 ? 0 : (e >= static_cast<double>(m) ? m : static_cast<std::size_t>(e));
        while (k > 0 && !(point(k - 1) < x)) --k;
        while (k < m && point(k) < x) ++k;
        return k;
    };
    std::vector<double> start(nb + 1, 0.0);
    for (std::size_t b = 0; b < nb; ++b) start[b + 1] = start[b] + block_sum[b];  // start[nb] == total
    std::vector<std::size_t> first(nb + 1, 0);
    for (std::size_t b = 1; b <= nb; ++b) first[b] = count_below(start[b]);

    parallel_for(nb, detail::small_serial(n, policy), [&](std::size_t b) {
        const std::size_t i0 = b * sampling_block, i1 = std::min(n, i0 + sampling_block);
        std::size_t k = first[b];
        const std::size_t kend = first[b + 1];
        double within = 0.0;
        for (std::size_t i = i0; i < i1 && k < kend; ++i) {
            within += static_cast<double>(weights[i]);
            const double right = start[b] + within;
            while (k < kend && point(k) < right) out_indices[k++] = i;
        }
    });
    if (first[nb] < m) {  // rounding put the last points at or beyond W
        std::size_t last = n - 1;
        while (!(weights[last] > T(0))) --last;
        for (std::size_t k = first[nb]; k < m; ++k) out_indices[k] = last;
    }
}

}  // namespace kestrel::sensitivity
