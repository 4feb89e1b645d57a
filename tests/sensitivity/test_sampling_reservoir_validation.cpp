// Weighted reservoirs (item-keyed A-Res: merges bit for bit; A-ExpJ: merges in law) against the
// exact successive-sampling law, and every refusal of the sampling primitives (validation table:
// the right function and argument named, outputs and state untouched).
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
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

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

// Counts ordered outcomes (the held ids by increasing key) against the exact law.
struct ordered_law_counter {
    std::map<std::vector<std::size_t>, std::size_t> slot;
    std::vector<double> law, counts;
    bool unknown = false;
    ordered_law_counter(const std::vector<double>& w, std::size_t m) {
        for (const auto& kv : sampling_test::successive_sampling_law(w, m))
            slot[kv.first] = law.size(), law.push_back(kv.second);
        counts.assign(law.size(), 0.0);
    }
    void add(const std::vector<ks::reservoir_entry>& e) {
        std::vector<std::size_t> key;
        for (const auto& x : e) key.push_back(static_cast<std::size_t>(x.id));
        const auto it = slot.find(key);
        if (it == slot.end()) unknown = true;
        else counts[it->second] += 1;
    }
    void check(double trials) const {
        CHECK_FALSE(unknown);
        const auto r = sampling_test::chi_square(law, counts, trials);
        const double crit = sampling_test::chi2_quantile_upper(r.df, false_alarm);
        INFO("chi2 = " << r.statistic << " on " << r.df << " df, critical " << crit);
        CHECK(r.statistic < crit);
    }
};

std::vector<double> stream_weights(std::size_t n, std::uint64_t seed) {
    const counter_rng rng(seed, 5);
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = rng.uniform_double(i) < 0.1 ? 0.0 : -std::log(rng.uniform_double_open(n + i));
    return w;
}

}  // namespace

TEST_CASE("sensitivity: item-keyed reservoir equals sampling without replacement, and merges bit for bit", "[reservoir]") {
    const std::vector<double> w = stream_weights(20000, 1);
    for (std::size_t m : {std::size_t(1), std::size_t(50), std::size_t(3000)}) {
        INFO("m = " << m);
        const counter_rng rng(123, 4);
        ks::weighted_reservoir whole(m, rng);
        whole.push_range(0, cv(w));
        // The same keys as sample_without_replacement (draw i decides item i in both).
        std::vector<std::size_t> wr(m);
        std::vector<double> keys(m);
        ks::sample_without_replacement(cv(w), m, rng, wr, exec_policy{}, vector_view<double>(keys));
        const auto items = whole.items();
        REQUIRE(items.size() == m);
        for (std::size_t j = 0; j < m; ++j) {
            CHECK(items[j].id == wr[j]);
            CHECK(items[j].key == keys[j]);
        }
        // Three parts pushed in different orders and through different entry points, merged.
        ks::weighted_reservoir a(m, rng), b(m, rng), c(m, rng);
        for (std::size_t i = 7000; i-- > 0;) a.push(i, w[i]);  // reversed
        std::vector<std::uint64_t> ids;
        std::vector<double> wb;
        for (std::size_t i = 7000; i < 15000; i += 2) ids.push_back(i), wb.push_back(w[i]);  // evens, then odds
        for (std::size_t i = 7001; i < 15000; i += 2) ids.push_back(i), wb.push_back(w[i]);
        b.push(vector_view<const std::uint64_t>(ids), cv(wb));
        c.push_range(15000, vector_view<const double>(w.data() + 15000, w.size() - 15000));
        const auto merged = ks::weighted_reservoir::merge(ks::weighted_reservoir::merge(c, a), b);
        CHECK(merged.items() == items);
        CHECK(merged.items_seen() == whole.items_seen());
        CHECK(merged.threshold() == whole.threshold());
        // float weights: the key of the float's double value.
        std::vector<float> wf(w.begin(), w.end());
        ks::weighted_reservoir f(m, rng);
        f.push_range(0, cv(wf));
        std::vector<double> wd(wf.begin(), wf.end());
        ks::weighted_reservoir d(m, rng);
        d.push_range(0, cv(wd));
        CHECK(f.items() == d.items());
    }
}

