// Honest baselines for the symmetric-polynomial preconditioner and the Krylov search
// (benchmarks/fixed_point_polynomial.cpp; checked against the kernels in
// tests/fixed_point/test_polyprec.cpp), written the way a user of Eigen would:
//  * symmetric_polynomial_gradient: sigma_1..sigma_{tau+1} from the traces of the sparse
//    powers A^k (Eigen sparse products) and Newton's identities; then per iteration
//    r = b - A x, the powers A^i r one product at a time, z = sum_i (-1)^i sigma_{tau-i} A^i r
//    as whole-vector expressions with temporaries, x += z / sigma_{tau+1}.
//  * krylov_gradient: V = [r, A r, ..., A^tau r] as a dense n x (tau+1) matrix, W = A V,
//    H = V' W, g = V' r, c = H.ldlt().solve(g), x += V c, r = b - A x afresh each iteration.
// Both stop when ||b - A x|| <= tol ||b|| and return the iterations taken.
#pragma once

#include <Eigen/Dense>
#include <Eigen/SparseCore>

#include <cstddef>
#include <vector>

namespace kestrel_baseline {

/// sigma_0..sigma_K from the traces of sparse powers (setup of the baseline).
inline std::vector<double> sigmas_by_sparse_powers(const Eigen::SparseMatrix<double, Eigen::RowMajor, int>& A, std::size_t K) {
    std::vector<double> p(K);
    Eigen::SparseMatrix<double, Eigen::RowMajor, int> Ak = A;
    for (std::size_t k = 0; k < K; ++k) {
        double t = 0.0;
        for (Eigen::Index i = 0; i < Ak.rows(); ++i) t += Ak.coeff(i, i);
        p[k] = t;
        if (k + 1 < K) Ak = (Ak * A).pruned();
    }
    std::vector<double> s(K + 1);
    s[0] = 1.0;
    for (std::size_t k = 1; k <= K; ++k) {
        double acc = 0.0;
        for (std::size_t i = 1; i <= k; ++i) acc += ((i % 2 == 1) ? 1.0 : -1.0) * s[k - i] * p[i - 1];
        s[k] = acc / static_cast<double>(k);
    }
    return s;
}

/// The iteration with sigma_0..sigma_{tau+1} given (s).
template <class T>
std::size_t symmetric_polynomial_gradient(const Eigen::SparseMatrix<T, Eigen::RowMajor, int>& A, const Eigen::Matrix<T, Eigen::Dynamic, 1>& b,
                                          Eigen::Matrix<T, Eigen::Dynamic, 1>& x, const std::vector<double>& s, std::size_t tau, double tol,
                                          std::size_t max_iter) {
    using vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    const double bn = static_cast<double>(b.norm());
    for (std::size_t it = 0;; ++it) {
        const vec r = b - A * x;
        if (static_cast<double>(r.norm()) <= tol * bn || it >= max_iter) return it;
        vec z = static_cast<T>(s[tau]) * r;
        vec p = r;
        for (std::size_t i = 1; i <= tau; ++i) {
            p = A * p;  // A^i r
            z = z + static_cast<T>(((i % 2 == 1) ? -1.0 : 1.0) * s[tau - i]) * p;
        }
        x = x + z / static_cast<T>(s[tau + 1]);
    }
}

/// Setup (sigmas from sparse powers) and iteration.
template <class T>
std::size_t symmetric_polynomial_gradient(const Eigen::SparseMatrix<T, Eigen::RowMajor, int>& A, const Eigen::Matrix<T, Eigen::Dynamic, 1>& b,
                                          Eigen::Matrix<T, Eigen::Dynamic, 1>& x, std::size_t tau, double tol, std::size_t max_iter) {
    const Eigen::SparseMatrix<double, Eigen::RowMajor, int> Ad = A.template cast<double>();
    return symmetric_polynomial_gradient(A, b, x, sigmas_by_sparse_powers(Ad, tau + 1), tau, tol, max_iter);
}

template <class T>
std::size_t krylov_gradient(const Eigen::SparseMatrix<T, Eigen::RowMajor, int>& A, const Eigen::Matrix<T, Eigen::Dynamic, 1>& b,
                            Eigen::Matrix<T, Eigen::Dynamic, 1>& x, std::size_t tau, double tol, std::size_t max_iter) {
    using vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    const double bn = static_cast<double>(b.norm());
    const auto m = static_cast<Eigen::Index>(tau + 1);
    mat V(A.rows(), m), W(A.rows(), m);
    for (std::size_t it = 0;; ++it) {
        const vec r = b - A * x;
        if (static_cast<double>(r.norm()) <= tol * bn || it >= max_iter) return it;
        V.col(0) = r;
        for (Eigen::Index k = 0; k < m; ++k) {
            W.col(k) = A * V.col(k);
            if (k + 1 < m) V.col(k + 1) = W.col(k);
        }
        const Eigen::MatrixXd H = (V.transpose() * W).template cast<double>();
        const Eigen::VectorXd g = (V.transpose() * r).template cast<double>();
        const Eigen::VectorXd c = H.ldlt().solve(g);
        x = x + V * c.cast<T>();
    }
}

}  // namespace kestrel_baseline
