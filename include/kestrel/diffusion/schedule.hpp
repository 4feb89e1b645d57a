// Noise schedules: x_t = alpha_t x_0 + sigma_t eps, with lambda_t = log(alpha_t / sigma_t)
// (half the log-SNR) and its inverse lambda -> t.
//
// Kinds and their time variable t:
//   discrete_vp  t in [0, N-1] (training timesteps; between integers log(alpha) is linear in t,
//                as in DPM-Solver's NoiseScheduleVP('discrete')); alpha_t^2 = alphas_cumprod[t].
//   linear_vp    t in [0, 1], log alpha_t = -(beta_1 - beta_0) t^2 / 4 - beta_0 t / 2 (Song et al.).
//   cosine_vp    t in [0, T], log alpha_t = log cos((t+s)/(1+s) pi/2) - log cos(s/(1+s) pi/2),
//                s = 0.008, T = 0.9946 (Nichol & Dhariwal; DPM-Solver's choice of T).
//   edm          t = sigma in [0, inf), alpha = 1 (variance exploding / Karras et al.).
//   flow         t in [0, 1], alpha = 1 - t, sigma = t (rectified flow / flow matching).
// All functions are in double; sigma of a VP schedule is sqrt(-expm1(2 log alpha)) so that it
// keeps full relative precision near t = 0.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace kestrel {
namespace diffusion {

enum class schedule_kind { discrete_vp, linear_vp, cosine_vp, edm, flow };

namespace detail {
inline constexpr double pi = 3.141592653589793238462643383279502884;
// log(1 + e^x) without overflow.
inline double softplus(double x) noexcept { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
}  // namespace detail

/// Betas of diffusers' beta schedules (each of length num_train_timesteps).
inline std::vector<double> linear_betas(std::size_t num_train_timesteps = 1000, double beta_start = 1e-4,
                                        double beta_end = 0.02) {
    require(num_train_timesteps >= 2, "linear_betas", "num_train_timesteps", "must be >= 2, got ", num_train_timesteps);
    require(beta_start > 0 && beta_end < 1 && beta_start <= beta_end, "linear_betas", "beta_start/beta_end",
            "need 0 < beta_start <= beta_end < 1, got ", beta_start, ", ", beta_end);
    std::vector<double> b(num_train_timesteps);
    const double step = (beta_end - beta_start) / double(num_train_timesteps - 1);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = beta_start + step * double(i);
    return b;
}

/// Stable Diffusion's "scaled_linear": betas = linspace(sqrt(b0), sqrt(b1), N)^2.
inline std::vector<double> scaled_linear_betas(std::size_t num_train_timesteps = 1000, double beta_start = 0.00085,
                                               double beta_end = 0.012) {
    require(num_train_timesteps >= 2, "scaled_linear_betas", "num_train_timesteps", "must be >= 2, got ",
            num_train_timesteps);
    require(beta_start > 0 && beta_end < 1 && beta_start <= beta_end, "scaled_linear_betas", "beta_start/beta_end",
            "need 0 < beta_start <= beta_end < 1, got ", beta_start, ", ", beta_end);
    std::vector<double> b(num_train_timesteps);
    const double a = std::sqrt(beta_start), step = (std::sqrt(beta_end) - a) / double(num_train_timesteps - 1);
    for (std::size_t i = 0; i < b.size(); ++i) {
        const double r = a + step * double(i);
        b[i] = r * r;
    }
    return b;
}

/// "squaredcos_cap_v2" (Nichol & Dhariwal): beta_i = min(1 - abar((i+1)/N) / abar(i/N), max_beta),
/// abar(u) = cos((u + 0.008) / 1.008 * pi/2)^2.
inline std::vector<double> squared_cosine_betas(std::size_t num_train_timesteps = 1000, double max_beta = 0.999) {
    require(num_train_timesteps >= 2, "squared_cosine_betas", "num_train_timesteps", "must be >= 2, got ",
            num_train_timesteps);
    require(max_beta > 0 && max_beta < 1, "squared_cosine_betas", "max_beta", "must lie in (0, 1), got ", max_beta);
    auto abar = [](double u) {
        const double c = std::cos((u + 0.008) / 1.008 * detail::pi / 2);
        return c * c;
    };
    std::vector<double> b(num_train_timesteps);
    const double n = double(num_train_timesteps);
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = std::min(1.0 - abar(double(i + 1) / n) / abar(double(i) / n), max_beta);
    return b;
}

/// Zero-terminal-SNR rescaling (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample
/// Steps are Flawed", Algorithm 1): shift and scale sqrt(alphas_cumprod) so the last is 0 and the
/// first unchanged, and return the betas of the result (the last beta becomes 1).
/// Computed from log sqrt(alphas_cumprod), so alphas_cumprod that underflow double (betas
/// near 1 over many steps) still give correct betas:
///   beta_i = 1 - (s'_i / s'_{i-1})^2,  s'_i / s'_{i-1} = e^{l_i - l_{i-1}} (1 - e^{l_L - l_i}) / (1 - e^{l_L - l_{i-1}}),
/// l_i = log sqrt(alphas_cumprod_i), L the last index.
inline std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas) {
    const char* fn = "rescale_zero_terminal_snr";
    require(betas.size() >= 2, fn, "betas", "needs at least 2 entries, got ", betas.size());
    std::vector<double> l(betas.size());
    double acc = 0.0;
    for (std::size_t i = 0; i < betas.size(); ++i) {
        require(betas[i] > 0 && betas[i] < 1, fn, "betas", "entry ", i, " is ", betas[i], " (must lie in (0, 1))");
        acc += 0.5 * std::log1p(-betas[i]);
        l[i] = acc;
    }
    const double last = l.back();
    require(last < l.front(), fn, "betas", "alphas_cumprod is not decreasing");
    std::vector<double> out(betas.size());
    out[0] = betas[0];  // the first sqrt(alphas_cumprod) is unchanged
    for (std::size_t i = 1; i < l.size(); ++i) {
        const double ratio = std::exp(l[i] - l[i - 1]) * std::expm1(last - l[i]) / std::expm1(last - l[i - 1]);
        out[i] = -std::expm1(2.0 * std::log(ratio));  // 1 - ratio^2; ratio = 0 at the last step gives 1
    }
    return out;
}

/// A noise schedule. Cheap to copy except discrete_vp, which holds its N log-alphas.
class noise_schedule {
public:
    /// Discrete VP from betas (diffusers' convention: alphas_cumprod = cumprod(1 - betas)).
    /// A terminal alphas_cumprod of exactly 0 (zero-terminal-SNR) is replaced by 2^-24, as
    /// diffusers' solvers do, so that lambda stays finite.
    static noise_schedule discrete_from_betas(const std::vector<double>& betas) {
        const char* fn = "noise_schedule::discrete_from_betas";
        require(betas.size() >= 2, fn, "betas", "needs at least 2 entries, got ", betas.size());
        // log alpha accumulated as sums of log1p(-beta): alphas_cumprod that underflow double
        // stay representable here.
        std::vector<double> log_acp(betas.size());
        double la = 0.0;
        for (std::size_t i = 0; i < betas.size(); ++i) {
            require(std::isfinite(betas[i]) && betas[i] > 0 && betas[i] <= 1, fn, "betas", "entry ", i, " is ", betas[i],
                    " (must lie in (0, 1])");
            la += std::log1p(-betas[i]);
            log_acp[i] = la;
        }
        return from_log_alphas_cumprod(std::move(log_acp), fn, "betas");
    }

