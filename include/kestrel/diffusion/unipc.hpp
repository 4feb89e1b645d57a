// UniPC (Zhao et al. 2023): the unified predictor UniP and corrector UniC, B(h) = h ("bh1") or
// e^h - 1 ("bh2"), as in wl-zhao/UniPC and diffusers' UniPCMultistepScheduler
// (multistep_uni_p_bh_update / multistep_uni_c_bh_update).
//
// History: m_0 (newest, at s0), m_1 (at s1), m_2 (at s2). In data mode (predict_x0, the default)
// hh = -h, in noise mode hh = h; r_k = (lambda_{s_k} - lambda_s0)/h (negative), D1_k = (m_k - m0)/r_k.
//   h_phi_1 = e^{hh} - 1, and for i = 1..p: b_i = h_phi_k(i) i! / B(h), with h_phi_k(1) = h_phi_1/hh - 1,
//   h_phi_k(i+1) = h_phi_k(i)/hh - 1/(i+1)!;  R_{i,j} = r_j^{i-1} over r = (r_1, ..., r_{p-1}, 1).
//   Predictor of order p: rho = [1/2] for p = 2, else the solution of R[:p-1, :p-1] rho = b[:p-1];
//     x_t = (sigma_t/sigma_s0) x - alpha_t h_phi_1 m0 - alpha_t B(h) sum_k rho_k D1_k     (data mode)
//   Corrector of order p (the order of the predictor it corrects): rho = [1/2] for p = 1, else
//     R rho = b (p x p); x_t^c = (sigma_t/sigma_s0) x - alpha_t h_phi_1 m0
//                                - alpha_t B(h) (sum_{k<p-1} rho_k D1_k + rho_{p-1} (m_t - m0))
//   Noise mode replaces sigma_t/sigma_s0 by alpha_t/alpha_s0 and alpha_t by sigma_t.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <utility>

#include "detail/fused_step.hpp"

