// Clustering coresets: distances (Gram form against the direct form, exact path exact), the
// D^z seeding law by chi-square, unbiasedness of every coreset, agreement with the
// straightforward baselines, weighted Lloyd against a direct Lloyd, the distortion tool on
// coresets with a known error, identical points, thread-count invariance and every error path.
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/clustering_coreset.hpp>
#include <kestrel/sensitivity/coreset_distortion.hpp>
#include <kestrel/sensitivity/dz_seeding.hpp>
#include <kestrel/sensitivity/kmeans_distances.hpp>
#include <kestrel/sensitivity/lightweight_coreset.hpp>
#include <kestrel/sensitivity/weighted_lloyd.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "../validation_table.hpp"
#include "baselines/sensitivity_coresets.hpp"
#include "coreset_test_util.hpp"

namespace ks = kestrel::sensitivity;
using kestrel::const_matrix_view;
using kestrel::exec_policy;
using kestrel::vector_view;

namespace {

template <class T>
std::vector<T> gaussian(std::size_t n, std::size_t d, double offset, std::uint64_t seed) {
    const kestrel::counter_rng rng(seed, 5);
    std::vector<T> X(n * d);
    for (std::size_t q = 0; q < n * d; ++q) X[q] = static_cast<T>(offset + rng.normal(q));
    return X;
}

double direct_d2(const double* x, const double* c, std::size_t d) {
    double s = 0;
    for (std::size_t t = 0; t < d; ++t) s += (x[t] - c[t]) * (x[t] - c[t]);
    return s;
}

template <class T>
void gram_against_direct(double offset) {
    const std::size_t n = 300, k = 7, d = 9;
    const auto X = gaussian<T>(n, d, offset, 1);
    const auto C = gaussian<T>(k, d, offset, 2);
    std::vector<T> G(n * k), E(n * k);
    ks::pairwise_squared_distances<T>(const_matrix_view<const T>(X.data(), n, d), const_matrix_view<const T>(C.data(), k, d),
                                      kestrel::matrix_view<T>(G.data(), n, k), ks::distance_form::gram);
    ks::pairwise_squared_distances<T>(const_matrix_view<const T>(X.data(), n, d), const_matrix_view<const T>(C.data(), k, d),
                                      kestrel::matrix_view<T>(E.data(), n, k), ks::distance_form::exact);
    const double eps = std::numeric_limits<T>::epsilon();
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < k; ++j) {
            std::vector<double> x(X.begin() + i * d, X.begin() + (i + 1) * d), c(C.begin() + j * d, C.begin() + (j + 1) * d);
            const double ref = direct_d2(x.data(), c.data(), d);
            double xn = 0, cn = 0;
            for (std::size_t t = 0; t < d; ++t) xn += x[t] * x[t], cn += c[t] * c[t];
            // Gram form: the error of ||x||^2 + ||c||^2 - 2 x.c with every term accumulated in T
            // is at most about (d + 2) eps (||x||^2 + ||c||^2) (Higham, Sec. 3.1); allow 2x.
            CHECK(std::abs(double(G[i * k + j]) - ref) <= 2.0 * (d + 2) * eps * (xn + cn));
            // Direct form in double, rounded once to T: relative error at most about eps(T).
            CHECK(std::abs(double(E[i * k + j]) - ref) <= (2 * eps + 1e-15 * d) * ref);
        }
}

}  // namespace

TEST_CASE("gram distances agree with the direct form within their error bound", "[sensitivity][coresets]") {
    gram_against_direct<double>(0.0);
    gram_against_direct<double>(50.0);
    gram_against_direct<float>(0.0);
    gram_against_direct<float>(50.0);
}

