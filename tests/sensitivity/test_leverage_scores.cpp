// Leverage scores: exact (thin QR, and the tall-skinny QR of tall matrices) against the SVD
// formula a_i^T (A^T A)^+ a_i to 1e-10 and sum = rank (full rank, rank-deficient, float input); ridge scores against the SVD formula
// sum_j sigma_j^2 / (sigma_j^2 + lambda) U_ij^2; approximate scores within a stated (1 +/- eps)
// factor of the exact ones on random and coherent matrices (fixed seeds); the benchmark
// baselines (normal equations, full pivoted QR) against the kernel; thread-count invariance;
// the validation table. These functions take no user callbacks.
#include <catch2/catch.hpp>

#include "validation_table.hpp"

#include <kestrel/sensitivity/leverage_scores.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "baselines/sensitivity_matrix.hpp"
#include "matrix_test_util.hpp"

namespace ks = kestrel::sensitivity;
using matrix_test::full_size;

namespace {

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

using matrix_test::sum;

/// Largest |log(approx / exact)| over rows with exact > floor.
double max_log_ratio(const std::vector<double>& approx, const std::vector<double>& exact, double floor = 1e-12) {
    double m = 0.0;
    for (std::size_t i = 0; i < exact.size(); ++i)
        if (exact[i] > floor) m = std::max(m, std::abs(std::log(approx[i] / exact[i])));
    return m;
}

}  // namespace

TEST_CASE("exact leverage scores match the SVD formula and sum to d", "[sensitivity][leverage]") {
    const Eigen::MatrixXd A = matrix_test::gaussian(600, 12, 1) * Eigen::MatrixXd(Eigen::VectorXd::LinSpaced(12, 1.0, 50.0).asDiagonal());
    std::vector<double> tau(600);
    const auto info = ks::exact_leverage_scores(A, kestrel::vector_view<double>(tau));
    CHECK(info.rank == 12);
    CHECK_FALSE(info.pivoted);
    CHECK(max_abs_diff(tau, matrix_test::svd_leverage(A)) < 1e-10);
    CHECK(std::abs(sum(tau) - 12.0) < 1e-10);
    // Baselines agree.
    CHECK(max_abs_diff(kestrel_baseline::leverage_normal_equations(A), tau) < 1e-10);
    CHECK(max_abs_diff(kestrel_baseline::leverage_full_qr(A), tau) < 1e-10);
}

TEST_CASE("exact leverage scores of a coherent matrix are 1 on its unit rows", "[sensitivity][leverage]") {
    const Eigen::MatrixXd A = matrix_test::coherent(2000, 10, 4, 2);
    std::vector<double> tau(2000);
    ks::exact_leverage_scores(A, kestrel::vector_view<double>(tau));
    for (int i = 0; i < 4; ++i) CHECK(std::abs(tau[static_cast<std::size_t>(i)] - 1.0) < 1e-12);
    CHECK(max_abs_diff(tau, matrix_test::svd_leverage(A)) < 1e-10);
    CHECK(std::abs(sum(tau) - 10.0) < 1e-10);
}

TEST_CASE("exact leverage scores of a rank-deficient matrix sum to its rank", "[sensitivity][leverage]") {
    // A = B C with B 400 x 5, C 5 x 9: rank 5; and a zero column on top.
    const Eigen::MatrixXd B = matrix_test::gaussian(400, 5, 3), C = matrix_test::gaussian(5, 9, 4);
    Eigen::MatrixXd A(400, 10);
    A.leftCols(9) = B * C;
    A.col(9).setZero();
    std::vector<double> tau(400);
    const auto info = ks::exact_leverage_scores(A, kestrel::vector_view<double>(tau));
    CHECK(info.rank == 5);
    CHECK(info.pivoted);
    CHECK(std::abs(sum(tau) - 5.0) < 1e-10);
    CHECK(max_abs_diff(tau, matrix_test::svd_leverage(A)) < 1e-10);
    // A wide matrix (n < d): every row has leverage 1 when the rows are independent.
    const Eigen::MatrixXd W = matrix_test::gaussian(6, 9, 5);
    std::vector<double> tw(6);
    CHECK(ks::exact_leverage_scores(W, kestrel::vector_view<double>(tw)).rank == 6);
    for (double v : tw) CHECK(std::abs(v - 1.0) < 1e-12);
}

