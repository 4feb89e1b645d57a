// Table-driven argument validation of the core family: every row feeds one public entry point a
// bad argument and checks that (a) kestrel::invalid_argument is thrown, (b) its message names
// the public function and the argument, (c) the outputs still hold their sentinel values.
#include <catch2/catch.hpp>

#include "validation_table.hpp"

#include <kestrel/core.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace {

using kestrel::exec_policy;
using kestrel::vector_view;
using V = vector_view<const double>;
using Vf = vector_view<const float>;

constexpr double sentinel = -12345.25;
constexpr double nan_d = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_d = std::numeric_limits<double>::infinity();

struct bad_case {
    const char* function;  // the public function the message must name (after "kestrel::")
    const char* argument;  // the argument the message must name
    const char* what;      // what is wrong, for the report
    std::function<void()> call;
};

// Outputs every row may write to; refilled with the sentinel before each row.
struct outputs {
    std::vector<double> y = std::vector<double>(40);
    std::vector<float> yf = std::vector<float>(40);
    void reset() {
        for (auto& v : y) v = sentinel;
        for (auto& v : yf) v = static_cast<float>(sentinel);
    }
    bool untouched() const {
        for (double v : y)
            if (v != sentinel) return false;
        for (float v : yf)
            if (v != static_cast<float>(sentinel)) return false;
        return true;
    }
};

void run_table(const std::vector<bad_case>& table, outputs& out) {
    for (const bad_case& row : table) {
        out.reset();
        INFO("entry point " << row.function << ", argument " << row.argument << ": " << row.what);
        kestrel_test::check_refusal(row.function, row.argument, row.call);
        CHECK(out.untouched());
    }
}

}  // namespace

