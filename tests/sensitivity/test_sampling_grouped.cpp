// The grouped Poisson sampler (a thinned exponential-gap walk, randomness per kept item) and the
// pipelined alias draws: each one's law against the exact target (inclusion frequencies and the
// exact Poisson-binomial law of the sample size, chi-square with fixed seeds and the false-alarm
// rate below), the same sample at 1, 2 and 3 threads, the one-pass variant equal to the two-pass
// one, draws equal to alias_table::draw index by index, and every refusal.
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/alias_table.hpp>
#include <kestrel/sensitivity/poisson_sampling.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "baselines/sensitivity_sampling.hpp"
#include "sensitivity/sampling_test_util.hpp"
#include "validation_table.hpp"

namespace ks = kestrel::sensitivity;
using kestrel::counter_rng;
using kestrel::exec_policy;
using kestrel::vector_view;
using sampling_test::trial_scale;

namespace {

using sampling_test::cv;
using sampling_test::false_alarm;

// n weights spanning every class of the grouped walk at scale c = m / W: zeros, small items of
// very different sizes, large items (1/2 < pi < 1) and capped ones (pi = 1), in the first group
// only; the second group (ragged, n - 2048 items) has small items alone.
std::vector<double> class_weights(std::size_t n) {
    const counter_rng rng(77, 3);
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double u = rng.uniform_double_open(i);
        w[i] = rng.uniform_double(n + i) < 0.1 ? 0.0 : std::pow(u, -0.6);
    }
    return w;
}

// pi_i = min(1, c w_i) in double, as the samplers define it.
std::vector<double> inclusion(const std::vector<double>& w, double c) {
    std::vector<double> pi(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) pi[i] = w[i] > 0.0 ? std::min(1.0, c * w[i]) : 0.0;
    return pi;
}

// Exact law of the size of an independent-inclusion sample (Poisson-binomial), by the usual
// dynamic programme over items.
std::vector<double> size_law(const std::vector<double>& pi) {
    std::vector<double> p{1.0};
    for (double q : pi) {
        if (q <= 0.0) continue;
        p.push_back(0.0);
        for (std::size_t k = p.size() - 1; k > 0; --k) p[k] = p[k] * (1.0 - q) + p[k - 1] * q;
        p[0] *= 1.0 - q;
    }
    return p;
}

// Draws `trials` samples with `draw(seed)` and checks (1) each sample is increasing without
// repeats, (2) the per-item inclusion counts against pi (items with 0 < pi < 1: the sum of
// (O - N pi)^2 / (N pi (1 - pi)) is asymptotically chi-square with that many degrees of freedom;
// pi = 0 never, pi = 1 always), (3) the sample sizes against the exact Poisson-binomial law
// (sensitive to any dependence between items).
void check_independent_law(const std::vector<double>& pi, std::size_t trials,
                           const std::function<std::vector<std::size_t>(std::uint64_t)>& draw) {
    std::vector<double> counts(pi.size(), 0.0), sizes(pi.size() + 1, 0.0);
    bool ordered = true;
    for (std::size_t s = 0; s < trials; ++s) {
        const std::vector<std::size_t> idx = draw(s);
        ordered &= std::is_sorted(idx.begin(), idx.end()) && std::adjacent_find(idx.begin(), idx.end()) == idx.end();
        for (std::size_t i : idx) counts[i] += 1;
        sizes[idx.size()] += 1;
    }
    CHECK(ordered);
    double stat = 0.0, df = 0.0;
    bool certain_ok = true;
    for (std::size_t i = 0; i < pi.size(); ++i) {
        if (pi[i] == 0.0) certain_ok &= counts[i] == 0.0;
        else if (pi[i] == 1.0) certain_ok &= counts[i] == double(trials);
        else {
            const double e = double(trials) * pi[i];
            stat += (counts[i] - e) * (counts[i] - e) / (e * (1.0 - pi[i]));
            df += 1;
        }
    }
    CHECK(certain_ok);
    const double crit = sampling_test::chi2_quantile_upper(df, false_alarm);
    INFO("inclusion chi2 " << stat << " on " << df << " df, critical " << crit);
    CHECK(stat < crit);
    std::vector<double> law = size_law(pi);
    law.resize(sizes.size(), 0.0);
    const auto r = sampling_test::chi_square(law, sizes, double(trials));
    const double crit2 = sampling_test::chi2_quantile_upper(r.df, false_alarm);
    INFO("size chi2 " << r.statistic << " on " << r.df << " df, critical " << crit2);
    CHECK(r.statistic < crit2);
}

}  // namespace