TEST_CASE("exact leverage scores of tall matrices (the tall-skinny QR) match the SVD formula", "[sensitivity][leverage]") {
    // n >= 2 tsqr_block_rows(d) takes the blocked path: blocks QR'd on their own, their R
    // factors QR'd again. Ragged last blocks, an ill-conditioned scaling, coherent unit rows,
    // a block count that is not a power of two, d large enough that a block is 8 d rows, and a
    // row-major float Map; each against the SVD formula and summing to d.
    const Eigen::VectorXd scale = Eigen::VectorXd::LinSpaced(12, -5.0, 2.0).unaryExpr([](double e) { return std::pow(10.0, e); });
    const Eigen::MatrixXd G = matrix_test::gaussian(5003, 12, 21) * Eigen::MatrixXd(scale.asDiagonal());
    const Eigen::MatrixXd C = matrix_test::coherent(3 * 1024 + 77, 10, 5, 22);
    const Eigen::MatrixXd D = matrix_test::gaussian(2 * 8 * 200 + 333, 200, 23);
    for (const Eigen::MatrixXd* A : {&G, &C, &D}) {
        const Eigen::Index n = A->rows(), d = A->cols();
        REQUIRE(n >= 2 * ks::detail::tsqr_block_rows(d));
        std::vector<double> tau(static_cast<std::size_t>(n));
        const auto info = ks::exact_leverage_scores(*A, kestrel::vector_view<double>(tau));
        CHECK(info.rank == static_cast<std::size_t>(d));
        CHECK_FALSE(info.pivoted);
        CHECK(max_abs_diff(tau, matrix_test::svd_leverage(*A)) < 1e-10);
        CHECK(std::abs(sum(tau) - static_cast<double>(d)) < 1e-9);
    }
    std::vector<double> tc(static_cast<std::size_t>(C.rows()));
    ks::exact_leverage_scores(C, kestrel::vector_view<double>(tc));
    for (int i = 0; i < 5; ++i) CHECK(std::abs(tc[static_cast<std::size_t>(i)] - 1.0) < 1e-12);
    const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Gf = G.cast<float>();
    std::vector<double> tf(static_cast<std::size_t>(G.rows()));
    ks::exact_leverage_scores(Gf, kestrel::vector_view<double>(tf));
    CHECK(max_abs_diff(tf, matrix_test::svd_leverage(Gf.cast<double>())) < 1e-10);
}

TEST_CASE("exact leverage scores of a tall rank-deficient matrix sum to its rank", "[sensitivity][leverage]") {
    // The tall-skinny QR's R has a zero pivot: the column-pivoting QR decides the rank.
    const Eigen::Index n = 4100;
    const Eigen::MatrixXd B = matrix_test::gaussian(n, 4, 24), Cm = matrix_test::gaussian(4, 7, 25);
    Eigen::MatrixXd A(n, 8);
    A.leftCols(7) = B * Cm;
    A.col(7) = A.col(0) - 2.0 * A.col(3);
    std::vector<double> tau(static_cast<std::size_t>(n));
    const auto info = ks::exact_leverage_scores(A, kestrel::vector_view<double>(tau));
    CHECK(info.rank == 4);
    CHECK(info.pivoted);
    CHECK(std::abs(sum(tau) - 4.0) < 1e-9);
    CHECK(max_abs_diff(tau, matrix_test::svd_leverage(A)) < 1e-10);
}

TEST_CASE("exact leverage scores of float input equal those of the same values in double", "[sensitivity][leverage]") {
    const Eigen::MatrixXf Af = matrix_test::gaussian(500, 8, 6).cast<float>();
    const Eigen::MatrixXd Ad = Af.cast<double>();
    std::vector<double> tf(500), td(500);
    ks::exact_leverage_scores(Af, kestrel::vector_view<double>(tf));
    ks::exact_leverage_scores(Ad, kestrel::vector_view<double>(td));
    CHECK(max_abs_diff(tf, td) == 0.0);
    CHECK(max_abs_diff(tf, matrix_test::svd_leverage(Ad)) < 1e-10);
    // A row-major Map of user memory reads the same matrix.
    std::vector<float> buf(500 * 8);
    for (int i = 0; i < 500; ++i)
        for (int j = 0; j < 8; ++j) buf[static_cast<std::size_t>(i * 8 + j)] = Af(i, j);
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> M(buf.data(), 500, 8);
    std::vector<double> tm(500);
    ks::exact_leverage_scores(M, kestrel::vector_view<double>(tm));
    CHECK(max_abs_diff(tm, td) < 1e-13);
}