TEST_CASE("sensitivity: reservoirs follow the exact successive-sampling law, whole and merged", "[reservoir]") {
    const std::vector<double> w{1.0, 2.0, 0.0, 3.5, 0.5, 6.0};
    const std::size_t trials = 10000 * trial_scale;
    for (std::size_t m : {std::size_t(2), std::size_t(3)}) {
        INFO("m = " << m);
        ordered_law_counter keyed(w, m), keyed_merged(w, m), expj(w, m), expj_single(w, m), expj_merged(w, m),
            expj_continued(w, m);
        for (std::size_t s = 0; s < trials; ++s) {
            const counter_rng rng(555, s);
            ks::weighted_reservoir r(m, rng);
            r.push_range(0, cv(w));
            keyed.add(r.items());
            ks::weighted_reservoir r1(m, rng), r2(m, rng);
            r1.push_range(3, vector_view<const double>(w.data() + 3, 3));
            r2.push_range(0, vector_view<const double>(w.data(), 3));
            keyed_merged.add(ks::weighted_reservoir::merge(r1, r2).items());

            ks::weighted_reservoir_expj e(m, rng);
            e.push_range(0, cv(w));  // the batch path (jump loop)
            expj.add(e.items());
            ks::weighted_reservoir_expj e1(m, counter_rng(556, s));
            for (std::size_t i = 0; i < w.size(); ++i) e1.push(i, w[i]);  // one at a time
            expj_single.add(e1.items());
            // Two streams on independent counters, merged (in law).
            ks::weighted_reservoir_expj ea(m, counter_rng(557, 2 * s)), eb(m, counter_rng(557, 2 * s + 1));
            ea.push_range(0, vector_view<const double>(w.data(), 4));
            eb.push_range(4, vector_view<const double>(w.data() + 4, 2));
            expj_merged.add(ks::weighted_reservoir_expj::merge(ea, eb).items());
            // Merge, then continue the stream: the jump restarts from the merged threshold.
            ks::weighted_reservoir_expj ec(m, counter_rng(558, 2 * s)), ed(m, counter_rng(558, 2 * s + 1));
            ec.push_range(0, vector_view<const double>(w.data(), 2));
            ed.push_range(2, vector_view<const double>(w.data() + 2, 2));
            auto cont = ks::weighted_reservoir_expj::merge(ed, ec);
            cont.push_range(4, vector_view<const double>(w.data() + 4, 2));
            expj_continued.add(cont.items());
        }
        {
            INFO("item-keyed, whole stream");
            keyed.check(double(trials));
        }
        {
            INFO("item-keyed, merged");
            keyed_merged.check(double(trials));
        }
        {
            INFO("A-ExpJ, batch");
            expj.check(double(trials));
        }
        {
            INFO("A-ExpJ, one at a time");
            expj_single.check(double(trials));
        }
        {
            INFO("A-ExpJ, merged");
            expj_merged.check(double(trials));
        }
        {
            INFO("A-ExpJ, merged then continued");
            expj_continued.check(double(trials));
        }
    }
}

TEST_CASE("sensitivity: A-ExpJ on a longer stream follows the law and draws few random numbers", "[reservoir]") {
    // n = 8 (m = 2): most items are past the fill, so the jumps and truncated keys decide.
    const std::vector<double> w{0.5, 1.0, 2.0, 0.25, 3.0, 1.5, 0.75, 4.0};
    const std::size_t trials = 10000 * trial_scale;
    ordered_law_counter c(w, 2);
    for (std::size_t s = 0; s < trials; ++s) {
        ks::weighted_reservoir_expj e(2, counter_rng(9, s));
        e.push_range(100, vector_view<const double>(w.data(), 0));  // empty batch: no-op
        std::vector<double> first(w.begin(), w.begin() + 3), rest(w.begin() + 3, w.end());
        e.push_range(0, cv(first));
        e.push_range(3, cv(rest));
        c.add(e.items());
    }
    c.check(double(trials));
    // Efficiency: about m (1 + log(n / m)) insertions, each two draws, far fewer than n items.
    const std::size_t n = 1000000, m = 100;
    std::vector<double> big(n, 1.0);
    ks::weighted_reservoir_expj e(m, counter_rng(1));
    e.push_range(0, cv(big));
    CHECK(e.items_seen() == n);
    CHECK(e.draws_used() < 6 * m * std::log(double(n) / m));
    CHECK(e.size() == m);
}