    /// Discrete VP from alphas_cumprod (strictly decreasing in (0, 1]; a last entry of 0 becomes 2^-24).
    static noise_schedule discrete_from_alphas_cumprod(std::vector<double> acp) {
        const char* fn = "noise_schedule::discrete_from_alphas_cumprod";
        require(acp.size() >= 2, fn, "alphas_cumprod", "needs at least 2 entries, got ", acp.size());
        for (std::size_t i = 0; i < acp.size(); ++i) {
            require(std::isfinite(acp[i]) && (acp[i] > 0 || (acp[i] == 0 && i + 1 == acp.size())) && acp[i] <= 1, fn,
                    "alphas_cumprod", "entry ", i, " is ", acp[i], " (must lie in (0, 1])");
            acp[i] = std::log(acp[i]);
        }
        return from_log_alphas_cumprod(std::move(acp), fn, "alphas_cumprod");
    }

    /// Continuous VP with linear beta(t) = beta_0 + t (beta_1 - beta_0), t in [0, 1].
    static noise_schedule linear_vp(double beta_0 = 0.1, double beta_1 = 20.0) {
        require(beta_0 > 0 && beta_1 > beta_0 && std::isfinite(beta_1), "noise_schedule::linear_vp", "beta_0/beta_1",
                "need 0 < beta_0 < beta_1, got ", beta_0, ", ", beta_1);
        noise_schedule s(schedule_kind::linear_vp);
        s.beta_0_ = beta_0;
        s.beta_1_ = beta_1;
        s.t_max_ = 1.0;
        return s;
    }

