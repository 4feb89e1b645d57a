// The imbalanced clustered data of issue 12's benchmarks (shared by sensitivity_coresets.cpp and
// sensitivity_tree_seeding.cpp): generated once per (n, d) for the whole benchmark binary.
#pragma once

#include <kestrel/core/parallel.hpp>
#include <kestrel/core/random.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace kestrel_bench {

/// 20 unit-variance Gaussian clusters with centers uniform in [0, 20]^d, plus the first n/1000
/// points around (500, ..., 500).
inline const std::vector<float>& imbalanced_clusters(std::size_t n, std::size_t d) {
    static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<std::vector<float>>> cache;
    auto& p = cache[{n, d}];
    if (p) return *p;
    p = std::make_unique<std::vector<float>>(n * d);
    const kestrel::counter_rng rng(2024, d);
    std::vector<double> centre(21 * d);
    for (std::size_t q = 0; q < 20 * d; ++q) centre[q] = 20.0 * rng.uniform_double(q);
    for (std::size_t t = 0; t < d; ++t) centre[20 * d + t] = 500.0;
    const std::size_t far = n / 1000;
    auto& X = *p;
    kestrel::parallel_for((n + 4095) / 4096, kestrel::exec_policy{}, [&](std::size_t b) {
        for (std::size_t i = b * 4096; i < std::min(n, (b + 1) * 4096); ++i) {
            const std::size_t c = i < far ? 20 : i % 20;
            for (std::size_t t = 0; t < d; t += 2) {
                const auto z = rng.normal_pair((1u << 20) + (i * d + t) / 2);
                X[i * d + t] = float(centre[c * d + t] + z.first);
                if (t + 1 < d) X[i * d + t + 1] = float(centre[c * d + t + 1] + z.second);
            }
        }
    });
    return X;
}

}  // namespace kestrel_bench
