// Measured convergence order of every deterministic solver against closed-form answers.
//
// Expected orders: 1 for DDIM/Euler/DPM-Solver-1/DPM-Solver++1/DEIS-1/UniP-1; 2 for Heun,
// DPM-Solver-2, DPM-Solver++ 2S and 2M (both forms), DEIS-2, UniP-2; 3 for DPM-Solver-3,
// DPM-Solver++ 3M corrected, DEIS-3, UniP-3. UniPC with the corrector UniC raises the order by one
// (Zhao et al. 2023, Theorem 3.3): p + 1. The published DPM-Solver++(3M) is second order: its last
// term uses D2 ~ h^2 m''/2 where the exact integral needs h^2 m'' (shared/research/measured-facts.md);
// we expect 2 and say so here, so a "fix" that changes it fails this test.
// On Gaussian data the multistep third-order methods measure about 4 (the leading error term is
// nearly cancelled on this linear problem), so there we only bound them from below; the
// two-component mixture gives the two-sided check for every solver.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "diffusion_test_util.hpp"

using namespace kestrel;
using namespace kestrel::diffusion;

namespace {

struct solver_case {
    std::string name;
    sampler_options opt;
    double expected;
    bool lower_bound_only_on_gaussian = false;
    std::vector<double> steps = {40, 80, 160, 320};
};

std::vector<solver_case> cases() {
    std::vector<solver_case> v;
    auto add = [&](std::string name, solver_kind k, std::size_t order, double expected) -> solver_case& {
        solver_case c;
        c.name = std::move(name);
        c.opt.solver = k;
        c.opt.order = order;
        c.opt.lower_order_final = false;
        c.expected = expected;
        v.push_back(c);
        return v.back();
    };
    add("ddim", solver_kind::ddim, 1, 1);
    add("euler", solver_kind::euler, 1, 1);
    add("heun", solver_kind::heun, 2, 2);
    add("dpm_solver_1", solver_kind::dpm_solver, 1, 1);
    add("dpm_solver_2", solver_kind::dpm_solver, 2, 2);
    add("dpm_solver_3", solver_kind::dpm_solver, 3, 3);
    add("dpm_solver_pp_1", solver_kind::dpm_solver_pp, 1, 1);
    add("dpm_solver_pp_2s", solver_kind::dpm_solver_pp_2s, 2, 2);
    add("dpm_solver_pp_2m_midpoint", solver_kind::dpm_solver_pp, 2, 2);
    add("dpm_solver_pp_2m_heun", solver_kind::dpm_solver_pp, 2, 2).opt.second_order = second_order_form::heun;
    add("dpm_solver_pp_3m_published", solver_kind::dpm_solver_pp, 3, 2);
    {
        auto& c = add("dpm_solver_pp_3m_corrected", solver_kind::dpm_solver_pp, 3, 3);
        c.opt.third_order = third_order_form::corrected;
        c.lower_bound_only_on_gaussian = true;
    }
    add("deis_1", solver_kind::deis, 1, 1);
    add("deis_2", solver_kind::deis, 2, 2);
    add("deis_3", solver_kind::deis, 3, 3).lower_bound_only_on_gaussian = true;
    for (auto var : {unipc_variant::bh1, unipc_variant::bh2}) {
        const std::string vn = var == unipc_variant::bh1 ? "_bh1" : "_bh2";
        for (std::size_t p = 1; p <= 3; ++p) {
            auto& pred = add("unip_" + std::to_string(p) + vn, solver_kind::unipc, p, double(p));
            pred.opt.use_corrector = false;
            pred.opt.unipc = var;
            if (p == 3) pred.lower_bound_only_on_gaussian = true;
            auto& pc = add("unipc_" + std::to_string(p) + vn, solver_kind::unipc, p, double(p + 1));
            pc.opt.unipc = var;
            if (p == 3) pc.steps = {160, 320, 640, 1280};  // order 4 is reached late
        }
    }
    return v;
}

template <class Problem, class Exact>
double observed_order(const solver_case& c, const Problem& problem, const noise_schedule& sch, Exact&& exact,
                      std::vector<double>* errs_out = nullptr) {
    std::vector<double> errs;
    for (double n : c.steps) {
        const auto g = uniform_logsnr_grid(sch, std::size_t(n), 1.0, 1e-3);
        std::vector<double> x(16);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = -2.0 + 0.27 * double(i);
        const std::vector<double> x0 = x;
        sampler_workspace<double> ws;
        sample(problem, sch, g, c.opt, make_view(x), ws);
        const std::vector<double> want = exact(x0, g);
        double e = 0;
        for (std::size_t i = 0; i < x.size(); ++i) e = std::max(e, std::fabs(x[i] - want[i]));
        errs.push_back(e);
    }
    if (errs_out) *errs_out = errs;
    return kt::fitted_order(c.steps, errs);
}

}  // namespace

