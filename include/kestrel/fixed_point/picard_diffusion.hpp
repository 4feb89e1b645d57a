// Picard-window sampling of diffusion models (Shih, Belkhale, Ermon, Sadigh & Anari 2023,
// "Parallel Sampling of Diffusion Models", ParaDiGMS, Algorithm 1) over this library's
// deterministic one-step solvers: DDIM (eta = 0), Euler and Heun (diffusion/ddim.hpp, euler.hpp,
// heun.hpp).
//
// A one-step solver maps the state at grid point i to the state at i + 1: x_{i+1} = Phi_i(x_i)
// = c_x x_i + c_m m_i(x_i), with m the model output converted to the solver's prediction. With
// the drift d_i(x) = Phi_i(x) - x, the trajectory is the fixed point of the Picard map
//
//   x_{i+1}^{k+1} = x_begin + sum_{j = begin}^{i} d_j(x_j^k),     begin <= i < end,
//
// over a window of w = end - begin steps: one batched model call per round evaluates every step
// of the window at the previous iterate, then a prefix sum gives the new iterate. The fixed point
// is the sequential trajectory (the sum telescopes). Heun needs the model at each step's Euler
// stage too: a second batched call per round, on the window's stage points (report.model_calls
// counts both; the sequential sampler makes 2 per step, 1 for a step into a clean point).
//
// Stopping (ParaDiGMS Sec. 3, and its reference implementation): state x_g, g = begin+1..end, is
// accepted when, for every sample of the batch, ||x_g^{k+1} - x_g^k||^2 <= tau^2 d v_g, d the
// elements per sample and v_g the variance of the noise a DDPM (eta = 1) step from grid point g
// would add, v_g = sigma_{g+1}^2 (1 - exp(-2 (lambda_{g+1} - lambda_g))) (DDIM eq. 16; 0 for the
// step into a clean point, whose state must then be computed from final inputs). The window
// slides to the first state that is not accepted: that state was computed from accepted inputs,
// so it becomes the new x_begin (every round advances at least one step; rounds <= steps). New
// window entries start from the last state of the old window. tau = 0 accepts only states that
// no longer change at all.
//
//   model(kestrel::matrix_view<const T> states,                       // L x n: states of the window
//         kestrel::vector_view<const kestrel::diffusion::grid_point> points,  // their L grid points
//         kestrel::matrix_view<T> out)                                // L x n model outputs
//
// Row r of `out` is the model's output (of kind options.model_prediction) at states row r and
// points[r]; evaluate the rows as one batch on your hardware. Outputs are checked for NaN and inf
// after every call, before use. The model may throw: the exception reaches the caller.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "../diffusion/ddim.hpp"
#include "../diffusion/euler.hpp"
#include "../diffusion/grid.hpp"
#include "../diffusion/heun.hpp"
#include "../diffusion/parameterization.hpp"

