// DPM-Solver++ (Lu et al. 2022b), data prediction D. h = lambda_t - lambda_s0, phi_1 = e^{-h} - 1.
//   1:   x_t = (sigma_t/sigma_s) x - alpha_t phi_1 D_s                                   (= DDIM)
//   2S:  u   = first-order step to s1 = lambda_s + r1 h (r1 = 1/2)
//        x_t = (sigma_t/sigma_s) x - alpha_t phi_1 D_s - alpha_t phi_1 /(2 r1) (D_s1 - D_s)
//   2M:  r0 = (lambda_s0 - lambda_s1)/h, D1 = (m0 - m1)/r0                       (paper's Algorithm 2)
//        midpoint: x_t = (sigma_t/sigma_s0) x - alpha_t phi_1 m0 - alpha_t phi_1 D1 / 2   (diffusers default)
//        heun:     x_t = (sigma_t/sigma_s0) x - alpha_t phi_1 m0 + alpha_t (phi_1/h + 1) D1
//   3M:  r0, r1 = (lambda_s1 - lambda_s2)/h, D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1,
//        D1 = D1_0 + r0/(r0+r1) (D1_0 - D1_1), D2 = (D1_0 - D1_1)/(r0+r1),
//        x_t = (sigma_t/sigma_s0) x - alpha_t phi_1 m0 + alpha_t phi_2 D1 - alpha_t phi_3 k D2,
//        phi_2 = phi_1/h + 1, phi_3 = (phi_1 + h)/h^2 - 1/2.
//        published (k = 1): the update of LuChengTHU/dpm-solver and diffusers. D2 estimates h^2 m''/2
//        while the exact integral needs h^2 m'' in this term, so it is only second order (measured in
//        shared/research/measured-facts.md and in our tests). corrected (k = 2): third order.
// All coefficients stay finite when alpha_s0 = 0 (lambda = -inf, flow models' first point) and the
// first-order update also when t is clean (sigma_t = 0).
#pragma once

#include <array>
#include <cmath>

#include "detail/fused_step.hpp"
#include "dpm_solver.hpp"

namespace kestrel {
namespace diffusion {

enum class second_order_form { midpoint, heun };
enum class third_order_form { published, corrected };

inline std::array<double, 2> dpm_solver_pp_1_coefficients(const grid_point& s, const grid_point& t) {
    const char* fn = "dpm_solver_pp_1_step";
    detail::require_forward(s, t, fn);
    require(s.sigma > 0, fn, "s", "needs sigma_s > 0");
    return {t.sigma / s.sigma, -t.alpha * std::expm1(-(t.lambda - s.lambda))};
}

/// DPM-Solver++ 1 (first order, data prediction). x_out may alias x.
template <class T>
void dpm_solver_pp_1_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> denoised,
                          const grid_point& s, const grid_point& t, exec_policy policy = {}) {
    detail::fused_step<T, 2>("dpm_solver_pp_1_step", x_out, dpm_solver_pp_1_coefficients(s, t), {x, denoised},
                             {"x", "denoised"}, policy);
}

inline std::array<double, 3> dpm_solver_pp_2s_coefficients(const grid_point& s, const grid_point& s1,
                                                           const grid_point& t) {
    const char* fn = "dpm_solver_pp_2s_step";
    detail::require_forward(s, t, fn);
    require(s.sigma > 0 && std::isfinite(s.lambda) && std::isfinite(t.lambda), fn, "s/t",
            "singlestep updates need finite lambda at both ends");
    const double h = t.lambda - s.lambda, r1 = detail::fraction(s, s1, t, fn, "s1");
    const double phi_1 = std::expm1(-h), k = 0.5 / r1 * t.alpha * phi_1;
    return {t.sigma / s.sigma, -t.alpha * phi_1 + k, -k};
}

/// DPM-Solver++(2S) final update given D at s and at the intermediate point s1.
template <class T>
void dpm_solver_pp_2s_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> denoised_s,
                           vector_view<const T> denoised_s1, const grid_point& s, const grid_point& s1,
                           const grid_point& t, exec_policy policy = {}) {
    detail::fused_step<T, 3>("dpm_solver_pp_2s_step", x_out, dpm_solver_pp_2s_coefficients(s, s1, t),
                             {x, denoised_s, denoised_s1}, {"x", "denoised_s", "denoised_s1"}, policy);
}

