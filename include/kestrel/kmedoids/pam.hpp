// The original PAM of Kaufman & Rousseeuw (Finding Groups in Data, 1990, ch. 2): BUILD and
// SWAP, as the reference the fast variants are checked against (and the benchmarks' baseline).
// SWAP evaluates every (medoid slot i, non-medoid h) pair with a full pass over the points,
// O(k (n - k) n) per iteration, and makes the best swap (rules in result.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

/// Original PAM SWAP from the given medoids (the whole matrix is checked up front: the
/// reference reads it k times per iteration anyway). converged: the last iteration found no
/// improving swap.
template <class D>
clustering pam_swap(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {}) {
    using T = typename D::value_type;
    detail::check_swap_input(d, medoids, opt, "pam_swap");
    const std::size_t n = d.size(), k = medoids.size();
    detail::nearest_cache<T> c;
    detail::assign_all(d, medoids, c);
    std::vector<char> is_medoid(n, 0);
    for (auto m : medoids) is_medoid[m] = 1;
    std::size_t iter = 0, swaps = 0;
    bool converged = false;
    while (iter < opt.max_iter) {
        ++iter;
        double best = 0;
        std::size_t best_h = n, best_i = k;
        for (std::size_t h = 0; h < n; ++h) {
            if (is_medoid[h]) continue;
            for (std::size_t i = 0; i < k; ++i) {
                double t = 0;  // total change TD_ih = sum_j C_jih
                for (std::size_t j = 0; j < n; ++j) {
                    const double djh = static_cast<double>(d(h, j));
                    const double dj = static_cast<double>(c.dn[j]), ej = static_cast<double>(c.ds[j]);
                    t += c.nearest[j] == i ? std::min(djh, ej) - dj : std::min(djh - dj, 0.0);
                }
                if (t < best) {
                    best = t;
                    best_h = h;
                    best_i = i;
                }
            }
        }
        if (!(best < 0)) {
            converged = true;
            break;
        }
        is_medoid[medoids[best_i]] = 0;
        is_medoid[best_h] = 1;
        medoids[best_i] = best_h;
        ++swaps;
        detail::assign_all(d, medoids, c);
    }
    return detail::finish(c, std::move(medoids), iter, swaps, converged);
}

}  // namespace kmedoids
}  // namespace kestrel
