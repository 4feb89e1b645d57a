// The Fast Gradient Method with a symmetric-polynomial preconditioner P_tau (Doikov &
// Rodomanov, "Polynomial Preconditioning for Gradient Methods", ICML 2023, which puts P_tau into
// the Gradient and the Fast Gradient Methods; symmetric_polynomial_preconditioner.hpp holds
// P_tau, its notation and the plain preconditioned gradient method).
//
// SPD A, f(x) = x'Ax/2 - b'x, q(A) = P_tau(A) / sigma_{tau+1} the preconditioned step. In the
// norm ||v||^2 = v' q(A)^-1 v, f is 1-smooth and mu-strongly convex with
//     mu = min_j lambda_j sigma_tau(lambda_{-j}) / sigma_{tau+1}(lambda)   (the smallest eigenvalue
//          of q(A) A; the paper's condition number kappa_tau = 1 / mu <= sum_{i > tau} lambda_i / lambda_n),
// and the Fast Gradient Method in that geometry (Nesterov, "Lectures on Convex Optimization",
// 2018, the constant-step scheme (2.2.22) for strongly convex functions) is
//     y_k     = x_k + beta_k (x_k - x_{k-1})                     (x_{-1} = x_0)
//     x_{k+1} = y_k + q(A) (b - A y_k).
// Momentum, two ways:
//   * strong_convexity = mu_hat in (0, 1]: beta = (1 - sqrt(mu_hat)) / (1 + sqrt(mu_hat)). On a
//     quadratic each eigencomponent of the error follows e+ = (1 - m)((1 + beta) e - beta e-),
//     m an eigenvalue of q(A) A; at m = mu_hat = mu its characteristic polynomial has the double
//     root 1 - sqrt(mu), and for m in (mu, 1] both roots have modulus sqrt(beta (1 - m)) <
//     1 - sqrt(mu): the error contracts by 1 - sqrt(mu) per iteration asymptotically (times a
//     factor linear in k from the double root), against 1 - mu for the gradient method:
//     O(sqrt(kappa_tau) log(1 / eps)) iterations. mu_hat above the true mu only slows the
//     slowest components (their roots stay below 1); mu_hat below it costs sqrt(mu / mu_hat).
//   * strong_convexity = 0 (mu unknown, the default): Nesterov's sequence t_0 = 1,
//     t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2, beta_k = (t_{k-1} - 1) / t_k, with the gradient
//     restart of O'Donoghue & Candes ("Adaptive restart for accelerated gradient schemes", FoCM
//     15, 2015, Sec. 3.2): when grad f(y_k)'(x_{k+1} - x_k) > 0, i.e. r(y_k)'(x_{k+1} - x_k) < 0,
//     the sequence starts again at t = 1 (the next step has no momentum). On strongly convex
//     quadratics this recovers the rate of the tuned scheme up to a small factor without mu.
// The paper's body was not available here; this is the textbook method in the P_tau geometry,
// with the complexity the abstract states.
//
// Stopping: the residual of y_k, r = b - A y_k, is computed for the step; when it meets
// max(abs_tol, rel_tol ||b||) (relaxation_options), y_k is returned in x. sweeps = iterations,
// passes = products with A (tau + 1 per iteration: the residual and tau Horner steps, the last
// fused with the update of x, plus none at the end: the returned y's residual was measured).
// Besides, one vector pass per iteration forms y (skipped while beta = 0).
//
// Validation before anything is written: as symmetric_polynomial_gradient_solve, plus
// strong_convexity finite in [0, 1]. Parallel over rows; reductions blocked in a fixed order:
// the same bits at any thread count. No user callbacks.
//
//   fast_gradient_options { strong_convexity }
//   symmetric_polynomial_fast_gradient_solve(A, b, x, P, relaxation_options, fast_gradient_options[, ws])
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "sparse_relaxation.hpp"
#include "symmetric_polynomial_preconditioner.hpp"

