// Table-driven argument validation of the diffusion family: every row feeds one public entry
// point a bad argument and checks that (a) kestrel::invalid_argument is thrown, (b) its message
// names the public function and the argument, (c) the outputs still hold their sentinel values.
// Then the inputs that used to fail and are valid: UniPC-3 on a flow-matching grid,
// t_of_lambda at +-inf, zero-terminal-SNR rescaling past double underflow, the model-output check.
#include <catch2/catch.hpp>

#include "validation_table.hpp"

#include <kestrel/diffusion.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "diffusion/diffusion_test_util.hpp"

using namespace kestrel::diffusion;
using kestrel::exec_policy;
using kestrel::make_view;
using kestrel::vector_view;

namespace {

using V = vector_view<const double>;
using Vf = vector_view<const float>;

constexpr double sentinel = -12345.25;
constexpr double nan_d = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_d = std::numeric_limits<double>::infinity();

struct bad_case {
    const char* function;
    const char* argument;
    const char* what;
    std::function<void()> call;
};

struct outputs {
    std::vector<double> x = std::vector<double>(16);
    std::vector<float> xf = std::vector<float>(16);
    void reset() {
        for (auto& v : x) v = sentinel;
        for (auto& v : xf) v = static_cast<float>(sentinel);
    }
    bool untouched() const {
        for (double v : x)
            if (v != sentinel) return false;
        for (float v : xf)
            if (v != static_cast<float>(sentinel)) return false;
        return true;
    }
};

void run_table(const std::vector<bad_case>& table, outputs& out) {
    for (const bad_case& row : table) {
        out.reset();
        INFO("entry point " << row.function << ", argument " << row.argument << ": " << row.what);
        kestrel_test::check_refusal(row.function, row.argument, row.call);
        CHECK(out.untouched());
    }
}

grid_point make_point(double alpha, double sigma) {
    grid_point p;
    p.t = 0.5;
    p.alpha = alpha;
    p.sigma = sigma;
    p.lambda = std::log(alpha) - std::log(sigma);
    return p;
}

// A model that returns the Gaussian problem's output except on call number `bad_call` (counting
// from 0), where element 3 becomes NaN.
struct nan_model {
    kt::gaussian_problem gp;
    std::size_t bad_call = 0;
    std::size_t calls = 0;
    template <class T>
    void operator()(vector_view<const T> x, const grid_point& p, vector_view<T> out) {
        gp(x, p, out);
        if (calls++ == bad_call) out[3] = std::numeric_limits<T>::quiet_NaN();
    }
};

}  // namespace

