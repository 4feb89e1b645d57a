// Anderson acceleration: known fixed points, fewer iterations than plain iteration, agreement
// with a from-scratch least-squares reference, safeguard, limits, threads, throwing maps.
#include <catch2/catch.hpp>

#include <kestrel/core/random.hpp>
#include <kestrel/fixed_point/anderson.hpp>
#include <kestrel/fixed_point/krasnoselskii_mann.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <type_traits>
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

TEST_CASE("alternating anderson reaches the 2-D shifted Poisson fixed point in fewer evaluations than anderson at every step", "[fixed_point][anderson]") {
    // The benchmark's problem at N = 64: G(u) = (1 + sum of the four neighbours) / (4 + s),
    // spectral radius exactly 0.99. Alternating Anderson (AAJ, Pratapa, Suryanarayana & Pask 2016)
    // with m = 5, 10 extrapolates every 3rd step; at n = 10^6 it needed 115 / 96 evaluations
    // where Anderson at every step needed 259 / 199 (benchmarks/fixed_point_anderson.cpp).
    const std::size_t N = 64, n = N * N;
    const double s = 4 * std::cos(M_PI / double(N + 1)) / 0.99 - 4;
    auto G = [&](const double* u, double* g) {
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < N; ++j) {
                double a = 1.0;
                if (i > 0) a += u[(i - 1) * N + j];
                if (i + 1 < N) a += u[(i + 1) * N + j];
                if (j > 0) a += u[i * N + j - 1];
                if (j + 1 < N) a += u[i * N + j + 1];
                g[i * N + j] = a / (4 + s);
            }
    };
    kf::krasnoselskii_mann_options po;
    po.rtol = 1e-8;
    po.max_iterations = 5000;
    std::vector<double> xp(n, 0.0);
    const auto rp = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(xp), po);
    REQUIRE(rp.converged);
    for (int m : {5, 10}) {
        std::size_t evals[2];
        for (std::size_t p : {1, 3}) {
            kf::anderson_options o;
            o.memory = m;
            o.extrapolation_period = p;
            o.rtol = 1e-8;
            o.max_iterations = 2000;
            std::vector<double> x(n, 0.0);
            const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
            INFO("m = " << m << ", period " << p << ": " << r.evaluations << " evaluations, plain " << rp.evaluations);
            REQUIRE(r.converged);
            CHECK(r.evaluations == r.iterations + 1);
            // ||x - x*|| <= ||f|| / (1 - 0.99); x* from plain iteration to the same tolerance.
            CHECK(max_abs_diff(x, xp) <= (r.residual_norm + rp.residual_norm) / 0.01 * 1.01);
            evals[p == 1 ? 0 : 1] = r.evaluations;
        }
        INFO("m = " << m << ": " << evals[0] << " evaluations at period 1, " << evals[1] << " at period 3");
        CHECK(evals[1] * 3 < evals[0] * 2);
        CHECK(evals[1] * 8 < rp.evaluations);
    }
}

