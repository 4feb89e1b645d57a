// Kestrel's float softmax (speculative/softmax.hpp), the law the verifiers read from float
// logit rows:
//  (its float exp's ulp error and the same bits one entry at a time and lane by lane are
//  checked in test_row_passes.cpp, which also runs in the -march=native variant);
//  - row_softmax within the header's relative error bound of the exact softmax of the same
//    float logits (long double), on random, peaked, wide-range, offset and tempered rows, and
//    in the underflow range within an absolute bound;
//  - row_softmax's refusals.
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "optimized_build.hpp"

namespace ks = kestrel::speculative;

namespace {

/// The exact softmax of float logits at temperature t, in long double.
std::vector<long double> exact_softmax(const std::vector<float>& l, double t) {
    long double m = -INFINITY, z = 0;
    for (float x : l) m = std::max<long double>(m, (long double)x / t);
    for (float x : l) z += std::exp((long double)x / t - m);
    std::vector<long double> p(l.size());
    for (std::size_t y = 0; y < l.size(); ++y) p[y] = std::exp((long double)l[y] / t - m) / z;
    return p;
}

}  // namespace

TEST_CASE("the float softmax is within its stated relative error of the exact softmax of the float logits") {
    // Bound (softmax.hpp): |p / p* - 1| <= d(y) + sum_z p*(z) d(z) + 1e-12 with
    // d(z) = 2^-24 (w |l_z / T - M| + 6), M the row's largest l / T, w = 1 at T = 1 and 3
    // otherwise (tau = 1 / T is rounded to float). Below the float exp's range (l / T - M <
    // -87) the probabilities may be flushed: there |p - p*| <= 1e-37 instead.
    const std::size_t V = kestrel_test::optimized_build ? 20000 : 6000;
    const kestrel::counter_rng rng(8080, 4);
    std::uint64_t ctr = 0;
    struct row_case {
        const char* name;
        double temperature;
        std::vector<float> l;
    };
    std::vector<row_case> cases;
    auto add = [&](const char* name, double t, auto&& gen) {
        std::vector<float> l(V);
        for (std::size_t y = 0; y < V; ++y) l[y] = float(gen(y));
        cases.push_back({name, t, std::move(l)});
    };
    add("N(0, 1)", 1.0, [&](std::size_t) { return rng.normal(ctr++); });
    add("N(0, 3)", 1.0, [&](std::size_t) { return 3.0 * rng.normal(ctr++); });
    add("N(0, 3) + 1000", 1.0, [&](std::size_t) { return 1000.0 + 3.0 * rng.normal(ctr++); });
    add("N(-500, 10)", 1.0, [&](std::size_t) { return -500.0 + 10.0 * rng.normal(ctr++); });
    add("peaked: one token +25", 1.0, [&](std::size_t y) { return (y == 777 ? 25.0 : 0.0) + rng.normal(ctr++); });
    add("wide: uniform in [-120, 20]", 1.0, [&](std::size_t) { return -120.0 + 140.0 * rng.uniform_double(ctr++); });
    add("underflow: head at 0, tail at -90 .. -200", 1.0,
        [&](std::size_t y) { return y % 100 == 0 ? rng.normal(ctr++) : -90.0 - 110.0 * rng.uniform_double(ctr++); });
    add("tempered T = 0.7, N(0, 3)", 0.7, [&](std::size_t) { return 3.0 * rng.normal(ctr++); });
    add("tempered T = 2.5, N(5, 6)", 2.5, [&](std::size_t) { return 5.0 + 6.0 * rng.normal(ctr++); });
    // Large logits at T != 1: a product l * tau rounded before the shift would err by
    // 2^-24 |l / T| ~ 1e-4 here; the shift comes first, so the error stays at the 1e-7 scale.
    add("tempered T = 0.7, N(1000, 3)", 0.7, [&](std::size_t) { return 1000.0 + 3.0 * rng.normal(ctr++); });
    add("masked: -inf entries", 1.0,
        [&](std::size_t y) { return y % 3 == 0 ? -std::numeric_limits<double>::infinity() : rng.normal(ctr++); });
    for (const auto& c : cases) {
        std::vector<double> p(V);
        const double log_z =
            ks::row_softmax(kestrel::vector_view<const float>(c.l), c.temperature, kestrel::vector_view<double>(p));
        const auto ex = exact_softmax(c.l, c.temperature);
        long double mx = -INFINITY;
        for (float x : c.l) mx = std::max<long double>(mx, (long double)x / c.temperature);
        const double w = c.temperature == 1.0 ? 1.0 : 3.0;
        auto d = [&](std::size_t z) {
            const long double a = (long double)c.l[z] / c.temperature - mx;
            return double(std::ldexp(1.0L, -24) * (w * std::fabs(a) + 2.0L + 4.0L));
        };
        double mean_d = 0, sum = 0;
        for (std::size_t z = 0; z < V; ++z)
            if (ex[z] > 0) mean_d += double(ex[z]) * d(z);
        double worst_ratio = 0, worst_abs_flushed = 0, tv = 0;
        std::size_t flushed = 0;
        for (std::size_t y = 0; y < V; ++y) {
            sum += p[y];
            tv += double(std::fabs((long double)p[y] - ex[y]));
            const long double a = (long double)c.l[y] / c.temperature - mx;
            if (ex[y] == 0) {
                CHECK(p[y] == 0.0);
                continue;
            }
            if (a < -87) {  // below the float exp's range relative to the row's maximum
                ++flushed;
                worst_abs_flushed = std::max(worst_abs_flushed, double(std::fabs((long double)p[y] - ex[y])));
                continue;
            }
            const double rel = double(std::fabs((long double)p[y] / ex[y] - 1));
            worst_ratio = std::max(worst_ratio, rel / (d(y) + mean_d + 1e-12));
        }
        INFO(c.name << ": worst relative error / bound " << worst_ratio << ", flushed " << flushed
                    << " (largest error there " << worst_abs_flushed << "), TV " << tv / 2 << ", sum - 1 " << sum - 1);
        CHECK(worst_ratio <= 1.0);
        CHECK(worst_abs_flushed <= 1e-37);
        // The factors exp(tau m_k - log Z) are rounded at the scale of |log Z| (about 1430 in
        // the offset row at T = 0.7: 2^-53 * 1430 = 1.6e-13 relative to every p), so the sum is
        // held to 1e-13 plus two roundings of log Z.
        CHECK(std::fabs(sum - 1.0) <= 1e-13 + 2.0 * std::ldexp(std::fabs(log_z), -53));
        CHECK(std::isfinite(log_z));
    }
}

