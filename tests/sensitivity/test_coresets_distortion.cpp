// Coreset quality on imbalanced clustered data (20 Gaussian clusters plus one far cluster of
// 0.1% of the points; n = 10^6, d = 16 in optimized builds, n = 20000 in Debug/sanitized
// builds): at k = 10 and m = 1000 the sensitivity coreset's maximum distortion over the
// distortion tool's candidates is below 10% and far below uniform sampling's, which misses
// the far cluster (its random-subset candidates leave the far cluster uncovered).
//
// Measured with these data (n = 10^6, d = 16, float, m = 1000, default candidates; max
// distortion, range over seeds 0..7 unless stated):
//   k = 10:  sensitivity, default (bicriteria 3 x 2k/3, stratified) 0.017-0.046;
//            i.i.d. draw (bicriteria 2 x k) 0.043-0.104; i.i.d. with sequential k-means++
//            seeding 0.028-0.112 (5 seeds); lightweight 0.052-0.100 (5 seeds);
//            uniform 0.95 (seed 0; 4 of 5 seeds above 0.4)
//   k = 100: sensitivity, default 0.016-0.027; i.i.d. (bicriteria 2 x k) 0.046-0.125
//            (5 seeds); i.i.d. with sequential seeding 0.026-0.69 (5 seeds);
//            lightweight 0.089 (seed 0); uniform 0.99 (seed 0)
// (the straightforward implementation: about 0.19 sensitivity and 0.07 lightweight at
// k = 100). benchmarks/sensitivity_coresets.cpp writes the comparison against m.
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/clustering_coreset.hpp>
#include <kestrel/sensitivity/coreset_distortion.hpp>
#include <kestrel/sensitivity/lightweight_coreset.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "coreset_test_util.hpp"

namespace ks = kestrel::sensitivity;

TEST_CASE("sensitivity coreset keeps the far cluster that uniform sampling misses", "[sensitivity][coresets]") {
    const std::size_t n = coreset_test::full_size ? 1000000 : 20000, d = coreset_test::full_size ? 16 : 8;
    const std::size_t k = 10, m = 1000;
    const auto X = coreset_test::imbalanced<float>(n, d, 2024);
    const kestrel::const_matrix_view<const float> P(X.data(), n, d);
    ks::coreset_distortion_options o;
    const auto candidates = ks::make_candidates<float>(P, {}, k, o);
    // Three seeds for the sensitivity and lightweight coresets, five for uniform sampling:
    // whether a uniform sample of 1000 holds 0, 1 or more of the 1000 far points (Poisson(1))
    // decides its error, so its failure is a property of most seeds, not of every one.
    double sens_worst = 0, light_worst = 0;
    std::size_t uniform_failures = 0, evaluated = 0;
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
        if (seed < 3) {
            ks::sensitivity_options so;
            so.seed = seed;
            const auto sens = ks::coreset_distortion<float>(P, candidates, ks::sensitivity_coreset<float>(P, {}, k, m, so));
            const auto light = ks::coreset_distortion<float>(P, candidates, ks::lightweight_coreset<float>(P, {}, m, seed));
            sens_worst = std::max(sens_worst, sens.max);
            light_worst = std::max(light_worst, light.max);
            evaluated = sens.candidates;
        }
        const auto unif = ks::coreset_distortion<float>(P, candidates, ks::uniform_coreset<float>(P, {}, m, seed));
        // "Far below": more than 4 times the worst sensitivity distortion allowed (0.10).
        uniform_failures += unif.max > 0.4 ? 1 : 0;
    }
    INFO("n " << n << ": sensitivity " << sens_worst << ", lightweight " << light_worst << ", uniform failures "
              << uniform_failures << " of 5");
    CHECK(sens_worst < 0.10);
    CHECK(light_worst < 0.15);
    // P(a seed's sample holds exactly one far point) = e^-1 = 0.37; at least 2 failures of 5
    // fail to happen with probability about 0.03 under that law, and did not at these seeds.
    if (coreset_test::full_size) CHECK(uniform_failures >= 2);
    CHECK(evaluated == candidates.size());
}