TEST_CASE("sensitivity: grouped Poisson sampling follows min(1, m p_i) independently", "[sampling]") {
    // Two groups (2048 + 1000 items); in the first, some items large and some capped.
    std::vector<double> w = class_weights(3048);
    const double m = 60.0;
    // Items 5, 6, 7 large (pi 0.6, 0.75, 0.9), 8 and 9 capped (pi = 1): with W' the total of the
    // others, w_k = s_k W / m where W = W' / (1 - sum_k s_k / m) is the final total.
    const double shares[] = {0.6, 0.75, 0.9, 1.5, 4.0};
    for (int k = 0; k < 5; ++k) w[5 + k] = 0.0;
    const double rest = std::accumulate(w.begin(), w.end(), 0.0);
    const double final_total = rest / (1.0 - (0.6 + 0.75 + 0.9 + 1.5 + 4.0) / m);
    for (int k = 0; k < 5; ++k) w[5 + k] = shares[k] * final_total / m;
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    const std::vector<double> pi = inclusion(w, m / total);
    REQUIRE(pi[5] > 0.5);
    REQUIRE(pi[7] < 1.0);
    REQUIRE(pi[8] == 1.0);
    long double expected = 0;
    for (double p : pi) expected += p;
    const std::size_t trials = 4000 * trial_scale;
    ks::poisson_sample_result r;
    ks::poisson_workspace ws;
    bool probs_ok = true, expected_ok = true;
    check_independent_law(pi, trials, [&](std::uint64_t s) {
        ks::poisson_sample_grouped(cv(w), m, counter_rng(9000 + s, 4), r, exec_policy::serial(), ws);
        // pi_i = min(1, c w_i) exactly, with c = m / W (W summed in SIMD order, so within a few
        // ulps of the serial sum used for pi above).
        probs_ok &= std::fabs(r.scale - m / total) <= 1e-13 * r.scale;
        for (std::size_t k = 0; k < r.indices.size(); ++k)
            probs_ok &= r.inclusion_probabilities[k] == std::min(1.0, r.scale * w[r.indices[k]]);
        expected_ok &= std::fabs(r.expected_size - double(expected)) <= 1e-12 * double(expected);
        return r.indices;
    });
    CHECK(probs_ok);
    CHECK(expected_ok);
    // The one-pass variant with a given scale, on the same items in float (pi in double of the
    // float values).
    const std::vector<float> wf(w.begin(), w.end());
    const std::vector<double> wfd(wf.begin(), wf.end());
    const double totf = std::accumulate(wfd.begin(), wfd.end(), 0.0);
    const std::vector<double> pif = inclusion(wfd, m / totf);
    check_independent_law(pif, trials, [&](std::uint64_t s) {
        ks::poisson_sample_grouped_with_scale(cv(wf), m / totf, counter_rng(5000 + s), r, exec_policy::serial(), ws);
        return r.indices;
    });
}

TEST_CASE("sensitivity: grouped Poisson sampling of tiny and of near-one probabilities", "[sampling]") {
    // Equal weights at pi = 1e-3 over many groups (only the walk), and pi = 0.45 (the walk's
    // largest small items: its dominating process has twice their rate).
    for (double p : {1e-3, 0.45}) {
        INFO("pi = " << p);
        const std::size_t n = p < 0.01 ? 20000 : 500;
        const std::vector<double> w(n, 3.0);
        const std::vector<double> pi(n, std::min(1.0, p / 3.0 * 3.0));
        const std::size_t trials = (p < 0.01 ? 2000 : 4000) * trial_scale;
        ks::poisson_sample_result r;
        ks::poisson_workspace ws;
        check_independent_law(pi, trials, [&](std::uint64_t s) {
            ks::poisson_sample_grouped_with_scale(cv(w), p / 3.0, counter_rng(s, 1), r, exec_policy::serial(), ws);
            return r.indices;
        });
    }
    // c = +infinity (calibrated m = number of positive weights): every positive weight kept.
    std::vector<double> w = class_weights(5000);
    const auto all = ks::poisson_sample_grouped_with_scale(cv(w), std::numeric_limits<double>::infinity(), counter_rng(1));
    std::vector<std::size_t> positive;
    for (std::size_t i = 0; i < w.size(); ++i)
        if (w[i] > 0.0) positive.push_back(i);
    CHECK(all.indices == positive);
    CHECK(all.expected_size == double(positive.size()));
    // A scale so small that every c w_i underflows to 0: nothing kept, no error (weights valid).
    const std::vector<double> tiny(100, 1e-300);
    CHECK(ks::poisson_sample_grouped_with_scale(cv(tiny), 1e-300, counter_rng(1)).indices.empty());
}

