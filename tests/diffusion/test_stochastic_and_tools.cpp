// SDE and ancestral samplers (statistics on Gaussian data, thread invariance), thresholding,
// guidance, grids, schedules and error paths.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "diffusion_test_util.hpp"

using namespace kestrel;
using namespace kestrel::diffusion;

namespace {
// Runs `count` independent scalar samples from N(0,1)-scaled noise at t = 1 to t = 1e-3 and
// returns mean and variance of the results.
std::pair<double, double> moments(const sampler_options& o, std::size_t count, std::size_t steps) {
    const auto sch = noise_schedule::linear_vp();
    const auto g = uniform_logsnr_grid(sch, steps, 1.0, 1e-3);
    kt::gaussian_problem gp;
    std::vector<double> x(count);
    fill_normal(make_view(x), counter_rng(12345, 99));
    for (auto& v : x) v *= g.front().sigma;  // x_T ~ N(alpha_T mu, alpha_T^2 s^2 + sigma_T^2) up to alpha_T ~ 6.7e-3
    for (auto& v : x) v += g.front().alpha * gp.mu;
    sampler_workspace<double> ws;
    sample(gp, sch, g, o, make_view(x), ws);
    double m = 0, q = 0;
    for (double v : x) m += v;
    m /= double(count);
    for (double v : x) q += (v - m) * (v - m);
    return {m, q / double(count - 1)};
}
}  // namespace

TEST_CASE("diffusion: SDE and ancestral samplers reproduce the data distribution", "[diffusion][stochastic]") {
    // Target at t = 1e-3: N(alpha mu, alpha^2 s^2 + sigma^2) with mu = 0.7, s = 0.5.
    const auto sch = noise_schedule::linear_vp();
    const auto end = point_at(sch, 1e-3);
    const double mean = end.alpha * 0.7, var = end.alpha * end.alpha * 0.25 + end.sigma * end.sigma;
    const std::size_t n = 100000;
    // 5-sigma bands for the sample mean (sd sqrt(var/n)) and variance (sd var sqrt(2/(n-1))), plus a
    // discretisation-bias budget: the weak error of first-order samplers halves with the step count
    // (variance off by 0.024 at 100 steps, 0.011 at 200, 0.005 at 400 on this problem), so they run
    // 800 steps, higher orders 200.
    const double mean_tol = 5 * std::sqrt(var / n) + 2e-3, var_tol = 5 * var * std::sqrt(2.0 / (n - 1)) + 4e-3;
    struct c { const char* name; solver_kind k; std::size_t order; double eta; };
    for (auto cs : {c{"ddim eta=1", solver_kind::ddim, 1, 1.0}, c{"euler_ancestral", solver_kind::euler_ancestral, 1, 1.0},
                    c{"dpmpp_2s_ancestral", solver_kind::dpm_solver_pp_2s_ancestral, 2, 1.0},
                    c{"dpmpp_sde_1", solver_kind::dpm_solver_pp_sde, 1, 1.0}, c{"dpmpp_2m_sde", solver_kind::dpm_solver_pp_sde, 2, 1.0},
                    c{"dpmpp_3m_sde", solver_kind::dpm_solver_pp_sde, 3, 1.0}, c{"dpmpp_3m_sde eta=0.5", solver_kind::dpm_solver_pp_sde, 3, 0.5}}) {
        sampler_options o;
        o.solver = cs.k;
        o.order = cs.order;
        o.eta = cs.eta;
        o.seed = 7;
        const auto mv = moments(o, n, cs.order == 1 ? 800 : 200);
        INFO(cs.name << ": mean " << mv.first << " (want " << mean << "), variance " << mv.second << " (want " << var << ")");
        CHECK(std::fabs(mv.first - mean) <= mean_tol);
        CHECK(std::fabs(mv.second - var) <= var_tol);
    }
}