TEST_CASE("alternating anderson with parallel residuals restarts inside its deferred update and takes the scalar secant step", "[fixed_point][anderson]") {
    // cos componentwise from a constant start: every f is a multiple of the ones vector, so each
    // new column is exactly parallel to the one before and the conditioning restart leaves one
    // column (the newest difference) at every extrapolation; with deferred products these
    // restarts happen while the pending columns are appended. Oracle, written here: plain steps
    // x <- cos x, and at each extrapolation Anderson(1) on the last two iterates, which for a
    // scalar is the secant step x_{k+1} = x_k + f_k - (dx + df) f_k / df.
    componentwise_cos G{50};
    for (std::size_t p : {2, 3}) {
        for (int m : {3, 5}) {
            kf::anderson_options o;
            o.memory = m;
            o.extrapolation_period = p;
            o.rtol = 0.0;
            // the oracle's scalar iterates
            std::vector<double> xs{0.3};
            double fprev = 0, xprev = 0;
            for (std::size_t k = 0; k < 9; ++k) {
                const double x = xs.back(), f = std::cos(x) - x;
                double next = x + f;
                if (k > 0 && (k + 1) % p == 0) {
                    const double dx = x - xprev, df = f - fprev;
                    next = x + f - (dx + df) * (f / df);
                }
                xprev = x;
                fprev = f;
                xs.push_back(next);
            }
            for (std::size_t k = 1; k <= 9; ++k) {
                o.max_iterations = k;
                std::vector<double> x(G.n, 0.3);
                const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
                INFO("period " << p << ", m = " << m << ", k = " << k);
                // (the secant steps may reach f = 0 exactly before k)
                REQUIRE((r.iterations == k || (r.converged && r.residual_norm == 0.0)));
                // two appends of parallel columns have happened by the second update
                if (r.iterations >= 2 * p) CHECK(r.restarts >= 1);
                for (double v : x) CHECK(v == Approx(xs[r.iterations]).epsilon(1e-12).margin(1e-14));
            }
        }
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
        std::size_t delay, restart, period;
    };
    // {2, 0.5, ...}: the ring of m + 1 = 3 raw slots wraps around three times in 12 iterates.
    // period > 1: alternating Anderson (plain steps in between still record columns), with the
    // products deferred to the step before each extrapolation; m = 1000 with period 4 takes them
    // at every step (the deferred Gram block would exceed its size limit).
    const setup cases[] = {{3, 1.0, 0.0, 0, 0, 1}, {5, 0.7, 0.0, 2, 0, 1}, {4, 1.0, 1e-6, 0, 0, 1}, {3, 0.9, 0.0, 1, 4, 1},
                           {1, 1.0, 0.0, 0, 0, 1}, {2, 0.5, 0.0, 0, 0, 1}, {4, 1.0, 0.0, 0, 0, 3}, {3, 0.8, 1e-6, 1, 0, 2},
                           {1, 1.0, 0.0, 0, 0, 2}, {3, 1.0, 0.0, 0, 5, 4}, {1000, 1.0, 0.0, 0, 0, 4}};
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
            o.extrapolation_period = c.period;
            o.rtol = 0.0;
            // cos: after ~6 iterates the history is numerically rank deficient (all components follow
            // one scalar map near the Dottie number) and Kestrel's conditioning restart, which the
            // reference does not have, clears it.
            // (Alternating Anderson's plain steps make it rank deficient one iterate earlier.)
            o.max_iterations = problem == 0 ? 12 : (c.period > 1 ? 4 : 5);
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
                                << c.tikhonov << ", delay = " << c.delay << ", restart = " << c.restart
                                << ", period = " << c.period << ", k = " << k);
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

TEST_CASE("anderson keeps the last accepted iterate in x when G throws", "[fixed_point][anderson]") {
    // The solver alternates between x and a workspace buffer; whichever holds the accepted
    // iterate, x must hold it when G throws. Reference: the same run stopped by max_iterations.
    // Alternating Anderson (period > 1) keeps x_k in a w slot after a plain step; with m = 1 (or
    // after a restart) that slot is the one the next evaluation rewrites.
    shifted_laplacian_jacobi lin(3000, 0.1);  // n above the passes' parallel threshold / 16
    struct config {
        int memory;
        double damping;
        std::size_t period, restart;
    };
    for (const config c : {config{3, 0.8, 1, 0}, config{3, 1.0, 3, 0}, config{1, 1.0, 2, 0}, config{2, 0.9, 2, 2}})
    for (int t : {1, 2}) {
        for (int throw_at : {4, 5, 6, 7}) {  // G's call number: x_{throw_at - 1} is being evaluated
            kf::anderson_options o;
            o.memory = c.memory;
            o.damping = c.damping;
            o.extrapolation_period = c.period;
            o.restart_period = c.restart;
            o.rtol = 0.0;
            o.policy = kestrel::exec_policy::with_threads(t);
            std::vector<double> x0(lin.n, 0.25);
            std::vector<double> ref = x0;
            o.max_iterations = static_cast<std::size_t>(throw_at - 2);
            kf::anderson(lin, kestrel::vector_view<double>(ref), o);
            o.max_iterations = 100;
            int calls = 0;
            auto G = [&](const double* x, double* g) {
                if (++calls == throw_at) throw std::runtime_error("map failed");
                lin(x, g);
            };
            std::vector<double> x = x0;
            CHECK_THROWS_AS(kf::anderson(G, kestrel::vector_view<double>(x), o), std::runtime_error);
            INFO("memory " << c.memory << ", period " << c.period << ", threads " << t << ", throw at call " << throw_at);
            CHECK(x == ref);
        }
    }
}

