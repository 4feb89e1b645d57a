// FastPAM2, FastCLARA and FastCLARANS.
#include <catch2/catch.hpp>

#include <kestrel/kmedoids.hpp>
#include <kestrel/kmedoids/clara.hpp>
#include <kestrel/kmedoids/clarans.hpp>
#include <kestrel/kmedoids/fastpam2.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "kmedoids_test_util.hpp"

namespace km = kestrel::kmedoids;
using kmedoids_test::direct_loss;

using kmedoids_test::check_consistent;
using kmedoids_test::check_partition;
using kmedoids_test::check_swap_local_optimum;

namespace {
// FastPAM2 written from its definition with direct loss evaluations (O(k^2 n^2) per
// iteration): per slot the best candidate (ties: smallest candidate), the overall best swap
// first (ties: candidate, then slot), then the other remembered swaps in the order of their
// remembered change (ties: slot), each re-evaluated and made if its change is negative and
// at most (1 - tolerance) times the remembered change.
struct naive_result {
    std::vector<std::size_t> medoids;
    std::size_t iterations = 0, swaps = 0;
};
template <class D>
naive_result naive_fastpam2(const D& d, std::vector<std::size_t> m, double tolerance, std::size_t max_iter = 100) {
    const std::size_t n = d.size(), k = m.size();
    naive_result out;
    auto change = [&](std::size_t slot, std::size_t h) {
        std::vector<std::size_t> t = m;
        t[slot] = h;
        return direct_loss(d, t) - direct_loss(d, m);
    };
    auto is_medoid = [&](std::size_t h) { return std::find(m.begin(), m.end(), h) != m.end(); };
    while (out.iterations < max_iter) {
        ++out.iterations;
        struct pick { double delta; std::size_t h, slot; };
        std::vector<pick> best;
        for (std::size_t i = 0; i < k; ++i) {
            pick b{0.0, n, i};
            for (std::size_t h = 0; h < n; ++h) {
                if (is_medoid(h)) continue;
                const double c = change(i, h);
                if (c < b.delta) b = {c, h, i};
            }
            if (b.h < n) best.push_back(b);
        }
        if (best.empty()) break;
        auto first = std::min_element(best.begin(), best.end(), [](const pick& a, const pick& b) {
            return a.delta != b.delta ? a.delta < b.delta : a.h != b.h ? a.h < b.h : a.slot < b.slot;
        });
        const pick primary = *first;
        best.erase(first);
        std::sort(best.begin(), best.end(), [](const pick& a, const pick& b) {
            return a.delta != b.delta ? a.delta < b.delta : a.slot < b.slot;
        });
        m[primary.slot] = primary.h;
        ++out.swaps;
        for (const pick& p : best) {
            if (is_medoid(p.h)) continue;
            const double now = change(p.slot, p.h);
            if (now < 0 && now <= (1 - tolerance) * p.delta) {
                m[p.slot] = p.h;
                ++out.swaps;
            }
        }
    }
    out.medoids = m;
    return out;
}
}  // namespace

TEST_CASE("FastPAM2 makes exactly the swaps of its definition (exact integer dissimilarities)") {
    int instances = 0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const std::size_t n = 24 + 4 * seed, k = 3 + seed % 4;
        const auto in = kmedoids_test::integer_instance(n, 50 + seed, 7);
        const auto d = in.dissimilarity();
        const auto start = km::random_medoids(n, k, seed);
        for (double tol : {0.0, 0.5, 1.0}) {
            const auto ref = naive_fastpam2(d, start, tol);
            const auto r = km::fastpam2(d, start, {}, tol);
            INFO("seed=" << seed << " tolerance=" << tol);
            CHECK(r.medoids == ref.medoids);
            CHECK(r.iterations == ref.iterations);
            CHECK(r.swaps == ref.swaps);
            ++instances;
        }
    }
    CHECK(instances == 18);
}

// Local optimality and monotone loss of FastPAM2 at every tolerance: test_swap.cpp.

