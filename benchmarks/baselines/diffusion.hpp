// Honest baselines for the diffusion solver updates: the published formula executed the way
// diffusers runs it on tensors, one whole-array operation at a time, each writing a temporary.
// Temporaries come from a caller-provided pool (framework allocators recycle memory).
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace kestrel_baseline {

template <class T>
struct array_ops {
    std::size_t n;
    std::vector<std::vector<T>>* pool;
    std::size_t next = 0;
    T* target = nullptr;  // when set, the next operation writes here (the step's output)
    T* tmp() {
        if (target) {
            T* r = target;
            target = nullptr;
            return r;
        }
        return (*pool)[next++].data();
    }
    T* scale(double c, const T* a) {  // c * a
        T* o = tmp();
        const T cc = T(c);
        for (std::size_t i = 0; i < n; ++i) o[i] = cc * a[i];
        return o;
    }
    T* add(const T* a, const T* b) {
        T* o = tmp();
        for (std::size_t i = 0; i < n; ++i) o[i] = a[i] + b[i];
        return o;
    }
    T* sub(const T* a, const T* b) {
        T* o = tmp();
        for (std::size_t i = 0; i < n; ++i) o[i] = a[i] - b[i];
        return o;
    }
};

template <class T>
std::vector<std::vector<T>> make_pool(std::size_t n, std::size_t count = 24) {
    return std::vector<std::vector<T>>(count, std::vector<T>(n, T(0)));
}

struct point {
    double alpha, sigma, lambda;
};

/// diffusers DDIMScheduler.step (eta = 0, epsilon prediction).
template <class T>
void ddim_step(T* out, const T* x, const T* eps, point s, point t, std::size_t n, std::vector<std::vector<T>>& pool) {
    array_ops<T> o{n, &pool};
    const T* x0 = o.scale(1.0 / s.alpha, o.sub(x, o.scale(s.sigma, eps)));  // (x - sqrt(1-a) eps) / sqrt(a)
    const T* dir = o.scale(t.sigma, eps);
    const T* ax0 = o.scale(t.alpha, x0);
    o.target = out;
    o.add(ax0, dir);
}

/// diffusers DPMSolverMultistepScheduler, dpmsolver++ 2M midpoint.
template <class T>
void dpm_solver_pp_2m_step(T* out, const T* x, const T* m0, const T* m1, point s1, point s0, point t, std::size_t n,
                           std::vector<std::vector<T>>& pool) {
    array_ops<T> o{n, &pool};
    const double h = t.lambda - s0.lambda, r0 = (s0.lambda - s1.lambda) / h;
    const T* D1 = o.scale(1.0 / r0, o.sub(m0, m1));
    const T* a = o.sub(o.scale(t.sigma / s0.sigma, x), o.scale(t.alpha * (std::exp(-h) - 1.0), m0));
    const T* c = o.scale(0.5 * (t.alpha * (std::exp(-h) - 1.0)), D1);
    o.target = out;
    o.sub(a, c);
}

/// diffusers third-order multistep update (published form).
template <class T>
void dpm_solver_pp_3m_step(T* out, const T* x, const T* m0, const T* m1, const T* m2, point s2, point s1, point s0,
                           point t, std::size_t n, std::vector<std::vector<T>>& pool) {
    array_ops<T> o{n, &pool};
    const double h = t.lambda - s0.lambda, r0 = (s0.lambda - s1.lambda) / h, r1 = (s1.lambda - s2.lambda) / h;
    const T* D1_0 = o.scale(1.0 / r0, o.sub(m0, m1));
    const T* D1_1 = o.scale(1.0 / r1, o.sub(m1, m2));
    const T* diff = o.sub(D1_0, D1_1);
    const T* D1 = o.add(D1_0, o.scale(r0 / (r0 + r1), diff));
    const T* D2 = o.scale(1.0 / (r0 + r1), diff);
    const T* a = o.sub(o.scale(t.sigma / s0.sigma, x), o.scale(t.alpha * (std::exp(-h) - 1.0), m0));
    const T* b = o.add(a, o.scale(t.alpha * ((std::exp(-h) - 1.0) / h + 1.0), D1));
    const T* c = o.scale(t.alpha * ((std::exp(-h) - 1.0 + h) / (h * h) - 0.5), D2);
    o.target = out;
    o.sub(b, c);
}

/// diffusers sde-dpmsolver++ 2M midpoint.
template <class T>
void dpm_solver_pp_2m_sde_step(T* out, const T* x, const T* m0, const T* m1, const T* z, point s1, point s0, point t,
                               std::size_t n, std::vector<std::vector<T>>& pool) {
    array_ops<T> o{n, &pool};
    const double h = t.lambda - s0.lambda, r0 = (s0.lambda - s1.lambda) / h;
    const T* D1 = o.scale(1.0 / r0, o.sub(m0, m1));
    const T* a = o.add(o.scale(t.sigma / s0.sigma * std::exp(-h), x), o.scale(t.alpha * (1 - std::exp(-2.0 * h)), m0));
    const T* b = o.add(a, o.scale(0.5 * (t.alpha * (1 - std::exp(-2.0 * h))), D1));
    const T* c = o.scale(t.sigma * std::sqrt(1.0 - std::exp(-2 * h)), z);
    o.target = out;
    o.add(b, c);
}

/// k-diffusion sample_heun's final update (VE variables, alpha = 1).
template <class T>
void heun_step(T* out, const T* x, const T* d_s, const T* x2, const T* d_2, double sigma_s, double sigma_t,
               std::size_t n, std::vector<std::vector<T>>& pool) {
    array_ops<T> o{n, &pool};
    const T* d = o.scale(1.0 / sigma_s, o.sub(x, d_s));
    const T* d2 = o.scale(1.0 / sigma_t, o.sub(x2, d_2));
    const T* dp = o.scale(0.5, o.add(d, d2));
    const T* c = o.scale(sigma_t - sigma_s, dp);
    o.target = out;
    o.add(x, c);
}

/// diffusers UniPC predictor (bh2, data prediction) of order 3, with rho given.
template <class T>
void unipc_predictor_3_step(T* out, const T* x, const T* m0, const T* m1, const T* m2, double r1, double r2,
                            double rho0, double rho1, point s0, point t, std::size_t n, std::vector<std::vector<T>>& pool) {
    array_ops<T> o{n, &pool};
    const double h = t.lambda - s0.lambda, hh = -h, h_phi_1 = std::expm1(hh), B_h = std::expm1(hh);
    const T* D1a = o.scale(1.0 / r1, o.sub(m1, m0));
    const T* D1b = o.scale(1.0 / r2, o.sub(m2, m0));
    const T* pred_res = o.add(o.scale(rho0, D1a), o.scale(rho1, D1b));  // einsum over the stacked D1s
    const T* x_t_ = o.sub(o.scale(t.sigma / s0.sigma, x), o.scale(t.alpha * h_phi_1, m0));
    const T* c = o.scale(t.alpha * B_h, pred_res);
    o.target = out;
    o.sub(x_t_, c);
}

/// diffusers DEIS third-order update with coefficients given: x_t = alpha_t (x/alpha_s0 + c1 m0 + c2 m1 + c3 m2).
template <class T>
void deis_3_step(T* out, const T* x, const T* m0, const T* m1, const T* m2, double c1, double c2, double c3,
                 double alpha_s0, double alpha_t, std::size_t n, std::vector<std::vector<T>>& pool) {
    array_ops<T> o{n, &pool};
    const T* a = o.add(o.scale(1.0 / alpha_s0, x), o.scale(c1, m0));
    const T* b = o.add(a, o.scale(c2, m1));
    const T* c = o.add(b, o.scale(c3, m2));
    o.target = out;
    o.scale(alpha_t, c);
}

}  // namespace kestrel_baseline
