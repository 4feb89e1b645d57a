// Weighted-sampling primitives: each one's output law against the exact target law (chi-square
// with fixed seeds, critical values computed here from the chi-square distribution at the
// stated false-alarm rate), exact enumeration of successive sampling on small cases, the
// baselines agreeing with the kernels, and the same sample at 1, 2 and 3 threads.
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/alias_table.hpp>
#include <kestrel/sensitivity/poisson_sampling.hpp>
#include <kestrel/sensitivity/sampling_weights.hpp>
#include <kestrel/sensitivity/systematic_sampling.hpp>
#include <kestrel/sensitivity/weighted_reservoir.hpp>
#include <kestrel/sensitivity/without_replacement.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "baselines/sensitivity_sampling.hpp"
#include "sensitivity/sampling_test_util.hpp"

namespace ks = kestrel::sensitivity;
using kestrel::counter_rng;
using kestrel::exec_policy;
using kestrel::vector_view;
using sampling_test::trial_scale;

namespace {

// Every chi-square check below fails by chance with probability 1e-6 (a fixed seed makes the
using sampling_test::cv;
using sampling_test::false_alarm;

// Heavy-tailed weights with some exact zeros.
std::vector<double> test_weights(std::size_t n, std::uint64_t seed, double zero_fraction = 0.1) {
    const counter_rng rng(seed, 99);
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double u = rng.uniform_double_open(i);
        w[i] = rng.uniform_double(n + i) < zero_fraction ? 0.0 : std::pow(u, -0.7);  // Pareto-like
    }
    w[n / 2] = 1.0;  // at least one positive
    return w;
}

void check_chi2(const std::vector<double>& law, const std::vector<double>& counts, double trials) {
    const auto r = sampling_test::chi_square(law, counts, trials);
    const double crit = sampling_test::chi2_quantile_upper(r.df, false_alarm);
    INFO("chi2 = " << r.statistic << " on " << r.df << " df, critical " << crit);
    CHECK(r.statistic < crit);
}

}  // namespace

TEST_CASE("sensitivity: the chi-square quantile matches known values", "[sampling]") {
    // Tabulated: chi2_{0.05}(1) = 3.841459, chi2_{0.01}(10) = 23.209251, chi2_{0.001}(100) = 149.449252.
    CHECK(sampling_test::chi2_quantile_upper(1, 0.05) == Approx(3.841459).epsilon(1e-6));
    CHECK(sampling_test::chi2_quantile_upper(10, 0.01) == Approx(23.209251).epsilon(1e-6));
    CHECK(sampling_test::chi2_quantile_upper(100, 0.001) == Approx(149.449252).epsilon(1e-6));
    CHECK(sampling_test::normal_quantile_two_sided(0.05) == Approx(1.959964).epsilon(1e-6));
}

TEST_CASE("sensitivity: alias table implies the target law and its draws follow it", "[sampling]") {
    const std::vector<double> w = test_weights(200, 1);
    const ks::alias_table t(w);
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    const auto p = t.implied_probabilities();
    for (std::size_t i = 0; i < w.size(); ++i) {
        INFO("i = " << i);
        // Rounding of the build: the sweep's residual carries one rounding per earlier pairing
        // (up to n of them, 2^-53 relative each, on a residual of order 1 in units of 1 / n).
        CHECK(std::fabs(p[i] - w[i] / total) <= double(w.size()) * 0x1p-52 * (w[i] / total) + 1e-17);
        if (w[i] == 0.0) CHECK(p[i] == 0.0);
    }
    const std::size_t m = 100000 * trial_scale;
    std::vector<std::size_t> out(m);
    ks::sample_with_replacement(t, m, counter_rng(7, 1), out);
    std::vector<double> counts(w.size(), 0.0), law(w.size());
    for (std::size_t o : out) counts[o] += 1;
    for (std::size_t i = 0; i < w.size(); ++i) law[i] = w[i] / total;
    check_chi2(law, counts, double(m));
    // Draw j is a pure function of (seed, stream, j).
    for (std::size_t j : {std::size_t(0), std::size_t(17), m - 1}) CHECK(t.draw(j, counter_rng(7, 1)) == out[j]);
}

