// Classifier-free guidance (Ho & Salimans 2022): out = u + w (c - u), fused as (1 - w) u + w c in
// one pass; and guidance rescale (Lin et al. 2024, eq. 15-16; diffusers rescale_noise_cfg):
// per sample, out = phi * cfg * std(c)/std(cfg) + (1 - phi) * cfg, std with Bessel's correction.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/error.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace diffusion {

namespace detail {
template <class T>
void check_guidance(const char* fn, vector_view<T> out, vector_view<const T> uncond, vector_view<const T> cond,
                    double scale, exec_policy policy) {
    require_valid_policy(policy, fn);
    require(std::isfinite(scale), fn, "scale", "must be finite, got ", scale);
    require(finite_as<T>(1.0 - scale), fn, "scale", "1 - scale is not finite as float: ", scale);
    require(finite_as<T>(scale), fn, "scale", "is not finite as float: ", scale);
    require_size(uncond.size(), out.size(), fn, "uncond", "out's size");
    require_size(cond.size(), out.size(), fn, "cond", "out's size");
    require(!views_overlap_partially(uncond, vector_view<const T>(out)), fn, "uncond", "overlaps out without being out");
    require(!views_overlap_partially(cond, vector_view<const T>(out)), fn, "cond", "overlaps out without being out");
}
}  // namespace detail

/// out = uncond + scale (cond - uncond). out may be uncond or cond (the same elements), but must
/// not overlap them otherwise.
template <class T>
void classifier_free_guidance(vector_view<T> out, vector_view<const T> uncond, vector_view<const T> cond,
                              double scale, exec_policy policy = {}) {
    const char* fn = "classifier_free_guidance";
    detail::check_guidance(fn, out, uncond, cond, scale, policy);
    static constexpr const char* names[2] = {"uncond", "cond"};
    const double c[2] = {1.0 - scale, scale};
    const vector_view<const T> in[2] = {uncond, cond};
    simd::detail::lincomb_named<T>(fn, out, c, in, 2, names, policy);
}

namespace detail {
// Sample standard deviation (Bessel) of a u + b c over n >= 2 elements, in double, serial.
template <class T>
double combination_std(const T* u, const T* c, double a, double b, std::size_t n) {
    double mean = 0.0;
    for (std::size_t i = 0; i < n; ++i) mean += a * double(u[i]) + b * double(c[i]);
    mean /= double(n);
    double ss = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double d = a * double(u[i]) + b * double(c[i]) - mean;
        ss += d * d;
    }
    return std::sqrt(ss / double(n - 1));
}
}  // namespace detail

/// Guided prediction with guidance rescale `rescale` in [0, 1] over `batch` equal samples:
/// per sample, out = f ((1 - w) uncond + w cond) with f = rescale std(cond)/std(cfg) + 1 - rescale,
/// computed from the inputs first (every factor is checked before anything is written) and
/// applied in one pass. out may be uncond or cond (the same elements), but must not overlap
/// them otherwise. Deterministic at any thread count.
template <class T>
void classifier_free_guidance(vector_view<T> out, vector_view<const T> uncond, vector_view<const T> cond,
                              double scale, double rescale, std::size_t batch, exec_policy policy = {}) {
    const char* fn = "classifier_free_guidance";
    require(rescale >= 0 && rescale <= 1, fn, "rescale", "must lie in [0, 1], got ", rescale);
    require(batch >= 1 && out.size() % batch == 0, fn, "batch", "must divide the size ", out.size(), ", got ", batch);
    require(out.size() / batch >= 2 || rescale == 0 || out.size() == 0, fn, "batch",
            "rescale needs at least 2 elements per sample");
    detail::check_guidance(fn, out, uncond, cond, scale, policy);
    static constexpr const char* names[2] = {"uncond", "cond"};
    const vector_view<const T> in[2] = {uncond, cond};
    if (rescale == 0.0) {
        const double c[2] = {1.0 - scale, scale};
        simd::detail::lincomb_named<T>(fn, out, c, in, 2, names, policy);
        return;
    }
    const std::size_t d = out.size() / batch;
    // Pass 1 (reads only): every sample's factor, checked in T.
    std::vector<double> factor(batch);  // small: one per sample
    for (std::size_t b = 0; b < batch; ++b) {
        const T* u = uncond.data() + b * d;
        const T* c = cond.data() + b * d;
        const double sc = detail::combination_std(u, c, 0.0, 1.0, d);
        const double sg = detail::combination_std(u, c, 1.0 - scale, scale, d);
        const double f = sg > 0 ? rescale * sc / sg + (1.0 - rescale) : 1.0;  // a constant guided sample stays
        if (!(std::isfinite(f) && finite_as<T>(f * (1.0 - scale)) && finite_as<T>(f * scale)))
            fail_argument(fn, "rescale", "sample ", b, ": the rescale factor ", f, " (std(cond) ", sc, ", std(cfg) ", sg,
                          ") makes a coefficient non-finite", sizeof(T) < sizeof(double) ? " as float" : "");
        factor[b] = f;
    }
    // Pass 2: out = f (1 - w) uncond + f w cond per sample.
    for (std::size_t b = 0; b < batch; ++b) {
        const double c[2] = {factor[b] * (1.0 - scale), factor[b] * scale};
        const vector_view<const T> ib[2] = {in[0].subview(b * d, d), in[1].subview(b * d, d)};
        simd::detail::lincomb_named<T>(fn, out.subview(b * d, d), c, ib, 2, names, policy);
    }
}

}  // namespace diffusion
}  // namespace kestrel