TEST_CASE("the exact path is exact where the gram form cancels", "[sensitivity][coresets]") {
    // Integer coordinates near 1e7: every squared distance is a small integer, which the direct
    // form returns exactly; the Gram form's terms are near 1e14 * d and lose it.
    const std::size_t n = 50, k = 4, d = 3;
    const kestrel::counter_rng rng(3, 1);
    std::vector<double> X(n * d), C(k * d);
    for (std::size_t q = 0; q < n * d; ++q) X[q] = 1e7 + std::floor(10 * rng.uniform_double(q));
    for (std::size_t q = 0; q < k * d; ++q) C[q] = 1e7 + std::floor(10 * rng.uniform_double(1000 + q));
    std::vector<double> E(n * k);
    ks::pairwise_squared_distances<double>(const_matrix_view<const double>(X.data(), n, d),
                                           const_matrix_view<const double>(C.data(), k, d),
                                           kestrel::matrix_view<double>(E.data(), n, k), ks::distance_form::exact);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < k; ++j) CHECK(E[i * k + j] == direct_d2(&X[i * d], &C[j * d], d));
    // The cost (Gram search, exact distance to the chosen center) is exact too: integers.
    double ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double best = 1e300;
        for (std::size_t j = 0; j < k; ++j) best = std::min(best, direct_d2(&X[i * d], &C[j * d], d));
        ref += best;
    }
    const double cost = ks::clustering_cost<double>(const_matrix_view<const double>(X.data(), n, d), {},
                                                    const_matrix_view<const double>(C.data(), k, d));
    // The Gram search may pick a center within its error of the nearest (here ~1e14 * 1e-16 *
    // d, i.e. a few units): the cost is then an integer within that of ref.
    CHECK(cost == std::floor(cost));
    CHECK(std::abs(cost - ref) <= 0.05 * ref);
}

TEST_CASE("clustering cost equals the brute-force cost on separated data", "[sensitivity][coresets]") {
    const std::size_t n = 2000, k = 6, d = 5;
    const auto X = coreset_test::imbalanced<double>(n, d, 4);
    const auto W = gaussian<double>(n, 1, 2.0, 9);
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = std::abs(W[i]);
    std::vector<double> C(X.begin(), X.begin() + k * d);  // includes a far-cluster point
    for (int z : {1, 2}) {
        double ref = 0;
        for (std::size_t i = 0; i < n; ++i) {
            double best = 1e300;
            for (std::size_t j = 0; j < k; ++j) best = std::min(best, direct_d2(&X[i * d], &C[j * d], d));
            ref += w[i] * (z == 2 ? best : std::sqrt(best));
        }
        const double cost = ks::clustering_cost<double>(const_matrix_view<const double>(X.data(), n, d), w,
                                                        const_matrix_view<const double>(C.data(), k, d), z);
        CHECK(std::abs(cost - ref) <= 1e-12 * ref);
    }
}

TEST_CASE("D^z seeding draws the first two centers with the exact law", "[sensitivity][coresets]") {
    // Five weighted 1-D points, k = 2. P(first = i, second = j) = (w_i / W) * w_j |x_i - x_j|^z /
    // sum_l w_l |x_i - x_l|^z. Chi-square over the 20 ordered pairs with N seeds; the critical
    // value is the upper 1e-4 quantile (false alarm 1e-4 per law, two laws).
    const std::vector<double> x{0.0, 1.0, 3.0, 7.0, 8.5}, w{1.0, 2.0, 1.0, 3.0, 0.5};
    const std::size_t n = 5, N = coreset_test::full_size ? 40000 : 8000;
    for (int z : {1, 2}) {
        double W = 0;
        for (double v : w) W += v;
        std::vector<double> p(n * n, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            double S = 0;
            for (std::size_t l = 0; l < n; ++l) S += w[l] * std::pow(std::abs(x[i] - x[l]), z);
            for (std::size_t j = 0; j < n; ++j)
                if (j != i) p[i * n + j] = w[i] / W * w[j] * std::pow(std::abs(x[i] - x[j]), z) / S;
        }
        std::vector<double> count(n * n, 0.0);
        ks::seeding_options o;
        o.z = z;
        for (std::size_t s = 0; s < N; ++s) {
            o.seed = 1000 + s;
            const auto r = ks::dz_seeding<double>(const_matrix_view<const double>(x.data(), n, 1), w, 2, o);
            REQUIRE(r.centers.size() == 2);
            count[r.centers[0] * n + r.centers[1]] += 1;
        }
        double chi2 = 0;
        std::size_t cells = 0;
        for (std::size_t q = 0; q < n * n; ++q) {
            if (p[q] == 0) {
                CHECK(count[q] == 0);
                continue;
            }
            const double e = p[q] * double(N);
            chi2 += (count[q] - e) * (count[q] - e) / e;
            ++cells;
        }
        INFO("z = " << z << ", chi2 = " << chi2 << " over " << cells << " cells");
        CHECK(chi2 < coreset_test::chi2_critical(double(cells - 1), 3.719));
    }
}