TEST_CASE("diffusion entry points refuse bad arguments before writing and name the function and the argument",
          "[diffusion][errors]") {
    outputs o;
    const auto lv = noise_schedule::linear_vp();
    const auto fl = noise_schedule::flow();
    const auto edm = noise_schedule::edm(80);
    const auto g = uniform_logsnr_grid(lv, 10, 1.0, 1e-3);
    const auto fg = flow_matching_grid(fl, 8, 3.0);
    kt::gaussian_problem gp;
    kt::gaussian_problem gp_flow;
    gp_flow.kind = prediction::flow_velocity;
    sampler_workspace<double> ws;
    const std::vector<double> a(16, 0.5), b(15, 0.5);
    const std::vector<float> af(16, 0.5f);
    const auto s = point_at(lv, 0.8), t = point_at(lv, 0.6), u = point_at(lv, 0.4), r = point_at(lv, 0.9);
    const auto tiny_alpha = make_point(1e-40, 1.0), ordinary = make_point(0.5, 0.8);
    const exec_policy negative{-1};
    std::vector<double> nan_x0(16, 0.25);
    nan_x0[12] = nan_d;  // in the second of two samples
    const std::vector<double> nan_x0_before = nan_x0;
    const std::size_t huge = std::numeric_limits<std::size_t>::max();

    auto opts = [](auto edit) {
        sampler_options op;
        edit(op);
        return op;
    };
    auto run_sample = [&](const sampler_options& op, const timestep_grid& grid, const noise_schedule& sch,
                          const kt::gaussian_problem& model) { sample(model, sch, grid, op, make_view(o.x), ws); };
    std::array<grid_point, 3> pts{t, s, r};
    std::array<V, 3> hist{V(a), V(a), V(a)};

    std::vector<bad_case> table = {
        // the sampler
        {"sample", "order", "order 4 for DPM-Solver++", [&] { run_sample(opts([](auto& op) { op.order = 4; }), g, lv, gp); }},
        {"sample", "policy.threads", "negative thread count",
         [&] { run_sample(opts([](auto& op) { op.policy = exec_policy{-2}; }), g, lv, gp); }},
        {"sample", "batch", "batch 0", [&] { run_sample(opts([](auto& op) { op.batch = 0; }), g, lv, gp); }},
        {"sample", "batch", "batch 3 does not divide 16", [&] { run_sample(opts([](auto& op) { op.batch = 3; }), g, lv, gp); }},
        {"sample", "eta", "eta = -1", [&] {
             run_sample(opts([](auto& op) { op.solver = solver_kind::dpm_solver_pp_sde; op.eta = -1; }), g, lv, gp); }},
        {"sample", "s_noise", "s_noise = inf", [&] { run_sample(opts([](auto& op) { op.s_noise = inf_d; }), g, lv, gp); }},
        {"sample", "threshold_ratio", "NaN ratio", [&] {
             run_sample(opts([](auto& op) { op.thresholding = true; op.threshold_ratio = nan_d; }), g, lv, gp); }},
        {"sample", "disable_corrector", "index beyond the grid", [&] {
             run_sample(opts([](auto& op) { op.solver = solver_kind::unipc; op.disable_corrector = {99}; }), g, lv, gp); }},
        {"sample", "solver", "not a solver_kind",
         [&] { run_sample(opts([](auto& op) { op.solver = static_cast<solver_kind>(77); }), g, lv, gp); }},
        {"sample", "model_prediction", "not a prediction kind",
         [&] { run_sample(opts([](auto& op) { op.model_prediction = static_cast<prediction>(9); }), g, lv, gp); }},
        {"sample", "grid", "one point", [&] { run_sample(sampler_options{}, timestep_grid{g.front()}, lv, gp); }},
        {"sample", "grid", "grid of another schedule", [&] {
             run_sample(sampler_options{}, karras_grid(edm, 5, 0.01, 80.0), lv, gp); }},
        {"sample", "grid", "noise-prediction DDIM from alpha = 0", [&] {
             run_sample(opts([](auto& op) { op.solver = solver_kind::ddim; op.order = 1;
                                            op.model_prediction = prediction::flow_velocity; }), fg, fl, gp_flow); }},
        {"sample", "grid", "UniPC bh1: the corrector after the alpha = 0 point has an infinite coefficient (found before step 0)",
         [&] { run_sample(opts([](auto& op) { op.solver = solver_kind::unipc; op.order = 3; op.unipc = unipc_variant::bh1;
                                              op.model_prediction = prediction::flow_velocity; }), fg, fl, gp_flow); }},
        {"sample", "model output", "the model returns NaN at the first evaluation", [&] {
             nan_model m;
             sampler_options op;
             sample(m, lv, g, op, make_view(o.x), ws); }},
        // step kernels
        {"ddim_step", "eps", "eps of another size", [&] { ddim_step<double>(make_view(o.x), V(a), V(b), s, t); }},
        {"ddim_step", "eta", "eta = -0.5", [&] { ddim_step<double>(make_view(o.x), V(a), V(a), V(a), s, t, -0.5); }},
        {"ddim_step", "t", "a backwards step", [&] { ddim_step<double>(make_view(o.x), V(a), V(a), t, s); }},
        {"ddim_step", "x", "x overlaps x_out by one element", [&] {
             ddim_step<double>(vector_view<double>(o.x.data(), 8), V(o.x.data() + 1, 8), V(a.data(), 8), s, t); }},
        {"ddim_step", "x", "coefficient 5e39 overflows float", [&] {
             ddim_step<float>(make_view(o.xf), Vf(af), Vf(af), tiny_alpha, ordinary); }},
        {"ddim_step", "policy.threads", "negative thread count", [&] { ddim_step<double>(make_view(o.x), V(a), V(a), s, t, negative); }},
        {"euler_step", "denoised", "size mismatch", [&] { euler_step<double>(make_view(o.x), V(a), V(b), s, t); }},
        {"heun_step", "t", "clean t", [&] { heun_step<double>(make_view(o.x), V(a), V(a), V(a), V(a), s, clean_point()); }},
        {"euler_ancestral_step", "eta", "eta = -1 (was reported by ancestral_step_sigmas)", [&] {
             euler_ancestral_step<double>(make_view(o.x), V(a), V(a), V(a), s, t, -1.0); }},
        {"dpm_solver_pp_2s_ancestral_step", "eta", "eta NaN", [&] {
             dpm_solver_pp_2s_ancestral_step<double>(make_view(o.x), V(a), V(a), V(a), s, t, nan_d); }},
        {"dpm_solver_pp_2s_ancestral_midpoint_lambda", "eta", "eta = -1",
         [&] { dpm_solver_pp_2s_ancestral_midpoint_lambda(s, t, -1.0); }},
        {"ancestral_step_sigmas", "sigma_to", "sigma_to above sigma_from", [&] { ancestral_step_sigmas(1.0, 2.0); }},
        {"ancestral_step_sigmas", "sigma_from", "sigma_from NaN", [&] { ancestral_step_sigmas(nan_d, 0.5); }},
        {"dpm_solver_1_step", "t", "clean t", [&] { dpm_solver_1_step<double>(make_view(o.x), V(a), V(a), s, clean_point()); }},
        {"dpm_solver_2_step", "s1", "s1 outside (s, t)", [&] { dpm_solver_2_step<double>(make_view(o.x), V(a), V(a), V(a), s, u, t); }},
        {"dpm_solver_3_stage", "s2", "s2 before s1", [&] {
             dpm_solver_3_stage<double>(make_view(o.x), V(a), V(a), V(a), s, point_at(lv, 0.65), point_at(lv, 0.75), t); }},
        {"dpm_solver_pp_1_step", "x", "x of another size", [&] { dpm_solver_pp_1_step<double>(make_view(o.x), V(b), V(a), s, t); }},
        {"dpm_solver_pp_2m_step", "s1", "history after s0", [&] {
             dpm_solver_pp_2m_step<double>(make_view(o.x), V(a), V(a), V(a), t, s, u); }},
        {"dpm_solver_pp_3m_step", "s2", "history out of order", [&] {
             dpm_solver_pp_3m_step<double>(make_view(o.x), V(a), V(a), V(a), V(a), s, r, t, u); }},
        {"dpm_solver_pp_sde_1_step", "s_noise", "s_noise = -1", [&] {
             dpm_solver_pp_sde_1_step<double>(make_view(o.x), V(a), V(a), V(a), s, t, 1.0, -1.0); }},
        {"dpm_solver_pp_2m_sde_step", "eta", "eta = inf", [&] {
             dpm_solver_pp_2m_sde_step<double>(make_view(o.x), V(a), V(a), V(a), V(a), r, s, t, second_order_form::midpoint, inf_d); }},
        {"unipc_predictor_step", "order", "order 4", [&] {
             unipc_predictor_step<double>(make_view(o.x), V(a), hist.data(), pts.data(), 4, u); }},
        {"unipc_predictor_step", "history", "null history", [&] {
             unipc_predictor_step<double>(make_view(o.x), V(a), nullptr, pts.data(), 2, u); }},
        {"unipc_predictor_step", "points", "null points", [&] {
             unipc_predictor_step<double>(make_view(o.x), V(a), hist.data(), nullptr, 2, u); }},
        {"unipc_corrector_step", "model_t", "model_t of another size", [&] {
             unipc_corrector_step<double>(make_view(o.x), V(a), hist.data(), pts.data(), 2, V(b), u); }},
        {"deis_step", "order", "order 0", [&] { deis_step<double>(make_view(o.x), V(a), hist.data(), pts.data(), 0, u); }},
        // conversions and tools
        {"convert_prediction", "to", "to = velocity", [&] {
             convert_prediction<double>(make_view(o.x), V(a), V(a), prediction::noise, prediction::velocity, s); }},
        {"convert_prediction", "model_output", "size mismatch", [&] {
             convert_prediction<double>(make_view(o.x), V(a), V(b), prediction::noise, prediction::data, s); }},
        {"convert_prediction", "x", "x overlaps out partially", [&] {
             convert_prediction<double>(vector_view<double>(o.x.data(), 8), V(o.x.data() + 2, 8), V(a.data(), 8),
                                        prediction::noise, prediction::data, s); }},
        {"convert_prediction", "point", "noise -> data at alpha = 0", [&] {
             convert_prediction<double>(make_view(o.x), V(a), V(a), prediction::noise, prediction::data, fg.front()); }},
        {"convert_prediction", "point", "1/alpha = 1e40 overflows float", [&] {
             convert_prediction<float>(make_view(o.xf), Vf(af), Vf(af), prediction::noise, prediction::data, tiny_alpha); }},
        {"convert_prediction", "from", "not a prediction kind", [&] {
             convert_prediction<double>(make_view(o.x), V(a), V(a), static_cast<prediction>(11), prediction::data, s); }},
        {"classifier_free_guidance", "scale", "NaN scale", [&] {
             classifier_free_guidance<double>(make_view(o.x), V(a), V(a), nan_d); }},
        {"classifier_free_guidance", "scale", "scale 1e39 overflows float", [&] {
             classifier_free_guidance<float>(make_view(o.xf), Vf(af), Vf(af), 1e39); }},
        {"classifier_free_guidance", "cond", "size mismatch", [&] {
             classifier_free_guidance<double>(make_view(o.x), V(a), V(b), 7.5); }},
        {"classifier_free_guidance", "uncond", "uncond overlaps out partially", [&] {
             classifier_free_guidance<double>(vector_view<double>(o.x.data(), 8), V(o.x.data() + 1, 8), V(a.data(), 8), 7.5); }},
        {"classifier_free_guidance", "rescale", "rescale 1.5", [&] {
             classifier_free_guidance<double>(make_view(o.x), V(a), V(a), 7.5, 1.5, 2); }},
        {"classifier_free_guidance", "batch", "batch 3 does not divide 16", [&] {
             classifier_free_guidance<double>(make_view(o.x), V(a), V(a), 7.5, 0.7, 3); }},
        {"classifier_free_guidance", "rescale", "rescale factor overflows float (was written, then lincomb threw)", [&] {
             std::vector<float> un(16), co(16);
             for (std::size_t i = 0; i < 16; ++i) {
                 un[i] = (i % 2) ? 1e-30f : 0.0f;
                 co[i] = (i % 2) ? 1e9f : -1e9f;
             }
             classifier_free_guidance<float>(make_view(o.xf), Vf(un), Vf(co), 0.0, 0.7, 2); }},
        {"classifier_free_guidance", "policy.threads", "negative thread count", [&] {
             classifier_free_guidance<double>(make_view(o.x), V(a), V(a), 2.0, negative); }},
        {"dynamic_threshold_inplace", "scratch", "scratch aliases x0", [&] {
             dynamic_threshold_inplace<double>(make_view(o.x), 2, 0.9, 1.0, vector_view<double>(o.x.data() + 4, 8)); }},
        {"dynamic_threshold_inplace", "ratio", "NaN ratio", [&] { dynamic_threshold_inplace<double>(make_view(o.x), 1, nan_d, 1.0); }},
        {"dynamic_threshold_inplace", "batch", "batch 0", [&] { dynamic_threshold_inplace<double>(make_view(o.x), 0); }},
        {"dynamic_threshold_inplace", "max_value", "max_value 0.5", [&] { dynamic_threshold_inplace<double>(make_view(o.x), 1, 0.9, 0.5); }},
        {"dynamic_threshold_inplace", "x0", "NaN in the second sample (the first must not be written)", [&] {
             dynamic_threshold_inplace<double>(make_view(nan_x0), 2, 0.9, 1.0); }},
        {"quantile_inplace", "n", "n = 0", [&] { std::vector<double> v{1.0}; quantile_inplace(v.data(), 0, 0.5); }},
        {"quantile_inplace", "q", "q NaN", [&] { std::vector<double> v{1.0, 2.0}; quantile_inplace(v.data(), 2, nan_d); }},
        {"quantile_inplace", "q", "q = 1.5", [&] { std::vector<double> v{1.0, 2.0}; quantile_inplace(v.data(), 2, 1.5); }},
        {"quantile_inplace", "values", "NaN value", [&] { std::vector<double> v{1.0, nan_d, 3.0}; quantile_inplace(v.data(), 3, 0.5); }},
        {"quantile_inplace", "values", "null values", [&] { quantile_inplace(static_cast<double*>(nullptr), 3, 0.5); }},
        // schedules
        {"noise_schedule::t_of_lambda", "lambda", "NaN", [&] { lv.t_of_lambda(nan_d); }},
        {"noise_schedule::t_of_sigma_ve", "sigma", "negative sigma", [&] { lv.t_of_sigma_ve(-1.0); }},
        {"noise_schedule::alpha", "t", "NaN t", [&] { noise_schedule::discrete_from_betas(linear_betas()).alpha(nan_d); }},
        {"noise_schedule::lambda", "t", "NaN t", [&] { lv.lambda(nan_d); }},
        {"noise_schedule::discrete_from_betas", "betas", "beta 1.5", [&] { noise_schedule::discrete_from_betas({0.1, 1.5}); }},
        {"noise_schedule::discrete_from_betas", "betas", "two unit betas (was reported by discrete_from_alphas_cumprod)",
         [&] { noise_schedule::discrete_from_betas({0.1, 1.0, 1.0}); }},
        {"noise_schedule::discrete_from_alphas_cumprod", "alphas_cumprod", "not decreasing",
         [&] { noise_schedule::discrete_from_alphas_cumprod({0.9, 0.95}); }},
        {"noise_schedule::linear_vp", "beta_0/beta_1", "NaN beta_1", [&] { noise_schedule::linear_vp(0.1, nan_d); }},
        {"noise_schedule::edm", "sigma_max", "inf sigma_max", [&] { noise_schedule::edm(inf_d); }},
        {"rescale_zero_terminal_snr", "betas", "NaN beta", [&] { rescale_zero_terminal_snr({0.1, nan_d, 0.2}); }},
        {"linear_betas", "num_train_timesteps", "1 timestep", [&] { linear_betas(1); }},
        // grids
        {"uniform_time_grid", "steps", "SIZE_MAX steps (steps + 1 wraps to 0)", [&] { uniform_time_grid(lv, huge, 1.0, 0.1); }},
        {"karras_grid", "steps", "2^40 steps", [&] { karras_grid(edm, std::size_t(1) << 40, 0.01, 80.0); }},
        {"exponential_grid", "sigma_min/sigma_max", "sigma_min = 0", [&] { exponential_grid(edm, 10, 0.0, 80.0); }},
        {"uniform_logsnr_grid", "t_end", "NaN t_end", [&] { uniform_logsnr_grid(lv, 10, 1.0, nan_d); }},
        {"time_quadratic_grid", "t_start", "t_start below t_end", [&] { time_quadratic_grid(lv, 10, 0.1, 0.5); }},
        {"flow_matching_grid", "shift", "NaN shift", [&] { flow_matching_grid(fl, 10, nan_d); }},
        {"flow_matching_grid", "steps", "SIZE_MAX steps", [&] { flow_matching_grid(fl, huge); }},
        {"diffusers_grid", "steps_offset", "SIZE_MAX offset (wrapped past the range check)", [&] {
             diffusers_grid(noise_schedule::discrete_from_betas(linear_betas()), 10, timestep_spacing::leading, huge); }},
        {"shift_flow_time", "t", "NaN t", [&] { shift_flow_time(nan_d, 3.0); }},
        {"shift_flow_time", "shift", "shift -1 (denominator 0 at t = 0.5)", [&] { shift_flow_time(0.5, -1.0); }},
        {"grid_from_times", "times", "not decreasing", [&] { grid_from_times(lv, {1.0, 0.5, 0.6}); }},
        {"point_at", "t", "t outside the schedule", [&] { point_at(lv, 1.5); }},
        {"validate_grid", "grid", "one point", [&] { validate_grid(timestep_grid{g.front()}); }},
        {"intermediate_point", "r", "r = 1.5", [&] { intermediate_point(lv, s, t, 1.5); }},
    };
    run_table(table, o);
    CHECK(std::memcmp(nan_x0.data(), nan_x0_before.data(), nan_x0.size() * sizeof(double)) == 0);
}

