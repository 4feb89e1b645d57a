// Every public k-medoids entry point against its bad inputs, table-driven: each row calls one
// entry point with one bad input and expects kestrel::invalid_argument whose message names
// the function and the argument ("kestrel::<function>: argument '<arg>': ..."), with any
// output the call takes left untouched. Then user code that throws (a metric, a custom
// source) at 1 and 2 threads, the converged flag, and the folded input check of the SWAP
// routines (the first bad entry in row order, wherever it lies, at any thread count).
#include <catch2/catch.hpp>

#include "validation_table.hpp"

#include <kestrel/kmedoids.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kmedoids_test_util.hpp"

namespace km = kestrel::kmedoids;
using dense = km::dense_dissimilarity<double>;
using index_list = std::vector<std::size_t>;

namespace {

const double nan_v = std::numeric_limits<double>::quiet_NaN();
const double inf_v = std::numeric_limits<double>::infinity();
constexpr std::size_t huge = std::size_t(1) << 40;

/// A source of any claimed size whose values are never meant to be read.
struct huge_source {
    using value_type = double;
    std::size_t n;
    std::size_t size() const { return n; }
    double operator()(std::size_t i, std::size_t j) const { return i == j ? 0.0 : 1.0; }
};

struct user_error : std::runtime_error {
    user_error() : std::runtime_error("user code failed") {}
};

/// A custom source over a dense matrix that throws at its limit-th call (counted over threads).
struct throwing_source {
    using value_type = double;
    const dense* d;
    std::shared_ptr<std::atomic<long>> calls;
    long limit;
    std::size_t size() const { return d->size(); }
    double operator()(std::size_t i, std::size_t j) const {
        if (calls->fetch_add(1) + 1 >= limit) throw user_error();
        return (*d)(i, j);
    }
};

/// A metric that throws at its limit-th call.
struct throwing_metric {
    std::shared_ptr<std::atomic<long>> calls;
    long limit;
    template <class T>
    T operator()(const T* a, const T* b, std::size_t dim) const {
        if (calls->fetch_add(1) + 1 >= limit) throw user_error();
        return km::manhattan()(a, b, dim);
    }
};

struct row {
    row(std::string f, std::string a, std::string w, std::function<void()> c, std::function<bool()> u = nullptr)
        : function(std::move(f)), argument(std::move(a)), what(std::move(w)), call(std::move(c)), untouched(std::move(u)) {}
    std::string function, argument, what;
    std::function<void()> call;
    std::function<bool()> untouched;  // output left as it was (if the call takes one)
};

void run_rows(const std::vector<row>& rows) {
    for (const row& r : rows) {
        INFO(r.function << " with " << r.what);
        kestrel_test::check_refusal(r.function, r.argument + "'", r.call);
        if (r.untouched) CHECK(r.untouched());
    }
}

/// Matrices kept alive for the views the rows hold.
struct fixtures {
    kmedoids_test::instance in = kmedoids_test::integer_instance(12, 3);
    std::deque<std::vector<double>> store;
    dense good() { return in.dissimilarity(); }
    /// A copy of the good matrix with entry (i, j) set to v (and (j, i) too if mirror).
    dense with(std::size_t i, std::size_t j, double v, bool mirror = true) {
        store.push_back(in.matrix);
        store.back()[i * 12 + j] = v;
        if (mirror) store.back()[j * 12 + i] = v;
        return dense(kestrel::matrix_view<const double>(store.back().data(), 12, 12));
    }
    /// Column j bad in every row but its own: any row read meets it.
    dense bad_column(std::size_t j, double v) {
        store.push_back(in.matrix);
        for (std::size_t i = 0; i < 12; ++i)
            if (i != j) store.back()[i * 12 + j] = v;
        return dense(kestrel::matrix_view<const double>(store.back().data(), 12, 12));
    }
};

km::swap_options with_policy(int threads) {
    km::swap_options o;
    o.policy = kestrel::exec_policy{threads};
    return o;
}

}  // namespace

