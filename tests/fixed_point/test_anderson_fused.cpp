// Anderson with a block map (fused G, anderson.hpp's block_map): the same bits as the vector
// map at every thread count, damping, memory and with streamed stores; every element asked
// exactly once per evaluation; a throwing or non-finite block reaches the caller with x as the
// vector form leaves it; the fused residual pass equals the array one element for element.
#include <catch2/catch.hpp>

#include <kestrel/core/error.hpp>
#include <kestrel/fixed_point/anderson.hpp>
#include <kestrel/fixed_point/halpern.hpp>
#include <kestrel/fixed_point/krasnoselskii_mann.hpp>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "accel_test_maps.hpp"

namespace kf = kestrel::fixed_point;

namespace {

/// The 1-D shifted Laplacian Jacobi map of accel_test given block by block: out[i - begin] =
/// G(x)_i with the same formula (and so the same bits) as its vector form; it reads x outside
/// [begin, end) (the neighbours), as a stencil map does.
struct fused_laplacian_blocks {
    const accel_test::shifted_laplacian_jacobi* lin;
    template <class T>
    void operator()(const T* x, std::size_t begin, std::size_t end, T* out) const {
        const std::size_t n = lin->n;
        for (std::size_t i = begin; i < end; ++i)
            out[i - begin] = static_cast<T>((lin->b[i] + (i > 0 ? double(x[i - 1]) : 0.0) +
                                             (i + 1 < n ? double(x[i + 1]) : 0.0)) /
                                            (2 + lin->s));
    }
};

template <class T>
std::vector<T> fused_start(std::size_t n) {
    std::vector<T> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<T>(0.3 * std::sin(0.002 * double(i)));
    return x;
}

// Iterates per solve of the bit-for-bit comparisons: the history (m <= 5) is full and its
// oldest column dropped after 6 either way; debug / sanitized builds run a third of them.
#ifdef NDEBUG
constexpr std::size_t fused_iterates = 60;
#else
constexpr std::size_t fused_iterates = 20;
#endif

bool fused_same_result(const kf::fixed_point_result& a, const kf::fixed_point_result& b) {
    return a.converged == b.converged && a.iterations == b.iterations && a.evaluations == b.evaluations &&
           a.residual_norm == b.residual_norm && a.restarts == b.restarts && a.safeguard_events == b.safeguard_events;
}

/// Runs solve(block map, x) from fused_start with a block map that throws from evaluation
/// `throw_at` on (the sub-block at 0 counts evaluations; once armed, every block of that
/// evaluation throws: the other thread may have run some of its blocks before, no matter);
/// the error must reach the caller with x equal to ref.
template <class Solve>
void check_throwing_block(const fused_laplacian_blocks& inner, int throw_at, const std::vector<double>& ref,
                          Solve&& solve) {
    std::atomic<int> evaluations{0};
    std::atomic<bool> armed{false};
    auto block = [&](const double* x, std::size_t begin, std::size_t end, double* out) {
        if (begin == 0 && ++evaluations == throw_at) armed = true;
        if (armed) throw std::runtime_error("block failed");
        inner(x, begin, end, out);
    };
    std::vector<double> x = fused_start<double>(inner.lin->n);
    CHECK_THROWS_AS(solve(kf::blockwise(block), kestrel::vector_view<double>(x)), std::runtime_error);
    CHECK(x == ref);
}

}  // namespace

