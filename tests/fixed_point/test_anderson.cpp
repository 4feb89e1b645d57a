// Anderson acceleration: known fixed points, fewer iterations than plain iteration, agreement
// with a from-scratch least-squares reference, safeguard, limits, threads, throwing maps.
#include <catch2/catch.hpp>

#include <kestrel/fixed_point/anderson.hpp>
#include <kestrel/fixed_point/krasnoselskii_mann.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "accel_test_maps.hpp"
#include "baselines/fixed_point_anderson.hpp"

namespace kf = kestrel::fixed_point;
using accel_test::componentwise_cos;
using accel_test::shifted_laplacian_jacobi;

namespace {

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
    return d;
}

}  // namespace

TEST_CASE("anderson reproduces the fixed point of a linear contraction in fewer iterations than plain iteration", "[fixed_point][anderson]") {
    shifted_laplacian_jacobi G(300, 0.05);  // contraction factor 2cos(pi/301)/2.05 = 0.9755
    kf::krasnoselskii_mann_options po;
    po.rtol = 1e-10;
    po.max_iterations = 5000;
    std::vector<double> xp(G.n, 0.0);
    const auto rp = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(xp), po);
    REQUIRE(rp.converged);
    // Plain iteration needs log(1e-10)/log(0.9755) ~ 930 steps (within a factor 1.2: the
    // slowest mode is not fully excited by x0 = 0).
    CHECK(rp.iterations > 700);
    CHECK(rp.iterations < 1000);
    for (int m : {1, 5, 10}) {
        kf::anderson_options o;
        o.memory = m;
        o.rtol = 1e-10;
        o.max_iterations = 5000;
        std::vector<double> x(G.n, 0.0);
        const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
        INFO("m = " << m << ", iterations " << r.iterations);
        REQUIRE(r.converged);
        CHECK(r.residual_norm <= r.tolerance);
        CHECK(r.evaluations == r.iterations + 1);
        // m = 1 (a secant method) gains little on this symmetric problem; m >= 5 at least 3x.
        CHECK(r.iterations < rp.iterations);
        if (m >= 5) CHECK(r.iterations * 3 < rp.iterations);
        // ||x - x*|| <= ||f|| / (1 - rho) for a contraction with factor rho.
        CHECK(max_abs_diff(x, G.xstar) <= r.residual_norm / (1 - 0.9755) * 1.01);
        CHECK(max_abs_diff(x, G.xstar) < 1e-7);
    }
}

TEST_CASE("anderson solves x = cos(x) componentwise to the Dottie number faster than plain iteration", "[fixed_point][anderson]") {
    componentwise_cos G{64};
    std::vector<double> x0(G.n);
    for (std::size_t i = 0; i < G.n; ++i) x0[i] = -1.0 + 2.0 * double(i) / double(G.n);
    kf::krasnoselskii_mann_options po;
    po.rtol = 1e-12;
    std::vector<double> xp = x0;
    const auto rp = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(xp), po);
    REQUIRE(rp.converged);
    kf::anderson_options o;
    o.memory = 4;
    o.rtol = 1e-12;
    std::vector<double> x = x0;
    const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
    REQUIRE(r.converged);
    CHECK(r.iterations * 2 < rp.iterations);
    for (double v : x) CHECK(v == Approx(accel_test::dottie).margin(1e-10));
}

