// DEIS, time-domain Adams-Bashforth "tAB" (Zhang & Chen 2023), in the log-rho form of diffusers'
// DEISMultistepScheduler: with rho = sigma/alpha and x~ = x/alpha the probability-flow ODE is
// dx~/drho = eps; eps is interpolated by a Lagrange polynomial in log rho through the history and
// integrated exactly from rho_s0 to rho_t:
//   x_t = alpha_t (x/alpha_s0 + sum_k c_k m_k),  c_k = I_k(rho_t) - I_k(rho_s0),
//   order 2: I(t; b, c)    = t (log t - log c - 1) / (log b - log c)
//   order 3: I(t; b, c, d) = t (log c (log d - log t + 1) - log d log t + log d + log^2 t - 2 log t + 2)
//                            / ((log b - log c)(log b - log d))
// where b is the node of the basis polynomial and c, d the other nodes. Order 1 is DPM-Solver-1.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>

#include "detail/fused_step.hpp"
#include "dpm_solver.hpp"

namespace kestrel {
namespace diffusion {

namespace detail {
inline double deis_ind2(double t, double b, double c) {
    return t * (-std::log(c) + std::log(t) - 1.0) / (std::log(b) - std::log(c));
}
inline double deis_ind3(double t, double b, double c, double d) {
    const double lt = std::log(t), lc = std::log(c), ld = std::log(d), lb = std::log(b);
    const double num = t * (lc * (ld - lt + 1.0) - ld * lt + ld + lt * lt - 2.0 * lt + 2.0);
    return num / ((lb - lc) * (lb - ld));
}
}  // namespace detail

/// {c_x, c_m0, c_m1, c_m2} of DEIS-tAB of order 1..3 (noise predictions m_k at points[k], points[0] = s0).
inline std::array<double, 4> deis_coefficients(const grid_point* points, std::size_t order, const grid_point& t) {
    const char* fn = "deis_step";
    require(order >= 1 && order <= 3, fn, "order", "must lie in [1, 3], got ", order);
    require_not_null(points, order, fn, "points");
    const grid_point& s0 = points[0];
    detail::require_noise_step(s0, t, fn);
    for (std::size_t k = 1; k < order; ++k) {
        detail::require_history(points[k], points[k - 1], fn, "points");
        require(points[k].alpha > 0, fn, "points", "history points need alpha > 0");
    }
    if (order == 1) {
        const auto c = dpm_solver_1_coefficients(s0, t);
        return {c[0], c[1], 0.0, 0.0};
    }
    const double rt = t.sigma / t.alpha, r0 = s0.sigma / s0.alpha, r1 = points[1].sigma / points[1].alpha;
    std::array<double, 4> c{t.alpha / s0.alpha, 0.0, 0.0, 0.0};
    if (order == 2) {
        c[1] = t.alpha * (detail::deis_ind2(rt, r0, r1) - detail::deis_ind2(r0, r0, r1));
        c[2] = t.alpha * (detail::deis_ind2(rt, r1, r0) - detail::deis_ind2(r0, r1, r0));
    } else {
        const double r2 = points[2].sigma / points[2].alpha;
        c[1] = t.alpha * (detail::deis_ind3(rt, r0, r1, r2) - detail::deis_ind3(r0, r0, r1, r2));
        c[2] = t.alpha * (detail::deis_ind3(rt, r1, r2, r0) - detail::deis_ind3(r0, r1, r2, r0));
        c[3] = t.alpha * (detail::deis_ind3(rt, r2, r0, r1) - detail::deis_ind3(r0, r2, r0, r1));
    }
    return c;
}

/// DEIS-tAB step from x at points[0] with noise-prediction history[0..order).
template <class T>
void deis_step(vector_view<T> x_out, vector_view<const T> x, const vector_view<const T>* history,
               const grid_point* points, std::size_t order, const grid_point& t, exec_policy policy = {}) {
    const auto c = deis_coefficients(points, order, t);
    require_not_null(history, order, "deis_step", "history");
    switch (order) {
        case 1: detail::fused_step<T, 2>("deis_step", x_out, {c[0], c[1]}, {x, history[0]}, {"x", "m0"}, policy); break;
        case 2:
            detail::fused_step<T, 3>("deis_step", x_out, {c[0], c[1], c[2]}, {x, history[0], history[1]},
                                     {"x", "m0", "m1"}, policy);
            break;
        default:
            detail::fused_step<T, 4>("deis_step", x_out, c, {x, history[0], history[1], history[2]},
                                     {"x", "m0", "m1", "m2"}, policy);
    }
}

}  // namespace diffusion
}  // namespace kestrel
