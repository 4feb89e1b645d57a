// Closed-form test problems for the diffusion solvers.
//   Gaussian data x0 ~ N(mu, s^2 I): the ideal denoiser is D(x) = mu + alpha s^2/(alpha^2 s^2 + sigma^2)
//   (x - alpha mu), and (x_t - alpha_t mu)/sqrt(alpha_t^2 s^2 + sigma_t^2) is constant along the
//   probability-flow ODE, which gives the exact solution.
//   Gaussian mixture: D is the posterior-weighted mixture of the component denoisers; the reference
//   solution integrates dx~/dlambda = D(x) - x~ (x~ = x/alpha, VP: alpha^2 = sigmoid(2 lambda)) with
//   classical RK4 on a fine grid.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include <kestrel/diffusion.hpp>

namespace kt {

using kestrel::vector_view;
using kestrel::diffusion::grid_point;
using kestrel::diffusion::prediction;

// The model output of kind `kind` given the data prediction D at (x, p).
inline double output_from_data(prediction kind, double x, double D, const grid_point& p) {
    const double eps = (x - p.alpha * D) / p.sigma;
    switch (kind) {
        case prediction::noise: return eps;
        case prediction::data: return D;
        case prediction::velocity: return p.alpha * eps - p.sigma * D;
        case prediction::flow_velocity: return eps - D;
    }
    return D;
}

struct gaussian_problem {
    double mu = 0.7, s = 0.5;
    prediction kind = prediction::noise;

    double denoise(double x, double alpha, double sigma) const {
        return mu + alpha * s * s / (alpha * alpha * s * s + sigma * sigma) * (x - alpha * mu);
    }
    template <class T>
    void operator()(vector_view<const T> x, const grid_point& p, vector_view<T> out) const {
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double xi = double(x[i]);
            out[i] = T(output_from_data(kind, xi, denoise(xi, p.alpha, p.sigma), p));
        }
    }
    double exact(double x_s, const grid_point& s_pt, const grid_point& t_pt) const {
        const double ns = std::sqrt(s_pt.alpha * s_pt.alpha * s * s + s_pt.sigma * s_pt.sigma);
        const double nt = std::sqrt(t_pt.alpha * t_pt.alpha * s * s + t_pt.sigma * t_pt.sigma);
        return t_pt.alpha * mu + nt / ns * (x_s - s_pt.alpha * mu);
    }
};

// Mixture of isotropic Gaussians in `dim` dimensions; states hold samples back to back.
struct mixture_problem {
    std::size_t dim = 2;
    std::vector<double> weight, scale;  // per component
    std::vector<double> mean;           // component-major, dim each
    prediction kind = prediction::noise;

    static mixture_problem two_component_2d() {
        mixture_problem m;
        m.dim = 2;
        m.weight = {0.3, 0.7};
        m.scale = {0.3, 0.5};
        m.mean = {-1.0, 0.5, 1.2, -0.4};
        return m;
    }

    void denoise(const double* x, double alpha, double sigma, double* out) const {
        const std::size_t K = weight.size();
        std::vector<double> logw(K);
        double mx = -1e300;
        for (std::size_t k = 0; k < K; ++k) {
            const double v = alpha * alpha * scale[k] * scale[k] + sigma * sigma;
            double q = 0;
            for (std::size_t j = 0; j < dim; ++j) {
                const double d = x[j] - alpha * mean[k * dim + j];
                q += d * d;
            }
            logw[k] = std::log(weight[k]) - 0.5 * double(dim) * std::log(v) - 0.5 * q / v;
            mx = std::max(mx, logw[k]);
        }
        double tot = 0;
        for (auto& l : logw) tot += (l = std::exp(l - mx));
        for (std::size_t j = 0; j < dim; ++j) out[j] = 0;
        for (std::size_t k = 0; k < K; ++k) {
            const double v = alpha * alpha * scale[k] * scale[k] + sigma * sigma;
            const double g = alpha * scale[k] * scale[k] / v;
            for (std::size_t j = 0; j < dim; ++j)
                out[j] += logw[k] / tot * (mean[k * dim + j] + g * (x[j] - alpha * mean[k * dim + j]));
        }
    }
    template <class T>
    void operator()(vector_view<const T> x, const grid_point& p, vector_view<T> out) const {
        std::vector<double> xi(dim), D(dim);
        for (std::size_t b = 0; b < x.size() / dim; ++b) {
            for (std::size_t j = 0; j < dim; ++j) xi[j] = double(x[b * dim + j]);
            denoise(xi.data(), p.alpha, p.sigma, D.data());
            for (std::size_t j = 0; j < dim; ++j) out[b * dim + j] = T(output_from_data(kind, xi[j], D[j], p));
        }
    }
    // Reference: RK4 in lambda on x~ = x / alpha for a VP schedule, from (lam0, x) to lam1.
    std::vector<double> reference(std::vector<double> x, double lam0, double lam1, std::size_t steps = 4000) const {
        auto alpha_of = [](double lam) { return std::sqrt(1.0 / (1.0 + std::exp(-2.0 * lam))); };
        auto sigma_of = [](double lam) { return std::sqrt(1.0 / (1.0 + std::exp(2.0 * lam))); };
        const std::size_t n = x.size();
        std::vector<double> xt(n), k1(n), k2(n), k3(n), k4(n), tmp(n), D(dim);
        const double a0 = alpha_of(lam0);
        for (std::size_t i = 0; i < n; ++i) xt[i] = x[i] / a0;
        auto f = [&](double lam, const std::vector<double>& y, std::vector<double>& out) {
            const double a = alpha_of(lam), s = sigma_of(lam);
            std::vector<double> xs(dim);
            for (std::size_t b = 0; b < n / dim; ++b) {
                for (std::size_t j = 0; j < dim; ++j) xs[j] = a * y[b * dim + j];
                denoise(xs.data(), a, s, D.data());
                for (std::size_t j = 0; j < dim; ++j) out[b * dim + j] = D[j] - y[b * dim + j];
            }
        };
        const double h = (lam1 - lam0) / double(steps);
        for (std::size_t k = 0; k < steps; ++k) {
            const double l = lam0 + h * double(k);
            f(l, xt, k1);
            for (std::size_t i = 0; i < n; ++i) tmp[i] = xt[i] + 0.5 * h * k1[i];
            f(l + 0.5 * h, tmp, k2);
            for (std::size_t i = 0; i < n; ++i) tmp[i] = xt[i] + 0.5 * h * k2[i];
            f(l + 0.5 * h, tmp, k3);
            for (std::size_t i = 0; i < n; ++i) tmp[i] = xt[i] + h * k3[i];
            f(l + h, tmp, k4);
            for (std::size_t i = 0; i < n; ++i) xt[i] += h / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
        }
        const double a1 = alpha_of(lam1);
        for (std::size_t i = 0; i < n; ++i) xt[i] *= a1;
        return xt;
    }
};

// Least-squares slope of log(err) against log(steps), negated: the observed order.
inline double fitted_order(const std::vector<double>& steps, const std::vector<double>& err) {
    const std::size_t n = steps.size();
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < n; ++i) {
        mx += std::log(steps[i]);
        my += std::log(err[i]);
    }
    mx /= double(n);
    my /= double(n);
    double sxy = 0, sxx = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sxy += (std::log(steps[i]) - mx) * (std::log(err[i]) - my);
        sxx += (std::log(steps[i]) - mx) * (std::log(steps[i]) - mx);
    }
    return -sxy / sxx;
}

}  // namespace kt