// ---------------------------------------------------------------------------------------------
// Validation table: every refusal names the public function and argument; nothing is written.

namespace {

struct refusal {
    std::string name, function, argument;
    std::function<void()> call;
};

template <class T>
std::vector<refusal> weight_refusals() {
    const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
    const std::vector<std::pair<std::string, std::vector<T>>> bad = {
        {"empty", {}},
        {"negative", {T(1), T(2), T(3), T(-0.5), T(1)}},
        {"NaN", {T(1), T(2), T(3), nan}},
        {"inf", {T(1), T(2), T(3), inf}},
        {"all zero", {T(0), T(0), T(0), T(0)}},
    };
    std::vector<refusal> r;
    for (const auto& [what, w] : bad) {
        const auto view = [w = w] { return w; };
        r.push_back({"alias_table " + what, "alias_table", "weights", [view] {
                         const auto v = view();
                         ks::alias_table t{vector_view<const T>(v)};
                     }});
        r.push_back({"alias_table::assign " + what, "alias_table::assign", "weights", [view] {
                         const auto v = view();
                         std::vector<double> good{1.0, 2.0};
                         ks::alias_table t{vector_view<const double>(good)};
                         try {
                             t.assign(vector_view<const T>(v));
                         } catch (...) {
                             CHECK(t.size() == 2);  // previous table kept
                             throw;
                         }
                     }});
        r.push_back({"sample_without_replacement " + what, "sample_without_replacement", "weights", [view] {
                         const auto v = view();
                         std::vector<std::size_t> out(1, 77);
                         try {
                             ks::sample_without_replacement(vector_view<const T>(v), 1, counter_rng(1), out);
                         } catch (...) {
                             CHECK(out[0] == 77);
                             throw;
                         }
                     }});
        r.push_back({"poisson_sample " + what, "poisson_sample", "weights", [view] {
                         const auto v = view();
                         ks::poisson_sample(vector_view<const T>(v), 1.0, counter_rng(1));
                     }});
        r.push_back({"poisson_expected_size " + what, "poisson_expected_size", "weights", [view] {
                         const auto v = view();
                         ks::poisson_expected_size(vector_view<const T>(v), 1.0);
                     }});
        r.push_back({"calibrate_poisson_scale " + what, "calibrate_poisson_scale", "weights", [view] {
                         const auto v = view();
                         ks::calibrate_poisson_scale(vector_view<const T>(v), 1.0);
                     }});
        r.push_back({"poisson_sample_calibrated " + what, "poisson_sample_calibrated", "weights", [view] {
                         const auto v = view();
                         ks::poisson_sample_calibrated(vector_view<const T>(v), 1.0, counter_rng(1));
                     }});
        r.push_back({"systematic_sample " + what, "systematic_sample", "weights", [view] {
                         const auto v = view();
                         std::vector<std::size_t> out(2, 77);
                         try {
                             ks::systematic_sample(vector_view<const T>(v), counter_rng(1), out);
                         } catch (...) {
                             CHECK(out == std::vector<std::size_t>(2, 77));
                             throw;
                         }
                     }});
    }
    return r;
}

}  // namespace

TEST_CASE("sensitivity: sampling primitives refuse bad weights (float and double)", "[validation]") {
    for (const auto& r : weight_refusals<double>()) {
        INFO("double: " << r.name);
        kestrel_test::check_refusal(r.function, r.argument, r.call);
    }
    for (const auto& r : weight_refusals<float>()) {
        INFO("float: " << r.name);
        kestrel_test::check_refusal(r.function, r.argument, r.call);
    }
    // The message names the first bad index (here 3 of 5, and 70000 in a parallel pass).
    std::vector<double> w{1, 2, 3, -1, -2};
    try {
        ks::alias_table t{vector_view<const double>(w)};
        FAIL("no exception");
    } catch (const kestrel::invalid_argument& e) {
        CHECK(std::string(e.what()).find("entry 3 ") != std::string::npos);
    }
    std::vector<double> big(200000, 1.0);
    big[70000] = std::numeric_limits<double>::quiet_NaN();
    big[150000] = -1.0;
    try {
        ks::validate_sampling_weights(vector_view<const double>(big), "test", exec_policy::with_threads(3));
        FAIL("no exception");
    } catch (const kestrel::invalid_argument& e) {
        CHECK(std::string(e.what()).find("entry 70000 ") != std::string::npos);
    }
    // A total that overflows double is refused (every entry finite).
    std::vector<double> huge(3, 1e308);
    kestrel_test::check_refusal("alias_table", "weights", [&] { ks::alias_table t{vector_view<const double>(huge)}; });
}

