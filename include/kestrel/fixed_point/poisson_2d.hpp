// The 2-D Poisson 5-point matrix, a test problem with closed-form relaxation rates.
//
//   poisson_2d<T>(N, shift)   n = N^2 unknowns on the interior of an N x N grid, rows in
//                             lexicographic order (row = y * N + x); diagonal 4 + shift,
//                             -1 for each of the (up to four) grid neighbours. Unscaled by
//                             h^2 (h = 1 / (N + 1)), so the Jacobi iteration matrix is
//                             I - A / (4 + shift). Built directly in compressed row storage.
//   poisson_2d_rates(N, shift) the classical spectral radii for this matrix (Young's theory of
//                             consistently ordered matrices; e.g. Saad, "Iterative Methods for
//                             Sparse Linear Systems", 2nd ed., sec. 4.2.5 and 12.3):
//       rho_jacobi = 4 cos(pi h) / (4 + shift)
//       rho_gs     = rho_jacobi^2                      (lexicographic or red-black order)
//       omega_opt  = 2 / (1 + sqrt(1 - rho_jacobi^2))   (= 2 / (1 + sin(pi h)) at shift 0)
//       rho_sor    = omega_opt - 1
//       lambda_min, lambda_max of D^-1 A = 1 -+ rho_jacobi (the Chebyshev interval)
//       rho_chebyshev = sqrt(omega_opt - 1)            (asymptotic rate of Chebyshev-Jacobi)
#pragma once

#include <Eigen/SparseCore>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"

namespace kestrel {
namespace fixed_point {

/// Closed-form rates of the classical relaxations on poisson_2d(N, shift).
struct poisson_2d_rates_t {
    double h, rho_jacobi, rho_gs, omega_opt, rho_sor, lambda_min, lambda_max, rho_chebyshev;
};

inline poisson_2d_rates_t poisson_2d_rates(std::size_t N, double shift = 0.0) {
    require(N >= 1, "poisson_2d_rates", "N", "must be >= 1, got ", N);
    require(std::isfinite(shift) && shift >= 0.0, "poisson_2d_rates", "shift", "must be finite and >= 0, got ", shift);
    const double pi = 3.14159265358979323846;
    poisson_2d_rates_t r{};
    r.h = 1.0 / static_cast<double>(N + 1);
    r.rho_jacobi = 4.0 * std::cos(pi * r.h) / (4.0 + shift);
    r.rho_gs = r.rho_jacobi * r.rho_jacobi;
    r.omega_opt = 2.0 / (1.0 + std::sqrt(1.0 - r.rho_gs));
    r.rho_sor = r.omega_opt - 1.0;
    r.lambda_min = 1.0 - r.rho_jacobi;
    r.lambda_max = 1.0 + r.rho_jacobi;
    r.rho_chebyshev = std::sqrt(r.rho_sor);
    return r;
}

/// The N^2 x N^2 five-point matrix (see the header comment), row-major compressed.
template <class T, class I = int>
Eigen::SparseMatrix<T, Eigen::RowMajor, I> poisson_2d(std::size_t N, double shift = 0.0) {
    require(N >= 1, "poisson_2d", "N", "must be >= 1, got ", N);
    require(std::isfinite(shift) && shift >= 0.0, "poisson_2d", "shift", "must be finite and >= 0, got ", shift);
    const std::size_t n = checked_product(N, N, "poisson_2d", "N");
    const std::size_t nnz = checked_product(n, 5, "poisson_2d", "N") - 4 * N;
    require(nnz <= static_cast<std::size_t>(Eigen::NumTraits<I>::highest()), "poisson_2d", "N",
            "the ", nnz, " non-zeros exceed the index type");
    Eigen::SparseMatrix<T, Eigen::RowMajor, I> A(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
    A.resizeNonZeros(static_cast<Eigen::Index>(nnz));
    I* ptr = A.outerIndexPtr();
    I* col = A.innerIndexPtr();
    T* val = A.valuePtr();
    const T diag = static_cast<T>(4.0 + shift);
    std::size_t k = 0;
    ptr[0] = 0;
    for (std::size_t y = 0; y < N; ++y) {
        for (std::size_t x = 0; x < N; ++x) {
            const std::size_t i = y * N + x;
            auto put = [&](std::size_t j, T v) {
                col[k] = static_cast<I>(j);
                val[k] = v;
                ++k;
            };
            if (y > 0) put(i - N, T(-1));
            if (x > 0) put(i - 1, T(-1));
            put(i, diag);
            if (x + 1 < N) put(i + 1, T(-1));
            if (y + 1 < N) put(i + N, T(-1));
            ptr[i + 1] = static_cast<I>(k);
        }
    }
    return A;
}

/// The red-black colouring of an N x N grid in lexicographic order: colour (x + y) mod 2.
inline std::vector<std::uint8_t> grid_red_black_colors(std::size_t N) {
    require(N >= 1, "grid_red_black_colors", "N", "must be >= 1, got ", N);
    std::vector<std::uint8_t> c(checked_product(N, N, "grid_red_black_colors", "N"));
    for (std::size_t y = 0; y < N; ++y)
        for (std::size_t x = 0; x < N; ++x) c[y * N + x] = static_cast<std::uint8_t>((x + y) & 1u);
    return c;
}

}  // namespace fixed_point
}  // namespace kestrel
