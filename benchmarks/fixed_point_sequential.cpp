// fixed_point: parallel evaluation of sequential computations, against sequential evaluation.
//
//   fixed_point/feedforward_chain/{baseline,kestrel}            x_t = tanh(W_t x_{t-1} + b_t), width 128:
//                                                               the sequential loop against Jacobi with
//                                                               freezing (atol 1e-5, every unfinished
//                                                               position per round), the callback
//                                                               evaluating each round's positions with
//                                                               parallel_for on 1 and all threads
//   fixed_point/feedforward_chain_windowed/{baseline,kestrel}   the same with a window of 4 x threads
//                                                               positions per round (less wasted work)
//   fixed_point/jacobi_decoding/{baseline,kestrel}              greedy decoding of a toy corrector LM
//                                                               (V = 512, dim 32) against Jacobi decoding
//                                                               from a fill token
//   fixed_point/aggressive_decoding/{baseline,kestrel}          the same from a copy of the input
//   fixed_point/picard_ddim/{baseline,kestrel}                  DDIM on a rotated-Gaussian model whose
//                                                               denoiser costs two d x d products:
//                                                               diffusion::sample (one state per call)
//                                                               against picard_sample (window 16,
//                                                               tau = 0.1, one matrix product per round)
//
// Counters: rounds (sequential depth), evaluations (work), depth_ratio = sequential rounds / rounds,
// work_ratio = evaluations / sequential evaluations; the speedup over the baseline is wall time.
// Jacobi trades work for depth: it wins in wall time only when the hardware evaluates a round's
// batch in about the time of one evaluation (enough threads, or a batched product that is cheaper
// per column, as picard_ddim's model is). The limit is the arithmetic of the sequential evaluation
// at the measured peak (flop = T x evaluation flop), the least any method must do.
#include <benchmark/benchmark.h>

#include <kestrel/diffusion.hpp>
#include <kestrel/fixed_point/jacobi_decoding.hpp>
#include <kestrel/fixed_point/picard_diffusion.hpp>
#include <kestrel/fixed_point/triangular_system.hpp>

#include <map>
#include <memory>
#include <vector>

#include "baselines/fixed_point_sequential.hpp"
#include "bench_common.hpp"

namespace fp = kestrel::fixed_point;
namespace kd = kestrel::diffusion;
namespace kb = kestrel_baseline;
using kestrel::matrix_view;
using kestrel::vector_view;

