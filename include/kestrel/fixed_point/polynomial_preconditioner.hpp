// Polynomial preconditioning of the gradient (Richardson) iteration for SPD A x = b.
//
// The gradient method on f(x) = x'Ax/2 - b'x with a preconditioner P is x+ = x + P (b - A x)
// ("Polynomial Preconditioning for Gradient Methods", Doikov & Rodomanov: P a polynomial in the
// Hessian A). Its rate is max |1 - lambda p(lambda)| over the spectrum of A. Of the polynomials
// the paper compares, this header implements the Chebyshev one: given 0 < lambda_min <=
// lambda(A) <= lambda_max and a degree m,
//     1 - lambda p(lambda) = T_{m+1}((theta - lambda) / delta) / T_{m+1}(theta / delta),
//     theta = (lmax + lmin) / 2, delta = (lmax - lmin) / 2,
// the degree-(m+1) residual polynomial of least maximum on the interval. Then p(A) A has
// spectrum in [1 - eps, 1 + eps], eps = 1 / T_{m+1}(sigma), sigma = theta / delta, so the
// preconditioned condition number is (1 + eps) / (1 - eps) instead of lmax / lmin, and one
// iteration contracts the error by eps (in the A-norm and the 2-norm) against
// (kappa - 1) / (kappa + 1) for the gradient method with its best fixed step 1 / theta (which is
// degree 0 here). The paper's own family, the preconditioners P_tau built from elementary
// symmetric polynomials of the eigenvalues (estimated by traces), and its Krylov-subspace
// search live in symmetric_polynomial_preconditioner.hpp.
//
//   chebyshev_preconditioner(lambda_min, lambda_max, degree)   the polynomial; contraction()
//                                       = eps, condition_number() = (1 + eps) / (1 - eps).
//   apply_polynomial_preconditioner(A, P, r, z, ws)   z = p(A) r by m + 1 steps of the
//                                       Chebyshev iteration on A z = r from z = 0 (Saad,
//                                       Algorithm 12.1 without the diagonal): m matrix-vector
//                                       products, each fused with the recurrence update.
//   polynomial_richardson_solve(A, b, x, P, options[, ws])   x+ = x + p(A) (b - A x) until the
//                                       residual test (sparse_relaxation.hpp); result.sweeps
//                                       = outer iterations, result.passes = matrix-vector
//                                       products (m + 1 per iteration plus the final check).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "sparse_relaxation.hpp"

namespace kestrel {
namespace fixed_point {

/// The Chebyshev polynomial preconditioner of degree m on [lambda_min, lambda_max].
class chebyshev_preconditioner {
public:
    chebyshev_preconditioner(double lambda_min, double lambda_max, std::size_t degree)
        : lmin_(lambda_min), lmax_(lambda_max), m_(degree) {
        const char* f = "chebyshev_preconditioner";
        require(std::isfinite(lambda_min) && lambda_min > 0.0, f, "lambda_min", "must be finite and > 0, got ", lambda_min);
        require(std::isfinite(lambda_max) && lambda_max > lambda_min, f, "lambda_max",
                "must be finite and > lambda_min (", lambda_min, "), got ", lambda_max);
        require(degree <= 1000, f, "degree", "must be <= 1000, got ", degree);
    }

