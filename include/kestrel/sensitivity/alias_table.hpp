// With-replacement sampling from unnormalised weights by Vose's alias method (M. D. Vose, "A
// linear algorithm for generating random numbers with a given distribution", IEEE TSE 17(9),
// 1991; Walker's alias method with an O(n) two-worklist build).
//
// Build (O(n), parallel, deterministic; detail/alias_build.hpp): with the scaled weights
// q_i = w_i * n / W, "light" items (q < 1) and "heavy" items (q >= 1) are paired by the sweeping
// construction of Huebschle-Schneider and Sanders ("Parallel weighted random sampling", ESA
// 2019): one cursor walks the light items and one the heavy items, both in index order (the
// heaviest item last), so memory is read and written sequentially. Light column i keeps i with
// probability q_i and otherwise gives the current heavy item j, which loses 1 - q_i; once j's
// residual drops below 1 its own column keeps that residual and the next heavy item tops it up.
// The sweep's state at any light is a closed form of two prefix sums (deficits of the lights
// before it, surpluses of the heavies), so fixed parts of the items sweep in parallel from
// exact 128-bit fixed-point prefix sums: the table is the same bits for every split and at any
// thread count. A heavy never closed (the heaviest, unless rounding leaves others at q = 1)
// keeps its own column; so do light columns left over by rounding; a zero-weight item never
// becomes anyone's alias and its own column gives it probability 0.
//
// Draw number j (a pure function of (seed, stream, j)): one Philox block of the counter_rng;
// words 0,1 pick the column c = floor(b * n / 2^64) (multiply-high of a 64-bit word), words
// 2,3 give u in [0,1) with 53 bits; the draw is c if u < prob[c], else alias[c].
// sample_with_replacement computes exactly these draws 32 at a time (detail/alias_draws.hpp):
// Philox in SIMD lanes (AVX-512 or AVX2 when the build targets them), columns and coins in
// the same lanes, their table lines prefetched 4 chunks before they are resolved.
//
// Exactness: the law drawn is P(i) = (prob_i + sum_{c: alias_c = i} (1 - prob_c)) / n for the
// table's doubles (implied_probabilities() computes it). For every item but the heaviest it is
// q_i / n to about one ulp (a light column keeps q_i itself; a closed heavy's residual and the
// next heavy's payment are rounded once each; nothing accumulates along the sweep); the
// heaviest item also takes n - sum_i q_i, the rounding of the scaled weights' sum (a few ulps
// of n, the smallest relative error on the largest q). The column choice has relative bias at
// most n / 2^64 and the coin u < prob has resolution 2^-53. Zero weights are never drawn.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"
#include "detail/alias_build.hpp"
#include "detail/alias_draws.hpp"
#include "sampling_weights.hpp"

namespace kestrel::sensitivity {

/// A built alias table; owns 16 bytes per item (probability in double, alias index).
class alias_table {
public:
    /// prob: probability that column c yields c itself; alias: what column c yields otherwise.
    using entry = detail::alias_entry;

    alias_table() = default;

    /// Builds the table of `weights` (validated: finite, >= 0, not all zero).
    template <class T>
    explicit alias_table(vector_view<const T> weights, exec_policy policy = {}) {
        build(weights, policy, "alias_table");
    }
    template <class T>
    explicit alias_table(const std::vector<T>& weights, exec_policy policy = {})
        : alias_table(vector_view<const T>(weights), policy) {}

    /// Rebuilds from new weights (reusing the storage); on a bad argument throws and keeps the
    /// previous table.
    template <class T>
    void assign(vector_view<const T> weights, exec_policy policy = {}) {
        build(weights, policy, "alias_table::assign");
    }

    std::size_t size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }
    /// The total weight the table was built from (double).
    double total() const noexcept { return total_; }
    const std::vector<entry>& entries() const noexcept { return entries_; }

    /// Draw number j of `rng` (unchecked: the table must be non-empty).
    KESTREL_ALWAYS_INLINE std::size_t draw(std::uint64_t j, const counter_rng& rng) const noexcept {
        const auto b = rng.block(j);
        const std::uint64_t c = detail::mulhi64(counter_rng::join(b[0], b[1]), entries_.size());
        const double u = random_conversion::u53_to_double(counter_rng::join(b[2], b[3]));
        const entry& e = entries_[c];
        return u < e.prob ? static_cast<std::size_t>(c) : static_cast<std::size_t>(e.alias);
    }

    /// The exact law the table draws (up to the n / 2^64 column bias and 2^-53 coin
    /// resolution): out[i] = (prob_i + sum over columns c aliased to i of (1 - prob_c)) / n.
    std::vector<double> implied_probabilities() const {
        const std::size_t n = entries_.size();
        std::vector<double> p(n, 0.0);
        for (std::size_t c = 0; c < n; ++c) {
            p[c] += entries_[c].prob;
            if (entries_[c].prob < 1.0) p[entries_[c].alias] += 1.0 - entries_[c].prob;
        }
        for (double& v : p) v /= static_cast<double>(n);
        return p;
    }

private:
    template <class T>
    void build(vector_view<const T> weights, exec_policy policy, const char* function) {
        const sampling_weight_summary s = summarize_sampling_weights(weights, function, policy);
        // Validated: nothing below can fail but the allocation, so the table is rebuilt in place
        // (a rebuild of the same size touches no fresh pages; first-touch faults cost more than
        // the whole sweep on some machines).
        const std::size_t n = weights.size();
        entries_.resize(n);
        detail::build_alias_entries(weights.data(), n, static_cast<double>(n) / s.total, detail::alias_part,
                                    entries_.data(), workspace_, detail::small_serial(n, policy));
        total_ = s.total;
    }

    std::vector<entry> entries_;
    detail::alias_build_workspace workspace_;
    double total_ = 0.0;
};

/// out[j] = table.draw(first_draw + j, rng) for j < m: m independent draws with replacement,
/// in parallel over fixed blocks of 8192 draws (identical at any thread count), each block a
/// software pipeline of 32-draw chunks (detail::alias_draw_range). Requires a built table and
/// out.size() == m.
inline void sample_with_replacement(const alias_table& table, std::size_t m, const counter_rng& rng,
                                    vector_view<std::size_t> out, exec_policy policy = {},
                                    std::uint64_t first_draw = 0) {
    const char* f = "sample_with_replacement";
    require_valid_policy(policy, f);
    require(!table.empty(), f, "table", "is empty (default-constructed; build it from weights first)");
    require_size(out.size(), m, f, "out_indices", "m");
    require(m <= UINT64_MAX - first_draw, f, "first_draw", first_draw, " + ", m,
            " draws wrap around the stream's 2^64 counter (draws would repeat)");
    constexpr std::size_t block = 8192;
    const std::size_t nb = (m + block - 1) / block;
    const std::uint64_t n = table.size();
    const alias_table::entry* entries = table.entries().data();
    std::size_t* o = out.data();
    parallel_for(nb, detail::small_serial(m, policy), [&](std::size_t b) {
        const std::size_t j0 = b * block, j1 = std::min(m, j0 + block);
        detail::alias_draw_range<detail::alias_ahead>(entries, n, rng, first_draw, j0, j1, o + j0);
    });
}

}  // namespace kestrel::sensitivity
