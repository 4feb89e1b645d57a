// Each step kernel against the published formula written out directly, element by element, in the
// form of diffusers / k-diffusion / the authors' code (not by calling the kernel's coefficients).
// Schedules: Stable Diffusion's scaled-linear alphas_cumprod computed here from its betas, and EDM.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "diffusion_test_util.hpp"

using namespace kestrel;
using namespace kestrel::diffusion;

namespace {

using vec = std::vector<double>;

struct sd_schedule {  // diffusers "scaled_linear", 1000 steps, computed directly
    vec acp;
    sd_schedule() {
        double a = 1.0;
        for (int i = 0; i < 1000; ++i) {
            const double r = std::sqrt(0.00085) + (std::sqrt(0.012) - std::sqrt(0.00085)) * i / 999.0;
            a *= 1.0 - r * r;
            acp.push_back(a);
        }
    }
    grid_point at(int t) const {
        grid_point p;
        p.t = t;
        p.alpha = std::sqrt(acp[t]);
        p.sigma = std::sqrt(1.0 - acp[t]);
        p.lambda = std::log(p.alpha) - std::log(p.sigma);
        return p;
    }
};

grid_point edm_point(double sigma) {
    grid_point p;
    p.t = sigma;
    p.alpha = 1.0;
    p.sigma = sigma;
    p.lambda = -std::log(sigma);
    return p;
}

vec random_vec(std::size_t n, unsigned seed) {
    std::mt19937_64 g(seed);
    std::normal_distribution<double> d;
    vec v(n);
    for (auto& x : v) x = d(g);
    return v;
}

constexpr std::size_t N = 37;  // odd: exercises the SIMD tail
vector_view<const double> cv(const vec& v) { return vector_view<const double>(v.data(), v.size()); }

void check_against(const vec& got, const std::function<double(std::size_t)>& want) {
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double w = want(i);
        INFO("element " << i << ": kernel " << got[i] << ", formula " << w);
        CHECK(std::fabs(got[i] - w) <= 1e-12 * (1.0 + std::fabs(w)));
    }
}

const vec x = random_vec(N, 1), m0 = random_vec(N, 2), m1 = random_vec(N, 3), m2 = random_vec(N, 4),
          z = random_vec(N, 5), mt = random_vec(N, 6);

}  // namespace

TEST_CASE("diffusion: schedule values equal alphas_cumprod at integer timesteps", "[diffusion][faithful]") {
    sd_schedule ref;
    const auto s = noise_schedule::discrete_from_betas(scaled_linear_betas());
    for (int t : {0, 1, 17, 500, 998, 999}) {
        const auto p = point_at(s, t), q = ref.at(t);
        CHECK(p.alpha == Approx(q.alpha).epsilon(1e-13));
        CHECK(p.sigma == Approx(q.sigma).epsilon(1e-12));
        CHECK(p.lambda == Approx(q.lambda).epsilon(1e-12));
    }
}

TEST_CASE("diffusion: DDIM equals diffusers' DDIMScheduler.step", "[diffusion][faithful]") {
    sd_schedule sd;
    for (double eta : {0.0, 0.3, 1.0}) {
        const int ts = 801, tp = 761;
        const double a_s = sd.acp[ts], a_t = sd.acp[tp];
        vec out(N);
        if (eta == 0) ddim_step<double>(make_view(out), cv(x), cv(m0), sd.at(ts), sd.at(tp));
        else ddim_step<double>(make_view(out), cv(x), cv(m0), cv(z), sd.at(ts), sd.at(tp), eta);
        const double variance = (1 - a_t) / (1 - a_s) * (1 - a_s / a_t);
        const double std_dev = eta * std::sqrt(variance);
        check_against(out, [&](std::size_t i) {
            const double x0 = (x[i] - std::sqrt(1 - a_s) * m0[i]) / std::sqrt(a_s);
            return std::sqrt(a_t) * x0 + std::sqrt(1 - a_t - std_dev * std_dev) * m0[i] + std_dev * z[i];
        });
    }
}

