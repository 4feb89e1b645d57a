// Accelerated fixed-point solvers on the two problems (one thread, like the serial
// KINSOL peer in benchmarks/peers/fixed_point_kinsol.sh, which solves the same problems from the
// same start to the same 2-norm criterion).
//
// Problem "poisson": the Jacobi map of the shifted 2-D Poisson problem (4 + s) u_ij - (sum of the
// four neighbours) = 1 on an N x N grid with zero Dirichlet boundary, G(u) = (1 + sum of the
// neighbours) / (4 + s). Jacobi's iteration matrix has eigenvalues (2 cos(i pi h) + 2 cos(j pi h))
// / (4 + s), h = 1/(N + 1), so its spectral radius is 4 cos(pi h) / (4 + s); s = 4 cos(pi h) /
// 0.99 - 4 makes it exactly 0.99 (s = 0.0403838 at N = 1000). N = 1000 (n = 10^6); quick: N = 64.
// Stop at ||G(u) - u||_2 <= 1e-6 ||G(u0) - u0||_2 from u0 = 0.
//
// Problem "bratu": -Laplace(u) = lambda e^u on the unit square, u = 0 on the boundary, lambda = 6,
// the 5-point discretization on a 128 x 128 interior grid (h = 1/129): (4 u_ij - sum of the
// neighbours) / h^2 = lambda e^{u_ij}. The map is one damped nonlinear Jacobi sweep with weight
// 0.8: G(u)_ij = 0.2 u_ij + 0.8 (sum of the neighbours + h^2 lambda e^{u_ij}) / 4. Stop at
// ||G(u) - u||_2 <= 1e-8 ||G(u0) - u0||_2 from u0 = 0. (Not in quick mode.)
//
// Benchmarks (each configuration is solved once, Iterations(1); the numbers of one solve are
// reported under two names):
//   fixed_point/solve_<problem>/kestrel/n:/m:   time of the whole solve (m:plain = Krasnoselskii-Mann
//                                                with a = 1; m:0..20 = Anderson); counters iterations,
//                                                evaluations, per_iteration_beyond_g (s), g_time (s per call).
//                                                One thread, CPU seconds of that thread (thread CPU
//                                                clock, not wall time: the machine is shared).
//   fixed_point/anderson_beyond_g/{kestrel,baseline}/problem:/n:/m:
//       time = the time per iterate spent outside G (the solve's time minus the time inside
//       G, measured around every call; the solve calls anderson() without a workspace, so the
//       workspace's allocation is inside it, and the first touch of each history page is
//       counted where it happens: beyond G, or inside G when G writes a fresh w slot (its
//       g_time then exceeds the plain rows')); report_limits bytes = (2m + 6) n sizeof(double), the
//       issue's budget, so the report shows what fraction of the bandwidth bound that is. The
//       baseline is the from-scratch Anderson of baselines/fixed_point_anderson.hpp (whole-array
//       Eigen, Householder QR of the n x m_k history every iterate), run for at most 40 iterates
//       (3 at n = 10^6, where it takes about a second per iterate).
//       Counters: ns_per_unknown = time beyond G per iterate / n; passes = Kestrel's passes over
//       an n-vector per iterate with a full history (2 m + 5 at damping 1, 4 for m = 0; see
//       anderson.hpp), split into loads (2 m + 3: the update reads m + 1 w slots, the residual
//       pass reads G(x_{k+1}), x_{k+1} and m raw f slots) and stores (2: x_{k+1} and f_{k+1})
//       per unknown; kinsol_o3_over_kestrel = (5 + 2.7 m) / ns_per_unknown, the figure
//       for KINSOL 6.4.1 built with -O3 -march=native (serial NVector: ONE core) over Kestrel's.
//   fixed_point/solve_wall/kestrel/problem:poisson/n:/m:/threads:{1,2}
//       plain iteration and Anderson (m = 5, 10; m = 20 at 2 threads) solved again, each at 1 and
//       then at 2 threads, one after the other (so both see the same machine load), timed by the
//       wall clock (whole solve and G alike; thread CPU time would miss the helper thread). G
//       stays serial, as in the peer; the threads run the solvers' vector passes. Counters as
//       above (ns_per_unknown = wall time beyond G per iterate / n).
//   fixed_point/solve_wall_fused/kestrel/problem:poisson/n:/m:/threads:{1,2}
//       the same Anderson solves with the block form of the map (kf::blockwise: G evaluated
//       sub-block by sub-block inside the residual pass, its output never written to and read
//       back from a whole n-vector; on the policy's threads, so G is parallel at 2 threads),
//       same iterates bit for bit. Wall clock, whole solve (G inside the pass is not timed apart):
//       ns_per_unknown_total = wall per iterate / n, vector_form_over_fused = the vector-form
//       solve_wall row's time over this one, plain_1thread_over_fused = the 1-thread plain row's.
//       m:plain here is plain iteration (krasnoselskii_mann) with the same block map on the same
//       threads (G inside its norm pass): the fair plain row for the fused Anderson rows, where the
//       solve_wall plain row keeps the peer's serial G.
//   fixed_point/solve_wall_alternating{,_fused}/kestrel/problem:poisson/n:/m:/period:/threads:{1,2}
//       alternating Anderson (extrapolation_period = period, AAJ) by the wall clock, vector form
//       (serial G) and block form; counters plain_same_over_this (plain iteration with the same
//       form of the map at the same thread count), best_plain_over_this (the fastest plain solve
//       of all forms and thread counts), every_step_over_this (Anderson at period 1, same form).
//   fixed_point/solve_bratu_alternating/kestrel/n:/m:/period:   the same on Bratu, one thread,
//       CPU clock, against plain and every-step Anderson (plain_over_this, every_step_over_this).
//   fixed_point/anderson_beyond_g/kestrel/problem:poisson/n:/m:/threads:2
//       the 2-thread wall solves' time beyond G per iterate (the row per thread count; the
//       1-thread row is the CPU-clock one above). KINSOL's serial NVector has one core; a
//       Kestrel user has both, so kinsol_o3_over_kestrel compares a 1-core figure with a 2-core one.
//
// Plain iteration (krasnoselskii_mann, a = 1) moves 2 passes per iterate beyond G: it reads G(x_k)
// and x_k for the norm and then takes G's output buffer as x_{k+1} (loads 2, stores 0). Its two
// n-vectors (16 MB at n = 10^6) fit this machine's 32 MB L3, so on one thread G and the norm run
// from cache; Anderson's 2 m + 5 vectors do not. With 2 threads, half of each pass runs on the
// other vCPU, which does not share that cache: its reads pull lines across, and the serial G then
// overwrites lines the other vCPU holds (measured: an 8 MB overwrite costs 0.31 ms when the same
// vCPU last read the buffer, 0.5-0.93 ms when the other one did). That is the likely reason the
// old plain loop (5 passes, one of them writing x on both vCPUs before the serial G read it) ran
// slower on 2 threads than on 1 in an idle run (2.82 s against 1.91 s; not re-measured idle). The
// 2-pass loop keeps a smaller penalty of the same kind: at load 5, 10th-percentile wall time per
// iterate 0.65 ms on 1 thread, 0.82 ms on 2, G itself going from 0.31 to 0.51 ms per call. With a
// serial G the fastest plain iteration on this machine is therefore the 1-thread row, and that is
// the baseline Anderson on 2 threads has to beat.
//
// Reading the numbers against the wall-time goal (issue #13: Anderson faster than plain iteration on
// the linear problem). With N_p plain iterates, N_m Anderson iterates, g the time of G and o_m
// Anderson's time beyond G per iterate, Anderson wins iff N_m (g + o_m) < N_p (g + o_p), o_p being
// plain iteration's own passes (2: o_p = 2 * 8 n / B_cache). With o_p = 0 (the form):
// o_m < (N_p / N_m - 1) g. Anderson's floor is o_m >= (2m + 5) * 8 n / B at bandwidth B (every pass
// must move its bytes), so the goal is reachable at memory m only if
// (2m + 5) * 8 n / B < (N_p / N_m - 1) g + (N_p / N_m) o_p.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <kestrel/core/simd.hpp>
#include <kestrel/fixed_point/anderson.hpp>
#include <kestrel/fixed_point/krasnoselskii_mann.hpp>

