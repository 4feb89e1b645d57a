// Honest baselines for the matrix part of the sensitivity family (used by
// benchmarks/sensitivity_matrix.cpp, checked against the kernels by
// tests/sensitivity/test_leverage_scores.cpp and test_lewis_weights.cpp):
//  * leverage scores from the normal equations, as a user writes them: G = A^T A, its
//    inverse, then tau_i = a_i^T G^{-1} a_i row by row (one pass for G, one for the scores);
//  * leverage scores from a full (non-blocked) Householder QR with column pivoting and the
//    explicit thin Q;
//  * Lewis weights by re-solving from scratch at each iteration: B = W^{1/2 - 1/p} A copied,
//    thin QR of B, and w_i <- (lev_B(i) w_i^{2/p - 1})^{p/2} (the leverage of row i of B is
//    w_i^{1-2/p} a_i^T (A^T W^{1-2/p} A)^{-1} a_i), with the same stopping rule as the kernel.
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace kestrel_baseline {

template <class Derived>
std::vector<double> leverage_normal_equations(const Eigen::MatrixBase<Derived>& A) {
    const Eigen::MatrixXd Ad = A.template cast<double>();
    const Eigen::MatrixXd G = Ad.transpose() * Ad;
    const Eigen::MatrixXd Ginv = G.inverse();
    std::vector<double> tau(static_cast<std::size_t>(Ad.rows()));
    for (Eigen::Index i = 0; i < Ad.rows(); ++i) {
        const Eigen::VectorXd a = Ad.row(i).transpose();
        tau[static_cast<std::size_t>(i)] = a.dot(Ginv * a);
    }
    return tau;
}

template <class Derived>
std::vector<double> leverage_full_qr(const Eigen::MatrixBase<Derived>& A) {
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(A.template cast<double>());
    const Eigen::Index r = qr.rank();
    const Eigen::MatrixXd Q = qr.householderQ().setLength(r) * Eigen::MatrixXd::Identity(A.rows(), r);
    std::vector<double> tau(static_cast<std::size_t>(A.rows()));
    for (Eigen::Index i = 0; i < A.rows(); ++i) tau[static_cast<std::size_t>(i)] = Q.row(i).squaredNorm();
    return tau;
}

struct lewis_baseline_result {
    std::vector<double> w;
    int iterations = 0;
};

template <class Derived>
lewis_baseline_result lewis_from_scratch(const Eigen::MatrixBase<Derived>& A, double p, double tolerance,
                                         int max_iterations) {
    const Eigen::Index n = A.rows();
    const Eigen::MatrixXd Ad = A.template cast<double>();
    lewis_baseline_result res;
    res.w.assign(static_cast<std::size_t>(n), 1.0);
    std::vector<double> next(static_cast<std::size_t>(n));
    for (int it = 0; it < max_iterations; ++it) {
        Eigen::MatrixXd B = Ad;
        for (Eigen::Index i = 0; i < n; ++i) B.row(i) *= std::pow(res.w[static_cast<std::size_t>(i)], 0.5 - 1.0 / p);
        Eigen::HouseholderQR<Eigen::MatrixXd> qr(B);
        const Eigen::MatrixXd Q = qr.householderQ() * Eigen::MatrixXd::Identity(n, A.cols());
        double change = 0.0;
        for (Eigen::Index i = 0; i < n; ++i) {
            const double wi = res.w[static_cast<std::size_t>(i)];
            const double v = std::pow(Q.row(i).squaredNorm() * std::pow(wi, 2.0 / p - 1.0), p / 2.0);
            next[static_cast<std::size_t>(i)] = v;
            change = std::max(change, std::abs(v - wi) / wi);
        }
        res.w.swap(next);
        ++res.iterations;
        if (change <= tolerance) break;
    }
    return res;
}

}  // namespace kestrel_baseline
