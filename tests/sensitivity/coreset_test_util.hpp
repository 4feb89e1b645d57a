// Data generators and statistics shared by the clustering-coreset tests.
#pragma once

#include <kestrel/core/random.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>
#include "optimized_build.hpp"

namespace coreset_test {

/// Optimized builds without sanitizers run the full sizes (n = 10^6 for the imbalanced
/// data); Debug and sanitized builds, tens of times slower, run smaller ones.
inline constexpr bool full_size = kestrel_test::optimized_build;

/// Imbalanced clustered data: 20 Gaussian clusters (unit variance, centers uniform in
/// [0, 20]^d) holding all but n/1000 points, and one far cluster (center 500 in every
/// coordinate) holding the first n/1000 points.
template <class T>
std::vector<T> imbalanced(std::size_t n, std::size_t d, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 77);
    std::vector<double> centre(21 * d);
    for (std::size_t q = 0; q < 20 * d; ++q) centre[q] = 20.0 * rng.uniform_double(q);
    for (std::size_t t = 0; t < d; ++t) centre[20 * d + t] = 500.0;
    const std::size_t far = n / 1000;
    std::vector<T> X(n * d);
    const std::uint64_t base = 1u << 20;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = i < far ? 20 : i % 20;
        for (std::size_t t = 0; t < d; ++t)
            X[i * d + t] = static_cast<T>(centre[c * d + t] + rng.normal(base + i * d + t));
    }
    return X;
}

/// Upper critical value of the chi-square law with df degrees of freedom at false-alarm rate
/// alpha = P(N(0,1) > zq) (Wilson-Hilferty; accurate to a few percent for df >= 3).
inline double chi2_critical(double df, double zq) {
    const double a = 2.0 / (9.0 * df);
    const double c = 1.0 - a + zq * std::sqrt(a);
    return df * c * c * c;
}

}  // namespace coreset_test