#include "baselines/fixed_point_anderson.hpp"
#include "bench_common.hpp"

namespace {

namespace kf = kestrel::fixed_point;

/// CPU seconds of the calling thread: every solve here runs on one thread, and on a shared
/// machine other processes inflate wall time but not this (the KINSOL peer measures the same way).
double cpu_seconds() {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

/// Wall seconds, for the solves whose passes run on more than one thread.
double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// The clock of a solve: wall (solve_wall rows) or the calling thread's CPU time.
double now(bool wall) { return wall ? wall_seconds() : cpu_seconds(); }

/// Jacobi map of the shifted 2-D Poisson problem (see the header comment); counts its own time.
struct poisson_map {
    std::size_t N;
    double s, c;
    double* g_seconds;
    std::size_t* calls;
    bool wall;
    std::vector<double> zeros;
    poisson_map(std::size_t N_, double* gs, std::size_t* cs, bool wall_clock = false)
        : N(N_), g_seconds(gs), calls(cs), wall(wall_clock), zeros(N_, 0.0) {
        const double h = 1.0 / double(N + 1);
        s = 4.0 * std::cos(M_PI * h) / 0.99 - 4.0;
        c = 1.0 / (4.0 + s);
    }
    void operator()(const double* x, double* g) const {
        const double t0 = now(wall);
        for (std::size_t i = 0; i < N; ++i) {
            const double* up = i > 0 ? x + (i - 1) * N : zeros.data();
            const double* dn = i + 1 < N ? x + (i + 1) * N : zeros.data();
            const double* row = x + i * N;
            double* out = g + i * N;
            out[0] = c * (1.0 + row[1] + up[0] + dn[0]);
            for (std::size_t j = 1; j + 1 < N; ++j) out[j] = c * (1.0 + row[j - 1] + row[j + 1] + up[j] + dn[j]);
            out[N - 1] = c * (1.0 + row[N - 2] + up[N - 1] + dn[N - 1]);
        }
        *g_seconds += now(wall) - t0;
        ++*calls;
    }
    /// The same map block by block for the fused form (kf::blockwise): g[i - b] = G(x)_i for i in
    /// [b, e), row segment by row segment, with the same additions in the same order (the same
    /// bits; the fused solve's iterates equal the vector form's). Not timed (it runs inside the
    /// solver's pass, on its threads).
    void block(const double* x, std::size_t b, std::size_t e, double* g) const {
        for (std::size_t i = b; i < e;) {
            const std::size_t r = i / N, j0 = i % N, j1 = std::min(N, j0 + (e - i));
            const double* up = r > 0 ? x + (r - 1) * N : zeros.data();
            const double* dn = r + 1 < N ? x + (r + 1) * N : zeros.data();
            const double* row = x + r * N;
            double* out = g + (i - b);  // out[j - j0] = G(x)_{r N + j}
            if (j0 == 0) out[0] = c * (1.0 + row[1] + up[0] + dn[0]);
            const std::size_t lo = std::max<std::size_t>(j0, 1), hi = std::min(j1, N - 1);
            for (std::size_t j = lo; j < hi; ++j) out[j - j0] = c * (1.0 + row[j - 1] + row[j + 1] + up[j] + dn[j]);
            if (j1 == N) out[N - 1 - j0] = c * (1.0 + row[N - 2] + up[N - 1] + dn[N - 1]);
            i += j1 - j0;
        }
    }
};

/// One damped nonlinear Jacobi sweep for 2-D Bratu (see the header comment).
struct bratu_map {
    std::size_t N;
    double h2l;
    double* g_seconds;
    std::size_t* calls;
    std::vector<double> zeros;
    bratu_map(std::size_t N_, double* gs, std::size_t* cs) : N(N_), g_seconds(gs), calls(cs), zeros(N_, 0.0) {
        const double h = 1.0 / double(N + 1);
        h2l = h * h * 6.0;
    }
    void operator()(const double* x, double* g) const {
        namespace sd = kestrel::simd::detail;
        constexpr std::size_t W = sd::width<double>;
        const double t0 = cpu_seconds();
        // g = e^x first (SIMD exp), then the stencil.
        std::size_t i = 0;
        const std::size_t n = N * N;
        for (; i + W <= n; i += W) sd::store(g + i, sd::vexp(sd::load(x + i)));
        for (; i < n; ++i) g[i] = std::exp(x[i]);
        for (std::size_t r = 0; r < N; ++r) {
            const double* up = r > 0 ? x + (r - 1) * N : zeros.data();
            const double* dn = r + 1 < N ? x + (r + 1) * N : zeros.data();
            const double* row = x + r * N;
            double* out = g + r * N;  // holds e^u of this row on entry
            auto cell = [&](std::size_t j, double left, double right) {
                out[j] = 0.2 * row[j] + 0.2 * (left + right + up[j] + dn[j] + h2l * out[j]);
            };
            cell(0, 0.0, row[1]);
            for (std::size_t j = 1; j + 1 < N; ++j) cell(j, row[j - 1], row[j + 1]);
            cell(N - 1, row[N - 2], 0.0);
        }
        *g_seconds += cpu_seconds() - t0;
        ++*calls;
    }
};

struct outcome {
    kf::fixed_point_result r;
    double wall = 0, g_seconds = 0;
    std::size_t calls = 0;
    double beyond_g_per_iteration() const { return (wall - g_seconds) / double(r.iterations ? r.iterations : 1); }
};

// m < 0: Krasnoselskii-Mann with a = 1 (plain). impl 0 = Kestrel, 1 = from-scratch baseline.
// wall: the solve_wall rows (Poisson only): the passes on `threads` threads, wall clock; else
// one thread, CPU clock.
// fused: Anderson with the block form of the Poisson map (G inside the residual pass).
// period: Anderson's extrapolation_period (alternating Anderson for period > 1).
outcome solve(const std::string& problem, std::size_t N, int m, int impl, int threads = 1, bool wall = false,
              bool fused = false, std::size_t period = 1) {
    static std::map<std::tuple<std::string, std::size_t, int, int, int, bool, bool, std::size_t>, outcome> cache;
    const auto key = std::make_tuple(problem, N, m, impl, threads, wall, fused, period);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    outcome o;
    const bool poisson = problem == "poisson";
    const double rtol = poisson ? 1e-6 : 1e-8;
    // The from-scratch baseline costs about a second per iterate at n = 10^6: 3 iterates there.
    const std::size_t limit = impl == 1 ? (N * N > 100000 ? 3 : 40) : 1000000;
    std::vector<double> x(N * N, 0.0);
    const kestrel::exec_policy policy = kestrel::exec_policy::with_threads(threads);
    auto run = [&](auto G) {
        const double t0 = now(wall);
        constexpr bool block_form = kf::detail::is_block_map<decltype(G)>::value;  // Kestrel's solvers only
        if (impl == 1 && !block_form) {
            if constexpr (!block_form) {
                kf::anderson_options a;
                a.memory = m;
                a.rtol = rtol;
                a.max_iterations = limit;
                o.r = kestrel_baseline::anderson_from_scratch(G, x, a);
            }
        } else if (m < 0) {
            kf::krasnoselskii_mann_options a;
            a.rtol = rtol;
            a.max_iterations = limit;
            a.policy = policy;
            o.r = kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x), a);
        } else {
            kf::anderson_options a;
            a.memory = m;
            a.rtol = rtol;
            a.max_iterations = limit;
            a.policy = policy;
            a.extrapolation_period = period;
            o.r = kf::anderson(G, kestrel::vector_view<double>(x), a);
        }
        o.wall = now(wall) - t0;
    };
    if (poisson && fused) {  // Kestrel's solvers only (the block form is not a baseline's map)
        const poisson_map P(N, &o.g_seconds, &o.calls, wall);
        run(kf::blockwise([&P](const double* xx, std::size_t b, std::size_t e, double* g) { P.block(xx, b, e, g); }));
    } else if (poisson)
        run(poisson_map(N, &o.g_seconds, &o.calls, wall));
    else
        run(bratu_map(N, &o.g_seconds, &o.calls));
    cache[key] = o;
    return o;
}

