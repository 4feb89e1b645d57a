// PAM, FastPAM1, FasterPAM and the alternating heuristic.
#include <catch2/catch.hpp>

#include <kestrel/kmedoids.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <functional>
#include <string>
#include <utility>
#include <set>
#include <vector>

#include "kmedoids_test_util.hpp"

namespace km = kestrel::kmedoids;
using kmedoids_test::direct_loss;

using kmedoids_test::check_consistent;
using kmedoids_test::check_partition;
using kmedoids_test::check_swap_local_optimum;

TEST_CASE("FastPAM1 returns exactly what original PAM SWAP returns (exact integer dissimilarities, ties, duplicates)") {
    int instances = 0;
    for (std::size_t n : {5u, 12u, 40u, 97u, 180u, 300u}) {
        for (std::size_t k : {1u, 2u, 3u, 7u, 12u, 20u}) {
            if (k > n) continue;
            if (n == 300 && k > 12) continue;  // PAM is O(k n^2) per iteration: keep the test quick
            const auto in = kmedoids_test::integer_instance(n, 1000 * n + k, n < 50 ? 3 : 8);
            const auto d = in.dissimilarity();
            for (int init = 0; init < 2; ++init) {
                const auto start = init == 0 ? km::pam_build(d, k) : km::random_medoids(n, k, n + k);
                const auto pam = km::pam_swap(d, start);
                const auto fast = km::fastpam1(d, start);
                INFO("n=" << n << " k=" << k << " init=" << init);
                REQUIRE(fast.medoids == pam.medoids);
                REQUIRE(fast.labels == pam.labels);
                REQUIRE(fast.loss == pam.loss);
                REQUIRE(fast.iterations == pam.iterations);
                REQUIRE(fast.swaps == pam.swaps);
                check_consistent(d, pam);
                ++instances;
            }
        }
    }
    CHECK(instances >= 50);
}

TEST_CASE("FastPAM1 equals PAM when dissimilarities differ below float resolution (the float filter of the double pass)") {
    // Integer grid distances plus multiples of 2^-30: many values round to the same float, so
    // the float filter lets through points that the exact check must reject. Every value and
    // every sum of them stays exact in double, so PAM and FastPAM1 must agree bit for bit.
    for (std::size_t n : {60u, 150u}) {
        const auto in = kmedoids_test::integer_instance(n, 77 + n, 5);
        std::vector<double> m = in.matrix;
        const kestrel::counter_rng rng(n, 3);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = i + 1; j < n; ++j)
                m[i * n + j] = m[j * n + i] = m[i * n + j] + std::ldexp(std::floor(rng.uniform_double(i * n + j) * 256), -30);
        const km::dense_dissimilarity<double> d(kestrel::matrix_view<const double>(m.data(), n, n));
        for (std::size_t k : {2u, 5u, 9u}) {
            const auto start = km::random_medoids(n, k, k);
            const auto pam = km::pam_swap(d, start);
            const auto fast = km::fastpam1(d, start);
            INFO("n=" << n << " k=" << k);
            REQUIRE(fast.medoids == pam.medoids);
            REQUIRE(fast.labels == pam.labels);
            REQUIRE(fast.loss == pam.loss);
            REQUIRE(fast.swaps == pam.swaps);
        }
    }
}

TEST_CASE("the float filter value is the smallest float not below the double") {
    using cache = km::detail::nearest_cache<double>;
    const kestrel::counter_rng rng(9, 9);
    for (std::uint64_t t = 0; t < 20000; ++t) {
        const double v = std::ldexp(rng.uniform_double(2 * t), int(std::floor(rng.uniform_double(2 * t + 1) * 200)) - 150);
        const float f = cache::round_up_to_float(v);
        REQUIRE(double(f) >= v);
        REQUIRE(double(std::nextafter(f, -1.0f)) < v);
    }
    const double big = 1e300, fmax = double(std::numeric_limits<float>::max());
    CHECK(cache::round_up_to_float(big) == std::numeric_limits<float>::infinity());
    CHECK(cache::round_up_to_float(std::nextafter(fmax, 2 * fmax)) == std::numeric_limits<float>::infinity());
    CHECK(cache::round_up_to_float(fmax) == std::numeric_limits<float>::max());
    CHECK(cache::round_up_to_float(std::numeric_limits<double>::infinity()) == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(cache::round_up_to_float(std::numeric_limits<double>::quiet_NaN())));
    CHECK(cache::round_up_to_float(0.0) == 0.0f);
    CHECK(double(cache::round_up_to_float(1e-320)) >= 1e-320);
}

