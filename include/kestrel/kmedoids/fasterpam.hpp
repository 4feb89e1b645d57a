// FasterPAM (Schubert & Rousseeuw, "Fast and Eager k-Medoids Clustering: O(k) Runtime
// Improvement of the PAM, CLARA, and CLARANS Algorithms", Information Systems 2021, Alg. 3):
// candidates are visited in index order, cyclically; for each, the FastPAM1 pass gives the
// loss change of swapping it into every slot, and the best of these (ties: smallest slot) is
// made at once if it lowers the loss. It stops after a full cycle without a swap (or after
// max_iter passes over the candidates).
//
// Parallel, with the serial result: a batch of the next candidates is evaluated at once, in
// parallel, against the current medoids; the batch is then read in candidate order and the
// first improving swap is made (exactly what the serial loop would have done, since nothing
// changed before it); the evaluations after it are dropped and the scan resumes behind it.
// Medoids, labels, loss, iterations and swaps are therefore identical at any thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/parallel.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

/// FasterPAM SWAP from the given medoids.
template <class D>
clustering fasterpam(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {}) {
    using T = typename D::value_type;
    detail::check_swap_input(d, medoids, opt, "fasterpam");
    const std::size_t n = d.size(), k = medoids.size();
    detail::nearest_cache<T> c;
    detail::assign_all(d, medoids, c, opt.policy);
    std::vector<char> is_medoid(n, 0);
    for (auto m : medoids) is_medoid[m] = 1;
    std::vector<double> removal;
    detail::removal_loss(c, k, removal);

    // Batch size adapts: it doubles while batches bring no swap (late passes, where nearly
    // every evaluation is kept) and falls back to four per thread after a swap (early passes,
    // where evaluations behind a swap are dropped). It changes speed, never the result.
    const int threads = effective_threads(opt.policy);
    const std::size_t min_batch = threads > 1 ? std::size_t(threads) : 1;
    const std::size_t max_batch = threads > 1 ? std::size_t(32 * threads) : 1;
    std::size_t batch = min_batch;
    std::vector<double> scratch(max_batch * k);
    std::vector<std::size_t> cand(max_batch);
    std::vector<detail::swap_choice> eval(max_batch);

    std::size_t iter = 0, swaps = 0, lastswap = n;
    bool converged = false;
    while (!converged && iter < opt.max_iter) {
        ++iter;
        const std::size_t swaps_before = swaps;
        std::size_t j = 0;
        while (j < n) {
            // The next candidates of this pass, up to the last swap's position.
            std::size_t m = 0;
            bool hit_lastswap = false;
            while (j < n && m < batch) {
                if (j == lastswap) {
                    hit_lastswap = true;
                    break;
                }
                if (!is_medoid[j]) cand[m++] = j;
                ++j;
            }
            auto evaluate = [&](std::size_t b) {
                double* delta = scratch.data() + b * k;
                detail::candidate_deltas(d, cand[b], c, removal, delta);
                detail::swap_choice best;
                for (std::size_t i = 0; i < k; ++i)
                    if (delta[i] < best.delta) best = {delta[i], cand[b], i, true};
                eval[b] = best;
            };
            if (m > 1) parallel_for(m, exec_policy{threads}, evaluate);
            else if (m == 1) evaluate(0);
            batch = std::min(max_batch, 2 * batch);
            for (std::size_t b = 0; b < m; ++b) {
                if (!eval[b].valid) continue;
                batch = min_batch;
                const auto& s = eval[b];
                is_medoid[medoids[s.slot]] = 0;
                is_medoid[s.candidate] = 1;
                medoids[s.slot] = s.candidate;
                ++swaps;
                lastswap = s.candidate;
                detail::update_after_swap(d, medoids, s.slot, c, opt.policy);
                detail::removal_loss(c, k, removal);
                j = s.candidate + 1;  // drop the stale evaluations behind it
                hit_lastswap = false;
                break;
            }
            if (hit_lastswap) {
                converged = true;
                break;
            }
        }
        if (swaps == swaps_before) converged = true;
    }
    return detail::finish(c, std::move(medoids), iter, swaps);
}

}  // namespace kmedoids
}  // namespace kestrel