TEST_CASE("every k-medoids entry point refuses bad input, naming the function and the argument") {
    fixtures f;
    const dense d = f.good();
    std::vector<row> rows;

    // ---- sources and the matrix builder ----
    rows.push_back({"dense_dissimilarity", "matrix", "a 5 x 20 matrix", [&] {
                        dense(kestrel::matrix_view<const double>(f.in.matrix.data(), 5, 20));
                    }});
    {
        static const double one = 0;
        // 2^32 + 1 points: n(n-1)/2 wraps to 2^31 modulo 2^64.
        const std::size_t n = (std::size_t(1) << 32) + 1;
        rows.push_back({"condensed_dissimilarity", "n", "n(n-1)/2 wrapping modulo 2^64", [n] {
                            km::condensed_dissimilarity<double>(kestrel::vector_view<const double>(&one, std::size_t(1) << 31), n);
                        }});
        rows.push_back({"condensed_dissimilarity", "values", "too few values", [] {
                            const std::vector<double> v(5);
                            km::condensed_dissimilarity<double>(kestrel::vector_view<const double>(v), 5);
                        }});
    }
    for (double bad : {nan_v, inf_v})
        rows.push_back({"point_dissimilarity", "points", "a coordinate " + std::to_string(bad), [&f, bad] {
                            std::vector<double> p = f.in.points;
                            p[5] = bad;
                            km::point_dissimilarity<double>(kestrel::matrix_view<const double>(p.data(), 12, 2));
                        }});
    {
        auto pts = std::make_shared<std::vector<double>>(f.in.points);
        auto out = std::make_shared<std::vector<double>>(144, -7.0);
        auto out_untouched = [out] {
            for (double v : *out)
                if (v != -7.0) return false;
            return true;
        };
        const kestrel::matrix_view<const double> pv(pts->data(), 12, 2);
        rows.push_back({"dissimilarity_matrix", "out", "an 11 x 12 output",
                        [pv, out] { km::dissimilarity_matrix(pv, kestrel::matrix_view<double>(out->data(), 11, 12)); },
                        out_untouched});
        rows.push_back({"dissimilarity_matrix", "policy.threads", "threads = -1",
                        [pv, out] {
                            km::dissimilarity_matrix(pv, kestrel::matrix_view<double>(out->data(), 12, 12), km::euclidean(),
                                                     kestrel::exec_policy{-1});
                        },
                        out_untouched});
        rows.push_back({"dissimilarity_matrix", "points", "a NaN coordinate",
                        [pts, out] {
                            std::vector<double> p = *pts;
                            p[7] = nan_v;
                            km::dissimilarity_matrix(kestrel::matrix_view<const double>(p.data(), 12, 2),
                                                     kestrel::matrix_view<double>(out->data(), 12, 12));
                        },
                        out_untouched});
        auto shared = std::make_shared<std::vector<double>>(16, 1.0);
        rows.push_back({"dissimilarity_matrix", "out", "an output overlapping the points",
                        [shared] {
                            km::dissimilarity_matrix(kestrel::matrix_view<const double>(shared->data(), 4, 2),
                                                     kestrel::matrix_view<double>(shared->data() + 4, 4, 4));
                        },
                        [shared] {
                            for (double v : *shared)
                                if (v != 1.0) return false;
                            return true;
                        }});
    }
    rows.push_back({"validate_dissimilarity", "symmetry_tolerance", "a NaN tolerance",
                    [&] { km::validate_dissimilarity(d, true, nan_v); }});
    rows.push_back({"validate_dissimilarity", "symmetry_tolerance", "a negative tolerance",
                    [&] { km::validate_dissimilarity(d, true, -1e-6); }});
    rows.push_back({"validate_dissimilarity", "policy.threads", "threads = -2",
                    [&] { km::validate_dissimilarity(d, true, 1e-6, "validate_dissimilarity", kestrel::exec_policy{-2}); }});
    {
        const dense bad = f.with(2, 9, nan_v), asym = f.with(9, 2, f.in.matrix[9 * 12 + 2] + 0.5, false);
        rows.push_back({"validate_dissimilarity", "dissimilarity", "a NaN entry", [bad] { km::validate_dissimilarity(bad); }});
        rows.push_back({"validate_dissimilarity", "dissimilarity", "an asymmetric pair",
                        [asym] { km::validate_dissimilarity(asym); }});
        std::vector<double> cond;
        for (std::size_t i = 0; i < 12; ++i)
            for (std::size_t j = i + 1; j < 12; ++j) cond.push_back(i == 3 && j == 8 ? -2.0 : f.in.matrix[i * 12 + j]);
        f.store.push_back(cond);
        const km::condensed_dissimilarity<double> dc(kestrel::vector_view<const double>(f.store.back()), 12);
        rows.push_back({"validate_dissimilarity", "dissimilarity", "a negative value in a condensed source",
                        [dc] { km::validate_dissimilarity(dc); }});
    }

    // ---- initializations and assignment ----
    rows.push_back({"pam_build", "k", "k = 0", [&] { km::pam_build(d, 0); }});
    rows.push_back({"pam_build", "k", "k > n", [&] { km::pam_build(d, 13); }});
    rows.push_back({"pam_build", "policy.threads", "threads = -1", [&] { km::pam_build(d, 3, kestrel::exec_policy{-1}); }});
    rows.push_back({"pam_build", "dissimilarity", "n = 2^40 (before allocating)", [] { km::pam_build(huge_source{huge}, 3); }});
    rows.push_back({"random_medoids", "k", "k > n", [] { km::random_medoids(3, 4, 1); }});
    rows.push_back({"random_medoids", "k", "k = 0", [] { km::random_medoids(3, 0, 1); }});
    rows.push_back({"random_medoids", "dissimilarity", "n = 2^62 (before allocating)",
                    [] { km::random_medoids(std::size_t(1) << 62, 3, 1); }});
    for (const char* fn : {"kmeanspp_medoids", "lab_medoids"}) {
        const std::string name = fn;
        auto call = [name](const auto& src, std::size_t k) {
            if (name == "lab_medoids") km::lab_medoids(src, k, 5);
            else km::kmeanspp_medoids(src, k, 5);
        };
        rows.push_back({name, "k", "k = 0", [&d, call] { call(d, 0); }});
        rows.push_back({name, "k", "k > n", [&d, call] { call(d, 13); }});
        rows.push_back({name, "dissimilarity", "n = 2^40", [call] { call(huge_source{huge}, 2); }});
        for (double bad : {nan_v, -1.0, inf_v}) {
            const dense m = f.bad_column(4, bad);
            rows.push_back({name, "dissimilarity", "a column of " + std::to_string(bad), [m, call] { call(m, 3); }});
        }
    }
    rows.push_back({"assign_to_medoids", "medoids", "no medoid", [&] { km::assign_to_medoids(d, {}); }});
    rows.push_back({"assign_to_medoids", "medoids", "a duplicate", [&] { km::assign_to_medoids(d, {1, 4, 1}); }});
    rows.push_back({"assign_to_medoids", "medoids", "an index = n", [&] { km::assign_to_medoids(d, {1, 12}); }});
    rows.push_back({"assign_to_medoids", "medoids", "an index = SIZE_MAX",
                    [&] { km::assign_to_medoids(d, {1, std::numeric_limits<std::size_t>::max()}); }});
    rows.push_back({"assign_to_medoids", "dissimilarity", "n = 2^40", [] { km::assign_to_medoids(huge_source{huge}, {0}); }});
    for (double bad : {nan_v, -1.0, inf_v}) {
        const dense m = f.with(4, 9, bad);
        rows.push_back({"assign_to_medoids", "dissimilarity", "a medoid row holding " + std::to_string(bad),
                        [m] { km::assign_to_medoids(m, {0, 4}); }});
    }
    {
        const dense m = f.with(4, 4, 1.0);
        rows.push_back({"assign_to_medoids", "dissimilarity", "a medoid with d(m, m) = 1",
                        [m] { km::assign_to_medoids(m, {4, 0}); }});
    }

    // ---- SWAP routines, medoid-silhouette optimizers ----
    using swap_fn = std::function<void(const dense&, index_list, const km::swap_options&)>;
    const std::vector<std::pair<std::string, swap_fn>> swaps = {
        {"pam_swap", [](const dense& m, index_list s, const km::swap_options& o) { km::pam_swap(m, s, o); }},
        {"fastpam1", [](const dense& m, index_list s, const km::swap_options& o) { km::fastpam1(m, s, o); }},
        {"fastpam2", [](const dense& m, index_list s, const km::swap_options& o) { km::fastpam2(m, s, o); }},
        {"fasterpam", [](const dense& m, index_list s, const km::swap_options& o) { km::fasterpam(m, s, o); }},
        {"alternating", [](const dense& m, index_list s, const km::swap_options& o) { km::alternating(m, s, o); }},
        {"fastmsc", [](const dense& m, index_list s, const km::swap_options& o) { km::fastmsc(m, s, o); }},
        {"fastermsc", [](const dense& m, index_list s, const km::swap_options& o) { km::fastermsc(m, s, o); }},
        {"dynmsc", [](const dense& m, index_list s, const km::swap_options& o) { km::dynmsc(m, s, 2, o); }},
    };
    const dense m_nan = f.with(7, 3, nan_v), m_neg = f.with(2, 10, -0.5), m_inf = f.with(11, 0, inf_v),
                m_diag = f.with(5, 5, 3.0), m_asym = f.with(8, 1, f.in.matrix[8 * 12 + 1] + 1.0, false),
                m_medoid_nan = f.with(0, 6, nan_v);
    for (const auto& [name, call] : swaps) {
        const swap_fn c = call;
        const std::string n = name;
        rows.push_back({n, "medoids", "no medoid", [&d, c] { c(d, {}, {}); }});
        rows.push_back({n, "medoids", "a duplicate", [&d, c] { c(d, {1, 5, 1}, {}); }});
        rows.push_back({n, "medoids", "an index = n", [&d, c] { c(d, {1, 12}, {}); }});
        rows.push_back({n, "medoids", "k > n", [&d, c] { c(d, index_list(13, 0), {}); }});
        rows.push_back({n, "dissimilarity", "n = 2^40 (custom source)", [n] {
                            const huge_source h{huge};
                            km::swap_options o;
                            if (n == "pam_swap") km::pam_swap(h, {0, 1}, o);
                            else if (n == "fastpam1") km::fastpam1(h, {0, 1}, o);
                            else if (n == "fastpam2") km::fastpam2(h, {0, 1}, o);
                            else if (n == "fasterpam") km::fasterpam(h, {0, 1}, o);
                            else if (n == "alternating") km::alternating(h, {0, 1}, o);
                            else if (n == "fastmsc") km::fastmsc(h, {0, 1}, o);
                            else if (n == "fastermsc") km::fastermsc(h, {0, 1}, o);
                            else km::dynmsc(h, {0, 1}, 2, o);
                        }});
        for (int t : {1, 2}) {
            const std::string at = " at " + std::to_string(t) + " threads";
            rows.push_back({n, "dissimilarity", "a NaN entry" + at, [m_nan, c, t] { c(m_nan, {0, 1}, with_policy(t)); }});
            rows.push_back({n, "dissimilarity", "a negative entry" + at, [m_neg, c, t] { c(m_neg, {0, 1}, with_policy(t)); }});
            rows.push_back({n, "dissimilarity", "an infinite entry" + at, [m_inf, c, t] { c(m_inf, {0, 1}, with_policy(t)); }});
            rows.push_back({n, "dissimilarity", "a nonzero diagonal" + at, [m_diag, c, t] { c(m_diag, {0, 1}, with_policy(t)); }});
            rows.push_back({n, "dissimilarity", "an asymmetric pair" + at, [m_asym, c, t] { c(m_asym, {0, 1}, with_policy(t)); }});
            rows.push_back({n, "dissimilarity", "a NaN in a medoid row" + at,
                            [m_medoid_nan, c, t] { c(m_medoid_nan, {0, 1}, with_policy(t)); }});
        }
        rows.push_back({n, "policy.threads", "threads = -1", [&d, c] { c(d, {0, 1}, with_policy(-1)); }});
        km::swap_options tol_nan, tol_neg, tol_inf;
        tol_nan.symmetry_tolerance = nan_v;
        tol_neg.symmetry_tolerance = -1e-9;
        tol_inf.symmetry_tolerance = inf_v;
        rows.push_back({n, "opt.symmetry_tolerance", "a NaN tolerance", [&d, c, tol_nan] { c(d, {0, 1}, tol_nan); }});
        rows.push_back({n, "opt.symmetry_tolerance", "a negative tolerance", [&d, c, tol_neg] { c(d, {0, 1}, tol_neg); }});
        rows.push_back({n, "opt.symmetry_tolerance", "an infinite tolerance", [&d, c, tol_inf] { c(d, {0, 1}, tol_inf); }});
    }
    rows.push_back({"fastpam2", "tolerance", "tolerance 1.5", [&] { km::fastpam2(d, {1, 2}, {}, 1.5); }});
    rows.push_back({"fastpam2", "tolerance", "NaN tolerance", [&] { km::fastpam2(d, {1, 2}, {}, nan_v); }});
    for (const char* fn : {"fastmsc", "fastermsc"}) {
        const std::string n = fn;
        rows.push_back({n, "medoids", "k = 1", [&d, n] {
                            if (n == "fastmsc") km::fastmsc(d, {3});
                            else km::fastermsc(d, {3});
                        }});
    }
    rows.push_back({"dynmsc", "k_min", "k_min = 1", [&] { km::dynmsc(d, {1, 2, 3}, 1); }});
    rows.push_back({"dynmsc", "k_min", "k_min > k_max", [&] { km::dynmsc(d, {1, 2, 3}, 4); }});
    rows.push_back({"dynmsc", "search", "an invalid enum value",
                    [&] { km::dynmsc(d, {1, 2, 3}, 2, {}, static_cast<km::msc_search>(7)); }});

    // ---- CLARA, CLARANS ----
    auto clara_with = [&d](std::function<void(km::clara_options&)> set, std::size_t k = 3) {
        return [&d, set, k] {
            km::clara_options o;
            set(o);
            km::clara(d, k, o);
        };
    };
    rows.push_back({"clara", "k", "k = 0", clara_with([](km::clara_options&) {}, 0)});
    rows.push_back({"clara", "k", "k > n", clara_with([](km::clara_options&) {}, 13)});
    rows.push_back({"clara", "opt.samples", "0 samples", clara_with([](km::clara_options& o) { o.samples = 0; })});
    rows.push_back({"clara", "opt.sample_size", "sample smaller than k", clara_with([](km::clara_options& o) { o.sample_size = 2; })});
    rows.push_back({"clara", "opt.max_iter", "max_iter = 0", clara_with([](km::clara_options& o) { o.max_iter = 0; })});
    rows.push_back({"clara", "policy.threads", "threads = -3", clara_with([](km::clara_options& o) { o.policy.threads = -3; })});
    rows.push_back({"clara", "opt.algorithm", "an invalid enum value",
                    clara_with([](km::clara_options& o) { o.algorithm = static_cast<km::sample_swap>(9); })});
    rows.push_back({"clara", "dissimilarity", "n = 2^40", [] { km::clara(huge_source{huge}, 3); }});
    rows.push_back({"clara", "opt.sample_size", "a sample whose m x m matrix wraps (before allocating)", [] {
                        km::clara_options o;
                        o.sample_size = std::size_t(1) << 32;
                        km::clara(huge_source{(std::size_t(1) << 32) - 2}, 3, o);
                    }});
    {
        const dense m = f.with(3, 8, nan_v);
        rows.push_back({"clara", "dissimilarity", "a NaN in the sample", [m] {
                            km::clara_options o;
                            o.sample_size = 12;
                            km::clara(m, 3, o);
                        }});
        const dense col = f.bad_column(5, -1.0);
        rows.push_back({"clara", "dissimilarity", "a bad value in rows the evaluation reads", [col] {
                            km::clara_options o;
                            o.sample_size = 4;
                            o.validate_input = true;
                            km::clara(col, 3, o);
                        }});
    }
    auto clarans_with = [&d](std::function<void(km::clarans_options&)> set, std::size_t k = 3) {
        return [&d, set, k] {
            km::clarans_options o;
            set(o);
            km::clarans(d, k, o);
        };
    };
    rows.push_back({"clarans", "k", "k = 0", clarans_with([](km::clarans_options&) {}, 0)});
    rows.push_back({"clarans", "k", "k > n", clarans_with([](km::clarans_options&) {}, 13)});
    rows.push_back({"clarans", "opt.numlocal", "numlocal = 0", clarans_with([](km::clarans_options& o) { o.numlocal = 0; })});
    rows.push_back({"clarans", "opt.symmetry_tolerance", "a NaN tolerance",
                    clarans_with([](km::clarans_options& o) { o.symmetry_tolerance = nan_v; })});
    rows.push_back({"clarans", "policy.threads", "threads = -1", clarans_with([](km::clarans_options& o) { o.policy.threads = -1; })});
    rows.push_back({"clarans", "dissimilarity", "n = 2^40", [] { km::clarans(huge_source{huge}, 3); }});
    rows.push_back({"clarans", "dissimilarity", "a NaN entry", [m_nan] { km::clarans(m_nan, 3); }});
    rows.push_back({"clarans", "dissimilarity", "an asymmetric pair", [m_asym] { km::clarans(m_asym, 3); }});
    rows.push_back({"clarans_default_maxneighbor", "k", "k = 0 (a division)", [] { km::clarans_default_maxneighbor(10, 0); }});

    // ---- silhouettes (per_point is an output) ----
    auto per_point = std::make_shared<std::vector<double>>(3, 42.0);
    auto pp_untouched = [per_point] { return *per_point == std::vector<double>(3, 42.0); };
    index_list labels(12, 0);
    for (std::size_t j = 0; j < 12; ++j) labels[j] = j % 3;
    auto sil = [&d, per_point](index_list l, kestrel::exec_policy p = {}) {
        return [&d, per_point, l, p] { km::silhouette(d, l, per_point.get(), p); };
    };
    rows.push_back({"silhouette", "labels", "too few labels", sil(index_list(11, 0)), pp_untouched});
    rows.push_back({"silhouette", "labels", "no point", [per_point] {
                        const std::vector<double> none;
                        km::silhouette(dense(kestrel::matrix_view<const double>(none.data(), 0, 0)), {}, per_point.get());
                    },
                    pp_untouched});
    {
        index_list l = labels;
        l[4] = std::numeric_limits<std::size_t>::max();  // k = max + 1 would wrap to 0
        rows.push_back({"silhouette", "labels", "a label of SIZE_MAX", sil(l), pp_untouched});
        l[4] = 12;
        rows.push_back({"silhouette", "labels", "a label = n", sil(l), pp_untouched});
    }
    rows.push_back({"silhouette", "policy.threads", "threads = -1", sil(labels, kestrel::exec_policy{-1}), pp_untouched});
    for (int t : {1, 2}) {
        rows.push_back({"silhouette", "dissimilarity", "a NaN entry at " + std::to_string(t) + " threads",
                        [m_nan, labels, per_point, t] { km::silhouette(m_nan, labels, per_point.get(), kestrel::exec_policy{t}); },
                        pp_untouched});
        rows.push_back({"silhouette", "dissimilarity", "a nonzero diagonal at " + std::to_string(t) + " threads",
                        [m_diag, labels, per_point, t] { km::silhouette(m_diag, labels, per_point.get(), kestrel::exec_policy{t}); },
                        pp_untouched});
    }
    rows.push_back({"silhouette", "dissimilarity", "n = 2^40", [] { km::silhouette(huge_source{huge}, index_list(3, 0)); }});
    rows.push_back({"medoid_silhouette", "medoids", "k = 1", [&d, per_point] { km::medoid_silhouette(d, {2}, per_point.get()); },
                    pp_untouched});
    rows.push_back({"medoid_silhouette", "medoids", "a duplicate",
                    [&d, per_point] { km::medoid_silhouette(d, {2, 2}, per_point.get()); }, pp_untouched});
    rows.push_back({"medoid_silhouette", "dissimilarity", "a NaN in a medoid row",
                    [m_medoid_nan, per_point] { km::medoid_silhouette(m_medoid_nan, {0, 3}, per_point.get()); }, pp_untouched});

    run_rows(rows);
    CHECK(rows.size() > 200);
}

