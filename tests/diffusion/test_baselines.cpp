// The benchmark baselines compute what the kernels compute (so a fast wrong kernel cannot hide).
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "baselines/diffusion.hpp"
#include "diffusion_test_util.hpp"

using namespace kestrel;
using namespace kestrel::diffusion;

TEST_CASE("diffusion: benchmark baselines agree with the kernels", "[diffusion][baseline]") {
    const auto sch = noise_schedule::discrete_from_betas(scaled_linear_betas());
    const auto s2 = point_at(sch, 901), s1 = point_at(sch, 841), s0 = point_at(sch, 781), t = point_at(sch, 721);
    auto bp = [](const grid_point& p) { return kestrel_baseline::point{p.alpha, p.sigma, p.lambda}; };
    const std::size_t n = 1000;
    std::vector<std::vector<double>> in(5, std::vector<double>(n));
    for (int k = 0; k < 5; ++k) fill_normal(make_view(in[k]), counter_rng(3, std::uint64_t(k)));
    auto v = [&](int k) { return vector_view<const double>(in[k].data(), n); };
    auto pool = kestrel_baseline::make_pool<double>(n);
    std::vector<double> a(n), b(n);
    auto same = [&]() {
        for (std::size_t i = 0; i < n; ++i) REQUIRE(a[i] == Approx(b[i]).epsilon(1e-12).margin(1e-12));
    };
    ddim_step<double>(make_view(a), v(0), v(1), s0, t);
    kestrel_baseline::ddim_step(b.data(), in[0].data(), in[1].data(), bp(s0), bp(t), n, pool);
    same();
    dpm_solver_pp_2m_step<double>(make_view(a), v(0), v(1), v(2), s1, s0, t);
    kestrel_baseline::dpm_solver_pp_2m_step(b.data(), in[0].data(), in[1].data(), in[2].data(), bp(s1), bp(s0), bp(t), n, pool);
    same();
    dpm_solver_pp_3m_step<double>(make_view(a), v(0), v(1), v(2), v(3), s2, s1, s0, t);
    kestrel_baseline::dpm_solver_pp_3m_step(b.data(), in[0].data(), in[1].data(), in[2].data(), in[3].data(), bp(s2), bp(s1),
                                            bp(s0), bp(t), n, pool);
    same();
    dpm_solver_pp_2m_sde_step<double>(make_view(a), v(0), v(1), v(2), v(4), s1, s0, t);
    kestrel_baseline::dpm_solver_pp_2m_sde_step(b.data(), in[0].data(), in[1].data(), in[2].data(), in[4].data(), bp(s1),
                                                bp(s0), bp(t), n, pool);
    same();
    heun_step<double>(make_view(a), v(0), v(1), v(2), v(3), s0, t);
    std::vector<double> sx0(n), sd(n), sx2(n), sd2(n);  // k-diffusion works in x~ = x / alpha
    for (std::size_t i = 0; i < n; ++i) {
        sx0[i] = in[0][i] / s0.alpha;
        sd[i] = in[1][i];
        sx2[i] = in[2][i] / t.alpha;
        sd2[i] = in[3][i];
    }
    kestrel_baseline::heun_step(b.data(), sx0.data(), sd.data(), sx2.data(), sd2.data(), s0.sigma / s0.alpha,
                                t.sigma / t.alpha, n, pool);
    for (auto& e : b) e *= t.alpha;
    same();
    const std::array<grid_point, 3> pts{s0, s1, s2};
    const std::array<vector_view<const double>, 3> hist{v(1), v(2), v(3)};
    const double h = t.lambda - s0.lambda, r1 = (s1.lambda - s0.lambda) / h, r2 = (s2.lambda - s0.lambda) / h;
    const auto c = unipc_coefficients(pts.data(), 3, t, false);
    const double B_h = std::expm1(-h);
    unipc_predictor_step<double>(make_view(a), v(0), hist.data(), pts.data(), 3, t);
    kestrel_baseline::unipc_predictor_3_step(b.data(), in[0].data(), in[1].data(), in[2].data(), in[3].data(), r1, r2,
                                             -c[2] * r1 / (t.alpha * B_h), -c[3] * r2 / (t.alpha * B_h), bp(s0), bp(t), n, pool);
    same();
    const auto dc = deis_coefficients(pts.data(), 3, t);
    deis_step<double>(make_view(a), v(0), hist.data(), pts.data(), 3, t);
    kestrel_baseline::deis_3_step(b.data(), in[0].data(), in[1].data(), in[2].data(), in[3].data(), dc[1] / t.alpha,
                                  dc[2] / t.alpha, dc[3] / t.alpha, s0.alpha, t.alpha, n, pool);
    same();
}
