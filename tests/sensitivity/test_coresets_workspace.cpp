// The fused sensitivity-coreset path (input check in the seeding's first pass, costs and
// per-cluster sums left by the last round's pass, sensitivities and stratified block sums in
// one pass) and its reusable workspace, against the unfused composition
// sensitivity_coreset_from(bicriteria_seeding(...)) written with the public API: bit-equal
// indices and weights, with and without a workspace, whatever the order of sizes a workspace
// has seen, at 1, 2 and 3 threads; the search's skip of exact distances that cannot win
// (never a wrong skip, against the search without it, in the cancellation regime too); the
// fallback pass when the last round draws nothing new;
// the input check of the fused pass; and that a second call of the same or a smaller size
// keeps the workspace's arrays (no new allocation, hence no fill and no page faults).
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/clustering_coreset.hpp>
#include <kestrel/sensitivity/coreset_workspace.hpp>
#include <kestrel/sensitivity/dz_seeding.hpp>
#include <kestrel/sensitivity/kmeans_distances.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "coreset_test_util.hpp"

namespace ks = kestrel::sensitivity;
using kestrel::const_matrix_view;
using kestrel::exec_policy;
using kestrel::vector_view;

namespace {

/// The unfused composition through the public API.
template <class T>
ks::coreset reference(const_matrix_view<const T> P, vector_view<const T> w, std::size_t k, std::size_t m,
                      const ks::sensitivity_options& o) {
    if (o.seeding == ks::seeding_method::sequential) {
        ks::seeding_options so;
        so.z = o.z;
        so.seed = o.seed;
        so.policy = o.policy;
        return ks::sensitivity_coreset_from<T>(P, w, ks::dz_seeding<T>(P, w, k, so), m, o);
    }
    ks::bicriteria_options bo;
    bo.z = o.z;
    bo.seed = o.seed;
    bo.rounds = o.rounds;
    bo.oversampling = o.oversampling;
    bo.policy = o.policy;
    return ks::sensitivity_coreset_from<T>(P, w, ks::bicriteria_seeding<T>(P, w, k, bo), m, o);
}

void check_same(const ks::coreset& a, const ks::coreset& b) {
    REQUIRE(a.indices.size() == b.indices.size());
    CHECK(a.indices == b.indices);
    CHECK(a.weights == b.weights);  // bit for bit
}

template <class T>
std::vector<T> weights_with_zeros(std::size_t n, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 5);
    std::vector<T> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = (i % 7 == 3) ? T(0) : static_cast<T>(0.25 + 2 * rng.uniform_double(i));
    return w;
}

template <class T>
void fused_equals_composition(ks::coreset_workspace& ws) {
    // Sizes in an order that makes the workspace shrink and grow: several draw blocks with a
    // partial last one; in the optimized build also more than 64 blocks (groups of 2 blocks
    // in the per-cluster table).
    std::vector<std::size_t> sizes{3 * 4096 + 777, 5000, 1};
    if (coreset_test::full_size) sizes.push_back(65 * 4096 + 5);
    sizes.push_back(2 * 4096);
    const std::size_t d = 3;
    for (std::size_t n : sizes) {
        const auto X = coreset_test::imbalanced<T>(n, d, 40 + n);
        const auto w = weights_with_zeros<T>(n, n);
        const const_matrix_view<const T> P(X.data(), n, d);
        for (int variant = 0; variant < 6; ++variant) {
            ks::sensitivity_options o;
            o.seed = 3 + std::uint64_t(variant);
            o.z = variant % 2 == 0 ? 2 : 1;
            o.stratified = variant < 4;
            o.size_term = variant == 2 ? 3.0 : 1.0;
            if (variant == 5) o.seeding = ks::seeding_method::sequential;
            const vector_view<const T> wv = variant % 3 == 1 ? vector_view<const T>(w) : vector_view<const T>();
            const std::size_t k = std::min<std::size_t>(n, variant == 3 ? 40 : 5), m = std::min<std::size_t>(300, 2 * n);
            INFO("n " << n << ", variant " << variant);
            const auto ref = reference<T>(P, wv, k, m, o);
            check_same(ks::sensitivity_coreset<T>(P, wv, k, m, o), ref);
            check_same(ks::sensitivity_coreset<T>(P, wv, k, m, o, &ws), ref);
            const auto B = ks::bicriteria_seeding<T>(P, wv, k);
            check_same(ks::sensitivity_coreset_from<T>(P, wv, B, m, o, &ws), ks::sensitivity_coreset_from<T>(P, wv, B, m, o));
        }
    }
}

