// FastMSC and DynMSC (medoid silhouette optimization).
#include <catch2/catch.hpp>

#include <kestrel/kmedoids.hpp>
#include <kestrel/kmedoids/medoid_silhouette_optimizer.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "baselines/kmedoids.hpp"
#include "kmedoids_test_util.hpp"

namespace km = kestrel::kmedoids;
using kmedoids_test::direct_loss;

namespace {
// The brute-force references are the benchmarks' baselines (so these tests check both).
template <class D>
double naive_msc(const D& d, const std::vector<std::size_t>& m) {
    return kestrel_baseline::medoid_silhouette_direct(d, m);
}
template <class D>
kestrel_baseline::pammedsil_result naive_pammedsil(const D& d, std::vector<std::size_t> m, std::size_t max_iter = 100) {
    return kestrel_baseline::pammedsil(d, std::move(m), max_iter);
}

// No single swap raises the medoid silhouette by more than tol.
template <class D>
void check_msc_local_optimum(const D& d, const std::vector<std::size_t>& medoids, double value, double tol) {
    std::vector<std::size_t> m = medoids;
    for (std::size_t i = 0; i < m.size(); ++i)
        for (std::size_t h = 0; h < d.size(); ++h) {
            if (std::find(medoids.begin(), medoids.end(), h) != medoids.end()) continue;
            m[i] = h;
            REQUIRE(naive_msc(d, m) <= value + tol);
            m[i] = medoids[i];
        }
}

template <class D>
void check_consistent(const D& d, const km::msc_result& r) {
    std::vector<std::size_t> labels;
    const double loss = direct_loss(d, r.result.medoids, &labels);
    REQUIRE(r.result.labels == labels);
    REQUIRE(r.result.loss == Approx(loss).epsilon(1e-12).margin(1e-12));
    REQUIRE(r.silhouette == Approx(naive_msc(d, r.result.medoids)).epsilon(1e-12).margin(1e-12));
    REQUIRE(r.silhouette == Approx(km::medoid_silhouette(d, r.result.medoids)).epsilon(1e-12).margin(1e-12));
    REQUIRE(std::set<std::size_t>(r.result.medoids.begin(), r.result.medoids.end()).size() == r.result.medoids.size());
}
}  // namespace

TEST_CASE("FastMSC makes the same swaps as brute-force PAMMEDSIL on real-valued instances") {
    int instances = 0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        for (std::size_t k : {2u, 3u, 5u}) {
            const std::size_t n = 30 + 7 * seed;
            const auto in = kmedoids_test::blob_instance(n, 3, 2, 3.0, seed);
            const auto d = in.dissimilarity();
            const auto start = km::random_medoids(n, k, seed + 100 * k);
            const auto naive = naive_pammedsil(d, start);
            const auto fast = km::fastmsc(d, start);
            INFO("seed=" << seed << " k=" << k);
            check_consistent(d, fast);
            CHECK(fast.silhouette == Approx(naive.silhouette).epsilon(1e-12));
            CHECK(fast.result.medoids == naive.medoids);
            CHECK(fast.result.iterations == naive.iterations);
            CHECK(fast.result.swaps == naive.swaps);
            ++instances;
        }
    }
    CHECK(instances == 18);
}

TEST_CASE("FastMSC ends in a local optimum of the medoid silhouette, which never decreases") {
    // Integer grids: duplicates, ties and points at dissimilarity 0 from two medoids.
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        const std::size_t n = 25 + 3 * seed, k = 2 + seed % 4;
        const auto in = kmedoids_test::integer_instance(n, seed, seed % 2 ? 4 : 7);
        const auto d = in.dissimilarity();
        const auto start = km::random_medoids(n, k, seed);
        const double start_msc = naive_msc(d, start);
        const auto r = km::fastmsc(d, start);
        INFO("seed=" << seed << " n=" << n << " k=" << k);
        check_consistent(d, r);
        check_msc_local_optimum(d, r.result.medoids, r.silhouette, 1e-12);
        CHECK(r.silhouette >= start_msc);
        double prev = start_msc;
        for (std::size_t t = 1; t <= 6; ++t) {
            km::swap_options o;
            o.max_iter = t;
            const auto rt = km::fastmsc(d, start, o);
            CHECK(rt.silhouette >= prev - 1e-12);
            CHECK(rt.result.iterations <= t);
            prev = rt.silhouette;
        }
        // Brute force agrees on the final value here too (exact ties may pick other medoids).
        CHECK(naive_pammedsil(d, start).silhouette == Approx(r.silhouette).epsilon(1e-12).margin(1e-12));
    }
}

TEST_CASE("FastMSC: 1 and 2 threads bit-identical, float close to double, point source equals matrix") {
    const auto in = kmedoids_test::blob_instance(500, 6, 3, 3.0, 4);
    const auto d = in.dissimilarity();
    const auto start = km::random_medoids(500, 12, 3);
    km::swap_options one, two;
    one.policy = kestrel::exec_policy{1};
    two.policy = kestrel::exec_policy{2};
    const auto a = km::fastmsc(d, start, one);
    kmedoids_test::check_identical(a, km::fastmsc(d, start, two));
    std::vector<float> mf(in.matrix.begin(), in.matrix.end());
    const km::dense_dissimilarity<float> df(kestrel::matrix_view<const float>(mf.data(), 500, 500));
    CHECK(km::fastmsc(df, start).silhouette == Approx(a.silhouette).epsilon(1e-4));
    const km::point_dissimilarity<double> dp(kestrel::matrix_view<const double>(in.points.data(), 500, 3));
    CHECK(km::fastmsc(dp, start).result.medoids == a.result.medoids);
    const auto d1 = km::dynmsc(d, start, 3, one), d2 = km::dynmsc(d, start, 3, two);
    CHECK(d1.best_k == d2.best_k);
    CHECK(d1.silhouettes == d2.silhouettes);
    CHECK(d1.best.result.medoids == d2.best.result.medoids);
}

