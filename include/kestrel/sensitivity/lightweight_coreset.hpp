// Lightweight coreset for k-means (Bachem, Lucic and Krause, "Scalable k-means clustering via
// lightweight coresets", KDD 2018, Algorithm 1): half uniform, half D^2 to the data mean,
//     q_i = w_i / (2 W) + w_i d(x_i, mu)^2 / (2 sum_l w_l d(x_l, mu)^2),
// mu = sum_i w_i x_i / W; m points i.i.d. from q, weights w_i / (m q_i) (for unit weights:
// 1 / (m q_i), the paper's). Two passes over the data, no seeding: unbiased for any centers,
// with the paper's additive (eps W Var) guarantee rather than a multiplicative one.
// All points identical: the exact one-point coreset (clustering_coreset.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "clustering_coreset.hpp"
#include "kmeans_distances.hpp"

namespace kestrel {
namespace sensitivity {

/// Lightweight coreset of m points (k-means, z = 2). Validates points, weights, m >= 1.
template <class T>
coreset lightweight_coreset(const_matrix_view<T> points, vector_view<const T> weights, std::size_t m,
                            std::uint64_t seed = 0, exec_policy policy = {}) {
    const char* fn = "lightweight_coreset";
    require_valid_policy(policy, fn);
    detail::require_m(m, fn);
    const double total = detail::validate_points(points, weights, fn);
    if (detail::all_rows_identical(points)) return detail::identical_points_coreset(weights, total);
    const std::size_t n = points.rows(), d = points.cols();
    // Weighted mean: per-block sums in double over a fixed partition, combined in order.
    const std::size_t block = std::max<std::size_t>(detail::reduce_block, (n + 31) / 32);
    const std::size_t blocks = (n + block - 1) / block;
    std::vector<double> partial(blocks * d, 0.0);
    parallel_for(blocks, policy, [&](std::size_t b) {
        double* p = partial.data() + b * d;
        const std::size_t e = std::min(n, (b + 1) * block);
        for (std::size_t i = b * block; i < e; ++i) {
            const double wi = detail::weight_of(weights, i);
            const T* x = points.row_data(i);
            for (std::size_t t = 0; t < d; ++t) p[t] += wi * static_cast<double>(x[t]);
        }
    });
    std::vector<double> mu(partial.begin(), partial.begin() + static_cast<std::ptrdiff_t>(d));
    for (std::size_t b = 1; b < blocks; ++b)
        for (std::size_t t = 0; t < d; ++t) mu[t] += partial[b * d + t];
    for (auto& v : mu) v /= total;
    std::vector<double> d2(n);
    parallel_chunks(n, 1, policy, [&](std::size_t a, std::size_t e) {
        for (std::size_t i = a; i < e; ++i) {
            const T* x = points.row_data(i);
            double s = 0.0;
            for (std::size_t t = 0; t < d; ++t) {
                const double v = static_cast<double>(x[t]) - mu[t];
                s += v * v;
            }
            d2[i] = s;
        }
    });
    const double spread = detail::weighted_power_sum(d2, weights, 2, policy);
    std::vector<double> q(n);
    parallel_chunks(n, 1, policy, [&](std::size_t a, std::size_t e) {
        for (std::size_t i = a; i < e; ++i) {
            const double wi = detail::weight_of(weights, i);
            q[i] = 0.5 * wi / total + (spread > 0.0 ? 0.5 * wi * d2[i] / spread : 0.5 * wi / total);
        }
    });
    const counter_rng rng(seed, 0x119e7);
    return detail::sample_with_masses(q, weights, m, rng, policy);
}

}  // namespace sensitivity
}  // namespace kestrel