TEST_CASE("sensitivity: alias table from float weights equals the table of the same values in double", "[sampling]") {
    const std::vector<double> wd = test_weights(1000, 2);
    std::vector<float> wf(wd.begin(), wd.end());
    std::vector<double> back(wf.begin(), wf.end());
    const ks::alias_table tf(wf), td(back);
    REQUIRE(tf.size() == td.size());
    for (std::size_t i = 0; i < tf.size(); ++i) {
        CHECK(tf.entries()[i].prob == td.entries()[i].prob);
        CHECK(tf.entries()[i].alias == td.entries()[i].alias);
    }
    // Degenerate: one positive weight among zeros is always drawn.
    std::vector<float> one(50, 0.0f);
    one[31] = 2.5f;
    const ks::alias_table t1(one);
    std::vector<std::size_t> out(1000);
    ks::sample_with_replacement(t1, out.size(), counter_rng(3), out);
    for (std::size_t o : out) CHECK(o == 31);
}

TEST_CASE("sensitivity: alias draws are the same at 1, 2 and 3 threads", "[sampling]") {
    const std::vector<double> w = test_weights(5000, 3);
    const ks::alias_table t(w);
    const std::size_t m = 300000;
    std::vector<std::size_t> a(m), b(m), c(m);
    ks::sample_with_replacement(t, m, counter_rng(11), a, exec_policy::with_threads(1));
    ks::sample_with_replacement(t, m, counter_rng(11), b, exec_policy::with_threads(2));
    ks::sample_with_replacement(t, m, counter_rng(11), c, exec_policy::with_threads(3));
    CHECK(a == b);
    CHECK(a == c);
    // A table built at 1 and 3 threads is the same table (validation is blockwise).
    const std::vector<double> big = test_weights(200000, 4);
    const ks::alias_table t1(vector_view<const double>(big), exec_policy::with_threads(1));
    const ks::alias_table t3(vector_view<const double>(big), exec_policy::with_threads(3));
    CHECK(t1.total() == t3.total());
    bool same = true;
    for (std::size_t i = 0; i < big.size(); ++i)
        same &= t1.entries()[i].prob == t3.entries()[i].prob && t1.entries()[i].alias == t3.entries()[i].alias;
    CHECK(same);
}

TEST_CASE("sensitivity: the with-replacement baselines follow the same law", "[sampling]") {
    const std::vector<double> w = test_weights(100, 5);
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    std::vector<double> law(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) law[i] = w[i] / total;
    const std::size_t m = 50000 * trial_scale;
    for (int which = 0; which < 2; ++which) {
        const auto d = which == 0 ? kestrel_baseline::discrete_distribution_draws(w, m, 5)
                                  : kestrel_baseline::cumulative_search_draws(w, m, counter_rng(5));
        std::vector<double> counts(w.size(), 0.0);
        for (std::size_t o : d) counts[o] += 1;
        INFO("baseline " << which);
        check_chi2(law, counts, double(m));
    }
}