TEST_CASE("diffusion: stochastic samplers give the same samples at any thread count", "[diffusion][stochastic]") {
    for (auto k : {solver_kind::dpm_solver_pp_sde, solver_kind::euler_ancestral, solver_kind::ddim}) {
        sampler_options o;
        o.solver = k;
        o.order = k == solver_kind::dpm_solver_pp_sde ? 2 : 1;
        o.eta = 1.0;
        o.seed = 3;
        o.policy = exec_policy::serial();
        const auto a = moments(o, 70000, 12);  // above the parallel threshold
        o.policy = exec_policy::with_threads(2);
        const auto b = moments(o, 70000, 12);
        CHECK(a.first == b.first);
        CHECK(a.second == b.second);
        o.seed = 4;
        const auto c = moments(o, 70000, 12);
        CHECK(a.first != c.first);  // the seed matters
    }
}

TEST_CASE("diffusion: dynamic thresholding matches the quantile rule", "[diffusion][tools]") {
    // two samples of 5: |x| sorted {0.5, 1, 2, 3, 4}; q = 0.75 -> position 3 -> 3.0
    std::vector<double> x{-4, 0.5, 2, -1, 3, 0.1, 0.2, -0.3, 0.4, 0.5};
    dynamic_threshold_inplace(make_view(x), 2, 0.75, 2.5);
    // sample 1: s = min(max(3, 1), 2.5) = 2.5; clamp to [-2.5, 2.5] / 2.5
    const std::vector<double> want1{-1.0, 0.2, 0.8, -0.4, 1.0};
    for (int i = 0; i < 5; ++i) CHECK(x[i] == Approx(want1[i]).epsilon(1e-15));
    // sample 2: quantile 0.4 < 1 -> s = 1: values unchanged
    const std::vector<double> want2{0.1, 0.2, -0.3, 0.4, 0.5};
    for (int i = 0; i < 5; ++i) CHECK(x[5 + i] == want2[i]);
    // interpolation between order statistics: q = 0.9 of {1,2,3,4,5} at position 3.6 -> 4.6
    std::vector<double> v{5, 1, 4, 2, 3};
    CHECK(quantile_inplace(v.data(), 5, 0.9) == Approx(4.6).epsilon(1e-15));
    REQUIRE_THROWS_AS(dynamic_threshold_inplace(make_view(x), 3), kestrel::invalid_argument);
}

TEST_CASE("diffusion: classifier-free guidance and guidance rescale", "[diffusion][tools]") {
    std::vector<double> u{1, 2, 3, 4, 0, 0, 1, 1}, c{2, 2, 1, 5, 1, -1, 2, 0}, out(8);
    const double w = 7.5;
    classifier_free_guidance<double>(make_view(out), vector_view<const double>(u), vector_view<const double>(c), w);
    for (int i = 0; i < 8; ++i) CHECK(out[i] == Approx(u[i] + w * (c[i] - u[i])).epsilon(1e-14));
    const double phi = 0.7;
    classifier_free_guidance<double>(make_view(out), vector_view<const double>(u), vector_view<const double>(c), w, phi, 2);
    for (int b = 0; b < 2; ++b) {
        std::vector<double> g(4);
        double mc = 0, mg = 0;
        for (int i = 0; i < 4; ++i) {
            g[i] = u[4 * b + i] + w * (c[4 * b + i] - u[4 * b + i]);
            mc += c[4 * b + i] / 4;
            mg += g[i] / 4;
        }
        double vc = 0, vg = 0;
        for (int i = 0; i < 4; ++i) {
            vc += (c[4 * b + i] - mc) * (c[4 * b + i] - mc) / 3;
            vg += (g[i] - mg) * (g[i] - mg) / 3;
        }
        for (int i = 0; i < 4; ++i) {
            const double want = phi * g[i] * std::sqrt(vc) / std::sqrt(vg) + (1 - phi) * g[i];
            CHECK(out[4 * b + i] == Approx(want).epsilon(1e-13));
        }
    }
    REQUIRE_THROWS_AS(classifier_free_guidance<double>(make_view(out), vector_view<const double>(u),
                                                       vector_view<const double>(c), w, 1.5, 2),
                      kestrel::invalid_argument);
}

