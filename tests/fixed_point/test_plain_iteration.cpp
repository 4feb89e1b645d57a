// Plain and damped (Krasnoselskii-Mann) iteration with the two-buffer loop: the iterates are
// those of the textbook loop bit for bit, whichever buffer holds the last one; x holds the
// last accepted iterate when G throws or returns a non-finite value; same bits at any thread
// count.
#include <catch2/catch.hpp>

#include <kestrel/fixed_point/krasnoselskii_mann.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include "accel_test_maps.hpp"
#include "validation_table.hpp"

namespace kf = kestrel::fixed_point;

namespace {

// n above the passes' parallel threshold (2^15), so they split into blocks at 2 and 3 threads.
constexpr std::size_t big_n = 40000;

std::vector<double> start_point(std::size_t n) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = std::sin(0.001 * double(i));
    return x;
}

// G(x)_i = x_i / 2 + c_i with dyadic c: every damped iterate with a = 1/2 or 3/4 is a dyadic
// rational needing fewer than 53 significant bits over the first 20 steps, so any evaluation
// order (FMA or not, SIMD or scalar) rounds nothing and the textbook loop's values are exact.
struct dyadic_map {
    std::size_t n;
    double c(std::size_t i) const { return double(int(i % 7) - 3) * 0.25; }
    void operator()(const double* x, double* g) const {
        for (std::size_t i = 0; i < n; ++i) g[i] = 0.5 * x[i] + c(i);
    }
};

}  // namespace

TEST_CASE("plain iteration gives the iterates of x = G(x) bit for bit at every iteration count and thread count", "[fixed_point][plain]") {
    accel_test::componentwise_cos G{big_n};
    const std::vector<double> x0 = start_point(G.n);
    for (std::size_t steps : {std::size_t(0), std::size_t(1), std::size_t(24), std::size_t(25)}) {
        // The reference: the textbook loop.
        std::vector<double> ref = x0, g(G.n);
        for (std::size_t k = 0; k < steps; ++k) {
            G(ref.data(), g.data());
            ref = g;
        }
        G(ref.data(), g.data());
        double f2 = 0;
        for (std::size_t i = 0; i < G.n; ++i) f2 += (g[i] - ref[i]) * (g[i] - ref[i]);
        for (int t : {1, 2, 3}) {
            kf::krasnoselskii_mann_options o;
            o.rtol = 0.0;  // never converged: the limit stops the run
            o.max_iterations = steps;
            o.record_history = true;
            o.policy = kestrel::exec_policy::with_threads(t);
            std::vector<double> x = x0;
            const auto r = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x), o);
            INFO("steps " << steps << ", threads " << t);
            CHECK_FALSE(r.converged);
            CHECK(r.iterations == steps);
            CHECK(r.evaluations == steps + 1);
            CHECK(r.history.size() == steps + 1);
            CHECK(x == ref);  // last iterate in x whichever buffer held it
            CHECK(r.residual_norm == Approx(std::sqrt(f2)).epsilon(1e-12));
        }
    }
}

TEST_CASE("damped Krasnoselskii-Mann gives the exact iterates of the textbook update at every thread count", "[fixed_point][plain]") {
    dyadic_map G{big_n};
    std::vector<double> x0(G.n);
    for (std::size_t i = 0; i < G.n; ++i) x0[i] = double(int(i % 5)) * 0.5;
    for (double a : {0.5, 0.75}) {
        for (std::size_t steps : {std::size_t(19), std::size_t(20)}) {
            std::vector<double> ref = x0, g(G.n);
            for (std::size_t k = 0; k < steps; ++k) {
                G(ref.data(), g.data());
                for (std::size_t i = 0; i < G.n; ++i) ref[i] = (1 - a) * ref[i] + a * g[i];
            }
            for (int t : {1, 2, 3}) {
                kf::krasnoselskii_mann_options o;
                o.relaxation = a;
                o.rtol = 0.0;
                o.max_iterations = steps;
                o.policy = kestrel::exec_policy::with_threads(t);
                std::vector<double> x = x0;
                const auto r = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x), o);
                INFO("a " << a << ", steps " << steps << ", threads " << t);
                CHECK(r.iterations == steps);
                CHECK(x == ref);
            }
        }
    }
}

TEST_CASE("plain iteration converges to the known fixed point and stops at the first iterate below tolerance", "[fixed_point][plain]") {
    accel_test::shifted_laplacian_jacobi G(300, 0.05);
    for (double a : {1.0, 0.9}) {
        kf::krasnoselskii_mann_options o;
        o.relaxation = a;
        o.rtol = 1e-10;
        o.max_iterations = 100000;
        o.record_history = true;
        std::vector<double> x(G.n, 0.0);
        const auto r = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x), o);
        REQUIRE(r.converged);
        double err = 0;
        for (std::size_t i = 0; i < G.n; ++i) err = std::max(err, std::abs(x[i] - G.xstar[i]));
        // ||x - x*|| <= ||f|| / (1 - q) for the contraction factor q = 2cos(pi/301)/2.05.
        const double q = 2 * std::cos(3.14159265358979323846 / 301) / 2.05;
        CHECK(err <= r.residual_norm / (1 - q) * 1.0000001);
        CHECK(r.residual_norm <= r.tolerance);
        REQUIRE(r.history.size() == r.iterations + 1);
        CHECK(r.history[r.iterations - 1].residual_norm > r.tolerance);  // not stopped one step late
        // The residual x returns with: recomputed here.
        std::vector<double> g(G.n);
        G(x.data(), g.data());
        double f2 = 0;
        for (std::size_t i = 0; i < G.n; ++i) f2 += (g[i] - x[i]) * (g[i] - x[i]);
        CHECK(r.residual_norm == Approx(std::sqrt(f2)).epsilon(1e-12));
    }
}