TEST_CASE("FastPAM2 on real-valued blobs: local optimum, within 1% of PAM, float agrees, eager swaps happen") {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        const auto in = kmedoids_test::blob_instance(200, 5, 4, 6.0, seed);
        const auto d = in.dissimilarity();
        const auto start = km::random_medoids(200, 5, seed);
        const auto pam = km::pam_swap(d, start);
        const auto r = km::fastpam2(d, start);
        check_consistent(d, r);
        check_swap_local_optimum(d, r, 1e-9);
        CHECK(r.loss <= 1.01 * pam.loss);
        std::vector<float> mf(in.matrix.begin(), in.matrix.end());
        const km::dense_dissimilarity<float> df(kestrel::matrix_view<const float>(mf.data(), 200, 200));
        const auto rf = km::fastpam2(df, start);
        CHECK(rf.loss == Approx(r.loss).epsilon(1e-3));
    }
    // From random medoids with many clusters, several slots have an improving swap in the
    // first pass: FastPAM2 must make more swaps than passes, and needs fewer passes than
    // FastPAM1 (one swap per pass).
    const auto in = kmedoids_test::blob_instance(400, 20, 2, 20.0, 5);
    const auto d = in.dissimilarity();
    const auto start = km::random_medoids(400, 20, 5);
    const auto r2 = km::fastpam2(d, start), r1 = km::fastpam1(d, start);
    check_consistent(d, r2);
    CHECK(r2.swaps > r2.iterations);
    CHECK(r2.iterations < r1.iterations);
    CHECK(r2.loss <= 1.01 * r1.loss);
}

TEST_CASE("FastCLARA: reproducible, thread-count invariant, exact on a full sample, close to FasterPAM") {
    const auto in = kmedoids_test::blob_instance(1500, 6, 3, 5.0, 3);
    const auto d = in.dissimilarity();
    km::clara_options o;
    o.seed = 17;
    const auto a = km::clara(d, 6, o);
    check_consistent(d, a);
    kmedoids_test::check_identical(a, km::clara(d, 6, o));
    o.policy = kestrel::exec_policy{1};
    kmedoids_test::check_identical(a, km::clara(d, 6, o));
    o.policy = kestrel::exec_policy{2};
    kmedoids_test::check_identical(a, km::clara(d, 6, o));
    // A different seed draws other samples (the medoids may still coincide on clean data).
    o.seed = 18;
    check_consistent(d, km::clara(d, 6, o));

    // Quality: samples of 80 + 4k = 104 of 1500 points; FastCLARA's loss within 3% of
    // FasterPAM on all points (the paper reports a few percent on clustered data).
    const auto full = km::fasterpam(d, km::pam_build(d, 6));
    CHECK(a.loss <= 1.03 * full.loss);
    CHECK(a.loss >= full.loss * (1 - 0.02));  // not better than a full local optimum by much

    // More samples never hurt: the first s samples are the same draws, the best is kept.
    double prev = std::numeric_limits<double>::infinity();
    for (std::size_t s = 1; s <= 6; ++s) {
        km::clara_options os;
        os.seed = 4;
        os.samples = s;
        os.sample_size = 40;
        const auto r = km::clara(d, 6, os);
        CHECK(r.loss <= prev);
        prev = r.loss;
    }

    // A sample of all points is FasterPAM from BUILD.
    const auto small = kmedoids_test::blob_instance(120, 4, 2, 4.0, 9);
    const auto ds = small.dissimilarity();
    km::clara_options all;
    all.sample_size = 500;  // capped at n
    const auto rc = km::clara(ds, 4, all);
    const auto rf = km::fasterpam(ds, km::pam_build(ds, 4));
    CHECK(rc.medoids == rf.medoids);
    CHECK(rc.loss == rf.loss);
    all.algorithm = km::sample_swap::fastpam2;
    const auto rc2 = km::clara(ds, 4, all);
    CHECK(rc2.medoids == km::fastpam2(ds, km::pam_build(ds, 4)).medoids);
    all.algorithm = km::sample_swap::pam;
    const auto rc3 = km::clara(ds, 4, all);
    CHECK(rc3.medoids == km::pam_swap(ds, km::pam_build(ds, 4)).medoids);
}

TEST_CASE("FastCLARA and FastCLARANS recover well-separated blobs, on a matrix and on points") {
    std::vector<std::size_t> truth;
    const auto in = kmedoids_test::blob_instance(900, 6, 2, 100.0, 42, &truth);
    const auto d = in.dissimilarity();
    const km::point_dissimilarity<double> dp(kestrel::matrix_view<const double>(in.points.data(), 900, 2));
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        km::clara_options o;
        o.seed = seed;
        const auto r = km::clara(d, 6, o);
        check_partition(r.labels, truth, 6);
        const auto rp = km::clara(dp, 6, o);
        CHECK(rp.medoids == r.medoids);
        km::clarans_options q;
        q.seed = seed;
        const auto s = km::clarans(d, 6, q);
        check_consistent(d, s);
        check_partition(s.labels, truth, 6);
        const auto sp = km::clarans(dp, 6, q);
        CHECK(sp.medoids == s.medoids);
    }
}