namespace kestrel {
namespace diffusion {

enum class unipc_variant { bh1, bh2 };

namespace detail {
// Solves the n x n system A x = b (n <= 3) by Gaussian elimination with partial pivoting
// (torch.linalg.solve is LU with partial pivoting too).
inline std::array<double, 3> solve_small(std::array<std::array<double, 3>, 3> a, std::array<double, 3> b, std::size_t n) {
    for (std::size_t c = 0; c < n; ++c) {
        std::size_t piv = c;
        for (std::size_t r = c + 1; r < n; ++r)
            if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
        std::swap(a[c], a[piv]);
        std::swap(b[c], b[piv]);
        for (std::size_t r = c + 1; r < n; ++r) {
            const double f = a[r][c] / a[c][c];
            for (std::size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    std::array<double, 3> x{};
    for (std::size_t c = n; c-- > 0;) {
        double v = b[c];
        for (std::size_t k = c + 1; k < n; ++k) v -= a[c][k] * x[k];
        x[c] = v / a[c][c];
    }
    return x;
}
}  // namespace detail

/// Coefficients {c_x, c_m0, c_m1, c_m2, c_mt} of a UniPC update of order `order` (1..3) from s0 to t.
/// points[k] is the point of history entry m_k (points[0] = s0). For the predictor c_mt = 0.
inline std::array<double, 5> unipc_coefficients(const grid_point* points, std::size_t order, const grid_point& t,
                                                bool corrector, unipc_variant variant = unipc_variant::bh2,
                                                bool predict_x0 = true) {
    const char* fn = corrector ? "unipc_corrector_step" : "unipc_predictor_step";
    require(order >= 1 && order <= 3, fn, "order", "must lie in [1, 3], got ", order);
    require_not_null(points, order, fn, "points");
    const grid_point& s0 = points[0];
    detail::require_forward(s0, t, fn);
    require(std::isfinite(t.lambda), fn, "t", "is clean (sigma = 0): finish with a denoising step");
    for (std::size_t k = 1; k < order; ++k) detail::require_history(points[k], points[k - 1], fn, "points");
    if (predict_x0) require(s0.sigma > 0, fn, "s0", "needs sigma_s0 > 0");
    else require(s0.alpha > 0, fn, "s0", "noise mode needs alpha_s0 > 0");

    const double h = t.lambda - s0.lambda;
    std::array<double, 3> rks{};  // r_1 .. r_{order-1}, then 1
    for (std::size_t k = 1; k < order; ++k) rks[k - 1] = (points[k].lambda - s0.lambda) / h;
    rks[order - 1] = 1.0;
    const double hh = predict_x0 ? -h : h;
    const double h_phi_1 = std::expm1(hh);
    double h_phi_k = h_phi_1 / hh - 1.0;
    const double B_h = variant == unipc_variant::bh1 ? hh : std::expm1(hh);
    std::array<std::array<double, 3>, 3> R{};
    std::array<double, 3> b{};
    double factorial_i = 1.0;
    for (std::size_t i = 1; i <= order; ++i) {
        for (std::size_t j = 0; j < order; ++j) R[i - 1][j] = std::pow(rks[j], double(i - 1));
        b[i - 1] = h_phi_k * factorial_i / B_h;
        factorial_i *= double(i + 1);
        h_phi_k = h_phi_k / hh - 1.0 / factorial_i;
    }
    std::array<double, 3> rho{};
    std::size_t nrho = 0;  // number of D1 terms (order - 1) plus the corrector's m_t term
    // The oldest history point may lie at lambda = -inf (alpha = 0: the first point of a flow
    // grid), where r = -inf. The update then takes its limit as r -> -inf: that column's
    // rho_k / r_k -> 0 and the others solve the system without that column and the last row
    // (Cramer's rule), i.e. the method of one order lower on the remaining points.
    const bool drop_oldest = order >= 2 && std::isinf(points[order - 1].lambda);
    if (!corrector) {
        nrho = order - 1;
        if (drop_oldest) {
            if (order == 3) rho[0] = b[0];  // 1 x 1 system on r_1; rho[1] (the -inf column) stays 0
        } else if (order == 2) {
            rho[0] = 0.5;
        } else if (order == 3) {
            rho = detail::solve_small(R, b, 2);
        }
    } else {
        nrho = order;
        if (drop_oldest) {
            // columns r_1 .. r_{order-2}, 1 (the m_t term); the -inf column order-2 drops
            std::array<std::array<double, 3>, 3> Rr{};
            std::array<double, 3> br{};
            const std::size_t m = order - 1;
            for (std::size_t i = 0; i < m; ++i) {
                for (std::size_t j = 0; j + 1 < m; ++j) Rr[i][j] = R[i][j];
                Rr[i][m - 1] = R[i][order - 1];
                br[i] = b[i];
            }
            const auto rr = detail::solve_small(Rr, br, m);
            for (std::size_t j = 0; j + 1 < m; ++j) rho[j] = rr[j];
            rho[order - 1] = rr[m - 1];
        } else if (order == 1) {
            rho[0] = 0.5;
        } else {
            rho = detail::solve_small(R, b, order);
        }
    }
    const double scale = predict_x0 ? t.alpha : t.sigma;
    const double cx = predict_x0 ? t.sigma / s0.sigma : t.alpha / s0.alpha;
    std::array<double, 5> c{cx, -scale * h_phi_1, 0.0, 0.0, 0.0};
    // - scale B_h sum_k rho_k (m_k - m0)/r_k
    for (std::size_t k = 1; k < order; ++k) {
        if (k - 1 >= nrho) break;
        if (std::isinf(rks[k - 1])) continue;  // the dropped -inf point contributes nothing
        const double w = -scale * B_h * rho[k - 1] / rks[k - 1];
        c[1 + k] += w;
        c[1] -= w;
    }
    if (corrector) {
        const double w = -scale * B_h * rho[order - 1];
        c[4] += w;
        c[1] -= w;
    }
    return c;
}

/// UniP predictor: x_out from x at s0 and history[0..order) (history[0] = m0 at points[0] = s0).
template <class T>
void unipc_predictor_step(vector_view<T> x_out, vector_view<const T> x, const vector_view<const T>* history,
                          const grid_point* points, std::size_t order, const grid_point& t,
                          unipc_variant variant = unipc_variant::bh2, bool predict_x0 = true, exec_policy policy = {}) {
    const auto c = unipc_coefficients(points, order, t, false, variant, predict_x0);
    require_not_null(history, order, "unipc_predictor_step", "history");
    switch (order) {
        case 1: detail::fused_step<T, 2>("unipc_predictor_step", x_out, {c[0], c[1]}, {x, history[0]}, {"x", "m0"}, policy); break;
        case 2:
            detail::fused_step<T, 3>("unipc_predictor_step", x_out, {c[0], c[1], c[2]}, {x, history[0], history[1]},
                                     {"x", "m0", "m1"}, policy);
            break;
        default:
            detail::fused_step<T, 4>("unipc_predictor_step", x_out, {c[0], c[1], c[2], c[3]},
                                     {x, history[0], history[1], history[2]}, {"x", "m0", "m1", "m2"}, policy);
    }
}

/// UniC corrector: x_out = corrected value at t from x_prev (the sample at s0), the history and
/// model_t (the converted model output at the predictor's result). x_out may alias the predictor's
/// result or x_prev.
template <class T>
void unipc_corrector_step(vector_view<T> x_out, vector_view<const T> x_prev, const vector_view<const T>* history,
                          const grid_point* points, std::size_t order, vector_view<const T> model_t,
                          const grid_point& t, unipc_variant variant = unipc_variant::bh2, bool predict_x0 = true,
                          exec_policy policy = {}) {
    const auto c = unipc_coefficients(points, order, t, true, variant, predict_x0);
    require_not_null(history, order, "unipc_corrector_step", "history");
    switch (order) {
        case 1:
            detail::fused_step<T, 3>("unipc_corrector_step", x_out, {c[0], c[1], c[4]}, {x_prev, history[0], model_t},
                                     {"x_prev", "m0", "model_t"}, policy);
            break;
        case 2:
            detail::fused_step<T, 4>("unipc_corrector_step", x_out, {c[0], c[1], c[2], c[4]},
                                     {x_prev, history[0], history[1], model_t}, {"x_prev", "m0", "m1", "model_t"}, policy);
            break;
        default:
            detail::fused_step<T, 5>("unipc_corrector_step", x_out, c, {x_prev, history[0], history[1], history[2], model_t},
                                     {"x_prev", "m0", "m1", "m2", "model_t"}, policy);
    }
}

}  // namespace diffusion
}  // namespace kestrel
