// Silhouettes of a clustering.
//
// silhouette (Rousseeuw 1987): for point j in cluster A with |A| > 1, a = mean dissimilarity
// to the other members of A, b = smallest mean dissimilarity to the members of another
// cluster, s_j = (b - a) / max(a, b) (0 when both are 0); s_j = 0 for singletons. O(n^2),
// parallel over points; the mean is summed in index order, so it is thread-count invariant.
//
// medoid silhouette (Lenssen & Schubert 2022): s_j = 1 - d(j, nearest medoid) /
// d(j, second-nearest medoid), taken as 0 when both are 0 (and 1 for k = 1 is undefined:
// k >= 2 is required). O(nk).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"

namespace kestrel {
namespace kmedoids {

/// Per-point silhouettes into `per_point` (resized to n, written only on success); returns
/// their mean. labels[j] in [0, n); k = 1 + max label (empty clusters are allowed). Every
/// dissimilarity is read, and checked (finite, >= 0, zero diagonal) in the same pass.
template <class D>
double silhouette(const D& d, const std::vector<std::size_t>& labels, std::vector<double>* per_point = nullptr,
                  exec_policy policy = {}) {
    detail::check_policy(policy, "silhouette");
    const std::size_t n = d.size();
    detail::check_size(n, "silhouette");
    require_size(labels.size(), n, "silhouette", "labels", "the number of points");
    require(n > 0, "silhouette", "labels", "is empty");
    const auto top = std::max_element(labels.begin(), labels.end());
    require(*top < n, "silhouette", "labels", "entry ", top - labels.begin(), " = ", *top, " is not below n = ", n);
    const std::size_t k = *top + 1;
    std::vector<std::size_t> size(k, 0);
    for (std::size_t l : labels) ++size[l];
    std::vector<double> s(n, 0.0);
    const std::size_t nblocks = std::min<std::size_t>(n, 64);
    std::vector<double> scratch(nblocks * k);
    std::vector<std::size_t> bad(nblocks, n);
    parallel_for_dynamic(nblocks, policy, [&](std::size_t blk) {
        const block_range r = block_bounds(n, nblocks, blk);
        double* sum = scratch.data() + blk * k;
        for (std::size_t j = r.begin; j < r.end; ++j) {
            if (!detail::row_ok(d, j)) {  // the row is read next anyway (and stays in cache)
                bad[blk] = std::min(bad[blk], j);
                break;
            }
            std::fill(sum, sum + k, 0.0);
            for (std::size_t o = 0; o < n; ++o) sum[labels[o]] += static_cast<double>(d(j, o));
            const std::size_t own = labels[j];
            if (size[own] <= 1) {
                s[j] = 0.0;
                continue;
            }
            const double a = sum[own] / double(size[own] - 1);
            double b = std::numeric_limits<double>::infinity();
            for (std::size_t l = 0; l < k; ++l)
                if (l != own && size[l] > 0) b = std::min(b, sum[l] / double(size[l]));
            if (b == std::numeric_limits<double>::infinity()) {
                s[j] = 0.0;  // a single non-empty cluster
                continue;
            }
            const double m = std::max(a, b);
            s[j] = m > 0 ? (b - a) / m : 0.0;
        }
    });
    const std::size_t first_bad = *std::min_element(bad.begin(), bad.end());
    if (first_bad < n) detail::fail_row(d, first_bad, "silhouette");
    double mean = 0;
    for (double v : s) mean += v;
    mean /= double(n);
    if (per_point) *per_point = std::move(s);
    return mean;
}

/// Mean medoid silhouette of the given medoids (k >= 2); per-point values optional (written
/// only on success). Checks every value it reads (the medoids' rows).
template <class D>
double medoid_silhouette(const D& d, const std::vector<std::size_t>& medoids, std::vector<double>* per_point = nullptr) {
    using T = typename D::value_type;
    detail::check_medoids(d.size(), medoids, "medoid_silhouette");
    require(medoids.size() >= 2, "medoid_silhouette", "medoids", "needs k >= 2, got ", medoids.size());
    detail::check_rows_now(d, medoids, "medoid_silhouette");
    detail::nearest_cache<T> c;
    detail::assign_all(d, medoids, c);
    const std::size_t n = d.size();
    std::vector<double> s(n);
    double mean = 0;
    for (std::size_t j = 0; j < n; ++j) {
        const double a = c.dn[j], b = c.ds[j];
        s[j] = b > 0 ? 1.0 - a / b : 0.0;
        mean += s[j];
    }
    if (per_point) *per_point = std::move(s);
    return mean / double(n);
}

}  // namespace kmedoids
}  // namespace kestrel