TEST_CASE("sensitivity: without replacement follows the exact successive-sampling law (n = 5, m = 2 and 3)", "[sampling]") {
    // A zero weight in the middle must never be chosen; the enumeration skips it.
    const std::vector<double> w{1.0, 2.0, 0.0, 3.5, 0.5, 6.0};
    for (std::size_t m : {std::size_t(2), std::size_t(3)}) {
        const auto law_map = sampling_test::successive_sampling_law(w, m);
        double mass = 0.0;
        for (const auto& kv : law_map) mass += kv.second;
        REQUIRE(mass == Approx(1.0).epsilon(1e-14));
        std::map<std::vector<std::size_t>, std::size_t> slot;
        std::vector<double> law;
        for (const auto& kv : law_map) slot[kv.first] = law.size(), law.push_back(kv.second);
        std::vector<double> counts(law.size(), 0.0), incl(w.size(), 0.0);
        const std::size_t trials = 20000 * trial_scale;
        std::vector<std::size_t> out(m);
        ks::without_replacement_workspace ws;
        bool distinct = true, known = true;
        for (std::size_t s = 0; s < trials; ++s) {
            ks::sample_without_replacement(cv(w), m, counter_rng(2026, s), out, exec_policy::serial(), ws);
            distinct &= std::set<std::size_t>(out.begin(), out.end()).size() == m;
            const auto it = slot.find(out);
            if (it == slot.end()) known = false;
            else counts[it->second] += 1;
            for (std::size_t i : out) incl[i] += 1;
        }
        INFO("m = " << m);
        CHECK(distinct);
        CHECK(known);  // never the zero weight, never a repeat
        check_chi2(law, counts, double(trials));  // the ordered law: output order = order of selection
        // First-order inclusion: each count is Binomial(trials, pi_i); Bonferroni over 6 items.
        const auto pi = sampling_test::successive_inclusion(w, m);
        const double z = sampling_test::normal_quantile_two_sided(false_alarm / 6);
        for (std::size_t i = 0; i < w.size(); ++i) {
            INFO("item " << i << " pi " << pi[i] << " observed " << incl[i] / trials);
            const double sd = std::sqrt(trials * pi[i] * (1 - pi[i]));
            CHECK(std::fabs(incl[i] - trials * pi[i]) <= z * sd + 1e-9);
        }
    }
}

TEST_CASE("sensitivity: without replacement equals the sort-all-keys baseline and is thread-count invariant", "[sampling]") {
    const std::vector<double> w = test_weights(150000, 6, 0.3);
    std::size_t positive = 0;
    for (double v : w) positive += v > 0;
    for (std::size_t m : {std::size_t(1), std::size_t(1000), std::size_t(40000), positive}) {
        INFO("m = " << m);
        const counter_rng rng(77, m);
        std::vector<std::size_t> a(m), b(m), c(m);
        std::vector<double> keys(m);
        ks::sample_without_replacement(cv(w), m, rng, a, exec_policy::with_threads(1), vector_view<double>(keys));
        ks::sample_without_replacement(cv(w), m, rng, b, exec_policy::with_threads(2));
        ks::sample_without_replacement(cv(w), m, rng, c, exec_policy::with_threads(3));
        CHECK(a == b);
        CHECK(a == c);
        CHECK(a == kestrel_baseline::sort_all_keys(w, m, rng));
        CHECK(std::set<std::size_t>(a.begin(), a.end()).size() == m);
        CHECK(std::is_sorted(keys.begin(), keys.end()));
        CHECK(keys[0] == ks::exponential_key(rng, a[0], w[a[0]]));
    }
    // float weights: the keys are computed in double from the float value.
    std::vector<float> wf(w.begin(), w.end());
    std::vector<double> wd(wf.begin(), wf.end());
    std::vector<std::size_t> a(500), b(500);
    ks::sample_without_replacement(cv(wf), 500, counter_rng(8), a);
    ks::sample_without_replacement(cv(wd), 500, counter_rng(8), b);
    CHECK(a == b);
}