    double lambda_min() const noexcept { return lmin_; }
    double lambda_max() const noexcept { return lmax_; }
    std::size_t degree() const noexcept { return m_; }
    double theta() const noexcept { return 0.5 * (lmax_ + lmin_); }
    double delta() const noexcept { return 0.5 * (lmax_ - lmin_); }
    /// max |1 - lambda p(lambda)| on the interval: 1 / T_{m+1}(theta / delta).
    double contraction() const noexcept {
        const double sigma = theta() / delta();
        return 1.0 / std::cosh(static_cast<double>(m_ + 1) * std::acosh(sigma));
    }
    /// Condition number of p(A) A when the spectrum of A lies in the interval.
    double condition_number() const noexcept {
        const double e = contraction();
        return (1.0 + e) / (1.0 - e);
    }

private:
    double lmin_, lmax_;
    std::size_t m_;
};

namespace relaxation_detail {

/// z = p(A) r; uses ws.d and ws.x2 (as the second z buffer); z must not be ws storage.
template <class T, class I>
void apply_chebyshev_unchecked(const csr_view<T, I>& A, const chebyshev_preconditioner& P, const T* r, T* z,
                               relaxation_workspace<T>& ws, exec_policy policy) {
    const std::size_t n = A.rows;
    const double theta = P.theta(), delta = P.delta(), sigma = theta / delta;
    const std::size_t m = P.degree();
    const T c0 = static_cast<T>(1.0 / theta);
    if (m == 0) {
        parallel_chunks(n, 64, policy, [&](std::size_t b0, std::size_t e0) {
            for (std::size_t i = b0; i < e0; ++i) z[i] = c0 * r[i];
        });
        return;
    }
    if (ws.d.size() < n) ws.d.resize(n);
    if (ws.x2.size() < n) ws.x2.resize(n);
    T* d = ws.d.data();
    // Step 0 from z = 0: d_0 = r / theta, z_1 = d_0. The m steps after it alternate z between
    // the two buffers so that the last one lands in z.
    T* cur = (m % 2 == 0) ? z : ws.x2.data();
    T* nxt = (m % 2 == 0) ? ws.x2.data() : z;
    parallel_chunks(n, 64, policy, [&](std::size_t b0, std::size_t e0) {
        for (std::size_t i = b0; i < e0; ++i) {
            d[i] = c0 * r[i];
            cur[i] = d[i];
        }
    });
    double rho_prev = 1.0 / sigma;
    for (std::size_t k = 1; k <= m; ++k) {
        const double rho = 1.0 / (2.0 * sigma - rho_prev);
        const T c1 = static_cast<T>(rho * rho_prev), c2 = static_cast<T>(2.0 * rho / delta);
        rho_prev = rho;
        parallel_chunks(n, 64, policy, [&](std::size_t b0, std::size_t e0) {
            for (std::size_t i = b0; i < e0; ++i) {
                T di;
                const T res = r[i] - row_dot(A, i, cur, di);
                const T dn = c1 * d[i] + c2 * res;
                d[i] = dn;
                nxt[i] = cur[i] + dn;
            }
        });
        std::swap(cur, nxt);
    }
}

}  // namespace relaxation_detail

/// z = p(A) r (see the header comment). z must not overlap r.
template <class T, class I>
void apply_polynomial_preconditioner(const relaxation_matrix<T, I>& A, const chebyshev_preconditioner& P,
                                     vector_view<const relaxation_detail::nondeduced_t<T>> r, vector_view<relaxation_detail::nondeduced_t<T>> z,
                                     relaxation_workspace<T>& ws, exec_policy policy = {}) {
    const char* f = "apply_polynomial_preconditioner";
    require_size(r.size(), A.size(), f, "r", "the rows of A");
    require_size(z.size(), A.size(), f, "z", "the rows of A");
    require(!relaxation_detail::overlaps(r.data(), r.size() * sizeof(T), z.data(), z.size() * sizeof(T)), f, "z", "must not overlap r");
    require_valid_policy(policy, f);
    relaxation_detail::apply_chebyshev_unchecked(A.csr(), P, r.data(), z.data(), ws, policy);
}

/// Preconditioned gradient (Richardson) iteration x+ = x + p(A)(b - A x); see the header.
template <class T, class I>
relaxation_result polynomial_richardson_solve(const relaxation_matrix<T, I>& A,
                                              vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                              vector_view<relaxation_detail::nondeduced_t<T>> x, const chebyshev_preconditioner& P,
                                              const relaxation_options& options, relaxation_workspace<T>& ws) {
    const char* f = "polynomial_richardson_solve";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_options(options, f);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const std::size_t n = A.size();
    if (ws.r.size() < n) ws.r.resize(n);
    if (ws.z.size() < n) ws.z.resize(n);
    const auto [thr, bnorm] = relaxation_detail::threshold_of(b.data(), n, options);
    relaxation_result res;
    T* r = ws.r.data();
    T* z = ws.z.data();
    T* xp = x.data();
    for (std::size_t s = 0;; ++s) {
        const double rr = relaxation_detail::residual_vector_unchecked(A.csr(), b.data(), xp, r, ws.partial, options.policy);
        ++res.passes;
        if (options.record_history) res.history.push_back(std::sqrt(rr));
        const bool ok = std::isfinite(rr) && relaxation_detail::below(rr, thr);
        if (ok || s >= options.max_sweeps || !std::isfinite(rr)) {
            res.sweeps = s;
            relaxation_detail::finish(res, rr, bnorm, ok);
            return res;
        }
        relaxation_detail::apply_chebyshev_unchecked(A.csr(), P, r, z, ws, options.policy);
        res.passes += P.degree();
        parallel_chunks(n, 64, options.policy, [&](std::size_t b0, std::size_t e0) {
            for (std::size_t i = b0; i < e0; ++i) xp[i] += z[i];
        });
    }
}

template <class T, class I>
relaxation_result polynomial_richardson_solve(const relaxation_matrix<T, I>& A,
                                              vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                              vector_view<relaxation_detail::nondeduced_t<T>> x, const chebyshev_preconditioner& P,
                                              const relaxation_options& options = {}) {
    relaxation_workspace<T> ws;
    return polynomial_richardson_solve(A, b, x, P, options, ws);
}

}  // namespace fixed_point
}  // namespace kestrel
