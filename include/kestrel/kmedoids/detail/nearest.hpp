// Nearest and second-nearest medoid caches and the FastPAM1 loss-change kernel
// (Schubert & Rousseeuw, "Faster k-Medoids Clustering", SISAP 2019, Algorithm 2), shared by
// FastPAM1, FastPAM2 and FasterPAM. Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"
#include "../dissimilarity.hpp"
#include "../result.hpp"

namespace kestrel {
namespace kmedoids {
namespace detail {

/// Reads row c of a source: d(o, c) for all o. For a dense matrix (symmetric) that is the
/// contiguous row c; other sources are evaluated on demand.
template <class D, class = void>
struct row_access {
    static auto get(const D& d, std::size_t c, std::size_t o) noexcept { return d(c, o); }
};
template <class D>
struct row_access<D, std::void_t<decltype(std::declval<const D&>().row(std::size_t(0)))>> {
    static auto get(const D& d, std::size_t c, std::size_t o) noexcept { return d.row(c)[o]; }
};

template <class D, class = void>
struct has_rows : std::false_type {};
template <class D>
struct has_rows<D, std::void_t<decltype(std::declval<const D&>().row(std::size_t(0)))>> : std::true_type {};

template <class T>
struct nearest_cache {
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::uint32_t> nearest, second;  // slots
    std::vector<T> dn, ds;                       // their dissimilarities (ds = +inf when k = 1)

