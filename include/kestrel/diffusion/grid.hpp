// Timestep grids: t_0 > t_1 > ... > t_N, one solver step from each point to the next, with
// alpha, sigma and lambda precomputed in double. The model is evaluated at t_0 .. t_{N-1} (and
// at intermediate points of singlestep solvers); the last point may be "clean" (sigma = 0,
// alpha = 1, lambda = +inf), in which case solvers finish with a first-order denoising step,
// as diffusers (final_sigmas_type = "zero") and k-diffusion do.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "schedule.hpp"

namespace kestrel {
namespace diffusion {

/// One point of a grid. `t` is the schedule's time (what the network is conditioned on; for
/// discrete schedules a possibly fractional training timestep); sigma_ve = sigma/alpha is the
/// EDM/k-diffusion sigma.
struct grid_point {
    double t = 0, alpha = 1, sigma = 0, lambda = std::numeric_limits<double>::infinity();
    double sigma_ve() const noexcept { return sigma / alpha; }
    bool clean() const noexcept { return sigma == 0.0; }
};

using timestep_grid = std::vector<grid_point>;

/// The point of schedule s at time t.
inline grid_point point_at(const noise_schedule& s, double t) {
    require(s.contains(t), "point_at", "t", "must lie in [", s.t_min(), ", ", s.t_max(), "], got ", t);
    grid_point p;
    p.t = t;
    p.alpha = s.alpha(t);
    p.sigma = s.sigma(t);
    p.lambda = s.lambda(t);
    return p;
}

/// The clean end point: sigma = 0, alpha = 1 (diffusers' "zero" final sigma, DDIM's alpha_to_one).
inline grid_point clean_point(double t = 0.0) {
    grid_point p;
    p.t = t;
    return p;
}

/// The most steps a grid generator accepts (2^24: 16 Mi steps, 512 MiB of grid points), so
/// that a wrapped or absurd count is an argument error rather than an allocation failure.
inline constexpr std::size_t max_grid_steps = std::size_t(1) << 24;

namespace detail {
inline void require_steps(std::size_t steps, const char* fn) {
    require(steps >= 1 && steps <= max_grid_steps, fn, "steps", "must lie in [1, ", max_grid_steps, "], got ", steps);
}
inline void require_interval(const noise_schedule& s, double t_start, double t_end, const char* fn) {
    require(s.contains(t_start), fn, "t_start", "must lie in [", s.t_min(), ", ", s.t_max(), "], got ", t_start);
    require(s.contains(t_end), fn, "t_end", "must lie in [", s.t_min(), ", ", s.t_max(), "], got ", t_end);
    require(t_start > t_end, fn, "t_start", "must be greater than t_end (", t_end, "), got ", t_start);
}
}  // namespace detail

/// Checks that a grid is usable: at least 2 points, t strictly decreasing, lambda strictly
/// increasing, alpha, sigma finite and >= 0, only the last point may be clean.
inline void validate_grid(const timestep_grid& g, const char* fn = "validate_grid") {
    require(g.size() >= 2, fn, "grid", "needs at least 2 points, got ", g.size());
    for (std::size_t i = 0; i < g.size(); ++i) {
        const grid_point& p = g[i];
        require(std::isfinite(p.t) && std::isfinite(p.alpha) && std::isfinite(p.sigma) && p.alpha >= 0 && p.sigma >= 0 &&
                    !std::isnan(p.lambda),
                fn, "grid", "point ", i, " is invalid (t=", p.t, ", alpha=", p.alpha, ", sigma=", p.sigma, ")");
        require(!(p.alpha == 0 && p.sigma == 0), fn, "grid", "point ", i, " has alpha = sigma = 0");
        if (i + 1 < g.size()) {
            require(!p.clean(), fn, "grid", "point ", i, " is clean (sigma = 0) but is not the last point");
            require(g[i + 1].t < p.t || (i + 2 == g.size() && g[i + 1].clean()), fn, "grid",
                    "not strictly decreasing in t at ", i + 1, " (", g[i + 1].t, " after ", p.t, ")");
            require(g[i + 1].lambda > p.lambda, fn, "grid", "lambda not strictly increasing at ", i + 1, " (",
                    g[i + 1].lambda, " after ", p.lambda, ")");
        }
    }
}

namespace detail {
inline timestep_grid grid_from_times(const noise_schedule& s, const std::vector<double>& ts, const char* fn,
                                     const char* arg) {
    require(ts.size() >= 2, fn, arg, "needs at least 2 times, got ", ts.size());
    timestep_grid g;
    g.reserve(ts.size());
    for (std::size_t i = 0; i < ts.size(); ++i) {
        require(std::isfinite(ts[i]) && s.contains(ts[i]), fn, arg, "entry ", i, " = ", ts[i], " outside [", s.t_min(),
                ", ", s.t_max(), "]");
        if (i > 0)
            require(ts[i] < ts[i - 1], fn, arg, "not strictly decreasing at ", i, " (", ts[i], " after ", ts[i - 1], ")");
        g.push_back(point_at(s, ts[i]));
    }
    validate_grid(g, fn);
    return g;
}
}  // namespace detail

/// A grid from user-supplied times (strictly decreasing, inside the schedule's range).
inline timestep_grid grid_from_times(const noise_schedule& s, const std::vector<double>& ts) {
    return detail::grid_from_times(s, ts, "grid_from_times", "times");
}

/// t uniform from t_start down to t_end (DPM-Solver "time_uniform").
inline timestep_grid uniform_time_grid(const noise_schedule& s, std::size_t steps, double t_start, double t_end) {
    detail::require_steps(steps, "uniform_time_grid");
    detail::require_interval(s, t_start, t_end, "uniform_time_grid");
    std::vector<double> ts(steps + 1);
    for (std::size_t i = 0; i <= steps; ++i) ts[i] = t_start + (t_end - t_start) * double(i) / double(steps);
    ts.back() = t_end;
    return detail::grid_from_times(s, ts, "uniform_time_grid", "t_start/t_end");
}

/// lambda uniform between lambda(t_start) and lambda(t_end) (DPM-Solver "logSNR"); both must be finite.
inline timestep_grid uniform_logsnr_grid(const noise_schedule& s, std::size_t steps, double t_start, double t_end) {
    const char* fn = "uniform_logsnr_grid";
    detail::require_steps(steps, fn);
    detail::require_interval(s, t_start, t_end, fn);
    const double l0 = s.lambda(t_start), l1 = s.lambda(t_end);
    require(std::isfinite(l0) && std::isfinite(l1), fn, "t_start/t_end", "lambda must be finite at both ends, got ", l0,
            " and ", l1);
    std::vector<double> ts(steps + 1);
    for (std::size_t i = 0; i <= steps; ++i) ts[i] = s.t_of_lambda(l0 + (l1 - l0) * double(i) / double(steps));
    ts.front() = t_start;
    ts.back() = t_end;
    return detail::grid_from_times(s, ts, "uniform_logsnr_grid", "t_start/t_end");
}

/// sqrt(t) uniform (DPM-Solver "time_quadratic", recommended for its pixel-space models).
inline timestep_grid time_quadratic_grid(const noise_schedule& s, std::size_t steps, double t_start, double t_end) {
    detail::require_steps(steps, "time_quadratic_grid");
    detail::require_interval(s, t_start, t_end, "time_quadratic_grid");
    const double a = std::sqrt(t_start), b = std::sqrt(t_end);
    std::vector<double> ts(steps + 1);
    for (std::size_t i = 0; i <= steps; ++i) {
        const double r = a + (b - a) * double(i) / double(steps);
        ts[i] = r * r;
    }
    ts.front() = t_start;
    ts.back() = t_end;
    return detail::grid_from_times(s, ts, "time_quadratic_grid", "t_start/t_end");
}

namespace detail {
inline timestep_grid grid_from_sigmas(const noise_schedule& s, const std::vector<double>& sig, bool final_zero,
                                      const char* fn) {
    timestep_grid g;
    for (double v : sig) {
        const double t = s.t_of_sigma_ve(v);
        grid_point p = point_at(s, t);
        g.push_back(p);
    }
    if (final_zero) g.push_back(clean_point(s.t_min()));
    validate_grid(g, fn);
    return g;
}
inline void require_sigma_range(const noise_schedule& s, double sigma_min, double sigma_max, const char* fn) {
    require(sigma_min > 0 && sigma_max > sigma_min && std::isfinite(sigma_max), fn, "sigma_min/sigma_max",
            "need 0 < sigma_min < sigma_max, got ", sigma_min, ", ", sigma_max);
    const double lo = s.sigma_ve(s.t_max()), hi_t = s.t_min();
    (void)hi_t;
    require(sigma_max <= lo * (1 + 1e-12), fn, "sigma_max", "exceeds the schedule's largest sigma ", lo, ": ", sigma_max);
}
}  // namespace detail

/// Karras et al. (EDM, eq. 5): sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho,
/// i = 0..n-1 over n = steps (final_zero) or steps + 1 points, mapped to t through the schedule;
/// with final_zero (k-diffusion's get_sigmas_karras) a clean point is appended.
inline timestep_grid karras_grid(const noise_schedule& s, std::size_t steps, double sigma_min, double sigma_max,
                                 double rho = 7.0, bool final_zero = true) {
    const char* fn = "karras_grid";
    detail::require_steps(steps, fn);
    detail::require_sigma_range(s, sigma_min, sigma_max, fn);
    require(rho > 0 && std::isfinite(rho), fn, "rho", "must be finite and > 0, got ", rho);
    const std::size_t n = final_zero ? steps : steps + 1;
    require(n >= 2 || final_zero, fn, "steps", "too few points");
    std::vector<double> sig(n);
    const double a = std::pow(sigma_max, 1.0 / rho), b = std::pow(sigma_min, 1.0 / rho);
    for (std::size_t i = 0; i < n; ++i) {
        const double r = n == 1 ? 0.0 : double(i) / double(n - 1);
        sig[i] = std::pow(a + r * (b - a), rho);
    }
    return detail::grid_from_sigmas(s, sig, final_zero, fn);
}

/// k-diffusion's get_sigmas_exponential: log sigma uniform from sigma_max to sigma_min.
inline timestep_grid exponential_grid(const noise_schedule& s, std::size_t steps, double sigma_min, double sigma_max,
                                      bool final_zero = true) {
    const char* fn = "exponential_grid";
    detail::require_steps(steps, fn);
    detail::require_sigma_range(s, sigma_min, sigma_max, fn);
    const std::size_t n = final_zero ? steps : steps + 1;
    std::vector<double> sig(n);
    const double a = std::log(sigma_max), b = std::log(sigma_min);
    for (std::size_t i = 0; i < n; ++i) sig[i] = std::exp(n == 1 ? a : a + (b - a) * double(i) / double(n - 1));
    return detail::grid_from_sigmas(s, sig, final_zero, fn);
}

/// diffusers' timestep spacings for discrete schedules ("Common Diffusion Noise Schedules and
/// Sample Steps are Flawed", Table 2):
///   linspace: round(linspace(0, N-1, steps)) reversed;
///   leading:  (arange(steps) * (N / steps)) reversed + steps_offset (integer division);
///   trailing: round(arange(N, 0, -N/steps)) - 1.
enum class timestep_spacing { linspace, leading, trailing };
/// Where the last step ends: at a clean point (diffusers "zero", DDIM set_alpha_to_one) or at the
/// first training timestep t = 0 (diffusers "sigma_min", DDIM with alpha_to_one = false).
enum class final_point { zero, first_timestep };

inline timestep_grid diffusers_grid(const noise_schedule& s, std::size_t steps,
                                    timestep_spacing spacing = timestep_spacing::leading, std::size_t steps_offset = 0,
                                    final_point end = final_point::zero) {
    const char* fn = "diffusers_grid";
    require(s.kind() == schedule_kind::discrete_vp, fn, "schedule", "must be a discrete VP schedule");
    const std::size_t N = s.num_train_timesteps();
    require(steps >= 1 && steps <= N, fn, "steps", "must lie in [1, ", N, "], got ", steps);
    require(steps_offset < N, fn, "steps_offset", "must be < N = ", N, ", got ", steps_offset);
    require(spacing == timestep_spacing::linspace || spacing == timestep_spacing::leading ||
                spacing == timestep_spacing::trailing,
            fn, "spacing", "is not a timestep_spacing (", static_cast<int>(spacing), ")");
    std::vector<double> ts(steps);
    switch (spacing) {
        case timestep_spacing::linspace:
            for (std::size_t i = 0; i < steps; ++i) {
                const double v = steps == 1 ? 0.0 : double(N - 1) * double(i) / double(steps - 1);
                ts[steps - 1 - i] = std::nearbyint(v);  // numpy rounds half to even, as nearbyint does
            }
            break;
        case timestep_spacing::leading: {
            const std::size_t ratio = N / steps;
            for (std::size_t i = 0; i < steps; ++i) ts[steps - 1 - i] = double(i * ratio + steps_offset);
            break;
        }
        case timestep_spacing::trailing: {
            const double ratio = double(N) / double(steps);
            for (std::size_t i = 0; i < steps; ++i) ts[i] = std::nearbyint(double(N) - double(i) * ratio) - 1.0;
            break;
        }
    }
    timestep_grid g;
    for (std::size_t i = 0; i < steps; ++i) {
        require(ts[i] <= double(N - 1), fn, "steps_offset", "timestep ", ts[i], " exceeds N - 1 = ", N - 1);
        if (i > 0) require(ts[i] < ts[i - 1], fn, "steps", "spacing gives repeated timestep ", ts[i]);
        g.push_back(point_at(s, ts[i]));
    }
    if (end == final_point::zero) {
        g.push_back(clean_point(0.0));
    } else {
        require(ts.back() > 0.0, fn, "end", "the last timestep is already 0");
        g.push_back(point_at(s, 0.0));
    }
    validate_grid(g, fn);
    return g;
}

/// The time shift of SD3-class flow models: t' = shift t / (1 + (shift - 1) t), t in [0, 1],
/// shift finite and > 0 (then the denominator is > 0).
inline double shift_flow_time(double t, double shift) {
    require(t >= 0 && t <= 1, "shift_flow_time", "t", "must lie in [0, 1], got ", t);
    require(shift > 0 && std::isfinite(shift), "shift_flow_time", "shift", "must be finite and > 0, got ", shift);
    return shift * t / (1.0 + (shift - 1.0) * t);
}

/// Flow-matching grid: t uniform from 1 to 0 over `steps` steps, shifted by `shift` (>0; 1 = none).
/// Starts at t = 1 (pure noise, alpha = 0) and ends clean.
inline timestep_grid flow_matching_grid(const noise_schedule& s, std::size_t steps, double shift = 1.0) {
    const char* fn = "flow_matching_grid";
    require(s.kind() == schedule_kind::flow, fn, "schedule", "must be the flow schedule");
    detail::require_steps(steps, fn);
    require(shift > 0 && std::isfinite(shift), fn, "shift", "must be finite and > 0, got ", shift);
    timestep_grid g;
    for (std::size_t i = 0; i < steps; ++i) g.push_back(point_at(s, shift_flow_time(1.0 - double(i) / double(steps), shift)));
    g.push_back(clean_point(0.0));
    validate_grid(g, fn);
    return g;
}

}  // namespace diffusion
}  // namespace kestrel
