// The fused linear combination and the deterministic reductions.
#include <catch2/catch.hpp>

#include <kestrel/core/simd.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "test_util.hpp"

using kestrel::exec_policy;
using kestrel::vector_view;

namespace {

// Scalar reference in long double; the kernel may fuse multiply-adds, so the bound is a
// few roundings of the largest partial sum.
template <class T>
void check_lincomb_case(std::size_t n, std::size_t offset, std::size_t k, bool alias_first, exec_policy policy) {
    const std::size_t pad = 8;
    std::vector<std::vector<T>> store(k, std::vector<T>(n + pad + 1));
    kestrel_test::fill_uniform(store, 1000 + n * 17 + offset * 3 + k);
    std::vector<T> out_store(n + pad + 1, T(-7));
    std::vector<double> c(k);
    for (std::size_t j = 0; j < k; ++j) c[j] = 0.75 - 0.31 * double(j) + (j % 2 ? 1e-3 : 0.0);

    std::vector<long double> expected(n), magnitude(n);
    for (std::size_t i = 0; i < n; ++i) {
        long double s = 0, m = 0;
        for (std::size_t j = 0; j < k; ++j) {
            const long double cj = static_cast<T>(c[j]);  // the kernel rounds coefficients to T once
            s += cj * store[j][offset + i];
            m += std::fabs(cj * store[j][offset + i]);
        }
        expected[i] = s;
        magnitude[i] = m;
    }
    std::vector<vector_view<const T>> inputs;
    T* out;
    if (alias_first) {
        out = store[0].data() + offset;
    } else {
        out = out_store.data() + offset;
    }
    for (std::size_t j = 0; j < k; ++j) inputs.emplace_back(store[j].data() + offset, n);
    kestrel::simd::lincomb(vector_view<T>(out, n), c.data(), inputs.data(), k, policy);
    const long double eps = std::numeric_limits<T>::epsilon();
    for (std::size_t i = 0; i < n; ++i) {
        const long double err = std::fabs(static_cast<long double>(out[i]) - expected[i]);
        if (!(err <= 2 * (k + 1) * eps * magnitude[i])) {
            FAIL("n=" << n << " offset=" << offset << " k=" << k << " alias=" << alias_first << " i=" << i
                      << " got " << double(out[i]) << " expected " << double(expected[i]));
        }
    }
    if (!alias_first) {  // nothing outside [offset, offset + n) was written
        for (std::size_t i = 0; i < offset; ++i) REQUIRE(out_store[i] == T(-7));
        for (std::size_t i = offset + n; i < out_store.size(); ++i) REQUIRE(out_store[i] == T(-7));
    }
}

}  // namespace

TEMPLATE_TEST_CASE("lincomb matches a scalar reference for every size 0..300 and offset 0..7", "", float, double) {
    for (std::size_t k : {1u, 2u, 4u, 6u, 8u})
        for (std::size_t n = 0; n <= 300; ++n)
            for (std::size_t offset = 0; offset < 8; ++offset)
                check_lincomb_case<TestType>(n, offset, k, (n + offset) % 3 == 0, exec_policy::serial());
    SUCCEED();
}

TEMPLATE_TEST_CASE("lincomb gives the same bits at 1 and 2 threads, and when aliasing", "", float, double) {
    const std::size_t n = (std::size_t(1) << 17) + 13;  // above the parallel threshold, ragged
    for (std::size_t offset : {0u, 3u}) check_lincomb_case<TestType>(n, offset, 4, false, exec_policy::with_threads(2));
    std::vector<std::vector<TestType>> x(3, std::vector<TestType>(n));
    kestrel_test::fill_uniform(x, 5);
    std::vector<TestType> y1(n), y2(n), y3 = x[0];
    const double c[3] = {0.5, -1.25, 3.0};
    kestrel::simd::lincomb(kestrel::make_view(y1), c, {x[0], x[1], x[2]}, exec_policy::serial());
    kestrel::simd::lincomb(kestrel::make_view(y2), c, {x[0], x[1], x[2]}, exec_policy::with_threads(2));
    kestrel::simd::lincomb(kestrel::make_view(y3), c, {y3, x[1], x[2]}, exec_policy::with_threads(2));
    CHECK(y1 == y2);
    CHECK(y1 == y3);
    // Elementwise result is independent of position: element 100 of an offset run equals
    // element 100 computed alone.
    TestType single;
    kestrel::simd::lincomb(vector_view<TestType>(&single, 1), c,
                           {vector_view<const TestType>(&x[0][100], 1), vector_view<const TestType>(&x[1][100], 1),
                            vector_view<const TestType>(&x[2][100], 1)});
    CHECK(single == y1[100]);
}

