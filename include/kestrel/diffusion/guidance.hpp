// Classifier-free guidance (Ho & Salimans 2022): out = u + w (c - u), fused as (1 - w) u + w c in
// one pass; and guidance rescale (Lin et al. 2024, eq. 15-16; diffusers rescale_noise_cfg):
// per sample, out = phi * cfg * std(c)/std(cfg) + (1 - phi) * cfg, std with Bessel's correction.
#pragma once

#include <cmath>
#include <cstddef>

#include "../core/error.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace diffusion {

/// out = uncond + scale (cond - uncond). out may alias either input.
template <class T>
void classifier_free_guidance(vector_view<T> out, vector_view<const T> uncond, vector_view<const T> cond,
                              double scale, exec_policy policy = {}) {
    const char* fn = "classifier_free_guidance";
    require(std::isfinite(scale), fn, "scale", "must be finite, got ", scale);
    require_size(uncond.size(), out.size(), fn, "uncond", "out's size");
    require_size(cond.size(), out.size(), fn, "cond", "out's size");
    simd::lincomb(out, {1.0 - scale, scale}, {uncond, cond}, policy);
}

namespace detail {
template <class T>
double sample_std(const T* p, std::size_t n) {
    const double mean = simd::sum(vector_view<const T>(p, n)) / double(n);
    double ss = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double d = double(p[i]) - mean;
        ss += d * d;
    }
    return std::sqrt(ss / double(n - 1));
}
}  // namespace detail

/// Guided prediction with guidance rescale `rescale` in [0, 1] over `batch` equal samples.
/// out must not alias cond (cond's std is needed after out is written). Deterministic at any thread count.
template <class T>
void classifier_free_guidance(vector_view<T> out, vector_view<const T> uncond, vector_view<const T> cond,
                              double scale, double rescale, std::size_t batch, exec_policy policy = {}) {
    const char* fn = "classifier_free_guidance";
    require(rescale >= 0 && rescale <= 1, fn, "rescale", "must lie in [0, 1], got ", rescale);
    require(batch >= 1 && out.size() % batch == 0, fn, "batch", "must divide the size ", out.size(), ", got ", batch);
    require(out.size() / batch >= 2 || rescale == 0, fn, "batch", "rescale needs at least 2 elements per sample");
    require(out.data() != cond.data() || out.size() == 0, fn, "out", "must not alias cond");
    classifier_free_guidance(out, uncond, cond, scale, policy);
    if (rescale == 0.0) return;
    const std::size_t d = out.size() / batch;
    for (std::size_t b = 0; b < batch; ++b) {
        T* o = out.data() + b * d;
        const double sc = detail::sample_std(cond.data() + b * d, d), sg = detail::sample_std<T>(o, d);
        if (!(sg > 0)) continue;  // a constant guided prediction stays as it is
        const double f = rescale * sc / sg + (1.0 - rescale);
        vector_view<T> ov(o, d);
        simd::lincomb(ov, {f}, {vector_view<const T>(o, d)}, policy);
    }
}

}  // namespace diffusion
}  // namespace kestrel