TEST_CASE("UniPC-3 on a flow-matching grid with a flow-velocity model converges to the exact flow",
          "[diffusion][errors]") {
    // Gaussian data, flow schedule from t = 1 (alpha = 0, lambda = -inf) to the clean end. The exact
    // end point of the probability-flow ODE is mu + s x_1 (kt::gaussian_problem::exact).
    const auto fl = noise_schedule::flow();
    kt::gaussian_problem gp;
    gp.kind = prediction::flow_velocity;
    auto start = [] {
        std::vector<double> x(8);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = -1.5 + 0.4 * double(i);
        return x;
    };
    sampler_options o;
    o.solver = solver_kind::unipc;
    o.order = 3;
    o.model_prediction = prediction::flow_velocity;
    std::vector<double> errs, ns{160, 320, 640};
    for (double n : ns) {
        const auto g = flow_matching_grid(fl, std::size_t(n), 3.0);
        std::vector<double> x = start();
        const auto x1 = x;
        sampler_workspace<double> ws;
        REQUIRE_NOTHROW(sample(gp, fl, g, o, make_view(x), ws));
        double e = 0;
        for (std::size_t i = 0; i < x.size(); ++i) e = std::max(e, std::fabs(x[i] - gp.exact(x1[i], g.front(), g.back())));
        errs.push_back(e);
        // The update at the lambda = -inf point is the limit of the general one: moving the
        // first point to t = 1 - 1e-9 (finite lambda, the general formulas) changes little.
        auto g2 = g;
        g2[0] = point_at(fl, 1.0 - 1e-9);
        std::vector<double> y = x1;
        sample(gp, fl, g2, o, make_view(y), ws);
        for (std::size_t i = 0; i < x.size(); ++i) CHECK(y[i] == Approx(x[i]).margin(1e-6));
    }
    // The clean end is a denoising step whose error is O(sigma_last^2) = O(N^-2): second order overall.
    const double order = kt::fitted_order(ns, errs);
    INFO("errors " << errs[0] << " " << errs[1] << " " << errs[2] << " order " << order);
    CHECK(order >= 1.7);
    CHECK(errs.back() < 1e-4);
    {  // bh1 runs when the one correction from the alpha = 0 point (B(h) = h = inf there) is disabled
        sampler_options o1 = o;
        o1.unipc = unipc_variant::bh1;
        o1.disable_corrector = {0};
        const auto g = flow_matching_grid(fl, 160, 3.0);
        std::vector<double> x = start();
        const auto x1 = x;
        sampler_workspace<double> ws;
        REQUIRE_NOTHROW(sample(gp, fl, g, o1, make_view(x), ws));
        for (std::size_t i = 0; i < x.size(); ++i) CHECK(x[i] == Approx(gp.exact(x1[i], g.front(), g.back())).margin(1e-2));
    }
    // The same limit in float: no error, and close to the double result.
    const auto g = flow_matching_grid(fl, 20, 3.0);
    std::vector<float> xf(8);
    std::vector<double> xd(8);
    for (std::size_t i = 0; i < xf.size(); ++i) xd[i] = xf[i] = float(-1.5 + 0.4 * double(i));
    sampler_workspace<float> wsf;
    sampler_workspace<double> wsd;
    sample(gp, fl, g, o, make_view(xf), wsf);
    sample(gp, fl, g, o, make_view(xd), wsd);
    for (std::size_t i = 0; i < xf.size(); ++i) CHECK(double(xf[i]) == Approx(xd[i]).margin(1e-5));
}