template <class T>
void skip_never_hides_a_closer_center(std::size_t d, double offset) {
    const std::size_t n = 700, k = 13;
    const kestrel::counter_rng rng(d, 11);
    std::vector<T> X(n * d), C(k * d);
    for (std::size_t q = 0; q < n * d; ++q) X[q] = static_cast<T>(offset + 4 * rng.normal(q));
    for (std::size_t q = 0; q < k * d; ++q) C[q] = static_cast<T>(offset + 4 * rng.normal(n * d + q));
    const const_matrix_view<const T> P(X.data(), n, d), CV(C.data(), k, d);
    const ks::detail::nearest_search<T> search(CV);
    ks::detail::row_matrix<T> scratch;
    std::vector<std::size_t> label(n), label2(n);
    std::vector<double> d2(n), d2b(n), xn(n), current(n);
    search.assign(P, 0, n, label.data(), d2.data(), scratch);
    for (std::size_t i = 0; i < n; ++i) xn[i] = ks::detail::exact_squared_norm(&X[i * d], d);
    // Current distances just below, at and above the exact one, and far below it.
    const double factor[] = {0.5, 1 - 1e-3, 1 - 1e-6, 1 - 1e-12, 1.0, 1 + 1e-12, 1 + 1e-6, 2.0};
    std::size_t skipped = 0, wrong = 0;
    for (double f : factor) {
        for (std::size_t i = 0; i < n; ++i) current[i] = d2[i] * f;
        search.assign_if_closer(P, 0, n, xn.data(), current.data(), label2.data(), d2b.data(), scratch);
        for (std::size_t i = 0; i < n; ++i) {
            if (label2[i] != label[i]) ++wrong;
            if (d2b[i] == std::numeric_limits<double>::infinity()) {
                ++skipped;
                if (d2[i] < current[i]) ++wrong;  // a strictly closer center was hidden
            } else if (d2b[i] != d2[i]) {
                ++wrong;
            }
        }
    }
    INFO("d " << d << ", offset " << offset << ", skipped " << skipped);
    CHECK(wrong == 0);
    if (offset == 0.0) CHECK(skipped >= n);  // at least the rows at half their distance
}

}  // namespace

TEST_CASE("the search skips only exact distances that cannot beat the current one", "[sensitivity][coresets]") {
    for (std::size_t d : {std::size_t(1), std::size_t(5), std::size_t(16), std::size_t(19)})
        for (double offset : {0.0, 1e3, 1e5}) {
            skip_never_hides_a_closer_center<float>(d, offset);
            skip_never_hides_a_closer_center<double>(d, offset);
        }
}

TEST_CASE("the fused sensitivity coreset equals the coreset from the bicriteria seeding", "[sensitivity][coresets]") {
    ks::coreset_workspace ws;  // shared by every call below, float and double
    fused_equals_composition<float>(ws);
    fused_equals_composition<double>(ws);
}

TEST_CASE("a last round that draws nothing new still leaves the costs", "[sensitivity][coresets]") {
    // Four distinct points, many copies each: after the first round every point sits on a
    // center (the D^2 mass is zero, the rounds stop) or the draws hit existing centers only,
    // so the costs and cluster sums come from the fallback pass.
    const std::size_t n = 2 * 4096 + 11, d = 2;
    std::vector<double> X(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        X[i * d] = double(i % 4);
        X[i * d + 1] = double((i % 4) * (i % 4));
    }
    const const_matrix_view<const double> P(X.data(), n, d);
    for (std::size_t k : {std::size_t(1), std::size_t(2), std::size_t(8)})
        for (std::size_t rounds : {std::size_t(1), std::size_t(3)})
            for (int z : {1, 2}) {
                ks::sensitivity_options o;
                o.rounds = rounds;
                o.z = z;
                o.seed = k + 10 * rounds;
                ks::coreset_workspace ws;
                INFO("k " << k << ", rounds " << rounds << ", z " << z);
                const auto ref = reference<double>(P, {}, k, 50, o);
                check_same(ks::sensitivity_coreset<double>(P, {}, k, 50, o, &ws), ref);
            }
}

