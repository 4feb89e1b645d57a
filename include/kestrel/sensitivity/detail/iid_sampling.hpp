// Internal: i.i.d. draws from unnormalized masses (doubles, >= 0) by inverse CDF over fixed
// blocks. Block sums are computed in parallel (blocks of a size that depends on n only), the
// prefix over blocks serially, so every draw is the same at any thread count. Draw j uses
// u_j = rng.uniform_double(first + j) and picks the smallest i with u_j * M < mass_0 + ... +
// mass_i (M the total), within the block the prefix points to; zero masses are never drawn.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/random.hpp"

namespace kestrel {
namespace sensitivity {
namespace detail {

inline constexpr std::size_t iid_block = 4096;

/// prefix[b] = mass of blocks 0..b-1 (size blocks + 1); prefix.back() is the total.
inline std::vector<double> block_prefix(const double* mass, std::size_t n, exec_policy policy) {
    const std::size_t blocks = (n + iid_block - 1) / iid_block;
    std::vector<double> prefix(blocks + 1, 0.0);
    parallel_for(blocks, policy, [&](std::size_t b) {
        double s = 0.0;
        const std::size_t e = std::min(n, (b + 1) * iid_block);
        for (std::size_t i = b * iid_block; i < e; ++i) s += mass[i];
        prefix[b + 1] = s;
    });
    for (std::size_t b = 0; b < blocks; ++b) prefix[b + 1] += prefix[b];
    return prefix;
}

/// out[j] for j < m: an index drawn with probability mass(i) / M, mass(i) a callable giving
/// the (>= 0) mass of index i: the masses need not be stored, only the blocks the draws land
/// in are visited. Needs M > 0 (callers check).
template <class Mass>
void sample_iid_by(const Mass& mass, std::size_t n, const std::vector<double>& prefix, std::size_t m,
                   const counter_rng& rng, std::uint64_t first, std::size_t* out) {
    const std::size_t blocks = prefix.size() - 1;
    const double total = prefix.back();
    std::vector<std::pair<double, std::size_t>> targets(m);
    for (std::size_t j = 0; j < m; ++j) targets[j] = {rng.uniform_double(first + j) * total, j};
    std::sort(targets.begin(), targets.end());
    // The last positive-mass index of a block (for a target that rounding put past the
    // block's in-block running sum) or of the whole array.
    const auto last_positive = [&](std::size_t b) {
        std::size_t i = std::min(n, (b + 1) * iid_block);
        while (i > b * iid_block && !(mass(i - 1) > 0.0)) --i;
        return i - 1;
    };
    std::size_t cur_block = blocks, cursor = 0;
    double running = 0.0;
    for (const auto& [t, j] : targets) {
        const std::size_t b = static_cast<std::size_t>(
            std::upper_bound(prefix.begin() + 1, prefix.end(), t) - (prefix.begin() + 1));
        if (b >= blocks) {  // t rounded up to the total
            std::size_t lb = blocks - 1;
            while (lb > 0 && !(prefix[lb + 1] > prefix[lb])) --lb;
            out[j] = last_positive(lb);
            continue;
        }
        if (b != cur_block) {
            cur_block = b;
            cursor = b * iid_block;
            running = prefix[b];
        }
        const std::size_t e = std::min(n, (b + 1) * iid_block);
        while (cursor < e && !(t < running + mass(cursor))) running += mass(cursor++);
        out[j] = cursor < e ? cursor : last_positive(b);
    }
}

/// sample_iid_by with stored masses mass[0..n).
inline void sample_iid(const double* mass, std::size_t n, const std::vector<double>& prefix, std::size_t m,
                       const counter_rng& rng, std::uint64_t first, std::size_t* out) {
    sample_iid_by([mass](std::size_t i) { return mass[i]; }, n, prefix, m, rng, first, out);
}

}  // namespace detail
}  // namespace sensitivity
}  // namespace kestrel
