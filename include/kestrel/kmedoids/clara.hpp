// CLARA (Kaufman & Rousseeuw 1990, "Clustering Large Applications") in its fast form
// FastCLARA (Schubert & Rousseeuw, SISAP 2019 sec. 5.1; Information Systems 2021 sec. 5):
// cluster a random sample with k-medoids, assign all n points to the sample's medoids, keep
// the medoids with the smallest loss on all points; repeat with new samples. The fast
// variant differs from the original only in its defaults, which its faster SWAP affords:
// samples of 80 + 4k points (instead of 40 + 2k), 5 samples, and FasterPAM on each sample.
// As in the original, the best medoids found so far are part of every later sample, so the
// best loss can only improve from one sample to the next.
//
// Cost: O(m^2) dissimilarities per sample of size m (a dense copy of the sample's
// sub-matrix, so SWAP reads contiguous rows), plus O(n k) to evaluate each medoid set on all
// points; no O(n^2) step. Works with any dissimilarity source; point_dissimilarity is the
// natural one for large n.
//
// Reproducible: samples come from counter_rng(seed, "CLARA") with draw indices fixed by the
// algorithm; SWAP and the evaluation are thread-count invariant, so is the result.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "fasterpam.hpp"
#include "fastpam2.hpp"
#include "initialization.hpp"
#include "pam.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

/// SWAP run on each sample: FasterPAM (FastCLARA's default), FastPAM2, or the original PAM
/// SWAP (with sample_size = 40 + 2k, the original CLARA of Kaufman & Rousseeuw).
enum class sample_swap { fasterpam, fastpam2, pam };

struct clara_options {
    std::size_t sample_size = 0;      ///< points per sample; 0 = 80 + 4k (capped at n)
    std::size_t samples = 5;          ///< number of samples (only 1 is drawn when the sample is all of the data)
    std::uint64_t seed = 0;           ///< sampling seed
    bool keep_best = true;            ///< put the best medoids so far into each next sample (CLARA's rule)
    sample_swap algorithm = sample_swap::fasterpam;  ///< SWAP on the sample (PAM BUILD initializes it)
    std::size_t max_iter = 1000;      ///< SWAP passes per sample (upper bound)
    exec_policy policy = {};          ///< threads (results do not depend on it)
    bool validate_input = true;       ///< check each sample's sub-matrix: finite, >= 0, zero diagonal, symmetric
};

namespace detail {
/// Nearest medoid of every point into c and the loss, summed in index order.
template <class D, class T>
double evaluate_all(const D& d, const std::vector<std::size_t>& medoids, nearest_cache<T>& c, exec_policy policy) {
    assign_all(d, medoids, c, policy);
    return total_loss(c);
}
}  // namespace detail

