// Sampling parameters of a row: temperature, top-k, top-p (nucleus) and min-p, applied in
// that order, each to the renormalized result of the previous one (the order and meaning of
// Hugging Face's logits warpers and vLLM's sampler):
//   temperature t   logit rows are read as softmax(l / t); probability rows are used as given.
//                   t = 0 is greedy decoding (the argmax; every filter keeps it).
//   top_k k         keep the k most probable tokens (k = 0: off).
//   top_p p         keep the shortest prefix whose mass reaches p of the mass left: a token is
//                   kept iff the mass ranked strictly before it is < p (p >= 1: off).
//   min_p m         keep the tokens with probability >= m times the largest (m = 0: off).
// Tie rule: tokens are ranked by value descending, then token id ascending. Every filter keeps
// a prefix of that order (top-k keeps exactly k tokens even when the k-th value is tied;
// Hugging Face and vLLM keep every token tied with the k-th), so the kept set is the first K'
// tokens of the order, stored as a threshold value plus a tie id: token y is kept iff
// v[y] > threshold, or v[y] == threshold and y <= tie_id. The law of the row is then the row
// restricted to the kept set and renormalized (in double).
//
// Cost: one read of the row (its log-normalizer for logits, its sum for probabilities), a copy
// of (value, id) pairs into the workspace and expected linear-time selections (std::
// nth_element on halving ranges for top-p's mass boundary): no sort, no allocation once the
// workspace has grown to the vocabulary.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"

namespace kestrel {
namespace speculative {

/// The filters of sampling_params (temperature lives in verify_options).
struct sampling_filters {
    std::size_t top_k = 0;  ///< 0 = off
    double top_p = 1.0;     ///< in (0, 1]; 1 = off
    double min_p = 0.0;     ///< in [0, 1]; 0 = off
    bool active() const noexcept { return top_k != 0 || top_p < 1.0 || min_p > 0.0; }
};

/// Scratch of the filters: grows to the vocabulary once, then is reused.
struct sampling_workspace {
    struct entry {
        double value;  // the row's value (exactly, as double)
        double prob;   // its probability before the filters (double)
        std::uint32_t id;
    };
    std::vector<entry> entries;
};

/// The kept set of a row and the normalization of its law.
struct kept_set {
    std::size_t count = 0;     ///< K': tokens kept
    double threshold = 0.0;    ///< value of the last kept token in the order
    std::size_t tie_id = 0;    ///< its id: tokens at the threshold value with id <= tie_id are kept
    double kept_mass = 1.0;    ///< mass of the kept set under the unfiltered law (double)
    bool all = true;           ///< nothing removed
};

namespace detail {

/// Rank order: value descending, then id ascending (a strict total order on entries).
struct rank_before {
    bool operator()(const sampling_workspace::entry& a, const sampling_workspace::entry& b) const noexcept {
        return a.value > b.value || (a.value == b.value && a.id < b.id);
    }
};

inline double mass_of(const sampling_workspace::entry* b, const sampling_workspace::entry* e) noexcept {
    double s = 0.0;
    for (; b != e; ++b) s += b->prob;
    return s;
}

/// The kept set of a row whose unfiltered probabilities are prob(y) (validated, NaN-free,
/// summing to `total` in double, in index order). Leaves the kept entries first in the workspace (unordered).
template <class T, class Prob>
kept_set apply_filters(const T* v, std::size_t n, const sampling_filters& f, double total, Prob&& prob,
                       sampling_workspace& ws) {
    kept_set out;
    if (!f.active() || n == 0) return out;
    auto& e = ws.entries;
    e.resize(n);
    double pmax = 0.0;
    for (std::size_t y = 0; y < n; ++y) {
        const double p = prob(y);
        e[y] = {static_cast<double>(v[y]), p, static_cast<std::uint32_t>(y)};
        pmax = p > pmax ? p : pmax;
    }
    auto* first = e.data();
    std::size_t m = n;
    // top-k: the k highest-ranked entries first.
    if (f.top_k != 0 && f.top_k < m) {
        std::nth_element(first, first + f.top_k, first + m, rank_before{});
        m = f.top_k;
    }
    // The mass top-p's fraction refers to: the sum of the entries' probabilities (for an
    // unfiltered probability row, `total`).
    const double mass = m == n ? total : mass_of(first, first + m);
    // top-p on the renormalized top-k: the smallest j with mass(first j) >= p * mass, by
    // halving selections: [0, lo) is the top-lo set with mass acc < target, the boundary lies
    // in [lo, hi).
    if (f.top_p < 1.0) {
        const double target = f.top_p * mass;
        std::size_t lo = 0, hi = m;
        double acc = 0.0;
        while (hi - lo > 1) {
            const std::size_t mid = lo + (hi - lo) / 2;
            std::nth_element(first + lo, first + mid, first + hi, rank_before{});
            const double s = mass_of(first + lo, first + mid);
            if (acc + s >= target) {
                hi = mid;
            } else {
                acc += s;
                lo = mid;
            }
        }
        m = hi;  // the entry at lo is the boundary token, kept (the mass before it is < target)
    }
    // min-p: probability >= min_p * the largest (a ratio the renormalizations leave alone).
    if (f.min_p > 0.0) {
        const double cut = f.min_p * pmax;
        std::size_t kept = 0;
        for (std::size_t j = 0; j < m; ++j)
            if (e[j].prob >= cut) std::swap(e[kept++], e[j]);
        m = kept;  // never 0: the most probable token passes (min_p <= 1)
    }
    if (m == n) return out;
    // The last kept entry in rank order gives the threshold and the tie id.
    const auto* last = first;
    for (std::size_t j = 1; j < m; ++j)
        if (rank_before{}(*last, first[j])) last = first + j;
    out.count = m;
    out.threshold = last->value;
    out.tie_id = last->id;
    out.kept_mass = mass_of(first, first + m);
    out.all = false;
    return out;
}

inline void check_filters(const sampling_filters& f, std::size_t vocab_limit, const char* fn) {
    (void)vocab_limit;
    require(std::isfinite(f.top_p) && f.top_p > 0.0 && f.top_p <= 1.0, fn, "options.top_p",
            "must lie in (0, 1], got ", f.top_p);
    require(std::isfinite(f.min_p) && f.min_p >= 0.0 && f.min_p <= 1.0, fn, "options.min_p",
            "must lie in [0, 1], got ", f.min_p);
}

}  // namespace detail
}  // namespace speculative
}  // namespace kestrel
