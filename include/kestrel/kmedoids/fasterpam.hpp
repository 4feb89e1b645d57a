// FasterPAM (Schubert & Rousseeuw, "Fast and Eager k-Medoids Clustering: O(k) Runtime
// Improvement of the PAM, CLARA, and CLARANS Algorithms", Information Systems 2021, Alg. 3):
// candidates are visited in index order, cyclically; for each, the FastPAM1 pass gives the
// loss change of swapping it into every slot, and the best of these (ties: smallest slot) is
// made at once if it lowers the loss. It stops after a full cycle without a swap (or after
// max_iter passes over the candidates).
//
// Parallel, with the serial result (detail/eager_search.hpp): between two swaps the threads
// take the next candidates in index order from a shared counter, and the first improving one
// in index order is made, exactly as the serial loop would (evaluations in flight behind it
// are dropped).
// Medoids, labels, loss, iterations and swaps are identical at any thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/parallel.hpp"
#include "detail/eager_search.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

/// FasterPAM SWAP from the given medoids. converged: the search ended after a whole cycle of
/// candidates without a swap (not at max_iter).
template <class D>
clustering fasterpam(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {}) {
    using T = typename D::value_type;
    detail::input_guard<D> guard(d, medoids, opt, "fasterpam");
    const std::size_t n = d.size(), k = medoids.size();
    detail::nearest_cache<T> c;
    detail::assign_all(d, medoids, c, opt.policy);
    std::vector<char> is_medoid(n, 0);
    for (auto m : medoids) is_medoid[m] = 1;
    std::vector<double> removal;
    detail::removal_loss(c, k, removal);
    detail::eager_convergence conv;

    const detail::eager_counts counts = detail::eager_search(
        n, k, is_medoid, opt.max_iter, opt.policy,
        [&](std::size_t h, double* delta, bool in_order) {
            guard.evaluate(
                h, delta, k, [&] { detail::candidate_deltas(d, h, c, removal, delta, in_order); },
                [&] { return detail::candidate_deltas<true>(d, h, c, removal, delta, in_order); });
        },
        [&](std::size_t h, std::size_t slot) {
            conv.on_swap(h);
            is_medoid[medoids[slot]] = 0;
            is_medoid[h] = 1;
            medoids[slot] = h;
            detail::update_after_swap(d, medoids, slot, c, opt.policy);
            detail::removal_loss(c, k, removal);
        });
    guard.finish();
    return detail::finish(c, std::move(medoids), counts.iterations, counts.swaps, conv.converged(counts.iterations));
}

}  // namespace kmedoids
}  // namespace kestrel
