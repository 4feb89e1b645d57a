// Halpern (anchored) iteration and its restarted variant, with the infimal-displacement
// estimate of Park & Ryu, "Accelerated Infeasibility Detection of Constrained Optimization and
// Fixed-Point Iterations" (ICML 2023):
//     x_{j+1} = lambda_j a + (1 - lambda_j) G(x_j),   lambda_j = 1/(j + 2),   a = anchor (x_0).
// For a nonexpansive G with a fixed point x*, ||x_j - G(x_j)|| <= 2 ||x_0 - x*|| / (j + 1)
// (the O(1/k) rate; plain iteration can stall: a rotation circles forever).
//
// Restart (options.restart): the anchor moves to the current iterate and j starts again at 0
//   - restart_rule::residual: when ||G(x_k) - x_k|| <= restart_factor * (the residual at the
//     anchor), the rule of restarted Halpern schemes (a fixed fraction of the anchor's residual);
//   - restart_rule::period: every restart_period iterates.
//
// Infeasibility. When G has no fixed point, x_k - G(x_k) does not vanish; for nonexpansive G it
// tends to the infimal displacement vector v (the minimum-norm element of the closure of the
// range of I - G). halpern() writes the normalized-iterate estimate
//     v_j = (2 / j) (a - x_j)           (j = iterates since the anchor; j = 0: x_j - G(x_j))
// into `displacement` when that view is not empty, and reports its norm. The factor 2 makes it
// exact on a translation G(x) = x - v: then x_j - a = -j v / 2 (induction on j from the update
// above: (j + 1)(x_j - a) telescopes to -v (1 + ... + j)). result.residual_norm is the other
// estimate, ||x_j - G(x_j)||. With a restart rule the estimate uses the current anchor.
//
// Per iterate beyond G: 5 vector passes (residual: reads 2; update: reads 2, writes 1), plus a
// copy at each restart. Scratch: two n-vectors per call.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "detail/accelerated_passes.hpp"
#include "fixed_point_options.hpp"

namespace kestrel {
namespace fixed_point {

enum class restart_rule { none, residual, period };

struct halpern_options : fixed_point_options {
    restart_rule restart = restart_rule::none;
    double restart_factor = 0.2;     ///< residual rule: restart when the residual falls below this fraction, in (0, 1)
    std::size_t restart_period = 0;  ///< period rule: iterates between restarts (>= 1)
};

struct halpern_result : fixed_point_result {
    std::size_t anchor_iterations = 0;  ///< j: iterates since the last anchor
    double displacement_norm = 0.0;     ///< ||v_j||, the normalized-iterate estimate of the infimal displacement
};

/// Runs Halpern iteration from x (x0 on entry, the last iterate on return); writes the
/// displacement estimate v_j into `displacement` if it is not empty (size must be x's).
template <class T, class Map>
halpern_result halpern(Map&& G, vector_view<T> x, const halpern_options& options = {},
                       vector_view<T> displacement = {}) {
    static constexpr const char* fn = "halpern";
    detail::check_common_options(fn, options);
    if (options.restart == restart_rule::residual)
        require(std::isfinite(options.restart_factor) && options.restart_factor > 0.0 && options.restart_factor < 1.0,
                fn, "options.restart_factor", "must be in (0, 1), got ", options.restart_factor);
    if (options.restart == restart_rule::period)
        require(options.restart_period >= 1, fn, "options.restart_period", "must be >= 1 with restart_rule::period");
    detail::check_start(fn, x);
    const std::size_t n = x.size();
    require(displacement.empty() || displacement.size() == n, fn, "displacement", "has size ", displacement.size(),
            ", expected 0 or ", n);
    require(displacement.empty() || !views_overlap(vector_view<const T>(displacement), vector_view<const T>(x)), fn,
            "displacement", "overlaps x");

    std::vector<T> anchor(x.begin(), x.end()), g(n);
    halpern_result r;
    const exec_policy pol = options.policy;
    std::size_t j = 0;
    double anchor_residual = 0.0;
    for (std::size_t k = 0;; ++k) {
        detail::evaluate_map<T>(G, x.data(), g.data(), n);
        ++r.evaluations;
        const double res = std::sqrt(detail::residual_squared_norm(g.data(), x.data(), n, pol));
        if (!std::isfinite(res)) detail::fail_non_finite_map(fn, k);
        bool restarted = false;
        if (k == 0) {
            detail::start_result(r, options, res);
            anchor_residual = res;
        } else {
            r.residual_norm = res;
        }
        if (res <= r.tolerance) {
            r.converged = true;
        } else if (k < options.max_iterations && k > 0) {
            const bool move = (options.restart == restart_rule::residual && res <= options.restart_factor * anchor_residual) ||
                              (options.restart == restart_rule::period && j >= options.restart_period);
            if (move) {
                std::copy(x.begin(), x.end(), anchor.begin());
                j = 0;
                anchor_residual = res;
                ++r.restarts;
                restarted = true;
            }
        }
        if (k > 0 && options.record_history) r.history.push_back(iteration_record{k, res, 0, restarted, false});
        if (r.converged || k == options.max_iterations) break;
        const double lambda = 1.0 / (static_cast<double>(j) + 2.0);
        detail::combine_pass<T>(x.data(), lambda, anchor.data(), 1.0 - lambda, g.data(), nullptr, nullptr, 0, nullptr, n,
                                pol);
        ++j;
        ++r.iterations;
    }
    r.anchor_iterations = j;
    // The displacement estimate (g holds G(x) for the returned x).
    double v2 = 0.0;
    const double c = j > 0 ? 2.0 / static_cast<double>(j) : 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = j > 0 ? c * (static_cast<double>(anchor[i]) - static_cast<double>(x[i]))
                               : static_cast<double>(x[i]) - static_cast<double>(g[i]);
        v2 += v * v;
        if (!displacement.empty()) displacement[i] = static_cast<T>(v);
    }
    r.displacement_norm = std::sqrt(v2);
    return r;
}

}  // namespace fixed_point
}  // namespace kestrel
