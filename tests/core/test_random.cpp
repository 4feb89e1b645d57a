// Philox known answers, uniformity, normals, categorical sampling, thread-count invariance.
#include <catch2/catch.hpp>

#include <kestrel/core/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

using kestrel::counter_rng;
using kestrel::philox4x32_10;

TEST_CASE("Philox4x32-10 matches the known-answer vectors of Salmon et al. (SC'11, Random123 kat_vectors)") {
    struct kat {
        philox4x32_10::counter_type ctr;
        philox4x32_10::key_type key;
        philox4x32_10::counter_type expected;
    };
    const kat cases[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
        {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
         {0xffffffffu, 0xffffffffu},
         {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
        {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
         {0xa4093822u, 0x299f31d0u},
         {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
    };
    for (const auto& c : cases) CHECK(philox4x32_10::generate(c.ctr, c.key) == c.expected);
}

TEST_CASE("counter_rng maps (seed, stream, index) onto the Philox counter and key") {
    const counter_rng rng(0x299f31d0a4093822ull, 0x0370734413198a2eull);
    const auto b = rng.block(0x85a308d3243f6a88ull);
    CHECK(b == philox4x32_10::counter_type{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
    CHECK(rng.seed() == 0x299f31d0a4093822ull);
}

TEST_CASE("Exact conversions hit the ends of their ranges") {
    using namespace kestrel::random_conversion;
    CHECK(u53_to_double(0) == 0.0);
    CHECK(u53_to_double(~std::uint64_t(0)) == 1.0 - 0x1.0p-53);
    CHECK(u64_to_double_open(0) == 0x1.0p-53);
    CHECK(u64_to_double_open(~std::uint64_t(0)) == 1.0 - 0x1.0p-53);
    CHECK(u32_to_float(0) == 0.0f);
    CHECK(u32_to_float(0xffffffffu) == 1.0f - 0x1.0p-24f);
    CHECK(u32_to_float_open(0) > 0.0f);
    CHECK(u32_to_float_open(0xffffffffu) < 1.0f);
    // 53 bits survive: consecutive integers give consecutive doubles.
    CHECK(u53_to_double(std::uint64_t(12345) << 11) - u53_to_double(std::uint64_t(12344) << 11) == 0x1.0p-53);
}

namespace {
// Upper quantile of chi-square with k degrees of freedom at standard-normal quantile z
// (Wilson-Hilferty approximation, accurate to well under 1% for k in the hundreds).
double chi_square_quantile(double k, double z) {
    const double a = 2.0 / (9.0 * k);
    return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}
}  // namespace

TEST_CASE("uniform_double passes a chi-square test on 2^20 draws (false-alarm rate 1e-6)") {
    const counter_rng rng(20261122, 7);
    const std::size_t bins = 1024, draws = std::size_t(1) << 20;
    std::vector<double> count(bins, 0.0), count_f(bins, 0.0);
    for (std::size_t i = 0; i < draws; ++i) {
        const double u = rng.uniform_double(i);
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
        count[static_cast<std::size_t>(u * bins)] += 1;
        count_f[static_cast<std::size_t>(rng.uniform_float(i) * float(bins))] += 1;
    }
    const double expected = double(draws) / bins;
    double chi2 = 0, chi2_f = 0;
    for (std::size_t b = 0; b < bins; ++b) {
        chi2 += (count[b] - expected) * (count[b] - expected) / expected;
        chi2_f += (count_f[b] - expected) * (count_f[b] - expected) / expected;
    }
    // One-sided 1e-6 false alarm: z = 4.753.
    const double critical = chi_square_quantile(bins - 1, 4.753);
    CHECK(chi2 < critical);
    CHECK(chi2_f < critical);
    // And not suspiciously perfect (lower tail, same false-alarm rate).
    CHECK(chi2 > chi_square_quantile(bins - 1, -4.753));
}

TEST_CASE("normal draws have mean 0, variance 1, kurtosis 3 within 5 sigma") {
    const counter_rng rng(42, 3);
    const std::size_t pairs = 1 << 19, n = 2 * pairs;
    double m1 = 0, m2 = 0, m4 = 0;
    for (std::size_t i = 0; i < pairs; ++i) {
        const auto z = rng.normal_pair(i);
        for (double v : {z.first, z.second}) {
            m1 += v;
            m2 += v * v;
            m4 += v * v * v * v;
        }
    }
    m1 /= n;
    m2 /= n;
    m4 /= n;
    // Standard errors: mean 1/sqrt(n), variance sqrt(2/n), fourth moment sqrt((105-9)/n).
    CHECK(std::abs(m1) < 5.0 / std::sqrt(double(n)));
    CHECK(std::abs(m2 - 1.0) < 5.0 * std::sqrt(2.0 / n));
    CHECK(std::abs(m4 - 3.0) < 5.0 * std::sqrt(96.0 / n));
}

TEST_CASE("exponential draws have mean 1 and variance 1 within 5 sigma") {
    const counter_rng rng(9, 9);
    const std::size_t n = 1 << 20;
    double m1 = 0, m2 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double e = rng.exponential(i);
        REQUIRE(e >= 0.0);
        m1 += e;
        m2 += e * e;
    }
    m1 /= n;
    m2 /= n;
    CHECK(std::abs(m1 - 1.0) < 5.0 / std::sqrt(double(n)));
    // E[X^2] = 2, Var[X^2] = 24 - 4 = 20.
    CHECK(std::abs(m2 - 2.0) < 5.0 * std::sqrt(20.0 / n));
}

TEST_CASE("categorical: a 1e-7 outcome owns exactly its share of the unit interval") {
    // Exact argument instead of 10^8 draws: the sampler returns i exactly when
    // u * W lies in [C(i-1), C(i)), C the double-precision cumulative sums. So the set of u
    // on the 2^-53 grid that select the rare outcome is an interval; find its ends by
    // bisection and compare its length with the outcome's probability.
    const std::vector<float> w = {0.3f, 1e-7f, 0.2f, 0.25f, 0.25f - 1e-7f};
    const kestrel::vector_view<const float> wv(w);
    double total = 0;
    for (float v : w) total += v;
    auto first_u_selecting_at_least = [&](std::size_t index) {
        std::uint64_t lo = 0, hi = std::uint64_t(1) << 53;  // grid points k * 2^-53
        while (lo < hi) {
            const std::uint64_t mid = lo + (hi - lo) / 2;
            if (kestrel::categorical_from_uniform(wv, double(mid) * 0x1.0p-53) >= index) hi = mid;
            else lo = mid + 1;
        }
        return double(lo) * 0x1.0p-53;
    };
    const double measure = first_u_selecting_at_least(2) - first_u_selecting_at_least(1);
    const double p = double(w[1]) / total;
    CHECK(p > 0.99e-7);
    CHECK(std::abs(measure - p) <= 4 * 0x1.0p-53);

    // By contrast, a float cumulative sum cannot even represent the step: 0.3f + 1e-7f is
    // within one float ulp (3e-8) of its neighbours' resolution, so a float inverse CDF
    // would give the outcome a share that is off by tens of percent.
    const float c0 = w[0], c1 = c0 + w[1];
    const double float_share = (double(c1) - double(c0)) / total;
    CHECK(std::abs(float_share - p) / p > 0.05);

    // The same share through cumulative_distribution's binary search.
    const kestrel::cumulative_distribution cd(wv);
    for (std::uint64_t k : {std::uint64_t(0), std::uint64_t(1) << 40, (std::uint64_t(1) << 53) - 1,
                            std::uint64_t(0x1234567890abcull)}) {
        const double u = double(k) * 0x1.0p-53;
        CHECK(cd.sample_from_uniform(u) == kestrel::categorical_from_uniform(wv, u));
    }
    const double boundary = first_u_selecting_at_least(1);
    CHECK(cd.sample_from_uniform(boundary) == 1);
    CHECK(cd.sample_from_uniform(boundary - 0x1.0p-53) == 0);
}

TEST_CASE("categorical draws on 5 outcomes pass a chi-square test and never pick zero weights") {
    const std::vector<double> w = {0.1, 0.0, 2.0, 0.4, 1.5};
    const kestrel::cumulative_distribution cd{kestrel::vector_view<const double>(w)};
    const counter_rng rng(5, 1);
    const std::size_t n = 1 << 20;
    std::vector<double> count(w.size(), 0.0);
    for (std::size_t i = 0; i < n; ++i) count[cd.sample(rng, i)] += 1;
    CHECK(count[1] == 0);
    double chi2 = 0;
    for (std::size_t j = 0; j < w.size(); ++j) {
        if (w[j] == 0) continue;
        const double e = n * w[j] / 4.0;
        chi2 += (count[j] - e) * (count[j] - e) / e;
    }
    CHECK(chi2 < 33.4);  // chi-square, 3 dof, upper 1e-6 point is 32.9 (rounded up)
    CHECK(kestrel::categorical(kestrel::vector_view<const double>(w), rng, 17) ==
          cd.sample(rng, 17));
}

TEST_CASE("categorical from a 256Ki-entry float distribution reaches the low-probability tail") {
    // Weights 1/(i+1) in float: the last 128Ki entries have probability ~3e-7 to 6e-7 each,
    // below float's relative resolution of the running total (~1e-7 * 13), so a float
    // cumulative sum would distort their shares. Accumulated in double, the mass of the
    // tail (ln 2 / H(n) ~ 0.053) is sampled at its rate.
    const std::size_t n = std::size_t(1) << 18;
    std::vector<float> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = 1.0f / float(i + 1);
    const kestrel::cumulative_distribution cd{kestrel::vector_view<const float>(w)};
    double tail_mass = 0, total = 0;
    for (std::size_t i = 0; i < n; ++i) {
        total += w[i];
        if (i >= n / 2) tail_mass += w[i];
    }
    const double p = tail_mass / total;
    const counter_rng rng(77, 0);
    const std::size_t draws = 400000;
    double hits = 0;
    for (std::size_t i = 0; i < draws; ++i) hits += cd.sample(rng, i) >= n / 2 ? 1 : 0;
    const double sd = std::sqrt(draws * p * (1 - p));
    CHECK(std::abs(hits - draws * p) < 5 * sd);
}

TEST_CASE("categorical rejects bad weights before drawing") {
    const counter_rng rng(1);
    auto cat = [&](std::vector<double> w) { return kestrel::categorical(kestrel::vector_view<const double>(w), rng, 0); };
    CHECK_THROWS_AS(cat({}), kestrel::invalid_argument);
    CHECK_THROWS_WITH(cat({0.5, -0.1}), Catch::Contains("entry 1") && Catch::Contains("-0.1"));
    CHECK_THROWS_WITH(cat({0.5, std::nan("")}), Catch::Contains("weights"));
    CHECK_THROWS_WITH(cat({0.0, 0.0}), Catch::Contains("total weight"));
    CHECK_THROWS_WITH(cat({1.0, std::numeric_limits<double>::infinity()}), Catch::Contains("entry 1"));
    const std::vector<double> ok = {1.0};
    CHECK_THROWS_WITH(kestrel::categorical_from_uniform(kestrel::vector_view<const double>(ok), 1.0),
                      Catch::Contains("argument 'u'"));
}

TEST_CASE("fill_normal and fill_uniform give the same bits at 1 and 2 threads") {
    const counter_rng rng(123, 4);
    for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(999), std::size_t(1) << 18}) {
        std::vector<double> a(n), b(n);
        std::vector<float> fa(n), fb(n);
        kestrel::fill_normal(kestrel::make_view(a), rng, 10, kestrel::exec_policy::serial());
        kestrel::fill_normal(kestrel::make_view(b), rng, 10, kestrel::exec_policy::with_threads(2));
        CHECK(a == b);
        kestrel::fill_uniform(kestrel::make_view(fa), rng, 5, kestrel::exec_policy::serial());
        kestrel::fill_uniform(kestrel::make_view(fb), rng, 5, kestrel::exec_policy::with_threads(2));
        CHECK(fa == fb);
        if (n > 2) {
            CHECK(a[0] == rng.normal_pair(10).first);
            CHECK(a[1] == rng.normal_pair(10).second);
            CHECK(fa[2] == rng.uniform_float(7));
        }
    }
}