TEST_CASE("anderson with a residual that never changes keeps an empty history and steps like plain iteration", "[fixed_point][anderson]") {
    // G(x) = x + c has no fixed point and f = c at every x: every new column df = 0 is left out,
    // so each step is the plain one, x_k = x_0 + k c (exact in binary: dyadic values).
    const std::vector<double> c{0.5, -0.25, 1.0, 0.125};
    auto G = [&](const double* x, double* g) {
        for (std::size_t i = 0; i < c.size(); ++i) g[i] = x[i] + c[i];
    };
    kf::anderson_options o;
    o.memory = 3;
    o.rtol = 0.0;
    o.max_iterations = 9;
    o.record_history = true;
    std::vector<double> x{1.0, 2.0, 3.0, 4.0};
    const auto r = kf::anderson(G, kestrel::vector_view<double>(x), o);
    CHECK_FALSE(r.converged);
    CHECK(r.iterations == 9);
    CHECK(r.restarts == 0);
    for (const auto& h : r.history) CHECK(h.memory == 0);
    for (std::size_t i = 0; i < c.size(); ++i) CHECK(x[i] == double(i + 1) + 9.0 * c[i]);
}

namespace {

// The passes against a straightforward evaluation of their formulas in T (elementwise) and
// double (sums), on random data: f written bit for bit, w to two roundings, inner products
// to a relative 1e-12 (double) / 3e-5 (float) of the bound sum |a_i b_i|, and the same bits at
// 1, 2 and 3 threads.
template <class T>
void check_passes(std::size_t n, std::size_t mk, double beta) {
    namespace kd = kf::detail;
    const kestrel::counter_rng rng(2024, 7);
    std::size_t draw = 0;
    auto vec = [&](double scale) {
        std::vector<T> v(n);
        for (auto& e : v) e = static_cast<T>(scale * (2.0 * rng.uniform_double(draw++) - 1.0));
        return v;
    };
    std::vector<std::vector<T>> raw;
    for (std::size_t j = 0; j <= mk; ++j) raw.push_back(vec(1.0));
    const std::vector<T> gn = vec(1.0), xn = vec(1.0);
    std::vector<const T*> rp;
    for (auto& v : raw) rp.push_back(v.data());
    const T tb = static_cast<T>(beta), tc = static_cast<T>(1.0 - beta);
    // Reference.
    std::vector<T> f(n), d(n), wref(n);
    double ff = 0, dd = 0, dfn = 0, ffb = 0, ddb = 0, dfnb = 0;
    std::vector<double> sref(mk, 0.0), tref(mk, 0.0), sb(mk, 0.0), tbnd(mk, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        f[i] = gn[i] - xn[i];
        d[i] = f[i] - raw[mk][i];
        wref[i] = tb * gn[i] + tc * xn[i];
        ff += double(f[i]) * f[i];
        dd += double(d[i]) * d[i];
        dfn += double(d[i]) * f[i];
        ffb += std::abs(double(f[i]) * f[i]);
        ddb += std::abs(double(d[i]) * d[i]);
        dfnb += std::abs(double(d[i]) * f[i]);
        for (std::size_t j = 0; j < mk; ++j) {
            const T cj = raw[j + 1][i] - raw[j][i];
            sref[j] += double(cj) * d[i];
            tref[j] += double(cj) * f[i];
            sb[j] += std::abs(double(cj) * d[i]);
            tbnd[j] += std::abs(double(cj) * f[i]);
        }
    }
    const double tol = std::is_same<T, float>::value ? 3e-5 : 1e-12;  // >= 256 eps_T: a sub-block's sum in T
    const std::vector<double> gamma = [&] {
        std::vector<double> g(mk);
        for (std::size_t j = 0; j < mk; ++j) g[j] = 0.3 * double(j + 1) - 0.5;
        return g;
    }();
    std::vector<T> first_out, first_f, first_w;
    std::vector<double> first_s;
    for (int threads : {1, 2, 3}) {
        const auto pol = kestrel::exec_policy::with_threads(threads);
        std::vector<T> fo(n), wo(n);
        kd::residual_pass_args<T> a;
        a.gn = gn.data();
        a.xn = xn.data();
        a.f_out = fo.data();
        a.w_out = wo.data();
        a.beta = tb;
        a.one_minus_beta = tc;
        a.raw = rp.data();
        a.mk = mk;
        std::vector<double> partials(kestrel::simd::reduction_blocks(n).count * (3 + 2 * mk)), s(mk + 1), t(mk + 1);
        const auto r = kd::residual_pass(a, n, partials.data(), s.data(), t.data(), pol);
        INFO("n = " << n << ", mk = " << mk << ", threads = " << threads);
        CHECK(fo == f);
        for (std::size_t i = 0; i < n; ++i) REQUIRE(std::abs(double(wo[i]) - double(wref[i])) <= 2 * std::numeric_limits<T>::epsilon() * (std::abs(double(gn[i])) + std::abs(double(xn[i]))));
        CHECK(std::abs(r.ff - ff) <= tol * ffb);
        CHECK(std::abs(r.dd - dd) <= tol * ddb);
        CHECK(std::abs(r.dfn - dfn) <= tol * dfnb);
        for (std::size_t j = 0; j < mk; ++j) {
            CHECK(std::abs(s[j] - sref[j]) <= tol * sb[j]);
            CHECK(std::abs(t[j] - tref[j]) <= tol * tbnd[j]);
        }
        // The update out = raw[mk] - sum_j gamma_j (raw[j+1] - raw[j]).
        std::vector<T> out(n), neg(mk + 1);
        kd::history_combine_pass<T>(out.data(), rp.data(), mk, gamma.data(), neg.data(), n, pol);
        for (std::size_t i = 0; i < n; ++i) {
            double v = raw[mk][i], bound = std::abs(double(raw[mk][i]));
            for (std::size_t j = 0; j < mk; ++j) {
                const double cj = double(T(raw[j + 1][i] - raw[j][i]));
                v -= double(T(gamma[j])) * cj;
                bound += std::abs(gamma[j] * cj);
            }
            REQUIRE(std::abs(double(out[i]) - v) <= 4 * (mk + 1) * std::numeric_limits<T>::epsilon() * bound);
        }
        std::vector<double> sums{r.ff, r.dd, r.dfn};
        sums.insert(sums.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(mk));
        sums.insert(sums.end(), t.begin(), t.begin() + static_cast<std::ptrdiff_t>(mk));
        if (threads == 1) {
            first_out = out;
            first_f = fo;
            first_w = wo;
            first_s = sums;
        } else {
            CHECK(out == first_out);
            CHECK(wo == first_w);
            CHECK(sums == first_s);
        }
    }
}

}  // namespace

