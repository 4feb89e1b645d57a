// Instance generators and direct (textbook) computations for the k-medoids tests.
#pragma once

#include <catch2/catch.hpp>

#include <kestrel/core/random.hpp>
#include <kestrel/kmedoids/result.hpp>
#include <kestrel/kmedoids/dissimilarity.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

namespace kmedoids_test {

struct instance {
    std::size_t n, dim;
    std::vector<double> points;  // n x dim
    std::vector<double> matrix;  // n x n
    kestrel::kmedoids::dense_dissimilarity<double> dissimilarity() const {
        return kestrel::kmedoids::dense_dissimilarity<double>(kestrel::matrix_view<const double>(matrix.data(), n, n));
    }
};

/// Points on a small integer grid (many duplicates and tied dissimilarities) with the
/// Manhattan metric: every dissimilarity, and every sum of them, is an exact integer.
inline instance integer_instance(std::size_t n, std::uint64_t seed, int grid = 6) {
    const kestrel::counter_rng rng(seed, 11);
    instance in{n, 2, std::vector<double>(n * 2), std::vector<double>(n * n)};
    for (std::size_t i = 0; i < 2 * n; ++i) in.points[i] = std::floor(rng.uniform_double(i) * grid);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
            in.matrix[i * n + j] = std::abs(in.points[2 * i] - in.points[2 * j]) +
                                   std::abs(in.points[2 * i + 1] - in.points[2 * j + 1]);
    return in;
}

/// Gaussian blobs in `dim` dimensions (centres spread by `separation`), Euclidean.
inline instance blob_instance(std::size_t n, std::size_t centres, std::size_t dim, double separation,
                              std::uint64_t seed, std::vector<std::size_t>* truth = nullptr) {
    const kestrel::counter_rng rng(seed, 12);
    instance in{n, dim, std::vector<double>(n * dim), std::vector<double>(n * n)};
    std::vector<double> centre(centres * dim);
    std::uint64_t draw = 0;
    for (auto& c : centre) c = separation * (rng.uniform_double(draw++) * 2 - 1);
    if (truth) truth->resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = i % centres;
        if (truth) (*truth)[i] = c;
        for (std::size_t t = 0; t < dim; ++t) in.points[i * dim + t] = centre[c * dim + t] + rng.normal(draw++);
    }
    kestrel::kmedoids::dissimilarity_matrix(kestrel::matrix_view<const double>(in.points.data(), n, dim),
                                            kestrel::matrix_view<double>(in.matrix.data(), n, n));
    return in;
}

/// Loss and labels of a medoid set computed directly (nearest medoid, ties to lowest slot).
template <class D>
double direct_loss(const D& d, const std::vector<std::size_t>& medoids, std::vector<std::size_t>* labels = nullptr) {
    double loss = 0;
    if (labels) labels->assign(d.size(), 0);
    for (std::size_t j = 0; j < d.size(); ++j) {
        double best = std::numeric_limits<double>::infinity();
        for (std::size_t i = 0; i < medoids.size(); ++i) {
            const double v = d(j, medoids[i]);
            if (v < best) {
                best = v;
                if (labels) (*labels)[j] = i;
            }
        }
        loss += best;
    }
    return loss;
}

/// Labels and loss equal a direct computation; the medoids are distinct.
template <class D>
void check_consistent(const D& d, const kestrel::kmedoids::clustering& r) {
    std::vector<std::size_t> labels;
    const double loss = direct_loss(d, r.medoids, &labels);
    REQUIRE(r.labels == labels);
    REQUIRE(r.loss == Approx(loss).epsilon(1e-12).margin(1e-12));
    REQUIRE(std::set<std::size_t>(r.medoids.begin(), r.medoids.end()).size() == r.medoids.size());
}

/// No single swap (medoid slot i -> any non-medoid h) lowers the loss by more than tol:
/// brute force.
template <class D>
void check_swap_local_optimum(const D& d, const kestrel::kmedoids::clustering& r, double tol) {
    std::vector<std::size_t> m = r.medoids;
    for (std::size_t i = 0; i < m.size(); ++i)
        for (std::size_t h = 0; h < d.size(); ++h) {
            if (std::find(r.medoids.begin(), r.medoids.end(), h) != r.medoids.end()) continue;
            m[i] = h;
            REQUIRE(direct_loss(d, m) >= r.loss - tol);
            m[i] = r.medoids[i];
        }
}

/// Two runs gave the same result to the bit (e.g. at 1 and 2 threads).
inline void check_identical(const kestrel::kmedoids::clustering& a, const kestrel::kmedoids::clustering& b) {
    CHECK(a.medoids == b.medoids);
    CHECK(a.labels == b.labels);
    CHECK(a.loss == b.loss);
    CHECK(a.iterations == b.iterations);
    CHECK(a.swaps == b.swaps);
}

/// The same for medoid-silhouette results.
template <class R>
auto check_identical(const R& a, const R& b) -> decltype(a.silhouette, void()) {
    check_identical(a.result, b.result);
    CHECK(a.silhouette == b.silhouette);
}

/// The labels are the generating partition, up to renaming.
inline void check_partition(const std::vector<std::size_t>& labels, const std::vector<std::size_t>& truth,
                            std::size_t k) {
    std::vector<long> map(k, -1);
    for (std::size_t j = 0; j < truth.size(); ++j) {
        if (map[truth[j]] < 0) map[truth[j]] = long(labels[j]);
        REQUIRE(map[truth[j]] == long(labels[j]));
    }
    CHECK(std::set<long>(map.begin(), map.end()).size() == k);
}

}  // namespace kmedoids_test
