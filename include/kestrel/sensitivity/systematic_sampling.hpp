// Systematic sampling (probability-proportional-to-size systematic sampling, Madow 1949): one
// uniform start U in [0, 1) and the m equally spaced points t_k = (U + k) * W / m, k = 0..m-1,
// on the cumulative weights; item i receives every point in [C_{i-1}, C_i), C_i = w_0 + ... + w_i.
//
// Law: point k lands in item i with probability w_i / W (U is uniform), and item i receives
// floor(m p_i) or ceil(m p_i) points (p_i = w_i / W), with mean m p_i. Hence when every m p_i <= 1
// the sample has no repeats and item i is included with probability exactly m p_i
// (= min(1, m p_i)); when some m p_i > 1 that item appears floor or ceil of m p_i times in the
// output (with-replacement semantics: the output always holds exactly m indices). Joint
// inclusion probabilities depend on the order of the items (two small items closer than W / m
// on the cumulative axis are never both taken): first-order inclusion is exact, the joint law
// is not that of independent or successive sampling.
//
// Cumulative sums, all in double, from numbers that do not depend on the thread count (so
// neither does the sample): the weights are cut into fixed blocks of sampling_block items and
// the blocks into groups of 64. One SIMD pass (the validation) sums each group (g_j, lanes in a
// fixed order); a block's sum is the left-to-right sum of its groups' sums, P_b the left-to-right
// sum of the previous blocks' sums, and group j of block b starts at D_j = P_b + (g_0 + ... +
// g_{j-1}), so the last group of a block ends exactly at P_{b+1}. Inside a group, C_i = D_j +
// (w_{j0} + ... + w_i) left to right, and the points of [D_j, D_{j+1}) that rounding leaves
// past the group's last C go to its last positive item (as the points that rounding puts at or
// beyond W go to the last positive item of all). Zero weights get no points. Only the groups
// that hold a point are read again: with m much smaller than n the sampler reads the weights
// about once, at memory speed (a left-to-right sum of every weight, a chain of dependent adds,
// ran about 10x slower than the read).
// Randomness: U = counter_rng::uniform_double(draw) (one draw of the stream).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/large_buffer.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"
#include "sampling_weights.hpp"

