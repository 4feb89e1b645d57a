// Plain and damped (Krasnoselskii-Mann) fixed-point iteration
//     x_{k+1} = (1 - a) x_k + a G(x_k),   a in (0, 1]   (a = 1: plain iteration x_{k+1} = G(x_k)).
// For a nonexpansive G with a fixed point and a < 1 the iterates converge (the averaged map
// (1 - a) I + a G is what Krasnoselskii and Mann iterate), where plain iteration may cycle
// (a rotation). Map convention, stopping rule and errors: fixed_point_options.hpp.
//
// Per iterate beyond G: one pass for ||G(x_k) - x_k|| (reads 2 vectors) and one fused update
// (reads 2, writes 1): 5 vector passes. Scratch: one n-vector, allocated per call.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "detail/accelerated_passes.hpp"
#include "fixed_point_options.hpp"

namespace kestrel {
namespace fixed_point {

struct krasnoselskii_mann_options : fixed_point_options {
    double relaxation = 1.0;  ///< a in (0, 1]
};

/// Iterates from x (x0 on entry, the last iterate on return). See the header comment.
template <class T, class Map>
fixed_point_result krasnoselskii_mann(Map&& G, vector_view<T> x, const krasnoselskii_mann_options& options = {}) {
    static constexpr const char* fn = "krasnoselskii_mann";
    detail::check_common_options(fn, options);
    require(std::isfinite(options.relaxation) && options.relaxation > 0.0 && options.relaxation <= 1.0, fn,
            "options.relaxation", "must be in (0, 1], got ", options.relaxation);
    detail::check_start(fn, x);
    const std::size_t n = x.size();
    std::vector<T> g(n);
    fixed_point_result r;
    const exec_policy pol = options.policy;
    const double a = options.relaxation;
    for (std::size_t k = 0;; ++k) {
        detail::evaluate_map<T>(G, x.data(), g.data(), n);
        ++r.evaluations;
        const double fn2 = std::sqrt(detail::residual_squared_norm(g.data(), x.data(), n, pol));
        if (!std::isfinite(fn2)) detail::fail_non_finite_map(fn, k);
        if (k == 0) {
            detail::start_result(r, options, fn2);
        } else {
            r.residual_norm = fn2;
            if (options.record_history) r.history.push_back(iteration_record{k, fn2, 0, false, false});
        }
        if (fn2 <= r.tolerance) {
            r.converged = true;
            break;
        }
        if (k == options.max_iterations) break;
        detail::combine_pass<T>(x.data(), 1.0 - a, x.data(), a, g.data(), nullptr, nullptr, 0, nullptr, n, pol);
        ++r.iterations;
    }
    return r;
}

}  // namespace fixed_point
}  // namespace kestrel