namespace kestrel {
namespace fixed_point {

struct fast_gradient_options {
    /// A lower bound mu_hat in (0, 1] on the smallest eigenvalue of q(A) A (constant momentum),
    /// or 0: unknown (Nesterov's sequence with gradient restarts).
    double strong_convexity = 0.0;
};

/// Statistics beyond relaxation_result.
struct fast_gradient_result : relaxation_result {
    std::size_t restarts = 0;  ///< gradient restarts (strong_convexity = 0 only)
};

/// Scratch of symmetric_polynomial_fast_gradient_solve: the residual, two Horner buffers, y and
/// the previous iterate (n each), reduction partials.
template <class T>
struct fast_gradient_workspace {
    std::vector<T> r, h0, h1, y, previous;
    std::vector<double> partial;
};

namespace polyprec_detail {

/// x_new = y + q(A) r (the last Horner step on w); with Restart, returns r'(x_new - x) (blocked,
/// thread-count invariant), else 0.
template <bool Restart, class T, class I>
double fast_gradient_step(const csr_view<T, I>& A, const symmetric_polynomial_preconditioner& P, const T* r, const T* w,
                          const T* y, const T* x, T* x_new, std::vector<double>& partial, exec_policy policy) {
    const T g0 = static_cast<T>(P.ratio(0));
    const T c0 = static_cast<T>(P.leading());
    if constexpr (Restart) {
        return relaxation_detail::blocked_row_reduce(A.rows, partial, policy, [&](std::size_t b, std::size_t e) {
            double acc = 0.0;
            for (std::size_t row = b; row < e; ++row) {
                const T xn = y[row] + horner_last_row(A, row, r, w, g0, c0);
                x_new[row] = xn;
                acc += static_cast<double>(r[row]) * (static_cast<double>(xn) - static_cast<double>(x[row]));
            }
            return acc;
        });
    } else {
        (void)x, (void)partial;
        parallel_chunks(A.rows, 64, policy, [&](std::size_t b, std::size_t e) {
            for (std::size_t row = b; row < e; ++row) x_new[row] = y[row] + horner_last_row(A, row, r, w, g0, c0);
        });
        return 0.0;
    }
}

}  // namespace polyprec_detail

/// The Fast Gradient Method with P_tau; see the header.
template <class T, class I>
fast_gradient_result symmetric_polynomial_fast_gradient_solve(const relaxation_matrix<T, I>& A,
                                                              vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                                              vector_view<relaxation_detail::nondeduced_t<T>> x,
                                                              const symmetric_polynomial_preconditioner& P,
                                                              const relaxation_options& options,
                                                              const fast_gradient_options& fgm, fast_gradient_workspace<T>& ws) {
    const char* f = "symmetric_polynomial_fast_gradient_solve";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    require(P.tau() < A.size(), f, "P", "degree ", P.tau(), " must be < the size of A (", A.size(), ")");
    relaxation_detail::require_options(options, f);
    require(std::isfinite(fgm.strong_convexity) && fgm.strong_convexity >= 0.0 && fgm.strong_convexity <= 1.0, f,
            "fgm.strong_convexity", "must lie in [0, 1] (0: unknown), got ", fgm.strong_convexity);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const std::size_t n = A.size();
    for (auto* v : {&ws.r, &ws.h0, &ws.h1, &ws.y, &ws.previous}) polyprec_detail::ensure(*v, n);
    const auto [thr, bnorm] = relaxation_detail::threshold_of(b.data(), n, options);
    const auto& csr = A.csr();
    const exec_policy pol = options.policy;
    const bool adaptive = fgm.strong_convexity == 0.0;
    const double sq = std::sqrt(fgm.strong_convexity);
    const double beta_fixed = adaptive ? 0.0 : (1.0 - sq) / (1.0 + sq);

    fast_gradient_result res;
    T* const user = x.data();
    T* xc = user;                  // x_k
    T* xp = ws.previous.data();    // x_{k-1}; its buffer receives x_{k+1}
    T* const ybuf = ws.y.data();
    T* r = ws.r.data();
    double t = 1.0, beta = 0.0;    // beta_0 = 0: y_0 = x_0
    for (std::size_t s = 0;; ++s) {
        // y_k: x_k itself while beta = 0 (no pass), else x_k + beta (x_k - x_{k-1}).
        const T* y = xc;
        if (beta != 0.0) {
            const T bt = static_cast<T>(beta);
            parallel_chunks(n, 256, pol, [&](std::size_t lo, std::size_t hi) {
                for (std::size_t i = lo; i < hi; ++i) ybuf[i] = xc[i] + bt * (xc[i] - xp[i]);
            });
            y = ybuf;
        }
        const double rr = polyprec_detail::residual_into(csr, b.data(), y, r, ws.partial, pol);
        ++res.passes;
        if (options.record_history) res.history.push_back(std::sqrt(rr));
        const bool ok = std::isfinite(rr) && relaxation_detail::below(rr, thr);
        if (ok || s >= options.max_sweeps || !std::isfinite(rr)) {
            if (y != user)
                parallel_chunks(n, 256, pol, [&](std::size_t lo, std::size_t hi) {
                    for (std::size_t i = lo; i < hi; ++i) user[i] = y[i];
                });
            res.sweeps = s;
            relaxation_detail::finish(res, rr, bnorm, ok);
            return res;
        }
        // x_{k+1} = y_k + q(A) r into x_{k-1}'s buffer (no longer needed once y_k is formed).
        const T* w = polyprec_detail::horner_until_last(csr, P, r, ws.h0.data(), ws.h1.data(), pol);
        res.passes += P.tau();
        if (adaptive) {
            const double progress =
                polyprec_detail::fast_gradient_step<true>(csr, P, r, w, y, xc, xp, ws.partial, pol);
            if (progress < 0.0) {  // O'Donoghue & Candes' gradient restart
                t = 1.0;
                beta = 0.0;
                ++res.restarts;
            } else {
                const double tn = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
                beta = (t - 1.0) / tn;
                t = tn;
            }
        } else {
            polyprec_detail::fast_gradient_step<false>(csr, P, r, w, y, xc, xp, ws.partial, pol);
            beta = beta_fixed;
        }
        std::swap(xc, xp);  // x_k becomes x_{k-1}; the buffer just written holds x_{k+1}
    }
}

template <class T, class I>
fast_gradient_result symmetric_polynomial_fast_gradient_solve(const relaxation_matrix<T, I>& A,
                                                              vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                                              vector_view<relaxation_detail::nondeduced_t<T>> x,
                                                              const symmetric_polynomial_preconditioner& P,
                                                              const relaxation_options& options = {},
                                                              const fast_gradient_options& fgm = {}) {
    fast_gradient_workspace<T> ws;
    return symmetric_polynomial_fast_gradient_solve(A, b, x, P, options, fgm, ws);
}

}  // namespace fixed_point
}  // namespace kestrel