namespace kestrel::sensitivity {

/// Writes the m = out_indices.size() >= 1 systematic points' items, in increasing index order
/// (one entry per point, so an item with m p_i > 1 repeats). Uses draw `draw` of rng for U.
template <class T>
void systematic_sample(vector_view<const T> weights, const counter_rng& rng, vector_view<std::size_t> out_indices,
                       exec_policy policy = {}, std::uint64_t draw = 0) {
    const char* f = "systematic_sample";
    require_valid_policy(policy, f);
    const std::size_t n = weights.size(), m = out_indices.size();
    require(n > 0, f, "weights", "is empty");
    require(m >= 1, f, "out_indices", "is empty (the sample size m is its size and must be >= 1)");
    constexpr std::size_t group = 64, groups_per_block = sampling_block / group;
    static_assert(sampling_block % group == 0, "whole groups per block");
    const std::size_t nb = detail::sampling_blocks(n), ng = (n + group - 1) / group;
    const T* w = weights.data();

    // Validation and the groups' sums in one SIMD pass (parallel over blocks).
    // (n / 64 doubles: at n = 2^24 two megabytes, on huge pages so that a call does not pay a
    // page fault per 4 KiB; every entry is written before it is read.)
    kestrel::detail::large_buffer<double> gsum_buffer;
    double* const gsum = gsum_buffer.get(ng);
    std::vector<double> block_sum(nb);
    std::vector<std::uint8_t> block_bad(nb, 0);
    std::vector<double> block_positive(nb, 0.0);
    parallel_for(nb, detail::small_serial(n, policy), [&](std::size_t b) {
        constexpr std::size_t W = detail::weight_lanes<T>::W;
        static_assert(group % (2 * W) == 0, "whole pairs of batches per group");
        const std::size_t j0 = b * groups_per_block, j1 = std::min(ng, j0 + groups_per_block);
        // Counts run over the whole block; each group's sum is folded on its own.
        detail::weight_lanes<T> lanes;
        double bs = 0.0, pos = 0.0, valid = 0.0;
        for (std::size_t j = j0; j < j1; ++j) {
            const std::size_t i0 = j * group, len = std::min(n, i0 + group) - i0;
            if (len < group) {  // the ragged end: the shared scan
                const detail::weight_scan g = detail::scan_weights(w + i0, len);
                gsum[j] = g.sum;
                bs += g.sum;
                pos += g.positive;
                valid += g.valid;
                continue;
            }
            lanes.s0 = lanes.s1 = lanes.zero;
            for (std::size_t i = i0; i < i0 + group; i += 2 * W) lanes.add_pair(w + i);
            const double g = lanes.sum();
            gsum[j] = g;
            bs += g;
        }
        block_sum[b] = bs;
        block_positive[b] = pos + lanes.positive();
        valid += lanes.valid();
        block_bad[b] = valid != static_cast<double>(std::min(n, (b + 1) * sampling_block) - b * sampling_block);
    });
    double total = 0.0;
    for (std::size_t b = 0; b < nb; ++b) {
        if (block_bad[b]) {
            const std::size_t bad = detail::first_bad_weight(w, b * sampling_block, std::min(n, (b + 1) * sampling_block));
            fail_argument(f, "weights", "entry ", bad, " is ", weights[bad], " (weights must be finite and >= 0)");
        }
        total += block_sum[b];
    }
    require(total > 0.0, f, "weights", "all ", n, " weights are zero (nothing can be sampled)");
    require(std::isfinite(total), f, "weights", "the total weight overflows double (", total, ")");

    const double u = rng.uniform_double(draw), h = total / static_cast<double>(m);
    auto point = [&](std::size_t k) { return (u + static_cast<double>(k)) * h; };
    // #{k < m : t_k < x}, from the closed form then corrected against the actual t_k.
    auto count_below = [&](double x) {
        double e = std::ceil(x / h - u);
        std::size_t k = e <= 0.0 ? 0 : (e >= static_cast<double>(m) ? m : static_cast<std::size_t>(e));
        while (k > 0 && !(point(k - 1) < x)) --k;
        while (k < m && point(k) < x) ++k;
        return k;
    };
    std::vector<double> start(nb + 1, 0.0);
    for (std::size_t b = 0; b < nb; ++b) start[b + 1] = start[b] + block_sum[b];  // start[nb] == total
    std::vector<std::size_t> first(nb + 1, 0);
    for (std::size_t b = 1; b <= nb; ++b) first[b] = count_below(start[b]);

    parallel_for(nb, detail::small_serial(n, policy), [&](std::size_t b) {
        std::size_t k = first[b];
        const std::size_t kend = first[b + 1];
        if (k == kend) return;
        const std::size_t j0 = b * groups_per_block, j1 = std::min(ng, j0 + groups_per_block);
        // The groups that hold a point, with their bounds D_j (prefix: the additions of
        // block_sum[b]), found from the group sums alone; then their weights are read again,
        // a few groups ahead of the walk (they left the cache since the validation pass).
        std::uint32_t hit[groups_per_block];
        double lo[groups_per_block], hi[groups_per_block];
        std::size_t hits = 0, kk = k;
        double prefix = 0.0;
        for (std::size_t j = j0; j < j1 && kk < kend; ++j) {
            const double d = start[b] + prefix;
            prefix += gsum[j];
            const double dnext = start[b] + prefix;  // == start[b + 1] after the block's last group
            if (!(point(kk) < dnext)) continue;
            hit[hits] = static_cast<std::uint32_t>(j), lo[hits] = d, hi[hits] = dnext, ++hits;
            while (kk < kend && point(kk) < dnext) ++kk;
        }
        constexpr std::size_t ahead = 4;
        auto fetch = [&](std::size_t q) {
            const char* g = reinterpret_cast<const char*>(w + static_cast<std::size_t>(hit[q]) * group);
            const std::size_t bytes = (std::min(n, (hit[q] + std::size_t(1)) * group) - hit[q] * group) * sizeof(T);
            for (std::size_t line = 0; line < bytes; line += 64) kestrel::simd::detail::prefetch<3>(g + line);
            kestrel::simd::detail::prefetch<3>(g + bytes - 1);  // a group need not start on a line
        };
        for (std::size_t q = 0; q < std::min(ahead, hits); ++q) fetch(q);
        for (std::size_t q = 0; q < hits && k < kend; ++q) {
            if (q + ahead < hits) fetch(q + ahead);
            const double d = lo[q], dnext = hi[q];
            const std::size_t i0 = static_cast<std::size_t>(hit[q]) * group, i1 = std::min(n, i0 + group);
            double within = 0.0;
            std::size_t last_positive = i0;
            // (The walk stops at the group's last point: the rest of the group is not needed.)
            for (std::size_t i = i0; i < i1 && k < kend && point(k) < dnext; ++i) {
                const double wi = static_cast<double>(w[i]);
                if (!(wi > 0.0)) continue;
                within += wi;
                last_positive = i;
                const double right = d + within;
                while (k < kend && point(k) < right && point(k) < dnext) out_indices[k++] = i;
            }
            if (k < kend && point(k) < dnext) {  // rounding left points past the group's last C
                for (std::size_t i = i1; i-- > i0;)
                    if (w[i] > T(0)) {
                        last_positive = i;
                        break;
                    }
                while (k < kend && point(k) < dnext) out_indices[k++] = last_positive;
            }
        }
        // Every point of the block is written: the groups' bounds rise from start[b] to exactly
        // start[b + 1] (the same additions as block_sum[b]), kend counts the points below it,
        // and each group writes all its points (the walk, then its last positive item).
    });
    if (first[nb] < m) {  // rounding put the last points at or beyond W
        std::size_t last = n - 1;
        while (!(weights[last] > T(0))) --last;
        for (std::size_t k = first[nb]; k < m; ++k) out_indices[k] = last;
    }
}

}  // namespace kestrel::sensitivity