TEST_CASE("diffusion: Euler, Heun and ancestral steps equal k-diffusion on EDM sigmas", "[diffusion][faithful]") {
    const double s = 2.5, t = 1.7;
    vec out(N), out2(N);
    euler_step<double>(make_view(out), cv(x), cv(m0), edm_point(s), edm_point(t));
    check_against(out, [&](std::size_t i) { return x[i] + (x[i] - m0[i]) / s * (t - s); });

    // Heun: x2 = euler; x = x + (d + d2)/2 dt with D2 = m1 at x2
    heun_step<double>(make_view(out2), cv(x), cv(m0), cv(out), cv(m1), edm_point(s), edm_point(t));
    check_against(out2, [&](std::size_t i) {
        const double d = (x[i] - m0[i]) / s, d2 = (out[i] - m1[i]) / t;
        return x[i] + (d + d2) / 2 * (t - s);
    });

    for (double eta : {0.5, 1.0}) {
        const double up = std::min(t, eta * std::sqrt(t * t * (s * s - t * t) / (s * s)));
        const double down = std::sqrt(t * t - up * up);
        euler_ancestral_step<double>(make_view(out), cv(x), cv(m0), cv(z), edm_point(s), edm_point(t), eta, 0.9);
        check_against(out, [&](std::size_t i) { return x[i] + (x[i] - m0[i]) / s * (down - s) + z[i] * 0.9 * up; });

        // DPM-Solver++(2S) ancestral: midpoint at t = (-log s - log down)/2 in k-diffusion's t = -log sigma
        const double tt = -std::log(s), tn = -std::log(down), h = tn - tt, smid = std::exp(-(tt + 0.5 * h));
        const double lam_mid = dpm_solver_pp_2s_ancestral_midpoint_lambda(edm_point(s), edm_point(t), eta);
        CHECK(std::exp(-lam_mid) == Approx(smid).epsilon(1e-13));
        dpm_solver_pp_1_step<double>(make_view(out), cv(x), cv(m0), edm_point(s), edm_point(smid));
        check_against(out, [&](std::size_t i) { return (smid / s) * x[i] - std::expm1(-h * 0.5) * m0[i]; });
        dpm_solver_pp_2s_ancestral_step<double>(make_view(out), cv(x), cv(m1), cv(z), edm_point(s), edm_point(t), eta, 0.9);
        check_against(out, [&](std::size_t i) { return (down / s) * x[i] - std::expm1(-h) * m1[i] + z[i] * 0.9 * up; });
    }
}

TEST_CASE("diffusion: DPM-Solver-1/2/3 equal the dpm-solver code (noise prediction)", "[diffusion][faithful]") {
    sd_schedule sd;
    const auto s = sd.at(900), s1 = sd.at(850), s2 = sd.at(800), t = sd.at(700);
    const double h = t.lambda - s.lambda;
    vec out(N);
    dpm_solver_1_step<double>(make_view(out), cv(x), cv(m0), s, t);
    check_against(out, [&](std::size_t i) { return t.alpha / s.alpha * x[i] - t.sigma * (std::exp(h) - 1) * m0[i]; });

    const double r1 = (s1.lambda - s.lambda) / h, r2 = (s2.lambda - s.lambda) / h;
    dpm_solver_2_step<double>(make_view(out), cv(x), cv(m0), cv(m1), s, s1, t);
    check_against(out, [&](std::size_t i) {
        return std::exp(std::log(t.alpha) - std::log(s.alpha)) * x[i] - t.sigma * std::expm1(h) * m0[i] -
               0.5 / r1 * t.sigma * std::expm1(h) * (m1[i] - m0[i]);
    });
    dpm_solver_3_stage<double>(make_view(out), cv(x), cv(m0), cv(m1), s, s1, s2, t);
    check_against(out, [&](std::size_t i) {
        const double phi_12 = std::expm1(r2 * h), phi_22 = std::expm1(r2 * h) / (r2 * h) - 1.0;
        return s2.alpha / s.alpha * x[i] - s2.sigma * phi_12 * m0[i] - r2 / r1 * s2.sigma * phi_22 * (m1[i] - m0[i]);
    });
    dpm_solver_3_step<double>(make_view(out), cv(x), cv(m0), cv(m2), s, s2, t);
    check_against(out, [&](std::size_t i) {
        const double phi_1 = std::expm1(h), phi_2 = phi_1 / h - 1.0;
        return t.alpha / s.alpha * x[i] - t.sigma * phi_1 * m0[i] - 1.0 / r2 * t.sigma * phi_2 * (m2[i] - m0[i]);
    });
}

