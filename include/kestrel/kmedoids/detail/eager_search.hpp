// The eager first-improvement search of FasterPAM (Schubert & Rousseeuw, "Fast and Eager
// k-Medoids Clustering", Information Systems 2021, Alg. 3), shared by FasterPAM and FasterMSC.
// Internal.
//
// Candidates are visited in index order, cyclically; for each, the change of the objective
// for swapping it into every slot is computed, and the best of these (ties: smallest slot)
// is made at once if it is negative. The search stops after a full cycle without a swap
// (or after max_iter passes over the candidates).
//
// Parallel, with the serial result. Between two swaps the state is fixed, so the search up
// to the next swap is a segment of candidates [s, e) whose first improving one is wanted.
// The threads claim the candidates of the segment in index order, a few at a time
// (parallel_for_until), and evaluate them against the fixed state; a thread that finds an
// improving candidate records it, lowers a shared bound that the others check before each
// candidate, and stops the loop, so no candidate not yet claimed starts. Every candidate
// before the first improving one is evaluated (it was claimed earlier), so the smallest
// recorded candidate is the one the serial loop would swap. Only the evaluations in flight
// when it is found are wasted, and the caller never waits for a thread that has not
// started. The swaps, and so the result, are identical at any thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <vector>

#include "../../core/parallel.hpp"

namespace kestrel {
namespace kmedoids {
namespace detail {

/// Candidates a thread claims at once in the parallel search: one claim per candidate costs
/// about 10% at n = 5000 (the shared counter's cache line moves between cores, and rows are
/// not read ahead); 4 and 8 measured alike.
inline constexpr std::size_t claim_grain = 4;

struct eager_counts {
    std::size_t iterations = 0, swaps = 0;
};

/// The best slot of a candidate from its k changes: the smallest negative change, ties to
/// the smallest slot; k if none is negative.
inline std::size_t improving_slot(const double* delta, std::size_t k) noexcept {
    double best = 0.0;
    std::size_t slot = k;
    for (std::size_t i = 0; i < k; ++i)
        if (delta[i] < best) best = delta[i], slot = i;
    return slot;
}

/// evaluate(candidate, delta, in_order) writes the k changes to delta, reading the state only
/// (it runs concurrently); in_order says whether the same thread evaluates candidate + 1 next
/// (serial runs), so that reading ahead into its row pays. apply(candidate, slot) makes the
/// swap, updating the state and is_medoid (it runs alone, and may open its own parallel loops).
template <class Evaluate, class Apply>
eager_counts eager_search(std::size_t n, std::size_t k, const std::vector<char>& is_medoid, std::size_t max_iter,
                          exec_policy policy, Evaluate&& evaluate, Apply&& apply) {
    const int threads = effective_threads(policy);
    // One delta row per thread, padded to whole cache lines so threads never share one.
    const std::size_t stride = (k + 7) / 8 * 8 + 8;
    std::vector<double> scratch(static_cast<std::size_t>(threads) * stride);
    struct found_swap {
        std::size_t candidate, slot;
    };

    std::vector<found_swap> record(static_cast<std::size_t>(threads));  // per thread, reused

    // The first improving candidate in [s, e), or candidate == e if there is none.
    auto first_improving = [&](std::size_t s, std::size_t e, bool parallel) -> found_swap {
        if (parallel && e - s > 1) {
            std::fill(record.begin(), record.end(), found_swap{e, k});
            // Candidates are claimed in index order, a few at a time (fewer claims on the
            // shared counter, and a thread reads consecutive rows in order); a thread that
            // finds an improving one lowers the bound and stops the loop, so every candidate
            // before it is evaluated and none after it starts (except those in flight).
            const std::size_t span = e - s, chunks = (span + claim_grain - 1) / claim_grain;
            std::atomic<std::size_t> bound{e};
            parallel_for_until(chunks, exec_policy{threads}, [&](std::size_t c) -> bool {
                const auto t = static_cast<std::size_t>(current_loop_slot());
                double* delta = scratch.data() + t * stride;
                const std::size_t j0 = s + c * claim_grain, j1 = std::min(j0 + claim_grain, e);
                for (std::size_t j = j0; j < j1; ++j) {
                    if (bound.load(std::memory_order_relaxed) < j) return false;
                    if (is_medoid[j]) continue;
                    evaluate(j, delta, j + 1 < j1);
                    const std::size_t slot = improving_slot(delta, k);
                    if (slot == k) continue;
                    record[t] = {j, slot};  // a thread finds at most one: it stops here
                    std::size_t b = bound.load(std::memory_order_relaxed);
                    while (j < b && !bound.compare_exchange_weak(b, j, std::memory_order_relaxed)) {
                    }
                    return false;
                }
                return true;
            });
            found_swap first{e, k};
            for (const auto& r : record)
                if (r.candidate < first.candidate) first = r;
            return first;
        }
        double* delta = scratch.data();
        for (std::size_t j = s; j < e; ++j) {
            if (is_medoid[j]) continue;
            evaluate(j, delta, true);
            const std::size_t slot = improving_slot(delta, k);
            if (slot < k) return {j, slot};
        }
        return {e, k};
    };

    eager_counts out;
    if (max_iter == 0) return out;
    out.iterations = 1;
    std::size_t swaps_before = 0, lastswap = n, s = 0;
    // A segment runs in parallel only if the previous one read enough to pay for waking the
    // threads (about 128 Ki dissimilarities: short segments, early on or at small n, run faster
    // on one thread). Either way the swap found is the same.
    constexpr std::size_t min_parallel_reads = std::size_t(1) << 17;
    std::size_t last_span = n;
    for (;;) {
        // A pass runs to the end, except that it stops at the last swap's candidate (from
        // the previous pass): reaching it means a full cycle brought no swap.
        const std::size_t e = (lastswap >= s && lastswap < n) ? lastswap : n;
        const found_swap f = first_improving(s, e, threads > 1 && last_span * n >= min_parallel_reads);
        last_span = std::min(f.candidate + 1, e) - s;
        if (f.candidate < e) {
            apply(f.candidate, f.slot);
            ++out.swaps;
            lastswap = f.candidate;
            s = f.candidate + 1;
            continue;
        }
        if (e < n) break;                            // back at the last swap: converged
        if (out.swaps == swaps_before) break;        // a whole pass without a swap
        if (out.iterations == max_iter) break;
        ++out.iterations;
        swaps_before = out.swaps;
        s = 0;
    }
    return out;
}

}  // namespace detail
}  // namespace kmedoids
}  // namespace kestrel
