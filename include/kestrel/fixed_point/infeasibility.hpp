// Infeasibility detection for x = G(x) with a nonexpansive G that may have no fixed point
// (Park & Ryu, "Accelerated Infeasibility Detection of Constrained Optimization and Fixed-Point
// Iterations", ICML 2023): run Halpern iteration for a fixed number of steps and report the
// normalized-iterate estimate v_k = (2/k)(x_0 - x_k) of the infimal displacement vector v, the
// minimum-norm element of the closure of range(I - G) (see halpern.hpp for why the factor is 2).
// v = 0 iff G has (approximate) fixed points; ||v|| > 0 certifies that none exists.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "halpern.hpp"

namespace kestrel {
namespace fixed_point {

struct displacement_estimate {
    std::size_t iterations = 0;     ///< Halpern steps taken
    double norm = 0.0;              ///< ||v_k||, the normalized-iterate estimate
    double residual_norm = 0.0;     ///< ||x_k - G(x_k)||, the residual estimate of ||v||
};

/// Writes v_k after `iterations` Halpern steps from x0 into v (x0's size); x0 is not modified.
template <class T, class Map>
displacement_estimate infimal_displacement(Map&& G, const_vector_view<T> x0, vector_view<T> v, std::size_t iterations,
                                           exec_policy policy = {}) {
    static constexpr const char* fn = "infimal_displacement";
    require(iterations >= 1, fn, "iterations", "must be >= 1");
    require(v.size() == x0.size(), fn, "v", "has size ", v.size(), ", expected ", x0.size());
    require(!views_overlap(vector_view<const T>(v), x0), fn, "v", "overlaps x0");
    std::vector<T> x(x0.begin(), x0.end());
    halpern_options o;
    o.atol = 0.0;
    o.rtol = 0.0;  // run every step: a fixed point stops the run only at residual exactly 0
    o.max_iterations = iterations;
    o.policy = policy;
    const halpern_result r = halpern(std::forward<Map>(G), vector_view<T>(x), o, v);
    return displacement_estimate{r.iterations, r.displacement_norm, r.residual_norm};
}

}  // namespace fixed_point
}  // namespace kestrel
