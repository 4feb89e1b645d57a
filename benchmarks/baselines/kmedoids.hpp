// Honest baselines for the k-medoids kernels that the library does not itself offer in
// original form (used by the benchmarks and checked by tests/kmedoids/test_baselines.cpp):
//  * PAMMEDSIL's SWAP (Van der Laan, Pollard & Bryan 2003), as a user would write it: every
//    (slot, non-medoid) swap evaluated by recomputing the medoid silhouette, O(k^2 n^2) per
//    iteration; FastMSC finds the same swaps in O(n^2).
//  * CLARANS (Ng & Han 2002): random (medoid, non-medoid) pairs, each judged by PAM's O(n)
//    cost differential with nearest/second caches; FastCLARANS judges k pairs per draw.
// Original PAM SWAP (pam_swap) and original CLARA (clara with sample_swap::pam) are in the
// library itself.
#pragma once

#include <kestrel/core/random.hpp>
#include <kestrel/kmedoids/dissimilarity.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace kestrel_baseline {

/// Mean medoid silhouette from its definition: 1 - d1/d2 per point (0 when d2 = 0).
template <class D>
double medoid_silhouette_direct(const D& d, const std::vector<std::size_t>& m) {
    double sum = 0;
    for (std::size_t j = 0; j < d.size(); ++j) {
        double a = std::numeric_limits<double>::infinity(), b = a;
        for (std::size_t med : m) {
            const double v = d(med, j);
            if (v < a) {
                b = a;
                a = v;
            } else if (v < b) {
                b = v;
            }
        }
        sum += b > 0 ? 1.0 - a / b : 0.0;
    }
    return sum / double(d.size());
}

struct pammedsil_result {
    std::vector<std::size_t> medoids;
    double silhouette;
    std::size_t iterations, swaps;
};

/// PAMMEDSIL SWAP by brute force: per iteration the swap that raises the medoid silhouette
/// most (ties: smallest candidate, then smallest slot), until none does or max_iter.
template <class D>
pammedsil_result pammedsil(const D& d, std::vector<std::size_t> m, std::size_t max_iter = 100) {
    double cur = medoid_silhouette_direct(d, m);
    std::size_t iter = 0, swaps = 0;
    std::vector<char> is_medoid(d.size(), 0);
    for (auto x : m) is_medoid[x] = 1;
    while (iter < max_iter) {
        ++iter;
        double best = cur;
        std::size_t bh = 0, bi = 0;
        bool found = false;
        for (std::size_t h = 0; h < d.size(); ++h) {
            if (is_medoid[h]) continue;
            for (std::size_t i = 0; i < m.size(); ++i) {
                const std::size_t old = m[i];
                m[i] = h;
                const double s = medoid_silhouette_direct(d, m);
                m[i] = old;
                if (s > best) {
                    best = s;
                    bh = h;
                    bi = i;
                    found = true;
                }
            }
        }
        if (!found) break;
        is_medoid[m[bi]] = 0;
        is_medoid[bh] = 1;
        m[bi] = bh;
        cur = best;
        ++swaps;
    }
    return {m, cur, iter, swaps};
}

struct clarans_result {
    std::vector<std::size_t> medoids;
    double loss;
    std::size_t draws, swaps;
};

/// Original CLARANS: numlocal restarts from random medoids; each draw is a uniform random
/// (slot, non-medoid) pair, judged by PAM's cost differential over all points (nearest and
/// second-nearest cached) and made if it lowers the loss; a restart ends after maxneighbor
/// failed draws in a row (Ng & Han: max(250, 1.25% of k(n - k)) when 0 is given).
template <class D>
clarans_result clarans_original(const D& d, std::size_t k, std::size_t numlocal, std::size_t maxneighbor,
                                std::uint64_t seed) {
    const std::size_t n = d.size();
    if (maxneighbor == 0)
        maxneighbor = std::max<std::size_t>(250, static_cast<std::size_t>(std::ceil(0.0125 * double(k * (n - k)))));
    std::vector<double> dn(n), ds(n);
    std::vector<std::size_t> near(n), m(k), perm(n);
    std::vector<char> is_medoid(n);
    auto assign = [&] {
        double loss = 0;
        for (std::size_t o = 0; o < n; ++o) {
            double a = std::numeric_limits<double>::infinity(), b = a;
            std::size_t ia = 0;
            for (std::size_t i = 0; i < k; ++i) {
                const double v = d(m[i], o);
                if (v < a) {
                    b = a;
                    a = v;
                    ia = i;
                } else if (v < b) {
                    b = v;
                }
            }
            dn[o] = a;
            ds[o] = b;
            near[o] = ia;
            loss += a;
        }
        return loss;
    };
    clarans_result best{{}, std::numeric_limits<double>::infinity(), 0, 0};
    std::size_t draws = 0, swaps = 0;
    for (std::size_t r = 0; r < numlocal; ++r) {
        const kestrel::counter_rng rng(seed, 0x636c6172616e73ull + r);
        std::uint64_t draw = 0;
        auto uniform = [&](std::size_t span) {
            return std::min(span - 1, static_cast<std::size_t>(rng.uniform_double(draw++) * double(span)));
        };
        for (std::size_t i = 0; i < n; ++i) perm[i] = i;
        std::fill(is_medoid.begin(), is_medoid.end(), 0);
        for (std::size_t i = 0; i < k; ++i) {
            std::swap(perm[i], perm[i + uniform(n - i)]);
            m[i] = perm[i];
            is_medoid[m[i]] = 1;
        }
        double loss = assign();
        std::size_t failures = 0;
        while (k < n && failures < maxneighbor) {
            const std::size_t i = uniform(k);
            std::size_t h;
            do h = uniform(n);
            while (is_medoid[h]);
            ++draws;
            double change = 0;  // PAM's differential: sum over points of C_jih
            for (std::size_t o = 0; o < n; ++o) {
                const double v = d(h, o);
                change += near[o] == i ? std::min(v, ds[o]) - dn[o] : std::min(v - dn[o], 0.0);
            }
            if (!(change < -1e-12 * loss)) {
                ++failures;
                continue;
            }
            is_medoid[m[i]] = 0;
            is_medoid[h] = 1;
            m[i] = h;
            ++swaps;
            loss = assign();
            failures = 0;
        }
        if (loss < best.loss) best = {m, loss, 0, 0};
    }
    best.draws = draws;
    best.swaps = swaps;
    return best;
}

}  // namespace kestrel_baseline