namespace {

const kb::dense_tanh_chain& chain(std::size_t T, std::size_t width) {
    static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<kb::dense_tanh_chain>> cache;
    auto& c = cache[{T, width}];
    if (!c) c = std::make_unique<kb::dense_tanh_chain>(T, width, 0.4, 42);
    return *c;
}

std::vector<float> chain_start(const kb::dense_tanh_chain& c) {
    std::vector<float> x((c.T + 1) * c.width, 0.0f);
    for (std::size_t j = 0; j < c.width; ++j) x[j] = float(std::sin(double(j)));
    return x;
}

void set_ratios(benchmark::State& state, double rounds, double evaluations, double seq) {
    state.counters["rounds"] = rounds;
    state.counters["evaluations"] = evaluations;
    state.counters["depth_ratio"] = seq / rounds;
    state.counters["work_ratio"] = evaluations / seq;
}

void chain_baseline(benchmark::State& state) {
    const std::size_t T = std::size_t(state.range(0)), w = std::size_t(state.range(1));
    const auto& c = chain(T, w);
    auto x = chain_start(c);
    for (auto _ : state) {
        kb::sequential_chain(c, x);
        benchmark::DoNotOptimize(x.data());
    }
    set_ratios(state, double(T), double(T), double(T));
    kestrel_bench::report_limits(state, double(T) * double(w * w) * sizeof(float), double(T), double(T) * c.flop_per_eval());
}

void chain_jacobi(benchmark::State& state, bool windowed) {
    const std::size_t T = std::size_t(state.range(0)), w = std::size_t(state.range(1));
    const int threads = int(state.range(2));
    const auto& c = chain(T, w);
    auto f = [&](vector_view<const std::size_t> pos, matrix_view<const float> x, matrix_view<float> out) {
        kestrel::parallel_for(pos.size(), kestrel::exec_policy{threads},
                              [&](std::size_t r) { c.eval(pos[r], x.row_data(pos[r] - 1), out.row_data(r)); });
    };
    fp::triangular_workspace<float> ws;
    fp::triangular_options o;
    o.atol = 1e-5;
    o.window = windowed ? 4 * std::size_t(threads) : 0;
    o.policy = kestrel::exec_policy{threads};
    fp::triangular_report r;
    for (auto _ : state) {
        state.PauseTiming();
        auto x = chain_start(c);
        state.ResumeTiming();
        r = fp::solve_jacobi(f, matrix_view<float>(x.data(), T + 1, w), ws, o);
        benchmark::DoNotOptimize(x.data());
    }
    if (!r.converged) state.SkipWithError("Jacobi did not converge");
    set_ratios(state, double(r.rounds), double(r.evaluations), double(T));
    kestrel_bench::report_limits(state, double(T) * double(w * w) * sizeof(float), double(T), double(T) * c.flop_per_eval());
}

std::vector<std::int32_t> corrector_prompt(std::size_t n, std::size_t V) {
    std::vector<std::int32_t> p(n + 1);
    const kestrel::counter_rng rng(5, 0);
    for (std::size_t i = 0; i < n; ++i) p[i] = std::int32_t(rng.uniform_double(i) * double(V)) % std::int32_t(V);
    p[n] = 0;
    return p;
}

void decoding_baseline(benchmark::State& state) {
    const std::size_t n = std::size_t(state.range(0)), V = std::size_t(state.range(1));
    const kb::toy_corrector_lm lm(V, 32, 0.7f, 3);
    const auto prompt = corrector_prompt(n, V);
    for (auto _ : state) benchmark::DoNotOptimize(kb::greedy_corrector(lm, prompt).data());
    set_ratios(state, double(n), double(n), double(n));
    kestrel_bench::report_limits(state, double(V * 32) * sizeof(float), double(n), double(n) * 2.0 * double(V * 32));
}

void decoding_jacobi(benchmark::State& state, bool copy_input) {
    const std::size_t n = std::size_t(state.range(0)), V = std::size_t(state.range(1));
    const int threads = int(state.range(2));
    const kb::toy_corrector_lm lm(V, 32, 0.7f, 3);
    const auto prompt = corrector_prompt(n, V);
    const std::size_t m = prompt.size();
    auto model = [&](vector_view<const std::int32_t> seq, std::size_t begin, vector_view<std::int32_t> out) {
        kestrel::parallel_for(out.size(), kestrel::exec_policy{threads}, [&](std::size_t i) {
            const std::size_t pos = begin + i;
            out[i] = lm.next(seq[pos], seq[m + pos - 1]);
        });
    };
    fp::jacobi_decoding_workspace ws;
    fp::jacobi_decoding_options o;
    o.vocab_size = V;
    if (copy_input) {
        o.init = fp::decoding_init::copy_input;
        o.source = vector_view<const std::int32_t>(prompt.data(), n);
    }
    std::vector<std::int32_t> out(n);
    fp::jacobi_decoding_report r;
    for (auto _ : state) {
        r = fp::jacobi_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws, o);
        benchmark::DoNotOptimize(out.data());
    }
    if (out != kb::greedy_corrector(lm, prompt)) state.SkipWithError("Jacobi decoding differs from greedy decoding");
    set_ratios(state, double(r.rounds), double(r.evaluations), double(n));
    kestrel_bench::report_limits(state, double(V * 32) * sizeof(float), double(n), double(n) * 2.0 * double(V * 32));
}

struct picard_problem {
    kb::rotated_gaussian g;
    kd::noise_schedule sch = kd::noise_schedule::linear_vp();
    kd::timestep_grid grid;
    std::vector<double> x0;
    picard_problem(std::size_t steps, std::size_t d) : g(d, 17), grid(kd::uniform_time_grid(sch, steps, 1.0, 1e-3)), x0(d) {
        const kestrel::counter_rng rng(23, 0);
        for (std::size_t i = 0; i < d; ++i) x0[i] = rng.normal_pair(i).first;
    }
};

// Eigen's own OpenMP parallelism inside a product is turned off: the model's threads are the
// benchmark's (parallel_for over halves of the window), and an OpenMP team per product waits for
// every thread at its barrier on a shared machine.
void picard_baseline(benchmark::State& state) {
    Eigen::setNbThreads(1);
    const std::size_t steps = std::size_t(state.range(0)), d = std::size_t(state.range(1));
    const picard_problem p(steps, d);
    auto model = [&](vector_view<const double> x, const kd::grid_point& pt, vector_view<double> out) {
        const Eigen::Map<const Eigen::MatrixXd> X(x.data(), Eigen::Index(d), 1);
        Eigen::Map<Eigen::MatrixXd> O(out.data(), Eigen::Index(d), 1);
        p.g.noise_batch(X, &pt, O);
    };
    kd::sampler_options o;
    o.solver = kd::solver_kind::ddim;
    o.order = 1;
    o.policy = kestrel::exec_policy::serial();
    kd::sampler_workspace<double> ws;
    std::vector<double> x;
    for (auto _ : state) {
        x = p.x0;
        kd::sample(model, p.sch, p.grid, o, vector_view<double>(x), ws);
        benchmark::DoNotOptimize(x.data());
    }
    set_ratios(state, double(steps), double(steps), double(steps));
    kestrel_bench::report_limits(state, double(d * d) * 8.0, double(steps), double(steps) * p.g.flop_per_eval());
}

