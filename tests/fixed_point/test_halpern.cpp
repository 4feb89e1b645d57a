// Halpern (anchored) iteration, its restarted variant, infeasibility detection, and damped
// Krasnoselskii-Mann iteration.
#include <catch2/catch.hpp>

#include <kestrel/fixed_point/halpern.hpp>
#include <kestrel/fixed_point/infeasibility.hpp>
#include <kestrel/fixed_point/krasnoselskii_mann.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "accel_test_maps.hpp"

namespace kf = kestrel::fixed_point;
using accel_test::rotation;

TEST_CASE("halpern residual decays at the O(1/k) rate on a rotation where plain iteration stalls", "[fixed_point][halpern]") {
    for (double theta : {0.3, 1.0, 2.0}) {
        INFO("theta = " << theta);
        const rotation G{theta};
        const std::size_t K = 4000;
        // Plain iteration: ||x_k|| = 1 forever, residual 2 sin(theta/2) at every k.
        kf::krasnoselskii_mann_options po;
        po.max_iterations = K;
        po.record_history = true;
        std::vector<double> xp{1.0, 0.0};
        const auto rp = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(xp), po);
        CHECK_FALSE(rp.converged);
        CHECK(rp.history.back().residual_norm == Approx(2 * std::sin(theta / 2)).epsilon(1e-9));

        kf::halpern_options o;
        o.max_iterations = K;
        o.rtol = 0;
        o.record_history = true;
        std::vector<double> x{1.0, 0.0};
        const auto r = kf::halpern(G, kestrel::vector_view<double>(x), o);
        REQUIRE(r.history.size() == K + 1);
        // The bound ||x_k - G x_k|| <= 2 ||x0 - x*|| / (k + 1) at every k, and it is tight:
        // the largest (k + 1) * residual over [K0, 2 K0] tends to 2 ||x0 - x*|| = 2 (so the
        // rate is exactly 1/k, not faster).
        for (std::size_t k = 0; k <= K; ++k) CHECK((k + 1) * r.history[k].residual_norm <= 2.0 * (1 + 1e-12));
        double prev_gap = 1.0;
        for (std::size_t K0 : {100, 500, 2000}) {
            double mx = 0;
            for (std::size_t k = K0; k <= 2 * K0; ++k) mx = std::max(mx, (k + 1) * r.history[k].residual_norm);
            const double gap = 2.0 - mx;
            CHECK(gap >= 0.0);
            CHECK(gap <= prev_gap);
            prev_gap = gap;
        }
        CHECK(prev_gap < 1e-3);
        CHECK(r.residual_norm < 1e-3);
    }
}

TEST_CASE("restarted halpern converges on a contraction and moves the anchor by its rule", "[fixed_point][halpern]") {
    accel_test::shifted_laplacian_jacobi G(100, 0.1);
    for (auto rule : {kf::restart_rule::residual, kf::restart_rule::period}) {
        kf::halpern_options o;
        o.restart = rule;
        o.restart_factor = 0.3;
        o.restart_period = 20;
        o.rtol = 1e-10;
        o.max_iterations = 20000;
        o.record_history = true;
        std::vector<double> x(G.n, 0.0);
        const auto r = kf::halpern(G, kestrel::vector_view<double>(x), o);
        REQUIRE(r.converged);
        CHECK(r.restarts > 0);
        for (std::size_t i = 0; i < G.n; ++i) CHECK(x[i] == Approx(G.xstar[i]).margin(1e-8));
        // Plain Halpern (no restart) is slow on a contraction (its anchor pulls at rate 1/k).
        kf::halpern_options plain = o;
        plain.restart = kf::restart_rule::none;
        plain.max_iterations = r.iterations;
        std::vector<double> y(G.n, 0.0);
        CHECK_FALSE(kf::halpern(G, kestrel::vector_view<double>(y), plain).converged);
        if (rule == kf::restart_rule::period) {
            std::size_t count = 0;
            for (const auto& h : r.history) count += h.restart;
            CHECK(count == r.restarts);
            CHECK(r.restarts == (r.iterations - 1) / 20);
        }
    }
}

