// Dynamic thresholding (Saharia et al. 2022, Imagen; used by DPM-Solver++ for guided pixel models),
// as diffusers' _threshold_sample: per sample, s = the `ratio` quantile of |x0| (linear
// interpolation between order statistics, torch.quantile's default), clamped to [1, max_value];
// then x0 = clamp(x0, -s, s) / s.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace diffusion {

namespace detail {
// The quantile of n >= 1 NaN-free values (unchecked).
template <class T>
double quantile_unchecked(T* values, std::size_t n, double q) {
    const double pos = q * double(n - 1);
    const std::size_t lo = std::min(n - 1, std::size_t(std::floor(pos)));
    const double frac = pos - double(lo);
    std::nth_element(values, values + lo, values + n);
    const double a = double(values[lo]);
    if (frac == 0.0 || lo + 1 >= n) return a;
    const double b = double(*std::min_element(values + lo + 1, values + n));
    return a + frac * (b - a);
}
}  // namespace detail

/// The q-quantile (q in [0, 1]) of values[0..n), n >= 1, with linear interpolation between
/// order statistics; reorders `values`. Throws (before reordering) on n = 0, a null pointer,
/// q outside [0, 1] or NaN, or a NaN value (NaN has no place in an order).
template <class T>
double quantile_inplace(T* values, std::size_t n, double q) {
    const char* fn = "quantile_inplace";
    require(n >= 1, fn, "n", "must be >= 1, got 0");
    require_not_null(values, n, fn, "values");
    require(q >= 0.0 && q <= 1.0, fn, "q", "must lie in [0, 1], got ", q);
    for (std::size_t i = 0; i < n; ++i)
        if (values[i] != values[i]) fail_argument(fn, "values", "entry ", i, " is NaN");
    return detail::quantile_unchecked(values, n, q);
}

/// Applies dynamic thresholding in place to x0 holding `batch` samples of equal size.
/// `scratch` must hold at least x0.size()/batch elements and must not overlap x0 (no
/// allocation inside). x0 must not contain NaN (checked before anything is written).
template <class T>
void dynamic_threshold_inplace(vector_view<T> x0, std::size_t batch, double ratio, double max_value,
                               vector_view<T> scratch) {
    const char* fn = "dynamic_threshold_inplace";
    require(batch >= 1 && x0.size() % batch == 0, fn, "batch", "must divide the size ", x0.size(), ", got ", batch);
    require(ratio >= 0 && ratio <= 1, fn, "ratio", "must lie in [0, 1], got ", ratio);
    require(max_value >= 1 && std::isfinite(max_value), fn, "max_value", "must be finite and >= 1, got ", max_value);
    const std::size_t d = x0.size() / batch;
    require(scratch.size() >= d, fn, "scratch", "needs at least ", d, " elements, has ", scratch.size());
    if (d == 0) return;
    require(!views_overlap(scratch.subview(0, d), vector_view<const T>(x0)), fn, "scratch", "overlaps x0");
    bool has_nan = false;  // one read pass, vectorisable: NaN is the only value that breaks the order
    for (std::size_t i = 0; i < x0.size(); ++i) has_nan |= (x0[i] != x0[i]);
    if (has_nan) {
        std::size_t i = 0;
        while (!(x0[i] != x0[i])) ++i;
        fail_argument(fn, "x0", "entry ", i, " is NaN");
    }
    for (std::size_t b = 0; b < batch; ++b) {
        T* p = x0.data() + b * d;
        for (std::size_t i = 0; i < d; ++i) scratch[i] = std::fabs(p[i]);
        double s = detail::quantile_unchecked(scratch.data(), d, ratio);
        s = std::min(std::max(s, 1.0), max_value);
        const T hi = static_cast<T>(s), inv = static_cast<T>(1.0 / s);
        for (std::size_t i = 0; i < d; ++i) p[i] = std::min(std::max(p[i], -hi), hi) * inv;
    }
}

/// Convenience overload that allocates its scratch (not for hot loops).
template <class T>
void dynamic_threshold_inplace(vector_view<T> x0, std::size_t batch = 1, double ratio = 0.995, double max_value = 1.0) {
    require(batch >= 1 && x0.size() % batch == 0, "dynamic_threshold_inplace", "batch", "must divide the size ",
            x0.size(), ", got ", batch);
    std::vector<T> scratch(x0.size() / batch);
    dynamic_threshold_inplace(x0, batch, ratio, max_value, vector_view<T>(scratch));
}

}  // namespace diffusion
}  // namespace kestrel