TEST_CASE("user code that throws reaches the caller from every entry point, at 1 and 2 threads") {
    const auto in = kmedoids_test::integer_instance(60, 5);
    const dense d = in.dissimilarity();
    const index_list start = km::random_medoids(60, 4, 3);
    index_list labels(60);
    for (std::size_t j = 0; j < 60; ++j) labels[j] = j % 4;
    // Limits: 1 (the first call), and a few passes into the work with validation off.
    for (int t : {1, 2})
        for (long limit : {1L, 2000L, 9000L}) {
            INFO("threads " << t << ", throws at call " << limit);
            auto counter = std::make_shared<std::atomic<long>>(0);
            const throwing_source src{&d, counter, limit};
            const km::point_dissimilarity<double, throwing_metric> pts(
                kestrel::matrix_view<const double>(in.points.data(), 60, 2), throwing_metric{counter, limit});
            km::swap_options o;
            o.policy = kestrel::exec_policy{t};
            o.validate_input = limit == 1;
            km::clara_options co;
            co.policy = o.policy;
            co.validate_input = o.validate_input;
            co.sample_size = 40;
            km::clarans_options ro;
            ro.policy = o.policy;
            ro.validate_input = o.validate_input;
            ro.maxneighbor = 200;
            const std::vector<std::pair<const char*, std::function<void()>>> calls = {
                {"fasterpam (source)", [&] { km::fasterpam(src, start, o); }},
                {"fasterpam (metric)", [&] { km::fasterpam(pts, start, o); }},
                {"fastpam1", [&] { km::fastpam1(src, start, o); }},
                {"fastpam2", [&] { km::fastpam2(pts, start, o); }},
                {"pam_swap", [&] { km::pam_swap(src, start, o); }},
                {"alternating", [&] { km::alternating(src, start, o); }},
                {"fastmsc", [&] { km::fastmsc(src, start, o); }},
                {"fastermsc", [&] { km::fastermsc(pts, start, o); }},
                {"dynmsc", [&] { km::dynmsc(src, start, 2, o); }},
                {"clara", [&] { km::clara(src, 4, co); }},
                {"clarans", [&] { km::clarans(pts, 4, ro); }},
                {"pam_build", [&] { km::pam_build(src, 4, o.policy); }},
                {"lab_medoids", [&] { km::lab_medoids(src, 4, 1); }},
                {"kmeanspp_medoids", [&] { km::kmeanspp_medoids(pts, 4, 1); }},
                {"assign_to_medoids", [&] { km::assign_to_medoids(src, start); }},
                {"silhouette", [&] { km::silhouette(src, labels, nullptr, o.policy); }},
                {"medoid_silhouette", [&] { km::medoid_silhouette(pts, start); }},
                {"validate_dissimilarity", [&] { km::validate_dissimilarity(src, true, 1e-6, "v", o.policy); }},
                {"dissimilarity_matrix", [&] {
                     std::vector<double> out(3600);
                     km::dissimilarity_matrix(kestrel::matrix_view<const double>(in.points.data(), 60, 2),
                                              kestrel::matrix_view<double>(out.data(), 60, 60), throwing_metric{counter, limit},
                                              o.policy);
                 }},
            };
            for (const auto& [name, call] : calls) {
                INFO(name);
                counter->store(0);
                bool reached = false;
                long made = 0;
                try {
                    call();
                } catch (const user_error&) {
                    reached = true;
                }
                made = counter->load();
                // Functions that need fewer calls than the limit finish normally; the others
                // must deliver the user's exception.
                if (!reached) CHECK(made < limit);
                else CHECK(made >= limit);
            }
        }
}