TEST_CASE("anderson with a block map gives the bits of the vector map at 1, 2 and 3 threads", "[fixed_point][anderson]") {
    // 70001: above the passes' parallel threshold (2^15), several reduction blocks, ragged tail.
    const accel_test::shifted_laplacian_jacobi lin(70001, 0.05);
    const auto B = kf::blockwise(fused_laplacian_blocks{&lin});
    struct config {
        int memory;
        double damping, tikhonov, safeguard;
        std::size_t period;
    };
    // period > 1: plain steps read x_{k+1} in its w slot (m = 1: moved out of the rewritten slot).
    for (const config c : {config{5, 1.0, 0.0, 0.0, 1}, config{5, 0.8, 1e-10, 0.0, 1}, config{0, 1.0, 0.0, 0.0, 1},
                           config{0, 0.7, 0.0, 0.0, 1}, config{3, 1.0, 0.0, 1.0, 1}, config{5, 1.0, 0.0, 0.0, 3},
                           config{1, 0.9, 0.0, 1.0, 2}}) {
        kf::anderson_options o;
        o.memory = c.memory;
        o.damping = c.damping;
        o.tikhonov = c.tikhonov;
        o.safeguard_factor = c.safeguard;
        o.extrapolation_period = c.period;
        o.rtol = 1e-9;
        o.max_iterations = fused_iterates;
        std::vector<double> ref = fused_start<double>(lin.n);
        const auto rr = kf::anderson(lin, kestrel::vector_view<double>(ref), o);
        CHECK(rr.iterations > 10);  // enough iterates for a full history and its updates
        for (int t : {1, 2, 3}) {
            o.policy = kestrel::exec_policy::with_threads(t);
            std::vector<double> x = fused_start<double>(lin.n);
            const auto r = kf::anderson(B, kestrel::vector_view<double>(x), o);
            INFO("memory " << c.memory << ", damping " << c.damping << ", safeguard " << c.safeguard << ", period "
                           << c.period << ", threads " << t);
            CHECK(fused_same_result(r, rr));
            CHECK(x == ref);
        }
    }
    // float: the block map runs in T as well (every step, and alternating with deferred products).
    for (std::size_t period : {1, 3}) {
        kf::anderson_options o;
        o.memory = 4;
        o.rtol = 1e-4;
        o.extrapolation_period = period;
        std::vector<float> ref = fused_start<float>(lin.n), x = ref;
        const auto rr = kf::anderson(lin, kestrel::vector_view<float>(ref), o);
        o.policy = kestrel::exec_policy::with_threads(2);
        const auto r = kf::anderson(B, kestrel::vector_view<float>(x), o);
        INFO("float, period " << period);
        CHECK(rr.converged);
        CHECK(fused_same_result(r, rr));
        CHECK(x == ref);
    }
}

TEST_CASE("anderson with a block map stores its history by non-temporal stores with the bits of the vector map", "[fixed_point][anderson]") {
    // 2 (m + 1) n sizeof(double) = 38.4 MB > detail::stream_history_bytes: the new f and G's
    // output leave the pass by non-temporal stores; a few iterates suffice to read them back.
    const std::size_t n = 400003;
    REQUIRE(2.0 * 6.0 * double(n) * sizeof(double) > double(kf::detail::stream_history_bytes));
    const accel_test::shifted_laplacian_jacobi lin(n, 0.05);
    kf::anderson_options o;
    o.memory = 5;
    o.rtol = 0.0;
    o.max_iterations = 9;
    std::vector<double> ref = fused_start<double>(n);
    kf::anderson_workspace<double> ws(n, 5);
    const auto rr = kf::anderson(lin, kestrel::vector_view<double>(ref), o, ws);
    CHECK(rr.iterations == 9);
    for (int t : {1, 2}) {
        o.policy = kestrel::exec_policy::with_threads(t);
        std::vector<double> x = fused_start<double>(n);
        const auto r = kf::anderson(kf::blockwise(fused_laplacian_blocks{&lin}), kestrel::vector_view<double>(x), o, ws);
        INFO("threads " << t);
        CHECK(fused_same_result(r, rr));
        CHECK(x == ref);
    }
}

TEST_CASE("anderson asks a block map for every element exactly once per evaluation, in sub-blocks inside 0 .. n - 1", "[fixed_point][anderson]") {
    const accel_test::shifted_laplacian_jacobi lin(40003, 0.1);
    for (int t : {1, 2}) {
        std::unique_ptr<std::atomic<int>[]> asked(new std::atomic<int>[lin.n]);
        for (std::size_t i = 0; i < lin.n; ++i) asked[i] = 0;
        std::atomic<int> bad_ranges{0};
        const fused_laplacian_blocks inner{&lin};
        auto block = [&](const double* x, std::size_t begin, std::size_t end, double* out) {
            if (!(begin < end && end <= lin.n && end - begin <= kf::detail::pass_sub_block)) ++bad_ranges;
            for (std::size_t i = begin; i < end && i < lin.n; ++i) ++asked[i];
            inner(x, begin, end, out);
        };
        kf::anderson_options o;
        o.memory = 4;
        o.rtol = 0.0;
        o.max_iterations = 6;
        o.policy = kestrel::exec_policy::with_threads(t);
        std::vector<double> x = fused_start<double>(lin.n);
        const auto r = kf::anderson(kf::blockwise(block), kestrel::vector_view<double>(x), o);
        REQUIRE(r.evaluations == 7);
        CHECK(bad_ranges == 0);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < lin.n; ++i) wrong += asked[i] != 7;
        INFO("threads " << t);
        CHECK(wrong == 0);
    }
}