TEST_CASE("sensitivity: grouped Poisson sampling is thread-count invariant, one pass equals two", "[sampling]") {
    // 300001 items: ten parallel blocks, a ragged last group.
    std::vector<double> w = class_weights(300001);
    w[123456] = 1e6;  // capped
    w[200000] = 40.0;
    const double total_serial = std::accumulate(w.begin(), w.end(), 0.0);
    for (double m : {100.0, 20000.0}) {
        INFO("m = " << m);
        const counter_rng rng(31, 7);
        const auto a = ks::poisson_sample_grouped(cv(w), m, rng, exec_policy::with_threads(1));
        const auto b = ks::poisson_sample_grouped(cv(w), m, rng, exec_policy::with_threads(2));
        const auto c = ks::poisson_sample_grouped(cv(w), m, rng, exec_policy::with_threads(3));
        CHECK(a.indices == b.indices);
        CHECK(a.indices == c.indices);
        CHECK(a.inclusion_probabilities == c.inclusion_probabilities);
        CHECK(a.expected_size == c.expected_size);
        CHECK(a.expected_size == Approx(ks::poisson_expected_size(cv(w), m)).epsilon(1e-12));
        CHECK(a.scale == Approx(m / total_serial).epsilon(1e-13));
        // The one-pass variant given the same scale draws the same sample.
        const auto s1 = ks::poisson_sample_grouped_with_scale(cv(w), a.scale, rng, exec_policy::with_threads(1));
        const auto s3 = ks::poisson_sample_grouped_with_scale(cv(w), a.scale, rng, exec_policy::with_threads(3));
        CHECK(s1.indices == a.indices);
        CHECK(s3.indices == a.indices);
        CHECK(s3.expected_size == a.expected_size);
        // Another stream gives another sample.
        CHECK(ks::poisson_sample_grouped(cv(w), m, counter_rng(31, 8)).indices != a.indices);
    }
    // float weights give the sample of their double values.
    const std::vector<float> wf(w.begin(), w.end());
    const std::vector<double> wd(wf.begin(), wf.end());
    CHECK(ks::poisson_sample_grouped(cv(wf), 500.0, counter_rng(2)).indices ==
          ks::poisson_sample_grouped(cv(wd), 500.0, counter_rng(2)).indices);
}

TEST_CASE("sensitivity: the scaled scalar Poisson baseline follows its law", "[sampling]") {
    const std::vector<double> w = class_weights(600);
    const double c = 30.0 / std::accumulate(w.begin(), w.end(), 0.0);
    check_independent_law(inclusion(w, c), 4000 * trial_scale, [&](std::uint64_t s) {
        return kestrel_baseline::poisson_scalar_with_scale(w, c, counter_rng(s, 2));
    });
}

TEST_CASE("sensitivity: pipelined alias draws equal alias_table::draw index by index", "[sampling]") {
    // Tables of 1, 3 and 70000 entries; m around the pipeline's chunk (32 draws) and block (8192),
    // and not a multiple of either; an offset first draw, and one whose chunks cross 2^32.
    for (const std::size_t n : {std::size_t(1), std::size_t(3), std::size_t(70000)}) {
        std::vector<double> w = class_weights(n);
        w[n / 2] = std::max(w[n / 2], 0.5);  // never all zero
        const ks::alias_table t(w);
        for (std::size_t m : {std::size_t(1), std::size_t(31), std::size_t(32), std::size_t(33), std::size_t(129),
                              std::size_t(8193), std::size_t(70001)}) {
            for (const std::uint64_t first : {std::uint64_t(1000), (std::uint64_t(1) << 32) - 45}) {
                INFO("n = " << n << ", m = " << m << ", first draw " << first);
                for (int threads : {1, 2, 3}) {
                    std::vector<std::size_t> out(m);
                    ks::sample_with_replacement(t, m, counter_rng(5, 9), out, exec_policy::with_threads(threads), first);
                    bool same = true;
                    for (std::size_t j = 0; j < m; ++j) same &= out[j] == t.draw(first + j, counter_rng(5, 9));
                    CHECK(same);
                }
            }
        }
    }
}