TEST_CASE("the fused coreset is the same at 1, 2 and 3 threads with one workspace", "[sensitivity][coresets]") {
    const std::size_t n = coreset_test::full_size ? 100000 : 3 * 4096 + 5, d = 4;
    const auto X = coreset_test::imbalanced<float>(n, d, 8);
    const auto w = weights_with_zeros<float>(n, 2);
    const const_matrix_view<const float> P(X.data(), n, d);
    ks::coreset_workspace ws;
    for (std::size_t k : {std::size_t(10), std::size_t(100)}) {
        ks::sensitivity_options o;
        o.seed = k;
        o.policy = exec_policy{1};
        const auto one = ks::sensitivity_coreset<float>(P, w, k, 500, o, &ws);
        for (int threads : {2, 3, 1}) {
            o.policy = exec_policy{threads};
            INFO("k " << k << ", threads " << threads);
            check_same(ks::sensitivity_coreset<float>(P, w, k, 500, o, &ws), one);
            check_same(ks::sensitivity_coreset<float>(P, w, k, 500, o), one);
        }
    }
}

TEST_CASE("a workspace keeps its arrays across calls of the same or a smaller size", "[sensitivity][coresets]") {
    const std::size_t n = 3 * 4096 + 1, d = 3;
    const auto X = coreset_test::imbalanced<double>(n, d, 1);
    const const_matrix_view<const double> P(X.data(), n, d);
    ks::coreset_workspace ws;
    CHECK(ws.capacity() == 0);
    (void)ks::sensitivity_coreset<double>(P, {}, 10, 100, {}, &ws);
    CHECK(ws.capacity() == n);
    const double* d2 = ws.d2.get(0);
    const std::size_t* nearest = ws.nearest.get(0);
    const double* sens = ws.sens.get(0);
    for (std::size_t rows : {n, n - 4096, std::size_t(77), n}) {
        (void)ks::sensitivity_coreset<double>(const_matrix_view<const double>(X.data(), rows, d), {}, 10, 100, {}, &ws);
        CHECK(ws.capacity() == n);
        CHECK(ws.d2.get(0) == d2);
        CHECK(ws.nearest.get(0) == nearest);
        CHECK(ws.sens.get(0) == sens);
    }
}

TEST_CASE("the fused input check refuses non-finite points before any output", "[sensitivity][coresets]") {
    const std::size_t n = 3 * 4096 + 100, d = 3;
    ks::coreset_workspace ws;
    for (int threads : {1, 2}) {
        ks::sensitivity_options o;
        o.policy = exec_policy{threads};
        std::vector<float> X(n * d);
        for (std::size_t q = 0; q < X.size(); ++q) X[q] = float(q % 11);
        X[9000 * d + 1] = std::numeric_limits<float>::quiet_NaN();
        X[5000 * d + 2] = std::numeric_limits<float>::infinity();  // the first bad one in row order
        const const_matrix_view<const float> P(X.data(), n, d);
        // Identical rows, all holding an infinity: refused too (not the one-point coreset).
        std::vector<float> Y(n * d, 1.0f);
        for (std::size_t i = 0; i < n; ++i) Y[i * d + 1] = -std::numeric_limits<float>::infinity();
        const const_matrix_view<const float> Q(Y.data(), n, d);
        for (int f = 0; f < 4; ++f) {
            std::string message = "no exception";
            try {
                if (f == 0) ks::sensitivity_coreset<float>(P, {}, 3, 10, o, &ws);
                if (f == 1) ks::sensitivity_coreset<float>(P, {}, 3, 10, o);
                if (f == 2) ks::sensitivity_coreset<float>(Q, {}, 3, 10, o, &ws);
                if (f == 3) ks::sensitivity_coreset<float>(Q, {}, 3, 10, o);
            } catch (const kestrel::invalid_argument& e) {
                message = e.what();
            }
            INFO("threads " << threads << ", case " << f << ": " << message);
            CHECK(message.find("sensitivity_coreset") != std::string::npos);
            CHECK(message.find("argument 'points'") != std::string::npos);
            CHECK(message.find(f < 2 ? "coordinate (5000, 2)" : "coordinate (0, 1)") != std::string::npos);
        }
        // The workspace still works after a refused call.
        for (std::size_t q = 0; q < X.size(); ++q) X[q] = float(q % 13) + float(q % 3) * 0.5f;
        check_same(ks::sensitivity_coreset<float>(P, {}, 3, 10, o, &ws), reference<float>(P, {}, 3, 10, o));
    }
}
