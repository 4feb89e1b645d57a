// diffusion/<solver>_step: one solver update (coefficients in double + one fused pass) against the
// same formula run as whole-array operations with temporaries (baselines/diffusion.hpp, the way
// diffusers executes it), float state of 16 Ki (an SD latent 4x64x64), 1 Mi and 16 Mi elements.
// Minimum bytes: every input read once and the output written once, (K + 1) n sizeof(float).
// Also writes curve_diffusion_error_vs_nfe.csv: error against model evaluations of every solver on
// a two-component Gaussian mixture (reference: RK4 with 20000 steps).
#include <benchmark/benchmark.h>

#include <kestrel/diffusion.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baselines/diffusion.hpp"
#include "bench_common.hpp"

namespace {

using namespace kestrel;
using namespace kestrel::diffusion;
using T = float;

struct state_data {
    std::size_t n = 0;
    std::vector<std::vector<T>> in;  // x, m0, m1, m2, m3/noise
    std::vector<T> out;
    std::vector<std::vector<T>> pool;
};

state_data& data(std::size_t n, bool with_pool) {
    static state_data d;
    if (d.n != n) {
        d = state_data{};
        d.n = n;
        for (int k = 0; k < 5; ++k) {
            d.in.emplace_back(n);
            fill_normal(make_view(d.in.back()), counter_rng(11, std::uint64_t(k)));
        }
        d.out.assign(n, T(0));
    }
    if (with_pool && d.pool.empty()) d.pool = kestrel_baseline::make_pool<T>(n, 16);
    return d;
}

const noise_schedule& sd_schedule() {
    static const noise_schedule s = noise_schedule::discrete_from_betas(scaled_linear_betas());
    return s;
}
grid_point pt(double t) { return point_at(sd_schedule(), t); }
kestrel_baseline::point bp(const grid_point& p) { return {p.alpha, p.sigma, p.lambda}; }

struct kernel {
    std::string name;
    std::size_t inputs;
    std::function<void(state_data&, exec_policy)> run;
    std::function<void(state_data&)> baseline;
};

std::vector<kernel> kernels() {
    const grid_point s2 = pt(901), s1 = pt(841), s0 = pt(781), t = pt(721);
    auto v = [](const std::vector<T>& a) { return vector_view<const T>(a.data(), a.size()); };
    auto o = [](std::vector<T>& a) { return vector_view<T>(a.data(), a.size()); };
    std::vector<kernel> ks;
    ks.push_back({"ddim_step", 2,
                  [=](state_data& d, exec_policy p) { ddim_step<T>(o(d.out), v(d.in[0]), v(d.in[1]), s0, t, p); },
                  [=](state_data& d) {
                      kestrel_baseline::ddim_step(d.out.data(), d.in[0].data(), d.in[1].data(), bp(s0), bp(t), d.n, d.pool);
                  }});
    ks.push_back({"heun_step", 4,
                  [=](state_data& d, exec_policy p) {
                      heun_step<T>(o(d.out), v(d.in[0]), v(d.in[1]), v(d.in[2]), v(d.in[3]), s0, t, p);
                  },
                  [=](state_data& d) {
                      kestrel_baseline::heun_step(d.out.data(), d.in[0].data(), d.in[1].data(), d.in[2].data(),
                                                  d.in[3].data(), s0.sigma / s0.alpha, t.sigma / t.alpha, d.n, d.pool);
                  }});
    ks.push_back({"dpm_solver_pp_2m_step", 3,
                  [=](state_data& d, exec_policy p) {
                      dpm_solver_pp_2m_step<T>(o(d.out), v(d.in[0]), v(d.in[1]), v(d.in[2]), s1, s0, t,
                                               second_order_form::midpoint, p);
                  },
                  [=](state_data& d) {
                      kestrel_baseline::dpm_solver_pp_2m_step(d.out.data(), d.in[0].data(), d.in[1].data(), d.in[2].data(),
                                                              bp(s1), bp(s0), bp(t), d.n, d.pool);
                  }});
    ks.push_back({"dpm_solver_pp_3m_step", 4,
                  [=](state_data& d, exec_policy p) {
                      dpm_solver_pp_3m_step<T>(o(d.out), v(d.in[0]), v(d.in[1]), v(d.in[2]), v(d.in[3]), s2, s1, s0, t,
                                               third_order_form::published, p);
                  },
                  [=](state_data& d) {
                      kestrel_baseline::dpm_solver_pp_3m_step(d.out.data(), d.in[0].data(), d.in[1].data(), d.in[2].data(),
                                                              d.in[3].data(), bp(s2), bp(s1), bp(s0), bp(t), d.n, d.pool);
                  }});
    ks.push_back({"dpm_solver_pp_2m_sde_step", 4,
                  [=](state_data& d, exec_policy p) {
                      dpm_solver_pp_2m_sde_step<T>(o(d.out), v(d.in[0]), v(d.in[1]), v(d.in[2]), v(d.in[4]), s1, s0, t,
                                                   second_order_form::midpoint, 1.0, 1.0, p);
                  },
                  [=](state_data& d) {
                      kestrel_baseline::dpm_solver_pp_2m_sde_step(d.out.data(), d.in[0].data(), d.in[1].data(),
                                                                  d.in[2].data(), d.in[4].data(), bp(s1), bp(s0), bp(t),
                                                                  d.n, d.pool);
                  }});
    {
        const std::array<grid_point, 3> pts{s0, s1, s2};
        const double h = t.lambda - s0.lambda;
        const double r1 = (s1.lambda - s0.lambda) / h, r2 = (s2.lambda - s0.lambda) / h;
        // rho of the order-3 predictor, from the library's coefficients: c_m1 = -alpha_t B_h rho0 / r1
        const auto c = unipc_coefficients(pts.data(), 3, t, false);
        const double B_h = std::expm1(-h);
        const double rho0 = -c[2] * r1 / (t.alpha * B_h), rho1 = -c[3] * r2 / (t.alpha * B_h);
        ks.push_back({"unipc_predictor_3_step", 4,
                      [=](state_data& d, exec_policy p) {
                          const std::array<vector_view<const T>, 3> hist{v(d.in[1]), v(d.in[2]), v(d.in[3])};
                          unipc_predictor_step<T>(o(d.out), v(d.in[0]), hist.data(), pts.data(), 3, t,
                                                  unipc_variant::bh2, true, p);
                      },
                      [=](state_data& d) {
                          kestrel_baseline::unipc_predictor_3_step(d.out.data(), d.in[0].data(), d.in[1].data(),
                                                                   d.in[2].data(), d.in[3].data(), r1, r2, rho0, rho1,
                                                                   bp(s0), bp(t), d.n, d.pool);
                      }});
        const auto dc = deis_coefficients(pts.data(), 3, t);
        ks.push_back({"deis_3_step", 4,
                      [=](state_data& d, exec_policy p) {
                          const std::array<vector_view<const T>, 3> hist{v(d.in[1]), v(d.in[2]), v(d.in[3])};
                          deis_step<T>(o(d.out), v(d.in[0]), hist.data(), pts.data(), 3, t, p);
                      },
                      [=](state_data& d) {
                          kestrel_baseline::deis_3_step(d.out.data(), d.in[0].data(), d.in[1].data(), d.in[2].data(),
                                                        d.in[3].data(), dc[1] / t.alpha, dc[2] / t.alpha, dc[3] / t.alpha,
                                                        s0.alpha, t.alpha, d.n, d.pool);
                      }});
    }
    return ks;
}

// ---- error against model evaluations on a 2-D two-component mixture --------------------------
struct mixture {
    double w[2] = {0.3, 0.7}, s[2] = {0.3, 0.5}, mu[2][2] = {{-1.0, 0.5}, {1.2, -0.4}};
    void denoise(const double* x, double a, double sg, double* out) const {
        double lw[2], mx = -1e300;
        for (int k = 0; k < 2; ++k) {
            const double v = a * a * s[k] * s[k] + sg * sg;
            const double q = (x[0] - a * mu[k][0]) * (x[0] - a * mu[k][0]) + (x[1] - a * mu[k][1]) * (x[1] - a * mu[k][1]);
            lw[k] = std::log(w[k]) - std::log(v) - 0.5 * q / v;
            mx = std::max(mx, lw[k]);
        }
        const double e0 = std::exp(lw[0] - mx), e1 = std::exp(lw[1] - mx), tot = e0 + e1;
        for (int j = 0; j < 2; ++j) {
            out[j] = 0;
            for (int k = 0; k < 2; ++k) {
                const double g = a * s[k] * s[k] / (a * a * s[k] * s[k] + sg * sg);
                out[j] += (k == 0 ? e0 : e1) / tot * (mu[k][j] + g * (x[j] - a * mu[k][j]));
            }
        }
    }
    void operator()(vector_view<const double> x, const grid_point& p, vector_view<double> out) const {
        for (std::size_t b = 0; b < x.size() / 2; ++b) {
            double D[2];
            denoise(&x[2 * b], p.alpha, p.sigma, D);
            for (int j = 0; j < 2; ++j) out[2 * b + j] = (x[2 * b + j] - p.alpha * D[j]) / p.sigma;  // eps
        }
    }
    std::vector<double> reference(std::vector<double> x, double l0, double l1, int steps) const {
        auto al = [](double l) { return std::sqrt(1.0 / (1.0 + std::exp(-2 * l))); };
        auto sg = [](double l) { return std::sqrt(1.0 / (1.0 + std::exp(2 * l))); };
        for (auto& v : x) v /= al(l0);
        auto f = [&](double l, const std::vector<double>& y, std::vector<double>& o) {
            for (std::size_t b = 0; b < y.size() / 2; ++b) {
                double xs[2] = {al(l) * y[2 * b], al(l) * y[2 * b + 1]}, D[2];
                denoise(xs, al(l), sg(l), D);
                o[2 * b] = D[0] - y[2 * b];
                o[2 * b + 1] = D[1] - y[2 * b + 1];
            }
        };
        const double h = (l1 - l0) / steps;
        std::vector<double> k1(x.size()), k2(x.size()), k3(x.size()), k4(x.size()), tmp(x.size());
        for (int i = 0; i < steps; ++i) {
            const double l = l0 + h * i;
            f(l, x, k1);
            for (std::size_t j = 0; j < x.size(); ++j) tmp[j] = x[j] + 0.5 * h * k1[j];
            f(l + 0.5 * h, tmp, k2);
            for (std::size_t j = 0; j < x.size(); ++j) tmp[j] = x[j] + 0.5 * h * k2[j];
            f(l + 0.5 * h, tmp, k3);
            for (std::size_t j = 0; j < x.size(); ++j) tmp[j] = x[j] + h * k3[j];
            f(l + h, tmp, k4);
            for (std::size_t j = 0; j < x.size(); ++j) x[j] += h / 6 * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]);
        }
        for (auto& v : x) v *= al(l1);
        return x;
    }
};

