// Weighted clustering cost and weighted Lloyd k-means (from k-means++ seeding), the solver
// the coreset example and the distortion tool run on full data and on coresets alike.
//
// cost(C) = sum_i w_i min_j ||x_i - c_j||^z: nearest center by the Gram form, the distance to
// it exact in double (kmeans_distances.hpp), summed over fixed blocks in block order.
// Lloyd: assign every point to its nearest center, move each center to the weighted mean of
// its points (a center whose cluster has no weight stays where it is), until the cost
// decreases by less than tolerance * cost or max_iterations is reached.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "dz_seeding.hpp"
#include "kmeans_distances.hpp"

namespace kestrel {
namespace sensitivity {

/// Weighted cost of `centers` on the points: sum_i w_i d(x_i, centers)^z. Validates points,
/// weights, centers (finite, same d) and z.
template <class T>
double clustering_cost(const_matrix_view<T> points, vector_view<const T> weights, const_matrix_view<T> centers,
                       int z = 2, exec_policy policy = {}) {
    const char* fn = "clustering_cost";
    require_valid_policy(policy, fn);
    detail::require_z(z, fn);
    detail::validate_points(points, weights, fn, policy);
    detail::validate_centers(centers, points.cols(), fn);
    std::vector<std::size_t> label(points.rows());
    std::vector<double> d2(points.rows());
    detail::assign_all(points, centers, label.data(), d2.data(), policy);
    return detail::weighted_power_sum(d2, weights, z, policy);
}

struct lloyd_options {
    std::size_t max_iterations = 50;  ///< Lloyd steps at most (0: just assign)
    double tolerance = 1e-6;          ///< stop when the cost falls by less than tolerance * cost
    exec_policy policy = {};
};

/// A k-means solution: k x d centers (row-major), every point's label, the weighted cost
/// sum_i w_i ||x_i - c_label||^2 of the final centers, and the Lloyd steps taken.
template <class T>
struct kmeans_solution {
    std::vector<T> centers;
    std::size_t k = 0, d = 0;
    std::vector<std::size_t> labels;
    double cost = 0.0;
    std::size_t iterations = 0;
    const_matrix_view<T> centers_view() const { return const_matrix_view<T>(centers.data(), k, d); }
};

namespace detail {

template <class T>
kmeans_solution<std::remove_cv_t<T>> lloyd_unchecked(const_matrix_view<T> X, vector_view<const T> w,
                                                     std::vector<std::remove_cv_t<T>> centers, std::size_t k,
                                                     const lloyd_options& o) {
    using V = std::remove_cv_t<T>;
    const std::size_t n = X.rows(), d = X.cols();
    kmeans_solution<V> s;
    s.k = k;
    s.d = d;
    s.centers = std::move(centers);
    s.labels.assign(n, 0);
    std::vector<double> d2(n);
    // Fixed partition (depends on n only) for the centroid sums; partials combined in order.
    const std::size_t block = std::max<std::size_t>(reduce_block, (n + 31) / 32);
    const std::size_t blocks = (n + block - 1) / block;
    std::vector<double> partial(blocks * k * (d + 1));
    double previous = 0.0;
    for (std::size_t it = 0;; ++it) {
        const const_matrix_view<V> C(s.centers.data(), k, d);
        assign_all(X, C, s.labels.data(), d2.data(), o.policy);
        s.cost = weighted_power_sum(d2, w, 2, o.policy);
        const bool converged = it > 0 && previous - s.cost <= o.tolerance * s.cost;
        if (it == o.max_iterations || converged || s.cost == 0.0) break;
        previous = s.cost;
        parallel_for(blocks, o.policy, [&](std::size_t b) {
            double* p = partial.data() + b * k * (d + 1);
            std::fill(p, p + k * (d + 1), 0.0);
            const std::size_t e = std::min(n, (b + 1) * block);
            for (std::size_t i = b * block; i < e; ++i) {
                const double wi = weight_of(w, i);
                double* q = p + s.labels[i] * (d + 1);
                q[d] += wi;
                const T* x = X.row_data(i);
                for (std::size_t t = 0; t < d; ++t) q[t] += wi * static_cast<double>(x[t]);
            }
        });
        for (std::size_t b = 1; b < blocks; ++b)
            for (std::size_t q = 0; q < k * (d + 1); ++q) partial[q] += partial[b * k * (d + 1) + q];
        for (std::size_t j = 0; j < k; ++j) {
            const double wj = partial[j * (d + 1) + d];
            if (!(wj > 0.0)) continue;
            for (std::size_t t = 0; t < d; ++t) s.centers[j * d + t] = static_cast<V>(partial[j * (d + 1) + t] / wj);
        }
        s.iterations = it + 1;
    }
    return s;
}

}  // namespace detail

/// Weighted Lloyd from the given k x d initial centers. Validates points, weights, centers.
template <class T>
kmeans_solution<std::remove_cv_t<T>> weighted_lloyd(const_matrix_view<T> points, vector_view<const T> weights,
                                                    const_matrix_view<T> initial_centers,
                                                    const lloyd_options& options = {}) {
    const char* fn = "weighted_lloyd";
    require_valid_policy(options.policy, fn);
    require(options.tolerance >= 0.0 && std::isfinite(options.tolerance), fn, "tolerance",
            "must be finite and >= 0, got ", options.tolerance);
    detail::validate_points(points, weights, fn);
    detail::validate_centers(initial_centers, points.cols(), fn);
    const std::size_t k = initial_centers.rows(), d = points.cols();
    std::vector<std::remove_cv_t<T>> c(k * d);
    for (std::size_t j = 0; j < k; ++j)
        std::copy(initial_centers.row_data(j), initial_centers.row_data(j) + d, c.begin() + j * d);
    return detail::lloyd_unchecked(points, weights, std::move(c), k, options);
}

/// k-means: k-means++ seeding (dz_seeding, z = 2, `seed`) then weighted Lloyd. Validates as
/// dz_seeding and weighted_lloyd.
template <class T>
kmeans_solution<std::remove_cv_t<T>> weighted_kmeans(const_matrix_view<T> points, vector_view<const T> weights,
                                                     std::size_t k, std::uint64_t seed = 0,
                                                     const lloyd_options& options = {}) {
    const char* fn = "weighted_kmeans";
    require_valid_policy(options.policy, fn);
    require(options.tolerance >= 0.0 && std::isfinite(options.tolerance), fn, "tolerance",
            "must be finite and >= 0, got ", options.tolerance);
    detail::validate_points(points, weights, fn);
    require(k >= 1 && k <= points.rows(), fn, "k", "must lie in [1, n = ", points.rows(), "], got ", k);
    seeding_options so;
    so.seed = seed;
    so.policy = options.policy;
    const auto seeding = dz_seeding(points, weights, k, so);
    const std::size_t d = points.cols();
    std::vector<std::remove_cv_t<T>> c(k * d);
    for (std::size_t j = 0; j < k; ++j)
        std::copy(points.row_data(seeding.centers[j]), points.row_data(seeding.centers[j]) + d, c.begin() + j * d);
    return detail::lloyd_unchecked(points, weights, std::move(c), k, options);
}

}  // namespace sensitivity
}  // namespace kestrel
