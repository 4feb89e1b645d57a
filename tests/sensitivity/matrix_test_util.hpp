// Shared helpers of the matrix-part tests (leverage scores, Lewis weights, l_p sampling,
// least squares from few samples): seeded test matrices and straightforward references.
#pragma once

#include <Eigen/Dense>

#include <kestrel/core/random.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <cstddef>
#include <cstdint>
#include <vector>
#include "optimized_build.hpp"

namespace matrix_test {

inline double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

/// The upper median (the element at index size / 2 after sorting).
inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// Optimized builds without sanitizers run the full sizes; Debug and sanitized builds smaller ones.
inline constexpr bool full_size = kestrel_test::optimized_build;

/// n x d standard Gaussian matrix from counter_rng(seed, 100).
inline Eigen::MatrixXd gaussian(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 100);
    Eigen::MatrixXd A(n, d);
    for (Eigen::Index i = 0; i < n; ++i)
        for (Eigen::Index j = 0; j < d; ++j) {
            const std::uint64_t k = static_cast<std::uint64_t>(i * d + j);
            const auto z = rng.normal_pair(k / 2);
            A(i, j) = k % 2 == 0 ? z.first : z.second;
        }
    return A;
}

/// A coherent matrix: rows 0..c-1 are the unit rows e_0..e_{c-1} (leverage exactly 1; no other
/// row touches columns 0..c-1); the other rows are Gaussian in columns c..d-1, scaled by
/// 1 + 4 u with u uniform so the remaining leverage is uneven too.
inline Eigen::MatrixXd coherent(Eigen::Index n, Eigen::Index d, Eigen::Index c, std::uint64_t seed) {
    Eigen::MatrixXd A = Eigen::MatrixXd::Zero(n, d);
    const Eigen::MatrixXd G = gaussian(n, d - c, seed);
    const kestrel::counter_rng rng(seed, 101);
    for (Eigen::Index i = 0; i < c; ++i) A(i, i) = 1.0;
    for (Eigen::Index i = c; i < n; ++i)
        A.row(i).tail(d - c) = (1.0 + 4.0 * rng.uniform_double(static_cast<std::uint64_t>(i))) * G.row(i);
    return A;
}

/// Leverage scores from the SVD: tau_i = ||U_{i, 1:r}||^2, r = #{sigma_j > tol * sigma_1}.
inline std::vector<double> svd_leverage(const Eigen::MatrixXd& A, double tol = 1e-10) {
    Eigen::BDCSVD<Eigen::MatrixXd> svd(A, Eigen::ComputeThinU);
    const Eigen::VectorXd s = svd.singularValues();
    Eigen::Index r = 0;
    while (r < s.size() && s(r) > tol * s(0)) ++r;
    std::vector<double> tau(static_cast<std::size_t>(A.rows()));
    for (Eigen::Index i = 0; i < A.rows(); ++i) tau[static_cast<std::size_t>(i)] = svd.matrixU().row(i).head(r).squaredNorm();
    return tau;
}

/// The Cohen-Peng map written out directly: out_i = (a_i^T (A^T W^{1-2/p} A)^{-1} a_i)^{p/2}.
inline std::vector<double> lewis_map(const Eigen::MatrixXd& A, double p, const std::vector<double>& w) {
    Eigen::MatrixXd M = Eigen::MatrixXd::Zero(A.cols(), A.cols());
    for (Eigen::Index i = 0; i < A.rows(); ++i)
        M += std::pow(w[static_cast<std::size_t>(i)], 1.0 - 2.0 / p) * A.row(i).transpose() * A.row(i);
    const Eigen::MatrixXd Minv = M.inverse();
    std::vector<double> out(static_cast<std::size_t>(A.rows()));
    for (Eigen::Index i = 0; i < A.rows(); ++i)
        out[static_cast<std::size_t>(i)] = std::pow(A.row(i).dot(Minv * A.row(i).transpose()), p / 2.0);
    return out;
}

}  // namespace matrix_test