TEST_CASE("FastPAM1 equals PAM on real-valued Euclidean instances, float and double") {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const auto in = kmedoids_test::blob_instance(120, 4, 3, 3.0, seed);
        const auto d = in.dissimilarity();
        const auto start = km::random_medoids(120, 6, seed);
        const auto pam = km::pam_swap(d, start);
        const auto fast = km::fastpam1(d, start);
        REQUIRE(fast.medoids == pam.medoids);
        REQUIRE(fast.labels == pam.labels);
        REQUIRE(fast.loss == Approx(pam.loss).epsilon(1e-12));
        std::vector<float> mf(in.matrix.begin(), in.matrix.end());
        const km::dense_dissimilarity<float> df(kestrel::matrix_view<const float>(mf.data(), 120, 120));
        const auto pamf = km::pam_swap(df, start);
        const auto fastf = km::fastpam1(df, start);
        REQUIRE(fastf.medoids == pamf.medoids);
        REQUIRE(fastf.loss == Approx(pamf.loss).epsilon(1e-9));
    }
}

TEST_CASE("SWAP results are local optima for single swaps, and the loss never increases") {
    using runner = std::function<km::clustering(const km::dense_dissimilarity<double>&, const std::vector<std::size_t>&,
                                                const km::swap_options&)>;
    const std::vector<std::pair<const char*, runner>> algorithms = {
        {"pam", [](const auto& d, const auto& m, const auto& o) { return km::pam_swap(d, m, o); }},
        {"fastpam1", [](const auto& d, const auto& m, const auto& o) { return km::fastpam1(d, m, o); }},
        {"fastpam2 tol 0", [](const auto& d, const auto& m, const auto& o) { return km::fastpam2(d, m, o, 0.0); }},
        {"fastpam2 tol 0.5", [](const auto& d, const auto& m, const auto& o) { return km::fastpam2(d, m, o, 0.5); }},
        {"fastpam2 tol 1", [](const auto& d, const auto& m, const auto& o) { return km::fastpam2(d, m, o, 1.0); }},
        {"fasterpam", [](const auto& d, const auto& m, const auto& o) { return km::fasterpam(d, m, o); }},
        {"alternating", [](const auto& d, const auto& m, const auto& o) { return km::alternating(d, m, o); }},
    };
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        const std::size_t n = 30 + 3 * seed, k = 2 + seed % 5;
        const auto in = kmedoids_test::integer_instance(n, seed, 5);
        const auto d = in.dissimilarity();
        const auto start = km::random_medoids(n, k, seed);
        const double start_loss = direct_loss(d, start);
        for (const auto& [name, run] : algorithms) {
            INFO("seed=" << seed << " " << name);
            const auto r = run(d, start, {});
            check_consistent(d, r);
            CHECK(r.loss <= start_loss);
            // The alternating heuristic stops in a Voronoi fixed point, not a swap optimum.
            if (std::string(name) != "alternating") check_swap_local_optimum(d, r, 1e-9);
            // Loss after t iterations is non-increasing in t.
            double prev = start_loss;
            for (std::size_t t = 1; t <= 6; ++t) {
                km::swap_options o;
                o.max_iter = t;
                const auto rt = run(d, start, o);
                check_consistent(d, rt);
                CHECK(rt.loss <= prev + 1e-12);
                CHECK(rt.iterations <= t);
                prev = rt.loss;
            }
        }
    }
}