void write_error_curve() {
    const char* dir = std::getenv("KESTREL_BENCH_OUT");
    if (!dir) return;
    const std::string path = std::string(dir) + "/curve_diffusion_error_vs_nfe.csv";
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return;
    std::fprintf(f, "series,x,y,xlabel,ylabel\n");
    const auto sch = noise_schedule::linear_vp();
    mixture mp;
    std::vector<double> start(128);
    fill_normal(make_view(start), counter_rng(5, 0));
    const auto g0 = uniform_logsnr_grid(sch, 10, 1.0, 1e-3);
    const auto ref = mp.reference(start, g0.front().lambda, g0.back().lambda, 20000);
    struct entry { const char* name; solver_kind k; std::size_t order; third_order_form f3; bool corr; };
    const entry es[] = {{"DDIM", solver_kind::ddim, 1, third_order_form::published, true},
                        {"Heun", solver_kind::heun, 2, third_order_form::published, true},
                        {"DPM-Solver-2", solver_kind::dpm_solver, 2, third_order_form::published, true},
                        {"DPM-Solver-3", solver_kind::dpm_solver, 3, third_order_form::published, true},
                        {"DPM-Solver++(2S)", solver_kind::dpm_solver_pp_2s, 2, third_order_form::published, true},
                        {"DPM-Solver++(2M)", solver_kind::dpm_solver_pp, 2, third_order_form::published, true},
                        {"DPM-Solver++(3M) published", solver_kind::dpm_solver_pp, 3, third_order_form::published, true},
                        {"DPM-Solver++(3M) corrected", solver_kind::dpm_solver_pp, 3, third_order_form::corrected, true},
                        {"UniPC-2 (bh2)", solver_kind::unipc, 2, third_order_form::published, true},
                        {"UniPC-3 (bh2)", solver_kind::unipc, 3, third_order_form::published, true},
                        {"DEIS-2", solver_kind::deis, 2, third_order_form::published, true},
                        {"DEIS-3", solver_kind::deis, 3, third_order_form::published, true}};
    for (const auto& e : es) {
        for (std::size_t nfe_target : {6, 8, 10, 12, 16, 20, 30, 40, 60, 100}) {
            const std::size_t per = (e.k == solver_kind::heun || e.k == solver_kind::dpm_solver_pp_2s) ? 2
                                    : e.k == solver_kind::dpm_solver ? e.order : 1;
            const std::size_t steps = std::max<std::size_t>(1, nfe_target / per);
            const auto g = uniform_logsnr_grid(sch, steps, 1.0, 1e-3);
            std::vector<double> x = start;
            sampler_options o;
            o.solver = e.k;
            o.order = e.order;
            o.third_order = e.f3;
            sampler_workspace<double> ws;
            const std::size_t nfe = sample(mp, sch, g, o, make_view(x), ws);
            double err = 0;
            for (std::size_t i = 0; i < x.size(); ++i) err = std::max(err, std::fabs(x[i] - ref[i]));
            std::fprintf(f, "%s,%zu,%.6e,model evaluations,max error vs exact flow\n", e.name, nfe, err);
        }
    }
    std::fclose(f);
}