TEST_CASE("diffusion: DPM-Solver++ 1, 2S, 2M, 3M equal diffusers' multistep updates", "[diffusion][faithful]") {
    sd_schedule sd;
    const auto s2 = sd.at(901), s1 = sd.at(841), s0 = sd.at(781), t = sd.at(721);
    const double h = t.lambda - s0.lambda, h_0 = s0.lambda - s1.lambda, h_1 = s1.lambda - s2.lambda;
    const double r0 = h_0 / h, r1 = h_1 / h;
    vec out(N);
    dpm_solver_pp_1_step<double>(make_view(out), cv(x), cv(m0), s0, t);
    check_against(out, [&](std::size_t i) { return t.sigma / s0.sigma * x[i] - t.alpha * (std::exp(-h) - 1.0) * m0[i]; });

    dpm_solver_pp_2m_step<double>(make_view(out), cv(x), cv(m0), cv(m1), s1, s0, t, second_order_form::midpoint);
    check_against(out, [&](std::size_t i) {
        const double D1 = (1.0 / r0) * (m0[i] - m1[i]);
        return t.sigma / s0.sigma * x[i] - t.alpha * (std::exp(-h) - 1.0) * m0[i] - 0.5 * (t.alpha * (std::exp(-h) - 1.0)) * D1;
    });
    dpm_solver_pp_2m_step<double>(make_view(out), cv(x), cv(m0), cv(m1), s1, s0, t, second_order_form::heun);
    check_against(out, [&](std::size_t i) {
        const double D1 = (1.0 / r0) * (m0[i] - m1[i]);
        return t.sigma / s0.sigma * x[i] - t.alpha * (std::exp(-h) - 1.0) * m0[i] + t.alpha * ((std::exp(-h) - 1.0) / h + 1.0) * D1;
    });
    for (auto form : {third_order_form::published, third_order_form::corrected}) {
        const double k = form == third_order_form::published ? 1.0 : 2.0;
        dpm_solver_pp_3m_step<double>(make_view(out), cv(x), cv(m0), cv(m1), cv(m2), s2, s1, s0, t, form);
        check_against(out, [&](std::size_t i) {
            const double D1_0 = (1.0 / r0) * (m0[i] - m1[i]), D1_1 = (1.0 / r1) * (m1[i] - m2[i]);
            const double D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1), D2 = (1.0 / (r0 + r1)) * (D1_0 - D1_1);
            return t.sigma / s0.sigma * x[i] - t.alpha * (std::exp(-h) - 1.0) * m0[i] +
                   t.alpha * ((std::exp(-h) - 1.0) / h + 1.0) * D1 - k * t.alpha * ((std::exp(-h) - 1.0 + h) / (h * h) - 0.5) * D2;
        });
    }
    // 2S (singlestep, r1 = 1/2 point given explicitly)
    const auto mid = sd.at(751);
    const double hs = t.lambda - s0.lambda, rm = (mid.lambda - s0.lambda) / hs;
    dpm_solver_pp_2s_step<double>(make_view(out), cv(x), cv(m0), cv(m1), s0, mid, t);
    check_against(out, [&](std::size_t i) {
        const double phi_1 = std::expm1(-hs);
        return t.sigma / s0.sigma * x[i] - t.alpha * phi_1 * m0[i] - 0.5 / rm * t.alpha * phi_1 * (m1[i] - m0[i]);
    });
}