TEST_CASE("seedings report the nearest center and its cost exactly", "[sensitivity][coresets]") {
    const std::size_t n = 3000, d = 4, k = 9;
    const auto X = coreset_test::imbalanced<double>(n, d, 8);
    const const_matrix_view<const double> P(X.data(), n, d);
    for (int z : {1, 2}) {
        ks::seeding_options so;
        so.z = z;
        so.seed = 5;
        ks::bicriteria_options bo;
        bo.z = z;
        bo.seed = 5;
        bo.rounds = 3;
        for (const auto& r : {ks::dz_seeding<double>(P, {}, k, so), ks::bicriteria_seeding<double>(P, {}, k, bo)}) {
            double total = 0;
            for (std::size_t i = 0; i < n; ++i) {
                double best = 1e300;
                for (std::size_t c : r.centers) best = std::min(best, direct_d2(&X[i * d], &X[c * d], d));
                const double ref = z == 2 ? best : std::sqrt(best);
                const double mine = z == 2 ? direct_d2(&X[i * d], &X[r.centers[r.nearest[i]] * d], d)
                                           : std::sqrt(direct_d2(&X[i * d], &X[r.centers[r.nearest[i]] * d], d));
                CHECK(std::abs(mine - ref) <= 1e-12 * (1 + ref));
                CHECK(std::abs(r.point_cost[i] - ref) <= 1e-12 * (1 + ref));
                total += ref;
            }
            CHECK(std::abs(r.cost - total) <= 1e-12 * total);
        }
    }
}

TEST_CASE("every coreset is an unbiased estimate of the cost of fixed centers", "[sensitivity][coresets]") {
    // For fixed centers C, the weighted coreset cost averaged over R seeds must equal the full
    // cost: |mean - full| <= 5 * sd / sqrt(R), sd the sample standard deviation of the R
    // estimates (CLT; a false alarm about 6e-7 per check if the estimate were normal; the
    // uniform estimator is skewed by the 3 far points, which 5 sd still covers).
    const std::size_t n = 3000, d = 3, m = 40, R = coreset_test::full_size ? 400 : 120;
    const auto X = coreset_test::imbalanced<double>(n, d, 11);
    const const_matrix_view<const double> P(X.data(), n, d);
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = 1.0 + double(i % 3);
    const std::vector<double> C{X[100 * d], X[100 * d + 1], X[100 * d + 2], X[207 * d], X[207 * d + 1], X[207 * d + 2],
                                X[1313 * d], X[1313 * d + 1], X[1313 * d + 2]};
    const const_matrix_view<const double> CV(C.data(), 3, d);
    for (bool weighted : {false, true}) {
        const vector_view<const double> wv = weighted ? vector_view<const double>(w) : vector_view<const double>();
        // 0, 1: default (bicriteria seeding, stratified draw) for z = 2 and z = 1; 2: sequential
        // seeding, size_term 3, i.i.d. draw; 3: lightweight; 4: uniform; 5: bicriteria, i.i.d.
        for (int method = 0; method < 6; ++method) {
            const int z = method == 1 ? 1 : 2;
            const double full = ks::clustering_cost<double>(P, wv, CV, z);
            double sum = 0, sum2 = 0;
            for (std::size_t r = 0; r < R; ++r) {
                ks::coreset c;
                ks::sensitivity_options o;
                o.z = z;
                o.seed = 77 + r;
                if (method <= 1) c = ks::sensitivity_coreset<double>(P, wv, 4, m, o);
                if (method == 2) {
                    o.seeding = ks::seeding_method::sequential;
                    o.size_term = 3.0;
                    o.stratified = false;
                    c = ks::sensitivity_coreset<double>(P, wv, 4, m, o);
                }
                if (method == 5) {
                    o.stratified = false;
                    c = ks::sensitivity_coreset<double>(P, wv, 4, m, o);
                }
                if (method == 3) c = ks::lightweight_coreset<double>(P, wv, m, 77 + r);
                if (method == 4) c = ks::uniform_coreset<double>(P, wv, m, 77 + r);
                const auto rows = ks::gather_rows(P, c);
                double est = 0;
                for (std::size_t j = 0; j < c.size(); ++j) {
                    double best = 1e300;
                    for (std::size_t q = 0; q < 3; ++q) best = std::min(best, direct_d2(&rows[j * d], &C[q * d], d));
                    est += c.weights[j] * (z == 2 ? best : std::sqrt(best));
                }
                sum += est;
                sum2 += est * est;
            }
            const double mean = sum / double(R), sd = std::sqrt(std::max(0.0, sum2 / double(R) - mean * mean));
            INFO("method " << method << " weighted " << weighted << ": mean " << mean << " full " << full << " sd " << sd);
            CHECK(std::abs(mean - full) <= 5.0 * sd / std::sqrt(double(R)));
            CHECK(sd > 0);
        }
    }
}

