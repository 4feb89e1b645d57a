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

/// The q-quantile (q in [0, 1]) of values, with linear interpolation; reorders `values`.
template <class T>
double quantile_inplace(T* values, std::size_t n, double q) {
    const double pos = q * double(n - 1);
    const std::size_t lo = std::size_t(std::floor(pos));
    const double frac = pos - double(lo);
    std::nth_element(values, values + lo, values + n);
    const double a = double(values[lo]);
    if (frac == 0.0 || lo + 1 >= n) return a;
    const double b = double(*std::min_element(values + lo + 1, values + n));
    return a + frac * (b - a);
}

/// Applies dynamic thresholding in place to x0 holding `batch` samples of equal size.
/// `scratch` must hold at least x0.size()/batch elements (no allocation inside).
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
    for (std::size_t b = 0; b < batch; ++b) {
        T* p = x0.data() + b * d;
        for (std::size_t i = 0; i < d; ++i) scratch[i] = std::fabs(p[i]);
        double s = quantile_inplace(scratch.data(), d, ratio);
        s = std::min(std::max(s, 1.0), max_value);
        const T hi = static_cast<T>(s), inv = static_cast<T>(1.0 / s);
        for (std::size_t i = 0; i < d; ++i) p[i] = std::min(std::max(p[i], -hi), hi) * inv;
    }
}

/// Convenience overload that allocates its scratch (not for hot loops).
template <class T>
void dynamic_threshold_inplace(vector_view<T> x0, std::size_t batch = 1, double ratio = 0.995, double max_value = 1.0) {
    require(batch >= 1, "dynamic_threshold_inplace", "batch", "must be >= 1");
    std::vector<T> scratch(x0.size() / batch);
    dynamic_threshold_inplace(x0, batch, ratio, max_value, vector_view<T>(scratch));
}

}  // namespace diffusion
}  // namespace kestrel