TEST_CASE("row_softmax refuses bad input before writing") {
    std::vector<float> l{1.0f, 2.0f, 3.0f};
    std::vector<double> out(3, -7.0);
    const kestrel::vector_view<const float> lv(l);
    const kestrel::vector_view<double> ov(out);
    CHECK_THROWS_AS(ks::row_softmax(lv, 0.0, ov), kestrel::invalid_argument);
    CHECK_THROWS_AS(ks::row_softmax(lv, -1.0, ov), kestrel::invalid_argument);
    CHECK_THROWS_AS(ks::row_softmax(lv, std::nan(""), ov), kestrel::invalid_argument);
    CHECK_THROWS_AS(ks::row_softmax(lv, 1.0, kestrel::vector_view<double>(out.data(), 2)), kestrel::invalid_argument);
    CHECK_THROWS_AS(ks::row_softmax(kestrel::vector_view<const float>(l.data(), 0), 1.0,
                                    kestrel::vector_view<double>(out.data(), 0)),
                    kestrel::invalid_argument);
    const double inf_lse = std::numeric_limits<double>::infinity(), huge_lse = 1e300;
    CHECK_THROWS_AS(ks::row_softmax(lv, 1.0, ov, &inf_lse), kestrel::invalid_argument);
    CHECK_THROWS_AS(ks::row_softmax(lv, 1.0, ov, &huge_lse), kestrel::invalid_argument);  // beyond float
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        l[1] = bad;
        CHECK_THROWS_AS(ks::row_softmax(lv, 1.0, ov), kestrel::invalid_argument);
    }
    // 1 / T beyond the float range.
    l[1] = 2.0f;
    CHECK_THROWS_AS(ks::row_softmax(lv, 1e-40, ov), kestrel::invalid_argument);
    for (double v : out) CHECK(v == -7.0);
    // Logits near the float limit at a small temperature are fine (the shift comes first).
    const std::vector<float> big{3e38f, -3e38f, 2.9e38f};
    ks::row_softmax(kestrel::vector_view<const float>(big), 0.5, ov);
    CHECK(out[0] == 1.0);
    CHECK(out[1] == 0.0);
    CHECK(out[2] == 0.0);
    // Double rows: the double softmax (exp in double), normalized.
    const std::vector<double> ld{0.5, -1.0, 2.0};
    std::vector<double> pd(3);
    ks::row_softmax(kestrel::vector_view<const double>(ld), 1.0, kestrel::vector_view<double>(pd));
    const double z = std::exp(0.5) + std::exp(-1.0) + std::exp(2.0);
    for (std::size_t y = 0; y < 3; ++y) CHECK(pd[y] == Approx(std::exp(ld[y]) / z).epsilon(1e-14));
}