TEST_CASE("plain iteration keeps the last accepted iterate in x when G throws, at 1 and 2 threads", "[fixed_point][plain]") {
    accel_test::componentwise_cos inner{big_n};
    const std::vector<double> x0 = start_point(inner.n);
    for (int t : {1, 2}) {
        for (double a : {1.0, 0.8}) {
            for (int throw_at : {4, 5}) {
                // G's call number throw_at evaluates x_{throw_at - 1}, made by the step before
                // (as in the textbook loop, which updates x in place, x then holds it).
                kf::krasnoselskii_mann_options o;
                o.relaxation = a;
                o.rtol = 0.0;
                o.policy = kestrel::exec_policy::with_threads(t);
                std::vector<double> ref = x0;
                o.max_iterations = static_cast<std::size_t>(throw_at - 1);
                kf::krasnoselskii_mann(inner, kestrel::vector_view<double>(ref), o);
                o.max_iterations = 100;
                int calls = 0;
                auto G = [&](const double* x, double* g) {
                    if (++calls == throw_at) {
                        g[0] = -7.0;  // G may have written part of its output before it throws
                        throw std::runtime_error("map failed");
                    }
                    inner(x, g);
                };
                std::vector<double> x = x0;
                CHECK_THROWS_AS(kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x), o), std::runtime_error);
                INFO("threads " << t << ", a " << a << ", throw at call " << throw_at);
                CHECK(x == ref);
            }
        }
    }
}

TEST_CASE("plain iteration reports a non-finite G with x at the point it was evaluated", "[fixed_point][plain]") {
    // G(x) = x / 2 + 1 from 0: x_1 = 1, x_2 = 1.5; NaN beyond a threshold. The failing point is
    // in the scratch buffer (odd k) or in x's own buffer (even k): x must hold it either way.
    for (double threshold : {0.9, 1.2}) {
        auto G = [threshold](const double* x, double* g) {
            g[0] = x[0] < threshold ? 0.5 * x[0] + 1.0 : std::numeric_limits<double>::quiet_NaN();
        };
        std::vector<double> x{0.0};
        kestrel_test::check_refusal("krasnoselskii_mann", "G",
                                    [&] { kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x)); });
        CHECK(x[0] == (threshold < 1.0 ? 1.0 : 1.5));
    }
}

namespace {

template <class T>
void check_streamed_residual_pass(std::size_t n, std::size_t mk) {
    namespace kd = kestrel::fixed_point::detail;
    auto vec = [n](double phase) {
        std::vector<T> v(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(std::sin(phase + 0.37 * double(i)));
        return v;
    };
    std::vector<std::vector<T>> raw;
    for (std::size_t j = 0; j <= mk; ++j) raw.push_back(vec(1.0 + double(j)));
    std::vector<const T*> rp;
    for (auto& v : raw) rp.push_back(v.data());
    const std::vector<T> gn = vec(0.25), xn = vec(0.5);
    std::vector<T> f(n);
    for (std::size_t i = 0; i < n; ++i) f[i] = gn[i] - xn[i];
    std::vector<double> reference;
    for (int threads : {1, 2, 3}) {
        for (std::size_t offset = 0; offset < 4; ++offset) {  // every alignment of the destination
            for (bool stream : {false, true}) {
                std::vector<T> buffer(n + 4, T(-1));
                kd::residual_pass_args<T> a;
                a.gn = gn.data();
                a.xn = xn.data();
                a.f_out = buffer.data() + offset;
                a.stream_f = stream;
                a.raw = rp.data();
                a.mk = mk;
                std::vector<double> partials(kestrel::simd::reduction_blocks(n).count * (3 + 2 * mk)), s(mk + 1), t(mk + 1);
                const auto r = kd::residual_pass(a, n, partials.data(), s.data(), t.data(),
                                                 kestrel::exec_policy::with_threads(threads));
                INFO("n " << n << ", mk " << mk << ", threads " << threads << ", offset " << offset << ", stream " << stream);
                CHECK(std::vector<T>(buffer.begin() + std::ptrdiff_t(offset), buffer.begin() + std::ptrdiff_t(offset + n)) == f);
                for (std::size_t i = 0; i < offset; ++i) CHECK(buffer[i] == T(-1));  // nothing outside written
                for (std::size_t i = offset + n; i < n + 4; ++i) CHECK(buffer[i] == T(-1));
                std::vector<double> sums{r.ff, r.dd, r.dfn};
                sums.insert(sums.end(), s.begin(), s.begin() + std::ptrdiff_t(mk));
                sums.insert(sums.end(), t.begin(), t.begin() + std::ptrdiff_t(mk));
                if (reference.empty()) reference = sums;
                CHECK(sums == reference);
            }
        }
    }
}

}  // namespace

TEST_CASE("the residual pass stores f by non-temporal stores with the same bits at every offset and thread count", "[fixed_point][anderson]") {
    // 70001: above the parallel threshold (2^15), several reduction blocks, a ragged tail.
    for (std::size_t n : {std::size_t(37), std::size_t(70001)}) {
        check_streamed_residual_pass<double>(n, 3);
        check_streamed_residual_pass<float>(n, 5);
    }
}