void set_common_counters(benchmark::State& state, const outcome& o, std::size_t n) {
    state.counters["iterations"] = double(o.r.iterations);
    state.counters["evaluations"] = double(o.r.evaluations);
    state.counters["converged"] = o.r.converged ? 1.0 : 0.0;
    state.counters["solve_s"] = o.wall;
    state.counters["g_time"] = o.g_seconds / double(o.calls ? o.calls : 1);
    state.counters["per_iteration_beyond_g"] = o.beyond_g_per_iteration();
    state.counters["ns_per_unknown"] = o.beyond_g_per_iteration() / double(n) * 1e9;
}

/// Kestrel's memory traffic per unknown per iterate with a full history (damping 1), and the
/// issue's -O3 KINSOL overhead over Kestrel's (see the header comment).
void set_pass_counters(benchmark::State& state, const outcome& o, int m, std::size_t n) {
    if (m < 0) {  // plain iteration: the norm reads G(x_k) and x_k; G's buffer becomes x_{k+1}
        state.counters["passes"] = 2.0;
        state.counters["loads"] = 2.0;
        state.counters["stores"] = 0.0;
        return;
    }
    const double loads = m == 0 ? 3.0 : 2.0 * m + 3.0, stores = m == 0 ? 1.0 : 2.0;
    state.counters["passes"] = loads + stores;
    state.counters["loads"] = loads;
    state.counters["stores"] = stores;
    const double ns = o.beyond_g_per_iteration() / double(n) * 1e9;
    if (ns > 0) state.counters["kinsol_o3_over_kestrel"] = (5.0 + 2.7 * m) / ns;
}