TEST_CASE("infeasibility detection recovers the infimal displacement vector of a shifted projection", "[fixed_point][halpern]") {
    // G(x) = P x + t, P the projection onto the first h coordinates. No fixed point when the
    // first h entries t_S of t are not all zero; range(I - G) = {(I - P) x - t}, whose
    // minimum-norm element is v = -(t_S, 0). Halpern from x0 (closed form by induction):
    // on S, x_k - x0 = -k v / 2 exactly; off S, x_k = t + (x0 - t) / (k + 1). Hence
    // (2/k)(x0 - x_k) = v + (2/(k+1)) (x0 - t) restricted to the complement of S.
    const std::size_t n = 10, h = 4;
    std::vector<double> t(n), x0(n);
    for (std::size_t i = 0; i < n; ++i) {
        t[i] = 0.5 + 0.1 * double(i);
        x0[i] = std::cos(double(i));
    }
    auto G = [&](const double* x, double* g) {
        for (std::size_t i = 0; i < n; ++i) g[i] = (i < h ? x[i] : 0.0) + t[i];
    };
    double vnorm2 = 0;
    for (std::size_t i = 0; i < h; ++i) vnorm2 += t[i] * t[i];
    for (std::size_t k : {10, 100, 1000}) {
        std::vector<double> v(n);
        const auto e = kf::infimal_displacement(G, kestrel::const_vector_view<double>(x0), kestrel::vector_view<double>(v), k);
        CHECK(e.iterations == k);
        double err2 = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double expected = i < h ? -t[i] : 2.0 / double(k + 1) * (x0[i] - t[i]);
            CHECK(v[i] == Approx(expected).margin(1e-12 * (1 + std::abs(expected))));
            if (i >= h) err2 += v[i] * v[i];
        }
        CHECK(e.norm == Approx(std::sqrt(vnorm2 + err2)).epsilon(1e-12));
        // The residual estimate: off S, x_k - G x_k = (x0 - t)/(k + 1).
        double r2 = vnorm2;
        for (std::size_t i = h; i < n; ++i) r2 += std::pow((x0[i] - t[i]) / double(k + 1), 2);
        CHECK(e.residual_norm == Approx(std::sqrt(r2)).epsilon(1e-10));
    }
    // A map with a fixed point x* = 2t: the estimate tends to 0 at O(1/k):
    // ||(2/k)(x0 - x_k)|| <= (2/k)(||x0 - x*|| + ||x_k - x*||) <= (4/k)||x0 - x*||.
    auto H = [&](const double* x, double* g) {
        for (std::size_t i = 0; i < n; ++i) g[i] = 0.5 * x[i] + t[i];
    };
    std::vector<double> v(n);
    const auto e = kf::infimal_displacement(H, kestrel::const_vector_view<double>(x0), kestrel::vector_view<double>(v), 1000);
    double d0 = 0;
    for (std::size_t i = 0; i < n; ++i) d0 += (x0[i] - 2 * t[i]) * (x0[i] - 2 * t[i]);
    CHECK(e.norm <= 4.0 / 1000 * std::sqrt(d0));
    CHECK(e.norm >= 1.0 / 1000 * std::sqrt(d0));  // and not faster: ||x_k - x*|| << ||x0 - x*||
}

TEST_CASE("damped Krasnoselskii-Mann converges on a rotation where plain iteration does not", "[fixed_point][halpern]") {
    const rotation G{1.0};
    kf::krasnoselskii_mann_options o;
    o.max_iterations = 500;
    o.rtol = 1e-10;
    std::vector<double> x{1.0, -2.0};
    const auto rp = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x), o);
    CHECK_FALSE(rp.converged);
    CHECK(rp.iterations == 500);
    // (1 - a) I + a R has eigenvalues (1 - a) + a e^{+-i theta}, modulus
    // sqrt(1 - 2 a (1 - a)(1 - cos theta)) = 0.8379 at a = 1/2, theta = 1: the residual falls
    // by that factor per step exactly (R is normal), so 1e-10 takes ceil(log(1e-10)/log(0.8379)) = 130.
    o.relaxation = 0.5;
    std::vector<double> y{1.0, -2.0};
    const auto r = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(y), o);
    REQUIRE(r.converged);
    const double q = std::sqrt(1 - 2 * 0.5 * 0.5 * (1 - std::cos(1.0)));
    CHECK(r.iterations == static_cast<std::size_t>(std::ceil(std::log(1e-10) / std::log(q))));
    CHECK(std::abs(y[0]) + std::abs(y[1]) < 1e-9);
}

TEST_CASE("halpern and Krasnoselskii-Mann give the same bits at 1, 2 and 3 threads and pass exceptions from G", "[fixed_point][halpern]") {
    accel_test::componentwise_cos G{40000};
    std::vector<double> x0(G.n);
    for (std::size_t i = 0; i < G.n; ++i) x0[i] = std::sin(0.001 * double(i));
    std::vector<std::vector<double>> out;
    for (int t : {1, 2, 3}) {
        kf::halpern_options o;
        o.restart = kf::restart_rule::residual;
        o.rtol = 1e-12;
        o.policy = kestrel::exec_policy::with_threads(t);
        std::vector<double> x = x0;
        CHECK(kf::halpern(G, kestrel::vector_view<double>(x), o).converged);
        kf::krasnoselskii_mann_options ko;
        ko.relaxation = 0.8;
        ko.policy = o.policy;
        std::vector<double> y = x0;
        CHECK(kf::krasnoselskii_mann(G, kestrel::vector_view<double>(y), ko).converged);
        x.insert(x.end(), y.begin(), y.end());
        out.push_back(x);
    }
    CHECK(out[0] == out[1]);
    CHECK(out[0] == out[2]);
    for (int t : {1, 2}) {
        int calls = 0;
        auto bad = [&](const double* x, double* g) {
            if (++calls % 5 == 0) throw std::runtime_error("map failed");
            G(x, g);
        };
        kf::halpern_options o;
        o.policy = kestrel::exec_policy::with_threads(t);
        kf::krasnoselskii_mann_options ko;
        ko.policy = o.policy;
        std::vector<double> x = x0;
        CHECK_THROWS_AS(kf::halpern(bad, kestrel::vector_view<double>(x), o), std::runtime_error);
        CHECK_THROWS_AS(kf::krasnoselskii_mann(bad, kestrel::vector_view<double>(x), ko), std::runtime_error);
    }
}
