// DDIM (Song, Meng & Ermon 2021, eq. 12), as diffusers' DDIMScheduler.step computes it:
//   x0  = (x - sigma_s eps) / alpha_s
//   std = eta * sigma_t * sqrt(1 - exp(-2h)),  h = lambda_t - lambda_s
//         (= eta sqrt((1-a_t)/(1-a_s)) sqrt(1 - a_s/a_t) for a VP schedule, a = alpha^2)
//   x_t = alpha_t x0 + sqrt(sigma_t^2 - std^2) eps + std z
// folded into x_t = c_x x + c_eps eps + c_z z and applied in one pass.
#pragma once

#include <array>
#include <cmath>

#include "detail/fused_step.hpp"

namespace kestrel {
namespace diffusion {

/// {c_x, c_eps, c_z} of the DDIM step from s to t.
inline std::array<double, 3> ddim_coefficients(const grid_point& s, const grid_point& t, double eta = 0.0) {
    const char* fn = "ddim_step";
    detail::require_forward(s, t, fn);
    require(eta >= 0 && std::isfinite(eta), fn, "eta", "must be finite and >= 0, got ", eta);
    require(s.alpha > 0, fn, "s", "DDIM needs alpha_s > 0 (it divides by alpha_s)");
    const double h = t.lambda - s.lambda;
    const double std_dev = eta * t.sigma * std::sqrt(-std::expm1(-2.0 * h));
    const double dir = std::sqrt(std::max(0.0, t.sigma * t.sigma - std_dev * std_dev));
    return {t.alpha / s.alpha, dir - t.alpha * s.sigma / s.alpha, std_dev};
}

/// Deterministic DDIM (eta = 0): x_out = DDIM step of x with noise prediction eps. x_out may alias x.
template <class T>
void ddim_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> eps, const grid_point& s,
               const grid_point& t, exec_policy policy = {}) {
    const auto c = ddim_coefficients(s, t, 0.0);
    detail::fused_step<T, 2>("ddim_step", x_out, {c[0], c[1]}, {x, eps}, {"x", "eps"}, policy);
}

/// Stochastic DDIM (eta > 0) with caller-supplied standard normal noise z.
template <class T>
void ddim_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> eps, vector_view<const T> noise,
               const grid_point& s, const grid_point& t, double eta, exec_policy policy = {}) {
    const auto c = ddim_coefficients(s, t, eta);
    detail::fused_step<T, 3>("ddim_step", x_out, c, {x, eps, noise}, {"x", "eps", "noise"}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