TEST_CASE("FasterPAM and alternating on clustered data: close to PAM, and the known blobs") {
    // FasterPAM takes first improvements, PAM best improvements: both end in single-swap
    // local optima; on clustered data the paper reports equal quality. Tolerance: 1%.
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        const auto in = kmedoids_test::blob_instance(200, 5, 4, 6.0, seed);
        const auto d = in.dissimilarity();
        const auto start = km::random_medoids(200, 5, seed);
        const auto pam = km::pam_swap(d, start);
        const auto faster = km::fasterpam(d, start);
        CHECK(faster.loss <= 1.01 * pam.loss);
        const auto alt = km::alternating(d, km::pam_build(d, 5));
        check_consistent(d, alt);
        CHECK(alt.loss <= direct_loss(d, km::pam_build(d, 5)) + 1e-9);
    }
    // Well separated blobs: the clustering is the generating partition (up to renaming).
    std::vector<std::size_t> truth;
    const auto in = kmedoids_test::blob_instance(300, 6, 2, 100.0, 42, &truth);
    const auto d = in.dissimilarity();
    for (const auto& r : {km::fastpam1(d, km::pam_build(d, 6)), km::fasterpam(d, km::random_medoids(300, 6, 3)),
                          km::fasterpam(d, km::lab_medoids(d, 6, 5))}) {
        check_partition(r.labels, truth, 6);
    }
}

TEST_CASE("parallel SWAP equals serial SWAP, bit for bit") {
    const auto in = kmedoids_test::blob_instance(700, 8, 3, 2.0, 7);
    const auto d = in.dissimilarity();
    const auto start = km::random_medoids(700, 20, 9);
    km::swap_options one, two;
    one.policy = kestrel::exec_policy{1};
    two.policy = kestrel::exec_policy{2};
    kmedoids_test::check_identical(km::fastpam1(d, start, one), km::fastpam1(d, start, two));
    kmedoids_test::check_identical(km::fastpam2(d, start, one), km::fastpam2(d, start, two));
    kmedoids_test::check_identical(km::fasterpam(d, start, one), km::fasterpam(d, start, two));
    // Three threads on two cores: the claims interleave differently again.
    km::swap_options three;
    three.policy = kestrel::exec_policy{3};
    kmedoids_test::check_identical(km::fasterpam(d, start, one), km::fasterpam(d, start, three));
    kmedoids_test::check_identical(km::alternating(d, start, one), km::alternating(d, start, two));
    CHECK(km::pam_build(d, 10, kestrel::exec_policy{1}) == km::pam_build(d, 10, kestrel::exec_policy{2}));
}

TEST_CASE("float and double agree on well-conditioned input, condensed and point sources agree with dense") {
    const auto in = kmedoids_test::blob_instance(150, 5, 3, 8.0, 3);
    const auto d = in.dissimilarity();
    std::vector<float> mf(in.matrix.begin(), in.matrix.end());
    const km::dense_dissimilarity<float> df(kestrel::matrix_view<const float>(mf.data(), 150, 150));
    const auto start = km::random_medoids(150, 5, 1);
    const auto rd = km::fasterpam(d, start), rf = km::fasterpam(df, start);
    CHECK(rd.medoids == rf.medoids);
    CHECK(rf.loss == Approx(rd.loss).epsilon(1e-5));

    std::vector<double> condensed;
    for (std::size_t i = 0; i < 150; ++i)
        for (std::size_t j = i + 1; j < 150; ++j) condensed.push_back(in.matrix[i * 150 + j]);
    const km::condensed_dissimilarity<double> dc(kestrel::vector_view<const double>(condensed), 150);
    const km::point_dissimilarity<double> dp(kestrel::matrix_view<const double>(in.points.data(), 150, 3));
    const auto rc = km::fasterpam(dc, start), rp = km::fasterpam(dp, start), rp1 = km::fastpam1(dp, start);
    CHECK(rc.medoids == rd.medoids);
    CHECK(rc.loss == rd.loss);
    CHECK(rp.medoids == rd.medoids);
    CHECK(rp1.medoids == km::fastpam1(d, start).medoids);
}

