// DPM-Solver++ SDE variants (Lu et al. 2022b, section 5 and appendix; k-diffusion sample_dpmpp_2m_sde
// and sample_dpmpp_3m_sde; diffusers "sde-dpmsolver++" is eta = 1). With h = lambda_t - lambda_s0,
// h_eta = (1 + eta) h and caller-supplied standard normal noise z:
//   first order: x_t = (sigma_t/sigma_s) e^{-eta h} x + alpha_t (1 - e^{-h_eta}) D + sigma_t sqrt(1 - e^{-2 eta h}) s_noise z
//   2M adds      midpoint: alpha_t (1 - e^{-h_eta}) D1 / 2,  heun: alpha_t ((1 - e^{-h_eta})/(-h_eta) + 1) D1,
//                with D1 = (m0 - m1)/r0, r0 = (lambda_s0 - lambda_s1)/h;
//   3M adds      alpha_t (phi_2 D1 - phi_3 D2), phi_2 = (e^{-h_eta} - 1)/h_eta + 1, phi_3 = phi_2/h_eta - 1/2,
//                D1, D2 as in DPM-Solver++(3M) with r0, r1 from the unscaled h (k-diffusion's form).
// k-diffusion draws z from a Brownian tree; any independent standard normals give the same law.
#pragma once

#include <array>
#include <cmath>

#include "detail/fused_step.hpp"
#include "dpm_solver_pp.hpp"

namespace kestrel {
namespace diffusion {

namespace detail {
inline void require_sde(const grid_point& s, const grid_point& t, double eta, double s_noise, const char* fn) {
    require_forward(s, t, fn);
    require(s.sigma > 0, fn, "s", "needs sigma_s > 0");
    require(std::isfinite(t.lambda), fn, "t", "is clean: finish with a denoising step");
    require(eta >= 0 && std::isfinite(eta), fn, "eta", "must be finite and >= 0, got ", eta);
    require(s_noise >= 0 && std::isfinite(s_noise), fn, "s_noise", "must be finite and >= 0, got ", s_noise);
}
// {c_x, c_D, c_z} of the first-order SDE part.
inline std::array<double, 3> sde_base(const grid_point& s, const grid_point& t, double eta, double s_noise) {
    const double h = t.lambda - s.lambda;
    return {t.sigma / s.sigma * std::exp(-eta * h), -t.alpha * std::expm1(-(1.0 + eta) * h),
            t.sigma * std::sqrt(-std::expm1(-2.0 * eta * h)) * s_noise};
}
}  // namespace detail

/// {c_x, c_D, c_z}: first-order DPM-Solver++ SDE step.
inline std::array<double, 3> dpm_solver_pp_sde_1_coefficients(const grid_point& s, const grid_point& t,
                                                              double eta = 1.0, double s_noise = 1.0) {
    detail::require_sde(s, t, eta, s_noise, "dpm_solver_pp_sde_1_step");
    return detail::sde_base(s, t, eta, s_noise);
}

template <class T>
void dpm_solver_pp_sde_1_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> denoised,
                              vector_view<const T> noise, const grid_point& s, const grid_point& t, double eta = 1.0,
                              double s_noise = 1.0, exec_policy policy = {}) {
    detail::fused_step<T, 3>("dpm_solver_pp_sde_1_step", x_out, dpm_solver_pp_sde_1_coefficients(s, t, eta, s_noise),
                             {x, denoised, noise}, {"x", "denoised", "noise"}, policy);
}

/// {c_x, c_m0, c_m1, c_z}: DPM-Solver++(2M) SDE.
inline std::array<double, 4> dpm_solver_pp_2m_sde_coefficients(const grid_point& s1, const grid_point& s0,
                                                               const grid_point& t,
                                                               second_order_form form = second_order_form::midpoint,
                                                               double eta = 1.0, double s_noise = 1.0) {
    const char* fn = "dpm_solver_pp_2m_sde_step";
    detail::require_sde(s0, t, eta, s_noise, fn);
    detail::require_history(s1, s0, fn, "s1");
    const auto b = detail::sde_base(s0, t, eta, s_noise);
    const double h = t.lambda - s0.lambda, h_eta = (1.0 + eta) * h, inv_r0 = h / (s0.lambda - s1.lambda);
    const double one_minus = -std::expm1(-h_eta);
    const double d1 = form == second_order_form::midpoint ? 0.5 * t.alpha * one_minus
                                                          : t.alpha * (one_minus / (-h_eta) + 1.0);
    return {b[0], b[1] + d1 * inv_r0, -d1 * inv_r0, b[2]};
}

template <class T>
void dpm_solver_pp_2m_sde_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> m0,
                               vector_view<const T> m1, vector_view<const T> noise, const grid_point& s1,
                               const grid_point& s0, const grid_point& t,
                               second_order_form form = second_order_form::midpoint, double eta = 1.0,
                               double s_noise = 1.0, exec_policy policy = {}) {
    detail::fused_step<T, 4>("dpm_solver_pp_2m_sde_step", x_out,
                             dpm_solver_pp_2m_sde_coefficients(s1, s0, t, form, eta, s_noise), {x, m0, m1, noise},
                             {"x", "m0", "m1", "noise"}, policy);
}

/// {c_x, c_m0, c_m1, c_m2, c_z}: DPM-Solver++(3M) SDE (k-diffusion's form).
inline std::array<double, 5> dpm_solver_pp_3m_sde_coefficients(const grid_point& s2, const grid_point& s1,
                                                               const grid_point& s0, const grid_point& t,
                                                               double eta = 1.0, double s_noise = 1.0) {
    const char* fn = "dpm_solver_pp_3m_sde_step";
    detail::require_sde(s0, t, eta, s_noise, fn);
    detail::require_history(s1, s0, fn, "s1");
    detail::require_history(s2, s1, fn, "s2");
    const auto base = detail::sde_base(s0, t, eta, s_noise);
    const double h = t.lambda - s0.lambda, h_eta = (1.0 + eta) * h;
    const double r0 = (s0.lambda - s1.lambda) / h, r1 = (s1.lambda - s2.lambda) / h;
    const double a = 1.0 / r0, b = 1.0 / r1;
    const double w = std::isinf(r1) ? 0.0 : r0 / (r0 + r1), v = 1.0 / (r0 + r1);
    const double phi_2 = std::expm1(-h_eta) / h_eta + 1.0, phi_3 = phi_2 / h_eta - 0.5;
    const double c1 = t.alpha * phi_2, c2 = -t.alpha * phi_3;
    return {base[0], base[1] + c1 * (1 + w) * a + c2 * v * a, -c1 * ((1 + w) * a + w * b) - c2 * v * (a + b),
            c1 * w * b + c2 * v * b, base[2]};
}

template <class T>
void dpm_solver_pp_3m_sde_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> m0,
                               vector_view<const T> m1, vector_view<const T> m2, vector_view<const T> noise,
                               const grid_point& s2, const grid_point& s1, const grid_point& s0, const grid_point& t,
                               double eta = 1.0, double s_noise = 1.0, exec_policy policy = {}) {
    detail::fused_step<T, 5>("dpm_solver_pp_3m_sde_step", x_out,
                             dpm_solver_pp_3m_sde_coefficients(s2, s1, s0, t, eta, s_noise), {x, m0, m1, m2, noise},
                             {"x", "m0", "m1", "m2", "noise"}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
