// DPM-Solver-1/2/3, singlestep, noise prediction (Lu et al. 2022, Algorithms 1 and 2; the
// "dpmsolver" form of LuChengTHU/dpm-solver). h = lambda_t - lambda_s, r1, r2 the fractions of h at
// which the intermediate points s1, s2 lie (defaults 1/2 for order 2, 1/3 and 2/3 for order 3).
//   order 1: x_t = (alpha_t/alpha_s) x - sigma_t (e^h - 1) eps_s
//   order 2: u   = first-order step to s1
//            x_t = (alpha_t/alpha_s) x - sigma_t (e^h - 1) eps_s - sigma_t/(2 r1) (e^h - 1)(eps_s1 - eps_s)
//   order 3: u1  = first-order step to s1
//            u2  = (alpha_s2/alpha_s) x - sigma_s2 (e^{r2 h} - 1) eps_s
//                  - (r2/r1) sigma_s2 ((e^{r2 h} - 1)/(r2 h) - 1)(eps_s1 - eps_s)
//            x_t = (alpha_t/alpha_s) x - sigma_t (e^h - 1) eps_s - (1/r2) sigma_t ((e^h - 1)/h - 1)(eps_s2 - eps_s)
// These need alpha_s > 0 and a non-clean t (sigma_t > 0); the sampler finishes a clean grid with
// a denoising step instead.
#pragma once

#include <array>
#include <cmath>

#include "detail/fused_step.hpp"
#include "schedule.hpp"

namespace kestrel {
namespace diffusion {

namespace detail {
inline void require_noise_step(const grid_point& s, const grid_point& t, const char* fn) {
    require_forward(s, t, fn);
    require(s.alpha > 0, fn, "s", "noise-prediction updates need alpha_s > 0");
    require(t.sigma > 0 && std::isfinite(t.lambda), fn, "t", "noise-prediction updates need sigma_t > 0 (t not clean)");
}
inline double fraction(const grid_point& s, const grid_point& m, const grid_point& t, const char* fn, const char* name) {
    const double r = (m.lambda - s.lambda) / (t.lambda - s.lambda);
    require(r > 0 && r < 1, fn, name, "intermediate point must lie strictly between s and t in lambda (r = ", r, ")");
    return r;
}
}  // namespace detail

/// The point at lambda_s + r (lambda_t - lambda_s) of schedule `sched` (the intermediate point of
/// singlestep solvers).
inline grid_point intermediate_point(const noise_schedule& sched, const grid_point& s, const grid_point& t, double r) {
    require(r > 0 && r < 1, "intermediate_point", "r", "must lie in (0, 1), got ", r);
    require(std::isfinite(s.lambda) && std::isfinite(t.lambda), "intermediate_point", "s/t", "need finite lambda");
    const double lam = s.lambda + r * (t.lambda - s.lambda);
    grid_point p;
    p.t = sched.t_of_lambda(lam);
    p.alpha = sched.alpha(p.t);
    p.sigma = sched.sigma(p.t);
    p.lambda = sched.lambda(p.t);
    return p;
}

inline std::array<double, 2> dpm_solver_1_coefficients(const grid_point& s, const grid_point& t) {
    detail::require_noise_step(s, t, "dpm_solver_1_step");
    return {t.alpha / s.alpha, -t.sigma * std::expm1(t.lambda - s.lambda)};
}

/// DPM-Solver-1 (= DDIM): x_out = (alpha_t/alpha_s) x - sigma_t (e^h - 1) eps.
template <class T>
void dpm_solver_1_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> eps, const grid_point& s,
                       const grid_point& t, exec_policy policy = {}) {
    detail::fused_step<T, 2>("dpm_solver_1_step", x_out, dpm_solver_1_coefficients(s, t), {x, eps}, {"x", "eps"}, policy);
}

inline std::array<double, 3> dpm_solver_2_coefficients(const grid_point& s, const grid_point& s1, const grid_point& t) {
    const char* fn = "dpm_solver_2_step";
    detail::require_noise_step(s, t, fn);
    const double h = t.lambda - s.lambda, r1 = detail::fraction(s, s1, t, fn, "s1");
    const double phi_1 = std::expm1(h), k = 0.5 / r1 * t.sigma * phi_1;
    return {t.alpha / s.alpha, -t.sigma * phi_1 + k, -k};
}

/// DPM-Solver-2 final update, given eps at s and at the intermediate point s1.
template <class T>
void dpm_solver_2_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> eps_s,
                       vector_view<const T> eps_s1, const grid_point& s, const grid_point& s1, const grid_point& t,
                       exec_policy policy = {}) {
    detail::fused_step<T, 3>("dpm_solver_2_step", x_out, dpm_solver_2_coefficients(s, s1, t), {x, eps_s, eps_s1},
                             {"x", "eps_s", "eps_s1"}, policy);
}

inline std::array<double, 3> dpm_solver_3_stage_coefficients(const grid_point& s, const grid_point& s1,
                                                             const grid_point& s2, const grid_point& t) {
    const char* fn = "dpm_solver_3_stage";
    detail::require_noise_step(s, t, fn);
    const double h = t.lambda - s.lambda;
    const double r1 = detail::fraction(s, s1, t, fn, "s1"), r2 = detail::fraction(s, s2, t, fn, "s2");
    require(r2 > r1, fn, "s2", "must come after s1");
    const double phi_12 = std::expm1(r2 * h), phi_22 = std::expm1(r2 * h) / (r2 * h) - 1.0;
    const double k = r2 / r1 * s2.sigma * phi_22;
    return {s2.alpha / s.alpha, -s2.sigma * phi_12 + k, -k};
}

/// DPM-Solver-3 second stage: u2 at s2 from x, eps_s and eps_s1.
template <class T>
void dpm_solver_3_stage(vector_view<T> u2_out, vector_view<const T> x, vector_view<const T> eps_s,
                        vector_view<const T> eps_s1, const grid_point& s, const grid_point& s1, const grid_point& s2,
                        const grid_point& t, exec_policy policy = {}) {
    detail::fused_step<T, 3>("dpm_solver_3_stage", u2_out, dpm_solver_3_stage_coefficients(s, s1, s2, t),
                             {x, eps_s, eps_s1}, {"x", "eps_s", "eps_s1"}, policy);
}

inline std::array<double, 3> dpm_solver_3_coefficients(const grid_point& s, const grid_point& s2, const grid_point& t) {
    const char* fn = "dpm_solver_3_step";
    detail::require_noise_step(s, t, fn);
    const double h = t.lambda - s.lambda, r2 = detail::fraction(s, s2, t, fn, "s2");
    const double phi_1 = std::expm1(h), phi_2 = phi_1 / h - 1.0;
    const double k = t.sigma * phi_2 / r2;
    return {t.alpha / s.alpha, -t.sigma * phi_1 + k, -k};
}

/// DPM-Solver-3 final update from x, eps_s and eps at s2.
template <class T>
void dpm_solver_3_step(vector_view<T> x_out, vector_view<const T> x, vector_view<const T> eps_s,
                       vector_view<const T> eps_s2, const grid_point& s, const grid_point& s2, const grid_point& t,
                       exec_policy policy = {}) {
    detail::fused_step<T, 3>("dpm_solver_3_step", x_out, dpm_solver_3_coefficients(s, s2, t), {x, eps_s, eps_s2},
                             {"x", "eps_s", "eps_s2"}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