TEST_CASE("sensitivity: grouped Poisson samplers refuse bad input before writing", "[validation]") {
    const std::vector<double> w{1.0, 0.0, 2.0, 3.0};
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    ks::poisson_sample_result out;
    out.indices = {77};
    out.scale = 5.0;
    ks::poisson_workspace ws;
    const auto untouched = [&] { return out.indices == std::vector<std::size_t>{77} && out.scale == 5.0; };
    struct row {
        const char* name;
        const char* function;
        const char* argument;
        std::function<void()> call;
    };
    auto grouped = [&](const std::vector<double>& v, double m, exec_policy p = {}) {
        return [&, v, m, p] { ks::poisson_sample_grouped(cv(v), m, counter_rng(1), out, p, ws); };
    };
    auto scaled = [&](const std::vector<double>& v, double c, exec_policy p = {}) {
        return [&, v, c, p] { ks::poisson_sample_grouped_with_scale(cv(v), c, counter_rng(1), out, p, ws); };
    };
    const char* g = "poisson_sample_grouped";
    const char* s = "poisson_sample_grouped_with_scale";
    std::vector<double> big(200000, 1.0);
    big[150000] = -1.0;
    big[70000] = nan;
    const std::vector<row> rows = {
        {"grouped m = 0", g, "m", grouped(w, 0.0)},
        {"grouped m NaN", g, "m", grouped(w, nan)},
        {"grouped m inf", g, "m", grouped(w, inf)},
        {"grouped empty", g, "weights", grouped({}, 1.0)},
        {"grouped NaN weight", g, "weights", grouped({1.0, nan}, 1.0)},
        {"grouped negative weight", g, "weights", grouped({1.0, -1.0}, 1.0)},
        {"grouped infinite weight", g, "weights", grouped({inf, 1.0}, 1.0)},
        {"grouped all zero", g, "weights", grouped({0.0, 0.0}, 1.0)},
        {"grouped negative threads", g, "policy.threads", grouped(w, 1.0, exec_policy{-1})},
        {"scaled c = 0", s, "c", scaled(w, 0.0)},
        {"scaled c negative", s, "c", scaled(w, -1.0)},
        {"scaled c NaN", s, "c", scaled(w, nan)},
        {"scaled empty", s, "weights", scaled({}, 1.0)},
        {"scaled NaN weight", s, "weights", scaled({1.0, nan}, 1.0)},
        {"scaled negative weight", s, "weights", scaled({1.0, 2.0, -1.0}, 1.0)},
        {"scaled infinite weight", s, "weights", scaled({inf}, 1.0)},
        {"scaled all zero", s, "weights", scaled({0.0, 0.0, 0.0}, 1.0)},
        {"scaled negative threads", s, "policy.threads", scaled(w, 1.0, exec_policy{-1})},
        {"scaled bad entry in a parallel pass", s, "weights", scaled(big, 1e-3, exec_policy::with_threads(3))},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        kestrel_test::check_refusal(r.function, r.argument, r.call);
        CHECK(untouched());
    }
    // The one-pass refusal names the smallest bad index, as the two-pass validation does.
    for (int threads : {1, 3}) {
        try {
            ks::poisson_sample_grouped_with_scale(cv(big), 1e-3, counter_rng(1), out, exec_policy::with_threads(threads), ws);
            FAIL("no exception");
        } catch (const kestrel::invalid_argument& e) {
            CHECK(std::string(e.what()).find("entry 70000 ") != std::string::npos);
        }
    }
    // Float weights too (a float NaN in the ragged end of a group).
    std::vector<float> wf(3000, 1.0f);
    wf[2999] = std::numeric_limits<float>::quiet_NaN();
    kestrel_test::check_refusal(s, "weights", [&] { ks::poisson_sample_grouped_with_scale(cv(wf), 0.01, counter_rng(1)); });
    kestrel_test::check_refusal(g, "weights", [&] { ks::poisson_sample_grouped(cv(wf), 1.0, counter_rng(1)); });
}

