// FastPAM1 (Schubert & Rousseeuw, "Faster k-Medoids Clustering: Improving the PAM, CLARA,
// and CLARANS Algorithms", SISAP 2019, Algorithm 2): the same swaps as PAM, found in
// O(n (n - k)) per iteration instead of O(k n (n - k)). For each candidate one pass over the
// points updates a shared change and the k per-medoid changes, starting from the loss of
// removing each medoid; nearest/second-nearest caches make each point O(1).
//
// Same result as pam_swap: identical medoids, labels, loss, iterations and swaps whenever the
// loss changes are computed exactly (integer-valued dissimilarities, for instance). With
// general real values the two sum the same terms in a different order, so two candidate
// swaps whose changes agree to rounding error may be ordered differently.
//
// Parallel: candidates are split into blocks fixed by n; each block finds its best swap with
// the same tie rule, and blocks are compared in order, so the chosen swap, and the result,
// do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/parallel.hpp"
#include "detail/best_swap.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {


/// FastPAM1 SWAP from the given medoids. converged: the last pass found no improving swap.
template <class D>
clustering fastpam1(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {}) {
    using T = typename D::value_type;
    detail::input_guard<D> guard(d, medoids, opt, "fastpam1");
    const std::size_t n = d.size(), k = medoids.size();
    detail::nearest_cache<T> c;
    detail::assign_all(d, medoids, c, opt.policy);
    std::vector<char> is_medoid(n, 0);
    for (auto m : medoids) is_medoid[m] = 1;
    std::vector<double> removal, scratch;
    std::size_t iter = 0, swaps = 0;
    bool converged = false;
    while (iter < opt.max_iter) {
        ++iter;
        detail::removal_loss(c, k, removal);
        const detail::swap_choice s = detail::best_swap_over_candidates(
            n, k, is_medoid, opt.policy, scratch, [&](std::size_t h, double* delta) {
                guard.evaluate(
                    h, delta, k, [&] { detail::candidate_deltas(d, h, c, removal, delta); },
                    [&] { return detail::candidate_deltas<true>(d, h, c, removal, delta); });
            });
        if (guard.failed()) break;
        if (!s.valid) {
            converged = true;
            break;
        }
        is_medoid[medoids[s.slot]] = 0;
        is_medoid[s.candidate] = 1;
        medoids[s.slot] = s.candidate;
        ++swaps;
        detail::update_after_swap(d, medoids, s.slot, c, opt.policy);
    }
    guard.finish();
    return detail::finish(c, std::move(medoids), iter, swaps, converged);
}

}  // namespace kmedoids
}  // namespace kestrel