TEST_CASE("lincomb rejects bad arguments before writing") {
    std::vector<double> a(10, 1.0), b(9, 1.0), y(10, 5.0);
    using V = vector_view<const double>;
    CHECK_THROWS_WITH(kestrel::simd::lincomb(kestrel::make_view(y), {1.0, 2.0}, {V(a), V(b)}),
                      Catch::Contains("kestrel::lincomb") && Catch::Contains("inputs[1]") &&
                          Catch::Contains("size 9"));
    CHECK(y == std::vector<double>(10, 5.0));
    CHECK_THROWS_WITH(kestrel::simd::lincomb(kestrel::make_view(y), {1.0, std::nan("")}, {V(a), V(a)}),
                      Catch::Contains("not finite"));
    CHECK_THROWS_WITH(kestrel::simd::lincomb(kestrel::make_view(y), {1.0}, {V(y.data() + 1, 9)}),
                      Catch::Contains("size 9"));
    std::vector<double> big(20, 1.0);
    CHECK_THROWS_WITH(kestrel::simd::lincomb(vector_view<double>(big.data(), 10), {1.0}, {V(big.data() + 3, 10)}),
                      Catch::Contains("overlaps"));
    const double c9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const V in9[9] = {V(a), V(a), V(a), V(a), V(a), V(a), V(a), V(a), V(a)};
    CHECK_THROWS_WITH(kestrel::simd::lincomb(kestrel::make_view(y), c9, in9, 9), Catch::Contains("count 9"));
    CHECK(y == std::vector<double>(10, 5.0));
}

TEMPLATE_TEST_CASE("reductions equal direct computations and do not depend on thread count", "", float, double) {
    for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(300), std::size_t(4097), std::size_t(100003),
                          (std::size_t(1) << 21) + 5}) {
        std::vector<std::vector<TestType>> ab(2, std::vector<TestType>(n));
        kestrel_test::fill_uniform(ab, n);
        const auto& a = ab[0];
        const auto& b = ab[1];
        long double s = 0, d = 0, q = 0, pos = 0, abs_s = 0;
        for (std::size_t i = 0; i < n; ++i) {
            s += a[i];
            abs_s += std::fabs(a[i]);
            d += (long double)a[i] * b[i];
            q += (long double)a[i] * a[i];
            pos += std::max<long double>(0, (long double)a[i] - b[i]);
        }
        const vector_view<const TestType> av(a), bv(b);
        const double tol = 4 * std::sqrt(double(n)) * std::numeric_limits<TestType>::epsilon() * double(abs_s) + 1e-300;
        const double tol_sq = 4 * std::sqrt(double(n)) * std::numeric_limits<TestType>::epsilon() * double(q) + 1e-300;
        for (int threads : {1, 2}) {
            const exec_policy p{threads};
            CHECK(std::abs(kestrel::simd::sum(av, p) - double(s)) <= tol);
            CHECK(std::abs(kestrel::simd::dot(av, bv, p) - double(d)) <= tol);
            CHECK(std::abs(kestrel::simd::squared_norm(av, p) - double(q)) <= tol_sq);
            CHECK(std::abs(kestrel::simd::sum_positive_part_of_difference(av, bv, p) - double(pos)) <= 2 * tol);
        }
        const exec_policy one{1}, two{2};
        CHECK(kestrel::simd::sum(av, one) == kestrel::simd::sum(av, two));
        CHECK(kestrel::simd::dot(av, bv, one) == kestrel::simd::dot(av, bv, two));
        CHECK(kestrel::simd::squared_norm(av, one) == kestrel::simd::squared_norm(av, two));
        CHECK(kestrel::simd::sum_positive_part_of_difference(av, bv, one) ==
              kestrel::simd::sum_positive_part_of_difference(av, bv, two));

        const auto mx = std::max_element(a.begin(), a.end()), mn = std::min_element(a.begin(), a.end());
        for (const exec_policy& p : {one, two}) {
            CHECK(kestrel::simd::max(av, p) == *mx);
            CHECK(kestrel::simd::min(av, p) == *mn);
            CHECK(kestrel::simd::argmax(av, p) == std::size_t(mx - a.begin()));  // first occurrence
            CHECK(kestrel::simd::argmin(av, p) == std::size_t(mn - a.begin()));
        }
    }
}

TEST_CASE("argmax and argmin return the first index on ties, across block boundaries") {
    const std::size_t n = 300000;
    std::vector<double> a(n, 0.0);
    a[5000] = 3.0;
    a[250000] = 3.0;
    a[7] = -2.0;
    a[299999] = -2.0;
    for (int threads : {1, 2}) {
        CHECK(kestrel::simd::argmax(vector_view<const double>(a), exec_policy{threads}) == 5000);
        CHECK(kestrel::simd::argmin(vector_view<const double>(a), exec_policy{threads}) == 7);
    }
    std::vector<float> flat(1000, 1.0f);
    CHECK(kestrel::simd::argmax(vector_view<const float>(flat)) == 0);
    CHECK(kestrel::simd::argmin(vector_view<const float>(flat)) == 0);
}