    void resize(std::size_t n) {
        nearest.assign(n, none);
        second.assign(n, none);
        dn.assign(n, T(0));
        ds.assign(n, T(0));
    }
};

// (d1, s1) before (d2, s2): smaller dissimilarity, ties to the smaller slot.
template <class T>
inline bool before(T d1, std::uint32_t s1, T d2, std::uint32_t s2) noexcept {
    return d1 < d2 || (d1 == d2 && s1 < s2);
}

template <class D, class T>
void assign_point(const D& d, const std::vector<std::size_t>& medoids, std::size_t o, nearest_cache<T>& c) {
    const T inf = std::numeric_limits<T>::infinity();
    T best = inf, second = inf;
    std::uint32_t bs = nearest_cache<T>::none, ss = nearest_cache<T>::none;
    for (std::size_t i = 0; i < medoids.size(); ++i) {
        const T v = static_cast<T>(d(o, medoids[i]));
        const auto s = static_cast<std::uint32_t>(i);
        if (before(v, s, best, bs)) {
            second = best;
            ss = bs;
            best = v;
            bs = s;
        } else if (before(v, s, second, ss)) {
            second = v;
            ss = s;
        }
    }
    c.nearest[o] = bs;
    c.dn[o] = best;
    c.second[o] = ss;
    c.ds[o] = second;
}

template <class D, class T>
void assign_all(const D& d, const std::vector<std::size_t>& medoids, nearest_cache<T>& c) {
    c.resize(d.size());
    for (std::size_t o = 0; o < d.size(); ++o) assign_point(d, medoids, o, c);
}

/// After slot `slot` changed to medoid `m`: keeps (nearest, second) equal to what
/// assign_all would give, recomputing only the points that had `slot` in their cache.
template <class D, class T>
void update_after_swap(const D& d, const std::vector<std::size_t>& medoids, std::size_t slot, nearest_cache<T>& c,
                       exec_policy policy = exec_policy::serial()) {
    const auto s = static_cast<std::uint32_t>(slot);
    const std::size_t m = medoids[slot], n = d.size();
    auto update = [&](std::size_t o) {
        if (c.nearest[o] == s || c.second[o] == s) {  // lost its nearest or second: recompute
            assign_point(d, medoids, o, c);
            return;
        }
        const T v = static_cast<T>(row_access<D>::get(d, m, o));
        if (before(v, s, c.dn[o], c.nearest[o])) {
            c.second[o] = c.nearest[o];
            c.ds[o] = c.dn[o];
            c.nearest[o] = s;
            c.dn[o] = v;
        } else if (before(v, s, c.ds[o], c.second[o])) {
            c.second[o] = s;
            c.ds[o] = v;
        }
    };
    // Points are independent: blocks in parallel for large n (same result at any count).
    const std::size_t nblocks = n >= 4096 ? std::size_t(16) : std::size_t(1);
    parallel_for(nblocks, policy, [&](std::size_t b) {
        const block_range r = block_bounds(n, nblocks, b);
        for (std::size_t o = r.begin; o < r.end; ++o) update(o);
    });
}

template <class T>
double total_loss(const nearest_cache<T>& c) {
    double s = 0;
    for (const T v : c.dn) s += static_cast<double>(v);
    return s;
}

/// removal[i] = loss increase if medoid slot i were removed (its points go to their second).
template <class T>
void removal_loss(const nearest_cache<T>& c, std::size_t k, std::vector<double>& removal) {
    removal.assign(k, 0.0);
    if (k == 1) return;  // handled separately in candidate_deltas
    for (std::size_t o = 0; o < c.dn.size(); ++o)
        removal[c.nearest[o]] += static_cast<double>(c.ds[o]) - static_cast<double>(c.dn[o]);
}

/// Loss change of swapping candidate `cand` into each slot i: delta[i] (k values). One pass
/// over the n points (FastPAM1's O(k) saving over PAM).
template <class D, class T>
void candidate_deltas(const D& d, std::size_t cand, const nearest_cache<T>& c, const std::vector<double>& removal,
                      double* delta) {
    const std::size_t n = c.dn.size(), k = removal.size();
    if (k == 1) {  // no second medoid: every point moves to the candidate
        double s = 0;
        for (std::size_t o = 0; o < n; ++o)
            s += static_cast<double>(static_cast<T>(row_access<D>::get(d, cand, o))) - static_cast<double>(c.dn[o]);
        delta[0] = s;
        return;
    }
    for (std::size_t i = 0; i < k; ++i) delta[i] = removal[i];
    double shared = 0;
    const T* dn = c.dn.data();
    const T* ds = c.ds.data();
    const std::uint32_t* nr = c.nearest.data();
    // Point o matters only if the candidate is closer than its second medoid (v < ds[o]).
    auto point = [&](std::size_t o, T v) {
        if (v < dn[o]) {  // o moves to the candidate whichever medoid leaves
            shared += static_cast<double>(v) - static_cast<double>(dn[o]);
            delta[nr[o]] += static_cast<double>(dn[o]) - static_cast<double>(ds[o]);
        } else if (v < ds[o]) {  // o moves to the candidate only if its own medoid leaves
            delta[nr[o]] += static_cast<double>(v) - static_cast<double>(ds[o]);
        }
    };
    std::size_t o = 0;
    if constexpr (has_rows<D>::value) {
        // Dense rows: a SIMD filter skips whole batches of points the candidate does not
        // affect (most of them); the rest go through the same scalar code in the same order,
        // so the sums are bit-identical to the plain loop.
        namespace sd = kestrel::simd::detail;
        constexpr std::size_t W = sd::width<T>;
        const T* row = d.row(cand);
        for (; o + W <= n; o += W) {
            if (!sd::any_less(sd::load(row + o), sd::load(ds + o))) continue;
            for (std::size_t j = o; j < o + W; ++j) point(j, row[j]);
        }
        for (; o < n; ++o) point(o, row[o]);
    } else {
        for (; o < n; ++o) point(o, static_cast<T>(d(cand, o)));
    }
    for (std::size_t i = 0; i < k; ++i) delta[i] += shared;
}

/// Checks k and the medoid list against n: 1 <= k <= n, indices < n, no duplicates.
inline void check_medoids(std::size_t n, const std::vector<std::size_t>& medoids, const char* function) {
    require(!medoids.empty(), function, "medoids", "k = 0: need at least one medoid");
    require(medoids.size() <= n, function, "medoids", "k = ", medoids.size(), " exceeds the number of points n = ", n);
    require(n < std::size_t(nearest_cache<float>::none), function, "dissimilarity", "n = ", n, " is too large");
    std::vector<char> seen(n, 0);
    for (std::size_t i = 0; i < medoids.size(); ++i) {
        require(medoids[i] < n, function, "medoids", "entry ", i, " = ", medoids[i], " is out of range [0, ", n, ")");
        require(!seen[medoids[i]], function, "medoids", "point ", medoids[i], " appears twice");
        seen[medoids[i]] = 1;
    }
}

inline void check_k(std::size_t k, std::size_t n, const char* function) {
    require(k >= 1, function, "k", "must be >= 1, got ", k);
    require(k <= n, function, "k", "k = ", k, " exceeds the number of points n = ", n);
}

template <class T>
std::vector<std::size_t> labels_of(const nearest_cache<T>& c) {
    return std::vector<std::size_t>(c.nearest.begin(), c.nearest.end());
}

/// The argument checks every SWAP routine runs before it writes anything.
template <class D, class Options>
void check_swap_input(const D& d, const std::vector<std::size_t>& medoids, const Options& opt, const char* function) {
    check_medoids(d.size(), medoids, function);
    if (opt.validate_input) validate_dissimilarity(d, opt.check_symmetry, opt.symmetry_tolerance, function);
}

template <class T>
clustering finish(const nearest_cache<T>& c, std::vector<std::size_t> medoids, std::size_t iterations,
                  std::size_t swaps) {
    clustering r;
    r.medoids = std::move(medoids);
    r.labels = labels_of(c);
    r.loss = total_loss(c);
    r.iterations = iterations;
    r.swaps = swaps;
    return r;
}

}  // namespace detail
}  // namespace kmedoids
}  // namespace kestrel