TEST_CASE("bad input is refused before anything is computed") {
    const auto in = kmedoids_test::integer_instance(10, 1);
    const auto d = in.dissimilarity();
    using Catch::Contains;
    CHECK_THROWS_WITH(km::fastpam1(d, {}), Contains("kestrel::fastpam1") && Contains("k = 0"));
    CHECK_THROWS_WITH(km::fasterpam(d, {1, 1}), Contains("appears twice"));
    CHECK_THROWS_WITH(km::pam_swap(d, {1, 10}), Contains("out of range"));
    CHECK_THROWS_WITH(km::pam_build(d, 11), Contains("exceeds the number of points n = 10"));
    CHECK_THROWS_WITH(km::pam_build(d, 0), Contains("must be >= 1"));
    CHECK_THROWS_WITH(km::random_medoids(3, 4, 1), Contains("k = 4"));
    std::vector<double> m = in.matrix;
    m[3] = -1;
    const km::dense_dissimilarity<double> dn(kestrel::matrix_view<const double>(m.data(), 10, 10));
    CHECK_THROWS_WITH(km::fastpam1(dn, {0, 1}), Contains("entry (0, 3)") && Contains("-1"));
    m[3] = std::nan("");
    CHECK_THROWS_WITH(km::fasterpam(dn, {0, 1}), Contains("entry (0, 3)"));
    m[3] = in.matrix[3] + 0.5;
    CHECK_THROWS_WITH(km::fasterpam(dn, {0, 1}), Contains("not symmetric"));
    km::swap_options unchecked;
    unchecked.check_symmetry = false;
    CHECK_NOTHROW(km::fasterpam(dn, {0, 1}, unchecked));
    m = in.matrix;
    m[11] = 1;
    CHECK_THROWS_WITH(km::pam_swap(dn, {0, 1}), Contains("diagonal"));
    CHECK_THROWS_WITH(km::dense_dissimilarity<double>(kestrel::matrix_view<const double>(m.data(), 5, 20)),
                      Contains("must be square"));
    const std::vector<double> short_condensed(5);
    CHECK_THROWS_WITH(km::condensed_dissimilarity<double>(kestrel::vector_view<const double>(short_condensed), 5),
                      Contains("n(n-1)/2"));
}

TEST_CASE("the nearest/second cache after any sequence of swaps equals a fresh assignment") {
    // update_after_swap keeps (nearest, second) exact and the third-nearest reserve either
    // exact or unknown; checked against assign_all after every swap of random sequences,
    // on integer grids (ties, duplicates) and on real-valued blobs, k from 1 to 12.
    namespace kd = km::detail;
    int checked = 0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        for (std::size_t k : {1u, 2u, 3u, 5u, 12u}) {
            const std::size_t n = 60 + 5 * seed;
            const auto in = seed % 2 ? kmedoids_test::integer_instance(n, seed, 4)
                                     : kmedoids_test::blob_instance(n, 4, 2, 3.0, seed);
            const auto d = in.dissimilarity();
            auto medoids = km::random_medoids(n, k, seed + k);
            kd::nearest_cache<double> c, fresh;
            kd::assign_all(d, medoids, c);
            const kestrel::counter_rng rng(seed, 77 + k);
            for (std::uint64_t step = 0; step < 60; ++step) {
                const auto slot = static_cast<std::size_t>(rng.uniform_double(2 * step) * double(k));
                const auto h = static_cast<std::size_t>(rng.uniform_double(2 * step + 1) * double(n));
                if (std::find(medoids.begin(), medoids.end(), h) != medoids.end()) continue;
                medoids[slot] = h;
                kd::update_after_swap(d, medoids, slot, c, kestrel::exec_policy{step % 2 ? 2 : 1});
                kd::assign_all(d, medoids, fresh);
                INFO("seed=" << seed << " k=" << k << " step=" << step);
                REQUIRE(c.nearest == fresh.nearest);
                REQUIRE(c.second == fresh.second);
                REQUIRE(c.dn == fresh.dn);
                for (std::size_t o = 0; o < n; ++o) {
                    if (k >= 2) REQUIRE(c.ds[o] == fresh.ds[o]);
                    if (c.third[o] != kd::nearest_cache<double>::none) {
                        REQUIRE(c.third[o] == fresh.third[o]);
                        REQUIRE(c.d3[o] == fresh.d3[o]);
                    }
                }
                ++checked;
            }
        }
    }
    CHECK(checked > 1000);
}
