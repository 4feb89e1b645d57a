// Assigning points to given medoids: labels (nearest medoid, ties to the lowest slot) and loss.
#pragma once

#include <cstddef>
#include <vector>

#include "detail/nearest.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

/// The clustering that `medoids` induce (iterations = swaps = 0, converged = true: nothing to
/// iterate). O(nk). Checks every value it reads (the medoids' rows: finite, >= 0, zero
/// diagonal).
template <class D>
clustering assign_to_medoids(const D& d, std::vector<std::size_t> medoids) {
    using T = typename D::value_type;
    detail::check_medoids(d.size(), medoids, "assign_to_medoids");
    detail::check_rows_now(d, medoids, "assign_to_medoids");
    detail::nearest_cache<T> c;
    detail::assign_all(d, medoids, c);
    return detail::finish(c, std::move(medoids), 0, 0, true);
}

}  // namespace kmedoids
}  // namespace kestrel
