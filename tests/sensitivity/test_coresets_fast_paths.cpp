// The fast paths of the clustering seedings, each against a straightforward reference
// written here: the SIMD nearest-center search (argmin over padded centers, ties to the
// lowest index), the bicriteria seeding whose distance pass also produces the next round's
// masses (its centers, labels and costs reproduced draw by draw by a plain loop), and the
// parallel input check (it reports the first bad coordinate in row order); and the benchmark's
// textbook clustering-cost loop against the kernel it is timed beside.
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/clustering_coreset.hpp>
#include <kestrel/sensitivity/dz_seeding.hpp>
#include <kestrel/sensitivity/kmeans_distances.hpp>
#include <kestrel/sensitivity/weighted_lloyd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "baselines/sensitivity_coresets.hpp"

namespace ks = kestrel::sensitivity;
using kestrel::const_matrix_view;
using kestrel::exec_policy;

namespace {

double exact_d2(const double* x, const double* c, std::size_t d) {
    double s = 0;
    for (std::size_t t = 0; t < d; ++t) s += (x[t] - c[t]) * (x[t] - c[t]);
    return s;
}

/// Integer coordinates in [-lo, hi): every product and sum of the Gram form is an exact
/// integer in float and double, so its argmin is the exact one, ties included.
template <class T>
std::vector<T> integer_points(std::size_t n, std::size_t d, int span, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 3);
    std::vector<T> X(n * d);
    for (std::size_t q = 0; q < n * d; ++q)
        X[q] = static_cast<T>(std::floor(double(span) * rng.uniform_double(q)) - double(span / 2));
    return X;
}

template <class T>
void nearest_against_reference(std::size_t d) {
    const std::size_t n = 700;  // three blocks of the product, the last one partial
    const auto X = integer_points<T>(n, d, 9, 1 + d);
    for (std::size_t k = 1; k <= 37; ++k) {
        // Centers: points of X, with a duplicate of an earlier center every third one (exact ties).
        std::vector<T> C(k * d);
        for (std::size_t j = 0; j < k; ++j) {
            const std::size_t src = (j % 3 == 2) ? (j / 2) * d : ((j * 37 + 11) % n) * d;
            const T* from = (j % 3 == 2) ? &C[src] : &X[src];
            std::copy(from, from + d, C.begin() + j * d);
        }
        const const_matrix_view<const T> P(X.data(), n, d), CV(C.data(), k, d);
        const ks::detail::nearest_search<T> search(CV);
        std::vector<std::size_t> label(n);
        std::vector<double> d2(n);
        ks::detail::row_matrix<T> scratch;
        search.assign(P, 0, n, label.data(), d2.data(), scratch);
        const std::vector<double> Xd(X.begin(), X.end()), Cd(C.begin(), C.end());
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < n; ++i) {
            std::size_t best = 0;
            double best_v = std::numeric_limits<double>::infinity();
            for (std::size_t j = 0; j < k; ++j) {
                const double v = exact_d2(&Xd[i * d], &Cd[j * d], d);
                if (v < best_v) best_v = v, best = j;  // strict: ties keep the lowest index
            }
            wrong += (label[i] != best || d2[i] != best_v) ? 1 : 0;
        }
        INFO("k = " << k << ", d = " << d);
        CHECK(wrong == 0);
    }
}

/// The bicriteria seeding (z = 2, unit weights) written as plain loops: running sums of the
/// masses, the smallest i with u * M < mass_0 + ... + mass_i, exact distances, the nearest
/// center by exact comparison (lowest batch index on ties, a new center only if strictly
/// closer). On integer coordinates every mass and sum is an exact integer, so the blocked
/// sums of the kernel are these sums and the same uniforms pick the same points.
ks::seeding_result bicriteria_reference(const std::vector<double>& X, std::size_t n, std::size_t d, std::size_t k,
                                        const ks::bicriteria_options& o) {
    const kestrel::counter_rng rng(o.seed, 0xb1c5);
    const std::size_t per_round = std::min<std::size_t>(n, std::size_t(std::ceil(o.oversampling * double(k))));
    ks::seeding_result r;
    const std::size_t first = std::min(n - 1, std::size_t(rng.uniform_double(0) * double(n)));
    r.centers.push_back(first);
    r.nearest.assign(n, 0);
    std::vector<double> d2(n), cum(n);
    std::vector<char> is_center(n, 0);
    is_center[first] = 1;
    for (std::size_t i = 0; i < n; ++i) d2[i] = exact_d2(&X[i * d], &X[first * d], d);
    std::uint64_t draw = 1;
    for (std::size_t round = 0; round < o.rounds; ++round) {
        double acc = 0;
        for (std::size_t i = 0; i < n; ++i) cum[i] = acc += d2[i];
        if (!(acc > 0)) break;
        std::vector<std::size_t> batch;
        for (std::size_t j = 0; j < per_round; ++j) {
            const double t = rng.uniform_double(draw++) * acc;
            const std::size_t i = std::size_t(std::upper_bound(cum.begin(), cum.end(), t) - cum.begin());
            REQUIRE(i < n);
            if (!is_center[i]) is_center[i] = 1, batch.push_back(i);
        }
        std::sort(batch.begin(), batch.end());
        const std::size_t offset = r.centers.size();
        r.centers.insert(r.centers.end(), batch.begin(), batch.end());
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < batch.size(); ++j) {
                const double v = exact_d2(&X[i * d], &X[batch[j] * d], d);
                if (v < d2[i]) d2[i] = v, r.nearest[i] = offset + j;
            }
    }
    r.point_cost = d2;
    return r;
}

}  // namespace