TEST_CASE("diffusion: DPM-Solver++ SDE updates equal diffusers (eta = 1) and k-diffusion", "[diffusion][faithful]") {
    sd_schedule sd;
    const auto s2 = sd.at(901), s1 = sd.at(841), s0 = sd.at(781), t = sd.at(721);
    const double h = t.lambda - s0.lambda, r0 = (s0.lambda - s1.lambda) / h, r1 = (s1.lambda - s2.lambda) / h;
    vec out(N);
    dpm_solver_pp_sde_1_step<double>(make_view(out), cv(x), cv(m0), cv(z), s0, t);
    check_against(out, [&](std::size_t i) {
        return (t.sigma / s0.sigma * std::exp(-h)) * x[i] + (t.alpha * (1 - std::exp(-2.0 * h))) * m0[i] +
               t.sigma * std::sqrt(1.0 - std::exp(-2 * h)) * z[i];
    });
    dpm_solver_pp_2m_sde_step<double>(make_view(out), cv(x), cv(m0), cv(m1), cv(z), s1, s0, t, second_order_form::midpoint);
    check_against(out, [&](std::size_t i) {
        const double D1 = (1.0 / r0) * (m0[i] - m1[i]);
        return (t.sigma / s0.sigma * std::exp(-h)) * x[i] + (t.alpha * (1 - std::exp(-2.0 * h))) * m0[i] +
               0.5 * (t.alpha * (1 - std::exp(-2.0 * h))) * D1 + t.sigma * std::sqrt(1.0 - std::exp(-2 * h)) * z[i];
    });
    dpm_solver_pp_2m_sde_step<double>(make_view(out), cv(x), cv(m0), cv(m1), cv(z), s1, s0, t, second_order_form::heun);
    check_against(out, [&](std::size_t i) {
        const double D1 = (1.0 / r0) * (m0[i] - m1[i]);
        return (t.sigma / s0.sigma * std::exp(-h)) * x[i] + (t.alpha * (1 - std::exp(-2.0 * h))) * m0[i] +
               (t.alpha * ((1.0 - std::exp(-2.0 * h)) / (-2.0 * h) + 1.0)) * D1 +
               t.sigma * std::sqrt(1.0 - std::exp(-2 * h)) * z[i];
    });
    // k-diffusion sample_dpmpp_3m_sde with eta = 0.7, in the VE variables x~ = x/alpha
    const double eta = 0.7, h_eta = h * (eta + 1);
    dpm_solver_pp_3m_sde_step<double>(make_view(out), cv(x), cv(m0), cv(m1), cv(m2), cv(z), s2, s1, s0, t, eta, 1.0);
    check_against(out, [&](std::size_t i) {
        const double xs = x[i] / s0.alpha;
        double xt = std::exp(-h_eta) * (t.sigma / t.alpha) / (s0.sigma / s0.alpha) * std::exp(h) * xs +
                    -std::expm1(-h_eta) * m0[i];
        const double d1_0 = (m0[i] - m1[i]) / r0, d1_1 = (m1[i] - m2[i]) / r1;
        const double d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1), d2 = (d1_0 - d1_1) / (r0 + r1);
        const double phi_2 = std::expm1(-h_eta) / h_eta + 1, phi_3 = phi_2 / h_eta - 0.5;
        xt = xt + phi_2 * d1 - phi_3 * d2;
        xt = xt + z[i] * (t.sigma / t.alpha) * std::sqrt(-std::expm1(-2 * h * eta));
        return t.alpha * xt;
    });
}