TEST_CASE("coresets and seeding agree with the straightforward baselines", "[sensitivity][coresets]") {
    // Integer coordinates: every squared distance and every D^2 mass is an exact integer, so
    // the kernel's blocked sums equal the baseline's running sums and the same uniforms pick
    // the same points.
    const std::size_t n = 3000, d = 3, k = 6, m = 200;
    const kestrel::counter_rng rng(21, 2);
    std::vector<double> X(n * d);
    for (std::size_t q = 0; q < n * d; ++q) X[q] = std::floor(30 * rng.uniform_double(q)) + (q < 30 ? 400 : 0);
    const const_matrix_view<const double> P(X.data(), n, d);
    namespace bl = kestrel_baseline::sensitivity_coresets;
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        ks::seeding_options so;
        so.seed = seed;
        const auto r = ks::dz_seeding<double>(P, {}, k, so);
        const auto b = bl::dz_seeding(X.data(), n, d, k, 2, seed);
        CHECK(r.centers == b.centers);
        CHECK(r.nearest == b.nearest);
        CHECK(r.point_cost == b.d2);

        ks::sensitivity_options o;
        o.seed = seed;
        o.seeding = ks::seeding_method::sequential;
        o.stratified = false;  // the baseline's textbook i.i.d. draw
        const auto c = ks::sensitivity_coreset<double>(P, {}, k, m, o);
        const auto bc = bl::sensitivity_coreset(X.data(), n, d, k, m, 2, seed);
        CHECK(c.indices == bc.indices);
        for (std::size_t j = 0; j < m; ++j) CHECK(c.weights[j] == Approx(bc.weights[j]).epsilon(1e-12));

        const auto l = ks::lightweight_coreset<double>(P, {}, m, seed);
        const auto bl_ = bl::lightweight_coreset(X.data(), n, d, m, seed);
        CHECK(l.indices == bl_.indices);
        for (std::size_t j = 0; j < m; ++j) CHECK(l.weights[j] == Approx(bl_.weights[j]).epsilon(1e-12));

        const auto u = ks::uniform_coreset<double>(P, {}, m, seed);
        const auto bu = bl::uniform_coreset(n, m, seed);
        CHECK(u.indices == bu.indices);
        CHECK(u.weights == bu.weights);
    }
}

TEST_CASE("weighted Lloyd equals a direct Lloyd from the same centers", "[sensitivity][coresets]") {
    const std::size_t n = 1500, d = 4, k = 5;
    const auto X = coreset_test::imbalanced<double>(n, d, 13);
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = 0.5 + double(i % 4);
    std::vector<double> C(X.begin() + 10 * d, X.begin() + (10 + k) * d);
    ks::lloyd_options lo;
    lo.max_iterations = 6;
    lo.tolerance = 0;
    const auto s = ks::weighted_lloyd<double>(const_matrix_view<const double>(X.data(), n, d), w,
                                              const_matrix_view<const double>(C.data(), k, d), lo);
    // Direct Lloyd: nearest center by exact distances, weighted means, 6 steps.
    std::vector<std::size_t> lab(n);
    double cost = 0;
    for (std::size_t it = 0; it <= 6; ++it) {
        cost = 0;
        for (std::size_t i = 0; i < n; ++i) {
            double best = 1e300;
            for (std::size_t j = 0; j < k; ++j) {
                const double v = direct_d2(&X[i * d], &C[j * d], d);
                if (v < best) best = v, lab[i] = j;
            }
            cost += w[i] * best;
        }
        if (it == 6) break;
        std::vector<double> sum(k * d, 0.0), ws(k, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            ws[lab[i]] += w[i];
            for (std::size_t t = 0; t < d; ++t) sum[lab[i] * d + t] += w[i] * X[i * d + t];
        }
        for (std::size_t j = 0; j < k; ++j)
            if (ws[j] > 0)
                for (std::size_t t = 0; t < d; ++t) C[j * d + t] = sum[j * d + t] / ws[j];
    }
    CHECK(s.iterations <= 6);
    CHECK(s.labels == lab);
    for (std::size_t q = 0; q < k * d; ++q) CHECK(s.centers[q] == Approx(C[q]).epsilon(1e-12).margin(1e-12));
    CHECK(s.cost == Approx(cost).epsilon(1e-12));
}

