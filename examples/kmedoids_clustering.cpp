// Clusters the 1797 UCI handwritten digits (8x8 images) into k = 10 groups with k-medoids,
// and compares the SWAP variants: loss, silhouette, time, and how well clusters match digits.
//
//   kmedoids_clustering [path/to/digits.csv]
// Without the data file it clusters generated Gaussian blobs instead.
#include <kestrel/kmedoids.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace km = kestrel::kmedoids;

static bool load_digits(const std::string& path, std::vector<double>& x, std::vector<int>& y) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::stringstream ss(line);
        std::string cell;
        std::vector<double> row;
        while (std::getline(ss, cell, ',')) row.push_back(std::stod(cell));
        if (row.size() != 65) return false;
        x.insert(x.end(), row.begin(), row.begin() + 64);
        y.push_back(static_cast<int>(row[64]));
    }
    return !y.empty();
}

// Fraction of points whose cluster's most common digit is their own digit.
static double purity(const std::vector<std::size_t>& labels, const std::vector<int>& truth, std::size_t k) {
    std::vector<std::vector<int>> count(k, std::vector<int>(10, 0));
    for (std::size_t j = 0; j < labels.size(); ++j) count[labels[j]][truth[j]]++;
    double hit = 0;
    for (const auto& c : count) {
        int best = 0;
        for (int v : c) best = v > best ? v : best;
        hit += best;
    }
    return hit / double(labels.size());
}

int main(int argc, char** argv) {
    std::string path = argc > 1 ? argv[1] : "";
#ifdef KESTREL_EXAMPLES_DATA_DIR
    if (path.empty()) path = std::string(KESTREL_EXAMPLES_DATA_DIR) + "/digits.csv";
#endif
    std::vector<double> x;
    std::vector<int> truth;
    std::size_t dim = 64;
    if (path.empty() || !load_digits(path, x, truth)) {
        std::printf("digits.csv not found: clustering 1797 generated points in 10 Gaussian blobs instead\n");
        const kestrel::counter_rng rng(1);
        dim = 8;
        x.assign(1797 * dim, 0.0);
        truth.assign(1797, 0);
        for (std::size_t i = 0; i < 1797; ++i) {
            truth[i] = int(i % 10);
            for (std::size_t t = 0; t < dim; ++t) x[i * dim + t] = 4.0 * ((truth[i] >> (t % 4)) & 1) + rng.normal(i * dim + t);
        }
    } else {
        std::printf("loaded %zu digits from %s\n", truth.size(), path.c_str());
    }
    const std::size_t n = truth.size(), k = 10;

    std::vector<double> matrix(n * n);
    km::dissimilarity_matrix(kestrel::matrix_view<const double>(x.data(), n, dim),
                             kestrel::matrix_view<double>(matrix.data(), n, n), km::euclidean());
    const km::dense_dissimilarity<double> d(kestrel::matrix_view<const double>(matrix.data(), n, n));

    using clock = std::chrono::steady_clock;
    auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    auto t0 = clock::now();
    const auto build = km::pam_build(d, k);
    auto t1 = clock::now();
    std::printf("PAM BUILD: loss %.1f in %.3f s\n\n", km::assign_to_medoids(d, build).loss, seconds(t0, t1));

    std::printf("%-28s %10s %8s %6s %10s %10s %8s\n", "SWAP variant (from BUILD)", "loss", "iters", "swaps",
                "silhouette", "time [s]", "purity");
    auto report = [&](const char* name, auto&& run) {
        const auto a = clock::now();
        const km::clustering r = run();
        const auto b = clock::now();
        std::printf("%-28s %10.1f %8zu %6zu %10.4f %10.4f %8.3f\n", name, r.loss, r.iterations, r.swaps,
                    km::silhouette(d, r.labels), seconds(a, b), purity(r.labels, truth, k));
    };
    report("PAM (original SWAP)", [&] { return km::pam_swap(d, build); });
    report("FastPAM1", [&] { return km::fastpam1(d, build); });
    report("FastPAM2", [&] { return km::fastpam2(d, build); });
    report("FasterPAM", [&] { return km::fasterpam(d, build); });
    report("FasterPAM from LAB", [&] { return km::fasterpam(d, km::lab_medoids(d, k, 42)); });
    report("FasterPAM from random", [&] { return km::fasterpam(d, km::random_medoids(n, k, 42)); });
    report("alternating (Voronoi)", [&] { return km::alternating(d, build); });
    // The sampling variants look at a fraction of the matrix (CLARA: 5 samples of 80 + 4k).
    report("FastCLARA (no BUILD)", [&] { return km::clara(d, k); });
    report("FastCLARANS (no BUILD)", [&] { return km::clarans(d, k); });

    // Choosing k: DynMSC optimizes the medoid silhouette for k = 15 down to 2 and keeps the best.
    t0 = clock::now();
    const auto dyn = km::dynmsc(d, km::lab_medoids(d, 15, 42), 2);
    t1 = clock::now();
    std::printf("\nDynMSC, k from 15 down to 2 (%.3f s): medoid silhouette per k:\n", seconds(t0, t1));
    for (std::size_t t = 0; t < dyn.silhouettes.size(); ++t)
        std::printf("  k = %2zu: %.4f%s\n", dyn.k_min + t, dyn.silhouettes[t], dyn.k_min + t == dyn.best_k ? "  <- best" : "");
    std::printf("best k = %zu, silhouette %.4f, purity %.3f\n", dyn.best_k,
                km::silhouette(d, dyn.best.result.labels), purity(dyn.best.result.labels, truth, dyn.best_k));
    return 0;
}