namespace {
// UniPC written as in diffusers, with R and b built by the same loop and the systems solved by
// Cramer's rule (independent of the kernel's elimination).
vec unipc_reference(const std::vector<grid_point>& pts, const std::vector<const vec*>& ms, std::size_t order,
                    const grid_point& t, bool corrector, bool bh1, const vec* model_t) {
    const grid_point& s0 = pts[0];
    const double h = t.lambda - s0.lambda, hh = -h;
    std::vector<double> rks;
    std::vector<vec> D1s;
    for (std::size_t i = 1; i < order; ++i) {
        const double rk = (pts[i].lambda - s0.lambda) / h;
        rks.push_back(rk);
        vec d(N);
        for (std::size_t j = 0; j < N; ++j) d[j] = ((*ms[i])[j] - (*ms[0])[j]) / rk;
        D1s.push_back(d);
    }
    rks.push_back(1.0);
    const double h_phi_1 = std::expm1(hh);
    double h_phi_k = h_phi_1 / hh - 1;
    double factorial_i = 1;
    const double B_h = bh1 ? hh : std::expm1(hh);
    std::vector<std::vector<double>> R;
    std::vector<double> b;
    for (std::size_t i = 1; i <= order; ++i) {
        std::vector<double> row;
        for (double r : rks) row.push_back(std::pow(r, double(i - 1)));
        R.push_back(row);
        b.push_back(h_phi_k * factorial_i / B_h);
        factorial_i *= double(i + 1);
        h_phi_k = h_phi_k / hh - 1 / factorial_i;
    }
    auto det2 = [](double a, double b_, double c, double d) { return a * d - b_ * c; };
    auto solve2 = [&](std::size_t n) {  // n = 2 Cramer
        const double D = det2(R[0][0], R[0][1], R[1][0], R[1][1]);
        return std::vector<double>{det2(b[0], R[0][1], b[1], R[1][1]) / D, det2(R[0][0], b[0], R[1][0], b[1]) / D};
        (void)n;
    };
    auto solve3 = [&]() {
        auto det3 = [](const std::vector<std::vector<double>>& M) {
            return M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) - M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                   M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]);
        };
        const double D = det3(R);
        std::vector<double> out;
        for (int c = 0; c < 3; ++c) {
            auto M = R;
            for (int r = 0; r < 3; ++r) M[r][c] = b[r];
            out.push_back(det3(M) / D);
        }
        return out;
    };
    std::vector<double> rhos;
    if (!corrector) {
        if (order == 2) rhos = {0.5};
        else if (order == 3) rhos = solve2(2);
    } else {
        if (order == 1) rhos = {0.5};
        else if (order == 2) rhos = solve2(2);
        else rhos = solve3();
    }
    vec out(N);
    for (std::size_t j = 0; j < N; ++j) {
        double res = 0;
        for (std::size_t k = 0; k < D1s.size(); ++k) res += rhos[k] * D1s[k][j];
        if (corrector) res += rhos.back() * ((*model_t)[j] - (*ms[0])[j]);
        out[j] = t.sigma / s0.sigma * x[j] - t.alpha * h_phi_1 * (*ms[0])[j] - t.alpha * B_h * res;
    }
    return out;
}
}  // namespace

TEST_CASE("diffusion: UniPC predictor and corrector equal diffusers' bh updates", "[diffusion][faithful]") {
    sd_schedule sd;
    const std::vector<grid_point> pts{sd.at(781), sd.at(841), sd.at(901)};
    const auto t = sd.at(721);
    const std::vector<const vec*> ms{&m0, &m1, &m2};
    const std::array<vector_view<const double>, 3> hist{cv(m0), cv(m1), cv(m2)};
    for (bool bh1 : {true, false}) {
        for (std::size_t order = 1; order <= 3; ++order) {
            vec out(N);
            unipc_predictor_step<double>(make_view(out), cv(x), hist.data(), pts.data(), order, t,
                                         bh1 ? unipc_variant::bh1 : unipc_variant::bh2);
            const vec want = unipc_reference(pts, ms, order, t, false, bh1, nullptr);
            check_against(out, [&](std::size_t i) { return want[i]; });
            unipc_corrector_step<double>(make_view(out), cv(x), hist.data(), pts.data(), order, cv(mt), t,
                                         bh1 ? unipc_variant::bh1 : unipc_variant::bh2);
            const vec wantc = unipc_reference(pts, ms, order, t, true, bh1, &mt);
            check_against(out, [&](std::size_t i) { return wantc[i]; });
        }
    }
}