TEST_CASE("sensitivity: Poisson inclusion counts follow min(1, m p_i) independently", "[sampling]") {
    std::vector<double> w = test_weights(40, 9);
    w[3] = 200.0;  // m p_i > 1: always kept
    w[4] = 0.0;    // never kept
    const double m = 8.0, total = std::accumulate(w.begin(), w.end(), 0.0);
    std::vector<double> pi(w.size());
    long double expected = 0;
    for (std::size_t i = 0; i < w.size(); ++i) expected += pi[i] = std::min(1.0, m * w[i] / total);
    CHECK(ks::poisson_expected_size(cv(w), m) == Approx(double(expected)).epsilon(1e-14));
    const std::size_t trials = 10000 * trial_scale;
    std::vector<double> counts(w.size(), 0.0);
    double size_sum = 0.0;
    ks::poisson_sample_result r;
    ks::poisson_workspace ws;
    bool ordered = true, probs_ok = true;
    for (std::size_t s = 0; s < trials; ++s) {
        ks::poisson_sample(cv(w), m, counter_rng(4242, s), r, exec_policy::serial(), ws);
        ordered &= std::is_sorted(r.indices.begin(), r.indices.end()) &&
                   std::adjacent_find(r.indices.begin(), r.indices.end()) == r.indices.end();
        for (std::size_t k = 0; k < r.indices.size(); ++k) {
            counts[r.indices[k]] += 1;
            probs_ok &= std::fabs(r.inclusion_probabilities[k] - pi[r.indices[k]]) <= 1e-15;
        }
        size_sum += double(r.indices.size());
    }
    CHECK(ordered);
    CHECK(probs_ok);
    CHECK(counts[3] == double(trials));
    CHECK(counts[4] == 0.0);
    // Items are independent: sum over 0 < pi < 1 of (O - N pi)^2 / (N pi (1 - pi)) is
    // asymptotically chi-square with that many degrees of freedom.
    double stat = 0.0, df = 0.0;
    for (std::size_t i = 0; i < w.size(); ++i)
        if (pi[i] > 0.0 && pi[i] < 1.0) {
            const double e = trials * pi[i];
            stat += (counts[i] - e) * (counts[i] - e) / (e * (1.0 - pi[i]));
            df += 1;
        }
    const double crit = sampling_test::chi2_quantile_upper(df, false_alarm);
    INFO("chi2 " << stat << " df " << df << " crit " << crit);
    CHECK(stat < crit);
    (void)size_sum;
}

TEST_CASE("sensitivity: calibrated Poisson scale gives expected size m exactly", "[sampling]") {
    const std::vector<double> w = test_weights(100000, 10, 0.2);
    std::size_t positive = 0;
    for (double v : w) positive += v > 0;
    for (double m : {1.0, 37.5, 5000.0, 50000.0, double(positive) - 0.5}) {
        INFO("m = " << m);
        const double c = ks::calibrate_poisson_scale(cv(w), m);
        long double s = 0;
        std::size_t capped = 0;
        for (double v : w) {
            s += std::min(1.0L, (long double)c * v);
            capped += v > 0 && c * v >= 1.0;
        }
        CHECK(std::fabs(double(s) - m) <= 1e-12 * m);
        // The reference by sorting: with k capped items (the k largest), c = (m - k) / (sum of
        // the rest), and the k-th largest weight times c is >= 1 while the (k+1)-th is < 1.
        std::vector<double> sorted;
        for (double v : w)
            if (v > 0) sorted.push_back(v);
        std::sort(sorted.rbegin(), sorted.rend());
        long double rest = 0;
        for (std::size_t k = capped; k < sorted.size(); ++k) rest += sorted[k];
        CHECK(c == Approx(double((m - capped) / rest)).epsilon(1e-12));
        if (capped > 0) CHECK(c * sorted[capped - 1] >= 1.0 - 1e-12);
        if (capped < sorted.size()) CHECK(c * sorted[capped] < 1.0 + 1e-12);
        const auto r = ks::poisson_sample_calibrated(cv(w), m, counter_rng(5));
        CHECK(std::fabs(r.expected_size - m) <= 1e-12 * m);
        CHECK(r.scale == c);
    }
    // m equal to the number of positive weights: every positive weight kept.
    const auto all = ks::poisson_sample_calibrated(cv(w), double(positive), counter_rng(5));
    CHECK(all.indices.size() == positive);
    CHECK(std::isinf(all.scale));
    // Equal weights: c = m / (n W_1), nothing capped.
    std::vector<float> eq(1000, 2.0f);
    CHECK(ks::calibrate_poisson_scale(cv(eq), 100.0) == Approx(100.0 / 2000.0).epsilon(1e-15));
}