void picard_kestrel(benchmark::State& state) {
    Eigen::setNbThreads(1);
    const std::size_t steps = std::size_t(state.range(0)), d = std::size_t(state.range(1));
    const int threads = int(state.range(2));
    const picard_problem p(steps, d);
    // One matrix product per round; with several threads, the window's columns in two halves.
    auto model = [&](matrix_view<const double> S, vector_view<const kd::grid_point> pts, matrix_view<double> out) {
        const std::size_t L = S.rows();
        const std::size_t parts = threads > 1 && L > 1 ? 2 : 1;
        kestrel::parallel_for(parts, kestrel::exec_policy{threads}, [&](std::size_t h) {
            const auto r = kestrel::block_bounds(L, parts, h);
            const Eigen::Map<const Eigen::MatrixXd> X(S.row_data(r.begin), Eigen::Index(d), Eigen::Index(r.end - r.begin));
            Eigen::Map<Eigen::MatrixXd> O(out.row_data(r.begin), Eigen::Index(d), Eigen::Index(r.end - r.begin));
            p.g.noise_batch(X, pts.data() + r.begin, O);
        });
    };
    fp::picard_options o;
    o.window = 16;
    o.tolerance = 0.1;
    o.policy = kestrel::exec_policy{threads};
    fp::picard_workspace<double> ws;
    std::vector<double> x;
    fp::picard_report r;
    for (auto _ : state) {
        x = p.x0;
        r = fp::picard_sample(model, p.grid, vector_view<double>(x), ws, o);
        benchmark::DoNotOptimize(x.data());
    }
    set_ratios(state, double(r.rounds), double(r.model_evaluations), double(steps));
    kestrel_bench::report_limits(state, double(d * d) * 8.0, double(steps), double(steps) * p.g.flop_per_eval());
}

void register_all() {
    const bool quick = kestrel_bench::quick_mode();
    const std::int64_t T = quick ? 128 : 512, W = quick ? 64 : 128;
    const std::int64_t n = quick ? 64 : 256, V = quick ? 128 : 512;
    const std::int64_t steps = quick ? 50 : 200, d = quick ? 64 : 256;
    const double min_time = quick ? 0.01 : 0.2;
    benchmark::RegisterBenchmark("fixed_point/feedforward_chain/baseline", chain_baseline)
        ->ArgNames({"T", "width", "threads"})->Args({T, W, 1})->MinTime(min_time)->UseRealTime();
    benchmark::RegisterBenchmark("fixed_point/feedforward_chain_windowed/baseline", chain_baseline)
        ->ArgNames({"T", "width", "threads"})->Args({T, W, 1})->MinTime(min_time)->UseRealTime();
    for (int t : kestrel_bench::thread_counts()) {
        benchmark::RegisterBenchmark("fixed_point/feedforward_chain/kestrel", chain_jacobi, false)
            ->ArgNames({"T", "width", "threads"})->Args({T, W, t})->MinTime(min_time)->UseRealTime();
        benchmark::RegisterBenchmark("fixed_point/feedforward_chain_windowed/kestrel", chain_jacobi, true)
            ->ArgNames({"T", "width", "threads"})->Args({T, W, t})->MinTime(min_time)->UseRealTime();
    }
    for (const char* k : {"fixed_point/jacobi_decoding/baseline", "fixed_point/aggressive_decoding/baseline"})
        benchmark::RegisterBenchmark(k, decoding_baseline)
            ->ArgNames({"n", "vocab", "threads"})->Args({n, V, 1})->MinTime(min_time)->UseRealTime();
    for (int t : kestrel_bench::thread_counts()) {
        benchmark::RegisterBenchmark("fixed_point/jacobi_decoding/kestrel", decoding_jacobi, false)
            ->ArgNames({"n", "vocab", "threads"})->Args({n, V, t})->MinTime(min_time)->UseRealTime();
        benchmark::RegisterBenchmark("fixed_point/aggressive_decoding/kestrel", decoding_jacobi, true)
            ->ArgNames({"n", "vocab", "threads"})->Args({n, V, t})->MinTime(min_time)->UseRealTime();
    }
    benchmark::RegisterBenchmark("fixed_point/picard_ddim/baseline", picard_baseline)
        ->ArgNames({"steps", "d", "threads"})->Args({steps, d, 1})->MinTime(min_time)->UseRealTime();
    for (int t : kestrel_bench::thread_counts())
        benchmark::RegisterBenchmark("fixed_point/picard_ddim/kestrel", picard_kestrel)
            ->ArgNames({"steps", "d", "threads"})->Args({steps, d, t})->MinTime(min_time)->UseRealTime();
}

const int registered = (register_all(), 0);

}  // namespace