TEST_CASE("the distortion tool measures known errors exactly", "[sensitivity][coresets]") {
    const std::size_t n = 4000, d = 3, k = 5;
    const auto X = coreset_test::imbalanced<double>(n, d, 17);
    const const_matrix_view<const double> P(X.data(), n, d);
    ks::coreset_distortion_options o;
    const auto cs = ks::make_candidates<double>(P, {}, k, o);
    REQUIRE(cs.size() == o.random_subsets + o.kmeanspp_solutions + o.perturbed_optima + o.small_cluster);
    ks::coreset all;
    for (std::size_t i = 0; i < n; ++i) all.indices.push_back(i), all.weights.push_back(1.0);
    const auto r0 = ks::coreset_distortion<double>(P, cs, all);
    CHECK(r0.candidates == cs.size());
    CHECK(r0.max <= 1e-12);
    for (auto& v : all.weights) v = 1.5;  // every cost overestimated by exactly 50%
    const auto r1 = ks::coreset_distortion<double>(P, cs, all);
    for (double e : {r1.max, r1.random_subset, r1.kmeanspp, r1.perturbed_optimum, r1.small_cluster})
        CHECK(e == Approx(0.5).epsilon(1e-12));
    // The small-cluster family holds center sets with no center near the far cluster.
    bool uncovered = false;
    for (std::size_t q = 0; q < cs.size(); ++q) {
        if (cs.family[q] != ks::candidate_family::small_cluster) continue;
        double best = 1e300;
        for (std::size_t j = 0; j < k; ++j) best = std::min(best, direct_d2(&X[0], &cs.centers[q][j * d], d));
        uncovered = uncovered || best > 1e4;
    }
    CHECK(uncovered);
}

TEST_CASE("identical points give the exact one-point coreset", "[sensitivity][coresets]") {
    const std::size_t n = 100, d = 3;
    std::vector<double> X(n * d);
    for (std::size_t i = 0; i < n; ++i) X[i * d] = 1.5, X[i * d + 1] = -2, X[i * d + 2] = 7;
    std::vector<double> w(n, 2.0);
    w[0] = w[1] = 0.0;
    const const_matrix_view<const double> P(X.data(), n, d);
    const double W = 2.0 * (n - 2);
    for (const auto& c : {ks::sensitivity_coreset<double>(P, w, 3, 10), ks::lightweight_coreset<double>(P, w, 10),
                          ks::uniform_coreset<double>(P, w, 10)}) {
        REQUIRE(c.size() == 1);
        CHECK(c.indices[0] == 2);
        CHECK(c.weights[0] == W);
    }
    const auto r = ks::dz_seeding<double>(P, w, 3);
    CHECK(r.cost == 0);
    const auto b = ks::bicriteria_seeding<double>(P, w, 3);
    CHECK(b.centers.size() == 1);
    CHECK(b.cost == 0);
    const std::vector<double> C{0, 0, 0};
    const double full = ks::clustering_cost<double>(P, w, const_matrix_view<const double>(C.data(), 1, d));
    CHECK(full == Approx(W * (1.5 * 1.5 + 4 + 49)).epsilon(1e-14));
}