TEST_CASE("diffusion: DEIS-tAB equals diffusers' DEISMultistepScheduler", "[diffusion][faithful]") {
    sd_schedule sd;
    const std::vector<grid_point> pts{sd.at(781), sd.at(841), sd.at(901)};
    const auto t = sd.at(721);
    const std::array<vector_view<const double>, 3> hist{cv(m0), cv(m1), cv(m2)};
    auto rho = [](const grid_point& p) { return p.sigma / p.alpha; };
    const double rt = rho(t), r0 = rho(pts[0]), r1 = rho(pts[1]), r2 = rho(pts[2]);
    auto ind2 = [](double tt, double b, double c) { return tt * (-std::log(c) + std::log(tt) - 1) / (std::log(b) - std::log(c)); };
    auto ind3 = [](double tt, double b, double c, double d) {
        const double numerator = tt * (std::log(c) * (std::log(d) - std::log(tt) + 1) - std::log(d) * std::log(tt) +
                                       std::log(d) + std::pow(std::log(tt), 2) - 2 * std::log(tt) + 2);
        return numerator / ((std::log(b) - std::log(c)) * (std::log(b) - std::log(d)));
    };
    vec out(N);
    deis_step<double>(make_view(out), cv(x), hist.data(), pts.data(), 1, t);
    const double h = t.lambda - pts[0].lambda;
    check_against(out, [&](std::size_t i) { return t.alpha / pts[0].alpha * x[i] - t.sigma * (std::exp(h) - 1.0) * m0[i]; });
    deis_step<double>(make_view(out), cv(x), hist.data(), pts.data(), 2, t);
    check_against(out, [&](std::size_t i) {
        const double c1 = ind2(rt, r0, r1) - ind2(r0, r0, r1), c2 = ind2(rt, r1, r0) - ind2(r0, r1, r0);
        return t.alpha * (x[i] / pts[0].alpha + c1 * m0[i] + c2 * m1[i]);
    });
    deis_step<double>(make_view(out), cv(x), hist.data(), pts.data(), 3, t);
    check_against(out, [&](std::size_t i) {
        const double c1 = ind3(rt, r0, r1, r2) - ind3(r0, r0, r1, r2);
        const double c2 = ind3(rt, r1, r2, r0) - ind3(r0, r1, r2, r0);
        const double c3 = ind3(rt, r2, r0, r1) - ind3(r0, r2, r0, r1);
        return t.alpha * (x[i] / pts[0].alpha + c1 * m0[i] + c2 * m1[i] + c3 * m2[i]);
    });
}

TEST_CASE("diffusion: float kernels agree with double to float precision", "[diffusion][faithful]") {
    sd_schedule sd;
    const auto s1 = sd.at(841), s0 = sd.at(781), t = sd.at(721);
    std::vector<float> xf(x.begin(), x.end()), a(m0.begin(), m0.end()), b(m1.begin(), m1.end()), out(N);
    vec outd(N);
    dpm_solver_pp_2m_step<float>(make_view(out), vector_view<const float>(xf), vector_view<const float>(a),
                                 vector_view<const float>(b), s1, s0, t);
    dpm_solver_pp_2m_step<double>(make_view(outd), cv(x), cv(m0), cv(m1), s1, s0, t);
    for (std::size_t i = 0; i < N; ++i) CHECK(double(out[i]) == Approx(outd[i]).margin(1e-5).epsilon(1e-5));
}
