// Chebyshev acceleration of Jacobi (Chebyshev semi-iteration with the diagonal preconditioner).
//
//   chebyshev_jacobi_solve(A, b, x, lambda_min, lambda_max, options[, ws])
//       Given 0 < lambda_min < lambda_max bounding the spectrum of D^-1 A (real, e.g. A SPD),
//       the three-term recurrence in its two-vector form (Saad, "Iterative Methods for Sparse
//       Linear Systems", 2nd ed., Algorithm 12.1, with z = D^-1 r):
//           theta = (lmax + lmin) / 2, delta = (lmax - lmin) / 2, sigma = theta / delta
//           rho_0 = 1 / sigma,  d_0 = z_0 / theta
//           rho_k = 1 / (2 sigma - rho_{k-1}),  d_k = rho_k rho_{k-1} d_{k-1} + (2 rho_k / delta) z_k
//           x_{k+1} = x_k + d_k
//       One fused pass per iteration over A, x, b, d (reads), d and the next x (writes), which
//       also yields ||b - A x_k|| (so it checks every iteration for free, as Jacobi). Parallel
//       over rows, bit-identical at any thread count. After k steps the error in the A-norm is
//       at most 2 / (c^k + c^-k) of the initial one, c = sigma + sqrt(sigma^2 - 1): asymptotic
//       rate (sqrt(kappa) - 1) / (sqrt(kappa) + 1), kappa = lmax / lmin (Saad, eq. 12.10-12.11).
//       On poisson_2d with the exact interval 1 -+ rho_J this equals sqrt(omega_opt - 1).
//
//   estimate_jacobi_spectrum(A, steps, seed)
//       Extreme Ritz values of D^-1/2 A D^-1/2 (similar to D^-1 A) after `steps` Lanczos steps
//       from a seeded random start (no reorthogonalization; the tridiagonal's eigenvalues by
//       bisection on the Sturm sequence). Requires A symmetric with positive diagonal. Ritz values
//       lie inside the spectrum: lambda_max is approached fast (error decays with the relative
//       gap at the top), lambda_min slowly. Chebyshev diverges on components above its interval,
//       so widen the top before use (e.g. 1.05 lambda_max); a lambda_min that is too large only
//       slows the smoothest components. Cost: `steps` matrix-vector products.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "sparse_relaxation.hpp"

namespace kestrel {
namespace fixed_point {

namespace relaxation_detail {

/// One Chebyshev-Jacobi pass: r = b - A xin, z = D^-1 r, d = c1 d + c2 z (c1 = 0: d is not
/// read), xout = xin + d. Returns ||r||^2.
template <class T, class I>
double chebyshev_pass_unchecked(const csr_view<T, I>& A, const T* b, const T* xin, T* xout, T* d, T c1, T c2,
                                bool first, std::vector<double>& partial, exec_policy policy) {
    return blocked_row_reduce(A.rows, partial, policy, [&](std::size_t begin, std::size_t end) {
        double acc = 0.0;
        for (std::size_t i = begin; i < end; ++i) {
            T di;
            const T r = b[i] - row_dot(A, i, xin, di);
            const T z = r / di;
            const T dn = first ? c2 * z : c1 * d[i] + c2 * z;
            d[i] = dn;
            xout[i] = xin[i] + dn;
            acc += static_cast<double>(r) * static_cast<double>(r);
        }
        return acc;
    });
}

/// Smallest or largest eigenvalue of the symmetric tridiagonal matrix with diagonal a and
/// off-diagonal b (|b| = |a| - 1), by bisection on the Sturm count (the number of negative
/// pivots of T - s I is the number of eigenvalues below s).
inline double tridiagonal_extreme_eigenvalue(const std::vector<double>& a, const std::vector<double>& b, bool largest) {
    const std::size_t m = a.size();
    double lo = a[0], hi = a[0];
    for (std::size_t i = 0; i < m; ++i) {  // Gershgorin interval
        const double r = (i > 0 ? std::abs(b[i - 1]) : 0.0) + (i + 1 < m ? std::abs(b[i]) : 0.0);
        lo = std::min(lo, a[i] - r);
        hi = std::max(hi, a[i] + r);
    }
    auto below = [&](double s) {
        std::size_t count = 0;
        double q = 1.0;
        for (std::size_t i = 0; i < m; ++i) {
            const double off = i > 0 ? b[i - 1] * b[i - 1] : 0.0;
            q = a[i] - s - (i > 0 ? off / q : 0.0);
            if (q == 0.0) q = -1e-300;
            if (q < 0.0) ++count;
        }
        return count;
    };
    const std::size_t target = largest ? m : 1;  // want the smallest s with below(s) >= target
    for (int it = 0; it < 200 && hi - lo > 1e-15 * std::max(1.0, std::abs(hi)); ++it) {
        const double mid = 0.5 * (lo + hi);
        if (below(mid) >= target) hi = mid;
        else lo = mid;
    }
    return 0.5 * (lo + hi);
}

}  // namespace relaxation_detail

/// Chebyshev-accelerated Jacobi; see the header comment. 0 < lambda_min < lambda_max.
template <class T, class I>
relaxation_result chebyshev_jacobi_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                         vector_view<relaxation_detail::nondeduced_t<T>> x, double lambda_min, double lambda_max,
                                         const relaxation_options& options, relaxation_workspace<T>& ws) {
    const char* f = "chebyshev_jacobi_solve";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_options(options, f);
    require(std::isfinite(lambda_min) && lambda_min > 0.0, f, "lambda_min", "must be finite and > 0, got ", lambda_min);
    require(std::isfinite(lambda_max) && lambda_max > lambda_min, f, "lambda_max", "must be finite and > lambda_min (",
            lambda_min, "), got ", lambda_max);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const std::size_t n = A.size();
    if (ws.d.size() < n) ws.d.resize(n);
    const double theta = 0.5 * (lambda_max + lambda_min), delta = 0.5 * (lambda_max - lambda_min);
    const double sigma = theta / delta;
    double rho_prev = 1.0 / sigma;
    return relaxation_detail::fused_residual_loop(A, b.data(), x.data(), options, ws, [&](std::size_t k, const T* in, T* out) {
        double c1 = 0.0, c2 = 1.0 / theta;
        if (k > 0) {
            const double rho = 1.0 / (2.0 * sigma - rho_prev);
            c1 = rho * rho_prev;
            c2 = 2.0 * rho / delta;
            rho_prev = rho;
        }
        return relaxation_detail::chebyshev_pass_unchecked(A.csr(), b.data(), in, out, ws.d.data(), static_cast<T>(c1),
                                                static_cast<T>(c2), k == 0, ws.partial, options.policy);
    });
}

template <class T, class I>
relaxation_result chebyshev_jacobi_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                         vector_view<relaxation_detail::nondeduced_t<T>> x, double lambda_min, double lambda_max,
                                         const relaxation_options& options = {}) {
    relaxation_workspace<T> ws;
    return chebyshev_jacobi_solve(A, b, x, lambda_min, lambda_max, options, ws);
}