TEST_CASE("the throwing callbacks do throw in the routines that read enough") {
    // Guards the previous test against passing vacuously: at limit 1 every routine throws.
    const auto in = kmedoids_test::integer_instance(30, 2);
    const dense d = in.dissimilarity();
    auto counter = std::make_shared<std::atomic<long>>(0);
    const throwing_source src{&d, counter, 1};
    for (int t : {1, 2}) {
        km::swap_options o;
        o.policy = kestrel::exec_policy{t};
        o.validate_input = false;
        CHECK_THROWS_AS(km::fasterpam(src, {0, 1, 2}, o), user_error);
        CHECK_THROWS_AS(km::fastpam1(src, {0, 1, 2}, o), user_error);
        CHECK_THROWS_AS(km::fastmsc(src, {0, 1, 2}, o), user_error);
        CHECK_THROWS_AS(km::silhouette(src, index_list(30, 0), nullptr, o.policy), user_error);
        CHECK_THROWS_AS(km::pam_build(src, 3, o.policy), user_error);
        counter->store(0);
        const throwing_source late{&d, counter, 300};
        CHECK_THROWS_AS(km::fasterpam(late, {0, 1, 2}, o), user_error);  // in the search, not the assignment
        counter->store(0);
    }
}

TEST_CASE("converged says whether the search stopped for want of an improving swap, not at max_iter") {
    const auto in = kmedoids_test::blob_instance(300, 6, 2, 4.0, 21);
    const dense d = in.dissimilarity();
    const index_list start = km::random_medoids(300, 6, 4);
    using run_fn = std::function<km::clustering(std::size_t max_iter)>;
    const std::vector<std::pair<const char*, run_fn>> runs = {
        {"pam_swap", [&](std::size_t it) { km::swap_options o; o.max_iter = it; return km::pam_swap(d, start, o); }},
        {"fastpam1", [&](std::size_t it) { km::swap_options o; o.max_iter = it; return km::fastpam1(d, start, o); }},
        {"fastpam2", [&](std::size_t it) { km::swap_options o; o.max_iter = it; return km::fastpam2(d, start, o); }},
        {"fasterpam", [&](std::size_t it) { km::swap_options o; o.max_iter = it; return km::fasterpam(d, start, o); }},
        {"fasterpam 2 threads", [&](std::size_t it) { km::swap_options o; o.max_iter = it; o.policy.threads = 2; return km::fasterpam(d, start, o); }},
        {"alternating", [&](std::size_t it) { km::swap_options o; o.max_iter = it; return km::alternating(d, start, o); }},
        {"fastmsc", [&](std::size_t it) { km::swap_options o; o.max_iter = it; return km::fastmsc(d, start, o).result; }},
        {"fastermsc", [&](std::size_t it) { km::swap_options o; o.max_iter = it; return km::fastermsc(d, start, o).result; }},
    };
    for (const auto& [name, run] : runs) {
        INFO(name);
        const km::clustering full = run(1000);
        REQUIRE(full.converged);
        REQUIRE(full.iterations >= 2);  // the instance needs several passes
        CHECK_FALSE(run(1).converged);
        CHECK_FALSE(run(full.iterations - 1).converged);
        CHECK(run(full.iterations).converged);  // exactly enough passes
        CHECK_FALSE(run(0).converged);
    }
    // A converged SWAP result is a single-swap local optimum (brute force), an unconverged
    // one from the same start is not (here).
    km::swap_options one;
    one.max_iter = 1;
    const auto cut = km::fastpam1(d, start, one), done = km::fastpam1(d, start);
    kmedoids_test::check_swap_local_optimum(d, done, 1e-9);
    CHECK(cut.loss > done.loss);
    kmedoids_test::check_swap_local_optimum(d, km::fasterpam(d, start), 1e-9);

    // DynMSC: converged at every k; CLARA: every sample's SWAP; CLARANS: by its own rule.
    km::swap_options o1;
    o1.max_iter = 1;
    CHECK(km::dynmsc(d, start, 3).converged);
    CHECK_FALSE(km::dynmsc(d, start, 3, o1).converged);
    km::clara_options co;
    co.sample_size = 150;
    co.seed = 3;
    CHECK(km::clara(d, 6, co).converged);
    co.max_iter = 1;
    co.algorithm = km::sample_swap::pam;  // PAM makes one swap per pass: one pass cannot converge from BUILD here
    const auto cl = km::clara(d, 6, co);
    CHECK((cl.swaps == 0 || !cl.converged));
    CHECK(km::clarans(d, 6).converged);
    CHECK(km::assign_to_medoids(d, start).converged);
}

