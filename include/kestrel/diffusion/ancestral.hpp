// Ancestral samplers of k-diffusion: each step goes deterministically down to sigma_down and adds
// fresh noise of size sigma_up, with sigma_down^2 + sigma_up^2 = sigma_t^2 (all in sigma~ = sigma/alpha):
//   sigma_up   = min(sigma~_t, eta sqrt(sigma~_t^2 (sigma~_s^2 - sigma~_t^2) / sigma~_s^2))
//   sigma_down = sqrt(sigma~_t^2 - sigma_up^2)                         (get_ancestral_step)
// Euler ancestral:  x~_t = x~_s + (sigma_down - sigma~_s)(x~_s - D)/sigma~_s + sigma_up s_noise z
// DPM-Solver++(2S) ancestral: with lambda_down = -log sigma_down, h = lambda_down - lambda_s,
//   u = first-order DPM-Solver++ step to lambda_s + h/2 (model evaluated there, D2),
//   x~_t = (sigma_down/sigma~_s) x~_s - (e^{-h} - 1) D2 + sigma_up s_noise z.
// States are multiplied by alpha_t to stay in the schedule's x = alpha x0 + sigma eps.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

#include "detail/fused_step.hpp"
#include "dpm_solver.hpp"

namespace kestrel {
namespace diffusion {

struct ancestral_sigmas {
    double down, up;  // in sigma~ = sigma/alpha
};

namespace detail {
inline ancestral_sigmas ancestral_step_sigmas(double sigma_from, double sigma_to, double eta, const char* fn) {
    require(sigma_from > 0 && std::isfinite(sigma_from), fn, "sigma_from", "must be finite and > 0, got ", sigma_from);
    require(sigma_to >= 0 && sigma_to < sigma_from, fn, "sigma_to", "need 0 <= sigma_to < sigma_from, got ", sigma_to,
            " and ", sigma_from);
    require(eta >= 0 && std::isfinite(eta), fn, "eta", "must be finite and >= 0, got ", eta);
    if (eta == 0.0) return {sigma_to, 0.0};
    const double up = std::min(
        sigma_to, eta * std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) / (sigma_from * sigma_from)));
    return {std::sqrt(sigma_to * sigma_to - up * up), up};
}
}  // namespace detail

/// k-diffusion's get_ancestral_step for sigma~ values (eta >= 0).
inline ancestral_sigmas ancestral_step_sigmas(double sigma_from, double sigma_to, double eta = 1.0) {
    return detail::ancestral_step_sigmas(sigma_from, sigma_to, eta, "ancestral_step_sigmas");
}

namespace detail {
inline void require_ancestral(const grid_point& s, const grid_point& t, double eta, double s_noise, const char* fn) {
    require_forward(s, t, fn);
    require(s.alpha > 0 && s.sigma > 0 && t.alpha > 0, fn, "s/t", "ancestral steps need alpha > 0 and sigma_s > 0");
    require(eta >= 0 && std::isfinite(eta), fn, "eta", "must be finite and >= 0, got ", eta);
    require(s_noise >= 0 && std::isfinite(s_noise), fn, "s_noise", "must be finite and >= 0, got ", s_noise);
}
}  // namespace detail

/// {c_x, c_D, c_z} of the Euler ancestral step.
inline std::array<double, 3> euler_ancestral_coefficients(const grid_point& s, const grid_point& t, double eta = 1.0,
                                                          double s_noise = 1.0) {
    const char* fn = "euler_ancestral_step";
    detail::require_ancestral(s, t, eta, s_noise, fn);
    const double ss = s.sigma / s.alpha;
    const auto a = detail::ancestral_step_sigmas(ss, t.sigma / t.alpha, eta, fn);
    const double ratio = a.down / ss;
    return {t.alpha / s.alpha * ratio, t.alpha * (1.0 - ratio), t.alpha * a.up * s_noise};
}

template <class T>
void euler_ancestral_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> denoised,
                          vector_view<const T> noise, const grid_point& s, const grid_point& t, double eta = 1.0,
                          double s_noise = 1.0, exec_policy policy = {}) {
    detail::fused_step<T, 3>("euler_ancestral_step", x_out, euler_ancestral_coefficients(s, t, eta, s_noise),
                             {x, denoised, noise}, {"x", "denoised", "noise"}, policy);
}

/// lambda of the intermediate point of DPM-Solver++(2S) ancestral: halfway to sigma_down.
/// Returns +inf when sigma_down = 0 (then the step is a plain denoising Euler step).
inline double dpm_solver_pp_2s_ancestral_midpoint_lambda(const grid_point& s, const grid_point& t, double eta = 1.0) {
    const char* fn = "dpm_solver_pp_2s_ancestral_midpoint_lambda";
    detail::require_ancestral(s, t, eta, 1.0, fn);
    const auto a = detail::ancestral_step_sigmas(s.sigma / s.alpha, t.sigma / t.alpha, eta, fn);
    if (a.down == 0.0) return std::numeric_limits<double>::infinity();
    return 0.5 * (s.lambda - std::log(a.down));
}

/// {c_x, c_D2, c_z} of the final update of DPM-Solver++(2S) ancestral (sigma_down > 0).
inline std::array<double, 3> dpm_solver_pp_2s_ancestral_coefficients(const grid_point& s, const grid_point& t,
                                                                     double eta = 1.0, double s_noise = 1.0) {
    const char* fn = "dpm_solver_pp_2s_ancestral_step";
    detail::require_ancestral(s, t, eta, s_noise, fn);
    const double ss = s.sigma / s.alpha;
    const auto a = detail::ancestral_step_sigmas(ss, t.sigma / t.alpha, eta, fn);
    require(a.down > 0, fn, "t", "sigma_down is 0: take the denoising step instead");
    const double h = -std::log(a.down) - s.lambda;
    return {t.alpha / s.alpha * (a.down / ss), -t.alpha * std::expm1(-h), t.alpha * a.up * s_noise};
}

template <class T>
void dpm_solver_pp_2s_ancestral_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> denoised_mid,
                                     vector_view<const T> noise, const grid_point& s, const grid_point& t,
                                     double eta = 1.0, double s_noise = 1.0, exec_policy policy = {}) {
    detail::fused_step<T, 3>("dpm_solver_pp_2s_ancestral_step", x_out,
                             dpm_solver_pp_2s_ancestral_coefficients(s, t, eta, s_noise), {x, denoised_mid, noise},
                             {"x", "denoised_mid", "noise"}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
