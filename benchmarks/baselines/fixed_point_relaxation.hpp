// Honest baselines for the sparse relaxation sweeps (benchmarks/fixed_point_relaxation.cpp,
// checked against the kernels in tests/fixed_point/test_relaxation_validation.cpp):
//  * Jacobi as Eigen expressions with temporaries, the way a user of Eigen writes it:
//        x_out = D^-1 (b - (A - D) x_in)
//    with R = A - D and D^-1 prepared once (setup, not timed), then per sweep a sparse
//    matrix-vector product into a temporary, a vector subtraction and a coefficient-wise product
//    (three passes; the temporary is allocated once, not per sweep).
//  * Gauss-Seidel as the textbook CSR double loop: x_i = (b_i - sum_{j != i} a_ij x_j) / a_ii.
//  * Red-black SOR as the textbook loop: for each colour, every row of the matrix is visited
//    and rows of the other colour are skipped; x_i = (1 - omega) x_i + omega (b_i - sum) / a_ii.
#pragma once

#include <Eigen/SparseCore>

#include <cstddef>
#include <cstdint>

namespace kestrel_baseline {

template <class T>
struct eigen_jacobi {
    using sparse = Eigen::SparseMatrix<T, Eigen::RowMajor, int>;
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    sparse R;          // A without its diagonal
    vector dinv;       // 1 / a_ii
    mutable vector t;  // the temporary, kept between sweeps (as a framework's caching
                       // allocator keeps it): a fresh 80 MB vector per sweep at 10^7 unknowns
                       // cost page faults that had nothing to do with the arithmetic

    explicit eigen_jacobi(const sparse& A) : R(A), dinv(A.diagonal().cwiseInverse()), t(A.rows()) {
        R.prune([](const Eigen::Index& i, const Eigen::Index& j, const T&) { return i != j; });
    }

    void sweep(const vector& b, const vector& x_in, vector& x_out) const {
        t.noalias() = R * x_in;  // pass 1: sparse product into the temporary
        t = b - t;               // pass 2: subtraction
        x_out = dinv.cwiseProduct(t);  // pass 3: scaling
    }
};

/// One forward Gauss-Seidel sweep over a compressed row-major matrix, in place.
template <class T>
void csr_gauss_seidel_sweep(const Eigen::SparseMatrix<T, Eigen::RowMajor, int>& A, const T* b, T* x) {
    const int* ptr = A.outerIndexPtr();
    const int* col = A.innerIndexPtr();
    const T* val = A.valuePtr();
    const auto n = static_cast<std::size_t>(A.rows());
    for (std::size_t i = 0; i < n; ++i) {
        T s = b[i], d = T(1);
        for (int k = ptr[i]; k < ptr[i + 1]; ++k) {
            const auto j = static_cast<std::size_t>(col[k]);
            if (j == i)
                d = val[k];
            else
                s -= val[k] * x[j];
        }
        x[i] = s / d;
    }
}

/// One red-black SOR sweep in place: colour 0 rows, then colour 1 rows (color[i] in {0, 1}).
template <class T>
void csr_red_black_sor_sweep(const Eigen::SparseMatrix<T, Eigen::RowMajor, int>& A, const std::uint8_t* color, const T* b,
                             T* x, T omega) {
    const int* ptr = A.outerIndexPtr();
    const int* col = A.innerIndexPtr();
    const T* val = A.valuePtr();
    const auto n = static_cast<std::size_t>(A.rows());
    for (int c = 0; c < 2; ++c)
        for (std::size_t i = 0; i < n; ++i) {
            if (color[i] != c) continue;
            T s = b[i], d = T(1);
            for (int k = ptr[i]; k < ptr[i + 1]; ++k) {
                const auto j = static_cast<std::size_t>(col[k]);
                if (j == i)
                    d = val[k];
                else
                    s -= val[k] * x[j];
            }
            x[i] = (T(1) - omega) * x[i] + omega * s / d;
        }
}

}  // namespace kestrel_baseline