TEST_CASE("sensitivity: sampling primitives refuse bad sizes and parameters", "[validation]") {
    const std::vector<double> w{1.0, 0.0, 2.0, 3.0};  // 3 positive
    const ks::alias_table table{vector_view<const double>(w)};
    std::vector<std::size_t> out3(3, 77), out2(2, 77);
    const auto untouched = [&] { return out3 == std::vector<std::size_t>(3, 77) && out2 == std::vector<std::size_t>(2, 77); };
    std::vector<double> keys2(2);
    const std::vector<refusal> table_rows = {
        {"draws into a wrong-size output", "sample_with_replacement", "out_indices",
         [&] { ks::sample_with_replacement(table, 2, counter_rng(1), out3); }},
        {"draws from an empty table", "sample_with_replacement", "table",
         [&] { ks::sample_with_replacement(ks::alias_table{}, 3, counter_rng(1), out3); }},
        {"draws at a negative thread count", "sample_with_replacement", "policy.threads",
         [&] { ks::sample_with_replacement(table, 3, counter_rng(1), out3, exec_policy{-1}); }},
        {"draws that wrap the counter", "sample_with_replacement", "first_draw",
         [&] { ks::sample_with_replacement(table, 3, counter_rng(1), out3, exec_policy{}, UINT64_MAX - 1); }},
        {"alias_table negative threads", "alias_table", "policy.threads",
         [&] { ks::alias_table t(vector_view<const double>(w), exec_policy{-2}); }},
        {"without replacement m = 0", "sample_without_replacement", "m",
         [&] { ks::sample_without_replacement(cv(w), 0, counter_rng(1), vector_view<std::size_t>()); }},
        {"without replacement m above the positive count", "sample_without_replacement", "m", [&] {
             std::vector<std::size_t> o(4, 77);
             ks::sample_without_replacement(cv(w), 4, counter_rng(1), o);
         }},
        {"without replacement wrong output size", "sample_without_replacement", "out_indices",
         [&] { ks::sample_without_replacement(cv(w), 2, counter_rng(1), out3); }},
        {"without replacement wrong keys size", "sample_without_replacement", "out_keys", [&] {
             std::vector<double> k3(3);
             ks::sample_without_replacement(cv(w), 2, counter_rng(1), out2, exec_policy{}, vector_view<double>(k3));
         }},
        {"poisson m = 0", "poisson_sample", "m", [&] { ks::poisson_sample(cv(w), 0.0, counter_rng(1)); }},
        {"poisson m negative", "poisson_sample", "m", [&] { ks::poisson_sample(cv(w), -1.0, counter_rng(1)); }},
        {"poisson m NaN", "poisson_sample", "m",
         [&] { ks::poisson_sample(cv(w), std::numeric_limits<double>::quiet_NaN(), counter_rng(1)); }},
        {"poisson m inf", "poisson_sample", "m",
         [&] { ks::poisson_sample(cv(w), std::numeric_limits<double>::infinity(), counter_rng(1)); }},
        {"poisson negative threads", "poisson_sample", "policy.threads",
         [&] { ks::poisson_sample(cv(w), 1.0, counter_rng(1), exec_policy{-1}); }},
        {"expected size m = 0", "poisson_expected_size", "m", [&] { ks::poisson_expected_size(cv(w), 0.0); }},
        {"calibrate m above the positive count", "calibrate_poisson_scale", "m",
         [&] { ks::calibrate_poisson_scale(cv(w), 3.5); }},
        {"calibrate m = 0", "calibrate_poisson_scale", "m", [&] { ks::calibrate_poisson_scale(cv(w), 0.0); }},
        {"calibrated sample m above the positive count", "poisson_sample_calibrated", "m",
         [&] { ks::poisson_sample_calibrated(cv(w), 4.0, counter_rng(1)); }},
        {"systematic empty output", "systematic_sample", "out_indices",
         [&] { ks::systematic_sample(cv(w), counter_rng(1), vector_view<std::size_t>()); }},
        {"systematic negative threads", "systematic_sample", "policy.threads",
         [&] { ks::systematic_sample(cv(w), counter_rng(1), out3, exec_policy{-3}); }},
        {"reservoir m = 0", "weighted_reservoir", "m", [&] { ks::weighted_reservoir r(0, counter_rng(1)); }},
        {"A-ExpJ reservoir m = 0", "weighted_reservoir_expj", "m",
         [&] { ks::weighted_reservoir_expj r(0, counter_rng(1)); }},
    };
    for (const auto& r : table_rows) {
        INFO(r.name);
        kestrel_test::check_refusal(r.function, r.argument, r.call);
        CHECK(untouched());
    }
}

