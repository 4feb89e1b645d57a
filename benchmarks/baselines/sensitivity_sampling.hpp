// Straightforward weighted sampling, the way one writes it without thinking about speed: the
// baselines of benchmarks/sensitivity_sampling.cpp, checked against the kernels in
// tests/sensitivity/test_sampling_baselines.cpp (in law, or exactly where the randomness is
// shared).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include <kestrel/core/random.hpp>

namespace kestrel_baseline {

/// m draws with std::discrete_distribution driven by std::mt19937_64 (agrees in law only).
template <class T>
std::vector<std::size_t> discrete_distribution_draws(const std::vector<T>& w, std::size_t m, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::discrete_distribution<std::size_t> dist(w.begin(), w.end());
    std::vector<std::size_t> out(m);
    for (auto& o : out) o = dist(gen);
    return out;
}

/// m draws by a cumulative sum and a binary search per draw, with the uniform
/// counter_rng::uniform_double(j) for draw j (agrees with the alias table in law).
template <class T>
std::vector<std::size_t> cumulative_search_draws(const std::vector<T>& w, std::size_t m, const kestrel::counter_rng& rng) {
    std::vector<double> c(w.size());
    double s = 0.0;
    for (std::size_t i = 0; i < w.size(); ++i) c[i] = s += static_cast<double>(w[i]);
    std::vector<std::size_t> out(m);
    for (std::size_t j = 0; j < m; ++j) {
        const double t = rng.uniform_double(j) * s;
        std::size_t i = static_cast<std::size_t>(std::upper_bound(c.begin(), c.end(), t) - c.begin());
        if (i == w.size()) i = w.size() - 1;
        while (!(w[i] > T(0))) --i;  // t rounded up to the total: the last positive item
        out[j] = i;
    }
    return out;
}

/// Without replacement: every positive item's key exponential(i) / w_i, sort all of them, keep
/// the m smallest (the same keys as the kernel, so the same sample exactly).
template <class T>
std::vector<std::size_t> sort_all_keys(const std::vector<T>& w, std::size_t m, const kestrel::counter_rng& rng) {
    std::vector<std::pair<double, std::size_t>> keys;
    keys.reserve(w.size());
    for (std::size_t i = 0; i < w.size(); ++i)
        if (w[i] > T(0)) keys.emplace_back(rng.exponential(i) / static_cast<double>(w[i]), i);
    std::sort(keys.begin(), keys.end());
    std::vector<std::size_t> out(m);
    for (std::size_t j = 0; j < m; ++j) out[j] = keys[j].second;
    return out;
}

/// Poisson sampling with a given scale c by a scalar loop: keep i iff u_i < min(1, c w_i) with the
/// per-item uniform of poisson_sample (half of Philox block i / 2). The baseline of the grouped
/// samplers (the same law, another draw).
template <class T>
std::vector<std::size_t> poisson_scalar_with_scale(const std::vector<T>& w, double c, const kestrel::counter_rng& rng) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < w.size(); ++i) {
        const auto b = rng.block(i >> 1);
        const double u = (i & 1) ? kestrel::random_conversion::u53_to_double(kestrel::counter_rng::join(b[2], b[3]))
                                 : kestrel::random_conversion::u53_to_double(kestrel::counter_rng::join(b[0], b[1]));
        const double p = w[i] > T(0) ? std::min(1.0, c * static_cast<double>(w[i])) : 0.0;
        if (u < p) out.push_back(i);
    }
    return out;
}

/// Poisson sampling by a scalar loop: total, then keep i iff u_i < min(1, (m / W) w_i) with the
/// kernel's uniform of index i (half of Philox block i / 2), so the same sample up to the
/// rounding of W (summed here in one serial pass).
template <class T>
std::vector<std::size_t> poisson_scalar(const std::vector<T>& w, double m, const kestrel::counter_rng& rng) {
    double total = 0.0;
    for (const T v : w) total += static_cast<double>(v);
    return poisson_scalar_with_scale(w, m / total, rng);
}

/// Systematic sampling by a serial walk over the cumulative sums with start U = uniform_double(0).
template <class T>
std::vector<std::size_t> systematic_serial(const std::vector<T>& w, std::size_t m, const kestrel::counter_rng& rng) {
    double total = 0.0;
    for (const T v : w) total += static_cast<double>(v);
    const double u = rng.uniform_double(0), h = total / static_cast<double>(m);
    std::vector<std::size_t> out;
    out.reserve(m);
    double c = 0.0;
    std::size_t k = 0, last = 0;
    for (std::size_t i = 0; i < w.size() && k < m; ++i) {
        c += static_cast<double>(w[i]);
        if (w[i] > T(0)) last = i;
        while (k < m && (u + static_cast<double>(k)) * h < c) out.push_back(i), ++k;
    }
    for (std::size_t i = w.size(); i-- > 0;)
        if (w[i] > T(0)) {
            last = i;
            break;
        }
    while (out.size() < m) out.push_back(last);
    return out;
}

}  // namespace kestrel_baseline
