// Initial medoids: PAM BUILD, LAB, k-means++-style seeding, uniform random. User-given
// medoids are passed straight to a SWAP routine, which checks them.
//
// Random choices come from counter_rng(seed, stream): draw indices are fixed by the
// algorithm, never by threads, so the same seed gives the same medoids everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"

namespace kestrel {
namespace kmedoids {

namespace detail {
struct gain_choice {
    double gain;
    std::size_t index;
    bool valid;
};

// argmax over candidates in `pool` of gain(c) (ties: earliest in pool), evaluated in
// parallel over fixed blocks and compared in order.
template <class Gain>
gain_choice best_gain(const std::vector<std::size_t>& pool, exec_policy policy, Gain&& gain) {
    const std::size_t m = pool.size();
    const std::size_t nblocks = std::max<std::size_t>(1, std::min<std::size_t>(m, 64));
    std::vector<gain_choice> bb(nblocks, gain_choice{-std::numeric_limits<double>::infinity(), 0, false});
    parallel_for_dynamic(nblocks, policy, [&](std::size_t b) {
        const block_range r = block_bounds(m, nblocks, b);
        gain_choice best{-std::numeric_limits<double>::infinity(), 0, false};
        for (std::size_t p = r.begin; p < r.end; ++p) {
            const double g = gain(pool[p]);
            if (!best.valid || g > best.gain) best = {g, pool[p], true};
        }
        bb[b] = best;
    });
    gain_choice best{-std::numeric_limits<double>::infinity(), 0, false};
    for (const auto& g : bb)
        if (g.valid && (!best.valid || g.gain > best.gain)) best = g;
    return best;
}

// Greedy BUILD over the points in `pool`, measuring loss on the points in `pool` only.
template <class D>
std::vector<std::size_t> greedy_build(const D& d, const std::vector<std::size_t>& pool, std::size_t k,
                                      std::vector<double>& nearest, std::vector<char>& chosen,
                                      std::vector<std::size_t>& medoids, exec_policy policy) {
    // First medoid: smallest total dissimilarity (ties: lowest index, via the pool order).
    if (medoids.empty()) {
        const auto g = best_gain(pool, policy, [&](std::size_t c) {
            double s = 0;
            for (std::size_t j : pool) s += static_cast<double>(d(c, j));
            return -s;
        });
        medoids.push_back(g.index);
        chosen[g.index] = 1;
        for (std::size_t j : pool) nearest[j] = static_cast<double>(d(g.index, j));
    }
    std::vector<std::size_t> open;
    while (medoids.size() < k) {
        open.clear();
        for (std::size_t c : pool)
            if (!chosen[c]) open.push_back(c);
        if (open.empty()) break;
        // Gain of adding c: total decrease of the points' distance to their nearest medoid.
        const auto g = best_gain(open, policy, [&](std::size_t c) {
            double s = 0;
            for (std::size_t j : pool) s += std::max(nearest[j] - static_cast<double>(d(c, j)), 0.0);
            return s;
        });
        medoids.push_back(g.index);
        chosen[g.index] = 1;
        for (std::size_t j : pool) nearest[j] = std::min(nearest[j], static_cast<double>(d(g.index, j)));
    }
    return medoids;
}
}  // namespace detail

namespace detail {
// BUILD without the checks (the caller checked the input).
template <class D>
std::vector<std::size_t> build_unchecked(const D& d, std::size_t k, exec_policy policy) {
    const std::size_t n = d.size();
    std::vector<std::size_t> pool(n), medoids;
    for (std::size_t i = 0; i < n; ++i) pool[i] = i;
    std::vector<double> nearest(n, 0.0);
    std::vector<char> chosen(n, 0);
    return greedy_build(d, pool, k, nearest, chosen, medoids, policy);
}

// A checked read for the serial initializations: d(i, j) finite and >= 0, d(i, i) = 0.
template <class D>
double checked_read(const D& d, std::size_t i, std::size_t j, const char* function) {
    const auto v = d(i, j);
    if (i == j ? !(v == 0) : !valid_value(v)) {
        if (i == j) fail_diagonal(function, i, static_cast<double>(v));
        fail_entry(function, i, j, static_cast<double>(v));
    }
    return static_cast<double>(v);
}
}  // namespace detail

/// PAM BUILD (Kaufman & Rousseeuw 1990): the medoid of all points, then k - 1 times the point
/// that lowers the loss most. O(k n^2), parallel over candidates. Ties: lowest index. The
/// whole matrix is checked first (finite, >= 0, zero diagonal: one pass, 1/k of BUILD).
template <class D>
std::vector<std::size_t> pam_build(const D& d, std::size_t k, exec_policy policy = {}) {
    detail::check_policy(policy, "pam_build");
    detail::check_k(k, d.size(), "pam_build");
    detail::check_all_rows(d, policy, "pam_build");
    return detail::build_unchecked(d, k, policy);
}

/// k distinct points, uniformly at random (partial Fisher-Yates on counter-based draws).
inline std::vector<std::size_t> random_medoids(std::size_t n, std::size_t k, std::uint64_t seed) {
    detail::check_k(k, n, "random_medoids");
    const counter_rng rng(seed, 0x4b4d45444f494453ull);  // stream "KMEDOIDS"
    std::vector<std::size_t> perm(n);
    for (std::size_t i = 0; i < n; ++i) perm[i] = i;
    for (std::size_t i = 0; i < k; ++i) {
        const std::size_t j = i + static_cast<std::size_t>(rng.uniform_double(i) * double(n - i));
        std::swap(perm[i], perm[std::min(j, n - 1)]);
    }
    perm.resize(k);
    return perm;
}

/// k-means++-style seeding (Arthur & Vassilvitskii 2007) for k-medoids: the first medoid
/// uniformly, each next one with probability proportional to its dissimilarity to the
/// nearest medoid chosen so far (the loss it would remove; for k-medoids the dissimilarity
/// itself plays the role of k-means' squared distance). Points at dissimilarity 0 from a
/// medoid are never chosen; if all are, the lowest-index unchosen point is taken. Checks
/// every value it reads (the rows of the chosen medoids).
template <class D>
std::vector<std::size_t> kmeanspp_medoids(const D& d, std::size_t k, std::uint64_t seed) {
    const std::size_t n = d.size();
    detail::check_k(k, n, "kmeanspp_medoids");
    const counter_rng rng(seed, 0x2b2b);
    std::vector<std::size_t> medoids;
    std::vector<double> w(n);
    std::size_t first = static_cast<std::size_t>(rng.uniform_double(0) * double(n));
    first = std::min(first, n - 1);
    medoids.push_back(first);
    for (std::size_t j = 0; j < n; ++j) w[j] = detail::checked_read(d, first, j, "kmeanspp_medoids");
    std::vector<char> chosen(n, 0);
    chosen[first] = 1;
    for (std::size_t m = 1; m < k; ++m) {
        double total = 0;
        for (std::size_t j = 0; j < n; ++j) total += chosen[j] ? 0.0 : w[j];
        std::size_t next = n;
        if (total > 0) {
            const double target = rng.uniform_double(m) * total;
            double acc = 0;
            for (std::size_t j = 0; j < n; ++j) {
                if (chosen[j] || w[j] <= 0) continue;
                acc += w[j];
                next = j;
                if (target < acc) break;
            }
        } else {
            for (std::size_t j = 0; j < n && next == n; ++j)
                if (!chosen[j]) next = j;
        }
        medoids.push_back(next);
        chosen[next] = 1;
        for (std::size_t j = 0; j < n; ++j) w[j] = std::min(w[j], detail::checked_read(d, next, j, "kmeanspp_medoids"));
    }
    return medoids;
}

/// LAB, the linear approximative BUILD (Schubert & Rousseeuw, SISAP 2019, sec. 4.1): each
/// medoid is chosen greedily as in BUILD, but among and measured on a fresh random sample of
/// 10 + ceil(sqrt(n)) points, so the whole initialization costs O(k n) dissimilarities. Checks
/// every value it reads.
template <class D>
std::vector<std::size_t> lab_medoids(const D& d, std::size_t k, std::uint64_t seed) {
    const std::size_t n = d.size();
    detail::check_k(k, n, "lab_medoids");
    const std::size_t m = std::min<std::size_t>(n, 10 + static_cast<std::size_t>(std::ceil(std::sqrt(double(n)))));
    const counter_rng rng(seed, 0x4c4142);  // "LAB"
    std::vector<std::size_t> medoids, pool, perm(n);
    std::vector<char> chosen(n, 0);
    std::vector<double> nearest(n, std::numeric_limits<double>::infinity());
    std::uint64_t draw = 0;
    for (std::size_t step = 0; step < k; ++step) {
        // A random sample of m points not yet chosen.
        perm.clear();
        for (std::size_t i = 0; i < n; ++i)
            if (!chosen[i]) perm.push_back(i);
        const std::size_t take = std::min(m, perm.size());
        for (std::size_t i = 0; i < take; ++i) {
            const std::size_t j = i + static_cast<std::size_t>(rng.uniform_double(draw++) * double(perm.size() - i));
            std::swap(perm[i], perm[std::min(j, perm.size() - 1)]);
        }
        pool.assign(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(take));
        std::sort(pool.begin(), pool.end());
        // Distances of the sample to the medoids chosen so far.
        for (std::size_t j : pool) {
            double v = std::numeric_limits<double>::infinity();
            for (std::size_t med : medoids) v = std::min(v, detail::checked_read(d, med, j, "lab_medoids"));
            nearest[j] = v;
        }
        std::size_t best = pool[0];
        double best_gain = -std::numeric_limits<double>::infinity();
        for (std::size_t c : pool) {
            double g = 0;
            for (std::size_t j : pool) {
                const double v = detail::checked_read(d, c, j, "lab_medoids");
                g += medoids.empty() ? -v : std::max(nearest[j] - v, 0.0);
            }
            if (g > best_gain) {
                best_gain = g;
                best = c;
            }
        }
        medoids.push_back(best);
        chosen[best] = 1;
    }
    return medoids;
}

}  // namespace kmedoids
}  // namespace kestrel