TEST_CASE("sensitivity: reservoirs refuse bad weights without changing state, and mismatched merges", "[validation]") {
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    ks::weighted_reservoir r(2, counter_rng(1));
    ks::weighted_reservoir_expj e(2, counter_rng(1));
    r.push(0, 1.0);
    e.push(0, 1.0);
    const auto r_before = r.items();
    const auto e_before = e.items();
    const std::vector<double> bad_batch{1.0, 2.0, -1.0};
    const std::vector<std::uint64_t> ids3{10, 11, 12}, ids2{10, 11};
    const std::vector<refusal> rows = {
        {"push negative", "weighted_reservoir::push", "weight", [&] { r.push(5, -1.0); }},
        {"push NaN", "weighted_reservoir::push", "weight", [&] { r.push(5, nan); }},
        {"push inf", "weighted_reservoir::push", "weight", [&] { r.push(5, inf); }},
        {"push float NaN", "weighted_reservoir::push", "weight", [&] { r.push(5, std::numeric_limits<float>::quiet_NaN()); }},
        {"batch with a negative", "weighted_reservoir::push", "weights",
         [&] { r.push(vector_view<const std::uint64_t>(ids3), cv(bad_batch)); }},
        {"batch size mismatch", "weighted_reservoir::push", "ids",
         [&] { r.push(vector_view<const std::uint64_t>(ids2), cv(bad_batch)); }},
        {"range with a negative", "weighted_reservoir::push_range", "weights", [&] { r.push_range(10, cv(bad_batch)); }},
        {"range wrapping ids", "weighted_reservoir::push_range", "first_id",
         [&] { r.push_range(UINT64_MAX - 1, cv(bad_batch)); }},
        {"merge capacities", "weighted_reservoir::merge", "b",
         [&] { ks::weighted_reservoir::merge(r, ks::weighted_reservoir(3, counter_rng(1))); }},
        {"merge streams", "weighted_reservoir::merge", "b",
         [&] { ks::weighted_reservoir::merge(r, ks::weighted_reservoir(2, counter_rng(1, 1))); }},
        {"expj push negative", "weighted_reservoir_expj::push", "weight", [&] { e.push(5, -1.0); }},
        {"expj push inf", "weighted_reservoir_expj::push", "weight", [&] { e.push(5, inf); }},
        {"expj batch with a negative", "weighted_reservoir_expj::push", "weights",
         [&] { e.push(vector_view<const std::uint64_t>(ids3), cv(bad_batch)); }},
        {"expj batch size mismatch", "weighted_reservoir_expj::push", "ids",
         [&] { e.push(vector_view<const std::uint64_t>(ids2), cv(bad_batch)); }},
        {"expj range with a negative", "weighted_reservoir_expj::push_range", "weights",
         [&] { e.push_range(10, cv(bad_batch)); }},
        {"expj range wrapping ids", "weighted_reservoir_expj::push_range", "first_id",
         [&] { e.push_range(UINT64_MAX, cv(bad_batch)); }},
        {"expj merge capacities", "weighted_reservoir_expj::merge", "b",
         [&] { ks::weighted_reservoir_expj::merge(e, ks::weighted_reservoir_expj(3, counter_rng(2))); }},
        {"expj merge on the same stream", "weighted_reservoir_expj::merge", "b",
         [&] { ks::weighted_reservoir_expj::merge(e, ks::weighted_reservoir_expj(2, counter_rng(1))); }},
    };
    for (const auto& row : rows) {
        INFO(row.name);
        kestrel_test::check_refusal(row.function, row.argument, row.call);
        CHECK(r.items() == r_before);
        CHECK(r.items_seen() == 1);
        CHECK(e.items() == e_before);
        CHECK(e.items_seen() == 1);
    }
}