TEST_CASE("nearest-center search equals the exact argmin with ties to the lowest index", "[sensitivity][coresets]") {
    for (std::size_t d : {std::size_t(1), std::size_t(5), std::size_t(19)}) {
        nearest_against_reference<float>(d);
        nearest_against_reference<double>(d);
    }
}

TEST_CASE("bicriteria seeding equals a plain-loop reference draw by draw", "[sensitivity][coresets]") {
    // 3 blocks of the draws (4096 points each) and a partial one; k = 40 draws 27 centers
    // per round (more than one SIMD width of padded centers).
    const std::size_t n = 3 * 4096 + 777, d = 6;
    const auto X = integer_points<double>(n, d, 40, 9);
    std::vector<float> Xf(X.begin(), X.end());
    for (std::uint64_t seed : {1u, 2u}) {
        for (std::size_t k : {std::size_t(5), std::size_t(40)}) {
            ks::bicriteria_options o;
            o.seed = seed;
            const auto ref = bicriteria_reference(X, n, d, k, o);
            for (int threads : {1, 2}) {
                o.policy = exec_policy{threads};
                const auto a = ks::bicriteria_seeding<double>(const_matrix_view<const double>(X.data(), n, d), {}, k, o);
                const auto b = ks::bicriteria_seeding<float>(const_matrix_view<const float>(Xf.data(), n, d), {}, k, o);
                INFO("seed " << seed << ", k " << k << ", threads " << threads);
                for (const auto* r : {&a, &b}) {
                    CHECK(r->centers == ref.centers);
                    CHECK(r->nearest == ref.nearest);
                    CHECK(r->point_cost == ref.point_cost);
                    double total = 0;
                    for (double v : ref.point_cost) total += v;
                    CHECK(r->cost == total);  // integers: every order of summation is exact
                }
            }
        }
    }
}

TEST_CASE("the parallel input check names the first bad coordinate in row order", "[sensitivity][coresets]") {
    const std::size_t n = 3 * 4096 + 100, d = 3;
    std::vector<float> X(n * d, 1.0f);
    X[9000 * d + 1] = std::numeric_limits<float>::quiet_NaN();  // a later block
    X[5000 * d + 2] = std::numeric_limits<float>::infinity();   // the first bad one
    X[12000 * d + 0] = -std::numeric_limits<float>::infinity();
    const const_matrix_view<const float> P(X.data(), n, d);
    for (int threads : {1, 2, 3}) {
        const exec_policy pol{threads};
        ks::bicriteria_options bo;
        bo.policy = pol;
        ks::seeding_options so;
        so.policy = pol;
        ks::sensitivity_options co;
        co.policy = pol;
        std::vector<std::string> messages;
        for (int f = 0; f < 3; ++f) {
            try {
                if (f == 0) ks::bicriteria_seeding<float>(P, {}, 3, bo);
                if (f == 1) ks::dz_seeding<float>(P, {}, 3, so);
                if (f == 2) ks::sensitivity_coreset<float>(P, {}, 3, 10, co);
                messages.push_back("no exception");
            } catch (const kestrel::invalid_argument& e) {
                messages.push_back(e.what());
            }
        }
        INFO("threads " << threads);
        for (const auto& m : messages) {
            INFO(m);
            CHECK(m.find("argument 'points'") != std::string::npos);
            CHECK(m.find("coordinate (5000, 2)") != std::string::npos);
        }
    }
}

TEST_CASE("clustering cost equals the textbook double loop of the benchmark baseline", "[sensitivity][coresets]") {
    // Integer coordinates: every distance and the total are exact, so the two agree exactly.
    const std::size_t n = 5000, d = 7;
    const auto X = integer_points<float>(n, d, 30, 4);
    namespace bl = kestrel_baseline::sensitivity_coresets;
    for (std::size_t k : {std::size_t(1), std::size_t(3), std::size_t(67)}) {
        const std::vector<float> C(X.begin() + 100 * d, X.begin() + (100 + k) * d);
        for (int z : {1, 2}) {
            const double mine = ks::clustering_cost<float>(const_matrix_view<const float>(X.data(), n, d), {},
                                                           const_matrix_view<const float>(C.data(), k, d), z,
                                                           exec_policy{2});
            const double ref = bl::clustering_cost(X.data(), n, d, C.data(), k, z);
            INFO("k " << k << ", z " << z);
            if (z == 2) CHECK(mine == ref);
            else CHECK(std::abs(mine - ref) <= 1e-12 * ref);  // square roots summed in another order
        }
    }
}