TEST_CASE("t_of_lambda clamps infinite and huge lambda to the ends of every schedule", "[diffusion][errors]") {
    const std::vector<noise_schedule> schedules{noise_schedule::linear_vp(), noise_schedule::cosine_vp(),
                                                noise_schedule::edm(80), noise_schedule::flow(),
                                                noise_schedule::discrete_from_betas(scaled_linear_betas())};
    for (const auto& sch : schedules) {
        INFO("schedule kind " << int(sch.kind()));
        CHECK(sch.t_of_lambda(-inf_d) == sch.t_max());
        CHECK(sch.t_of_lambda(-1e300) == sch.t_max());
        CHECK(sch.t_of_lambda(inf_d) == sch.t_min());
        CHECK(sch.t_of_lambda(1e300) == sch.t_min());
        CHECK(sch.t_of_sigma_ve(inf_d) == sch.t_max());
        CHECK(sch.t_of_sigma_ve(0.0) == sch.t_min());
        // inside the range the inverse still inverts
        const double tm = 0.5 * sch.t_max();
        CHECK(sch.t_of_lambda(sch.lambda(tm)) == Approx(tm).epsilon(1e-9));
    }
}

TEST_CASE("rescale_zero_terminal_snr stays correct when alphas_cumprod underflows double", "[diffusion][errors]") {
    // betas from 0.5 to 0.7 over 1100 steps: alphas_cumprod reaches about 1e-438, below double's range; long
    // double (x87, exponent to -16382) holds it, so Algorithm 1 runs there as the reference.
    REQUIRE(LDBL_MIN_EXP < -16000);
    std::vector<double> betas(1100);
    for (std::size_t i = 0; i < betas.size(); ++i) betas[i] = 0.5 + 0.2 * double(i) / double(betas.size());
    const auto got = rescale_zero_terminal_snr(betas);
    std::vector<long double> sq(betas.size());
    long double acp = 1.0L;
    for (std::size_t i = 0; i < betas.size(); ++i) {
        acp *= 1.0L - (long double)betas[i];
        sq[i] = std::sqrt(acp);
    }
    const long double first = sq.front(), last = sq.back();
    for (auto& v : sq) v = (v - last) * first / (first - last);
    std::size_t nan_count = 0;
    for (std::size_t i = 0; i < betas.size(); ++i) {
        const long double want = i == 0 ? 1.0L - sq[0] * sq[0] : 1.0L - (sq[i] * sq[i]) / (sq[i - 1] * sq[i - 1]);
        if (std::isnan(got[i])) ++nan_count;
        INFO("i = " << i);
        CHECK(got[i] == Approx(double(want)).epsilon(1e-9));
    }
    CHECK(nan_count == 0);
    CHECK(got.back() == 1.0);
    // a schedule from betas whose alphas_cumprod underflow builds (log alpha accumulated in logs)
    std::vector<double> heavy(1000, 0.9);  // alphas_cumprod = 0.1^1000
    const auto sch = noise_schedule::discrete_from_betas(heavy);
    CHECK(sch.log_alpha(999.0) == Approx(0.5 * 1000.0 * std::log(0.1)).epsilon(1e-12));
}