/// Extreme Ritz values of D^-1 A.
struct spectrum_estimate {
    double lambda_min = 0.0, lambda_max = 0.0;
    std::size_t steps = 0;  ///< Lanczos steps taken (fewer than asked on early breakdown)
};

/// Lanczos estimate of the spectrum of D^-1 A; A must be symmetric with a positive diagonal
/// (checked: construct A with symmetric_check = true). See the header comment.
template <class T, class I>
spectrum_estimate estimate_jacobi_spectrum(const relaxation_matrix<T, I>& A, std::size_t steps = 30,
                                           std::uint64_t seed = 0, exec_policy policy = {}) {
    const char* f = "estimate_jacobi_spectrum";
    require(A.symmetric(), f, "A", "must have been checked symmetric (relaxation_matrix(A, true))");
    require(steps >= 1 && steps <= 1000, f, "steps", "must lie in [1, 1000], got ", steps);
    require_valid_policy(policy, f);
    const auto& v = A.csr();
    const std::size_t n = v.rows;
    std::vector<double> s(n);  // D^-1/2
    for (std::size_t i = 0; i < n; ++i) {
        double dd = 0.0;
        for (auto k = static_cast<std::size_t>(v.row_ptr[i]); k < static_cast<std::size_t>(v.row_ptr[i + 1]); ++k)
            if (static_cast<std::size_t>(v.col_index[k]) == i) dd = static_cast<double>(v.values[k]);
        require(dd > 0.0, f, "A", "diagonal entry of row ", i, " must be > 0, got ", dd);
        s[i] = 1.0 / std::sqrt(dd);
    }
    steps = std::min(steps, n);
    std::vector<double> q(n), qprev(n, 0.0), w(n);
    const counter_rng rng(seed, 0x6c616e63u);
    double nrm = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        q[i] = rng.normal(i);
        nrm += q[i] * q[i];
    }
    nrm = std::sqrt(nrm);
    for (auto& e : q) e /= nrm;
    std::vector<double> alpha, beta;
    double beta_prev = 0.0;
    for (std::size_t k = 0; k < steps; ++k) {
        // w = S A S q (row-parallel; each w[i] depends on i only).
        parallel_chunks(n, 1, policy, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin; i < end; ++i) {
                double acc = 0.0;
                for (auto p = static_cast<std::size_t>(v.row_ptr[i]); p < static_cast<std::size_t>(v.row_ptr[i + 1]); ++p) {
                    const auto j = static_cast<std::size_t>(v.col_index[p]);
                    acc += static_cast<double>(v.values[p]) * s[j] * q[j];
                }
                w[i] = s[i] * acc;
            }
        });
        double a = 0.0;
        for (std::size_t i = 0; i < n; ++i) a += w[i] * q[i];
        alpha.push_back(a);
        double bb = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            w[i] -= a * q[i] + beta_prev * qprev[i];
            bb += w[i] * w[i];
        }
        const double bk = std::sqrt(bb);
        if (k + 1 == steps || !(bk > 1e-14 * std::abs(a))) break;
        beta.push_back(bk);
        for (std::size_t i = 0; i < n; ++i) {
            qprev[i] = q[i];
            q[i] = w[i] / bk;
        }
        beta_prev = bk;
    }
    spectrum_estimate e;
    e.lambda_min = relaxation_detail::tridiagonal_extreme_eigenvalue(alpha, beta, false);
    e.lambda_max = relaxation_detail::tridiagonal_extreme_eigenvalue(alpha, beta, true);
    e.steps = alpha.size();
    return e;
}

}  // namespace fixed_point
}  // namespace kestrel