TEST_CASE("core entry points refuse bad arguments before writing and name the function and the argument") {
    outputs o;
    std::vector<double> a(40, 1.0), b(39, 1.0), empty;
    std::vector<float> af(40, 1.0f);
    const std::size_t big = std::size_t(1) << 32;
    const double c2[2] = {1.0, 2.0};
    const V in2[2] = {V(a), V(a)};
    const exec_policy negative{-1};
    const kestrel::counter_rng rng(7);
    std::vector<double> w{1.0, 2.0, 3.0};

    std::vector<bad_case> table = {
        // views
        {"matrix_view", "rows * cols", "2^32 x 2^32 view of an empty vector (the product wraps to 0)",
         [&] { kestrel::matrix_view<double> m(empty, big, big); }},
        {"matrix_view", "rows * cols", "2^32 x 2^32 view of a raw pointer",
         [&] { kestrel::matrix_view<double> m(a.data(), big, big); }},
        {"matrix_view", "row_stride * (rows - 1)", "row stride that wraps the extent",
         [&] { kestrel::matrix_view<double> m(a.data(), 3, 2, std::numeric_limits<std::size_t>::max() / 2 + 1); }},
        {"matrix_view", "rows * cols", "extent beyond the address space",
         [&] { kestrel::matrix_view<double> m(a.data(), 2, std::size_t(1) << 61); }},
        {"matrix_view", "row_stride", "row stride smaller than cols", [&] { kestrel::matrix_view<double> m(a.data(), 3, 4, 2); }},
        {"matrix_view", "data", "null pointer for a non-empty matrix", [&] { kestrel::matrix_view<double> m(nullptr, 2, 2); }},
        {"matrix_view", "vector", "vector size does not match rows * cols", [&] { kestrel::matrix_view<double> m(a, 3, 3); }},
        {"matrix_view::flat", "matrix", "flat view of a strided matrix",
         [&] { kestrel::matrix_view<double>(a.data(), 3, 2, 4).flat(); }},
        {"vector_view", "size", "SIZE_MAX elements", [&] { vector_view<double> v(a.data(), std::numeric_limits<std::size_t>::max()); }},
        {"vector_view", "data", "null pointer with size 3", [&] { vector_view<double> v(nullptr, 3); }},
        {"vector_view::subview", "range", "offset + count beyond the size",
         [&] { kestrel::make_view(a).subview(30, 11); }},
        {"vector_view::subview", "range", "count that wraps offset + count",
         [&] { kestrel::make_view(a).subview(5, std::numeric_limits<std::size_t>::max()); }},
        // lincomb
        {"lincomb", "inputs", "null inputs array", [&] { kestrel::lincomb(kestrel::make_view(o.y), c2, static_cast<const V*>(nullptr), 2); }},
        {"lincomb", "coeffs", "null coefficients", [&] { kestrel::lincomb(kestrel::make_view(o.y), nullptr, in2, 2); }},
        {"lincomb", "inputs", "zero inputs", [&] { kestrel::lincomb(kestrel::make_view(o.y), c2, in2, 0); }},
        {"lincomb", "inputs[1]", "input of another size", [&] { kestrel::lincomb(kestrel::make_view(o.y), {1.0, 1.0}, {V(a), V(b)}); }},
        {"lincomb", "inputs[0]", "input overlapping the output by one element",
         [&] { kestrel::lincomb(vector_view<double>(o.y.data(), 20), {1.0}, {V(o.y.data() + 1, 20)}); }},
        {"lincomb", "inputs[1]", "NaN coefficient", [&] { kestrel::lincomb(kestrel::make_view(o.y), {1.0, nan_d}, {V(a), V(a)}); }},
        {"lincomb", "inputs[0]", "infinite coefficient", [&] { kestrel::lincomb(kestrel::make_view(o.y), {-inf_d, 1.0}, {V(a), V(a)}); }},
        {"lincomb", "inputs[1]", "coefficient finite in double, inf as float",
         [&] { kestrel::lincomb(kestrel::make_view(o.yf), {1.0, 1e39}, {Vf(af), Vf(af)}); }},
        {"lincomb", "inputs[0]", "coefficient -4e38 (float overflow)",
         [&] { kestrel::lincomb(kestrel::make_view(o.yf), {-4e38}, {Vf(af)}); }},
        {"lincomb", "policy.threads", "negative thread count",
         [&] { kestrel::lincomb(kestrel::make_view(o.y), {1.0}, {V(a)}, negative); }},
        // reductions
        {"dot", "b", "size mismatch", [&] { kestrel::simd::dot(V(a), V(b)); }},
        {"sum_positive_part_of_difference", "b", "size mismatch", [&] { kestrel::simd::sum_positive_part_of_difference(V(a), V(b)); }},
        {"max", "a", "empty", [&] { kestrel::simd::max(V(empty)); }},
        {"min", "a", "empty", [&] { kestrel::simd::min(V(empty)); }},
        {"argmax", "a", "empty", [&] { kestrel::simd::argmax(V(empty)); }},
        {"argmin", "a", "empty", [&] { kestrel::simd::argmin(V(empty)); }},
        {"sum", "policy.threads", "negative thread count", [&] { kestrel::simd::sum(V(a), negative); }},
        {"dot", "policy.threads", "negative thread count", [&] { kestrel::simd::dot(V(a), V(a), negative); }},
        {"squared_norm", "policy.threads", "negative thread count", [&] { kestrel::simd::squared_norm(V(a), negative); }},
        {"max", "policy.threads", "negative thread count", [&] { kestrel::simd::max(V(a), negative); }},
        {"argmin", "policy.threads", "negative thread count", [&] { kestrel::simd::argmin(V(a), negative); }},
        // random
        {"categorical_from_uniform", "weights", "empty weights", [&] { kestrel::categorical_from_uniform(V(empty), 0.5); }},
        {"categorical_from_uniform", "weights", "NaN weight",
         [&] { std::vector<double> ww{1.0, nan_d}; kestrel::categorical_from_uniform(V(ww), 0.5); }},
        {"categorical_from_uniform", "weights", "negative weight",
         [&] { std::vector<double> ww{1.0, -1.0}; kestrel::categorical_from_uniform(V(ww), 0.5); }},
        {"categorical_from_uniform", "weights", "all zero",
         [&] { std::vector<double> ww{0.0, 0.0}; kestrel::categorical_from_uniform(V(ww), 0.5); }},
        {"categorical_from_uniform", "weights", "total overflows",
         [&] { std::vector<double> ww{DBL_MAX, DBL_MAX}; kestrel::categorical_from_uniform(V(ww), 0.5); }},
        {"categorical_from_uniform", "u", "u = 1", [&] { kestrel::categorical_from_uniform(V(w), 1.0); }},
        {"categorical_from_uniform", "u", "u NaN", [&] { kestrel::categorical_from_uniform(V(w), nan_d); }},
        {"categorical", "weights", "empty weights", [&] { kestrel::categorical(V(empty), rng, 0); }},
        {"cumulative_distribution::sample", "this", "default-constructed distribution",
         [&] { kestrel::cumulative_distribution cd; cd.sample(rng, 3); }},
        {"cumulative_distribution::sample_from_uniform", "this", "default-constructed distribution",
         [&] { kestrel::cumulative_distribution cd; cd.sample_from_uniform(0.5); }},
        {"cumulative_distribution::sample_from_uniform", "u", "u NaN",
         [&] { kestrel::cumulative_distribution cd(V{w}); cd.sample_from_uniform(nan_d); }},
        {"cumulative_distribution::sample_from_uniform", "u", "u negative",
         [&] { kestrel::cumulative_distribution cd(V{w}); cd.sample_from_uniform(-0.25); }},
        {"cumulative_distribution", "weights", "inf weight",
         [&] { std::vector<double> ww{1.0, inf_d}; kestrel::cumulative_distribution cd(V{ww}); }},
        {"cumulative_distribution::assign", "weights", "empty weights",
         [&] { kestrel::cumulative_distribution cd; cd.assign(V(empty)); }},
        {"fill_normal", "first_draw", "draw counter wraps",
         [&] { kestrel::fill_normal(kestrel::make_view(o.y), rng, std::numeric_limits<std::uint64_t>::max() - 5); }},
        {"fill_uniform", "first_draw", "draw counter wraps",
         [&] { kestrel::fill_uniform(kestrel::make_view(o.yf), rng, std::numeric_limits<std::uint64_t>::max() - 5); }},
        {"fill_normal", "policy.threads", "negative thread count",
         [&] { kestrel::fill_normal(kestrel::make_view(o.y), rng, 0, negative); }},
        {"fill_uniform", "policy.threads", "negative thread count",
         [&] { kestrel::fill_uniform(kestrel::make_view(o.y), rng, 0, negative); }},
    };
    run_table(table, o);
}

