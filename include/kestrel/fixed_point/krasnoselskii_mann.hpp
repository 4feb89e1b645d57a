// Plain and damped (Krasnoselskii-Mann) fixed-point iteration
//     x_{k+1} = (1 - a) x_k + a G(x_k),   a in (0, 1]   (a = 1: plain iteration x_{k+1} = G(x_k)).
// For a nonexpansive G with a fixed point and a < 1 the iterates converge (the averaged map
// (1 - a) I + a G is what Krasnoselskii and Mann iterate), where plain iteration may cycle
// (a rotation). Map convention, stopping rule and errors: fixed_point_options.hpp.
//
// Per iterate beyond G, in passes over an n-vector: a = 1, two (||G(x_k) - x_k|| reads G(x_k)
// and x_k; G's output buffer then IS x_{k+1}: the two buffers swap roles, nothing is copied);
// a < 1, three (the same pass also writes x_{k+1} = (1 - a) x_k + a G(x_k) over G(x_k) in place,
// so the store hits lines the pass has just read: no write-allocate). When the last iterate
// ends up in the scratch buffer it is copied to x once, on return. The version before this one
// made 5 passes: the norm, then an update that read x_k and G(x_k) again and wrote x_{k+1}
// (shifted 2-D Poisson, n = 10^6, 10th-percentile wall time per iterate on 1 thread: 0.98 ms
// before, 0.65 ms after, at load 5). With a G that runs on the calling thread, keep the passes
// on that thread too (policy threads = 1): on 2 threads the norm's reads on the other core pull
// G's output into that core's cache, and the next G then overwrites lines the other core holds;
// measured on this 2-vCPU VM, G went from 0.31 to 0.51 ms per call and the iterate from 0.65 to
// 0.82 ms. A G that itself runs on the pool's threads spreads the vectors over both caches anyway.
// Fused G (G a block_map, block_map.hpp): G is evaluated sub-block by sub-block inside the norm
// pass on the policy's threads, and the pass stores G(x_k) (a = 1) or x_{k+1} (a < 1) from L1
// into the scratch buffer: per unknown per iterate, G and the iteration together read x_k once
// and write one vector (two passes, G's own traffic included, against four with a vector G),
// the same iterates bit for bit as the vector form at any thread count. Shifted 2-D Poisson,
// n = 10^6, 2 threads: see the README (fixed_point/solve_wall_fused m:plain).
// Scratch: one n-vector, allocated per call.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "block_map.hpp"
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
    std::vector<T> scratch(n);
    fixed_point_result r;
    const exec_policy pol = options.policy;
    const double a = options.relaxation;
    const bool damped = a != 1.0;
    T* X = x.data();          // x_k
    T* GX = scratch.data();   // receives G(x_k), then holds x_{k+1}
    // On every exit x must hold x_k (the last accepted iterate, or the point where G failed).
    auto settle = [&] {
        if (X != x.data()) std::copy(X, X + n, x.data());
    };
    constexpr bool fused = detail::is_block_map<std::decay_t<Map>>::value;
    for (std::size_t k = 0;; ++k) {
        // ||G(x_k) - x_k||^2, and with a < 1 also x_{k+1} = (1 - a) x_k + a G(x_k) written
        // over G(x_k) (elementwise: each element is read before it is written). Fused: G(x_k)
        // is made inside the pass and stored to GX (a = 1), or only x_{k+1} is (a < 1).
        detail::residual_pass_args<T> pa;
        pa.gn = GX;
        pa.xn = X;
        if (damped) {
            pa.w_out = GX;
            pa.beta = static_cast<T>(a);
            pa.one_minus_beta = static_cast<T>(1.0 - a);
        } else if (fused) {
            pa.g_out = GX;
        }
        double partials[3 * kestrel::simd::reduction_blocks::max_blocks];
        detail::residual_pass_sums sums;
#if KESTREL_HAS_EXCEPTIONS
        try {
#endif
            if constexpr (fused)
                sums = detail::residual_pass(pa, n, partials, nullptr, nullptr, pol, &G.block);
            else
                detail::evaluate_map<T>(G, X, GX, n);
#if KESTREL_HAS_EXCEPTIONS
        } catch (...) {
            settle();  // G may have written part of x's buffer when GX is x; X is intact
            throw;
        }
#endif
        ++r.evaluations;
        if constexpr (!fused) sums = detail::residual_pass(pa, n, partials, nullptr, nullptr, pol);
        const double fn2 = std::sqrt(sums.ff);
        if (!std::isfinite(fn2)) {
            settle();
            detail::fail_non_finite_map(fn, k);
        }
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
        std::swap(X, GX);  // x_{k+1} is G's output buffer (a = 1) or the update written over it
        ++r.iterations;
    }
    settle();
    return r;
}

}  // namespace fixed_point
}  // namespace kestrel