TEST_CASE("sensitivity: the grouped scan's small-item threshold is exact", "[sampling]") {
    // The scan decides "small" (c w <= 1/2 in double) by comparing w with a threshold; it must be
    // the largest value of the weight type for which the product is <= 1/2.
    const double cs[] = {1e-300, 1e-30, 0.3, 0.5, 1.0, 1.0 / 3.0, 2.5e-7, 7.0, 1e30, 1e300,
                         0.5 / double(std::numeric_limits<float>::max())};
    for (double c : cs) {
        INFO("c = " << c);
        const float tf = ks::detail::poisson_small_threshold<float>(c);
        CHECK(c * double(tf) <= 0.5);
        if (tf < std::numeric_limits<float>::max())
            CHECK(c * double(std::nextafter(tf, std::numeric_limits<float>::max())) > 0.5);
        const double td = ks::detail::poisson_small_threshold<double>(c);
        CHECK(c * td <= 0.5);
        if (td < std::numeric_limits<double>::max())
            CHECK(c * std::nextafter(td, std::numeric_limits<double>::max()) > 0.5);
    }
    CHECK(ks::detail::poisson_small_threshold<float>(0.0) == std::numeric_limits<float>::max());
}

TEST_CASE("sensitivity: grouped Poisson sampling of float weights at the small/large boundary and with -0",
          "[sampling]") {
    // c = 1/2: a weight of 1 has pi = 1/2 exactly (the walk's largest small item), its float
    // neighbour above is a large item (coin per item), below a small one; -0 and +0 weights
    // (never kept) in every group, some groups whole and the last ragged.
    const float one = 1.0f, above = std::nextafter(one, 2.0f), below = std::nextafter(one, 0.0f);
    const float pattern[] = {one, 0.25f, above, -0.0f, below, 0.0f, 0.01f, one, 0.5f};
    std::vector<float> wf(4100);
    for (std::size_t i = 0; i < wf.size(); ++i) wf[i] = pattern[(i * 7) % 9];
    const double c = 0.5;
    std::vector<double> pi(wf.size());
    for (std::size_t i = 0; i < wf.size(); ++i) pi[i] = wf[i] > 0.0f ? std::min(1.0, c * double(wf[i])) : 0.0;
    ks::poisson_sample_result r;
    ks::poisson_workspace ws;
    check_independent_law(pi, 1500 * trial_scale, [&](std::uint64_t s) {
        ks::poisson_sample_grouped_with_scale(cv(wf), c, counter_rng(9000 + s), r, exec_policy::serial(), ws);
        return r.indices;
    });
    // -0 is a valid weight: the same sample and expected size as with +0 in its place.
    std::vector<float> plus(wf);
    for (float& v : plus) v = v == 0.0f ? 0.0f : v;
    const auto a = ks::poisson_sample_grouped_with_scale(cv(wf), c, counter_rng(4));
    const auto b = ks::poisson_sample_grouped_with_scale(cv(plus), c, counter_rng(4));
    CHECK(a.indices == b.indices);
    CHECK(a.expected_size == b.expected_size);
    CHECK(ks::poisson_sample_grouped(cv(wf), 300.0, counter_rng(4)).indices ==
          ks::poisson_sample_grouped(cv(plus), 300.0, counter_rng(4)).indices);
    // Refusals of float weights found by the scan, in whole groups and in the ragged end.
    const char* s = "poisson_sample_grouped_with_scale";
    for (std::size_t at : {std::size_t(5), std::size_t(2500), std::size_t(4099)}) {
        for (float bad : {-1.0f, -1e-40f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
            INFO("bad weight " << bad << " at " << at);
            std::vector<float> v(wf);
            v[at] = bad;
            kestrel_test::check_refusal(s, "weights", [&] {
                ks::poisson_sample_grouped_with_scale(cv(v), c, counter_rng(1), r, exec_policy::with_threads(2), ws);
            });
        }
    }
    const std::vector<float> zeros{0.0f, -0.0f, 0.0f};
    kestrel_test::check_refusal(s, "weights", [&] { ks::poisson_sample_grouped_with_scale(cv(zeros), c, counter_rng(1)); });
}
