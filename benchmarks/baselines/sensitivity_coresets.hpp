// Baselines for the clustering coresets: the straightforward implementation (scalar distance
// loops in double, one cumulative-sum array and a binary search per draw, the way a NumPy
// version with np.cumsum / np.searchsorted works). Unweighted points. The same counter-based
// draws as the kernels (same seeds and streams), so tests/sensitivity/test_coresets.cpp can
// check that they agree.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <kestrel/core/random.hpp>

namespace kestrel_baseline {
namespace sensitivity_coresets {

struct seeding {
    std::vector<std::size_t> centers, nearest;
    std::vector<double> d2;  // squared distance to the nearest center
};

struct coreset {
    std::vector<std::size_t> indices;
    std::vector<double> weights;
};

template <class T>
double squared_distance(const T* x, const T* c, std::size_t d) {
    double s = 0.0;
    for (std::size_t t = 0; t < d; ++t) {
        const double v = double(x[t]) - double(c[t]);
        s += v * v;
    }
    return s;
}

/// Index i with cum[i - 1] <= u * cum.back() < cum[i] (cum: running sums).
inline std::size_t search(const std::vector<double>& cum, double u) {
    const double t = u * cum.back();
    std::size_t i = static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), t) - cum.begin());
    if (i == cum.size()) --i;
    while (i > 0 && cum[i] == cum[i - 1]) --i;  // never a zero-mass entry
    return i;
}

/// Sequential D^z seeding, the textbook loop: after each center, recompute every point's
/// distance to it (scalar loop), rebuild the cumulative sums, binary-search the next center.
template <class T>
seeding dz_seeding(const T* X, std::size_t n, std::size_t d, std::size_t k, int z, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 0x5eed);
    seeding s;
    s.nearest.assign(n, 0);
    s.d2.assign(n, 0.0);
    std::vector<double> cum(n);
    std::size_t c = std::min(n - 1, static_cast<std::size_t>(rng.uniform_double(0) * double(n)));
    for (std::size_t j = 0; j < k; ++j) {
        s.centers.push_back(c);
        for (std::size_t i = 0; i < n; ++i) {
            const double dd = squared_distance(X + i * d, X + c * d, d);
            if (j == 0 || dd < s.d2[i]) {
                s.d2[i] = dd;
                s.nearest[i] = j;
            }
        }
        if (j + 1 == k) break;
        double acc = 0.0;
        for (std::size_t i = 0; i < n; ++i) cum[i] = acc += (z == 2 ? s.d2[i] : std::sqrt(s.d2[i]));
        if (acc > 0.0)
            c = search(cum, rng.uniform_double(j + 1));
        else
            c = std::min(n - 1, static_cast<std::size_t>(rng.uniform_double(j + 1) * double(n)));
    }
    return s;
}

/// Cost of fixed centers, the textbook double loop: every point against every center (scalar
/// squared distance in double), the nearest kept; sum of d^z. C is k x d row-major.
template <class T>
double clustering_cost(const T* X, std::size_t n, std::size_t d, const T* C, std::size_t k, int z) {
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        double best = squared_distance(X + i * d, C, d);
        for (std::size_t j = 1; j < k; ++j) best = std::min(best, squared_distance(X + i * d, C + j * d, d));
        total += z == 2 ? best : std::sqrt(best);
    }
    return total;
}

/// m i.i.d. draws from masses (cumulative sums + binary search); weight total / (m mass_i).
inline coreset draw(const std::vector<double>& mass, std::size_t m, const kestrel::counter_rng& rng) {
    std::vector<double> cum(mass.size());
    double acc = 0.0;
    for (std::size_t i = 0; i < mass.size(); ++i) cum[i] = acc += mass[i];
    coreset c;
    for (std::size_t j = 0; j < m; ++j) {
        const std::size_t i = search(cum, rng.uniform_double(j));
        c.indices.push_back(i);
        c.weights.push_back(acc / (double(m) * mass[i]));
    }
    return c;
}

/// Sensitivity coreset: sequential D^z seeding of k centers, s_i = cost_i / cost(cluster) +
/// 1 / |cluster|, m draws with p = s / S, weights 1 / (m p).
template <class T>
coreset sensitivity_coreset(const T* X, std::size_t n, std::size_t d, std::size_t k, std::size_t m, int z,
                            std::uint64_t seed) {
    const seeding s = dz_seeding(X, n, d, k, z, seed);
    std::vector<double> cost(n), cluster_cost(k, 0.0), cluster_size(k, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        cost[i] = z == 2 ? s.d2[i] : std::sqrt(s.d2[i]);
        cluster_cost[s.nearest[i]] += cost[i];
        cluster_size[s.nearest[i]] += 1.0;
    }
    std::vector<double> sens(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t j = s.nearest[i];
        sens[i] = (cluster_cost[j] > 0.0 ? cost[i] / cluster_cost[j] : 0.0) + 1.0 / cluster_size[j];
    }
    return draw(sens, m, kestrel::counter_rng(seed, 0xc0de5e7));
}

/// Lightweight coreset: q_i = 1/(2n) + d(x_i, mean)^2 / (2 sum d^2).
template <class T>
coreset lightweight_coreset(const T* X, std::size_t n, std::size_t d, std::size_t m, std::uint64_t seed) {
    std::vector<double> mu(d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < d; ++t) mu[t] += double(X[i * d + t]);
    for (auto& v : mu) v /= double(n);
    std::vector<double> d2(n);
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (std::size_t t = 0; t < d; ++t) s += (double(X[i * d + t]) - mu[t]) * (double(X[i * d + t]) - mu[t]);
        total += d2[i] = s;
    }
    std::vector<double> q(n);
    for (std::size_t i = 0; i < n; ++i) q[i] = 0.5 / double(n) + 0.5 * d2[i] / total;
    return draw(q, m, kestrel::counter_rng(seed, 0x119e7));
}

/// Uniform sampling with replacement, weights n / m.
inline coreset uniform_coreset(std::size_t n, std::size_t m, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 0x0417f);
    coreset c;
    for (std::size_t j = 0; j < m; ++j) {
        c.indices.push_back(std::min(n - 1, static_cast<std::size_t>(rng.uniform_double(j) * double(n))));
        c.weights.push_back(double(n) / double(m));
    }
    return c;
}

}  // namespace sensitivity_coresets
}  // namespace kestrel_baseline