TEST_CASE("DynMSC picks the true number of well-separated blobs") {
    for (std::uint64_t seed : {42u, 7u, 13u}) {
        std::vector<std::size_t> truth;
        const auto in = kmedoids_test::blob_instance(240, 4, 2, 60.0, seed, &truth);
        const auto d = in.dissimilarity();
        const auto r = km::dynmsc(d, km::pam_build(d, 8), 2);
        INFO("seed=" << seed);
        REQUIRE(r.silhouettes.size() == 7);
        CHECK(r.k_min == 2);
        CHECK(r.best_k == 4);
        CHECK(r.best.result.medoids.size() == r.best_k);
        check_consistent(d, r.best);
        CHECK(r.silhouettes[r.best_k - 2] == r.best.silhouette);
        for (double s : r.silhouettes) CHECK(s <= r.best.silhouette);
        // The chosen clustering is the generating partition.
        kmedoids_test::check_partition(r.best.result.labels, truth, 4);
    }
    // k_min = k_max is FastMSC.
    const auto in = kmedoids_test::blob_instance(100, 3, 2, 5.0, 1);
    const auto d = in.dissimilarity();
    const auto start = km::random_medoids(100, 4, 2);
    const auto one = km::dynmsc(d, start, 4, {}, km::msc_search::best);
    const auto fast = km::fastmsc(d, start);
    CHECK(one.best_k == 4);
    CHECK(one.best.result.medoids == fast.result.medoids);
    CHECK(one.silhouettes == std::vector<double>{fast.silhouette});
    const auto eager = km::dynmsc(d, start, 4);
    const auto faster = km::fastermsc(d, start);
    CHECK(eager.best.result.medoids == faster.result.medoids);
    CHECK(eager.silhouettes == std::vector<double>{faster.silhouette});
}

TEST_CASE("FasterMSC: local optimum of the medoid silhouette, never worse than its start, thread-count invariant") {
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        const std::size_t n = 25 + 4 * seed, k = 2 + seed % 5;
        const auto in = seed % 2 ? kmedoids_test::integer_instance(n, seed, 6)
                                 : kmedoids_test::blob_instance(n, 3, 2, 3.0, seed);
        const auto d = in.dissimilarity();
        const auto start = km::random_medoids(n, k, seed + 9);
        const auto r = km::fastermsc(d, start);
        INFO("seed=" << seed << " n=" << n << " k=" << k);
        check_consistent(d, r);
        check_msc_local_optimum(d, r.result.medoids, r.silhouette, 1e-12);
        CHECK(r.silhouette >= naive_msc(d, start));
        // Eager search: far fewer passes than the best-swap search on the same start.
        CHECK(r.result.iterations <= km::fastmsc(d, start).result.iterations + 1);
    }
    const auto in = kmedoids_test::blob_instance(600, 6, 3, 3.0, 5);
    const auto d = in.dissimilarity();
    const auto start = km::random_medoids(600, 15, 8);
    km::swap_options one, two;
    one.policy = kestrel::exec_policy{1};
    two.policy = kestrel::exec_policy{2};
    kmedoids_test::check_identical(km::fastermsc(d, start, one), km::fastermsc(d, start, two));
    CHECK_THROWS_WITH(km::fastermsc(d, {3}), Catch::Contains("kestrel::fastermsc") && Catch::Contains("k >= 2"));
}

TEST_CASE("FastMSC and DynMSC refuse bad arguments") {
    const auto in = kmedoids_test::integer_instance(10, 1);
    const auto d = in.dissimilarity();
    using Catch::Contains;
    CHECK_THROWS_WITH(km::fastmsc(d, {3}), Contains("kestrel::fastmsc") && Contains("k >= 2"));
    CHECK_THROWS_AS(km::fastmsc(d, {}), kestrel::invalid_argument);
    CHECK_THROWS_WITH(km::fastmsc(d, {1, 1}), Contains("appears twice"));
    CHECK_THROWS_WITH(km::fastmsc(d, {1, 10}), Contains("out of range"));
    CHECK_THROWS_WITH(km::dynmsc(d, {1, 2, 3}, 1), Contains("kestrel::dynmsc") && Contains("k_min"));
    CHECK_THROWS_WITH(km::dynmsc(d, {1, 2, 3}, 4), Contains("exceeds k_max"));
    CHECK_THROWS_AS(km::dynmsc(d, {1, 2, 2}, 2), kestrel::invalid_argument);
    std::vector<double> m = in.matrix;
    m[3] = std::nan("");
    const km::dense_dissimilarity<double> dn(kestrel::matrix_view<const double>(m.data(), 10, 10));
    CHECK_THROWS_WITH(km::fastmsc(dn, {0, 1}), Contains("entry (0, 3)"));
    CHECK_THROWS_WITH(km::dynmsc(dn, {0, 1, 2}, 2), Contains("entry (0, 3)"));
}