const bool registered = [] {
    write_error_curve();
    std::vector<std::size_t> sizes{std::size_t(1) << 14, std::size_t(1) << 20, std::size_t(1) << 24};
    if (kestrel_bench::quick_mode()) sizes = {std::size_t(1) << 14, std::size_t(1) << 20};
    // Sizes outer, kernels inner: the inputs (five vectors of normals, and the baseline's pool
    // of 16 temporaries: 1 GiB at n = 2^24) are generated once per size, not once per kernel.
    const std::vector<kernel> all = kernels();
    for (std::size_t n : sizes) {
        for (const auto& k : all) {
            const double bytes = double((k.inputs + 1) * n * sizeof(T));
            const std::string args = "/n:" + std::to_string(n);
            benchmark::RegisterBenchmark(("diffusion/" + k.name + "/baseline" + args + "/threads:1").c_str(),
                                         [k, n, bytes](benchmark::State& s) {
                                             auto& d = data(n, true);
                                             // Once untimed: the pool's first touch (page faults,
                                             // 1 GiB at n = 2^24) is not the formula's cost.
                                             k.baseline(d);
                                             for (auto _ : s) {
                                                 k.baseline(d);
                                                 benchmark::ClobberMemory();
                                             }
                                             kestrel_bench::report_limits(s, bytes, double(n), double(2 * k.inputs - 1) * n);
                                         })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
            for (int th : kestrel_bench::thread_counts()) {
                benchmark::RegisterBenchmark(
                    ("diffusion/" + k.name + "/kestrel" + args + "/threads:" + std::to_string(th)).c_str(),
                    [k, n, bytes, th](benchmark::State& s) {
                        auto& d = data(n, false);
                        k.run(d, exec_policy{th});  // once untimed, as the baseline
                        for (auto _ : s) {
                            k.run(d, exec_policy{th});
                            benchmark::ClobberMemory();
                        }
                        kestrel_bench::report_limits(s, bytes, double(n), double(2 * k.inputs - 1) * n);
                    })
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
            }
        }
    }
    return true;
}();

}  // namespace