TEST_CASE("anderson with QR updates equals a from-scratch least-squares reference over the first iterates", "[fixed_point][anderson]") {
    struct setup {
        int memory;
        double damping, tikhonov;
        std::size_t delay, restart;
    };
    const setup cases[] = {{3, 1.0, 0.0, 0, 0}, {5, 0.7, 0.0, 2, 0}, {4, 1.0, 1e-6, 0, 0}, {3, 0.9, 0.0, 1, 4},
                           {1, 1.0, 0.0, 0, 0}};
    shifted_laplacian_jacobi lin(200, 0.1);
    componentwise_cos cosm{50};
    for (const auto& c : cases) {
        for (int problem = 0; problem < 2; ++problem) {
            kf::anderson_options o;
            o.memory = c.memory;
            o.damping = c.damping;
            o.tikhonov = c.tikhonov;
            o.delay = c.delay;
            o.restart_period = c.restart;
            o.rtol = 0.0;
            // cos: after ~6 iterates the history is numerically rank deficient (all components follow
            // one scalar map near the Dottie number) and Kestrel's conditioning restart, which the
            // reference does not have, clears it.
            o.max_iterations = problem == 0 ? 12 : 5;
            const std::size_t n = problem == 0 ? lin.n : cosm.n;
            std::vector<double> x0(n);
            for (std::size_t i = 0; i < n; ++i) x0[i] = 0.3 * std::sin(double(i));
            std::vector<std::vector<double>> ref_iterates;
            std::vector<double> xr = x0;
            auto ref = problem == 0 ? kestrel_baseline::anderson_from_scratch(lin, xr, o, &ref_iterates)
                                    : kestrel_baseline::anderson_from_scratch(cosm, xr, o, &ref_iterates);
            // Kestrel, one iterate at a time (max_iterations = k), from the same start.
            for (std::size_t k = 1; k <= o.max_iterations; ++k) {
                kf::anderson_options ok = o;
                ok.max_iterations = k;
                std::vector<double> x = x0;
                const auto r = problem == 0 ? kf::anderson(lin, kestrel::vector_view<double>(x), ok)
                                            : kf::anderson(cosm, kestrel::vector_view<double>(x), ok);
                INFO("problem " << problem << ", m = " << c.memory << ", beta = " << c.damping << ", tikhonov = "
                                << c.tikhonov << ", delay = " << c.delay << ", restart = " << c.restart << ", k = " << k);
                REQUIRE(r.iterations == k);
                // Periodic clears only (no conditioning restart on these well-conditioned starts).
                const std::size_t recorded = k > c.delay ? k - c.delay : 0;
                CHECK(r.restarts == (c.restart ? recorded / c.restart : 0));
                double scale = 0;
                for (double v : ref_iterates[k]) scale = std::max(scale, std::abs(v));
                CHECK(max_abs_diff(x, ref_iterates[k]) <= 1e-10 * scale);
            }
            (void)ref;
        }
    }
}

TEST_CASE("anderson safeguard rejects a step whose residual grows and recovers", "[fixed_point][anderson]") {
    // A contraction (Lipschitz 0.9) with fixed point 2 on x <= 5, whose two slopes make the
    // secant step of Anderson with m = 1 from x0 = 0 land at x = 10: 0 -> G(0) = 1, then
    // f(0) = 1, f(1) = 0.9, slope -0.1, step to 1 + 0.9/0.1 = 10. Beyond x = 5 the map is
    // steep (G(10) = 5002.3), so that step multiplies the residual by 5000.
    auto G = [](const double* x, double* g) {
        const double v = x[0];
        g[0] = v <= 1 ? 0.9 * v + 1 : v <= 5 ? 0.1 * v + 1.8 : 2.3 + 1000 * (v - 5);
    };
    kf::anderson_options o;
    o.memory = 1;
    o.rtol = 1e-12;
    o.max_iterations = 100;
    o.record_history = true;
    {
        std::vector<double> x{0.0};
        const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
        REQUIRE(r.history.size() >= 3);
        CHECK(r.history[2].residual_norm > 1000 * r.history[0].residual_norm);  // the bad step, taken
        CHECK(r.safeguard_events == 0);
    }
    o.safeguard_factor = 2.0;
    std::vector<double> x{0.0};
    const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
    REQUIRE(r.converged);
    CHECK(x[0] == Approx(2.0).margin(1e-10));
    CHECK(r.safeguard_events >= 1);
    CHECK(r.history[2].safeguard);
    CHECK(r.evaluations == r.iterations + 1 + r.safeguard_events);
    for (std::size_t k = 1; k < r.history.size(); ++k)
        CHECK(r.history[k].residual_norm <= 2.0 * r.history[k - 1].residual_norm);
}

