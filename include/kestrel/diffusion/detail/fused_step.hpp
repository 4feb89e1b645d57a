// Shared plumbing of the solver steps: size checks at the boundary, then one lincomb pass.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <initializer_list>

#include "../../core/error.hpp"
#include "../../core/simd.hpp"
#include "../../core/view.hpp"
#include "../grid.hpp"

namespace kestrel {
namespace diffusion {
namespace detail {

/// Fails unless every coefficient is finite in double and after rounding to T (the value the
/// kernel uses), naming `fn` and the input the coefficient multiplies.
template <class T, std::size_t K>
void require_finite_coefficients(const char* fn, const std::array<double, K>& c, const std::array<const char*, K>& names) {
    for (std::size_t k = 0; k < K; ++k)
        if (!finite_as<T>(c[k]))
            fail_argument(fn, names[k], "its coefficient is not finite", sizeof(T) < sizeof(double) ? " as float" : "",
                          " (", c[k], "); check the grid points (alpha, sigma > 0 where the formula divides by them)");
}

/// Checks that every input has the output's size, overlaps the output only by being it, and
/// every coefficient is finite as T, then writes out = sum_k c[k] in[k] in one pass. Errors
/// name `fn` (the public step) and the inputs by `names`.
template <class T, std::size_t K>
void fused_step(const char* fn, vector_view<T> out, const std::array<double, K>& c,
                const std::array<vector_view<const T>, K>& in, const std::array<const char*, K>& names,
                exec_policy policy) {
    for (std::size_t k = 0; k < K; ++k) require_size(in[k].size(), out.size(), fn, names[k], "the output's size");
    require_finite_coefficients<T>(fn, c, names);
    simd::detail::lincomb_named<T>(fn, out, c.data(), in.data(), K, names.data(), policy);
}

inline void require_point(const grid_point& p, const char* fn, const char* name) {
    require(std::isfinite(p.alpha) && std::isfinite(p.sigma) && p.alpha >= 0 && p.sigma >= 0 && !std::isnan(p.lambda), fn,
            name, "invalid point (alpha=", p.alpha, ", sigma=", p.sigma, ", lambda=", p.lambda, ")");
}

/// s must come before t: lambda_t > lambda_s.
inline void require_forward(const grid_point& s, const grid_point& t, const char* fn) {
    require_point(s, fn, "s");
    require_point(t, fn, "t");
    require(t.lambda > s.lambda, fn, "t", "lambda_t (", t.lambda, ") must exceed lambda_s (", s.lambda, ")");
}

inline void require_history(const grid_point& older, const grid_point& newer, const char* fn, const char* name) {
    require_point(older, fn, name);
    require(older.lambda < newer.lambda, fn, name, "history points must have strictly increasing lambda (",
            older.lambda, " then ", newer.lambda, ")");
}

}  // namespace detail
}  // namespace diffusion
}  // namespace kestrel