TEST_CASE("diffusion: schedules invert lambda to 1e-10 and match their definitions", "[diffusion][tools]") {
    std::vector<noise_schedule> all{noise_schedule::linear_vp(), noise_schedule::cosine_vp(), noise_schedule::edm(),
                                    noise_schedule::flow(), noise_schedule::discrete_from_betas(linear_betas()),
                                    noise_schedule::discrete_from_betas(scaled_linear_betas()),
                                    noise_schedule::discrete_from_betas(squared_cosine_betas())};
    for (const auto& s : all) {
        for (int k = 1; k < 50; ++k) {
            const double t = s.t_min() + (s.t_max() - s.t_min()) * k / 50.0;
            const double lam = s.lambda(t);
            INFO("kind " << int(s.kind()) << " t " << t);
            CHECK(s.lambda(s.t_of_lambda(lam)) == Approx(lam).margin(1e-10));
            if (s.kind() != schedule_kind::edm && s.kind() != schedule_kind::flow)  // VP: alpha^2 + sigma^2 = 1
                CHECK(s.alpha(t) * s.alpha(t) + s.sigma(t) * s.sigma(t) == Approx(1.0).epsilon(1e-14));
            CHECK(std::log(s.alpha(t) / s.sigma(t)) == Approx(lam).margin(1e-12));
        }
    }
    // linear VP definition: log alpha = -(b1-b0) t^2/4 - b0 t/2
    const auto lv = noise_schedule::linear_vp(0.1, 20);
    CHECK(lv.log_alpha(0.5) == Approx(-19.9 * 0.25 / 4 - 0.05 * 0.5).epsilon(1e-15));
    // flow: alpha = 1 - t, sigma = t
    CHECK(noise_schedule::flow().alpha(0.25) == 0.75);
    CHECK(noise_schedule::flow().sigma(0.25) == 0.25);
    // zero terminal SNR: last alphas_cumprod becomes 0 (stored as 2^-24), first unchanged
    const auto b = scaled_linear_betas();
    const auto rb = rescale_zero_terminal_snr(b);
    CHECK(rb.back() == Approx(1.0).epsilon(1e-15));
    const auto z = noise_schedule::discrete_from_betas(rb);
    CHECK(z.alphas_cumprod().back() == Approx(0x1.0p-24).epsilon(1e-12));
    CHECK(z.alphas_cumprod().front() == Approx(1.0 - b.front()).epsilon(1e-14));
}

