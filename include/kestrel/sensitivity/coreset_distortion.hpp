// Distortion of a clustering coreset: the largest relative error of its cost,
//     max_C |cost_coreset(C) - cost_full(C)| / cost_full(C),
// over a set of candidate center sets C, with the maximum of each family of candidates:
//  * random_subset      k distinct data points drawn uniformly (the solutions a coreset that
//                       only looks at dense regions gets wrong: they miss small far clusters);
//  * kmeanspp           D^z seedings (dz_seeding) with different seeds;
//  * perturbed_optimum  a reference solution (weighted Lloyd from k-means++ on the full
//                       data) with every center coordinate moved by noise * r / sqrt(d) *
//                       N(0, 1), r = (cost / W)^(1/z) the typical point-to-center distance;
//  * small_cluster      adversarial: from the reference solution, take its smallest
//                       non-empty cluster (by weight); alternately move one of the OTHER
//                       centers onto a random point of that cluster (a region left uncovered,
//                       the small cluster doubly served), or move the small cluster's own
//                       center onto a random data point (the small cluster left uncovered,
//                       where a coreset that lacks it errs most).
// The reference solution is Lloyd's for z = 2 and z = 1 alike (any center set is a valid
// candidate). A candidate whose full cost is 0 is skipped (relative error undefined).
// Candidates and their full costs are built once (make_candidates) and reused for any
// number of coresets of the same data.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "clustering_coreset.hpp"
#include "dz_seeding.hpp"
#include "kmeans_distances.hpp"
#include "weighted_lloyd.hpp"