TEST_CASE("a block map throwing inside anderson's pass reaches the caller with the last accepted iterate in x", "[fixed_point][anderson]") {
    const accel_test::shifted_laplacian_jacobi lin(40003, 0.1);
    const fused_laplacian_blocks inner{&lin};
    for (int t : {1, 2}) {
        for (int throw_at : {1, 4, 5}) {  // evaluation number: x_{throw_at - 1} is being evaluated
            kf::anderson_options o;
            o.memory = 3;
            o.damping = throw_at == 5 ? 0.8 : 1.0;
            o.rtol = 0.0;
            o.policy = kestrel::exec_policy::with_threads(t);
            std::vector<double> ref = fused_start<double>(lin.n);
            if (throw_at > 1) {
                o.max_iterations = static_cast<std::size_t>(throw_at - 2);
                kf::anderson(lin, kestrel::vector_view<double>(ref), o);
            }
            o.max_iterations = 100;
            INFO("threads " << t << ", throw at evaluation " << throw_at);
            check_throwing_block(inner, throw_at, ref, [&](auto B, auto x) { return kf::anderson(B, x, o); });
        }
    }
}

TEST_CASE("a non-finite block map inside anderson is refused with x where the vector form leaves it", "[fixed_point][anderson]") {
    const accel_test::shifted_laplacian_jacobi lin(40003, 0.1);
    const fused_laplacian_blocks inner{&lin};
    int vector_calls = 0;
    auto vector_map = [&](const double* x, double* g) {
        inner(x, 0, lin.n, g);
        if (++vector_calls == 6) g[1] = std::numeric_limits<double>::quiet_NaN();
    };
    std::atomic<int> evaluations{0};
    // Element 1 is in the sub-block at 0, which counts the evaluations (so the NaN lands in
    // the sixth whatever thread runs which sub-block first).
    auto block = [&](const double* x, std::size_t begin, std::size_t end, double* out) {
        inner(x, begin, end, out);
        if (begin == 0 && ++evaluations == 6) out[1] = std::numeric_limits<double>::quiet_NaN();
    };
    kf::anderson_options o;
    o.memory = 3;
    o.rtol = 0.0;
    std::vector<double> ref = fused_start<double>(lin.n), x = ref;
    CHECK_THROWS_AS(kf::anderson(vector_map, kestrel::vector_view<double>(ref), o), kestrel::invalid_argument);
    o.policy = kestrel::exec_policy::with_threads(2);
    CHECK_THROWS_AS(kf::anderson(kf::blockwise(block), kestrel::vector_view<double>(x), o), kestrel::invalid_argument);
    CHECK(evaluations == 6);
    CHECK(x == ref);
    CHECK(x != fused_start<double>(lin.n));
}

TEST_CASE("a block map is a vector map for the other solvers", "[fixed_point][anderson]") {
    const accel_test::shifted_laplacian_jacobi lin(3001, 0.1);
    kf::halpern_options o;
    o.rtol = 1e-6;
    std::vector<double> ref = fused_start<double>(lin.n), x = ref;
    const auto rr = kf::halpern(lin, kestrel::vector_view<double>(ref), o);
    const auto r = kf::halpern(kf::blockwise(fused_laplacian_blocks{&lin}), kestrel::vector_view<double>(x), o);
    REQUIRE(rr.iterations > 10);
    CHECK(fused_same_result(r, rr));
    CHECK(x == ref);
}

TEST_CASE("plain and damped iteration with a block map give the bits of the vector map at 1, 2 and 3 threads", "[fixed_point][plain]") {
    // 70001: several reduction blocks and sub-blocks on both threads, a ragged tail.
    const accel_test::shifted_laplacian_jacobi lin(70001, 0.05);
    const auto B = kf::blockwise(fused_laplacian_blocks{&lin});
    for (double a : {1.0, 0.7}) {
        kf::krasnoselskii_mann_options o;
        o.relaxation = a;
        o.rtol = 1e-9;
        o.max_iterations = fused_iterates;
        std::vector<double> ref = fused_start<double>(lin.n);
        const auto rr = kf::krasnoselskii_mann(lin, kestrel::vector_view<double>(ref), o);
        CHECK(rr.iterations > 10);
        for (int t : {1, 2, 3}) {
            o.policy = kestrel::exec_policy::with_threads(t);
            std::vector<double> x = fused_start<double>(lin.n);
            const auto r = kf::krasnoselskii_mann(B, kestrel::vector_view<double>(x), o);
            INFO("relaxation " << a << ", threads " << t);
            CHECK(fused_same_result(r, rr));
            CHECK(x == ref);
        }
    }
    kf::krasnoselskii_mann_options o;
    o.rtol = 1e-4;
    std::vector<float> ref = fused_start<float>(lin.n), x = ref;
    const auto rr = kf::krasnoselskii_mann(lin, kestrel::vector_view<float>(ref), o);
    o.policy = kestrel::exec_policy::with_threads(2);
    const auto r = kf::krasnoselskii_mann(B, kestrel::vector_view<float>(x), o);
    REQUIRE(rr.converged);
    CHECK(fused_same_result(r, rr));
    CHECK(x == ref);
}

