// Heun's second-order method of EDM (Karras et al. 2022, Algorithm 1 with S_churn = 0; k-diffusion
// sample_heun). With sigma~ = sigma/alpha, x~ = x/alpha, Delta = sigma~_t - sigma~_s:
//   stage:  x~2 = x~_s + Delta (x~_s - D_s)/sigma~_s           (an Euler step: euler_step)
//   final:  x~_t = x~_s + Delta/2 [ (x~_s - D_s)/sigma~_s + (x~2 - D_2)/sigma~_t ]
// The final update is a 4-input combination of x_s, D_s, x2 = alpha_t x~2 and D_2 = D(x2, t).
// If t is clean (sigma_t = 0), Heun reduces to the Euler step (as in k-diffusion).
#pragma once

#include <array>

#include "detail/fused_step.hpp"

namespace kestrel {
namespace diffusion {

/// {c_x, c_Ds, c_x2, c_D2} of Heun's final update from s to t (sigma_t > 0, alpha_s > 0).
inline std::array<double, 4> heun_coefficients(const grid_point& s, const grid_point& t) {
    const char* fn = "heun_step";
    detail::require_forward(s, t, fn);
    require(s.alpha > 0 && t.alpha > 0, fn, "s/t", "Heun needs alpha > 0 at both ends");
    require(t.sigma > 0, fn, "t", "is clean (sigma = 0): take an Euler step instead");
    const double ss = s.sigma / s.alpha, st = t.sigma / t.alpha, delta = st - ss;
    const double a = delta / (2.0 * ss), b = delta / (2.0 * st);
    return {t.alpha / s.alpha * (1.0 + a), -t.alpha * a, b, -t.alpha * b};
}

/// x_out = Heun update from x (at s, data prediction denoised_s) with the stage point x_stage
/// (the Euler step to t) and its data prediction denoised_stage. x_out may alias x or x_stage.
template <class T>
void heun_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> denoised_s,
               vector_view<const T> x_stage, vector_view<const T> denoised_stage, const grid_point& s,
               const grid_point& t, exec_policy policy = {}) {
    const auto c = heun_coefficients(s, t);
    detail::fused_step<T, 4>("heun_step", x_out, c, {x, denoised_s, x_stage, denoised_stage},
                             {"x", "denoised_s", "x_stage", "denoised_stage"}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