TEST_CASE("sensitivity: Poisson sampling equals the scalar baseline and is thread-count invariant", "[sampling]") {
    const std::vector<double> w = test_weights(300001, 12, 0.1);
    for (double m : {100.0, 20000.0}) {
        const counter_rng rng(31, 7);
        const auto a = ks::poisson_sample(cv(w), m, rng, exec_policy::with_threads(1));
        const auto b = ks::poisson_sample(cv(w), m, rng, exec_policy::with_threads(2));
        const auto c = ks::poisson_sample(cv(w), m, rng, exec_policy::with_threads(3));
        CHECK(a.indices == b.indices);
        CHECK(a.indices == c.indices);
        CHECK(a.inclusion_probabilities == c.inclusion_probabilities);
        CHECK(a.expected_size == c.expected_size);
        CHECK(a.indices == kestrel_baseline::poisson_scalar(w, m, rng));
        const auto cal1 = ks::poisson_sample_calibrated(cv(w), m, rng, exec_policy::with_threads(1));
        const auto cal3 = ks::poisson_sample_calibrated(cv(w), m, rng, exec_policy::with_threads(3));
        CHECK(cal1.indices == cal3.indices);
        CHECK(cal1.scale == cal3.scale);
    }
    // float: the same as the double values of the floats.
    std::vector<float> wf(w.begin(), w.end());
    std::vector<double> wd(wf.begin(), wf.end());
    CHECK(ks::poisson_sample(cv(wf), 500.0, counter_rng(2)).indices ==
          ks::poisson_sample(cv(wd), 500.0, counter_rng(2)).indices);
}

namespace {
// The systematic sample as a function of the start u, directly from the definition.
std::vector<std::size_t> systematic_at(const std::vector<double>& w, std::size_t m, double u) {
    const double total = std::accumulate(w.begin(), w.end(), 0.0), h = total / m;
    std::vector<std::size_t> out;
    double c = 0.0;
    std::size_t k = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
        c += w[i];
        while (k < m && (u + k) * h < c) out.push_back(i), ++k;
    }
    return out;
}
}  // namespace

TEST_CASE("sensitivity: systematic sampling follows its exact law over the start", "[sampling]") {
    // The sample changes only where a point (u + k) W / m crosses a cumulative sum: u at the
    // fractional parts of C_i m / W. Between breakpoints it is constant, so its exact law is the
    // lengths of the pieces (evaluated at their midpoints).
    for (int kase = 0; kase < 2; ++kase) {
        // kase 0: all m p_i <= 1; kase 1: one item with m p_i = 2.4 (taken 2 or 3 times).
        const std::vector<double> w = kase == 0 ? std::vector<double>{1, 2, 0, 3, 1.5, 2.5, 0.5, 1.5}
                                                : std::vector<double>{1, 2, 0, 12, 1.5, 2.5, 0.5, 0.5};
        const std::size_t m = 4;
        const double total = std::accumulate(w.begin(), w.end(), 0.0);
        std::vector<double> cuts{0.0, 1.0};
        double c = 0;
        for (double v : w) {
            c += v;
            const double x = c * m / total;
            cuts.push_back(x - std::floor(x));
        }
        std::sort(cuts.begin(), cuts.end());
        std::map<std::vector<std::size_t>, double> law_map;
        for (std::size_t k = 0; k + 1 < cuts.size(); ++k)
            if (cuts[k + 1] > cuts[k]) law_map[systematic_at(w, m, 0.5 * (cuts[k] + cuts[k + 1]))] += cuts[k + 1] - cuts[k];
        // Its marginals are m p_i (expected number of points of i).
        std::vector<double> mean(w.size(), 0.0);
        for (const auto& kv : law_map)
            for (std::size_t i : kv.first) mean[i] += kv.second;
        for (std::size_t i = 0; i < w.size(); ++i) CHECK(mean[i] == Approx(m * w[i] / total).margin(1e-12));

        std::map<std::vector<std::size_t>, std::size_t> slot;
        std::vector<double> law;
        for (const auto& kv : law_map) slot[kv.first] = law.size(), law.push_back(kv.second);
        std::vector<double> counts(law.size(), 0.0);
        const std::size_t trials = 10000 * trial_scale;
        std::vector<std::size_t> out(m);
        bool known = true, floor_ceil = true;
        for (std::size_t s = 0; s < trials; ++s) {
            ks::systematic_sample(cv(w), counter_rng(99, s), out);
            const auto it = slot.find(out);
            if (it == slot.end()) known = false;
            else counts[it->second] += 1;
            for (std::size_t i = 0; i < w.size(); ++i) {
                const double cnt = double(std::count(out.begin(), out.end(), i)), mp = m * w[i] / total;
                floor_ceil &= cnt == std::floor(mp) || cnt == std::ceil(mp);
            }
        }
        INFO("case " << kase);
        CHECK(known);
        CHECK(floor_ceil);
        check_chi2(law, counts, double(trials));
    }
}

