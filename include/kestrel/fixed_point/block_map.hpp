// A fixed-point map given block by block (block_map, blockwise): the form anderson() and
// krasnoselskii_mann() evaluate inside their vector passes, on the policy's threads.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "../core/view.hpp"

namespace kestrel {
namespace fixed_point {

/// A map G given block by block, for the fused forms of anderson() and krasnoselskii_mann():
/// block(x, begin, end, out)
/// must write G(x)_i to out[i - begin] for every i in [begin, end) (out holds end - begin
/// elements), reading x (all n entries of the point, read-only) as it needs. anderson() calls it
/// on sub-blocks of a few hundred elements from inside its residual pass, so G's output goes
/// from a buffer in L1 straight into the pass (never written to and read back from a whole
/// n-vector), on the policy's threads: CONCURRENTLY on disjoint ranges when options.policy has
/// more than one thread, so block must be safe to call that way (it must not write shared
/// state; an exception it throws reaches anderson's caller as with the vector form). Each
/// G(x)_i must depend on x only (not on the range it was asked in): then the result is the
/// same at any thread count and equals anderson() with the vector map G. The ranges are
/// fixed by n (the same at any thread count).
/// krasnoselskii_mann() calls it the same way (G inside its norm pass). Anywhere else (the other
/// solvers, or called as G(x, gx)) a block_map is the vector map
/// that evaluates the whole range [0, n) in one call.
template <class F>
struct block_map {
    F block;
    template <class T>
    void operator()(const_vector_view<T> x, vector_view<T> gx) const {
        block(x.data(), std::size_t(0), x.size(), gx.data());
    }
};

/// Wraps f(const T* x, std::size_t begin, std::size_t end, T* out) as a block_map.
template <class F>
block_map<std::decay_t<F>> blockwise(F&& f) {
    return block_map<std::decay_t<F>>{std::forward<F>(f)};
}

namespace detail {
template <class M>
struct is_block_map : std::false_type {};
template <class F>
struct is_block_map<block_map<F>> : std::true_type {};
}  // namespace detail

}  // namespace fixed_point
}  // namespace kestrel
