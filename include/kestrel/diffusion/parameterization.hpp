// What the network predicts, and conversions between predictions.
//
// With x = alpha x0 + sigma eps:
//   noise          eps
//   data           x0
//   velocity       v = alpha eps - sigma x0           (Salimans & Ho; diffusers "v_prediction")
//   flow_velocity  u = eps - x0 = dx/dt for alpha = 1 - t, sigma = t (rectified flow / SD3)
// Every conversion is an affine map of (x, model output): out = a x + b m, a and b in double,
// applied in one fused pass.
#pragma once

#include <utility>

#include "../core/error.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"
#include "grid.hpp"

namespace kestrel {
namespace diffusion {

enum class prediction { noise, data, velocity, flow_velocity };

/// Coefficients (a, b) with x0 = a x + b m for a model output m of kind `from` at point p.
inline std::pair<double, double> data_coefficients(prediction from, const grid_point& p) {
    const double al = p.alpha, si = p.sigma;
    switch (from) {
        case prediction::noise: return {1.0 / al, -si / al};
        case prediction::data: return {0.0, 1.0};
        case prediction::velocity: {
            const double r = al * al + si * si;
            return {al / r, -si / r};
        }
        case prediction::flow_velocity: {
            const double r = al + si;
            return {1.0 / r, -si / r};
        }
    }
    return {0.0, 1.0};
}

/// Coefficients (a, b) with eps = a x + b m.
inline std::pair<double, double> noise_coefficients(prediction from, const grid_point& p) {
    const double al = p.alpha, si = p.sigma;
    switch (from) {
        case prediction::noise: return {0.0, 1.0};
        case prediction::data: return {1.0 / si, -al / si};
        case prediction::velocity: {
            const double r = al * al + si * si;
            return {si / r, al / r};
        }
        case prediction::flow_velocity: {
            const double r = al + si;
            return {1.0 / r, al / r};
        }
    }
    return {0.0, 1.0};
}

/// Whether a conversion from `from` to `to` is defined at p (e.g. noise -> data needs alpha > 0).
inline bool conversion_defined(prediction from, prediction to, const grid_point& p) noexcept {
    if (from == to) return true;
    if (to == prediction::data && from == prediction::noise) return p.alpha > 0;
    if (to == prediction::noise && from == prediction::data) return p.sigma > 0;
    if (to != prediction::data && to != prediction::noise) return false;
    return p.alpha + p.sigma > 0;
}

/// out = the prediction `to` (data or noise) from the model output m of kind `from`, at p.
/// out may alias m or x.
template <class T>
void convert_prediction(vector_view<T> out, vector_view<const T> x, vector_view<const T> m, prediction from,
                        prediction to, const grid_point& p, exec_policy policy = {}) {
    const char* fn = "convert_prediction";
    require_size(x.size(), out.size(), fn, "x", "out's size");
    require_size(m.size(), out.size(), fn, "model_output", "out's size");
    require(to == prediction::data || to == prediction::noise, fn, "to", "must be data or noise");
    require(conversion_defined(from, to, p), fn, "point", "conversion undefined at alpha=", p.alpha, ", sigma=", p.sigma);
    if (from == to) {
        if (out.data() != m.data()) simd::lincomb(out, {1.0}, {m}, policy);
        return;
    }
    const auto c = to == prediction::data ? data_coefficients(from, p) : noise_coefficients(from, p);
    simd::lincomb(out, {c.first, c.second}, {x, m}, policy);
}

}  // namespace diffusion
}  // namespace kestrel
