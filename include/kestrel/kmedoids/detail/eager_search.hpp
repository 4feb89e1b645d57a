// The eager first-improvement search of FasterPAM (Schubert & Rousseeuw, "Fast and Eager
// k-Medoids Clustering", Information Systems 2021, Alg. 3), shared by FasterPAM and FasterMSC.
// Internal.
//
// Candidates are visited in index order, cyclically; for each, the change of the objective
// for swapping it into every slot is computed, and the best of these (ties: smallest slot)
// is made at once if it is negative. The search stops after a full cycle without a swap
// (or after max_iter passes over the candidates).
//
// Parallel, with the serial result: a batch of the next candidates is evaluated at once, in
// parallel, against the current state; the batch is then read in candidate order and the
// first improving swap is made (exactly what the serial loop would have done, since nothing
// changed before it); the evaluations after it are dropped and the scan resumes behind it.
// The swaps, and so the result, are identical at any thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../../core/parallel.hpp"

namespace kestrel {
namespace kmedoids {
namespace detail {

struct eager_counts {
    std::size_t iterations = 0, swaps = 0;
};

/// evaluate(candidate, delta) writes the k changes to delta, reading the state only (it runs
/// concurrently); apply(candidate, slot) makes the swap, updating the state and is_medoid
/// (it runs alone).
template <class Evaluate, class Apply>
eager_counts eager_search(std::size_t n, std::size_t k, const std::vector<char>& is_medoid, std::size_t max_iter,
                          exec_policy policy, Evaluate&& evaluate, Apply&& apply) {
    // Batch size adapts: one candidate per thread after a swap (early passes, where the
    // evaluations behind a swap are dropped), doubling while batches bring no swap (late
    // passes, where nearly all are kept and fewer batches mean fewer thread wake-ups). It
    // changes speed, never the result.
    const int threads = effective_threads(policy);
    const std::size_t min_batch = static_cast<std::size_t>(threads);
    const std::size_t max_batch = threads > 1 ? std::size_t(32 * threads) : 1;
    std::size_t batch = min_batch;
    std::vector<double> scratch(max_batch * k);
    std::vector<std::size_t> cand(max_batch);
    struct choice {
        double delta;
        std::size_t slot;
    };
    std::vector<choice> eval(max_batch);
    auto evaluate_one = [&](std::size_t b) {
        double* delta = scratch.data() + b * k;
        evaluate(cand[b], delta);
        choice best{0.0, k};
        for (std::size_t i = 0; i < k; ++i)
            if (delta[i] < best.delta) best = {delta[i], i};
        eval[b] = best;
    };

    eager_counts out;
    std::size_t lastswap = n;
    bool converged = false;
    while (!converged && out.iterations < max_iter) {
        ++out.iterations;
        const std::size_t swaps_before = out.swaps;
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
            if (m > 1) parallel_for(m, exec_policy{threads}, evaluate_one);
            else if (m == 1) evaluate_one(0);
            batch = std::min(max_batch, 2 * batch);
            for (std::size_t b = 0; b < m; ++b) {
                if (eval[b].slot == k) continue;
                batch = min_batch;
                apply(cand[b], eval[b].slot);
                ++out.swaps;
                lastswap = cand[b];
                j = cand[b] + 1;  // drop the stale evaluations behind it
                hit_lastswap = false;
                break;
            }
            if (hit_lastswap) {  // a full cycle since the last swap brought none
                converged = true;
                break;
            }
        }
        if (out.swaps == swaps_before) converged = true;
    }
    return out;
}

}  // namespace detail
}  // namespace kmedoids
}  // namespace kestrel
