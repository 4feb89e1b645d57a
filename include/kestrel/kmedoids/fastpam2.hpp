// FastPAM2 (Schubert & Rousseeuw, "Faster k-Medoids Clustering: Improving the PAM, CLARA,
// and CLARANS Algorithms", SISAP 2019, sec. 3.2 / Algorithm 3): FastPAM1's pass over the
// candidates yields the loss change of every (slot, candidate) swap anyway, so instead of
// throwing all but the best away, keep per medoid slot the best candidate and, after the
// best swap, also make the others that still improve. Fewer passes over the data, each
// O(n (n - k)) as in FastPAM1.
//
// One iteration (as in the authors' reference implementation, ELKI's FastPAM):
//  1. For every non-medoid candidate h, the k changes delta(i, h) (candidate_deltas). Per
//     slot i remember the candidate with the smallest change (ties: smallest candidate).
//  2. The best of these (ties: smallest candidate, then smallest slot; the swap FastPAM1 and
//     PAM would make) is made if its change is negative; otherwise stop.
//  3. The other remembered pairs with a negative change are visited in order of their
//     remembered change (ties: smallest slot). Each is re-evaluated against the current
//     medoids (the swaps made before it changed the loss landscape) and made if the new
//     change is negative and at most (1 - tolerance) times the remembered one; pairs whose
//     candidate became a medoid meanwhile are skipped. Every slot changes at most once.
// tolerance in [0, 1]: 1 (default, as ELKI) makes every re-checked swap that still lowers
// the loss; 0 only those whose gain did not shrink through the earlier swaps (swaps that
// look independent of them).
//
// The loss never increases (every swap is re-checked). The result is a single-swap local
// optimum like PAM's, usually a different one. Parallel over candidates in blocks fixed by n
// and combined in block order, so the result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "detail/best_swap.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

namespace detail {
/// best[i] = the best candidate for slot i (ties: smallest candidate); invalid if no
/// candidate lowers the loss through slot i.
template <class D, class T>
void best_per_slot(const D& d, const nearest_cache<T>& c, const std::vector<double>& removal,
                   const std::vector<char>& is_medoid, exec_policy policy, std::vector<double>& scratch,
                   std::vector<swap_choice>& block_best, std::vector<swap_choice>& best, input_guard<D>& guard) {
    const std::size_t n = d.size(), k = removal.size();
    const std::size_t nblocks = std::min<std::size_t>(n, 128);
    scratch.resize(nblocks * k);
    block_best.assign(nblocks * k, swap_choice{});
    parallel_for_dynamic(nblocks, policy, [&](std::size_t b) {
        const block_range r = block_bounds(n, nblocks, b);
        double* delta = scratch.data() + b * k;
        swap_choice* mine = block_best.data() + b * k;
        for (std::size_t h = r.begin; h < r.end; ++h) {
            if (is_medoid[h]) continue;
            guard.evaluate(
                h, delta, k, [&] { candidate_deltas(d, h, c, removal, delta); },
                [&] { return candidate_deltas<true>(d, h, c, removal, delta); });
            for (std::size_t i = 0; i < k; ++i)
                if (delta[i] < mine[i].delta) mine[i] = {delta[i], h, i, true};
        }
    });
    // Blocks hold increasing candidate ranges: strict < in block order keeps the smallest
    // candidate among equal changes.
    best.assign(k, swap_choice{});
    for (std::size_t b = 0; b < nblocks; ++b)
        for (std::size_t i = 0; i < k; ++i) {
            const swap_choice& s = block_best[b * k + i];
            if (s.valid && s.delta < best[i].delta) best[i] = s;
        }
}

// Order of the eager swaps: remembered change, then slot.
inline bool swap_before(const swap_choice& a, const swap_choice& b) noexcept {
    if (a.delta != b.delta) return a.delta < b.delta;
    return a.slot < b.slot;
}
}  // namespace detail

/// FastPAM2 SWAP from the given medoids. `tolerance` in [0, 1] (see the header comment).
/// converged: the last pass found no improving swap.
template <class D>
clustering fastpam2(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {},
                    double tolerance = 1.0) {
    using T = typename D::value_type;
    require(std::isfinite(tolerance) && tolerance >= 0.0 && tolerance <= 1.0, "fastpam2", "tolerance",
            "must lie in [0, 1], got ", tolerance);
    detail::input_guard<D> guard(d, medoids, opt, "fastpam2");
    const std::size_t n = d.size(), k = medoids.size();
    detail::nearest_cache<T> c;
    detail::assign_all(d, medoids, c, opt.policy);
    std::vector<char> is_medoid(n, 0);
    for (auto m : medoids) is_medoid[m] = 1;
    std::vector<double> removal, scratch, delta(k);
    std::vector<detail::swap_choice> block_best, best, order;
    order.reserve(k);
    std::size_t iter = 0, swaps = 0;
    bool converged = false;
    auto make_swap = [&](const detail::swap_choice& s) {
        is_medoid[medoids[s.slot]] = 0;
        is_medoid[s.candidate] = 1;
        medoids[s.slot] = s.candidate;
        ++swaps;
        detail::update_after_swap(d, medoids, s.slot, c, opt.policy);
    };
    while (iter < opt.max_iter) {
        ++iter;
        detail::removal_loss(c, k, removal);
        detail::best_per_slot(d, c, removal, is_medoid, opt.policy, scratch, block_best, best, guard);
        if (guard.failed()) break;
        order.clear();
        for (const auto& s : best)
            if (s.valid) order.push_back(s);
        if (order.empty()) {
            converged = true;
            break;
        }
        // The primary swap is FastPAM1's (ties: candidate, then slot); the rest follow in the
        // order of their remembered change.
        const auto primary = std::min_element(order.begin(), order.end(), [](const auto& a, const auto& b) {
            if (a.delta != b.delta) return a.delta < b.delta;
            if (a.candidate != b.candidate) return a.candidate < b.candidate;
            return a.slot < b.slot;
        });
        std::iter_swap(order.begin(), primary);
        std::sort(order.begin() + 1, order.end(), detail::swap_before);
        make_swap(order.front());
        const double keep = 1.0 - tolerance;
        for (std::size_t p = 1; p < order.size(); ++p) {
            const detail::swap_choice& s = order[p];
            if (is_medoid[s.candidate]) continue;  // swapped in for another slot already
            // Re-evaluate against the current medoids: O(n).
            detail::removal_loss(c, k, removal);
            detail::candidate_deltas(d, s.candidate, c, removal, delta.data());
            const double now = delta[s.slot];
            if (now < 0 && now <= keep * s.delta) make_swap({now, s.candidate, s.slot, true});
        }
    }
    guard.finish();
    return detail::finish(c, std::move(medoids), iter, swaps, converged);
}

}  // namespace kmedoids
}  // namespace kestrel
