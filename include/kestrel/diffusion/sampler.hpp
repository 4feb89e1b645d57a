// The sampling loop: a model callback, a schedule, a grid and a solver choice; the workspace holds
// the multistep history and stage buffers, so the loop itself allocates nothing.
//
//   auto model = [&](vector_view<const float> x, const grid_point& p, vector_view<float> out) {...};
//   sampler_options opt;  opt.solver = solver_kind::dpm_solver_pp; opt.order = 2;
//   sampler_workspace<float> ws;
//   std::size_t nfe = sample(model, schedule, grid, opt, make_view(x), ws);
//
// x holds `batch` samples back to back and is updated in place from grid.front() to grid.back().
// The model may evaluate the whole batch at once. Each model output is converted once to the
// prediction the solver works in (data for DPM-Solver++/UniPC/Euler/Heun/ancestral, noise for DDIM,
// DPM-Solver and DEIS), thresholded first if asked. A step ending at a clean point (sigma = 0) is a
// denoising step x = alpha_t x0, the limit every solver takes there (diffusers lower_order_final
// with final_sigmas_type "zero"; k-diffusion's "denoising step").
// Noise for SDE and ancestral solvers is counter_rng(seed, step).normal draws indexed by element, so
// samples do not depend on the thread count.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"
#include "ancestral.hpp"
#include "ddim.hpp"
#include "deis.hpp"
#include "dpm_solver.hpp"
#include "dpm_solver_pp.hpp"
#include "dpm_solver_pp_sde.hpp"
#include "euler.hpp"
#include "grid.hpp"
#include "heun.hpp"
#include "parameterization.hpp"
#include "schedule.hpp"
#include "thresholding.hpp"
#include "unipc.hpp"

namespace kestrel {
namespace diffusion {

enum class solver_kind {
    ddim,                        // DDIM, eta >= 0 (default 0)
    euler,                       // k-diffusion Euler
    heun,                        // EDM Heun (2 evaluations per step)
    euler_ancestral,             // k-diffusion Euler ancestral (eta default 1)
    dpm_solver,                  // DPM-Solver-1/2/3 singlestep, noise prediction (order evaluations per step)
    dpm_solver_pp,               // DPM-Solver++ multistep 1, 2M, 3M
    dpm_solver_pp_2s,            // DPM-Solver++(2S) singlestep (2 evaluations per step)
    dpm_solver_pp_sde,           // DPM-Solver++ SDE 1, 2M, 3M (eta default 1)
    dpm_solver_pp_2s_ancestral,  // k-diffusion DPM-Solver++(2S) ancestral (eta default 1)
    unipc,                       // UniPC predictor-corrector, orders 1-3
    deis                         // DEIS-tAB multistep, orders 1-3
};

struct sampler_options {
    solver_kind solver = solver_kind::dpm_solver_pp;
    std::size_t order = 2;
    prediction model_prediction = prediction::noise;
    second_order_form second_order = second_order_form::midpoint;  // 2M and 2M SDE
    third_order_form third_order = third_order_form::published;    // 3M
    unipc_variant unipc = unipc_variant::bh2;
    bool unipc_predict_x0 = true;
    bool use_corrector = true;                   // UniPC: UniC after every step ...
    std::vector<std::size_t> disable_corrector;  // ... except the results of these step indices
    /// Multistep solvers lower their order on the last steps (diffusers' lower_order_final):
    /// DPM-Solver++/DEIS when the grid has fewer than lower_order_final_below steps, UniPC always.
    bool lower_order_final = true;
    std::size_t lower_order_final_below = 15;
    bool euler_at_final = false;  // first-order last step (diffusers euler_at_final)
    /// Noise scale of DDIM, SDE and ancestral solvers (>= 0). NaN (the default) picks the solver's
    /// default: 0 for DDIM (deterministic), 1 for the SDE and ancestral solvers.
    double eta = std::numeric_limits<double>::quiet_NaN();
    double s_noise = 1.0;
    std::uint64_t seed = 0;
    bool thresholding = false;  // dynamic thresholding of every x0 prediction
    double threshold_ratio = 0.995;
    double threshold_max = 1.0;
    std::size_t batch = 1;  // samples in x (for thresholding)
    exec_policy policy{};
    /// Check every model output for NaN and inf, inside the conversion pass the loop makes
    /// anyway (no extra pass; measured cost under 5%). On a non-finite output sample() throws
    /// kestrel::invalid_argument naming the step, and x holds the state at the start of that
    /// step (for UniPC: the predictor's result, before its correction).
    bool check_model_output = true;
};

/// What a per-step callback sees after step `index` (of `steps`) from s to t.
template <class T>
struct step_info {
    std::size_t index, steps;
    const grid_point &s, &t;
    vector_view<const T> x;  // the state at t
};

struct no_step_callback {
    template <class Info>
    void operator()(const Info&) const noexcept {}
};

/// Buffers of the sampling loop; keep it across calls to avoid allocation.
template <class T>
class sampler_workspace {
public:
    void reserve(std::size_t n) {
        if (n_ == n) return;
        n_ = n;
        for (auto* v : {&raw_, &stage_, &stage2_, &noise_, &prev_, &scratch_}) v->assign(n, T(0));
        for (auto& h : hist_) h.assign(n, T(0));
    }
    std::size_t size() const noexcept { return n_; }

