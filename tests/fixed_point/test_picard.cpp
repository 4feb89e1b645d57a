// Picard-window sampling (ParaDiGMS) against the library's sequential sampler on the closed-form
// Gaussian problem (tests/diffusion/diffusion_test_util.hpp): DDIM and Euler, VP, EDM and flow
// schedules, noise / data / flow-velocity models; fewer sequential rounds than steps; the round
// limit reported; thread-count invariance; a throwing model; the validation table.
#include <catch2/catch.hpp>

#include <kestrel/core/random.hpp>
#include <kestrel/diffusion.hpp>
#include <kestrel/fixed_point/picard_diffusion.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <vector>

#include "diffusion/diffusion_test_util.hpp"
#include "validation_table.hpp"

namespace fp = kestrel::fixed_point;
namespace kd = kestrel::diffusion;
using kestrel::matrix_view;
using kestrel::vector_view;

namespace {

// The batched model: one row per window state, the closed-form Gaussian output of `kind`.
struct batched_gaussian {
    kt::gaussian_problem gp;
    mutable std::size_t calls = 0, rows = 0;
    template <class T>
    void operator()(matrix_view<const T> S, vector_view<const kd::grid_point> pts, matrix_view<T> out) const {
        ++calls;
        rows += S.rows();
        for (std::size_t r = 0; r < S.rows(); ++r) gp(S.row(r), pts[r], out.row(r));
    }
};

template <class T>
std::vector<T> normal_state(std::size_t n, double scale, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 0);
    std::vector<T> x(n);
    for (std::size_t i = 0; i < n; ++i) { const auto p = rng.normal_pair(i / 2); x[i] = T(scale * (i % 2 ? p.second : p.first)); }
    return x;
}

template <class T>
std::vector<T> sequential(const kt::gaussian_problem& gp, const kd::noise_schedule& sch, const kd::timestep_grid& g,
                          kd::solver_kind k, std::vector<T> x) {
    kd::sampler_options o;
    o.solver = k;
    o.order = k == kd::solver_kind::heun ? 2 : 1;
    o.model_prediction = gp.kind;
    kd::sampler_workspace<T> ws;
    kd::sample(gp, sch, g, o, vector_view<T>(x), ws);
    return x;
}

double max_abs_deviation(const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

struct picard_case {
    const char* name;
    kd::noise_schedule schedule;
    kd::timestep_grid grid;
    kd::solver_kind seq;
    fp::picard_solver solver;
    kd::prediction kind;
    double x_scale;
};

std::vector<picard_case> cases() {
    const auto vp = kd::noise_schedule::linear_vp();
    const auto edm = kd::noise_schedule::edm(80.0);
    const auto flow = kd::noise_schedule::flow();
    return {
        {"ddim / linear VP / noise", vp, kd::uniform_time_grid(vp, 100, 1.0, 1e-3), kd::solver_kind::ddim,
         fp::picard_solver::ddim, kd::prediction::noise, 1.0},
        {"euler / linear VP / data", vp, kd::uniform_logsnr_grid(vp, 100, 1.0, 1e-3), kd::solver_kind::euler,
         fp::picard_solver::euler, kd::prediction::data, 1.0},
        {"euler / EDM karras / velocity", edm, kd::karras_grid(edm, 60, 0.002, 80.0), kd::solver_kind::euler,
         fp::picard_solver::euler, kd::prediction::velocity, 80.0},
        {"euler / flow / flow velocity", flow, kd::flow_matching_grid(flow, 64, 3.0), kd::solver_kind::euler,
         fp::picard_solver::euler, kd::prediction::flow_velocity, 1.0},
        {"heun / EDM karras (clean end) / data", edm, kd::karras_grid(edm, 30, 0.002, 80.0), kd::solver_kind::heun,
         fp::picard_solver::heun, kd::prediction::data, 80.0},
        {"heun / linear VP / noise", vp, kd::uniform_logsnr_grid(vp, 50, 1.0, 1e-3), kd::solver_kind::heun,
         fp::picard_solver::heun, kd::prediction::noise, 1.0},
    };
}

}  // namespace