    /// Continuous cosine VP (s = 0.008), t in [0, 0.9946].
    static noise_schedule cosine_vp() {
        noise_schedule s(schedule_kind::cosine_vp);
        s.t_max_ = 0.9946;
        return s;
    }

    /// Variance exploding / EDM: alpha = 1, sigma = t, t in [0, sigma_max].
    static noise_schedule edm(double sigma_max = 80.0) {
        require(sigma_max > 0 && std::isfinite(sigma_max), "noise_schedule::edm", "sigma_max", "must be finite and > 0, got ",
                sigma_max);
        noise_schedule s(schedule_kind::edm);
        s.t_max_ = sigma_max;
        return s;
    }

    /// Rectified flow: alpha = 1 - t, sigma = t, t in [0, 1].
    static noise_schedule flow() {
        noise_schedule s(schedule_kind::flow);
        s.t_max_ = 1.0;
        return s;
    }

    schedule_kind kind() const noexcept { return kind_; }
    double t_min() const noexcept { return 0.0; }
    double t_max() const noexcept { return t_max_; }
    bool contains(double t) const noexcept { return t >= t_min() && t <= t_max(); }

    /// log alpha_t (-inf where alpha = 0).
    double log_alpha(double t) const {
        require_time(t, "noise_schedule::log_alpha");
        return log_alpha_unchecked(t);
    }

private:
    double log_alpha_unchecked(double t) const noexcept {
        switch (kind_) {
            case schedule_kind::discrete_vp: {
                const double tc = std::min(std::max(t, 0.0), t_max_);
                const std::size_t i = std::min(std::size_t(tc), log_alpha_.size() - 2);
                const double w = tc - double(i);
                return log_alpha_[i] + w * (log_alpha_[i + 1] - log_alpha_[i]);
            }
            case schedule_kind::linear_vp: return -0.25 * t * t * (beta_1_ - beta_0_) - 0.5 * t * beta_0_;
            case schedule_kind::cosine_vp:
                return std::log(std::cos((t + cos_s) / (1.0 + cos_s) * detail::pi / 2)) - cos_log_alpha_0();
            case schedule_kind::edm: return 0.0;
            case schedule_kind::flow: return std::log1p(-t);
        }
        return 0.0;
    }

public:
    /// alpha_t, sigma_t, lambda_t: NaN t is refused (outside the range the formulas extend,
    /// clamped for discrete schedules).
    double alpha(double t) const {
        require_time(t, "noise_schedule::alpha");
        if (kind_ == schedule_kind::flow) return 1.0 - t;
        if (kind_ == schedule_kind::edm) return 1.0;
        return std::exp(log_alpha_unchecked(t));
    }

    double sigma(double t) const {
        require_time(t, "noise_schedule::sigma");
        switch (kind_) {
            case schedule_kind::edm:
            case schedule_kind::flow: return t;
            default: {
                const double la = log_alpha_unchecked(t);
                return std::sqrt(-std::expm1(2.0 * la));
            }
        }
    }