TEST_CASE("ridge leverage scores match the SVD formula", "[sensitivity][leverage]") {
    const Eigen::MatrixXd A = matrix_test::gaussian(300, 7, 7) * Eigen::MatrixXd(Eigen::VectorXd::LinSpaced(7, 0.1, 10.0).asDiagonal());
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(A, Eigen::ComputeThinU);
    for (double lambda : {0.0, 0.01, 1.0, 100.0}) {
        std::vector<double> tau(300), ref(300, 0.0);
        ks::ridge_leverage_scores(A, lambda, kestrel::vector_view<double>(tau));
        for (int i = 0; i < 300; ++i)
            for (int j = 0; j < 7; ++j) {
                const double s2 = svd.singularValues()(j) * svd.singularValues()(j);
                ref[static_cast<std::size_t>(i)] += s2 / (s2 + lambda) * svd.matrixU()(i, j) * svd.matrixU()(i, j);
            }
        INFO("lambda " << lambda);
        CHECK(max_abs_diff(tau, ref) < 1e-10);
    }
}

TEST_CASE("approximate leverage scores lie within a stated factor of the exact ones", "[sensitivity][leverage]") {
    // Stated accuracy: epsilon = 0.5 and the default sketch (k = 32 d rows, 4 nonzeros per row)
    // and JL dimension; measured |log(approx/exact)| must stay below log(1 + 0.5) = 0.405 on
    // every row (the sketch and the projection each contribute a (1 +/- e) factor).
    const Eigen::Index n = full_size ? 20000 : 4000;
    const Eigen::MatrixXd R = matrix_test::gaussian(n, 10, 8);
    const Eigen::MatrixXd C = matrix_test::coherent(n, 10, 3, 9);
    for (const Eigen::MatrixXd* A : {&R, &C}) {
        std::vector<double> exact(static_cast<std::size_t>(n)), approx(static_cast<std::size_t>(n));
        ks::exact_leverage_scores(*A, kestrel::vector_view<double>(exact));
        ks::approximate_leverage_options opt;
        opt.epsilon = 0.5;
        opt.seed = 42;
        const auto info = ks::approximate_leverage_scores(*A, kestrel::vector_view<double>(approx), opt);
        CHECK(info.rank == 10);
        CHECK(info.sketch_rows == 320);
        CHECK(info.jl_dimension == 0);  // 8 ln n / eps^2 >= d: the projection would not pay
        CHECK(max_log_ratio(approx, exact) < std::log(1.5));
        // A forced JL projection (r = 8 ln n / 0.5^2) is within the same stated factor.
        opt.jl_dimension = static_cast<std::size_t>(std::ceil(8.0 * std::log(static_cast<double>(n)) / 0.25));
        const auto info2 = ks::approximate_leverage_scores(*A, kestrel::vector_view<double>(approx), opt);
        CHECK(info2.jl_dimension == opt.jl_dimension);
        CHECK(max_log_ratio(approx, exact) < std::log(1.5) * 2.0);
        // Finer: epsilon = 0.2 (k = 200 d) gives a (1 +/- 0.2) factor without projection.
        ks::approximate_leverage_options fine;
        fine.epsilon = 0.2;
        fine.seed = 43;
        ks::approximate_leverage_scores(*A, kestrel::vector_view<double>(approx), fine);
        CHECK(max_log_ratio(approx, exact) < std::log(1.2));
    }
    // The unit rows of the coherent matrix get about 1.
    std::vector<double> approx(static_cast<std::size_t>(n));
    ks::approximate_leverage_scores(C, kestrel::vector_view<double>(approx));
    for (int i = 0; i < 3; ++i) CHECK(approx[static_cast<std::size_t>(i)] > 0.66);
}

TEST_CASE("leverage scores are identical at 1, 2 and 3 threads", "[sensitivity][leverage]") {
    const Eigen::Index n = full_size ? 30000 : 5000;
    const Eigen::MatrixXf A = matrix_test::coherent(n, 12, 2, 10).cast<float>();
    std::vector<std::vector<double>> ex, ap, apj, rd;
    for (int t : {1, 2, 3}) {
        const kestrel::exec_policy pol{t};
        std::vector<double> a(static_cast<std::size_t>(n)), b(a), c(a), d(a);
        ks::exact_leverage_scores(A, kestrel::vector_view<double>(a), pol);
        ks::approximate_leverage_scores(A, kestrel::vector_view<double>(b), {}, pol);
        ks::approximate_leverage_options o;
        o.jl_dimension = 7;
        ks::approximate_leverage_scores(A, kestrel::vector_view<double>(c), o, pol);
        ks::ridge_leverage_scores(A, 0.5, kestrel::vector_view<double>(d), pol);
        ex.push_back(a);
        ap.push_back(b);
        apj.push_back(c);
        rd.push_back(d);
    }
    for (int k = 1; k < 3; ++k) {
        CHECK(ex[0] == ex[static_cast<std::size_t>(k)]);
        CHECK(ap[0] == ap[static_cast<std::size_t>(k)]);
        CHECK(apj[0] == apj[static_cast<std::size_t>(k)]);
        CHECK(rd[0] == rd[static_cast<std::size_t>(k)]);
    }
}