TEST_CASE("diffusion: grids hit their endpoints and formulas", "[diffusion][tools]") {
    const auto lv = noise_schedule::linear_vp();
    const auto g = uniform_logsnr_grid(lv, 10, 1.0, 1e-3);
    REQUIRE(g.size() == 11);
    CHECK(g.front().t == 1.0);
    CHECK(g.back().t == 1e-3);
    for (std::size_t i = 1; i < g.size(); ++i)
        CHECK(g[i].lambda - g[i - 1].lambda == Approx((g.back().lambda - g.front().lambda) / 10).epsilon(1e-10));
    const auto q = time_quadratic_grid(lv, 4, 1.0, 0.01);
    CHECK(q[2].t == Approx(std::pow((1.0 + 0.1) / 2, 2)).epsilon(1e-15));
    const auto u = uniform_time_grid(lv, 4, 1.0, 0.2);
    CHECK(u[1].t == Approx(0.8).epsilon(1e-15));

    // Karras on EDM: sigma_i = (smax^(1/7) + i/(n-1)(smin^(1/7) - smax^(1/7)))^7, then 0
    const auto edm = noise_schedule::edm(80);
    const auto k = karras_grid(edm, 10, 0.002, 80.0, 7.0);
    REQUIRE(k.size() == 11);
    for (int i = 0; i < 10; ++i) {
        const double want = std::pow(std::pow(80.0, 1 / 7.0) + i / 9.0 * (std::pow(0.002, 1 / 7.0) - std::pow(80.0, 1 / 7.0)), 7.0);
        CHECK(k[i].sigma_ve() == Approx(want).epsilon(1e-12));
    }
    CHECK(k.back().clean());
    const auto e = exponential_grid(edm, 5, 0.1, 10.0);
    CHECK(e[2].sigma == Approx(1.0).epsilon(1e-12));

    // diffusers spacings, N = 1000, 10 steps
    const auto sd = noise_schedule::discrete_from_betas(scaled_linear_betas());
    const auto lead = diffusers_grid(sd, 10, timestep_spacing::leading, 1);
    CHECK(lead.front().t == 901);
    CHECK(lead[9].t == 1);
    CHECK(lead.back().clean());
    const auto trail = diffusers_grid(sd, 10, timestep_spacing::trailing);
    CHECK(trail.front().t == 999);
    CHECK(trail[9].t == 99);
    const auto lin = diffusers_grid(sd, 10, timestep_spacing::linspace);
    CHECK(lin.front().t == 999);
    CHECK(lin[1].t == 888);  // round(999 * 8/9) = round(888)
    CHECK(lin[9].t == 0);
    const auto lead0 = diffusers_grid(sd, 10, timestep_spacing::leading, 1, final_point::first_timestep);
    CHECK(lead0.back().t == 0);
    CHECK(lead0.back().alpha == Approx(std::sqrt(1 - scaled_linear_betas().front())).epsilon(1e-14));

    // SD3 shift
    CHECK(shift_flow_time(0.5, 3.0) == Approx(0.75).epsilon(1e-15));
    const auto fg = flow_matching_grid(noise_schedule::flow(), 4, 3.0);
    CHECK(fg.front().t == 1.0);
    CHECK(fg.back().clean());
}

TEST_CASE("diffusion: sampler on a clean-ending grid denoises at the last step", "[diffusion][tools]") {
    // Gaussian with s -> 0 data is the point mu; every solver must land on alpha_end * D = mu.
    const auto edm = noise_schedule::edm(80);
    const auto g = karras_grid(edm, 8, 0.01, 80.0);
    kt::gaussian_problem gp;
    gp.s = 1e-9;
    gp.kind = prediction::data;
    for (auto k : {solver_kind::ddim, solver_kind::euler, solver_kind::heun, solver_kind::dpm_solver, solver_kind::dpm_solver_pp,
                   solver_kind::dpm_solver_pp_2s, solver_kind::dpm_solver_pp_sde, solver_kind::unipc, solver_kind::deis,
                   solver_kind::euler_ancestral, solver_kind::dpm_solver_pp_2s_ancestral}) {
        std::vector<double> x{10.0, -30.0, 5.0};
        sampler_options o;
        o.solver = k;
        o.model_prediction = prediction::data;
        o.order = (k == solver_kind::ddim || k == solver_kind::euler || k == solver_kind::euler_ancestral) ? 1 : 2;
        std::size_t calls = 0;
        sampler_workspace<double> ws;
        const std::size_t nfe = sample(gp, edm, g, o, make_view(x), ws, [&](const step_info<double>& info) {
            ++calls;
            CHECK(info.steps == 8);
        });
        INFO("solver " << int(k));
        CHECK(calls == 8);
        CHECK(nfe >= 8);
        for (double v : x) CHECK(v == Approx(0.7).margin(1e-6));
    }
}

