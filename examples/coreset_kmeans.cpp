// k-means on a million points through a 1000-point coreset.
//
// Generates 10^6 points in 16 dimensions: 20 Gaussian clusters and one small far cluster
// (0.1% of the points). Builds a sensitivity coreset of 1000 weighted points, runs weighted
// Lloyd from k-means++ on it and on the full data, and prints both solutions' costs on the
// full data, the coreset's measured distortion beside a uniform sample's, and the time of each.
//
//   coreset_kmeans [k]      (default k = 10)
#include <kestrel/sensitivity.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

namespace ks = kestrel::sensitivity;

int main(int argc, char** argv) {
    const std::size_t n = 1000000, d = 16, m = 1000;
    const std::size_t k = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10;
    using clock = std::chrono::steady_clock;
    const auto seconds = [](clock::time_point a, clock::time_point b) {
        return std::chrono::duration<double>(b - a).count();
    };

    // The data: cluster c's center uniform in [0, 20]^16, unit-variance noise; the first n/1000
    // points around (500, ..., 500).
    std::vector<float> x(n * d);
    {
        const kestrel::counter_rng rng(7, 0);
        std::vector<double> centre(21 * d);
        for (std::size_t q = 0; q < 20 * d; ++q) centre[q] = 20.0 * rng.uniform_double(q);
        for (std::size_t t = 0; t < d; ++t) centre[20 * d + t] = 500.0;
        kestrel::parallel_for(n / 1000, kestrel::exec_policy{}, [&](std::size_t b) {
            for (std::size_t i = b * 1000; i < (b + 1) * 1000; ++i) {
                const std::size_t c = i < n / 1000 ? 20 : i % 20;
                for (std::size_t t = 0; t < d; t += 2) {
                    const auto z = rng.normal_pair(1000 + (i * d + t) / 2);
                    x[i * d + t] = static_cast<float>(centre[c * d + t] + z.first);
                    x[i * d + t + 1] = static_cast<float>(centre[c * d + t + 1] + z.second);
                }
            }
        });
    }
    const kestrel::const_matrix_view<const float> points(x.data(), n, d);

    // 1. The coreset (bicriteria D^2 seeding, sensitivities, 1000 stratified draws).
    auto t0 = clock::now();
    const ks::coreset core = ks::sensitivity_coreset<float>(points, {}, k, m);
    auto t1 = clock::now();
    const double t_coreset = seconds(t0, t1);

    // 2. Weighted Lloyd from k-means++ on the coreset's 1000 rows and weights.
    const std::vector<float> rows = ks::gather_rows(points, core);
    const std::vector<float> w(core.weights.begin(), core.weights.end());
    ks::lloyd_options lo;
    lo.max_iterations = 20;
    t0 = clock::now();
    const auto on_coreset =
        ks::weighted_kmeans<float>(kestrel::const_matrix_view<const float>(rows.data(), m, d), w, k, 1, lo);
    t1 = clock::now();
    const double t_small = seconds(t0, t1);

    // 3. The same on all the data.
    t0 = clock::now();
    const auto on_full = ks::weighted_kmeans<float>(points, {}, k, 1, lo);
    t1 = clock::now();
    const double t_full = seconds(t0, t1);

    // Both solutions' costs on the full data.
    const double cost_small = ks::clustering_cost<float>(points, {}, on_coreset.centers_view());
    const double cost_full = on_full.cost;

    // 4. Distortion: max relative cost error over candidate solutions (random k-subsets,
    // k-means++ seedings, perturbed optima, centers moved onto / off the small cluster).
    t0 = clock::now();
    ks::coreset_distortion_options dopt;
    dopt.lloyd_iterations = 5;
    const auto candidates = ks::make_candidates<float>(points, {}, k, dopt);
    const auto dist_core = ks::coreset_distortion<float>(points, candidates, core);
    const auto dist_unif = ks::coreset_distortion<float>(points, candidates, ks::uniform_coreset<float>(points, {}, m));
    t1 = clock::now();

    std::printf("n = %zu points, d = %zu, k = %zu, coreset of m = %zu\n\n", n, d, k, m);
    std::printf("%-34s %14s %10s\n", "", "cost on all data", "time (s)");
    std::printf("%-34s %14.6g %10.3f\n", "k-means on the full data", cost_full, t_full);
    std::printf("%-34s %14.6g %10.3f  (+ %.3f s to build the coreset)\n", "k-means on the coreset", cost_small,
                t_small, t_coreset);
    std::printf("%-34s %14.4f\n\n", "cost ratio coreset / full", cost_small / cost_full);
    std::printf("max distortion over %zu candidate solutions (%.2f s to evaluate):\n", dist_core.candidates,
                seconds(t0, t1));
    std::printf("  %-22s %8s %8s %8s %8s %8s\n", "", "max", "random", "k-means++", "perturbed", "small");
    for (const auto& [name, r] : {std::pair<const char*, ks::coreset_distortion_report>{"sensitivity coreset", dist_core},
                                  std::pair<const char*, ks::coreset_distortion_report>{"uniform sample", dist_unif}})
        std::printf("  %-22s %8.4f %8.4f %8.4f %8.4f %8.4f\n", name, r.max, r.random_subset, r.kmeanspp,
                    r.perturbed_optimum, r.small_cluster);
    return 0;
}