    // The loop's buffers (public for the loop only; their contents between calls are unspecified).
    std::size_t n_ = 0;
    std::vector<T> raw_, stage_, stage2_, noise_, prev_, scratch_;
    std::array<std::vector<T>, 4> hist_;
};

namespace detail {
inline bool works_in_noise(const sampler_options& o) {
    return o.solver == solver_kind::ddim || o.solver == solver_kind::dpm_solver || o.solver == solver_kind::deis ||
           (o.solver == solver_kind::unipc && !o.unipc_predict_x0);
}
inline std::size_t max_order(solver_kind k) {
    switch (k) {
        case solver_kind::dpm_solver:
        case solver_kind::dpm_solver_pp:
        case solver_kind::dpm_solver_pp_sde:
        case solver_kind::unipc:
        case solver_kind::deis: return 3;
        case solver_kind::dpm_solver_pp_2s:
        case solver_kind::heun:
        case solver_kind::dpm_solver_pp_2s_ancestral: return 2;
        default: return 1;
    }
}
inline std::size_t default_order(solver_kind k) {
    switch (k) {
        case solver_kind::heun:
        case solver_kind::dpm_solver_pp_2s:
        case solver_kind::dpm_solver_pp_2s_ancestral: return 2;
        case solver_kind::ddim:
        case solver_kind::euler:
        case solver_kind::euler_ancestral: return 1;
        default: return 0;
    }
}
inline bool needs_alpha_positive(const sampler_options& o) {
    return works_in_noise(o) || o.solver == solver_kind::heun || o.solver == solver_kind::euler_ancestral ||
           o.solver == solver_kind::dpm_solver_pp_2s_ancestral || o.solver == solver_kind::dpm_solver_pp_2s;
}
}  // namespace detail

/// Checks options against a grid and a state size; throws kestrel::invalid_argument.
/// (sample() also checks every step's coefficients before it writes anything.)
inline void validate_sampler_options(const sampler_options& o, const timestep_grid& grid, std::size_t n) {
    const char* fn = "sample";
    require_valid_policy(o.policy, fn);
    require(o.solver >= solver_kind::ddim && o.solver <= solver_kind::deis, fn, "solver", "is not a solver_kind (",
            static_cast<int>(o.solver), ")");
    require(detail::valid_prediction(o.model_prediction), fn, "model_prediction", "is not a prediction kind (",
            static_cast<int>(o.model_prediction), ")");
    validate_grid(grid, fn);
    require(o.batch >= 1 && n % o.batch == 0, fn, "batch", "must divide the state size ", n, ", got ", o.batch);
    const std::size_t fixed = detail::default_order(o.solver);
    if (fixed != 0)
        require(o.order == fixed || (o.solver == solver_kind::heun && o.order == 2), fn, "order", "this solver has order ",
                fixed, ", got ", o.order);
    else
        require(o.order >= 1 && o.order <= detail::max_order(o.solver), fn, "order", "must lie in [1, ",
                detail::max_order(o.solver), "] for this solver, got ", o.order);
    require(std::isnan(o.eta) || (o.eta >= 0 && std::isfinite(o.eta)), fn, "eta", "must be finite and >= 0 (or NaN for the solver's default), got ", o.eta);
    require(o.s_noise >= 0 && std::isfinite(o.s_noise), fn, "s_noise", "must be finite and >= 0, got ", o.s_noise);
    if (o.thresholding) {
        require(o.threshold_ratio >= 0 && o.threshold_ratio <= 1, fn, "threshold_ratio", "must lie in [0, 1], got ",
                o.threshold_ratio);
        require(o.threshold_max >= 1 && std::isfinite(o.threshold_max), fn, "threshold_max", "must be >= 1, got ",
                o.threshold_max);
    }
    if (detail::needs_alpha_positive(o))
        require(grid.front().alpha > 0, fn, "grid", "this solver needs alpha > 0 at the first point (got alpha = 0)");
    const prediction target = detail::works_in_noise(o) ? prediction::noise : prediction::data;
    for (std::size_t i = 0; i + 1 < grid.size(); ++i)
        require(conversion_defined(o.model_prediction, target, grid[i]) &&
                    conversion_defined(o.model_prediction, prediction::data, grid[i]),
                fn, "model_prediction", "cannot be converted at grid point ", i, " (alpha=", grid[i].alpha,
                ", sigma=", grid[i].sigma, ")");
    for (std::size_t j : o.disable_corrector)
        require(j < grid.size(), fn, "disable_corrector", "step index ", j, " beyond the grid");
}

/// Checks that every point of the grid lies inside the schedule's time range (the clean end excepted).
inline void validate_grid_for_schedule(const timestep_grid& grid, const noise_schedule& schedule, const char* fn = "sample") {
    for (std::size_t i = 0; i < grid.size(); ++i)
        require(grid[i].clean() || schedule.contains(grid[i].t), fn, "grid", "point ", i, " has t = ", grid[i].t,
                " outside the schedule's range [", schedule.t_min(), ", ", schedule.t_max(), "]");
}

namespace detail {
template <class T, std::size_t K>
void require_step_coefficients(const std::array<double, K>& c, const char* what) {
    for (std::size_t k = 0; k < K; ++k)
        if (!finite_as<T>(c[k]))
            fail_argument(what, "coefficients", "coefficient ", k, " is not finite",
                          sizeof(T) < sizeof(double) ? " as float" : "", " (", c[k], ")");
}
}  // namespace detail

/// Runs the sampler; returns the number of model evaluations.
///
/// Everything that can be checked without the model is checked before x is written: the
/// options and grid, and then every step's coefficients (a dry run of the loop without model
/// calls, scalars only), so a grid/solver combination that fails at step k fails before step 0.
/// With opt.check_model_output (the default) a model output containing NaN or inf raises
/// kestrel::invalid_argument ("kestrel::sample: argument 'model output': step i ...") and x
/// then holds the state at the start of step i (for UniPC the uncorrected predictor result).
template <class T, class Model, class Callback = no_step_callback>
std::size_t sample(Model&& model, const noise_schedule& schedule, const timestep_grid& grid, const sampler_options& opt,
                   vector_view<T> x, sampler_workspace<T>& ws, Callback&& on_step = {}) {
    const char* fn = "sample";
    const std::size_t n = x.size();
    validate_sampler_options(opt, grid, n);
    validate_grid_for_schedule(grid, schedule);
    const exec_policy pol = opt.policy;
    const std::size_t steps = grid.size() - 1;
    const bool noise_mode = detail::works_in_noise(opt);
    const prediction target = noise_mode ? prediction::noise : prediction::data;
    const double eta = !std::isnan(opt.eta) ? opt.eta : (opt.solver == solver_kind::ddim ? 0.0 : 1.0);
    std::size_t nfe = 0;
    std::size_t current_step = 0;

    auto cv = [](const std::vector<T>& v) { return vector_view<const T>(v.data(), v.size()); };
    auto mv = [](std::vector<T>& v) { return vector_view<T>(v.data(), v.size()); };
    const vector_view<const T> xc(x.data(), n);

    // The loop, run twice: first dry (Dry = true: coefficients only, no model call, no write),
    // then for real. Both runs take the same branches, so every coefficient of the real run
    // has been computed and checked (finite as T) by the dry run.
    auto run = [&](auto dry_tag) {
        constexpr bool Dry = decltype(dry_tag)::value;
        auto check = [](const auto& c, const char* what) { detail::require_step_coefficients<T>(c, what); };

        // Evaluates the model at (state, p) and writes the solver's prediction into `dst`.
        auto evaluate = [&](vector_view<const T> state, const grid_point& p, std::vector<T>& dst) {
            const prediction first = opt.thresholding ? prediction::data : target;
            if constexpr (Dry) {
                require(conversion_defined(opt.model_prediction, first, p), "model output conversion", "point",
                        "undefined at alpha=", p.alpha, ", sigma=", p.sigma);
                const auto c = first == opt.model_prediction ? std::pair<double, double>{0.0, 1.0}
                               : first == prediction::data   ? data_coefficients(opt.model_prediction, p)
                                                             : noise_coefficients(opt.model_prediction, p);
                check(std::array<double, 2>{c.first, c.second}, "model output conversion");
                if (opt.thresholding && noise_mode)
                    check(std::array<double, 2>{1.0 / p.sigma, -p.alpha / p.sigma}, "noise from thresholded data");
                (void)state;
                (void)dst;
            } else {
                model(state, p, mv(ws.raw_));
                ++nfe;
                const bool finite = detail::convert_prediction<T>(fn, mv(dst), state, cv(ws.raw_), opt.model_prediction,
                                                                  first, p, pol, opt.check_model_output);
                if (!finite)
                    fail_argument(fn, "model output", "step ", current_step, ": the model returned NaN or inf at t = ",
                                  p.t, " (alpha=", p.alpha, ", sigma=", p.sigma, "); x holds the state at the start of step ",
                                  current_step);
                if (opt.thresholding) {
                    dynamic_threshold_inplace(mv(dst), opt.batch, opt.threshold_ratio, opt.threshold_max, mv(ws.scratch_));
                    if (noise_mode) simd::lincomb(mv(dst), {1.0 / p.sigma, -p.alpha / p.sigma}, {state, cv(dst)}, pol);
                }
            }
        };
        auto fill_noise = [&](std::size_t step) { fill_normal(mv(ws.noise_), counter_rng(opt.seed, step), 0, pol); };

        // Multistep history: hist_[slot[k]] holds the prediction at pts[k], k = 0 newest.
        std::array<std::size_t, 4> slot{0, 1, 2, 3};
        std::array<grid_point, 3> pts{};
        std::size_t have = 0;  // valid history entries
        auto push = [&](const grid_point& p) {
            // the newest prediction was written into hist_[slot[3]] (the free slot); rotate it to the front
            std::rotate(slot.begin(), slot.begin() + 3, slot.end());
            pts[2] = pts[1];
            pts[1] = pts[0];
            pts[0] = p;
            have = std::min<std::size_t>(have + 1, 3);
        };
        auto hv = [&](std::size_t k) { return cv(ws.hist_[slot[k]]); };
        std::size_t unipc_last_order = 0;

        for (std::size_t i = 0; i < steps; ++i) {
            current_step = i;
            const grid_point& s = grid[i];
            const grid_point& t = grid[i + 1];
            std::vector<T>& fresh = ws.hist_[slot[3]];
            evaluate(xc, s, fresh);

            if (opt.solver == solver_kind::unipc && i > 0 && opt.use_corrector && unipc_last_order > 0 &&
                std::find(opt.disable_corrector.begin(), opt.disable_corrector.end(), i - 1) ==
                    opt.disable_corrector.end()) {
                // UniC: correct x (the predictor's result at s) with the fresh model output, reusing that
                // output for the next step (no extra evaluation).
                if constexpr (Dry) {
                    check(unipc_coefficients(pts.data(), unipc_last_order, s, true, opt.unipc, opt.unipc_predict_x0),
                          "unipc_corrector_step");
                } else {
                    std::array<vector_view<const T>, 3> h{hv(0), hv(1), hv(2)};
                    unipc_corrector_step<T>(x, cv(ws.prev_), h.data(), pts.data(), unipc_last_order, cv(fresh), s,
                                            opt.unipc, opt.unipc_predict_x0, pol);
                }
            }
            push(s);
            const std::vector<T>& m0 = ws.hist_[slot[0]];

            if (t.clean() && opt.solver != solver_kind::ddim && opt.solver != solver_kind::euler &&
                opt.solver != solver_kind::euler_ancestral) {
                // Denoising step to the clean point from the newest prediction m0 at s.
                if (noise_mode) {
                    const std::array<double, 2> c{t.alpha / s.alpha, -t.alpha * s.sigma / s.alpha};
                    if constexpr (Dry) check(c, "denoising step");
                    else simd::lincomb(x, c, {xc, cv(m0)}, pol);
                } else {
                    const std::array<double, 1> c{t.alpha};
                    if constexpr (Dry) check(c, "denoising step");
                    else simd::lincomb(x, c, {cv(m0)}, pol);
                }
            } else {
                const bool short_grid = steps < opt.lower_order_final_below;
                const bool last = i + 1 == steps, second_last = i + 2 == steps;
                std::size_t order = std::min(opt.order, have);
                switch (opt.solver) {
                    case solver_kind::ddim:
                        if constexpr (Dry) {
                            check(ddim_coefficients(s, t, eta), "ddim_step");
                        } else if (eta > 0) {
                            fill_noise(i);
                            ddim_step<T>(x, xc, cv(m0), cv(ws.noise_), s, t, eta, pol);
                        } else {
                            ddim_step<T>(x, xc, cv(m0), s, t, pol);
                        }
                        break;
                    case solver_kind::euler:
                        if constexpr (Dry) check(euler_coefficients(s, t), "euler_step");
                        else euler_step<T>(x, xc, cv(m0), s, t, pol);
                        break;
                    case solver_kind::euler_ancestral:
                        if constexpr (Dry) {
                            check(euler_ancestral_coefficients(s, t, eta, opt.s_noise), "euler_ancestral_step");
                        } else {
                            fill_noise(i);
                            euler_ancestral_step<T>(x, xc, cv(m0), cv(ws.noise_), s, t, eta, opt.s_noise, pol);
                        }
                        break;
                    case solver_kind::heun: {
                        if constexpr (Dry) {
                            check(euler_coefficients(s, t), "euler_step");
                            evaluate(xc, t, ws.stage2_);
                            check(heun_coefficients(s, t), "heun_step");
                        } else {
                            euler_step<T>(mv(ws.stage_), xc, cv(m0), s, t, pol);
                            evaluate(cv(ws.stage_), t, ws.stage2_);
                            heun_step<T>(x, xc, cv(m0), cv(ws.stage_), cv(ws.stage2_), s, t, pol);
                        }
                        break;
                    }
                    case solver_kind::dpm_solver: {
                        if (opt.order == 1) {
                            if constexpr (Dry) check(dpm_solver_1_coefficients(s, t), "dpm_solver_1_step");
                            else dpm_solver_1_step<T>(x, xc, cv(m0), s, t, pol);
                        } else if (opt.order == 2) {
                            const grid_point s1 = intermediate_point(schedule, s, t, 0.5);
                            if constexpr (Dry) {
                                check(dpm_solver_1_coefficients(s, s1), "dpm_solver_1_step");
                                evaluate(xc, s1, ws.stage2_);
                                check(dpm_solver_2_coefficients(s, s1, t), "dpm_solver_2_step");
                            } else {
                                dpm_solver_1_step<T>(mv(ws.stage_), xc, cv(m0), s, s1, pol);
                                evaluate(cv(ws.stage_), s1, ws.stage2_);
                                dpm_solver_2_step<T>(x, xc, cv(m0), cv(ws.stage2_), s, s1, t, pol);
                            }
                        } else {
                            const grid_point s1 = intermediate_point(schedule, s, t, 1.0 / 3.0);
                            const grid_point s2 = intermediate_point(schedule, s, t, 2.0 / 3.0);
                            if constexpr (Dry) {
                                check(dpm_solver_1_coefficients(s, s1), "dpm_solver_1_step");
                                evaluate(xc, s1, ws.stage2_);
                                check(dpm_solver_3_stage_coefficients(s, s1, s2, t), "dpm_solver_3_stage");
                                evaluate(xc, s2, ws.stage2_);
                                check(dpm_solver_3_coefficients(s, s2, t), "dpm_solver_3_step");
                            } else {
                                dpm_solver_1_step<T>(mv(ws.stage_), xc, cv(m0), s, s1, pol);
                                evaluate(cv(ws.stage_), s1, ws.stage2_);  // eps at s1
                                dpm_solver_3_stage<T>(mv(ws.stage_), xc, cv(m0), cv(ws.stage2_), s, s1, s2, t, pol);
                                evaluate(cv(ws.stage_), s2, ws.stage2_);  // eps at s2
                                dpm_solver_3_step<T>(x, xc, cv(m0), cv(ws.stage2_), s, s2, t, pol);
                            }
                        }
                        break;
                    }
                    case solver_kind::dpm_solver_pp_2s: {
                        const grid_point s1 = intermediate_point(schedule, s, t, 0.5);
                        if constexpr (Dry) {
                            check(dpm_solver_pp_1_coefficients(s, s1), "dpm_solver_pp_1_step");
                            evaluate(xc, s1, ws.stage2_);
                            check(dpm_solver_pp_2s_coefficients(s, s1, t), "dpm_solver_pp_2s_step");
                        } else {
                            dpm_solver_pp_1_step<T>(mv(ws.stage_), xc, cv(m0), s, s1, pol);
                            evaluate(cv(ws.stage_), s1, ws.stage2_);
                            dpm_solver_pp_2s_step<T>(x, xc, cv(m0), cv(ws.stage2_), s, s1, t, pol);
                        }
                        break;
                    }
                    case solver_kind::dpm_solver_pp_2s_ancestral: {
                        const double lam_mid = dpm_solver_pp_2s_ancestral_midpoint_lambda(s, t, eta);
                        if (!std::isfinite(lam_mid)) {  // sigma_down = 0: Euler to the bottom, then noise
                            if constexpr (Dry) {
                                check(euler_ancestral_coefficients(s, t, eta, opt.s_noise), "euler_ancestral_step");
                            } else {
                                fill_noise(i);
                                euler_ancestral_step<T>(x, xc, cv(m0), cv(ws.noise_), s, t, eta, opt.s_noise, pol);
                            }
                            break;
                        }
                        grid_point mid;
                        mid.t = schedule.t_of_lambda(lam_mid);
                        mid.alpha = schedule.alpha(mid.t);
                        mid.sigma = schedule.sigma(mid.t);
                        mid.lambda = schedule.lambda(mid.t);
                        if constexpr (Dry) {
                            check(dpm_solver_pp_1_coefficients(s, mid), "dpm_solver_pp_1_step");
                            evaluate(xc, mid, ws.stage2_);
                            check(dpm_solver_pp_2s_ancestral_coefficients(s, t, eta, opt.s_noise),
                                  "dpm_solver_pp_2s_ancestral_step");
                        } else {
                            dpm_solver_pp_1_step<T>(mv(ws.stage_), xc, cv(m0), s, mid, pol);
                            evaluate(cv(ws.stage_), mid, ws.stage2_);
                            fill_noise(i);
                            dpm_solver_pp_2s_ancestral_step<T>(x, xc, cv(ws.stage2_), cv(ws.noise_), s, t, eta,
                                                               opt.s_noise, pol);
                        }
                        break;
                    }
                    case solver_kind::dpm_solver_pp:
                    case solver_kind::dpm_solver_pp_sde:
                    case solver_kind::deis: {
                        // diffusers DPMSolverMultistep/DEIS: lower_order_final on short grids, euler_at_final.
                        if (last && (opt.euler_at_final || (opt.lower_order_final && short_grid))) order = 1;
                        if (second_last && opt.lower_order_final && short_grid) order = std::min<std::size_t>(order, 2);
                        if (opt.solver == solver_kind::deis) {
                            if constexpr (Dry) {
                                check(deis_coefficients(pts.data(), order, t), "deis_step");
                            } else {
                                std::array<vector_view<const T>, 3> h{hv(0), hv(1), hv(2)};
                                deis_step<T>(x, xc, h.data(), pts.data(), order, t, pol);
                            }
                        } else if (opt.solver == solver_kind::dpm_solver_pp) {
                            if constexpr (Dry) {
                                if (order == 1) check(dpm_solver_pp_1_coefficients(s, t), "dpm_solver_pp_1_step");
                                else if (order == 2)
                                    check(dpm_solver_pp_2m_coefficients(pts[1], s, t, opt.second_order),
                                          "dpm_solver_pp_2m_step");
                                else
                                    check(dpm_solver_pp_3m_coefficients(pts[2], pts[1], s, t, opt.third_order),
                                          "dpm_solver_pp_3m_step");
                            } else {
                                if (order == 1) dpm_solver_pp_1_step<T>(x, xc, hv(0), s, t, pol);
                                else if (order == 2)
                                    dpm_solver_pp_2m_step<T>(x, xc, hv(0), hv(1), pts[1], s, t, opt.second_order, pol);
                                else
                                    dpm_solver_pp_3m_step<T>(x, xc, hv(0), hv(1), hv(2), pts[2], pts[1], s, t,
                                                             opt.third_order, pol);
                            }
                        } else {
                            const second_order_form form2 =
                                opt.order == 3 ? second_order_form::heun : opt.second_order;
                            if constexpr (Dry) {
                                if (order == 1)
                                    check(dpm_solver_pp_sde_1_coefficients(s, t, eta, opt.s_noise),
                                          "dpm_solver_pp_sde_1_step");
                                else if (order == 2)
                                    check(dpm_solver_pp_2m_sde_coefficients(pts[1], s, t, form2, eta, opt.s_noise),
                                          "dpm_solver_pp_2m_sde_step");
                                else
                                    check(dpm_solver_pp_3m_sde_coefficients(pts[2], pts[1], s, t, eta, opt.s_noise),
                                          "dpm_solver_pp_3m_sde_step");
                            } else {
                                fill_noise(i);
                                const auto z = cv(ws.noise_);
                                if (order == 1) dpm_solver_pp_sde_1_step<T>(x, xc, hv(0), z, s, t, eta, opt.s_noise, pol);
                                else if (order == 2)
                                    dpm_solver_pp_2m_sde_step<T>(x, xc, hv(0), hv(1), z, pts[1], s, t, form2, eta,
                                                                 opt.s_noise, pol);
                                else
                                    dpm_solver_pp_3m_sde_step<T>(x, xc, hv(0), hv(1), hv(2), z, pts[2], pts[1], s, t, eta,
                                                                 opt.s_noise, pol);
                            }
                        }
                        break;
                    }
                    case solver_kind::unipc: {
                        if (opt.lower_order_final) order = std::min(order, steps - i);
                        if constexpr (Dry) {
                            check(unipc_coefficients(pts.data(), order, t, false, opt.unipc, opt.unipc_predict_x0),
                                  "unipc_predictor_step");
                        } else {
                            simd::lincomb(mv(ws.prev_), {1.0}, {xc}, pol);  // the corrector needs x at s
                            std::array<vector_view<const T>, 3> h{hv(0), hv(1), hv(2)};
                            unipc_predictor_step<T>(x, xc, h.data(), pts.data(), order, t, opt.unipc,
                                                    opt.unipc_predict_x0, pol);
                        }
                        unipc_last_order = order;
                        break;
                    }
                }
            }
            if constexpr (!Dry) on_step(step_info<T>{i, steps, s, t, xc});
        }
    };

    // Dry run: an error at step i is reported as sample's, with the step and the inner reason.
#if KESTREL_HAS_EXCEPTIONS
    try {
        run(std::true_type{});
    } catch (const ::kestrel::invalid_argument& e) {
        fail_argument(fn, "grid", "step ", current_step, " (t = ", grid[current_step].t, " -> ",
                      grid[current_step + 1].t, ") cannot be taken with these options: ", e.what());
    }
#else
    run(std::true_type{});
#endif
    ws.reserve(n);
    run(std::false_type{});
    return nfe;
}

}  // namespace diffusion
}  // namespace kestrel