TEST_CASE("anderson's two passes equal their formulas and give the same bits at 1, 2 and 3 threads", "[fixed_point][anderson]") {
    // 70001: above the parallel threshold (2^15), several reduction blocks, and a ragged tail.
    for (std::size_t n : {std::size_t(37), std::size_t(70001)}) {
        for (std::size_t mk : {std::size_t(0), std::size_t(1), std::size_t(4)}) {
            check_passes<double>(n, mk, mk == 1 ? 0.7 : 1.0);
            check_passes<float>(n, mk, 0.6);
        }
    }
}

TEST_CASE("anderson's iterates do not depend on what a reused workspace held before", "[fixed_point][anderson]") {
    // The workspace's vectors are not initialized (core/large_buffer.hpp): every slot must be
    // written before it is read. A workspace first filled by a solve of another map must give
    // the same bits as a fresh one, for every history path (filling ring, drops, restarts,
    // delay, damping, safeguard). n = 3001 (not a multiple of the sub-block, one
    // thread) and 40000 (2 threads, the passes split into blocks).
    for (std::size_t n : {std::size_t(3001), std::size_t(40000)}) {
        shifted_laplacian_jacobi G(n, 0.05);
        componentwise_cos other{n};
        for (int variant = 0; variant < 4; ++variant) {
            kf::anderson_options o;
            o.memory = variant == 3 ? 1 : 6;
            o.damping = variant == 1 ? 0.7 : 1.0;
            o.delay = variant == 2 ? 3 : 0;
            o.restart_period = variant == 2 ? 4 : 0;
            o.safeguard_factor = variant == 3 ? 1.0 : 0.0;
            o.tikhonov = variant == 1 ? 1e-9 : 0.0;
            o.rtol = 1e-10;
            o.max_iterations = 60;
            o.policy = kestrel::exec_policy::with_threads(n > 10000 ? 2 : 1);
            kf::anderson_workspace<double> used(n, 6);
            std::vector<double> y(n, 2.0);
            kf::anderson_options po = o;
            po.memory = 6;
            po.damping = 0.5;
            po.max_iterations = 40;
            kf::anderson(other, kestrel::vector_view<double>(y), po, used);
            std::vector<double> a(n, 0.0), b(n, 0.0);
            const auto ra = kf::anderson(G, kestrel::vector_view<double>(a), o, used);
            kf::anderson_workspace<double> fresh(n, 6);
            const auto rb = kf::anderson(G, kestrel::vector_view<double>(b), o, fresh);
            CHECK(ra.iterations == rb.iterations);
            CHECK(ra.restarts == rb.restarts);
            CHECK(ra.safeguard_events == rb.safeguard_events);
            CHECK(ra.residual_norm == rb.residual_norm);
            CHECK(a == b);
        }
    }
}