namespace kestrel {
namespace fixed_point {

/// The one-step solver whose trajectory Picard iteration computes.
enum class picard_solver {
    ddim,   // deterministic DDIM: the same steps as diffusion::sample with solver_kind::ddim, eta = 0
    euler,  // k-diffusion Euler: diffusion::sample with solver_kind::euler
    heun    // EDM Heun: diffusion::sample with solver_kind::heun (2 model calls per round)
};

struct picard_options {
    picard_solver solver = picard_solver::ddim;
    diffusion::prediction model_prediction = diffusion::prediction::noise;
    std::size_t window = 16;  // steps evaluated per round (the model's batch is window x batch samples)
    double tolerance = 0.1;   // tau of the stopping rule (>= 0)
    std::size_t max_rounds = 0;  // 0 = none (at most `steps` rounds are needed)
    std::size_t batch = 1;       // samples in x (each is checked against the tolerance on its own)
    exec_policy policy{};        // threads of the update pass
};

struct picard_report {
    static constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
    std::size_t steps = 0;              // grid.size() - 1
    std::size_t rounds = 0;             // Picard rounds
    std::size_t model_calls = 0;        // batched model calls: the sequential depth (rounds, or 2 x rounds for Heun)
    std::size_t model_evaluations = 0;  // window states evaluated (each a whole batch), summed over rounds;
                                        // diffusion::sample makes `steps`
    std::size_t completed_steps = 0;    // x holds the state at grid[completed_steps]
    /// final_round[g]: the round after which state g (at grid[g]) was accepted (0 for g = 0).
    std::vector<std::size_t> final_round;
    bool converged = false;  // false only when max_rounds stopped the run
};

template <class T>
struct picard_workspace {
    std::vector<T> states, out, previous, stage, out2;
    std::vector<double> sum, partial, k_x, k_m, k_st, k_m2, e_x, e_m, threshold;
};

namespace detail {

inline constexpr std::size_t picard_block = 2048;

/// Drift coefficients: d_i(x) = k_x x + k_m m + k_st z + k_m2 m2 (m the raw model output at x,
/// z = e_x x + e_m m Heun's Euler stage and m2 the raw model output there; k_st = k_m2 = 0 but
/// for Heun), all checked finite as T.
template <class T>
void picard_coefficients(const char* fn, const diffusion::timestep_grid& g, const picard_options& o,
                         picard_workspace<T>& ws) {
    using diffusion::prediction;
    const std::size_t steps = g.size() - 1;
    std::vector<double> &kx = ws.k_x, &km = ws.k_m;
    for (auto* v : {&ws.k_x, &ws.k_m, &ws.k_st, &ws.k_m2, &ws.e_x, &ws.e_m}) v->assign(steps, 0.0);
    auto to_data = [&](const diffusion::grid_point& p, std::size_t i) {
        require(diffusion::conversion_defined(o.model_prediction, prediction::data, p), fn, "model_prediction",
                "cannot be converted to data at grid point ", i);
        return o.model_prediction == prediction::data ? std::pair<double, double>{0.0, 1.0}
                                                      : diffusion::data_coefficients(o.model_prediction, p);
    };
    for (std::size_t i = 0; i < steps; ++i) {
        const diffusion::grid_point &s = g[i], &t = g[i + 1];
        double cx = 0, cp = 0, a = 0, b = 1;
        if (o.solver == picard_solver::heun) {
            const auto ds = to_data(s, i);
            if (t.clean()) {  // the denoising step x = alpha_t D, as diffusion::sample takes it
                ws.k_x[i] = -1.0 + t.alpha * ds.first;
                ws.k_m[i] = t.alpha * ds.second;
            } else {
                require(s.alpha > 0, fn, "grid", "step ", i, ": Heun needs alpha > 0 at its start (got alpha = 0)");
                const auto dt = to_data(t, i + 1);
                const auto e = diffusion::euler_coefficients(s, t);
                ws.e_x[i] = e[0] + e[1] * ds.first;  // stage = Euler step of x with D_s
                ws.e_m[i] = e[1] * ds.second;
                const auto h = diffusion::heun_coefficients(s, t);  // {x, D_s, stage, D_stage}
                ws.k_x[i] = h[0] - 1.0 + h[1] * ds.first;
                ws.k_m[i] = h[1] * ds.second;
                ws.k_st[i] = h[2] + h[3] * dt.first;
                ws.k_m2[i] = h[3] * dt.second;
            }
            for (double c : {ws.k_x[i], ws.k_m[i], ws.k_st[i], ws.k_m2[i], ws.e_x[i], ws.e_m[i]})
                require(finite_as<T>(c), fn, "grid", "step ", i, " (t = ", s.t, " -> ", t.t,
                        ") has a coefficient that is not finite", sizeof(T) < sizeof(double) ? " as float" : "", " (",
                        c, ")");
            continue;
        }
        if (o.solver == picard_solver::ddim) {
            require(s.alpha > 0, fn, "grid", "step ", i, ": DDIM needs alpha > 0 at its start (got alpha = 0)");
            require(diffusion::conversion_defined(o.model_prediction, prediction::noise, s), fn, "model_prediction",
                    "cannot be converted to noise at grid point ", i);
            if (o.model_prediction != prediction::noise) {
                const auto c = diffusion::noise_coefficients(o.model_prediction, s);
                a = c.first;
                b = c.second;
            }
            const auto c = diffusion::ddim_coefficients(s, t, 0.0);
            cx = c[0];
            cp = c[1];
        } else {
            const auto ds = to_data(s, i);
            a = ds.first;
            b = ds.second;
            const auto c = diffusion::euler_coefficients(s, t);
            cx = c[0];
            cp = c[1];
        }
        kx[i] = cx - 1.0 + cp * a;
        km[i] = cp * b;
        require(finite_as<T>(kx[i]) && finite_as<T>(km[i]), fn, "grid", "step ", i, " (t = ", s.t, " -> ", t.t,
                ") has a coefficient that is not finite", sizeof(T) < sizeof(double) ? " as float" : "", " (", kx[i],
                ", ", km[i], ")");
    }
}

}  // namespace detail

/// Samples by Picard iteration over a sliding window; x holds the initial state (at grid.front())
/// on entry and the final state (at grid.back()) on exit. When max_rounds stops the run, x holds
/// the accepted state at grid[report.completed_steps] and converged is false.
template <class T, class Model>
picard_report picard_sample(Model&& model, const diffusion::timestep_grid& grid, vector_view<T> x,
                            picard_workspace<T>& ws, const picard_options& opt = {}) {
    static_assert(std::is_floating_point_v<T>, "picard_sample works on float or double states");
    const char* fn = "picard_sample";
    require_valid_policy(opt.policy, fn);
    diffusion::validate_grid(grid, fn);
    const std::size_t n = x.size();
    require(n >= 1, fn, "x", "is empty");
    require(opt.batch >= 1 && n % opt.batch == 0, fn, "options.batch", "must divide the state size ", n, ", got ",
            opt.batch);
    require(opt.window >= 1, fn, "options.window", "must be >= 1, got ", opt.window);
    require(std::isfinite(opt.tolerance) && opt.tolerance >= 0, fn, "options.tolerance", "must be finite and >= 0, got ",
            opt.tolerance);
    require(opt.solver == picard_solver::ddim || opt.solver == picard_solver::euler || opt.solver == picard_solver::heun,
            fn, "options.solver",
            "is not a picard_solver (", static_cast<int>(opt.solver), ")");
    require(opt.model_prediction == diffusion::prediction::noise || opt.model_prediction == diffusion::prediction::data ||
                opt.model_prediction == diffusion::prediction::velocity ||
                opt.model_prediction == diffusion::prediction::flow_velocity,
            fn, "options.model_prediction", "is not a prediction kind (", static_cast<int>(opt.model_prediction), ")");
    for (std::size_t e = 0; e < n; ++e)
        require(std::isfinite(x[e]), fn, "x", "element ", e, " is ", x[e]);
    const std::size_t steps = grid.size() - 1;
    detail::picard_coefficients<T>(fn, grid, opt, ws);
    const bool heun = opt.solver == picard_solver::heun;

    const std::size_t d = n / opt.batch, B = opt.batch;
    const std::size_t w = std::min(opt.window, steps);
    const std::size_t rows = checked_product(w + 1, n, fn, "options.window");
    // Thresholds tau^2 d v_g for states g = 0..steps (the last never consulted).
    ws.threshold.assign(steps + 1, 0.0);
    const double tau2 = opt.tolerance * opt.tolerance;
    for (std::size_t g = 1; g < steps; ++g) {
        const double h = grid[g + 1].lambda - grid[g].lambda;
        const double v = grid[g + 1].sigma * grid[g + 1].sigma * -std::expm1(-2.0 * h);
        ws.threshold[g] = tau2 * double(d) * v;
    }
    const std::size_t blocks_per_sample = (d + detail::picard_block - 1) / detail::picard_block;
    const std::size_t nblocks = blocks_per_sample * B;
    ws.states.resize(rows);
    ws.out.resize(checked_product(w, n, fn, "options.window"));
    if (heun) {
        ws.stage.resize(w * n);
        ws.out2.resize(w * n);
    }
    ws.previous.resize(n);
    ws.sum.resize(n);
    ws.partial.resize(checked_product(w, nblocks, fn, "options.window"));

    picard_report rep;
    rep.steps = steps;
    rep.final_round.assign(steps + 1, picard_report::never);
    rep.final_round[0] = 0;
    for (std::size_t r = 0; r <= w; ++r) std::copy(x.begin(), x.end(), ws.states.begin() + std::ptrdiff_t(r * n));

    std::size_t begin = 0, end = w;
    while (begin < steps) {
        if (opt.max_rounds != 0 && rep.rounds >= opt.max_rounds) {
            std::copy(ws.states.begin(), ws.states.begin() + std::ptrdiff_t(n), x.begin());
            rep.completed_steps = begin;
            return rep;
        }
        const std::size_t L = end - begin;
        const matrix_view<const T> S(ws.states.data(), L, n);
        const matrix_view<T> out(ws.out.data(), L, n);
        // Model outputs are checked before use (the first bad row is reported).
        auto call = [&](const matrix_view<const T>& states, std::size_t first_point, const matrix_view<T>& o, const char* what) {
            model(states, vector_view<const diffusion::grid_point>(grid.data() + first_point, states.rows()), o);
            ++rep.model_calls;
            rep.model_evaluations += states.rows();
            for (std::size_t r = 0; r < states.rows(); ++r) {
                const T* row = o.row_data(r);
                bool ok = true;
                for (std::size_t e = 0; e < n; ++e) ok &= (row[e] - row[e] == T(0));
                if (!ok)
                    fail_argument(fn, "model", "returned NaN or inf for step ", begin + r, what, " (t = ",
                                  grid[first_point + r].t, ")");
            }
        };
        call(S, begin, out, "");
        ++rep.rounds;
        // Heun: the Euler stages of the window's steps (all but a final step into a clean point),
        // then the model there.
        const std::size_t L2 = heun ? (grid[end].clean() ? L - 1 : L) : 0;
        if (L2 > 0) {
            const double* const ex = ws.e_x.data() + begin;
            const double* const em = ws.e_m.data() + begin;
            const T* const st0 = ws.states.data();
            const T* const o0 = ws.out.data();
            T* const z0 = ws.stage.data();
            parallel_for(L2, opt.policy, [&](std::size_t i) {
                for (std::size_t e = 0; e < n; ++e)
                    z0[i * n + e] = T(ex[i] * double(st0[i * n + e]) + em[i] * double(o0[i * n + e]));
            });
            call(matrix_view<const T>(ws.stage.data(), L2, n), begin + 1, matrix_view<T>(ws.out2.data(), L2, n),
                 " (Heun stage)");
        }

        // Picard update and per-(row, block) squared changes, in blocks fixed by the size.
        T* const st = ws.states.data();
        const T* const ot = ws.out.data();
        const double* const kx = ws.k_x.data() + begin;
        const double* const km = ws.k_m.data() + begin;
        const double* const ks = ws.k_st.data() + begin;
        const double* const km2 = ws.k_m2.data() + begin;
        const T* const zt = ws.stage.data();
        const T* const o2 = ws.out2.data();
        parallel_for(nblocks, opt.policy, [&](std::size_t blk) {
            const std::size_t sample = blk / blocks_per_sample, within = blk % blocks_per_sample;
            const std::size_t lo = sample * d + within * detail::picard_block;
            const std::size_t hi = std::min(lo + detail::picard_block, sample * d + d);
            double* const sum = ws.sum.data();
            T* const prev = ws.previous.data();
            for (std::size_t e = lo; e < hi; ++e) {
                sum[e] = double(st[e]);
                prev[e] = st[e];
            }
            for (std::size_t i = 0; i < L; ++i) {
                const double a = kx[i], b = km[i];
                const T* const m = ot + i * n;
                T* const next = st + (i + 1) * n;
                double acc = 0.0;
                if (i < L2) {  // Heun's stage terms
                    const double c = ks[i], c2 = km2[i];
                    const T* const z = zt + i * n;
                    const T* const m2 = o2 + i * n;
                    for (std::size_t e = lo; e < hi; ++e) sum[e] += c * double(z[e]) + c2 * double(m2[e]);
                }
                for (std::size_t e = lo; e < hi; ++e) {
                    sum[e] += a * double(prev[e]) + b * double(m[e]);
                    const T old = next[e];
                    const T v = T(sum[e]);
                    const double diff = double(v) - double(old);
                    acc += diff * diff;
                    next[e] = v;
                    prev[e] = old;
                }
                ws.partial[i * nblocks + blk] = acc;
            }
        });

        // The first state not accepted (by every sample) ends the accepted run.
        std::size_t ind = L;
        for (std::size_t i = 0; i < L && ind == L; ++i) {
            const double thr = ws.threshold[begin + i + 1];
            for (std::size_t s = 0; s < B; ++s) {
                double err = 0.0;
                for (std::size_t k = 0; k < blocks_per_sample; ++k) err += ws.partial[i * nblocks + s * blocks_per_sample + k];
                if (!(err <= thr)) {
                    ind = i;
                    break;
                }
            }
        }
        const std::size_t stride = ind == L ? L : ind + 1;
        for (std::size_t g = begin + 1; g <= begin + stride; ++g) rep.final_round[g] = rep.rounds;
        const std::size_t new_begin = begin + stride;
        const std::size_t new_end = std::min(new_begin + w, steps);
        // Slide: rows stride..L become rows 0..L-stride; new rows start from the old last row.
        if (new_begin < steps) {
            std::copy(ws.states.begin() + std::ptrdiff_t(stride * n), ws.states.begin() + std::ptrdiff_t((L + 1) * n),
                      ws.states.begin());
            const T* const last = ws.states.data() + (L - stride) * n;
            for (std::size_t r = L - stride + 1; r <= new_end - new_begin; ++r)
                std::copy(last, last + n, ws.states.begin() + std::ptrdiff_t(r * n));
        } else {
            std::copy(ws.states.begin() + std::ptrdiff_t(stride * n), ws.states.begin() + std::ptrdiff_t((stride + 1) * n),
                      ws.states.begin());
        }
        begin = new_begin;
        end = new_end;
    }
    std::copy(ws.states.begin(), ws.states.begin() + std::ptrdiff_t(n), x.begin());
    rep.completed_steps = steps;
    rep.converged = true;
    return rep;
}

}  // namespace fixed_point
}  // namespace kestrel
