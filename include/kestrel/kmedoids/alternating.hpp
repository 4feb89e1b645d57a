// The alternating (Voronoi iteration, "k-means style") heuristic: assign every point to its
// nearest medoid, then move each medoid to the point of its cluster with the smallest total
// dissimilarity to the cluster (ties: lowest index); repeat until no medoid moves. Cheaper
// per iteration than SWAP but usually ends at a worse local optimum (Schubert & Rousseeuw
// 2021, sec. 2). Clusters are updated in parallel; results do not depend on threads.
#pragma once

#include <cstddef>
#include <limits>
#include <vector>

#include "../core/parallel.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

/// converged: the last iteration moved no medoid. The whole matrix is checked up front.
template <class D>
clustering alternating(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {}) {
    using T = typename D::value_type;
    detail::check_swap_input(d, medoids, opt, "alternating");
    const std::size_t n = d.size(), k = medoids.size();
    detail::nearest_cache<T> c;
    std::vector<std::vector<std::size_t>> members(k);
    std::size_t iter = 0, swaps = 0;
    bool converged = false;
    while (iter < opt.max_iter) {
        ++iter;
        detail::assign_all(d, medoids, c, opt.policy);
        for (auto& m : members) m.clear();
        for (std::size_t j = 0; j < n; ++j) members[c.nearest[j]].push_back(j);
        std::vector<std::size_t> next(medoids);
        parallel_for_dynamic(k, opt.policy, [&](std::size_t i) {
            double best = 0;  // the current medoid stays unless a member is strictly better
            for (std::size_t b : members[i]) best += static_cast<double>(d(medoids[i], b));
            for (std::size_t a : members[i]) {
                double s = 0;
                for (std::size_t b : members[i]) s += static_cast<double>(d(a, b));
                if (s < best) {
                    best = s;
                    next[i] = a;
                }
            }
        });
        std::size_t moved = 0;
        for (std::size_t i = 0; i < k; ++i) moved += next[i] != medoids[i];
        if (moved == 0) {
            converged = true;
            break;
        }
        swaps += moved;
        medoids = next;
    }
    detail::assign_all(d, medoids, c, opt.policy);
    return detail::finish(c, std::move(medoids), iter, swaps, converged);
}

}  // namespace kmedoids
}  // namespace kestrel