TEST_CASE("reductions reject empty and mismatched inputs") {
    const std::vector<double> e, a(3), b(4);
    CHECK_THROWS_WITH(kestrel::simd::argmax(vector_view<const double>(e)), Catch::Contains("kestrel::argmax") && Catch::Contains("empty"));
    CHECK_THROWS_AS(kestrel::simd::max(vector_view<const double>(e)), kestrel::invalid_argument);
    CHECK_THROWS_WITH(kestrel::simd::dot(vector_view<const double>(a), vector_view<const double>(b)),
                      Catch::Contains("argument 'b'") && Catch::Contains("size 4"));
    CHECK(kestrel::simd::sum(vector_view<const double>(e)) == 0.0);
}

TEMPLATE_TEST_CASE("less_mask sets lane j's bit exactly when a_j < b_j, and lowest_bit finds it", "", float, double) {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<TestType>;
    const kestrel::counter_rng rng(5, 6);
    TestType a[W], b[W];
    for (std::uint64_t t = 0; t < 2000; ++t) {
        for (std::size_t j = 0; j < W; ++j) {
            // Small integers: many ties, which must not count as less.
            a[j] = TestType(std::floor(rng.uniform_double(2 * W * t + j) * 4));
            b[j] = TestType(std::floor(rng.uniform_double(2 * W * t + W + j) * 4));
        }
        unsigned expected = 0;
        for (std::size_t j = 0; j < W; ++j) expected |= unsigned(a[j] < b[j]) << j;
        const unsigned m = sd::less_mask(sd::load(a), sd::load(b));
        REQUIRE(m == expected);
        if (m) {
            const unsigned j = sd::lowest_bit(m);
            REQUIRE((m >> j & 1u) == 1u);
            REQUIRE((m & ((1u << j) - 1u)) == 0u);
        }
    }
}

TEST_CASE("less_mask_widened compares double lanes with float thresholds exactly", "[simd]") {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<double>;
    const kestrel::counter_rng rng(7, 8);
    double a[W];
    float b[W];
    for (std::uint64_t t = 0; t < 2000; ++t) {
        for (std::size_t j = 0; j < W; ++j) {
            // Thresholds that are floats; values equal to them, or one double ulp either side.
            b[j] = float(std::floor(rng.uniform_double(2 * W * t + j) * 8));
            const double u = rng.uniform_double(2 * W * t + W + j);
            const double bj = double(b[j]);
            a[j] = u < 1.0 / 3 ? bj : (u < 2.0 / 3 ? std::nextafter(bj, -1.0) : std::nextafter(bj, 100.0));
        }
        unsigned expected = 0;
        for (std::size_t j = 0; j < W; ++j) expected |= unsigned(a[j] < double(b[j])) << j;
        REQUIRE(sd::less_mask_widened(a, b) == expected);
    }
}

TEMPLATE_TEST_CASE("compress_lanes lists the set lanes in increasing order", "", float, double) {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<TestType>;
    std::uint32_t idx[W + 1];
    for (unsigned m = 0; m < (1u << W); m += (W > 8 ? 7u : 1u)) {
        const std::uint32_t o = 1000 + m;
        idx[W] = 12345;  // must stay untouched
        const unsigned count = sd::compress_lanes<TestType>(m, o, idx);
        std::vector<std::uint32_t> expected;
        for (std::uint32_t j = 0; j < W; ++j)
            if (m >> j & 1u) expected.push_back(o + j);
        REQUIRE(count == expected.size());
        for (std::size_t t = 0; t < count; ++t) REQUIRE(idx[t] == expected[t]);
        REQUIRE(idx[W] == 12345u);
    }
}

TEST_CASE("load_widened reads width consecutive floats or doubles exactly at any offset", "[simd]") {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<double>;
    // Offsets 0..7 of a float array: odd offsets are only 4-byte aligned (a 64-bit load there
    // must be an unaligned one; the sanitized build checks it).
    alignas(64) float f[W + 8];
    alignas(64) double g[W + 8];
    for (std::size_t i = 0; i < W + 8; ++i) {
        f[i] = 1.0f / static_cast<float>(i + 3) - 0.25f * static_cast<float>(i);
        g[i] = 1.0 / static_cast<double>(i + 7) + static_cast<double>(i);
    }
    for (std::size_t o = 0; o < 8; ++o) {
        alignas(64) double lanes_f[W], lanes_g[W];
        sd::store(lanes_f, sd::load_widened(f + o));
        sd::store(lanes_g, sd::load_widened(g + o));
        for (std::size_t j = 0; j < W; ++j) {
            CHECK(lanes_f[j] == static_cast<double>(f[o + j]));
            CHECK(lanes_g[j] == g[o + j]);
        }
    }
}