TEST_CASE("coresets, seedings, Lloyd and distortion are the same at 1, 2 and 3 threads", "[sensitivity][coresets]") {
    const std::size_t n = coreset_test::full_size ? 60000 : 20000, d = 5, k = 7;
    const auto X = coreset_test::imbalanced<float>(n, d, 23);
    std::vector<float> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = 1.0f + float(i % 5);
    const const_matrix_view<const float> P(X.data(), n, d);
    auto run = [&](int threads) {
        const exec_policy pol{threads};
        std::vector<double> out;
        ks::seeding_options so;
        so.policy = pol;
        so.seed = 3;
        const auto a = ks::dz_seeding<float>(P, w, k, so);
        ks::bicriteria_options bo;
        bo.policy = pol;
        bo.seed = 3;
        const auto b = ks::bicriteria_seeding<float>(P, w, k, bo);
        for (const auto* r : {&a, &b}) {
            out.insert(out.end(), r->point_cost.begin(), r->point_cost.end());
            for (auto v : r->centers) out.push_back(double(v));
            for (auto v : r->nearest) out.push_back(double(v));
            out.push_back(r->cost);
        }
        ks::sensitivity_options o;
        o.policy = pol;
        o.seed = 4;
        std::vector<ks::coreset> cs{ks::sensitivity_coreset<float>(P, w, k, 500, o), ks::lightweight_coreset<float>(P, w, 500, 4, pol)};
        o.seeding = ks::seeding_method::sequential;
        o.z = 1;
        o.stratified = false;
        cs.push_back(ks::sensitivity_coreset<float>(P, w, k, 500, o));
        for (const auto& c : cs) {
            for (auto v : c.indices) out.push_back(double(v));
            out.insert(out.end(), c.weights.begin(), c.weights.end());
        }
        ks::lloyd_options lo;
        lo.policy = pol;
        lo.max_iterations = 4;
        const auto s = ks::weighted_kmeans<float>(P, w, k, 9, lo);
        for (auto v : s.centers) out.push_back(double(v));
        out.push_back(s.cost);
        ks::coreset_distortion_options dopt;
        dopt.policy = pol;
        dopt.lloyd_iterations = 3;
        const auto rep = ks::coreset_distortion<float>(P, w, cs[0], k, dopt);
        out.push_back(rep.max);
        out.push_back(rep.small_cluster);
        return out;
    };
    const auto r1 = run(1);
    CHECK(run(2) == r1);
    CHECK(run(3) == r1);
}

