// Initializations, dissimilarity matrices and silhouettes against direct computations.
#include <catch2/catch.hpp>

#include <kestrel/kmedoids.hpp>

#include <cmath>
#include <set>
#include <vector>

#include "kmedoids_test_util.hpp"

namespace km = kestrel::kmedoids;

TEST_CASE("PAM BUILD equals a direct greedy implementation") {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        const auto in = kmedoids_test::integer_instance(60, seed, 7);
        const auto d = in.dissimilarity();
        const std::size_t k = 6;
        // Direct: argmin of row sums, then repeatedly the point with the largest loss decrease.
        std::vector<std::size_t> ref;
        double best = 1e300;
        std::size_t first = 0;
        for (std::size_t c = 0; c < 60; ++c) {
            double s = 0;
            for (std::size_t j = 0; j < 60; ++j) s += d(c, j);
            if (s < best) best = s, first = c;
        }
        ref.push_back(first);
        while (ref.size() < k) {
            double g_best = -1;
            std::size_t pick = 0;
            for (std::size_t c = 0; c < 60; ++c) {
                if (std::find(ref.begin(), ref.end(), c) != ref.end()) continue;
                std::vector<std::size_t> with = ref;
                with.push_back(c);
                const double g = kmedoids_test::direct_loss(d, ref) - kmedoids_test::direct_loss(d, with);
                if (g > g_best) g_best = g, pick = c;
            }
            ref.push_back(pick);
        }
        CHECK(km::pam_build(d, k) == ref);
    }
}

TEST_CASE("random, LAB and k-means++ initializations: k distinct medoids, reproducible from the seed") {
    const auto in = kmedoids_test::blob_instance(500, 5, 2, 10.0, 2);
    const auto d = in.dissimilarity();
    for (std::size_t k : {1u, 5u, 50u}) {
        for (const auto& m : {km::random_medoids(500, k, 3), km::lab_medoids(d, k, 3), km::kmeanspp_medoids(d, k, 3)}) {
            REQUIRE(m.size() == k);
            REQUIRE(std::set<std::size_t>(m.begin(), m.end()).size() == k);
            for (auto i : m) REQUIRE(i < 500);
        }
        CHECK(km::lab_medoids(d, k, 3) == km::lab_medoids(d, k, 3));
        CHECK(km::kmeanspp_medoids(d, k, 3) == km::kmeanspp_medoids(d, k, 3));
        CHECK(km::random_medoids(500, k, 3) == km::random_medoids(500, k, 3));
    }
    CHECK(km::random_medoids(500, 5, 3) != km::random_medoids(500, 5, 4));
    // LAB approximates BUILD: on well separated blobs both hit every blob, and LAB's loss
    // is within 20% of BUILD's (k = 5 blobs).
    const double build_loss = kmedoids_test::direct_loss(d, km::pam_build(d, 5));
    CHECK(kmedoids_test::direct_loss(d, km::lab_medoids(d, 5, 3)) <= 1.2 * build_loss);
    // k-means++ never picks a point at dissimilarity 0 from a chosen medoid while others remain.
    const auto dup = kmedoids_test::integer_instance(50, 9, 2);  // only 4 distinct points
    const auto m = km::kmeanspp_medoids(dup.dissimilarity(), 4, 1);
    std::set<std::pair<double, double>> distinct;
    for (auto i : m) distinct.insert({dup.points[2 * i], dup.points[2 * i + 1]});
    CHECK(distinct.size() == 4);
}

TEST_CASE("dissimilarity_matrix computes each metric, symmetric with zero diagonal") {
    const std::vector<double> p = {0, 0, 3, 4, -1, 2, 0, 0};
    const kestrel::matrix_view<const double> pts(p.data(), 4, 2);
    std::vector<double> m(16);
    const kestrel::matrix_view<double> mv(m.data(), 4, 4);
    km::dissimilarity_matrix(pts, mv, km::euclidean());
    CHECK(m[0 * 4 + 1] == 5.0);
    CHECK(m[1 * 4 + 0] == 5.0);
    CHECK(m[0 * 4 + 3] == 0.0);
    CHECK(m[1 * 4 + 2] == Approx(std::sqrt(16.0 + 4.0)));
    km::dissimilarity_matrix(pts, mv, km::squared_euclidean());
    CHECK(m[1 * 4 + 2] == 20.0);
    km::dissimilarity_matrix(pts, mv, km::manhattan());
    CHECK(m[1 * 4 + 2] == 6.0);
    km::dissimilarity_matrix(pts, mv, km::cosine(), kestrel::exec_policy{2});
    CHECK(m[1 * 4 + 2] == Approx(1.0 - (-3.0 + 8.0) / (5.0 * std::sqrt(5.0))));
    CHECK(m[0 * 4 + 1] == 1.0);  // zero vector
    for (int i = 0; i < 4; ++i) CHECK(m[i * 5] == 0.0);
    std::vector<double> wrong(9);
    CHECK_THROWS_WITH(km::dissimilarity_matrix(pts, kestrel::matrix_view<double>(wrong.data(), 3, 3)),
                      Catch::Contains("must be 4 x 4"));
}

TEST_CASE("silhouette and medoid silhouette equal direct computations") {
    const auto in = kmedoids_test::blob_instance(180, 4, 2, 4.0, 8);
    const auto d = in.dissimilarity();
    const auto r = km::fasterpam(d, km::pam_build(d, 4));
    std::vector<double> per;
    const double s1 = km::silhouette(d, r.labels, &per, kestrel::exec_policy{1});
    const double s2 = km::silhouette(d, r.labels, nullptr, kestrel::exec_policy{2});
    CHECK(s1 == s2);
    double mean = 0;
    for (std::size_t j = 0; j < 180; ++j) {
        double a = 0, na = 0, b = 1e300;
        for (std::size_t l = 0; l < 4; ++l) {
            double s = 0, cnt = 0;
            for (std::size_t o = 0; o < 180; ++o)
                if (r.labels[o] == l && o != j) s += d(j, o), cnt += 1;
            if (l == r.labels[j]) a = s, na = cnt;
            else if (cnt > 0) b = std::min(b, s / cnt);
        }
        a /= na;
        const double sj = (b - a) / std::max(a, b);
        REQUIRE(per[j] == Approx(sj).epsilon(1e-12));
        mean += sj;
    }
    CHECK(s1 == Approx(mean / 180).epsilon(1e-12));
    CHECK(s1 > 0.3);  // blobs, moderately separated

    std::vector<double> mper;
    const double ms = km::medoid_silhouette(d, r.medoids, &mper);
    double mref = 0;
    for (std::size_t j = 0; j < 180; ++j) {
        std::vector<double> dist;
        for (auto m : r.medoids) dist.push_back(d(j, m));
        std::sort(dist.begin(), dist.end());
        const double v = dist[1] > 0 ? 1 - dist[0] / dist[1] : 0.0;
        REQUIRE(mper[j] == Approx(v).epsilon(1e-12));
        mref += v;
    }
    CHECK(ms == Approx(mref / 180).epsilon(1e-12));
    // Singletons have silhouette 0.
    std::vector<std::size_t> labels(180, 0);
    labels[5] = 1;
    km::silhouette(d, labels, &per);
    CHECK(per[5] == 0.0);
    CHECK_THROWS_WITH(km::silhouette(d, std::vector<std::size_t>(3, 0)), Catch::Contains("size 3"));
    CHECK_THROWS_WITH(km::medoid_silhouette(d, {1}), Catch::Contains("k >= 2"));
}
