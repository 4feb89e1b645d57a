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

namespace detail {
inline bool valid_prediction(prediction k) noexcept {
    return k == prediction::noise || k == prediction::data || k == prediction::velocity || k == prediction::flow_velocity;
}

/// The checks of convert_prediction, naming `fn`; returns the coefficients (a, b) of
/// out = a x + b m (for from == to: (0, 1)).
template <class T>
std::pair<double, double> checked_conversion(const char* fn, vector_view<T> out, vector_view<const T> x,
                                             vector_view<const T> m, prediction from, prediction to,
                                             const grid_point& p) {
    require_size(x.size(), out.size(), fn, "x", "out's size");
    require_size(m.size(), out.size(), fn, "model_output", "out's size");
    require(valid_prediction(from), fn, "from", "is not a prediction kind (", static_cast<int>(from), ")");
    require(to == prediction::data || to == prediction::noise, fn, "to", "must be data or noise");
    require(conversion_defined(from, to, p), fn, "point", "conversion undefined at alpha=", p.alpha, ", sigma=", p.sigma);
    require(!views_overlap_partially(x, vector_view<const T>(out)), fn, "x", "overlaps out without being out");
    require(!views_overlap_partially(m, vector_view<const T>(out)), fn, "model_output",
            "overlaps out without being out");
    const auto c = from == to ? std::pair<double, double>{0.0, 1.0}
                              : (to == prediction::data ? data_coefficients(from, p) : noise_coefficients(from, p));
    require(finite_as<T>(c.first), fn, "point", "coefficient of x is not finite (", c.first, ") at alpha=", p.alpha,
            ", sigma=", p.sigma);
    require(finite_as<T>(c.second), fn, "point", "coefficient of model_output is not finite (", c.second,
            ") at alpha=", p.alpha, ", sigma=", p.sigma);
    return c;
}

/// convert_prediction named `fn`; with check_finite, returns whether every output element is
/// finite (found in the conversion pass itself; true without the check).
template <class T>
bool convert_prediction(const char* fn, vector_view<T> out, vector_view<const T> x, vector_view<const T> m,
                        prediction from, prediction to, const grid_point& p, exec_policy policy, bool check_finite) {
    require_valid_policy(policy, fn);
    const auto c = checked_conversion<T>(fn, out, x, m, from, to, p);
    static constexpr const char* names[2] = {"x", "model_output"};
    const vector_view<const T> in[2] = {x, m};
    const double coeffs[2] = {c.first, c.second};
    if (from == to) {  // a copy, or nothing when out is m
        if (out.data() == m.data() && !check_finite) return true;
        if (out.data() == m.data()) {  // in place: the check alone (a read pass)
            bool ok = true;
            for (std::size_t i = 0; i < m.size(); ++i) ok &= (m[i] - m[i] == T(0));
            return ok;
        }
        if (check_finite) return simd::detail::lincomb_named_finite<T>(fn, out, coeffs + 1, in + 1, 1, names + 1, policy);
        simd::detail::lincomb_named<T>(fn, out, coeffs + 1, in + 1, 1, names + 1, policy);
        return true;
    }
    if (check_finite) return simd::detail::lincomb_named_finite<T>(fn, out, coeffs, in, 2, names, policy);
    simd::detail::lincomb_named<T>(fn, out, coeffs, in, 2, names, policy);
    return true;
}
}  // namespace detail

/// out = the prediction `to` (data or noise) from the model output m of kind `from`, at p.
/// out may be x or m (the same elements), but must not overlap them otherwise.
template <class T>
void convert_prediction(vector_view<T> out, vector_view<const T> x, vector_view<const T> m, prediction from,
                        prediction to, const grid_point& p, exec_policy policy = {}) {
    detail::convert_prediction<T>("convert_prediction", out, x, m, from, to, p, policy, false);
}

}  // namespace diffusion
}  // namespace kestrel