TEST_CASE("bad input is refused before any output is written", "[sensitivity][coresets]") {
    using kestrel_test::check_refusal;
    const std::size_t n = 20, d = 2;
    std::vector<double> X(n * d);
    for (std::size_t q = 0; q < n * d; ++q) X[q] = double(q % 7);
    const const_matrix_view<const double> P(X.data(), n, d);
    const std::vector<double> w(n, 1.0);
    std::vector<double> nanX = X, infW = w, negW = w, zeroW(n, 0.0), shortW(n - 1, 1.0);
    nanX[5] = std::nan("");
    infW[3] = std::numeric_limits<double>::infinity();
    negW[7] = -1.0;
    const const_matrix_view<const double> PN(nanX.data(), n, d), P0(X.data(), n, 0), Pempty(X.data(), 0, d);
    const std::vector<double> C{0, 0, 1, 1}, C3{0, 0, 0};
    const const_matrix_view<const double> CV(C.data(), 2, d), CV3(C3.data(), 1, 3);
    std::vector<double> out(n * 2, -7.0);
    ks::sensitivity_options so;
    ks::bicriteria_options bo;
    ks::coreset_distortion_options dopt;

    struct row {
        const char* function;
        const char* argument;
        std::function<void()> call;
    };
    std::vector<row> table{
        {"dz_seeding", "k", [&] { ks::dz_seeding<double>(P, {}, 0); }},
        {"dz_seeding", "k", [&] { ks::dz_seeding<double>(P, {}, n + 1); }},
        {"dz_seeding", "points", [&] { ks::dz_seeding<double>(PN, {}, 2); }},
        {"dz_seeding", "points", [&] { ks::dz_seeding<double>(P0, {}, 2); }},
        {"dz_seeding", "points", [&] { ks::dz_seeding<double>(Pempty, {}, 2); }},
        {"dz_seeding", "weights", [&] { ks::dz_seeding<double>(P, infW, 2); }},
        {"dz_seeding", "weights", [&] { ks::dz_seeding<double>(P, negW, 2); }},
        {"dz_seeding", "weights", [&] { ks::dz_seeding<double>(P, zeroW, 2); }},
        {"dz_seeding", "weights", [&] { ks::dz_seeding<double>(P, shortW, 2); }},
        {"dz_seeding", "z", [&] { ks::seeding_options o; o.z = 3; ks::dz_seeding<double>(P, {}, 2, o); }},
        {"dz_seeding", "policy.threads", [&] { ks::seeding_options o; o.policy = exec_policy{-1}; ks::dz_seeding<double>(P, {}, 2, o); }},
        {"bicriteria_seeding", "k", [&] { ks::bicriteria_seeding<double>(P, {}, n + 1); }},
        {"bicriteria_seeding", "rounds", [&] { auto o = bo; o.rounds = 0; ks::bicriteria_seeding<double>(P, {}, 2, o); }},
        {"bicriteria_seeding", "oversampling", [&] { auto o = bo; o.oversampling = 0; ks::bicriteria_seeding<double>(P, {}, 2, o); }},
        {"bicriteria_seeding", "oversampling", [&] { auto o = bo; o.oversampling = std::nan(""); ks::bicriteria_seeding<double>(P, {}, 2, o); }},
        {"bicriteria_seeding", "z", [&] { auto o = bo; o.z = 0; ks::bicriteria_seeding<double>(P, {}, 2, o); }},
        {"bicriteria_seeding", "points", [&] { ks::bicriteria_seeding<double>(PN, {}, 2); }},
        {"sensitivity_coreset", "m", [&] { ks::sensitivity_coreset<double>(P, {}, 2, 0); }},
        {"sensitivity_coreset", "k", [&] { ks::sensitivity_coreset<double>(P, {}, 0, 5); }},
        {"sensitivity_coreset", "k", [&] { ks::sensitivity_coreset<double>(P, {}, n + 1, 5); }},
        {"sensitivity_coreset", "z", [&] { auto o = so; o.z = 3; ks::sensitivity_coreset<double>(P, {}, 2, 5, o); }},
        {"sensitivity_coreset", "size_term", [&] { auto o = so; o.size_term = -1; ks::sensitivity_coreset<double>(P, {}, 2, 5, o); }},
        {"sensitivity_coreset", "rounds", [&] { auto o = so; o.rounds = 0; ks::sensitivity_coreset<double>(P, {}, 2, 5, o); }},
        {"sensitivity_coreset", "points", [&] { ks::sensitivity_coreset<double>(PN, {}, 2, 5); }},
        {"sensitivity_coreset", "points", [&] { ks::sensitivity_coreset<double>(P0, {}, 2, 5); }},
        {"sensitivity_coreset", "weights", [&] { ks::sensitivity_coreset<double>(P, infW, 2, 5); }},
        {"sensitivity_coreset", "weights", [&] { ks::sensitivity_coreset<double>(P, zeroW, 2, 5); }},
        {"sensitivity_coreset", "policy.threads", [&] { auto o = so; o.policy = exec_policy{-2}; ks::sensitivity_coreset<double>(P, {}, 2, 5, o); }},
        {"sensitivity_coreset_from", "m", [&] { ks::sensitivity_coreset_from<double>(P, {}, ks::dz_seeding<double>(P, {}, 2), 0); }},
        {"sensitivity_coreset_from", "solution", [&] { ks::sensitivity_coreset_from<double>(P, {}, ks::seeding_result{}, 5); }},
        {"sensitivity_coreset_from", "solution", [&] { auto r = ks::dz_seeding<double>(P, {}, 2); r.nearest[3] = 9; ks::sensitivity_coreset_from<double>(P, {}, r, 5); }},
        {"sensitivity_coreset_from", "solution", [&] { auto r = ks::dz_seeding<double>(P, {}, 2); r.point_cost[3] = -1; ks::sensitivity_coreset_from<double>(P, {}, r, 5); }},
        {"lightweight_coreset", "m", [&] { ks::lightweight_coreset<double>(P, {}, 0); }},
        {"lightweight_coreset", "points", [&] { ks::lightweight_coreset<double>(PN, {}, 5); }},
        {"lightweight_coreset", "weights", [&] { ks::lightweight_coreset<double>(P, negW, 5); }},
        {"uniform_coreset", "m", [&] { ks::uniform_coreset<double>(P, {}, 0); }},
        {"uniform_coreset", "points", [&] { ks::uniform_coreset<double>(P0, {}, 5); }},
        {"uniform_coreset", "weights", [&] { ks::uniform_coreset<double>(P, shortW, 5); }},
        {"clustering_cost", "z", [&] { ks::clustering_cost<double>(P, {}, CV, 3); }},
        {"clustering_cost", "centers", [&] { ks::clustering_cost<double>(P, {}, CV3); }},
        {"clustering_cost", "points", [&] { ks::clustering_cost<double>(PN, {}, CV); }},
        {"weighted_lloyd", "centers", [&] { ks::weighted_lloyd<double>(P, {}, CV3); }},
        {"weighted_lloyd", "tolerance", [&] { ks::lloyd_options o; o.tolerance = -1; ks::weighted_lloyd<double>(P, {}, CV, o); }},
        {"weighted_lloyd", "weights", [&] { ks::weighted_lloyd<double>(P, infW, CV); }},
        {"weighted_kmeans", "k", [&] { ks::weighted_kmeans<double>(P, {}, n + 1); }},
        {"weighted_kmeans", "points", [&] { ks::weighted_kmeans<double>(PN, {}, 2); }},
        {"make_candidates", "k", [&] { ks::make_candidates<double>(P, {}, 0, dopt); }},
        {"make_candidates", "z", [&] { auto o = dopt; o.z = 5; ks::make_candidates<double>(P, {}, 2, o); }},
        {"make_candidates", "noise", [&] { auto o = dopt; o.noise = -1; ks::make_candidates<double>(P, {}, 2, o); }},
        {"make_candidates", "options", [&] { auto o = dopt; o.random_subsets = o.kmeanspp_solutions = o.perturbed_optima = o.small_cluster = 0; ks::make_candidates<double>(P, {}, 2, o); }},
        {"make_candidates", "points", [&] { ks::make_candidates<double>(PN, {}, 2, dopt); }},
        {"coreset_distortion", "coreset", [&] { ks::coreset c{{0, 99}, {1, 1}}; ks::coreset_distortion<double>(P, {}, c, 2, dopt); }},
        {"coreset_distortion", "coreset", [&] { ks::coreset c{{0, 1}, {1}}; ks::coreset_distortion<double>(P, {}, c, 2, dopt); }},
        {"coreset_distortion", "coreset", [&] { ks::coreset c{{0, 1}, {1, std::nan("")}}; ks::coreset_distortion<double>(P, {}, c, 2, dopt); }},
        {"coreset_distortion", "candidates", [&] { ks::candidate_set<double> cs; ks::coreset c{{0}, {1}}; ks::coreset_distortion<double>(P, cs, c); }},
        {"gather_rows", "coreset", [&] { ks::coreset c{{0, 20}, {1, 1}}; ks::gather_rows<double>(P, c); }},
        {"pairwise_squared_distances", "out", [&] { ks::pairwise_squared_distances<double>(P, CV, kestrel::matrix_view<double>(out.data(), n, 1)); }},
        {"pairwise_squared_distances", "centers", [&] { ks::pairwise_squared_distances<double>(P, CV3, kestrel::matrix_view<double>(out.data(), n, 1)); }},
        {"pairwise_squared_distances", "points", [&] { ks::pairwise_squared_distances<double>(PN, CV, kestrel::matrix_view<double>(out.data(), n, 2)); }},
        {"pairwise_squared_distances", "out", [&] { ks::pairwise_squared_distances<double>(const_matrix_view<const double>(out.data(), n, 2), CV, kestrel::matrix_view<double>(out.data(), n, 2)); }},
    };
    for (const auto& r : table) {
        INFO(r.function << " / " << r.argument);
        check_refusal(r.function, r.argument, r.call);
    }
    for (double v : out) CHECK(v == -7.0);  // pairwise output untouched by its refusals
}