TEST_CASE("leverage score functions refuse bad input before writing", "[sensitivity][leverage][validation]") {
    using kestrel_test::check_refusal;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const Eigen::MatrixXd A = matrix_test::gaussian(50, 4, 11);
    Eigen::MatrixXd Anan = A;
    Anan(17, 2) = nan;
    Eigen::MatrixXd Ainf = A;
    Ainf(3, 0) = std::numeric_limits<double>::infinity();
    const Eigen::MatrixXd empty(0, 4);
    // Finite entries whose sketch overflows: CountSketch into 5 rows, 10 entries of +-1e308 each.
    const Eigen::MatrixXd Ahuge = Eigen::MatrixXd::Constant(50, 4, 1e308);
    ks::approximate_leverage_options one_row;
    one_row.sketch_rows = 5;
    one_row.sketch_nonzeros = 1;
    std::vector<double> out(50, -7.0), short_out(49, -7.0);
    auto v = [&] { return kestrel::vector_view<double>(out); };
    ks::approximate_leverage_options bad_eps;
    bad_eps.epsilon = 1.5;
    ks::approximate_leverage_options bad_s;
    bad_s.sketch_nonzeros = 5;
    ks::approximate_leverage_options bad_k;
    bad_k.sketch_rows = 2;
    bad_k.sketch_nonzeros = 3;
    const kestrel::exec_policy neg{-1};
    struct row {
        const char* fn;
        const char* arg;
        std::function<void()> call;
    };
    const std::vector<row> table = {
        {"exact_leverage_scores", "A", [&] { ks::exact_leverage_scores(Anan, v()); }},
        {"exact_leverage_scores", "A", [&] { ks::exact_leverage_scores(Ainf, v()); }},
        {"exact_leverage_scores", "A", [&] { ks::exact_leverage_scores(empty, v()); }},
        {"exact_leverage_scores", "scores", [&] { ks::exact_leverage_scores(A, kestrel::vector_view<double>(short_out)); }},
        {"exact_leverage_scores", "policy.threads", [&] { ks::exact_leverage_scores(A, v(), neg); }},
        {"ridge_leverage_scores", "lambda", [&] { ks::ridge_leverage_scores(A, -1.0, v()); }},
        {"ridge_leverage_scores", "lambda", [&] { ks::ridge_leverage_scores(A, nan, v()); }},
        {"ridge_leverage_scores", "A", [&] { ks::ridge_leverage_scores(Anan, 1.0, v()); }},
        {"approximate_leverage_scores", "options.epsilon", [&] { ks::approximate_leverage_scores(A, v(), bad_eps); }},
        {"approximate_leverage_scores", "options.sketch_nonzeros", [&] { ks::approximate_leverage_scores(A, v(), bad_s); }},
        {"approximate_leverage_scores", "options.sketch_rows", [&] { ks::approximate_leverage_scores(A, v(), bad_k); }},
        {"approximate_leverage_scores", "A", [&] { ks::approximate_leverage_scores(Anan, v()); }},
        {"approximate_leverage_scores", "A", [&] { ks::approximate_leverage_scores(Ainf, v()); }},
        {"approximate_leverage_scores", "A", [&] { ks::approximate_leverage_scores(Ahuge, v(), one_row); }},
        {"approximate_leverage_scores", "scores", [&] { ks::approximate_leverage_scores(A, kestrel::vector_view<double>(short_out)); }},
    };
    for (const auto& r : table) {
        INFO(r.fn << " / " << r.arg);
        check_refusal(r.fn, r.arg, r.call);
        CHECK(std::all_of(out.begin(), out.end(), [](double x) { return x == -7.0; }));
    }
    // The message names the first non-finite entry (the approximate scores find it after the
    // sketch, which is their finiteness check).
    for (int which = 0; which < 2; ++which) {
        bool thrown = false;
        try {
            if (which == 0) ks::exact_leverage_scores(Anan, v());
            else ks::approximate_leverage_scores(Anan, v());
        } catch (const kestrel::invalid_argument& e) {
            thrown = true;
            CHECK(std::string(e.what()).find("entry (17, 2)") != std::string::npos);
        }
        CHECK(thrown);
    }
    // Without overflow the same huge entries are accepted (the refusal above is the sketch's).
    ks::approximate_leverage_options wide = one_row;
    wide.sketch_rows = 50;
    const Eigen::MatrixXd Abig = Eigen::MatrixXd::Constant(50, 4, 1e300);
    CHECK_NOTHROW(ks::approximate_leverage_scores(Abig, v(), wide));
}