TEST_CASE("fixed_point: Picard-window sampling matches the sequential sampler with fewer rounds than steps", "[fixed_point][picard]") {
    for (const auto& c : cases()) {
        INFO(c.name);
        batched_gaussian model;
        model.gp.kind = c.kind;
        const std::size_t batch = 2, d = 24, n = batch * d;
        const auto x0 = normal_state<double>(n, c.x_scale, 3);
        const auto ref = sequential(model.gp, c.schedule, c.grid, c.seq, x0);
        const std::size_t steps = c.grid.size() - 1;
        fp::picard_workspace<double> ws;

        // tau = 0: only states that no longer change are accepted; the fixed point is the
        // sequential trajectory, computed as x_begin + sum of drifts (equal up to rounding: the
        // differences are a few ulps of the state's size per step).
        for (std::size_t window : {1u, 5u, 16u, 1000u}) {
            auto x = x0;
            fp::picard_options o;
            o.solver = c.solver;
            o.model_prediction = c.kind;
            o.window = window;
            o.tolerance = 0.0;
            o.batch = batch;
            const auto r = fp::picard_sample(model, c.grid, vector_view<double>(x), ws, o);
            CHECK(r.converged);
            CHECK(r.completed_steps == steps);
            CHECK(r.rounds <= steps);
            if (window == 1) CHECK(r.rounds == steps);
            CHECK(max_abs_deviation(x, ref) <= 1e-11 * c.x_scale * double(steps));
            for (std::size_t g = 1; g <= steps; ++g) CHECK(r.final_round[g] >= r.final_round[g - 1]);
        }
        // tau > 0 (ParaDiGMS' stopping rule): far fewer sequential rounds, result within tolerance.
        // An accepted state moved by at most tau sqrt(v_g) RMS in its last round; on this linear
        // model Picard's error shrinks geometrically, so the final error is a small multiple of
        // tau times the noise scale. We allow 2 tau times the data scale (about 1 here).
        for (double tau : {1e-2, 1e-4}) {
            auto x = x0;
            fp::picard_options o;
            o.solver = c.solver;
            o.model_prediction = c.kind;
            o.window = 16;
            o.tolerance = tau;
            o.batch = batch;
            model.calls = model.rows = 0;
            const auto r = fp::picard_sample(model, c.grid, vector_view<double>(x), ws, o);
            INFO("tau " << tau << ": rounds " << r.rounds << " of " << steps << " steps, evaluations " << r.model_evaluations
                        << ", error " << max_abs_deviation(x, ref));
            CHECK(r.converged);
            CHECK(r.rounds < steps);
            CHECK(r.model_calls == model.calls);
            // Heun: two calls a round, one when the window holds only a step into a clean point.
            if (c.solver == fp::picard_solver::heun) CHECK((r.model_calls <= 2 * r.rounds && r.model_calls + 1 >= 2 * r.rounds));
            else CHECK(r.model_calls == r.rounds);
            CHECK(r.model_evaluations == model.rows);
            CHECK(max_abs_deviation(x, ref) <= 2 * tau);
        }
    }
}

TEST_CASE("fixed_point: Picard in float matches the float sequential sampler", "[fixed_point][picard]") {
    const auto c = cases()[0];
    batched_gaussian model;
    const auto x0 = normal_state<float>(40, 1.0, 9);
    const auto ref = sequential(model.gp, c.schedule, c.grid, c.seq, x0);
    fp::picard_workspace<float> ws;
    auto x = x0;
    fp::picard_options o;
    o.tolerance = 1e-3;
    o.window = 10;
    const auto r = fp::picard_sample(model, c.grid, vector_view<float>(x), ws, o);
    CHECK(r.converged);
    CHECK(r.rounds < 100);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::fabs(double(x[i]) - double(ref[i])) <= 2e-3);
}

TEST_CASE("fixed_point: Picard stopped by its round limit reports it and returns an accepted state", "[fixed_point][picard]") {
    const auto c = cases()[0];
    batched_gaussian model;
    const auto x0 = normal_state<double>(16, 1.0, 5);
    fp::picard_workspace<double> ws;
    auto x = x0;
    fp::picard_options o;
    o.window = 8;
    o.tolerance = 0.0;
    o.max_rounds = 3;
    const auto r = fp::picard_sample(model, c.grid, vector_view<double>(x), ws, o);
    CHECK_FALSE(r.converged);
    CHECK(r.rounds == 3);
    REQUIRE(r.completed_steps >= 3);
    REQUIRE(r.completed_steps < 100);
    // x is the state at grid[completed_steps]: the sequential sampler on that part of the grid.
    const kd::timestep_grid part(c.grid.begin(), c.grid.begin() + std::ptrdiff_t(r.completed_steps) + 1);
    const auto ref = sequential(model.gp, c.schedule, part, c.seq, x0);
    CHECK(max_abs_deviation(x, ref) <= 1e-12 * 100);
    CHECK(r.final_round[r.completed_steps] != fp::picard_report::never);
    CHECK(r.final_round.back() == fp::picard_report::never);
}

TEST_CASE("fixed_point: Picard sampling is identical at 1, 2 and 3 threads", "[fixed_point][picard]") {
    const auto c = cases()[1];
    batched_gaussian model;
    model.gp.kind = c.kind;
    const std::size_t batch = 2, d = 3 * 2048 + 5;
    const auto x0 = normal_state<double>(batch * d, 1.0, 13);
    std::vector<double> first;
    fp::picard_report r0;
    for (int threads : {1, 2, 3}) {
        fp::picard_workspace<double> ws;
        auto x = x0;
        fp::picard_options o;
        o.solver = c.solver;
        o.model_prediction = c.kind;
        o.batch = batch;
        o.window = 12;
        o.tolerance = 1e-3;
        o.policy = kestrel::exec_policy{threads};
        const auto r = fp::picard_sample(model, c.grid, vector_view<double>(x), ws, o);
        if (threads == 1) {
            first = x;
            r0 = r;
        } else {
            CHECK(x == first);
            CHECK(r.rounds == r0.rounds);
            CHECK(r.final_round == r0.final_round);
        }
    }
}

