// Options, results and the map convention shared by the accelerated fixed-point solvers for
// x = G(x) on vectors (krasnoselskii_mann.hpp, halpern.hpp, anderson.hpp, infeasibility.hpp).
//
// The map. G is a user callable evaluated as either
//     G(kestrel::const_vector_view<T> x, kestrel::vector_view<T> gx)   (preferred when it compiles)
//     G(const T* x, T* gx)                                              (n is the caller's size)
// It must write all n entries of gx = G(x) and must not keep the pointers. It is called on the
// calling thread (it may itself use parallel loops); whatever it throws reaches the caller
// unchanged, and the solver's x then holds the last accepted iterate.
//
// Stopping. The residual is f(x) = G(x) - x, measured in the Euclidean 2-norm (in double,
// with the blocked, thread-count independent summation of core/simd.hpp). A run stops with
// converged = true at the first iterate x_k with
//     ||G(x_k) - x_k||_2 <= atol + rtol * ||G(x_0) - x_0||_2,
// and otherwise after max_iterations new iterates with converged = false: a run that hit its
// limit is never reported as converged (even if the limit and the tolerance are reached at
// the same iterate, the tolerance is tested first, so converged means the test passed).
// On return x holds the last iterate x_k; residual_norm is ||G(x_k) - x_k|| for that x_k.
//
// A non-finite value from G (NaN or infinity anywhere in G(x)) is reported with
// kestrel::invalid_argument naming argument 'G'; x then holds the point at which G returned
// it (x_0 if it was the first evaluation), for inspection.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace fixed_point {

/// Stopping rule, statistics and threads: the fields every solver shares.
struct fixed_point_options {
    double atol = 0.0;                   ///< absolute residual tolerance (>= 0)
    double rtol = 1e-8;                  ///< relative to ||G(x0) - x0|| (>= 0)
    std::size_t max_iterations = 1000;   ///< new iterates at most (0: only x0 is tested)
    bool record_history = false;         ///< fill fixed_point_result::history, one record per iterate
    exec_policy policy{};                ///< threads for the vector passes (not for G)
};

/// One iterate's statistics (record 0 is x0).
struct iteration_record {
    std::size_t iteration = 0;   ///< k
    double residual_norm = 0.0;  ///< ||G(x_k) - x_k||_2
    std::size_t memory = 0;      ///< Anderson: history columns used to make x_k (0 for a plain step)
    bool restart = false;        ///< Anderson: history cleared at this iterate; Halpern: anchor moved here
    bool safeguard = false;      ///< Anderson: accelerated step rejected, plain step taken instead
};

/// What a solver reports.
struct fixed_point_result {
    bool converged = false;             ///< the residual test passed (never true when the limit was hit first)
    std::size_t iterations = 0;         ///< new iterates made (accepted steps)
    std::size_t evaluations = 0;        ///< calls of G (rejected Anderson steps included)
    double residual_norm = 0.0;         ///< ||G(x) - x||_2 at the returned x
    double initial_residual_norm = 0.0; ///< ||G(x0) - x0||_2
    double tolerance = 0.0;             ///< atol + rtol * initial_residual_norm
    std::size_t restarts = 0;           ///< Anderson: history clears (periodic or conditioning); Halpern: anchor moves
    std::size_t safeguard_events = 0;   ///< Anderson: rejected accelerated steps
    std::vector<iteration_record> history;  ///< when record_history
};

namespace detail {

template <class G, class T, class = void>
struct map_takes_views : std::false_type {};
template <class G, class T>
struct map_takes_views<G, T,
                       std::void_t<decltype(std::declval<G&>()(std::declval<const_vector_view<T>>(),
                                                               std::declval<vector_view<T>>()))>>
    : std::true_type {};

/// gx = G(x) through whichever signature G has.
template <class T, class Map>
void evaluate_map(Map& g, const T* x, T* gx, std::size_t n) {
    if constexpr (map_takes_views<Map, T>::value) {
        g(const_vector_view<T>(x, n), vector_view<T>(gx, n));
    } else {
        static_assert(std::is_invocable_v<Map&, const T*, T*>,
                      "kestrel::fixed_point: G must be callable as G(const_vector_view<T>, vector_view<T>) "
                      "or G(const T*, T*)");
        g(x, gx);
    }
}

inline void check_common_options(const char* function, const fixed_point_options& o) {
    require(std::isfinite(o.atol) && o.atol >= 0.0, function, "options.atol", "must be finite and >= 0, got ", o.atol);
    require(std::isfinite(o.rtol) && o.rtol >= 0.0, function, "options.rtol", "must be finite and >= 0, got ", o.rtol);
    require_valid_policy(o.policy, function);
}

template <class T>
void check_start(const char* function, vector_view<T> x) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fixed_point solvers work on float and double");
    require(!x.empty(), function, "x", "is empty");
    for (std::size_t i = 0; i < x.size(); ++i)
        require(std::isfinite(x[i]), function, "x", "x0[", i, "] = ", x[i], " is not finite");
}

[[noreturn]] inline void fail_non_finite_map(const char* function, std::size_t iteration) {
    fail_argument(function, "G", "returned a non-finite value at iterate ", iteration,
                  " (x holds the point it was evaluated at)");
}

inline void start_result(fixed_point_result& r, const fixed_point_options& o, double f0) {
    r.initial_residual_norm = f0;
    r.residual_norm = f0;
    r.tolerance = o.atol + o.rtol * f0;
    if (o.record_history) {
        r.history.reserve(std::min<std::size_t>(o.max_iterations, 100000) + 1);
        r.history.push_back(iteration_record{0, f0, 0, false, false});
    }
}

}  // namespace detail
}  // namespace fixed_point
}  // namespace kestrel