TEST_CASE("sensitivity: systematic sampling equals the serial baseline and is thread-count invariant", "[sampling]") {
    const std::vector<double> w = test_weights(250000, 13, 0.2);
    for (std::size_t m : {std::size_t(1), std::size_t(777), std::size_t(100000)}) {
        const counter_rng rng(5, m);
        std::vector<std::size_t> a(m), b(m), c(m);
        ks::systematic_sample(cv(w), rng, a, exec_policy::with_threads(1));
        ks::systematic_sample(cv(w), rng, b, exec_policy::with_threads(2));
        ks::systematic_sample(cv(w), rng, c, exec_policy::with_threads(3));
        INFO("m = " << m);
        CHECK(a == b);
        CHECK(a == c);
        CHECK(std::is_sorted(a.begin(), a.end()));
        // The baseline's one serial sum can differ from the blocked sum in its last bits, which
        // moves a point only if it lies within a few ulps of a cumulative sum: compare counts.
        const auto base = kestrel_baseline::systematic_serial(w, m, rng);
        std::size_t differ = 0;
        for (std::size_t k = 0; k < m; ++k) differ += a[k] != base[k];
        CHECK(differ == 0);
        for (std::size_t o : a) CHECK(w[o] > 0.0);
    }
}

TEST_CASE("sensitivity: systematic sampling on exactly summable weights equals the exact-arithmetic sample", "[sampling]") {
    // Integer weights (many zeros, whole zero groups and a zero block, a ragged end): every
    // cumulative sum is exact in double in any order, so the grouped walk (group sums in SIMD
    // lanes, groups skipped when they hold no point) must give exactly the sample of the
    // definition computed point by point against exact integer cumulative sums, at any m and
    // thread count, float and double weights.
    const std::size_t B = ks::sampling_block, n = 3 * B + 777;
    const counter_rng gen(77, 1);
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double r = gen.uniform_double(i);
        w[i] = r < 0.6 ? 0.0 : std::floor(1000.0 * gen.uniform_double(n + i));
        if (i >= B && i < 2 * B) w[i] = 0.0;               // a block without mass
        if (i >= 2 * B + 640 && i < 2 * B + 1280) w[i] = 0.0;  // ten groups without mass
    }
    w[n - 1] = 5.0;
    std::vector<double> cum(n);
    double c = 0.0;
    for (std::size_t i = 0; i < n; ++i) cum[i] = (c += w[i]);  // exact: integers below 2^53
    const std::vector<float> wf(w.begin(), w.end());
    std::size_t mismatches = 0, checked = 0;
    for (std::size_t m : {std::size_t(1), std::size_t(3), std::size_t(1000), std::size_t(40000), std::size_t(300000)}) {
        for (std::uint64_t seed : {1u, 2u, 3u}) {
            const counter_rng rng(seed, m);
            const double u = rng.uniform_double(0), h = c / static_cast<double>(m);
            std::vector<std::size_t> expect(m);
            for (std::size_t k = 0, i = 0; k < m; ++k) {
                const double t = (u + static_cast<double>(k)) * h;
                while (i < n && !(t < cum[i])) ++i;
                expect[k] = i < n ? i : n - 1;  // (t >= W cannot happen here: the last item is positive)
            }
            for (int threads : {1, 2, 3}) {
                std::vector<std::size_t> a(m), b(m);
                ks::systematic_sample(cv(w), rng, a, exec_policy::with_threads(threads));
                ks::systematic_sample(vector_view<const float>(wf), rng, b, exec_policy::with_threads(threads));
                mismatches += (a != expect) + (b != expect);
                checked += 2;
            }
        }
    }
    INFO(mismatches << " of " << checked << " samples differ from the definition");
    CHECK(mismatches == 0);
}