TEST_CASE("diffusion: convergence order on Gaussian data against the exact flow", "[diffusion][order]") {
    const auto sch = noise_schedule::linear_vp();
    kt::gaussian_problem gp;
    for (const auto& c : cases()) {
        const double order = observed_order(c, gp, sch, [&](const std::vector<double>& x0, const timestep_grid& g) {
            std::vector<double> w(x0.size());
            for (std::size_t i = 0; i < x0.size(); ++i) w[i] = gp.exact(x0[i], g.front(), g.back());
            return w;
        });
        INFO(c.name << ": observed order " << order << ", expected " << c.expected);
        if (c.lower_bound_only_on_gaussian) CHECK(order >= c.expected - 0.3);
        else CHECK(std::fabs(order - c.expected) <= 0.3);
    }
}

TEST_CASE("diffusion: convergence order on a two-component mixture against fine RK4", "[diffusion][order]") {
    const auto sch = noise_schedule::linear_vp();
    auto mp = kt::mixture_problem::two_component_2d();
    // One reference per start state (the grid endpoints are the same for every step count).
    const auto g0 = uniform_logsnr_grid(sch, 10, 1.0, 1e-3);
    std::vector<double> start(16);
    for (std::size_t i = 0; i < start.size(); ++i) start[i] = -2.0 + 0.27 * double(i);
    const auto ref = mp.reference(start, g0.front().lambda, g0.back().lambda, 20000);
    for (const auto& c : cases()) {
        std::vector<double> errs;
        const double order = observed_order(c, mp, sch, [&](const std::vector<double>&, const timestep_grid&) { return ref; }, &errs);
        INFO(c.name << ": observed order " << order << ", expected " << c.expected << ", smallest error " << errs.back());
        CHECK(std::fabs(order - c.expected) <= 0.3);
    }
}

TEST_CASE("diffusion: every model parameterization gives the same trajectory", "[diffusion][order]") {
    const auto sch = noise_schedule::linear_vp();
    const auto g = uniform_logsnr_grid(sch, 25, 1.0, 1e-3);
    std::vector<double> ref;
    for (auto kind : {prediction::noise, prediction::data, prediction::velocity, prediction::flow_velocity}) {
        kt::gaussian_problem gp;
        gp.kind = kind;
        std::vector<double> x(16);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = -2.0 + 0.27 * double(i);
        sampler_options o;
        o.solver = solver_kind::dpm_solver_pp;
        o.order = 2;
        o.model_prediction = kind;
        sampler_workspace<double> ws;
        sample(gp, sch, g, o, make_view(x), ws);
        if (ref.empty()) ref = x;
        for (std::size_t i = 0; i < x.size(); ++i) CHECK(x[i] == Approx(ref[i]).epsilon(1e-10));
    }
}

TEST_CASE("diffusion: flow-matching schedule from pure noise converges (data-prediction solvers)", "[diffusion][order]") {
    // alpha = 1 - t, sigma = t, starting at t = 1 (alpha = 0): lambda = -inf at the first point.
    const auto sch = noise_schedule::flow();
    kt::gaussian_problem gp;
    gp.kind = prediction::flow_velocity;
    for (auto k : {solver_kind::euler, solver_kind::dpm_solver_pp, solver_kind::unipc}) {
        std::vector<double> errs, ns{16, 32, 64, 128};
        for (double n : ns) {
            // end at t = 1e-3 (not clean) to measure the ODE error, shift 3 as SD3
            std::vector<double> ts;
            for (std::size_t i = 0; i <= std::size_t(n); ++i)
                ts.push_back(shift_flow_time(1.0 - (1.0 - 1e-3) * double(i) / n, 3.0));
            ts.back() = shift_flow_time(1e-3, 3.0);
            const auto g = grid_from_times(sch, ts);
            std::vector<double> x(8);
            for (std::size_t i = 0; i < x.size(); ++i) x[i] = -1.5 + 0.4 * double(i);
            const auto x0 = x;
            sampler_options o;
            o.solver = k;
            o.order = k == solver_kind::euler ? 1 : 2;
            o.model_prediction = prediction::flow_velocity;
            o.lower_order_final = false;
            sampler_workspace<double> ws;
            sample(gp, sch, g, o, make_view(x), ws);
            double e = 0;
            for (std::size_t i = 0; i < x.size(); ++i) e = std::max(e, std::fabs(x[i] - gp.exact(x0[i], g.front(), g.back())));
            errs.push_back(e);
        }
        const double order = kt::fitted_order(ns, errs);
        INFO("solver " << int(k) << " order " << order);
        CHECK(order >= (k == solver_kind::euler ? 0.7 : 1.7));
    }
}
