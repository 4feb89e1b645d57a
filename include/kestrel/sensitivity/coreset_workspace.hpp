// Scratch of the sensitivity coreset kept across calls (optional argument of
// sensitivity_coreset and sensitivity_coreset_from).
//
// A coreset of n points needs a few n-sized arrays (squared distances, nearest-center
// indices, sensitivities: 24 bytes a point) and per-thread blocks for the nearest-center
// search. Allocated per call and value-initialized, they cost a zero-fill plus a page fault
// per 4 KiB on every call: at n = 10^6, k = 10 that was about 40% of the time. Here they are
// allocated once, WITHOUT initialization (every entry is written before it is read), and
// grow only when a larger n (or more threads) asks for more: the first call faults its
// pages in (on the threads that first write them), later calls of the same or a smaller
// size neither fill nor fault. The n-sized arrays ask for 2 MiB pages (core/large_buffer.hpp):
// a call without a workspace then faults 12 pages for its 24 MB at n = 10^6 instead of
// about 6000. Results do not depend on whether, or which, workspace is
// passed.
//
// One workspace per concurrent caller (it is not shared between calls running at the same
// time); it may be reused across point sets, sizes, k and float / double points.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

#include "../core/large_buffer.hpp"
#include "kmeans_distances.hpp"

namespace kestrel {
namespace sensitivity {

namespace detail {

/// An array that grows on demand and is never value-initialized, on huge pages where the
/// system gives them (core/large_buffer.hpp). Contents are unspecified after get().
template <class U>
using raw_buffer = kestrel::detail::large_buffer<U>;

/// Per-thread scratch of one block of the nearest-center search.
template <class T>
struct search_scratch {
    row_matrix<T> gram;
    std::vector<std::size_t> label;
    std::vector<double> dist;
};

}  // namespace detail

/// Reusable scratch of sensitivity_coreset / sensitivity_coreset_from (see the header
/// comment). Default-constructed empty; the members are internal.
struct coreset_workspace {
    /// Points the n-sized arrays currently hold (0 before the first call).
    std::size_t capacity() const noexcept { return d2.size(); }

    // Internal.
    detail::raw_buffer<double> d2;          ///< squared distance, then cost d(x_i, B)^z
    detail::raw_buffer<std::size_t> nearest;
    detail::raw_buffer<double> sens;        ///< sensitivities s_i
    std::vector<double> block_sum, prefix;  ///< per draw block (iid_block points)
    std::vector<double> cluster_part;       ///< per group of blocks x (cost, weight) per center
    std::vector<double> strat_part;         ///< per stratified block x sum of s per center
    std::vector<std::size_t> drawn, batch, sorted_centers, centers;
    std::vector<char> bad;                  ///< per block: a non-finite coordinate seen
    std::vector<detail::search_scratch<float>> scratch_f;
    std::vector<detail::search_scratch<double>> scratch_d;

    template <class T>
    std::vector<detail::search_scratch<T>>& scratch() {
        if constexpr (std::is_same<std::remove_cv_t<T>, float>::value)
            return scratch_f;
        else
            return scratch_d;
    }
};

}  // namespace sensitivity
}  // namespace kestrel