TEST_CASE("the SWAP routines' folded check finds the first bad entry in row order, wherever it lies") {
    const auto in = kmedoids_test::blob_instance(700, 5, 3, 3.0, 8);
    const index_list start = km::random_medoids(700, 7, 2);
    const std::size_t medoid = start[3];
    // (row, column) pairs: a medoid row, an early and a late row, the last entry; with a
    // second bad entry later in row order that must not be the one reported.
    const std::vector<std::pair<std::size_t, std::size_t>> places = {
        {medoid, 11}, {3, 650}, {402, 17}, {699, 698}, {0, 1}};
    for (const auto& [i, j] : places)
        for (double bad : {nan_v, -1.0, inf_v})
            for (int t : {1, 2}) {
                std::vector<double> m = in.matrix;
                m[i * 700 + j] = bad;
                m[699 * 700 + 5] = -3.0;  // a second bad entry, later in row order
                if (i == 699) m[699 * 700 + 5] = in.matrix[699 * 700 + 5];  // (699, 5) would come first
                const dense dm(kestrel::matrix_view<const double>(m.data(), 700, 700));
                km::swap_options o;
                o.policy = kestrel::exec_policy{t};
                const std::string want = "entry (" + std::to_string(i) + ", " + std::to_string(j) + ")";
                INFO("bad " << bad << " at " << want << ", threads " << t);
                using Catch::Contains;
                CHECK_THROWS_WITH(km::fasterpam(dm, start, o), Contains("kestrel::fasterpam") && Contains(want));
                CHECK_THROWS_WITH(km::fastpam1(dm, start, o), Contains("kestrel::fastpam1") && Contains(want));
                CHECK_THROWS_WITH(km::fastpam2(dm, start, o), Contains("kestrel::fastpam2") && Contains(want));
                CHECK_THROWS_WITH(km::fastermsc(dm, start, o), Contains("kestrel::fastermsc") && Contains(want));
                CHECK_THROWS_WITH(km::fastmsc(dm, start, o), Contains("kestrel::fastmsc") && Contains(want));
                CHECK_THROWS_WITH(km::dynmsc(dm, start, 5, o), Contains("kestrel::dynmsc") && Contains(want));
                CHECK_THROWS_WITH(km::validate_dissimilarity(dm), Contains(want));
                km::swap_options none = o;
                none.max_iter = 0;  // no pass: the rows are checked at the end
                CHECK_THROWS_WITH(km::fasterpam(dm, start, none), Contains(want));
            }
    // Other sources: the same fold (a condensed triangle: the bad value sits at (i, j) and
    // (j, i); a metric on points that returns a negative value for one pair).
    for (int t : {1, 2}) {
        std::vector<double> cond;
        for (std::size_t i = 0; i < 700; ++i)
            for (std::size_t j = i + 1; j < 700; ++j) cond.push_back(i == 321 && j == 654 ? nan_v : in.matrix[i * 700 + j]);
        const km::condensed_dissimilarity<double> dc(kestrel::vector_view<const double>(cond), 700);
        km::swap_options o;
        o.policy = kestrel::exec_policy{t};
        CHECK_THROWS_WITH(km::fasterpam(dc, start, o), Catch::Contains("kestrel::fasterpam") && Catch::Contains("entry (321, 654)"));
        CHECK_THROWS_WITH(km::fastpam1(dc, start, o), Catch::Contains("entry (321, 654)"));
        struct odd_metric {
            double operator()(const double* a, const double* b, std::size_t dim) const {
                const double v = km::euclidean()(a, b, dim);
                return a[0] == b[1] ? -v : v;  // never true on these points: no error expected
            }
        };
        const km::point_dissimilarity<double, odd_metric> dp(kestrel::matrix_view<const double>(in.points.data(), 700, 3));
        CHECK_NOTHROW(km::fasterpam(dp, start, o));
        std::vector<double> pts = in.points;
        pts[3 * 500 + 1] = pts[3 * 200 + 0];  // now d(200, 500) (and only it, in row 200) is negative
        const km::point_dissimilarity<double, odd_metric> dq(kestrel::matrix_view<const double>(pts.data(), 700, 3));
        CHECK_THROWS_WITH(km::fasterpam(dq, start, o), Catch::Contains("entry (200, 500)"));
    }
    // Float matrices too.
    std::vector<float> mf(in.matrix.begin(), in.matrix.end());
    mf[250 * 700 + 3] = std::numeric_limits<float>::quiet_NaN();
    const km::dense_dissimilarity<float> df(kestrel::matrix_view<const float>(mf.data(), 700, 700));
    CHECK_THROWS_WITH(km::fasterpam(df, start), Catch::Contains("entry (250, 3)"));
    // The check does not change results: validated and unvalidated runs agree.
    const dense d = in.dissimilarity();
    km::swap_options off;
    off.validate_input = false;
    kmedoids_test::check_identical(km::fasterpam(d, start), km::fasterpam(d, start, off));
    kmedoids_test::check_identical(km::fastpam1(d, start), km::fastpam1(d, start, off));
}