    /// lambda_t = log(alpha_t / sigma_t); +inf where sigma = 0, -inf where alpha = 0.
    double lambda(double t) const {
        require_time(t, "noise_schedule::lambda");
        return lambda_unchecked(t);
    }

private:
    double lambda_unchecked(double t) const noexcept {
        switch (kind_) {
            case schedule_kind::edm: return -std::log(t);
            case schedule_kind::flow: return std::log1p(-t) - std::log(t);
            default: {
                const double la = log_alpha_unchecked(t);
                return la - 0.5 * std::log(-std::expm1(2.0 * la));
            }
        }
    }

public:
    /// The inverse of lambda(t): the t in [t_min, t_max] with lambda(t) = lam, clamped to the
    /// range: lam at or below lambda(t_max) (-inf included) gives t_max, lam at or above
    /// lambda(t_min) (+inf included) gives t_min. NaN is refused.
    double t_of_lambda(double lam) const { return t_of_lambda_named(lam, "noise_schedule::t_of_lambda", "lambda"); }

private:
    double t_of_lambda_named(double lam, const char* fn, const char* arg) const {
        require(!std::isnan(lam), fn, arg, "is NaN");
        if (lam <= lambda_unchecked(t_max_)) return t_max_;
        if (lam >= lambda_unchecked(t_min())) return t_min();
        double t = 0.0;
        switch (kind_) {
            case schedule_kind::edm: t = std::exp(-lam); break;
            case schedule_kind::flow: t = 1.0 / (1.0 + std::exp(lam)); break;  // sigmoid(-lambda)
            case schedule_kind::linear_vp: {
                // Solve (beta_1-beta_0)/4 t^2 + beta_0/2 t = -log alpha, with -log alpha = softplus(-2 lambda)/2
                // (alpha^2 = sigmoid(2 lambda) for VP); rationalised root (DPM-Solver, NoiseScheduleVP.inverse_lambda).
                const double tmp = 2.0 * (beta_1_ - beta_0_) * detail::softplus(-2.0 * lam);
                const double delta = beta_0_ * beta_0_ + tmp;
                t = tmp / (std::sqrt(delta) + beta_0_) / (beta_1_ - beta_0_);
                break;
            }
            case schedule_kind::cosine_vp: {
                const double la = -0.5 * detail::softplus(-2.0 * lam);
                t = 2.0 * (1.0 + cos_s) / detail::pi * std::acos(std::exp(la + cos_log_alpha_0())) - cos_s;
                break;
            }
            case schedule_kind::discrete_vp: {
                const double la = -0.5 * detail::softplus(-2.0 * lam);
                // log_alpha_ is strictly decreasing: find the segment, then invert the linear piece.
                if (la >= log_alpha_.front()) return 0.0;
                if (la <= log_alpha_.back()) return t_max_;
                std::size_t lo = 0, hi = log_alpha_.size() - 1;
                while (hi - lo > 1) {
                    const std::size_t mid = (lo + hi) / 2;
                    (log_alpha_[mid] >= la ? lo : hi) = mid;
                }
                t = double(lo) + (la - log_alpha_[lo]) / (log_alpha_[hi] - log_alpha_[lo]);
                break;
            }
        }
        return std::min(std::max(t, t_min()), t_max_);
    }

public:
    /// EDM / k-diffusion sigma: sigma_t / alpha_t = exp(-lambda_t).
    double sigma_ve(double t) const {
        require_time(t, "noise_schedule::sigma_ve");
        return std::exp(-lambda_unchecked(t));
    }
    /// The t with sigma_ve(t) = s, clamped to the range like t_of_lambda (s = 0 gives t_min,
    /// s = inf gives t_max).
    double t_of_sigma_ve(double s) const {
        require(s >= 0 && !std::isnan(s), "noise_schedule::t_of_sigma_ve", "sigma", "must be >= 0, got ", s);
        return t_of_lambda_named(-std::log(s), "noise_schedule::t_of_sigma_ve", "sigma");
    }

    /// The discrete schedule's alphas_cumprod (empty for continuous kinds).
    std::vector<double> alphas_cumprod() const {
        std::vector<double> a(log_alpha_.size());
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::exp(2.0 * log_alpha_[i]);
        return a;
    }
    std::size_t num_train_timesteps() const noexcept { return log_alpha_.size(); }

private:
    explicit noise_schedule(schedule_kind k) : kind_(k) {}

    // From log alphas_cumprod (a last entry of -inf, zero terminal SNR, becomes log 2^-24);
    // errors name `fn` and `arg`.
    static noise_schedule from_log_alphas_cumprod(std::vector<double> lacp, const char* fn, const char* arg) {
        if (lacp.back() == -std::numeric_limits<double>::infinity()) lacp.back() = -24.0 * 0.693147180559945309417232121458;
        noise_schedule s(schedule_kind::discrete_vp);
        s.log_alpha_.resize(lacp.size());
        for (std::size_t i = 0; i < lacp.size(); ++i) {
            require(std::isfinite(lacp[i]), fn, arg, "alphas_cumprod entry ", i, " is 0 (only the last may be)");
            if (i > 0)
                require(lacp[i] < lacp[i - 1], fn, arg, "alphas_cumprod not strictly decreasing at ", i);
            s.log_alpha_[i] = 0.5 * lacp[i];
        }
        require(lacp.front() < 0.0, fn, arg, "first alphas_cumprod must be < 1 (sigma > 0)");
        s.t_max_ = double(lacp.size() - 1);
        return s;
    }

    // NaN (or, for the discrete kind, any t the table cannot index) is refused: t is clamped
    // into the range for discrete schedules, and a NaN index would be undefined behaviour.
    void require_time(double t, const char* fn) const {
        require(!std::isnan(t), fn, "t", "is NaN");
    }
    static constexpr double cos_s = 0.008;
    static double cos_log_alpha_0() { return std::log(std::cos(cos_s / (1.0 + cos_s) * detail::pi / 2)); }

    schedule_kind kind_;
    double beta_0_ = 0, beta_1_ = 0, t_max_ = 1;
    std::vector<double> log_alpha_;
};

}  // namespace diffusion
}  // namespace kestrel
