// Helpers shared by the core tests.
#pragma once

#include <kestrel/core/random.hpp>

#include <vector>

namespace kestrel_test {

/// Fills each vector with uniform values in [-1, 1) from a fixed seed (Kestrel's own Philox,
/// which has its own known-answer test).
template <class T>
void fill_uniform(std::vector<std::vector<T>>& vs, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed);
    std::uint64_t i = 0;
    for (auto& v : vs)
        for (auto& x : v) x = static_cast<T>(2.0 * rng.uniform_double(i++) - 1.0);
}

}  // namespace kestrel_test
