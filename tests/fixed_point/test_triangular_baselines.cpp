// The baselines of benchmarks/fixed_point_sequential.cpp against the kernels: the sequential
// chain loop equals Gauss-Seidel and exact-mode Jacobi bit for bit (and tolerance-mode Jacobi
// within its bound), the greedy loop equals Jacobi / aggressive decoding, and the batched
// rotated-Gaussian model equals its one-state calls, with Picard matching diffusion::sample on it.
#include <catch2/catch.hpp>

#include <kestrel/diffusion.hpp>
#include <kestrel/fixed_point/jacobi_decoding.hpp>
#include <kestrel/fixed_point/picard_diffusion.hpp>
#include <kestrel/fixed_point/triangular_system.hpp>

#include <cmath>
#include <vector>

#include "baselines/fixed_point_sequential.hpp"

namespace fp = kestrel::fixed_point;
namespace kd = kestrel::diffusion;
namespace kb = kestrel_baseline;
using kestrel::matrix_view;
using kestrel::vector_view;

TEST_CASE("fixed_point: the sequential chain baseline equals Gauss-Seidel and Jacobi", "[fixed_point][baselines]") {
    const std::size_t T = 96, w = 32;
    const kb::dense_tanh_chain c(T, w, 0.4, 42);
    std::vector<float> start((T + 1) * w, 0.0f);
    for (std::size_t j = 0; j < w; ++j) start[j] = float(std::sin(double(j)));
    auto ref = start;
    kb::sequential_chain(c, ref);
    auto f = [&](vector_view<const std::size_t> pos, matrix_view<const float> x, matrix_view<float> out) {
        kestrel::parallel_for(pos.size(), kestrel::exec_policy{2},
                              [&](std::size_t r) { c.eval(pos[r], x.row_data(pos[r] - 1), out.row_data(r)); });
    };
    fp::triangular_workspace<float> ws;
    auto gs = start;
    CHECK(fp::solve_gauss_seidel(f, matrix_view<float>(gs.data(), T + 1, w), ws).converged);
    CHECK(gs == ref);
    auto jac = start;
    CHECK(fp::solve_jacobi(f, matrix_view<float>(jac.data(), T + 1, w), ws).converged);
    CHECK(jac == ref);
    // The benchmark's setting: atol 1e-5, windows of 4 and all. The map contracts (spectral norm of
    // W_t about 0.8, tanh' <= 1), so an accepted value is within atol / (1 - 0.8) = 5e-5 of the exact
    // one; we allow 1e-4.
    for (std::size_t window : {0u, 4u, 8u}) {
        fp::triangular_options o;
        o.atol = 1e-5;
        o.window = window;
        auto x = start;
        const auto r = fp::solve_jacobi(f, matrix_view<float>(x.data(), T + 1, w), ws, o);
        CHECK(r.converged);
        double err = 0;
        for (std::size_t i = 0; i < x.size(); ++i) err = std::max(err, std::fabs(double(x[i]) - double(ref[i])));
        CHECK(err <= 1e-4);
        if (window == 0) CHECK(r.rounds < T / 3);
    }
}

TEST_CASE("fixed_point: the greedy decoding baseline equals Jacobi and aggressive decoding", "[fixed_point][baselines]") {
    const std::size_t n = 96, V = 256;
    const kb::toy_corrector_lm lm(V, 32, 0.7f, 3);
    std::vector<std::int32_t> prompt(n + 1);
    const kestrel::counter_rng rng(5, 0);
    for (std::size_t i = 0; i < n; ++i) prompt[i] = std::int32_t(rng.uniform_double(i) * double(V)) % std::int32_t(V);
    prompt[n] = 0;
    const auto ref = kb::greedy_corrector(lm, prompt);
    const std::size_t m = prompt.size();
    auto model = [&](vector_view<const std::int32_t> seq, std::size_t begin, vector_view<std::int32_t> out) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = lm.next(seq[begin + i], seq[m + begin + i - 1]);
    };
    fp::jacobi_decoding_workspace ws;
    std::vector<std::int32_t> out(n);
    fp::greedy_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws, V);
    CHECK(out == ref);
    fp::jacobi_decoding_options o;
    o.vocab_size = V;
    const auto r1 = fp::jacobi_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws, o);
    CHECK(out == ref);
    o.init = fp::decoding_init::copy_input;
    o.source = vector_view<const std::int32_t>(prompt.data(), n);
    const auto r2 = fp::jacobi_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws, o);
    CHECK(out == ref);
    CHECK(r1.rounds < n);
    CHECK(r2.rounds < n);
}

TEST_CASE("fixed_point: the rotated-Gaussian model batched equals one state at a time, and Picard matches the sampler on it", "[fixed_point][baselines]") {
    const std::size_t d = 24, steps = 60;
    const kb::rotated_gaussian g(d, 17);
    // Q is orthogonal.
    CHECK((g.Q.transpose() * g.Q - Eigen::MatrixXd::Identity(Eigen::Index(d), Eigen::Index(d))).cwiseAbs().maxCoeff() < 1e-12);
    const auto sch = kd::noise_schedule::linear_vp();
    const auto grid = kd::uniform_time_grid(sch, steps, 1.0, 1e-3);
    Eigen::MatrixXd X = Eigen::MatrixXd::Random(Eigen::Index(d), 5), batched(Eigen::Index(d), 5), single(Eigen::Index(d), 1);
    g.noise_batch(X, grid.data() + 10, batched);
    for (Eigen::Index c = 0; c < 5; ++c) {
        g.noise_batch(X.col(c), grid.data() + 10 + c, single);
        CHECK((single.col(0) - batched.col(c)).cwiseAbs().maxCoeff() < 1e-12);
    }
    std::vector<double> x0(d);
    for (std::size_t i = 0; i < d; ++i) x0[i] = std::cos(3.0 * double(i));
    auto seq_model = [&](vector_view<const double> x, const kd::grid_point& p, vector_view<double> out) {
        const Eigen::Map<const Eigen::MatrixXd> Xm(x.data(), Eigen::Index(d), 1);
        Eigen::Map<Eigen::MatrixXd> O(out.data(), Eigen::Index(d), 1);
        g.noise_batch(Xm, &p, O);
    };
    kd::sampler_options so;
    so.solver = kd::solver_kind::ddim;
    so.order = 1;
    kd::sampler_workspace<double> sws;
    auto ref = x0;
    kd::sample(seq_model, sch, grid, so, vector_view<double>(ref), sws);
    auto model = [&](matrix_view<const double> S, vector_view<const kd::grid_point> pts, matrix_view<double> out) {
        const Eigen::Map<const Eigen::MatrixXd> Xm(S.data(), Eigen::Index(d), Eigen::Index(S.rows()));
        Eigen::Map<Eigen::MatrixXd> O(out.data(), Eigen::Index(d), Eigen::Index(S.rows()));
        g.noise_batch(Xm, pts.data(), O);
    };
    fp::picard_workspace<double> ws;
    auto x = x0;
    fp::picard_options o;
    o.window = 16;
    o.tolerance = 1e-3;
    const auto r = fp::picard_sample(model, grid, vector_view<double>(x), ws, o);
    CHECK(r.converged);
    CHECK(r.rounds < steps);
    for (std::size_t i = 0; i < d; ++i) CHECK(std::fabs(x[i] - ref[i]) <= 2e-3);
}
