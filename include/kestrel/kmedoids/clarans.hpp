// CLARANS (Ng & Han 2002, "CLARANS: A Method for Clustering Objects for Spatial Data
// Mining") in its fast form FastCLARANS (Schubert & Rousseeuw, SISAP 2019 sec. 5.2;
// Information Systems 2021 sec. 5): a randomized search over medoid sets. Original CLARANS
// draws a random (medoid, non-medoid) pair and makes the swap if it lowers the loss; after
// maxneighbor failed draws in a row the current set is a "local optimum" and the search
// restarts from random medoids, numlocal times; the best set is returned. FastCLARANS draws
// only the non-medoid: with the nearest/second-nearest caches, one O(n) pass (FastPAM1's
// kernel) gives the loss change of swapping it with every one of the k medoids, and the best
// of those is made if it lowers the loss. Each draw thus examines k swaps for the price of one.
//
// maxneighbor counts failed draws of candidates (each draw examines k swaps). Default:
// 2.5% of the n - k non-medoids (Schubert & Rousseeuw double Ng & Han's 1.25% for the fast
// variant), but at least ceil(250 / k) (Ng & Han's minimum of 250 swaps, k per draw), and at
// most n - k. numlocal defaults to 2 (Ng & Han). Larger maxneighbor trades time for quality:
// far above n - k the search ends, almost surely, in a single-swap local optimum.
//
// Reproducible: restart r draws its initial medoids and candidates from
// counter_rng(seed, "CLARANS" + r); candidates are drawn uniformly among all points and
// redrawn while they hit a medoid. Serial over draws, so thread-count invariant.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

struct clarans_options {
    std::size_t numlocal = 2;        ///< restarts (local optima searched)
    std::size_t maxneighbor = 0;     ///< failed candidate draws before a restart; 0 = default (see above)
    std::uint64_t seed = 0;
    exec_policy policy = {};         ///< threads for the cache update after a swap (results do not depend on it)
    bool validate_input = true;      ///< check every entry up front (finite, >= 0, zero diagonal)
    bool check_symmetry = true;      ///< ... and symmetry on a sample of tiles, as the SWAP routines
    bool full_symmetry_check = false;  ///< ... on every pair instead
    double symmetry_tolerance = 1e-6;  ///< finite and >= 0
};

/// The maxneighbor CLARANS uses for n points and k medoids when the option is 0 (k >= 1).
inline std::size_t clarans_default_maxneighbor(std::size_t n, std::size_t k) {
    require(k >= 1, "clarans_default_maxneighbor", "k", "must be >= 1, got ", k);
    if (k >= n) return 0;
    const std::size_t nonmedoids = n - k;
    const auto frac = static_cast<std::size_t>(std::ceil(0.025 * double(nonmedoids)));
    const std::size_t floor_draws = (250 + k - 1) / k;
    return std::min(nonmedoids, std::max(frac, floor_draws));
}

/// FastCLARANS with k medoids. iterations = candidate draws, swaps = swaps made, both summed
/// over all restarts. CLARANS has no iteration cap: every restart ends by its own rule
/// (maxneighbor failed draws in a row), so converged is true; it does not certify a
/// single-swap local optimum.
template <class D>
clustering clarans(const D& d, std::size_t k, const clarans_options& opt = {}) {
    using T = typename D::value_type;
    const std::size_t n = d.size();
    detail::check_swap_options(opt, "clarans");
    detail::check_k(k, n, "clarans");
    require(opt.numlocal >= 1, "clarans", "opt.numlocal", "must be >= 1, got ", opt.numlocal);
    if (opt.validate_input) {
        detail::check_all_rows(d, opt.policy, "clarans");
        detail::check_symmetry_of(d, opt, opt.policy, "clarans");
    }
    const std::size_t maxneighbor = opt.maxneighbor ? opt.maxneighbor : clarans_default_maxneighbor(n, k);

    detail::nearest_cache<T> c;
    std::vector<char> is_medoid(n);
    std::vector<std::size_t> medoids(k), perm(n);
    std::vector<double> removal, delta(k);
    clustering best;
    best.loss = std::numeric_limits<double>::infinity();
    std::size_t draws_total = 0, swaps_total = 0;

    for (std::size_t r = 0; r < opt.numlocal; ++r) {
        const counter_rng rng(opt.seed, 0x434c4152414e53ull + r);  // "CLARANS" + restart
        std::uint64_t draw = 0;
        // Random initial medoids: partial Fisher-Yates.
        for (std::size_t i = 0; i < n; ++i) perm[i] = i;
        std::fill(is_medoid.begin(), is_medoid.end(), 0);
        for (std::size_t i = 0; i < k; ++i) {
            const std::size_t span = n - i;
            const std::size_t j = i + std::min(span - 1, static_cast<std::size_t>(rng.uniform_double(draw++) * double(span)));
            std::swap(perm[i], perm[j]);
            medoids[i] = perm[i];
            is_medoid[perm[i]] = 1;
        }
        detail::assign_all(d, medoids, c, opt.policy);
        detail::removal_loss(c, k, removal);
        double loss = detail::total_loss(c);
        std::size_t failures = 0;
        while (k < n && failures < maxneighbor) {  // k = n: no candidate to draw
            std::size_t h;
            do {
                h = std::min(n - 1, static_cast<std::size_t>(rng.uniform_double(draw++) * double(n)));
            } while (is_medoid[h]);
            ++draws_total;
            detail::candidate_deltas(d, h, c, removal, delta.data());
            std::size_t slot = 0;
            for (std::size_t i = 1; i < k; ++i)
                if (delta[i] < delta[slot]) slot = i;  // ties: smallest slot
            // Improving means below -1e-12 times the current loss (ELKI's rule): a swap whose
            // computed gain is rounding noise is not made, so the search cannot cycle.
            if (!(delta[slot] < -1e-12 * loss)) {
                ++failures;
                continue;
            }
            is_medoid[medoids[slot]] = 0;
            is_medoid[h] = 1;
            medoids[slot] = h;
            ++swaps_total;
            detail::update_after_swap(d, medoids, slot, c, opt.policy);
            detail::removal_loss(c, k, removal);
            loss += delta[slot];
            failures = 0;  // Ng & Han: the counter restarts at each move
        }
        loss = detail::total_loss(c);
        if (loss < best.loss) best = detail::finish(c, medoids, 0, 0);  // ties: the earlier restart
    }
    best.iterations = draws_total;
    best.swaps = swaps_total;
    best.converged = true;
    return best;
}

}  // namespace kmedoids
}  // namespace kestrel
