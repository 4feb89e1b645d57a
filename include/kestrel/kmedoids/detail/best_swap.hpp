// The best single swap over all candidates, by PAM's rule, for FastPAM1 and FastMSC. Internal.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../../core/parallel.hpp"

namespace kestrel {
namespace kmedoids {
namespace detail {
struct swap_choice {
    double delta = 0;
    std::size_t candidate = 0, slot = 0;
    bool valid = false;
};

/// The best swap over all non-medoid candidates (ties: smallest candidate, then slot), with
/// evaluate(h, delta) giving the k objective changes of candidate h. Parallel over candidate
/// blocks fixed by n, compared in block order: the same choice at any thread count.
template <class Evaluate>
swap_choice best_swap_over_candidates(std::size_t n, std::size_t k, const std::vector<char>& is_medoid,
                                      exec_policy policy, std::vector<double>& scratch, Evaluate&& evaluate) {
    const std::size_t nblocks = std::min<std::size_t>(n, 128);
    scratch.resize(nblocks * k);
    std::vector<swap_choice> block_best(nblocks);
    parallel_for_dynamic(nblocks, policy, [&](std::size_t b) {
        const block_range r = block_bounds(n, nblocks, b);
        double* delta = scratch.data() + b * k;
        swap_choice best;
        for (std::size_t h = r.begin; h < r.end; ++h) {
            if (is_medoid[h]) continue;
            evaluate(h, delta);
            for (std::size_t i = 0; i < k; ++i)
                if (delta[i] < best.delta) best = {delta[i], h, i, true};
        }
        block_best[b] = best;
    });
    swap_choice best;
    for (const auto& bb : block_best)
        if (bb.valid && bb.delta < best.delta) best = bb;
    return best;
}
}  // namespace detail
}  // namespace kmedoids
}  // namespace kestrel