void register_problem(const std::string& problem, std::size_t N, const std::vector<int>& ms, bool baseline,
                      const std::vector<std::pair<int, std::size_t>>& alternating = {}) {
    const std::size_t n = N * N;
    const std::string nn = "/n:" + std::to_string(n);
    for (int m : ms) {
        const std::string mm = m < 0 ? "/m:plain" : "/m:" + std::to_string(m);
        benchmark::RegisterBenchmark(("fixed_point/solve_" + problem + "/kestrel" + nn + mm).c_str(),
                                     [=](benchmark::State& state) {
                                         outcome o;
                                         for (auto _ : state) {
                                             o = solve(problem, N, m, 0);
                                             state.SetIterationTime(o.wall);
                                         }
                                         set_common_counters(state, o, n);
                                         state.SetItemsProcessed(static_cast<std::int64_t>(o.r.iterations));
                                     })
            ->Iterations(1)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
    // Alternating Anderson (extrapolation every period-th step), same clock as the rows above.
    for (const auto& mp : alternating) {
        const int m = mp.first;
        const std::size_t p = mp.second;
        benchmark::RegisterBenchmark(("fixed_point/solve_" + problem + "_alternating/kestrel" + nn + "/m:" +
                                      std::to_string(m) + "/period:" + std::to_string(p))
                                         .c_str(),
                                     [=](benchmark::State& state) {
                                         outcome o;
                                         for (auto _ : state) {
                                             o = solve(problem, N, m, 0, 1, false, false, p);
                                             state.SetIterationTime(o.wall);
                                         }
                                         set_common_counters(state, o, n);
                                         const outcome plain = solve(problem, N, -1, 0), every = solve(problem, N, m, 0);
                                         state.counters["plain_over_this"] = plain.wall / o.wall;
                                         state.counters["every_step_over_this"] = every.wall / o.wall;
                                         state.SetItemsProcessed(static_cast<std::int64_t>(o.r.iterations));
                                     })
            ->Iterations(1)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
    for (int m : ms) {
        if (m < 0) continue;
        for (int impl : {0, 1}) {
            if (impl == 1 && (!baseline || m == 0)) continue;
            const std::string name = "fixed_point/anderson_beyond_g/" + std::string(impl ? "baseline" : "kestrel") +
                                     "/problem:" + problem + nn + "/m:" + std::to_string(m);
            benchmark::RegisterBenchmark(name.c_str(),
                                         [=](benchmark::State& state) {
                                             outcome o;
                                             for (auto _ : state) {
                                                 o = solve(problem, N, m, impl);
                                                 state.SetIterationTime(o.beyond_g_per_iteration());
                                             }
                                             set_common_counters(state, o, n);
                                             if (impl == 0) set_pass_counters(state, o, m, n);
                                             kestrel_bench::report_limits(state, double(2 * m + 6) * double(n) * sizeof(double),
                                                                          1.0);
                                         })
                ->Iterations(1)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
        }
    }
}

// The Poisson solves by the wall clock at 1 and then 2 threads per configuration (see the header
// comment), then the 2-thread time beyond G per iterate under the anderson_beyond_g name.
void register_wall(std::size_t N, const std::vector<std::pair<int, std::vector<int>>>& configs) {
    const std::size_t n = N * N;
    const std::string nn = "/n:" + std::to_string(n);
    auto mname = [](int m) { return m < 0 ? std::string("/m:plain") : "/m:" + std::to_string(m); };
    for (const auto& config : configs) {
        const int m = config.first;
        for (int t : config.second) {
            const std::string name = "fixed_point/solve_wall/kestrel/problem:poisson" + nn + mname(m) + "/threads:" +
                                     std::to_string(t);
            benchmark::RegisterBenchmark(name.c_str(),
                                         [=](benchmark::State& state) {
                                             outcome o;
                                             for (auto _ : state) {
                                                 o = solve("poisson", N, m, 0, t, true);
                                                 state.SetIterationTime(o.wall);
                                             }
                                             set_common_counters(state, o, n);
                                             set_pass_counters(state, o, m, n);
                                             state.SetItemsProcessed(static_cast<std::int64_t>(o.r.iterations));
                                         })
                ->Iterations(1)
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond);
        }
    }
    // The fused form (kf::blockwise Poisson map: G inside Anderson's residual pass, on the
    // policy's threads) right after, same sizes; no G time of its own (G is not called apart).
    for (const auto& config : configs) {
        const int m = config.first;
        for (int t : config.second) {
            const std::string name = "fixed_point/solve_wall_fused/kestrel/problem:poisson" + nn + mname(m) + "/threads:" +
                                     std::to_string(t);
            benchmark::RegisterBenchmark(name.c_str(),
                                         [=](benchmark::State& state) {
                                             outcome o;
                                             for (auto _ : state) {
                                                 o = solve("poisson", N, m, 0, t, true, true);
                                                 state.SetIterationTime(o.wall);
                                             }
                                             const outcome v = solve("poisson", N, m, 0, t, true);
                                             const outcome p = solve("poisson", N, -1, 0, 1, true);
                                             state.counters["iterations"] = double(o.r.iterations);
                                             state.counters["converged"] = o.r.converged ? 1.0 : 0.0;
                                             state.counters["solve_s"] = o.wall;
                                             state.counters["ns_per_unknown_total"] =
                                                 o.wall / double(o.r.iterations ? o.r.iterations : 1) / double(n) * 1e9;
                                             state.counters["vector_form_over_fused"] = v.wall / o.wall;
                                             state.counters["plain_1thread_over_fused"] = p.wall / o.wall;
                                             // Per unknown per iterate, G included: the update reads m + 1 w
                                             // slots and writes x_{k+1}; G reads x_{k+1}; the pass reads m raw f
                                             // (x_{k+1} again from cache) and writes w_{k+1} = G(x_{k+1}) and
                                             // f_{k+1} from L1. Vector form: also G's output written and read back.
                                             state.counters["loads"] = 2.0 * m + 2.0;
                                             state.counters["stores"] = 3.0;
                                             state.SetItemsProcessed(static_cast<std::int64_t>(o.r.iterations));
                                         })
                ->Iterations(1)
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond);
        }
    }
    for (const auto& config : configs) {
        const int m = config.first;
        if (m < 0) continue;
        for (int t : config.second) {
            if (t == 1) continue;  // the 1-thread row is the CPU-clock one of register_problem
            const std::string name = "fixed_point/anderson_beyond_g/kestrel/problem:poisson" + nn + "/m:" +
                                     std::to_string(m) + "/threads:" + std::to_string(t);
            benchmark::RegisterBenchmark(name.c_str(),
                                         [=](benchmark::State& state) {
                                             outcome o;
                                             for (auto _ : state) {
                                                 o = solve("poisson", N, m, 0, t, true);
                                                 state.SetIterationTime(o.beyond_g_per_iteration());
                                             }
                                             set_common_counters(state, o, n);
                                             set_pass_counters(state, o, m, n);
                                             kestrel_bench::report_limits(state, double(2 * m + 6) * double(n) * sizeof(double),
                                                                          1.0);
                                         })
                ->Iterations(1)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
        }
    }
}