TEST_CASE("a block map throwing inside plain iteration reaches the caller with the last iterate in x", "[fixed_point][plain]") {
    const accel_test::shifted_laplacian_jacobi lin(40003, 0.1);
    const fused_laplacian_blocks inner{&lin};
    for (int t : {1, 2}) {
        for (int throw_at : {1, 2, 5}) {  // evaluation number: x_{throw_at - 1} is being evaluated
            kf::krasnoselskii_mann_options o;
            o.relaxation = throw_at == 5 ? 0.8 : 1.0;
            o.rtol = 0.0;
            o.policy = kestrel::exec_policy::with_threads(t);
            std::vector<double> ref = fused_start<double>(lin.n);
            if (throw_at > 1) {
                o.max_iterations = static_cast<std::size_t>(throw_at - 1);
                kf::krasnoselskii_mann(lin, kestrel::vector_view<double>(ref), o);
            }
            o.max_iterations = 100;
            INFO("threads " << t << ", throw at evaluation " << throw_at);
            check_throwing_block(inner, throw_at, ref, [&](auto B, auto x) { return kf::krasnoselskii_mann(B, x, o); });
        }
    }
}

namespace {

/// The fused residual pass (gn made by a block callback) against the array pass: the same f,
/// the same stored G output, the same sums, at every thread count and store mode.
template <class T>
void check_fused_residual_pass(std::size_t n, std::size_t mk) {
    namespace kd = kf::detail;
    std::vector<T> xn(n), gn(n);
    std::vector<std::vector<T>> raw(mk + 1, std::vector<T>(n));
    for (std::size_t i = 0; i < n; ++i) {
        xn[i] = static_cast<T>(std::cos(0.01 * double(i)));
        gn[i] = static_cast<T>(std::sin(0.013 * double(i)) + 0.5 * std::cos(0.003 * double(i)));
        for (std::size_t j = 0; j <= mk; ++j) raw[j][i] = static_cast<T>(std::sin(0.007 * double(i * (j + 1)) + double(j)));
    }
    std::vector<const T*> rp(mk + 1);
    for (std::size_t j = 0; j <= mk; ++j) rp[j] = raw[j].data();
    const std::size_t np = kestrel::simd::reduction_blocks(n).count * (3 + 2 * mk);
    auto run = [&](bool fused, bool stream, int threads, std::vector<T>& f, std::vector<T>& g, std::vector<double>& sums) {
        f.assign(n, T(-1));
        g.assign(n, T(-1));
        kd::residual_pass_args<T> a;
        a.gn = fused ? nullptr : gn.data();
        a.xn = xn.data();
        a.f_out = f.data();
        a.stream_f = stream;
        a.raw = rp.data();
        a.mk = mk;
        std::vector<double> partials(np), s(mk + 1), t(mk + 1);
        std::atomic<int> other_x{0};  // Catch2's CHECK is not for worker threads
        auto block = [&](const T* x, std::size_t begin, std::size_t end, T* out) {
            if (x != xn.data()) ++other_x;
            for (std::size_t i = begin; i < end; ++i) out[i - begin] = gn[i];
        };
        kd::residual_pass_sums r;
        if (fused) {
            a.g_out = g.data();
            r = kd::residual_pass(a, n, partials.data(), s.data(), t.data(), kestrel::exec_policy::with_threads(threads), &block);
        } else {
            g = gn;
            r = kd::residual_pass(a, n, partials.data(), s.data(), t.data(), kestrel::exec_policy::with_threads(threads));
        }
        CHECK(other_x == 0);
        sums = {r.ff, r.dd, r.dfn};
        sums.insert(sums.end(), s.begin(), s.begin() + std::ptrdiff_t(mk));
        sums.insert(sums.end(), t.begin(), t.begin() + std::ptrdiff_t(mk));
    };
    std::vector<T> f0, g0;
    std::vector<double> s0;
    run(false, false, 1, f0, g0, s0);
    // f against its formula (the sums are checked against the array pass, whose formulas
    // test_anderson.cpp checks).
    for (std::size_t i = 0; i < n; ++i) REQUIRE(f0[i] == gn[i] - xn[i]);
    for (bool stream : {false, true}) {
        for (int threads : {1, 2, 3}) {
            std::vector<T> f, g;
            std::vector<double> s;
            run(true, stream, threads, f, g, s);
            INFO("n " << n << ", mk " << mk << ", stream " << stream << ", threads " << threads);
            CHECK(f == f0);
            CHECK(g == gn);
            CHECK(s == s0);
        }
    }
}

}  // namespace

TEST_CASE("the fused residual pass equals the array pass in f, stored G output and sums", "[fixed_point][anderson]") {
    for (std::size_t n : {std::size_t(37), std::size_t(70001)}) {
        check_fused_residual_pass<double>(n, 5);
        check_fused_residual_pass<float>(n, 2);
    }
}