TEST_CASE("anderson reports converged false when the iteration limit is hit", "[fixed_point][anderson]") {
    shifted_laplacian_jacobi G(100, 0.01);
    for (std::size_t limit : {0, 1, 7}) {
        kf::anderson_options o;
        o.memory = 3;
        o.rtol = 1e-14;
        o.max_iterations = limit;
        std::vector<double> x(G.n, 0.0);
        const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
        CHECK_FALSE(r.converged);
        CHECK(r.iterations == limit);
        CHECK(r.residual_norm > r.tolerance);
        // The reported residual is the returned x's.
        std::vector<double> g(G.n);
        G(x.data(), g.data());
        double s = 0;
        for (std::size_t i = 0; i < G.n; ++i) s += (g[i] - x[i]) * (g[i] - x[i]);
        CHECK(std::sqrt(s) == Approx(r.residual_norm).epsilon(1e-12));
    }
    // Already at the fixed point: zero iterations, converged.
    std::vector<double> x = G.xstar;
    kf::anderson_options o;
    o.atol = 1e-9;
    const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
    CHECK(r.converged);
    CHECK(r.iterations == 0);
    CHECK(r.evaluations == 1);
}

TEST_CASE("anderson gives the same bits at 1, 2 and 3 threads", "[fixed_point][anderson]") {
    // n above the parallel threshold of the passes, so they split into blocks.
    componentwise_cos G{40000};
    std::vector<double> x0(G.n);
    for (std::size_t i = 0; i < G.n; ++i) x0[i] = std::sin(0.001 * double(i));
    std::vector<std::vector<double>> out;
    std::vector<std::vector<float>> outf;
    for (int t : {1, 2, 3}) {
        kf::anderson_options o;
        o.memory = 5;
        o.damping = 0.9;
        o.tikhonov = 1e-10;
        o.rtol = 1e-13;
        o.policy = kestrel::exec_policy::with_threads(t);
        std::vector<double> x = x0;
        const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
        CHECK(r.converged);
        out.push_back(x);
        std::vector<float> xf(x0.begin(), x0.end());
        o.rtol = 1e-5;
        kf::anderson(G, kestrel::vector_view<float>(xf), o);
        outf.push_back(xf);
    }
    CHECK(out[0] == out[1]);
    CHECK(out[0] == out[2]);
    CHECK(outf[0] == outf[1]);
    CHECK(outf[0] == outf[2]);
    for (float v : outf[0]) CHECK(v == Approx(accel_test::dottie).margin(1e-4));
}

TEST_CASE("an exception thrown by G reaches the caller of anderson", "[fixed_point][anderson]") {
    componentwise_cos inner{40000};
    for (int t : {1, 2}) {
        int calls = 0;
        auto G = [&](const double* x, double* g) {
            if (++calls == 4) throw std::runtime_error("map failed");
            inner(x, g);
        };
        kf::anderson_options o;
        o.memory = 3;
        o.policy = kestrel::exec_policy::with_threads(t);
        std::vector<double> x(inner.n, 0.5);
        CHECK_THROWS_AS(kf::anderson(G, kestrel::vector_view<double>(x), o), std::runtime_error);
    }
}

TEST_CASE("anderson with a workspace kept across calls and float agrees with double", "[fixed_point][anderson]") {
    shifted_laplacian_jacobi G(150, 0.2);
    kf::anderson_workspace<float> wsf(G.n, 8);
    kf::anderson_workspace<double> ws(G.n, 8);
    for (int rep = 0; rep < 2; ++rep) {
        kf::anderson_options o;
        o.memory = 8;
        o.rtol = 1e-5;
        std::vector<float> xf(G.n, 0.0f);
        std::vector<double> x(G.n, 0.0);
        const auto rf = kf::anderson(G, kestrel::vector_view<float>(xf), o, wsf);
        o.rtol = 1e-12;
        const auto rd = kf::anderson(G, kestrel::vector_view<double>(x), o, ws);
        REQUIRE(rf.converged);
        REQUIRE(rd.converged);
        for (std::size_t i = 0; i < G.n; ++i) CHECK(double(xf[i]) == Approx(G.xstar[i]).margin(1e-4));
        CHECK(max_abs_diff(x, G.xstar) < 1e-9);
    }
}
