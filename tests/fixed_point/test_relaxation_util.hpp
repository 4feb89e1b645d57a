// Shared helpers of the sparse relaxation tests.
#pragma once

#include <kestrel/core/random.hpp>
#include <kestrel/fixed_point/poisson_2d.hpp>
#include <kestrel/fixed_point/sparse_relaxation.hpp>

#include <cmath>
#include <cstddef>
#include <vector>
#include "optimized_build.hpp"

namespace relax_test {

namespace fp = kestrel::fixed_point;

/// Debug and sanitizer builds run smaller problems.
inline constexpr bool optimized = kestrel_test::optimized_build;

inline std::vector<double> random_vector(std::size_t n, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 7);
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = rng.uniform_double(i) * 2.0 - 1.0;
    return v;
}

/// b = A x (plain CSR loop in double).
template <class T>
std::vector<T> multiply(const Eigen::SparseMatrix<T, Eigen::RowMajor, int>& A, const std::vector<T>& x) {
    std::vector<T> y(x.size());
    for (int i = 0; i < A.rows(); ++i) {
        double s = 0.0;
        for (int k = A.outerIndexPtr()[i]; k < A.outerIndexPtr()[i + 1]; ++k)
            s += static_cast<double>(A.valuePtr()[k]) * static_cast<double>(x[static_cast<std::size_t>(A.innerIndexPtr()[k])]);
        y[static_cast<std::size_t>(i)] = static_cast<T>(s);
    }
    return y;
}

inline double distance(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return std::sqrt(s);
}

/// Average contraction per sweep of the error over sweeps (k1, k2]: step(x) applies one sweep.
template <class Step>
double measured_rate(std::vector<double> x, const std::vector<double>& xstar, std::size_t k1, std::size_t k2, Step&& step) {
    for (std::size_t k = 0; k < k1; ++k) step(x);
    const double e1 = distance(x, xstar);
    for (std::size_t k = k1; k < k2; ++k) step(x);
    const double e2 = distance(x, xstar);
    return std::pow(e2 / e1, 1.0 / static_cast<double>(k2 - k1));
}

}  // namespace relax_test