TEST_CASE("symmetry: the default sample catches systematic errors, the full check every pair") {
    const std::size_t n = 1500;  // above the size where the sample covers every tile pair
    const auto in = kmedoids_test::blob_instance(n, 5, 3, 3.0, 9);
    const index_list start = km::random_medoids(n, 5, 2);
    using Catch::Contains;
    {
        // Only the upper triangle filled (a common mistake): the sample sees it.
        std::vector<double> m = in.matrix;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < i; ++j) m[i * n + j] = 0;
        const dense dm(kestrel::matrix_view<const double>(m.data(), n, n));
        CHECK_THROWS_WITH(km::fasterpam(dm, start), Contains("not symmetric"));
        CHECK_THROWS_WITH(km::clarans(dm, 5), Contains("not symmetric"));
    }
    {
        // One asymmetric pair: the full check finds it, naming it.
        std::vector<double> m = in.matrix;
        m[1234 * n + 77] *= 1.01;
        const dense dm(kestrel::matrix_view<const double>(m.data(), n, n));
        km::swap_options full;
        full.full_symmetry_check = true;
        CHECK_THROWS_WITH(km::fasterpam(dm, start, full), Contains("d(77, 1234)") || Contains("d(1234, 77)"));
        CHECK_THROWS_WITH(km::validate_dissimilarity(dm), Contains("not symmetric"));
        full.symmetry_tolerance = 0.02;  // within tolerance
        CHECK_NOTHROW(km::fasterpam(dm, start, full));
        km::swap_options off;
        off.check_symmetry = false;
        CHECK_NOTHROW(km::fasterpam(dm, start, off));
    }
    {
        // Small matrices are checked completely by default.
        const auto small = kmedoids_test::blob_instance(300, 4, 3, 3.0, 10);
        std::vector<double> m = small.matrix;
        m[17 * 300 + 280] += 1e-3;
        const dense dm(kestrel::matrix_view<const double>(m.data(), 300, 300));
        CHECK_THROWS_WITH(km::fasterpam(dm, km::random_medoids(300, 4, 1)), Contains("not symmetric"));
        std::vector<float> mf(m.begin(), m.end());
        const km::dense_dissimilarity<float> df(kestrel::matrix_view<const float>(mf.data(), 300, 300));
        CHECK_THROWS_WITH(km::fastpam1(df, km::random_medoids(300, 4, 1)), Contains("not symmetric"));
    }
}
