// Euler step of the probability-flow ODE in EDM form (Karras et al. 2022; k-diffusion
// sample_euler): with sigma~ = sigma/alpha and x~ = x/alpha,
//   x~_t = x~_s + (sigma~_t - sigma~_s) (x~_s - D) / sigma~_s.
// Multiplying by alpha_t gives x_t = (sigma_t/sigma_s) x + (alpha_t - alpha_s sigma_t/sigma_s) D, which
// stays finite at alpha_s = 0 (the first step of a flow model) and is exactly the flow-matching
// Euler step x + (t - s) u for alpha = 1 - t, sigma = t. (It is also DDIM in exact arithmetic.)
#pragma once

#include <array>

#include "detail/fused_step.hpp"

namespace kestrel {
namespace diffusion {

/// {c_x, c_D} of the Euler step from s to t.
inline std::array<double, 2> euler_coefficients(const grid_point& s, const grid_point& t) {
    detail::require_forward(s, t, "euler_step");
    require(s.sigma > 0, "euler_step", "s", "needs sigma_s > 0");
    const double r = t.sigma / s.sigma;
    return {r, t.alpha - s.alpha * r};
}

/// x_out = Euler step of x given the data prediction D at s. x_out may alias x.
template <class T>
void euler_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> denoised, const grid_point& s,
                const grid_point& t, exec_policy policy = {}) {
    const auto c = euler_coefficients(s, t);
    detail::fused_step<T, 2>("euler_step", x_out, c, {x, denoised}, {"x", "denoised"}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