TEST_CASE("diffusion: bad input is rejected before anything is written", "[diffusion][errors]") {
    const auto lv = noise_schedule::linear_vp();
    using E = kestrel::invalid_argument;
    REQUIRE_THROWS_AS(grid_from_times(lv, {1.0, 0.5, 0.6}), E);   // not decreasing
    REQUIRE_THROWS_AS(grid_from_times(lv, {1.5, 0.5}), E);        // outside range
    REQUIRE_THROWS_AS(grid_from_times(lv, {1.0}), E);             // one point
    REQUIRE_THROWS_AS(uniform_logsnr_grid(lv, 0, 1.0, 0.1), E);   // no steps
    REQUIRE_THROWS_AS(uniform_logsnr_grid(lv, 5, 0.1, 1.0), E);   // increasing
    REQUIRE_THROWS_AS(karras_grid(noise_schedule::edm(80), 5, 0.1, 100.0), E);  // sigma_max beyond schedule
    REQUIRE_THROWS_AS(karras_grid(noise_schedule::edm(80), 5, 1.0, 0.5), E);
    REQUIRE_THROWS_AS(linear_betas(1000, 0.02, 0.01), E);
    REQUIRE_THROWS_AS(noise_schedule::discrete_from_alphas_cumprod({0.9, 0.95}), E);  // not decreasing
    REQUIRE_THROWS_AS(diffusers_grid(lv, 10), E);  // not discrete

    const auto g = uniform_logsnr_grid(lv, 10, 1.0, 1e-3);
    kt::gaussian_problem gp;
    std::vector<double> x(8, 1.0);
    const auto before = x;
    sampler_workspace<double> ws;
    auto expect_reject = [&](sampler_options o) {
        REQUIRE_THROWS_AS(sample(gp, lv, g, o, make_view(x), ws), E);
        CHECK(x == before);
    };
    sampler_options o;
    o.order = 4;
    expect_reject(o);  // order beyond DPM-Solver++
    o = {};
    o.solver = solver_kind::heun;
    o.order = 3;
    expect_reject(o);
    o = {};
    o.batch = 3;
    expect_reject(o);  // batch does not divide
    o = {};
    o.s_noise = -1;
    expect_reject(o);
    o = {};
    o.solver = solver_kind::dpm_solver_pp_sde;
    o.eta = -0.5;
    expect_reject(o);
    {  // a grid from another schedule whose times fall outside this one's range
        const auto edm_grid = karras_grid(noise_schedule::edm(80), 5, 0.01, 80.0);
        REQUIRE_THROWS_AS(sample(gp, lv, edm_grid, sampler_options{}, make_view(x), ws), E);
        CHECK(x == before);
    }
    o = {};
    o.thresholding = true;
    o.threshold_ratio = 1.5;
    expect_reject(o);
    o = {};
    o.disable_corrector = {100};
    o.solver = solver_kind::unipc;
    expect_reject(o);

    // noise-prediction solver on a flow grid starting at alpha = 0
    const auto fl = noise_schedule::flow();
    const auto fg = flow_matching_grid(fl, 5);
    sampler_options on;
    on.solver = solver_kind::ddim;
    on.order = 1;
    on.model_prediction = prediction::flow_velocity;
    REQUIRE_THROWS_AS(sample(gp, fl, fg, on, make_view(x), ws), E);

    // step kernels: size mismatch, backwards step, eta < 0
    std::vector<double> a(8), b(7);
    const auto s = point_at(lv, 0.8), t = point_at(lv, 0.6);
    REQUIRE_THROWS_AS(dpm_solver_pp_1_step<double>(make_view(a), vector_view<const double>(a), vector_view<const double>(b), s, t), E);
    REQUIRE_THROWS_AS(dpm_solver_pp_1_step<double>(make_view(a), vector_view<const double>(a), vector_view<const double>(a), t, s), E);
    REQUIRE_THROWS_AS(ddim_step<double>(make_view(a), vector_view<const double>(a), vector_view<const double>(a),
                                        vector_view<const double>(a), s, t, -0.5), E);
    REQUIRE_THROWS_AS(dpm_solver_1_step<double>(make_view(a), vector_view<const double>(a), vector_view<const double>(a), s,
                                                clean_point()), E);
    std::array<grid_point, 3> pts{s, point_at(lv, 0.7), point_at(lv, 0.9)};  // history out of order
    std::array<vector_view<const double>, 3> h{vector_view<const double>(a), vector_view<const double>(a), vector_view<const double>(a)};
    REQUIRE_THROWS_AS(unipc_predictor_step<double>(make_view(a), vector_view<const double>(a), h.data(), pts.data(), 3, t), E);
}