TEST_CASE("sample stops on a model that writes NaN and says where and x holds the state at that step", "[diffusion][errors]") {
    const auto lv = noise_schedule::linear_vp();
    const auto g = uniform_logsnr_grid(lv, 10, 1.0, 1e-3);
    for (auto k : {solver_kind::dpm_solver_pp, solver_kind::unipc, solver_kind::euler}) {
        INFO("solver " << int(k));
        sampler_options o;
        o.solver = k;
        o.order = k == solver_kind::euler ? 1 : 2;
        std::vector<double> x0(16);
        for (std::size_t i = 0; i < x0.size(); ++i) x0[i] = -1.0 + 0.13 * double(i);
        // reference: the state when step 3 starts, from a run with a clean model
        std::vector<double> x = x0, at_step3;
        sampler_workspace<double> ws;
        kt::gaussian_problem gp;
        sample(gp, lv, g, o, make_view(x), ws, [&](const step_info<double>& info) {
            if (info.index == 2) at_step3.assign(info.x.begin(), info.x.end());
        });
        REQUIRE(at_step3.size() == x0.size());
        // the model goes bad on its 4th call: step 3's evaluation (one call per step here)
        nan_model m;
        m.bad_call = 3;
        x = x0;
        std::string message;
        try {
            sample(m, lv, g, o, make_view(x), ws);
        } catch (const kestrel::invalid_argument& e) {
            message = e.what();
        }
        INFO(message);
        CHECK(message.find("kestrel::sample:") != std::string::npos);
        CHECK(message.find("'model output'") != std::string::npos);
        CHECK(message.find("step 3") != std::string::npos);
        // the state at the start of step 3 (for UniPC: the predictor's result of step 2, which
        // the per-step callback also sees, since the correction waits for step 3's evaluation)
        CHECK(x == at_step3);
        // with the check off, the NaN goes through
        o.check_model_output = false;
        m.calls = 0;
        x = x0;
        CHECK_NOTHROW(sample(m, lv, g, o, make_view(x), ws));
        bool any_nan = false;
        for (double v : x) any_nan = any_nan || std::isnan(v);
        CHECK(any_nan);
    }
    // inf is caught too, in float
    struct inf_model {
        void operator()(vector_view<const float> x, const grid_point&, vector_view<float> out) const {
            for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i];
            out[x.size() - 1] = std::numeric_limits<float>::infinity();
        }
    };
    std::vector<float> xf(37, 0.5f);
    const auto before = xf;
    sampler_workspace<float> wsf;
    CHECK_THROWS_WITH(sample(inf_model{}, lv, g, sampler_options{}, make_view(xf), wsf),
                      Catch::Contains("kestrel::sample") && Catch::Contains("model output") && Catch::Contains("step 0"));
    CHECK(xf == before);
}

TEST_CASE("guidance rescale may now write over cond or uncond and gives the same result", "[diffusion][errors]") {
    std::vector<double> u{1, 2, 3, 4, 0, 0, 1, 1}, c{2, 2, 1, 5, 1, -1, 2, 0}, ref(8);
    classifier_free_guidance<double>(make_view(ref), V(u), V(c), 7.5, 0.7, 2);
    auto c2 = c;
    classifier_free_guidance<double>(make_view(c2), V(u), V(c2), 7.5, 0.7, 2);
    auto u2 = u;
    classifier_free_guidance<double>(make_view(u2), V(u2), V(c), 7.5, 0.7, 2);
    for (std::size_t i = 0; i < 8; ++i) {
        CHECK(c2[i] == Approx(ref[i]).epsilon(1e-14));
        CHECK(u2[i] == Approx(ref[i]).epsilon(1e-14));
    }
}