// Alternating Anderson (extrapolation every period-th step, AAJ) on the Poisson problem against
// plain iteration, wall clock, both forms of the map; after register_wall (its plain rows are
// reused from the cache: same solves, not run again).
void register_alternating(std::size_t N, const std::vector<std::pair<int, std::size_t>>& configs,
                          const std::vector<int>& threads) {
    const std::size_t n = N * N;
    const std::string nn = "/n:" + std::to_string(n);
    for (bool fused : {true, false}) {
        for (const auto& config : configs) {
            const int m = config.first;
            const std::size_t p = config.second;
            for (int t : threads) {
                const std::string name = std::string("fixed_point/solve_wall_alternating") + (fused ? "_fused" : "") +
                                         "/kestrel/problem:poisson" + nn + "/m:" + std::to_string(m) +
                                         "/period:" + std::to_string(p) + "/threads:" + std::to_string(t);
                benchmark::RegisterBenchmark(
                    name.c_str(),
                    [=](benchmark::State& state) {
                        outcome o;
                        for (auto _ : state) {
                            o = solve("poisson", N, m, 0, t, true, fused, p);
                            state.SetIterationTime(o.wall);
                        }
                        // Plain iteration: the same form of the map at the same thread count, and
                        // the fastest plain solve of all (either form, 1 or all threads).
                        const outcome same = solve("poisson", N, -1, 0, t, true, fused);
                        double best = same.wall;
                        for (int tt : threads)
                            for (bool ff : {true, false}) best = std::min(best, solve("poisson", N, -1, 0, tt, true, ff).wall);
                        const outcome every = solve("poisson", N, m, 0, t, true, fused);
                        state.counters["iterations"] = double(o.r.iterations);
                        state.counters["evaluations"] = double(o.r.evaluations);
                        state.counters["converged"] = o.r.converged ? 1.0 : 0.0;
                        state.counters["solve_s"] = o.wall;
                        state.counters["plain_same_over_this"] = same.wall / o.wall;
                        state.counters["best_plain_over_this"] = best / o.wall;
                        state.counters["every_step_over_this"] = every.wall / o.wall;
                        state.counters["plain_evaluations"] = double(same.r.evaluations);
                        state.SetItemsProcessed(static_cast<std::int64_t>(o.r.iterations));
                    })
                    ->Iterations(1)
                    ->UseManualTime()
                    ->Unit(benchmark::kMillisecond);
            }
        }
    }
}

const bool registered = [] {
    const int all = kestrel::effective_threads();
    const std::vector<int> both = all > 1 ? std::vector<int>{1, all} : std::vector<int>{1};
    const std::vector<int> most = all > 1 ? std::vector<int>{all} : std::vector<int>{};
    if (kestrel_bench::quick_mode()) {
        register_problem("poisson", 64, {-1, 0, 5, 10}, true);
        register_wall(64, {{-1, both}, {5, both}});
        register_alternating(64, {{5, 3}}, both);
    } else {
        register_problem("poisson", 1000, {-1, 0, 5, 10, 20}, true);
        register_problem("bratu", 128, {-1, 5, 10}, true, {{5, 2}, {5, 3}, {10, 3}, {10, 4}});
        register_wall(1000, {{-1, both}, {5, both}, {10, both}, {20, most}});
        register_alternating(1000, {{5, 3}, {10, 4}}, both);
    }
    return true;
}();

}  // namespace