TEST_CASE("fixed_point: a throwing Picard model reaches the caller at 1 and 2 threads", "[fixed_point][picard]") {
    const auto c = cases()[0];
    for (int threads : {1, 2}) {
        std::size_t calls = 0;
        const kt::gaussian_problem gp;
        auto model = [&](matrix_view<const double> S, vector_view<const kd::grid_point> pts, matrix_view<double> out) {
            ++calls;
            kestrel::parallel_for(S.rows(), kestrel::exec_policy{threads}, [&](std::size_t r) {
                if (calls == 2 && r == 1) throw std::runtime_error("unet failed");
                gp(S.row(r), pts[r], out.row(r));
            });
        };
        std::vector<double> x(4096, 0.5);
        fp::picard_workspace<double> ws;
        fp::picard_options o;
        o.tolerance = 0.0;
        o.window = 4;
        o.policy = kestrel::exec_policy{threads};
        CHECK_THROWS_WITH(fp::picard_sample(model, c.grid, vector_view<double>(x), ws, o), "unet failed");
        calls = 10;
        std::vector<double> y(4096, 0.5);
        CHECK(fp::picard_sample(model, c.grid, vector_view<double>(y), ws, o).converged);
    }
}

TEST_CASE("fixed_point: picard_sample validation table", "[fixed_point][picard][validation]") {
    using kestrel_test::check_refusal;
    const auto c = cases()[0];
    batched_gaussian model;
    const auto flow = kd::noise_schedule::flow();
    const auto flow_grid = kd::flow_matching_grid(flow, 10);
    std::vector<double> x0(8, 0.25);
    auto nan_model = [](matrix_view<const double> S, vector_view<const kd::grid_point>, matrix_view<double> out) {
        for (std::size_t r = 0; r < S.rows(); ++r)
            for (std::size_t e = 0; e < S.cols(); ++e) out(r, e) = (r == 2 && e == 3) ? std::nan("") : 0.1 * S(r, e);
    };
    struct row {
        const char* argument;
        std::function<void(fp::picard_options&, std::vector<double>&, kd::timestep_grid&)> setup;
        bool nan_model = false;
    };
    const std::vector<row> rows = {
        {"options.window", [](auto& o, auto&, auto&) { o.window = 0; }},
        {"options.tolerance", [](auto& o, auto&, auto&) { o.tolerance = -1e-3; }},
        {"options.tolerance", [](auto& o, auto&, auto&) { o.tolerance = std::nan(""); }},
        {"options.batch", [](auto& o, auto&, auto&) { o.batch = 0; }},
        {"options.batch", [](auto& o, auto&, auto&) { o.batch = 3; }},
        {"options.solver", [](auto& o, auto&, auto&) { o.solver = static_cast<fp::picard_solver>(7); }},
        {"options.model_prediction", [](auto& o, auto&, auto&) { o.model_prediction = static_cast<kd::prediction>(9); }},
        {"policy.threads", [](auto& o, auto&, auto&) { o.policy.threads = -1; }},
        {"x", [](auto&, auto& x, auto&) { x[5] = std::nan(""); }},
        {"x", [](auto&, auto& x, auto&) { x.clear(); }},
        {"grid", [](auto&, auto&, auto& g) { g.resize(1); }},
        {"grid", [](auto&, auto&, auto& g) { std::swap(g[3], g[4]); }},
        // DDIM divides by alpha at the step's start; the flow grid starts at alpha = 0.
        {"grid", [&](auto&, auto&, auto& g) { g = flow_grid; }},
        // A noise model cannot give data at alpha = 0 (Euler on the flow grid).
        {"model_prediction", [&](auto& o, auto&, auto& g) { o.solver = fp::picard_solver::euler; g = flow_grid; }},
        {"model", [](auto&, auto&, auto&) {}, true},
        {"grid", [&](auto& o, auto&, auto& g) { o.solver = fp::picard_solver::heun; o.model_prediction = kd::prediction::flow_velocity; g = flow_grid; }},
    };
    for (const auto& rw : rows) {
        fp::picard_options o;
        o.window = 6;
        auto x = x0;
        auto g = c.grid;
        rw.setup(o, x, g);
        const auto before = x;
        fp::picard_workspace<double> ws;
        INFO("argument " << rw.argument);
        if (rw.nan_model)
            check_refusal("picard_sample", rw.argument, [&] { fp::picard_sample(nan_model, g, vector_view<double>(x), ws, o); });
        else
            check_refusal("picard_sample", rw.argument, [&] { fp::picard_sample(model, g, vector_view<double>(x), ws, o); });
        CHECK(std::equal(x.begin(), x.end(), before.begin(), before.end(), [](double a, double b) {
            return a == b || (std::isnan(a) && std::isnan(b));
        }));  // nothing written
    }
}