namespace kestrel {
namespace sensitivity {

enum class candidate_family { random_subset = 0, kmeanspp = 1, perturbed_optimum = 2, small_cluster = 3 };

struct coreset_distortion_options {
    std::size_t random_subsets = 8;      ///< candidates of each family
    std::size_t kmeanspp_solutions = 3;
    std::size_t perturbed_optima = 8;
    std::size_t small_cluster = 8;
    double noise = 0.5;                  ///< perturbation scale (relative to r / sqrt(d))
    std::size_t lloyd_iterations = 10;   ///< Lloyd steps of the reference solution
    int z = 2;
    std::uint64_t seed = 1;
    exec_policy policy = {};
};

/// Candidate center sets (each k x d, row-major), their families and full-data costs.
template <class T>
struct candidate_set {
    std::size_t k = 0, d = 0;
    int z = 2;
    std::vector<std::vector<T>> centers;
    std::vector<candidate_family> family;
    std::vector<double> full_cost;
    std::size_t size() const noexcept { return centers.size(); }
};

/// Maximum relative cost error over all candidates and per family (0 for an empty family).
struct coreset_distortion_report {
    double max = 0.0;
    double random_subset = 0.0, kmeanspp = 0.0, perturbed_optimum = 0.0, small_cluster = 0.0;
    std::size_t candidates = 0;  ///< candidates evaluated (full cost > 0)
};

namespace detail {

inline void require_distortion_options(const coreset_distortion_options& o, const char* fn) {
    require_valid_policy(o.policy, fn);
    require_z(o.z, fn);
    require(o.noise >= 0.0 && std::isfinite(o.noise), fn, "noise", "must be finite and >= 0, got ", o.noise);
    require(o.random_subsets + o.kmeanspp_solutions + o.perturbed_optima + o.small_cluster >= 1, fn, "options",
            "asks for no candidate at all");
}

/// Weighted cost of `centers` on rows `rows` (m x d) with double weights.
template <class T>
double weighted_cost_rows(const_matrix_view<T> rows, const std::vector<double>& w, const_matrix_view<T> centers,
                          int z, exec_policy policy) {
    std::vector<std::size_t> label(rows.rows());
    std::vector<double> d2(rows.rows());
    assign_all(rows, centers, label.data(), d2.data(), policy);
    double s = 0.0;
    for (std::size_t j = 0; j < d2.size(); ++j) s += w[j] * power_from_squared(d2[j], z);
    return s;
}

}  // namespace detail

/// Builds the candidate center sets of the header comment for k centers, with their costs on
/// the full data. Validates points, weights, 1 <= k <= n, z, noise, at least one candidate.
template <class T>
candidate_set<std::remove_cv_t<T>> make_candidates(const_matrix_view<T> points, vector_view<const T> weights,
                                                   std::size_t k, const coreset_distortion_options& options = {}) {
    using V = std::remove_cv_t<T>;
    const char* fn = "make_candidates";
    detail::require_distortion_options(options, fn);
    const double total = detail::validate_points(points, weights, fn);
    const std::size_t n = points.rows(), d = points.cols();
    require(k >= 1 && k <= n, fn, "k", "must lie in [1, n = ", n, "], got ", k);
    const counter_rng rng(options.seed, 0xd157);
    std::uint64_t draw = 0;
    candidate_set<V> cs;
    cs.k = k;
    cs.d = d;
    cs.z = options.z;
    const auto from_indices = [&](const std::vector<std::size_t>& idx) {
        std::vector<V> c(k * d);
        for (std::size_t j = 0; j < k; ++j) std::copy(points.row_data(idx[j]), points.row_data(idx[j]) + d, c.begin() + j * d);
        return c;
    };
    const auto add = [&](std::vector<V> c, candidate_family f) {
        cs.centers.push_back(std::move(c));
        cs.family.push_back(f);
    };
    // Random k-subsets (Floyd's algorithm: k distinct indices, uniform).
    for (std::size_t s = 0; s < options.random_subsets; ++s) {
        std::unordered_set<std::size_t> chosen;
        std::vector<std::size_t> idx;
        for (std::size_t j = n - k; j < n; ++j) {
            const std::size_t t = std::min(j, static_cast<std::size_t>(rng.uniform_double(draw++) * double(j + 1)));
            const std::size_t pick = chosen.count(t) ? j : t;
            chosen.insert(pick);
            idx.push_back(pick);
        }
        add(from_indices(idx), candidate_family::random_subset);
    }
    for (std::size_t s = 0; s < options.kmeanspp_solutions; ++s) {
        seeding_options so;
        so.z = options.z;
        so.seed = options.seed * 1000003u + 17u + s;
        so.policy = options.policy;
        add(from_indices(dz_seeding(points, weights, k, so).centers), candidate_family::kmeanspp);
    }
    if (options.perturbed_optima + options.small_cluster > 0) {
        lloyd_options lo;
        lo.max_iterations = options.lloyd_iterations;
        lo.policy = options.policy;
        const auto ref = weighted_kmeans(points, weights, k, options.seed * 7919u + 3u, lo);
        const double ref_cost = options.z == 2 ? ref.cost : clustering_cost(points, weights, ref.centers_view(), 1, options.policy);
        const double r = std::pow(ref_cost / total, 1.0 / options.z);
        const double sigma = options.noise * r / std::sqrt(static_cast<double>(d));
        for (std::size_t s = 0; s < options.perturbed_optima; ++s) {
            std::vector<V> c = ref.centers;
            for (auto& v : c) v = static_cast<V>(static_cast<double>(v) + sigma * rng.normal(draw++));
            add(std::move(c), candidate_family::perturbed_optimum);
        }
        if (options.small_cluster > 0) {
            std::vector<double> cw(k, 0.0);
            for (std::size_t i = 0; i < n; ++i) cw[ref.labels[i]] += detail::weight_of(weights, i);
            std::size_t small = k;
            for (std::size_t j = 0; j < k; ++j)
                if (cw[j] > 0.0 && (small == k || cw[j] < cw[small])) small = j;
            std::vector<std::size_t> members;
            for (std::size_t i = 0; i < n; ++i)
                if (ref.labels[i] == small && detail::weight_of(weights, i) > 0.0) members.push_back(i);
            std::size_t other = 0;
            for (std::size_t s = 0; s < options.small_cluster; ++s) {
                std::vector<V> c = ref.centers;
                if (s % 2 == 0 && k > 1) {
                    if (other == small) other = (other + 1) % k;
                    const std::size_t p = members[std::min(members.size() - 1,
                        static_cast<std::size_t>(rng.uniform_double(draw++) * double(members.size())))];
                    std::copy(points.row_data(p), points.row_data(p) + d, c.begin() + other * d);
                    other = (other + 1) % k;
                } else {
                    const std::size_t p = detail::draw_by_weight(weights, n, rng, draw++, options.policy);
                    std::copy(points.row_data(p), points.row_data(p) + d, c.begin() + small * d);
                }
                add(std::move(c), candidate_family::small_cluster);
            }
        }
    }
    cs.full_cost.resize(cs.size());
    for (std::size_t c = 0; c < cs.size(); ++c) {
        std::vector<std::size_t> label(n);
        std::vector<double> d2(n);
        detail::assign_all(points, const_matrix_view<V>(cs.centers[c].data(), k, d), label.data(), d2.data(),
                           options.policy);
        cs.full_cost[c] = detail::weighted_power_sum(d2, weights, options.z, options.policy);
    }
    return cs;
}

/// Distortion of `c` (a coreset of `points`) over prepared candidates. Validates the coreset
/// (indices < n, finite weights >= 0, sizes) and the candidates' dimensions.
template <class T>
coreset_distortion_report coreset_distortion(const_matrix_view<T> points, const candidate_set<std::remove_cv_t<T>>& candidates,
                                     const coreset& c, exec_policy policy = {}) {
    using V = std::remove_cv_t<T>;
    const char* fn = "coreset_distortion";
    require_valid_policy(policy, fn);
    require(points.rows() >= 1 && points.cols() >= 1, fn, "points", "is empty");
    require(candidates.d == points.cols() && candidates.size() >= 1, fn, "candidates",
            "do not match the points (d = ", candidates.d, ", ", candidates.size(), " candidates)");
    require(c.size() >= 1 && c.weights.size() == c.indices.size(), fn, "coreset", "has ", c.indices.size(),
            " indices and ", c.weights.size(), " weights");
    for (std::size_t j = 0; j < c.size(); ++j) {
        require(c.indices[j] < points.rows(), fn, "coreset", "index ", c.indices[j], " is out of range");
        require(c.weights[j] >= 0.0 && std::isfinite(c.weights[j]), fn, "coreset", "weight ", j, " is ",
                c.weights[j]);
    }
    const std::vector<V> rows = gather_rows(points, c);
    const const_matrix_view<V> R(rows.data(), c.size(), points.cols());
    coreset_distortion_report rep;
    for (std::size_t q = 0; q < candidates.size(); ++q) {
        const double full = candidates.full_cost[q];
        if (!(full > 0.0)) continue;
        const double est = detail::weighted_cost_rows(
            R, c.weights, const_matrix_view<V>(candidates.centers[q].data(), candidates.k, candidates.d),
            candidates.z, policy);
        const double e = std::abs(est - full) / full;
        ++rep.candidates;
        rep.max = std::max(rep.max, e);
        double* slot = candidates.family[q] == candidate_family::random_subset ? &rep.random_subset
                       : candidates.family[q] == candidate_family::kmeanspp    ? &rep.kmeanspp
                       : candidates.family[q] == candidate_family::perturbed_optimum ? &rep.perturbed_optimum
                                                                                     : &rep.small_cluster;
        *slot = std::max(*slot, e);
    }
    return rep;
}

/// One-call form: make_candidates, then coreset_distortion.
template <class T>
coreset_distortion_report coreset_distortion(const_matrix_view<T> points, vector_view<const T> weights, const coreset& c,
                                     std::size_t k, const coreset_distortion_options& options = {}) {
    const auto cs = make_candidates(points, weights, k, options);
    return coreset_distortion(points, cs, c, options.policy);
}

}  // namespace sensitivity
}  // namespace kestrel