/// FastCLARA with k medoids. Returns the best medoid set with labels and loss on all n
/// points; iterations and swaps are the totals of the SWAP runs on the samples, converged
/// says that every one of them converged. With validate_input each sample's sub-matrix is
/// checked completely and every row of the full source read by the evaluation (the
/// candidate medoids') is checked; the rest of the source is never read.
template <class D>
clustering clara(const D& d, std::size_t k, const clara_options& opt = {}) {
    using T = typename D::value_type;
    const std::size_t n = d.size();
    detail::check_policy(opt.policy, "clara", "opt.policy");
    detail::check_k(k, n, "clara");
    require(opt.samples >= 1, "clara", "opt.samples", "must be >= 1, got ", opt.samples);
    require(opt.sample_size == 0 || opt.sample_size >= k, "clara", "opt.sample_size",
            "must be 0 (default) or >= k = ", k, ", got ", opt.sample_size);
    require(opt.max_iter >= 1, "clara", "opt.max_iter", "must be >= 1, got ", opt.max_iter);
    require(opt.algorithm == sample_swap::fasterpam || opt.algorithm == sample_swap::fastpam2 ||
                opt.algorithm == sample_swap::pam,
            "clara", "opt.algorithm", "unknown value ", static_cast<int>(opt.algorithm));

    const std::size_t m = std::min(n, opt.sample_size == 0 ? 80 + 4 * k : opt.sample_size);
    // The sample's m x m sub-matrix is allocated: refuse a size whose product wraps or that
    // no vector can hold (before allocating anything).
    require(m <= std::vector<T>().max_size() / m, "clara", "opt.sample_size", "a sample of ", m,
            " points needs an m x m matrix, more than can be allocated");
    // A sample of all the data is the same every time: one run suffices.
    const std::size_t samples = m == n ? 1 : opt.samples;
    const counter_rng rng(opt.seed, 0x434c415241ull);  // stream "CLARA"
    std::uint64_t draw = 0;

    std::vector<std::size_t> sample, rest, best_medoids, medoids;
    std::vector<char> in_best(n, 0);
    std::vector<T> sub(m * m);
    detail::nearest_cache<T> c;
    clustering best;
    best.loss = std::numeric_limits<double>::infinity();
    std::size_t iterations = 0, swaps = 0;
    bool converged = true;
    swap_options sw;
    sw.max_iter = opt.max_iter;
    sw.policy = opt.policy;
    sw.validate_input = false;  // each sample's sub-matrix is checked here, under clara's name

    for (std::size_t s = 0; s < samples; ++s) {
        // The sample: the best medoids so far (if kept), then uniform draws without
        // replacement from the other points (partial Fisher-Yates), in index order.
        sample.clear();
        rest.clear();
        const bool seeded = opt.keep_best && !best_medoids.empty();
        for (std::size_t i = 0; i < n; ++i)
            if (!(seeded && in_best[i])) rest.push_back(i);
        if (seeded) sample = best_medoids;
        const std::size_t take = m - sample.size();
        for (std::size_t i = 0; i < take; ++i) {
            const std::size_t span = rest.size() - i;
            const std::size_t j = i + std::min(span - 1, static_cast<std::size_t>(rng.uniform_double(draw++) * double(span)));
            std::swap(rest[i], rest[j]);
            sample.push_back(rest[i]);
        }
        std::sort(sample.begin(), sample.end());

        // Dense copy of the sample's sub-matrix: SWAP reads it O(iterations * m^2) times.
        parallel_for(m, opt.policy, [&](std::size_t a) {
            for (std::size_t b = 0; b < m; ++b) sub[a * m + b] = a == b ? T(0) : static_cast<T>(d(sample[a], sample[b]));
        });
        const dense_dissimilarity<T> ds(matrix_view<const T>(sub.data(), m, m));
        if (opt.validate_input) validate_dissimilarity(ds, true, 1e-6, "clara", opt.policy);
        const std::vector<std::size_t> start = detail::build_unchecked(ds, k, opt.policy);
        const clustering local = opt.algorithm == sample_swap::fasterpam  ? fasterpam(ds, start, sw)
                                 : opt.algorithm == sample_swap::fastpam2 ? fastpam2(ds, start, sw)
                                                                          : pam_swap(ds, start, sw);
        iterations += local.iterations;
        swaps += local.swaps;
        converged = converged && local.converged;

        medoids.resize(k);
        for (std::size_t i = 0; i < k; ++i) medoids[i] = sample[local.medoids[i]];
        if (opt.validate_input) detail::check_rows_now(d, medoids, "clara");
        const double loss = detail::evaluate_all(d, medoids, c, opt.policy);
        if (loss < best.loss) {  // ties: the earlier sample
            for (std::size_t b : best_medoids) in_best[b] = 0;
            best_medoids = medoids;
            for (std::size_t b : best_medoids) in_best[b] = 1;
            best = detail::finish(c, medoids, 0, 0);
        }
    }
    best.iterations = iterations;
    best.swaps = swaps;
    best.converged = converged;
    return best;
}

}  // namespace kmedoids
}  // namespace kestrel