/// {c_x, c_m0, c_m1} of DPM-Solver++(2M) from s0 to t with history point s1 (m1 = D at s1).
inline std::array<double, 3> dpm_solver_pp_2m_coefficients(const grid_point& s1, const grid_point& s0,
                                                           const grid_point& t,
                                                           second_order_form form = second_order_form::midpoint) {
    const char* fn = "dpm_solver_pp_2m_step";
    detail::require_forward(s0, t, fn);
    detail::require_history(s1, s0, fn, "s1");
    require(s0.sigma > 0, fn, "s0", "needs sigma_s0 > 0");
    const double h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda;
    const double inv_r0 = h / h0;  // 1/r0; 0 when s1 is at lambda = -inf
    const double phi_1 = std::expm1(-h);
    const double d1 = form == second_order_form::midpoint ? -0.5 * t.alpha * phi_1 : t.alpha * (phi_1 / h + 1.0);
    return {t.sigma / s0.sigma, -t.alpha * phi_1 + d1 * inv_r0, -d1 * inv_r0};
}

/// DPM-Solver++(2M): x_out from x at s0, m0 = D at s0, m1 = D at s1.
template <class T>
void dpm_solver_pp_2m_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> m0,
                           vector_view<const T> m1, const grid_point& s1, const grid_point& s0, const grid_point& t,
                           second_order_form form = second_order_form::midpoint, exec_policy policy = {}) {
    detail::fused_step<T, 3>("dpm_solver_pp_2m_step", x_out, dpm_solver_pp_2m_coefficients(s1, s0, t, form),
                             {x, m0, m1}, {"x", "m0", "m1"}, policy);
}

/// {c_x, c_m0, c_m1, c_m2} of DPM-Solver++(3M) from s0 to t with history s1, s2.
inline std::array<double, 4> dpm_solver_pp_3m_coefficients(const grid_point& s2, const grid_point& s1,
                                                           const grid_point& s0, const grid_point& t,
                                                           third_order_form form = third_order_form::published) {
    const char* fn = "dpm_solver_pp_3m_step";
    detail::require_forward(s0, t, fn);
    detail::require_history(s1, s0, fn, "s1");
    detail::require_history(s2, s1, fn, "s2");
    require(s0.sigma > 0 && std::isfinite(t.lambda), fn, "t", "third-order update needs a non-clean t");
    const double h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda, h1 = s1.lambda - s2.lambda;
    const double r0 = h0 / h, r1 = h1 / h;
    const double a = 1.0 / r0, b = 1.0 / r1;          // D1_0 = a (m0 - m1), D1_1 = b (m1 - m2)
    const double w = std::isinf(r1) ? 0.0 : r0 / (r0 + r1), v = 1.0 / (r0 + r1);
    const double phi_1 = std::expm1(-h), phi_2 = phi_1 / h + 1.0, phi_3 = (phi_1 + h) / (h * h) - 0.5;
    const double k = form == third_order_form::published ? 1.0 : 2.0;
    const double c1 = t.alpha * phi_2, c2 = -t.alpha * phi_3 * k;  // coefficients of D1 and D2
    // D1 = (1+w) a m0 - ((1+w) a + w b) m1 + w b m2;  D2 = v a m0 - v (a + b) m1 + v b m2.
    return {t.sigma / s0.sigma, -t.alpha * phi_1 + c1 * (1 + w) * a + c2 * v * a,
            -c1 * ((1 + w) * a + w * b) - c2 * v * (a + b), c1 * w * b + c2 * v * b};
}

/// DPM-Solver++(3M), published or corrected third-order term (see the header comment).
template <class T>
void dpm_solver_pp_3m_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> m0,
                           vector_view<const T> m1, vector_view<const T> m2, const grid_point& s2,
                           const grid_point& s1, const grid_point& s0, const grid_point& t,
                           third_order_form form = third_order_form::published, exec_policy policy = {}) {
    detail::fused_step<T, 4>("dpm_solver_pp_3m_step", x_out, dpm_solver_pp_3m_coefficients(s2, s1, s0, t, form),
                             {x, m0, m1, m2}, {"x", "m0", "m1", "m2"}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