TEST_CASE("finite_as decides float overflow exactly at the rounding boundary") {
    const double fmax = static_cast<double>(FLT_MAX);
    CHECK(kestrel::finite_as<float>(fmax));
    CHECK(kestrel::finite_as<float>(-fmax));
    // Below the midpoint between FLT_MAX and 2^128 a double rounds down to FLT_MAX ...
    CHECK(kestrel::finite_as<float>(fmax + std::ldexp(1.0, 103) * 0.5));
    // ... at the midpoint ties-to-even rounds up to 2^128, i.e. inf.
    CHECK_FALSE(kestrel::finite_as<float>(fmax + std::ldexp(1.0, 103)));
    CHECK_FALSE(kestrel::finite_as<float>(nan_d));
    CHECK(kestrel::finite_as<double>(DBL_MAX));
    CHECK_FALSE(kestrel::finite_as<double>(inf_d));
    // The rule agrees with the conversion itself wherever that is defined (|v| <= FLT_MAX).
    volatile float f = static_cast<float>(fmax);
    CHECK(std::isfinite(f));
}

TEST_CASE("valid edge cases are accepted - empty products and exact aliasing and large finite float coefficients") {
    std::vector<double> empty;
    const std::size_t big = std::size_t(1) << 32;
    kestrel::matrix_view<double> m(empty, big, 0);  // 2^32 x 0: no elements, nothing wraps
    CHECK(m.empty());
    std::vector<float> x(100, 2.0f), y(100, 0.0f);
    kestrel::lincomb(kestrel::make_view(y), {1e38}, {Vf(x)});  // 2e38 fits a float
    CHECK(std::isfinite(y[0]));
    CHECK(y[0] == Approx(2e38).epsilon(1e-6));
    kestrel::lincomb(kestrel::make_view(x), {0.5, 0.25}, {Vf(x), Vf(x)});  // output is an input: allowed
    CHECK(x[7] == 1.5f);

    std::vector<double> buf(10);
    const kestrel::vector_view<double> whole(buf.data(), 10), head(buf.data(), 5), tail(buf.data() + 5, 5),
        mid(buf.data() + 4, 2), none;
    CHECK(kestrel::views_overlap(whole, mid));
    CHECK_FALSE(kestrel::views_overlap(head, tail));
    CHECK(kestrel::views_overlap(head, mid));
    CHECK(kestrel::views_overlap(tail, mid));
    CHECK_FALSE(kestrel::views_overlap(whole, none));
    CHECK_FALSE(kestrel::views_overlap_partially(whole, whole));
    CHECK(kestrel::views_overlap_partially(whole, head));

    // A failed assign keeps the previous distribution.
    std::vector<double> w{0.0, 1.0, 0.0}, bad{-1.0};
    kestrel::cumulative_distribution cd{V(w)};
    CHECK_THROWS_AS(cd.assign(V(bad)), kestrel::invalid_argument);
    CHECK(cd.size() == 3);
    CHECK(cd.sample_from_uniform(0.99) == 1);
}