TEST_CASE("FastCLARANS: reproducible, thread-count invariant, close to FasterPAM") {
    const auto in = kmedoids_test::blob_instance(600, 5, 3, 6.0, 11);
    const auto d = in.dissimilarity();
    km::clarans_options o;
    o.seed = 5;
    const auto a = km::clarans(d, 5, o);
    check_consistent(d, a);
    kmedoids_test::check_identical(a, km::clarans(d, 5, o));
    o.policy = kestrel::exec_policy{2};
    kmedoids_test::check_identical(a, km::clarans(d, 5, o));
    // Randomized search with the default maxneighbor (50 failed draws here) and numlocal = 2
    // stops early by design: within 5% of FasterPAM (the papers report CLARANS a few
    // percent worse than PAM).
    const auto full = km::fasterpam(d, km::pam_build(d, 5));
    CHECK(a.loss <= 1.05 * full.loss);
    CHECK(a.loss >= full.loss * (1 - 0.02));
    // With maxneighbor far above n - k, every candidate is all but surely tried before the
    // search stops: the result is a single-swap local optimum (FastPAM1 finds no swap).
    km::clarans_options exhaustive;
    exhaustive.seed = 3;
    exhaustive.numlocal = 1;
    exhaustive.maxneighbor = 20 * 595;
    const auto e = km::clarans(d, 5, exhaustive);
    CHECK(km::fastpam1(d, e.medoids).swaps == 0);
    CHECK(e.loss == Approx(full.loss).epsilon(1e-9));
    CHECK(km::clarans_default_maxneighbor(600, 5) == 50);     // max(ceil(0.025 * 595) = 15, 250 / 5)
    CHECK(km::clarans_default_maxneighbor(100000, 5) == 2500);  // 2 x 1.25% of n - k
    CHECK(km::clarans_default_maxneighbor(30, 5) == 25);      // capped at n - k
    // k = n: nothing to draw, the medoids are all points.
    const auto tiny = kmedoids_test::integer_instance(6, 2, 4);
    const auto dt = tiny.dissimilarity();
    km::clarans_options all;
    all.maxneighbor = 10;
    CHECK(km::clarans(dt, 6, all).loss == 0.0);
    CHECK(km::clara(dt, 6).loss == 0.0);
}

TEST_CASE("FastPAM2, CLARA and CLARANS refuse bad arguments") {
    const auto in = kmedoids_test::integer_instance(10, 1);
    const auto d = in.dissimilarity();
    using Catch::Contains;
    CHECK_THROWS_AS(km::fastpam2(d, {}), kestrel::invalid_argument);
    CHECK_THROWS_WITH(km::fastpam2(d, {1, 1}), Contains("kestrel::fastpam2") && Contains("appears twice"));
    CHECK_THROWS_WITH(km::fastpam2(d, {1, 10}), Contains("out of range"));
    CHECK_THROWS_WITH(km::fastpam2(d, {1, 2}, {}, -0.1), Contains("tolerance"));
    CHECK_THROWS_WITH(km::fastpam2(d, {1, 2}, {}, 1.5), Contains("tolerance"));
    CHECK_THROWS_AS(km::fastpam2(d, {1, 2}, {}, std::nan("")), kestrel::invalid_argument);

    CHECK_THROWS_WITH(km::clara(d, 0), Contains("kestrel::clara") && Contains("must be >= 1"));
    CHECK_THROWS_WITH(km::clara(d, 11), Contains("exceeds the number of points n = 10"));
    km::clara_options o;
    o.samples = 0;
    CHECK_THROWS_WITH(km::clara(d, 2, o), Contains("samples"));
    o = {};
    o.sample_size = 2;
    CHECK_THROWS_WITH(km::clara(d, 3, o), Contains("sample_size"));
    o = {};
    o.max_iter = 0;
    CHECK_THROWS_WITH(km::clara(d, 3, o), Contains("max_iter"));

    CHECK_THROWS_WITH(km::clarans(d, 0), Contains("kestrel::clarans"));
    CHECK_THROWS_AS(km::clarans(d, 11), kestrel::invalid_argument);
    km::clarans_options q;
    q.numlocal = 0;
    CHECK_THROWS_WITH(km::clarans(d, 2, q), Contains("numlocal"));

    std::vector<double> m = in.matrix;
    m[3] = -1;
    const km::dense_dissimilarity<double> dn(kestrel::matrix_view<const double>(m.data(), 10, 10));
    CHECK_THROWS_WITH(km::fastpam2(dn, {0, 1}), Contains("entry (0, 3)"));
    CHECK_THROWS_WITH(km::clarans(dn, 2), Contains("entry (0, 3)"));
    km::clara_options full;
    full.sample_size = 10;  // the sample's sub-matrix holds the bad entry
    CHECK_THROWS_AS(km::clara(dn, 2, full), kestrel::invalid_argument);
    m[3] = in.matrix[3] + 0.5;
    CHECK_THROWS_WITH(km::clarans(dn, 2), Contains("not symmetric"));
}
